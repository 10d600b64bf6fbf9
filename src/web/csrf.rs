//! CSRF protection for the staff sign-in form (the rider forms use `form_token`, which needs no
//! cookie): a double-submit token (a random value in a cookie
//! and the same value in a hidden field), plus an `Origin` check when the browser sends one.
//! A cross-site page can make the browser send the cookie, but cannot read it to fill the field.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;

pub const COOKIE: &str = "careline_csrf";
/// The hidden field. Item ids are `[a-z0-9_]+`, so a name with a hyphen never collides.
pub const FIELD: &str = "csrf-token";

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// The token for a form: the browser's current one if it has a good one (so several open tabs
/// keep working), else a new one with the cookie that sets it.
pub fn token(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(COOKIE)
        && well_formed(c.value())
    {
        return (c.value().to_string(), None);
    }
    let token = random_hex::<32>();
    let cookie = Cookie::build(COOKIE, token.clone())
        .path("/")
        .max_age(time::Duration::days(1))
        // Lax, not Strict: a rider arriving from a QR code (a cross-site navigation) would
        // otherwise get a fresh token that breaks a form already open in another tab. The
        // protection is the token in the field, which another site cannot read.
        .same_site(SameSite::Lax)
        .http_only(true)
        .secure(req.connection_info().scheme() == "https")
        .finish();
    (token, Some(cookie))
}

/// Whether a state-changing request carries the cookie's token in its field and, if the
/// browser says where it comes from, comes from this site.
pub fn verify(req: &HttpRequest, field: Option<&str>) -> bool {
    let Some(cookie) = req.cookie(COOKIE) else {
        return false;
    };
    let Some(field) = field else {
        return false;
    };
    well_formed(cookie.value())
        && constant_time_eq(cookie.value().as_bytes(), field.as_bytes())
        && same_origin(req)
}

fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    host.eq_ignore_ascii_case(req.connection_info().host())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const T: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn the_field_must_match_the_cookie() {
        let req = TestRequest::post()
            .cookie(Cookie::new(COOKIE, T))
            .to_http_request();
        assert!(verify(&req, Some(T)));
        assert!(!verify(&req, Some(&T.replace('a', "b"))));
        assert!(!verify(&req, None));
        let no_cookie = TestRequest::post().to_http_request();
        assert!(!verify(&no_cookie, Some(T)));
        let short = TestRequest::post()
            .cookie(Cookie::new(COOKIE, "x"))
            .to_http_request();
        assert!(!verify(&short, Some("x")));
    }

    #[test]
    fn a_foreign_origin_is_refused() {
        let req = TestRequest::post()
            .insert_header((header::HOST, "careline.example"))
            .insert_header((header::ORIGIN, "https://evil.example"))
            .cookie(Cookie::new(COOKIE, T))
            .to_http_request();
        assert!(!verify(&req, Some(T)));
        let ok = TestRequest::post()
            .insert_header((header::HOST, "careline.example"))
            .insert_header((header::ORIGIN, "https://careline.example"))
            .cookie(Cookie::new(COOKIE, T))
            .to_http_request();
        assert!(verify(&ok, Some(T)));
    }

    #[test]
    fn a_good_cookie_is_reused_and_a_missing_one_is_made() {
        let req = TestRequest::get()
            .cookie(Cookie::new(COOKIE, T))
            .to_http_request();
        assert_eq!(token(&req), (T.to_string(), None));
        let (fresh, cookie) = token(&TestRequest::get().to_http_request());
        assert!(well_formed(&fresh));
        let cookie = cookie.expect("a new cookie");
        assert_eq!(cookie.value(), fresh);
        assert_eq!(cookie.http_only(), Some(true));
    }
}
