//! The rider's forms are protected without any cookie: each form carries a token the server can
//! verify from the form alone, an HMAC-SHA256 over what the form is (`purpose`), which one
//! (the render id of a screening form, or the screening id of a result page), and when it was
//! issued; plus the `Origin`/`Referer` check (a page of another site is refused). Browsers that
//! block cookies, and in-app browsers that open QR codes, send such forms like any other.
//!
//! The key is derived from `privacy.contact_key` with a label of its own, so it is never the
//! contact key and a token is worth nothing anywhere else. A token lives `server.form_token_ttl`
//! (24 h by default).
//!
//! Token: `v1.<issued unix seconds>.<64 hex of the HMAC>`.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use hmac::{KeyInit, Mac};

/// The hidden field (the name the double-submit token had, so old pages still post it).
pub const FIELD: &str = "csrf-token";

/// What a token protects: a screening form or a result page's forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /s/{questionnaire}`: bound to the questionnaire and the form's render id.
    Screening,
    /// `POST /r/{id}` and `/r/{id}/contact`: bound to the screening id.
    Result,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Screening => b"screening",
            Purpose::Result => b"result",
        }
    }
}

/// Why a form was not accepted as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, malformed, or made for another form, questionnaire or key.
    Unverifiable,
    /// Good, but older than the configured lifetime (or issued in the future).
    Expired,
    /// Sent from a page of another site.
    ForeignOrigin,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unverifiable => "unverifiable",
            Refusal::Expired => "expired",
            Refusal::ForeignOrigin => "foreign_origin",
        }
    }
}

/// Signs and checks form tokens.
#[derive(Clone)]
pub struct FormKey {
    key: [u8; 32],
    ttl_secs: i64,
}

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey(<key>)")
    }
}

impl FormKey {
    /// The key of the configured contact key (validated at start) and lifetime.
    pub fn from_settings(settings: &crate::config::Settings) -> FormKey {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(settings.privacy.contact_key.trim())
            .unwrap_or_else(|_| settings.privacy.contact_key.as_bytes().to_vec());
        FormKey::new(&secret, settings.server.form_token_ttl)
    }

