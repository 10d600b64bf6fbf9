//! Session tokens: JWT signed with HS256 (pinned), carrying `iss`, `aud`, `sub` (the user id),
//! `sid` (the session id), `iat` and `exp`, all required. A valid signature is not enough: the
//! session row must also be live (checked by the caller on every request).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AuthSettings;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and checking keys, built once from configuration.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "jsonwebtoken has no crypto backend: build with exactly one of its `rust_crypto` or `aws_lc_rs` features"
    )]
    NoBackend,
    #[error("the session key must be at least 32 bytes")]
    Short,
    #[error("the session key does not round-trip a token: {0}")]
    SelfTest(String),
}

impl Keys {
    /// Builds the keys and proves them with a sign-and-check round trip, so a binary built
    /// without a crypto backend, or a bad key, stops the service at start and not at the first
    /// sign-in.
    pub fn new(settings: &AuthSettings) -> Result<Keys, KeyError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(KeyError::NoBackend);
        }
        let secret = settings.jwt_key.as_bytes();
        if secret.len() < 32 {
            return Err(KeyError::Short);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        validation.validate_exp = true;
        let keys = Keys {
            encoding: EncodingKey::from_secret(secret)
                .map_err(|e| KeyError::SelfTest(e.to_string()))?,
            decoding: DecodingKey::from_secret(secret)
                .map_err(|e| KeyError::SelfTest(e.to_string()))?,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        };
        let now = chrono::Utc::now().timestamp();
        let probe = keys
            .sign("self-test", "self-test", now, now + 60)
            .map_err(KeyError::SelfTest)?;
        keys.verify(&probe)
            .map_err(|e| KeyError::SelfTest(e.to_string()))?;
        Ok(keys)
    }

    pub fn sign(
        &self,
        user_id: &str,
        session_id: &str,
        iat: i64,
        exp: i64,
    ) -> Result<String, String> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iat,
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    /// The claims of a token signed with our key by HS256, unexpired, for our issuer and
    /// audience. Anything else (`alg: none`, another algorithm, a tampered payload, a claim of
    /// the wrong type) is an error.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        if data.header.alg != Algorithm::HS256 {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into());
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn settings(key: &str) -> AuthSettings {
        let mut s = crate::config::Settings::load_from(&crate::config::Sources {
            config_dir: "/nonexistent".into(),
            env_name: None,
            vars: Default::default(),
        })
        .unwrap()
        .auth;
        s.jwt_key = key.into();
        s
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef-test";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_token_round_trips() {
        let keys = Keys::new(&settings(KEY)).unwrap();
        let t = keys.sign("u1", "s1", now(), now() + 60).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("u1", "s1"));
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(matches!(
            Keys::new(&settings("short")),
            Err(KeyError::Short)
        ));
    }

    fn forge(header: &str, payload: &serde_json::Value, key: &[u8]) -> String {
        use hmac::{KeyInit, Mac};
        let h = B64.encode(header);
        let p = B64.encode(payload.to_string());
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{sig}")
    }

    #[test]
    fn forged_tokens_are_refused() {
        let keys = Keys::new(&settings(KEY)).unwrap();
        let good = serde_json::json!({"iss":"careline","aud":"careline-workspace","sub":"u1","sid":"s1","iat":now(),"exp":now()+60});
        let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
        assert!(keys.verify(&forge(hs256, &good, KEY.as_bytes())).is_ok());
        // alg: none, unsigned.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(good.to_string())
        );
        assert!(keys.verify(&none).is_err());
        // Another algorithm name over the same HMAC.
        assert!(
            keys.verify(&forge(
                r#"{"alg":"HS512","typ":"JWT"}"#,
                &good,
                KEY.as_bytes()
            ))
            .is_err()
        );
        // Another key.
        assert!(
            keys.verify(&forge(
                hs256,
                &good,
                b"another key of at least thirty-two bytes"
            ))
            .is_err()
        );
        // Expired; exp as a string; no exp; wrong audience or issuer.
        let mut v = good.clone();
        v["exp"] = (now() - 120).into();
        assert!(keys.verify(&forge(hs256, &v, KEY.as_bytes())).is_err());
        let mut v = good.clone();
        v["exp"] = (now() + 60).to_string().into();
        assert!(keys.verify(&forge(hs256, &v, KEY.as_bytes())).is_err());
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("exp");
        assert!(keys.verify(&forge(hs256, &v, KEY.as_bytes())).is_err());
        let mut v = good.clone();
        v["aud"] = "someone-else".into();
        assert!(keys.verify(&forge(hs256, &v, KEY.as_bytes())).is_err());
        let mut v = good.clone();
        v["iss"] = "someone-else".into();
        assert!(keys.verify(&forge(hs256, &v, KEY.as_bytes())).is_err());
        // A tampered payload under the original signature.
        let t = keys.sign("u1", "s1", now(), now() + 60).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "admin".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims.to_string()),
            parts[2]
        );
        assert!(keys.verify(&tampered).is_err());
    }
}
