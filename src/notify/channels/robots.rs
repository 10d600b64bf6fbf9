//! Group robots: WeCom (企业微信), DingTalk (钉钉), Feishu / Lark (飞书). A text message each;
//! their errors come back as HTTP 200 with a non-zero code in the body.
//!
//! - WeCom: POST the robot URL (its `key` is in it), `{"msgtype":"text","text":{"content"}}`;
//!   answer `{"errcode":0,"errmsg":"ok"}`; 45009 is the rate limit (20 a minute).
//! - DingTalk, signed: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(key =
//!   secret, "timestamp\nsecret"))) added to the URL's query; same body and answer shape;
//!   130101 is the rate limit (20 a minute).
//! - Feishu, signed: `timestamp` (s) and `sign` = base64(HMAC-SHA256(key = "timestamp\nsecret",
//!   empty message)) in the body with `{"msg_type":"text","content":{"text"}}`; answer
//!   `{"code":0}` (older bots `{"StatusCode":0}`); 9499 and 11232 are rate limits.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Prepared, SendError, hmac_sha256, percent_encode, vendor_words};
use crate::config::channels::{Webhook, WebhookKind};

/// DingTalk's `sign` for `timestamp_ms` (before URL-encoding).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(hmac_sha256(secret.as_bytes(), to_sign.as_bytes()))
}

/// Feishu's `sign` for `timestamp_s`.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

const JSON: &str = "application/json; charset=utf-8";

/// The request that posts `text` to robot `w` at `now`.
pub fn prepare(w: &Webhook, text: &str, now: chrono::DateTime<chrono::Utc>) -> Prepared {
    let secret = w.secret.as_deref().unwrap_or_default().trim();
    let headers = vec![("Content-Type".to_string(), JSON.to_string())];
    match w.kind {
        WebhookKind::Wecom => Prepared {
            url: w.url.clone(),
            headers,
            body: serde_json::json!({"msgtype": "text", "text": {"content": text}})
                .to_string()
                .into_bytes(),
        },
        WebhookKind::Dingtalk => {
            let ts = now.timestamp_millis();
            let sep = if w.url.contains('?') { '&' } else { '?' };
            Prepared {
                url: format!(
                    "{}{sep}timestamp={ts}&sign={}",
                    w.url,
                    percent_encode(&dingtalk_sign(secret, ts))
                ),
                headers,
                body: serde_json::json!({"msgtype": "text", "text": {"content": text}})
                    .to_string()
                    .into_bytes(),
            }
        }
        WebhookKind::Feishu => {
            let ts = now.timestamp();
            Prepared {
                url: w.url.clone(),
                headers,
                body: serde_json::json!({
                    "timestamp": ts.to_string(),
                    "sign": feishu_sign(secret, ts),
                    "msg_type": "text",
                    "content": {"text": text},
                })
                .to_string()
                .into_bytes(),
            }
        }
    }
}

/// What a robot's answer means.
pub fn read(kind: WebhookKind, status: u16, body: &[u8]) -> Result<(), SendError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = |names: &[&str]| {
        json.as_ref().and_then(|j| {
            names
                .iter()
                .find_map(|n| j.get(*n).and_then(serde_json::Value::as_i64))
        })
    };
    let words = |names: &[&str]| {
        json.as_ref()
            .and_then(|j| {
                names
                    .iter()
                    .find_map(|n| j.get(*n).and_then(serde_json::Value::as_str))
            })
            .map(vendor_words)
            .unwrap_or_default()
    };
    let (code, message, temporary): (Option<i64>, String, &[i64]) = match kind {
        // -1: system busy.
        WebhookKind::Wecom => (code(&["errcode"]), words(&["errmsg"]), &[45009, -1]),
        WebhookKind::Dingtalk => (code(&["errcode"]), words(&["errmsg"]), &[130101, -1]),
        WebhookKind::Feishu => (
            code(&["code", "StatusCode"]),
            words(&["msg", "StatusMessage"]),
            &[9499, 11232],
        ),
    };
    match code {
        Some(0) if (200..300).contains(&status) => Ok(()),
        Some(c) if temporary.contains(&c) => Err(SendError::Transient(format!(
            "{} code {c} (rate limit or busy): {message}",
            kind.as_str()
        ))),
        Some(c) => Err(SendError::Permanent(format!(
            "{} code {c}: {message}",
            kind.as_str()
        ))),
        None => Err(SendError::Permanent(format!(
            "{}: HTTP {status} without a result code",
            kind.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently (Python's hmac, hashlib, base64) for these fixed values.
    #[test]
    fn dingtalk_signs_timestamp_newline_secret_with_the_secret() {
        assert_eq!(
            dingtalk_sign("SECtest-secret", 1_700_000_000_000),
            DINGTALK_EXPECTED
        );
    }

    #[test]
    fn feishu_signs_an_empty_message_with_timestamp_newline_secret() {
        assert_eq!(feishu_sign("test-secret", 1_700_000_000), FEISHU_EXPECTED);
    }

    const DINGTALK_EXPECTED: &str = "LC7hxZ4wslL+P7j7gu1hoQ+wzByekL+yWgiUMekZs0g=";
    const FEISHU_EXPECTED: &str = "mbm4Y4oluIPQ00qlBIhX8vAZ0EKv3nw0LuTb91jPL84=";

    #[test]
    fn an_error_code_in_a_200_is_a_failure_and_rate_limits_are_temporary() {
        use WebhookKind::*;
        let cases: [(WebhookKind, &str, Option<bool>); 9] = [
            (Wecom, r#"{"errcode":0,"errmsg":"ok"}"#, None),
            (
                Wecom,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
                Some(true),
            ),
            (
                Wecom,
                r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
                Some(false),
            ),
            (Dingtalk, r#"{"errcode":0,"errmsg":"ok"}"#, None),
            (
                Dingtalk,
                r#"{"errcode":130101,"errmsg":"send too fast"}"#,
                Some(true),
            ),
            (
                Dingtalk,
                r#"{"errcode":310000,"errmsg":"sign not match"}"#,
                Some(false),
            ),
            (Feishu, r#"{"code":0,"msg":"success","data":{}}"#, None),
            (
                Feishu,
                r#"{"code":11232,"msg":"frequency limited"}"#,
                Some(true),
            ),
            (
                Feishu,
                r#"{"code":19021,"msg":"sign match fail"}"#,
                Some(false),
            ),
        ];
        for (kind, body, want) in cases {
            let got = read(kind, 200, body.as_bytes());
            match (want, &got) {
                (None, Ok(())) => {}
                (Some(true), Err(SendError::Transient(_))) => {}
                (Some(false), Err(SendError::Permanent(_))) => {}
                _ => panic!("{kind:?} {body}: {got:?}"),
            }
        }
        // The older Feishu answer.
        assert!(
            read(
                Feishu,
                200,
                br#"{"StatusCode":0,"StatusMessage":"success"}"#
            )
            .is_ok()
        );
        // Not JSON at all.
        assert!(matches!(
            read(Wecom, 200, b"<html>"),
            Err(SendError::Permanent(_))
        ));
    }
}