    pub fn new(secret: &[u8], ttl: std::time::Duration) -> FormKey {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"careline form token v1\0")
            .chain_update(secret)
            .finalize()
            .into();
        FormKey {
            key,
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        }
    }

    fn mac(&self, purpose: Purpose, scope: &str, subject: &str, issued: i64) -> String {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in [purpose.label(), scope.as_bytes(), subject.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&issued.to_be_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A token for `purpose`, `scope` (the questionnaire id, or "" for a result) and
    /// `subject` (the render id, or the screening id), issued at `now` (unix seconds).
    pub fn issue_at(&self, purpose: Purpose, scope: &str, subject: &str, now: i64) -> String {
        format!("v1.{now}.{}", self.mac(purpose, scope, subject, now))
    }

    pub fn issue(&self, purpose: Purpose, scope: &str, subject: &str) -> String {
        self.issue_at(purpose, scope, subject, now())
    }

    /// Whether `token` was issued by this key for exactly this form, and is not too old.
    pub fn check_at(
        &self,
        token: Option<&str>,
        purpose: Purpose,
        scope: &str,
        subject: &str,
        now: i64,
    ) -> Result<(), Refusal> {
        let Some(token) = token else {
            return Err(Refusal::Unverifiable);
        };
        let mut parts = token.splitn(3, '.');
        let (Some("v1"), Some(issued), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Unverifiable);
        };
        let Ok(issued) = issued.parse::<i64>() else {
            return Err(Refusal::Unverifiable);
        };
        let expected = self.mac(purpose, scope, subject, issued);
        if !super::csrf::constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return Err(Refusal::Unverifiable);
        }
        // A little leeway for clocks of several instances; a token from the future is stale.
        if issued > now.saturating_add(300) || now.saturating_sub(issued) > self.ttl_secs {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// `check_at` now, after the origin check.
    pub fn verify(
        &self,
        req: &HttpRequest,
        token: Option<&str>,
        purpose: Purpose,
        scope: &str,
        subject: &str,
    ) -> Result<(), Refusal> {
        if !same_origin(req) {
            return Err(Refusal::ForeignOrigin);
        }
        self.check_at(token, purpose, scope, subject, now())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The host (and port) of an absolute URL, if it has one.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// Whether the request comes from this site: its `Origin`, else its `Referer`, names this host.
/// With neither (an old browser, or a client that is not a page) the token alone decides.
/// `Origin: null` (a sandboxed or privacy-stripped page) is not this site.
pub fn same_origin(req: &HttpRequest) -> bool {
    let this = req.connection_info().host().to_ascii_lowercase();
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER));
    let Some(source) = source else {
        return true;
    };
    let Ok(source) = source.to_str() else {
        return false;
    };
    host_of(source).is_some_and(|h| h.eq_ignore_ascii_case(&this))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn key() -> FormKey {
        FormKey::new(b"a test secret", std::time::Duration::from_secs(24 * 3600))
    }

    #[test]
    fn a_token_verifies_only_for_its_own_form() {
        let k = key();
        let t = k.issue_at(Purpose::Screening, "phq9", "web-1", 1_000_000);
        let check = |p, s, subj, now| k.check_at(Some(&t), p, s, subj, now);
        assert_eq!(
            check(Purpose::Screening, "phq9", "web-1", 1_000_000),
            Ok(())
        );
        let bad = Err(Refusal::Unverifiable);
        assert_eq!(check(Purpose::Screening, "gad7", "web-1", 1_000_000), bad);
        assert_eq!(check(Purpose::Screening, "phq9", "web-2", 1_000_000), bad);
        assert_eq!(check(Purpose::Result, "phq9", "web-1", 1_000_000), bad);
        // Another key, a changed time, a truncated or missing token.
        let other = FormKey::new(b"another", std::time::Duration::from_secs(3600));
        assert_eq!(
            other.check_at(Some(&t), Purpose::Screening, "phq9", "web-1", 1_000_000),
            bad
        );
        let moved = t.replacen("1000000", "1000001", 1);
        assert_eq!(
            k.check_at(Some(&moved), Purpose::Screening, "phq9", "web-1", 1_000_000),
            bad
        );
        assert_eq!(
            k.check_at(
                Some(&t[..20]),
                Purpose::Screening,
                "phq9",
                "web-1",
                1_000_000
            ),
            bad
        );
        assert_eq!(
            k.check_at(None, Purpose::Screening, "phq9", "web-1", 1_000_000),
            bad
        );
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        let t2 = k.issue_at(Purpose::Screening, "ab", "c", 5);
        assert_eq!(k.check_at(Some(&t2), Purpose::Screening, "a", "bc", 5), bad);
    }

    #[test]
    fn a_token_expires_after_its_lifetime() {
        let k = key();
        let t = k.issue_at(Purpose::Result, "", "id", 1_000_000);
        let day = 24 * 3600;
        assert_eq!(
            k.check_at(Some(&t), Purpose::Result, "", "id", 1_000_000 + day),
            Ok(())
        );
        assert_eq!(
            k.check_at(Some(&t), Purpose::Result, "", "id", 1_000_001 + day),
            Err(Refusal::Expired)
        );
        assert_eq!(
            k.check_at(Some(&t), Purpose::Result, "", "id", 1_000_000 - 3600),
            Err(Refusal::Expired),
            "issued in the future"
        );
    }

    #[test]
    fn a_foreign_origin_or_referer_is_refused() {
        let req = |headers: &[(header::HeaderName, &str)]| {
            let mut r = TestRequest::post().insert_header((header::HOST, "careline.example"));
            for (k, v) in headers {
                r = r.insert_header((k.clone(), *v));
            }
            r.to_http_request()
        };
        assert!(same_origin(&req(&[])));
        assert!(same_origin(&req(&[(
            header::ORIGIN,
            "https://careline.example"
        )])));
        assert!(same_origin(&req(&[(
            header::REFERER,
            "https://careline.example/s/phq9?site=a"
        )])));
        assert!(!same_origin(&req(&[(
            header::ORIGIN,
            "https://evil.example"
        )])));
        assert!(!same_origin(&req(&[(header::ORIGIN, "null")])));
        assert!(!same_origin(&req(&[(
            header::REFERER,
            "https://careline.example.evil.example/"
        )])));
        assert!(!same_origin(&req(&[
            (header::ORIGIN, "https://evil.example"),
            (header::REFERER, "https://careline.example/")
        ])));
    }
}
