//! Tencent Cloud (腾讯云): SMS `SendSms` (sms, 2021-01-11) and voice `SendTtsVoice` (vms,
//! 2020-09-02), JSON bodies signed with TC3-HMAC-SHA256 as Tencent documents it ("Signature
//! v3"):
//!
//! ```text
//! CanonicalRequest = POST \n / \n \n content-type:application/json; charset=utf-8 \n host:<host> \n
//!                    \n content-type;host \n hex(sha256(payload))
//! StringToSign     = TC3-HMAC-SHA256 \n <timestamp> \n <date>/<service>/tc3_request \n hex(sha256(CanonicalRequest))
//! key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")
//! Signature        = hex(HMAC(key, StringToSign))
//! ```
//!
//! Answers are `{"Response":{...}}`; an `Error` inside (with HTTP 200) is a failure, its
//! limit codes temporary; SMS also reports a `Code` per number (`Ok` when sent).

use super::{Message, Prepared, SendError, hmac_sha256, sha256_hex, vendor_words};
use crate::config::channels::PhoneChannel;

pub const SMS_ENDPOINT: &str = "https://sms.tencentcloudapi.com";
pub const VOICE_ENDPOINT: &str = "https://vms.tencentcloudapi.com";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub fn canonical_request(host: &str, payload: &[u8]) -> String {
    format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n{}",
        sha256_hex(payload)
    )
}

pub fn string_to_sign(timestamp: i64, service: &str, canonical: &str) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{}/{service}/tc3_request\n{}",
        date_of(timestamp),
        sha256_hex(canonical.as_bytes())
    )
}

fn date_of(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The `Authorization` header.
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    timestamp: i64,
    payload: &[u8],
) -> String {
    let date = date_of(timestamp);
    let to_sign = string_to_sign(timestamp, service, &canonical_request(host, payload));
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
    )
}

fn request(
    c: &PhoneChannel,
    default_endpoint: &str,
    service: &str,
    action: &str,
    version: &str,
    payload: serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Prepared {
    let endpoint = if c.endpoint.is_empty() {
        default_endpoint
    } else {
        &c.endpoint
    };
    let (base, host) = super::aliyun::split_endpoint(endpoint);
    let body = payload.to_string().into_bytes();
    let ts = now.timestamp();
    let region = if c.region.trim().is_empty() {
        "ap-guangzhou"
    } else {
        c.region.trim()
    };
    Prepared {
        url: format!("{base}/"),
        headers: vec![
            (
                "Authorization".into(),
                authorization(
                    c.access_key_id.trim(),
                    c.access_key_secret.trim(),
                    service,
                    &host,
                    ts,
                    &body,
                ),
            ),
            ("Content-Type".into(), CONTENT_TYPE.into()),
            ("X-TC-Action".into(), action.into()),
            ("X-TC-Timestamp".into(), ts.to_string()),
            ("X-TC-Version".into(), version.into()),
            ("X-TC-Region".into(), region.into()),
        ],
        body,
    }
}

/// The template's parameters in order: tier, reference, site, deadline.
fn params(message: &Message) -> Vec<String> {
    message
        .template_params()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

pub fn sms(
    c: &PhoneChannel,
    phone: &str,
    message: &Message,
    now: chrono::DateTime<chrono::Utc>,
) -> Prepared {
    let payload = serde_json::json!({
        "PhoneNumberSet": [phone],
        "SmsSdkAppId": c.app_id.trim(),
        "SignName": c.sign_name.trim(),
        "TemplateId": message.template(c),
        "TemplateParamSet": params(message),
    });
    request(
        c,
        SMS_ENDPOINT,
        "sms",
        "SendSms",
        "2021-01-11",
        payload,
        now,
    )
}

pub fn voice(
    c: &PhoneChannel,
    phone: &str,
    message: &Message,
    now: chrono::DateTime<chrono::Utc>,
) -> Prepared {
    let payload = serde_json::json!({
        "TemplateId": message.template(c),
        "TemplateParamSet": params(message),
        "CalledNumber": phone,
        "VoiceSdkAppid": c.app_id.trim(),
        "PlayTimes": 2,
    });
    request(
        c,
        VOICE_ENDPOINT,
        "vms",
        "SendTtsVoice",
        "2020-09-02",
        payload,
        now,
    )
}

fn temporary(code: &str) -> bool {
    code == "RequestLimitExceeded"
        || code.starts_with("InternalError")
        || code == "LimitExceeded.PhoneNumberThirtySecondLimit"
        || code == "LimitExceeded.PhoneNumberOneHourLimit"
        || code == "FailedOperation.FrequencyLimit"
}

pub fn read(status: u16, body: &[u8]) -> Result<(), SendError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let Some(response) = json.as_ref().and_then(|j| j.get("Response")) else {
        return Err(SendError::Permanent(format!(
            "tencent: HTTP {status} without a Response"
        )));
    };
    let failure = |code: &str, message: &str| {
        let text = format!("tencent {}: {}", vendor_words(code), vendor_words(message));
        if temporary(code) {
            SendError::Transient(text)
        } else {
            SendError::Permanent(text)
        }
    };
    let text = |v: &serde_json::Value, n: &str| {
        v.get(n)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if let Some(error) = response.get("Error") {
        return Err(failure(&text(error, "Code"), &text(error, "Message")));
    }
    if let Some(set) = response
        .get("SendStatusSet")
        .and_then(serde_json::Value::as_array)
    {
        return match set.first() {
            Some(s) if text(s, "Code") == "Ok" => Ok(()),
            Some(s) => Err(failure(&text(s, "Code"), &text(s, "Message"))),
            None => Err(SendError::Permanent("tencent: no send status".into())),
        };
    }
    if response.get("SendStatus").is_some() && (200..300).contains(&status) {
        return Ok(());
    }
    Err(SendError::Permanent(format!(
        "tencent: HTTP {status} without a send status"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent's published Signature v3 example (CVM DescribeInstances, the documentation's
    /// masked keys, timestamp 1551113065): each intermediate as the documentation prints it.
    #[test]
    fn tc3_matches_the_published_example() {
        let payload = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let canonical = canonical_request("cvm.tencentcloudapi.com", payload);
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            string_to_sign(1551113065, "cvm", &canonical),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                "Gu5t9xGARNpq86cd98joQYCN3*******",
                "cvm",
                "cvm.tencentcloudapi.com",
                1551113065,
                payload
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn an_error_in_a_200_is_a_failure_and_limits_are_temporary() {
        assert!(read(200, br#"{"Response":{"SendStatusSet":[{"Code":"Ok","Message":"send success"}],"RequestId":"r"}}"#).is_ok());
        assert!(read(200, br#"{"Response":{"SendStatus":{"CallId":"c","SessionContext":""},"RequestId":"r"}}"#).is_ok());
        assert!(matches!(
            read(200, br#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"x"},"RequestId":"r"}}"#),
            Err(SendError::Transient(_))
        ));
        assert!(matches!(
            read(200, br#"{"Response":{"SendStatusSet":[{"Code":"LimitExceeded.PhoneNumberThirtySecondLimit","Message":"x"}],"RequestId":"r"}}"#),
            Err(SendError::Transient(_))
        ));
        assert!(matches!(
            read(200, br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"x"},"RequestId":"r"}}"#),
            Err(SendError::Permanent(_))
        ));
    }
}
