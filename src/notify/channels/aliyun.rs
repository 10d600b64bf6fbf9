//! Aliyun (阿里云): SMS `SendSms` (dysmsapi, 2017-05-25) and voice `SingleCallByTts`
//! (dyvmsapi, 2017-05-25), RPC-style parameters in the query, signed with the V3 signature
//! ACS3-HMAC-SHA256 as Aliyun documents it ("V3版本请求体&签名机制"):
//!
//! ```text
//! CanonicalRequest = POST \n / \n sorted, RFC 3986-encoded query \n
//!                    host, x-acs-action, x-acs-content-sha256, x-acs-date,
//!                    x-acs-signature-nonce, x-acs-version (name:value\n each) \n
//!                    signed header names joined by ; \n hex(sha256(body))
//! Signature = hex(HMAC-SHA256(AccessKeySecret, "ACS3-HMAC-SHA256\n" + hex(sha256(CanonicalRequest))))
//! ```
//!
//! Answers are `{"Code":"OK",...}`; any other code is a failure (throttling ones temporary),
//! and Aliyun sends them with HTTP 200 as well as 4xx.

use super::{Message, Prepared, SendError, hmac_sha256, percent_encode, sha256_hex, vendor_words};
use crate::config::channels::PhoneChannel;

pub const SMS_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com";
pub const VOICE_ENDPOINT: &str = "https://dyvmsapi.aliyuncs.com";
const VERSION: &str = "2017-05-25";

/// One request to sign.
#[derive(Debug)]
pub struct Acs3<'a> {
    pub host: &'a str,
    pub action: &'a str,
    pub version: &'a str,
    /// UTC, `2023-10-26T10:22:32Z`.
    pub date: &'a str,
    pub nonce: &'a str,
    pub query: &'a [(&'a str, String)],
    pub body: &'a [u8],
}

/// The query, sorted by name, names and values RFC 3986-encoded.
pub fn canonical_query(params: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

const SIGNED: &str =
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

pub fn canonical_request(r: &Acs3<'_>) -> String {
    let hashed = sha256_hex(r.body);
    format!(
        "POST\n/\n{}\nhost:{}\nx-acs-action:{}\nx-acs-content-sha256:{hashed}\nx-acs-date:{}\nx-acs-signature-nonce:{}\nx-acs-version:{}\n\n{SIGNED}\n{hashed}",
        canonical_query(r.query),
        r.host,
        r.action,
        r.date,
        r.nonce,
        r.version
    )
}

/// The `Authorization` header.
pub fn authorization(key_id: &str, secret: &str, r: &Acs3<'_>) -> String {
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        sha256_hex(canonical_request(r).as_bytes())
    );
    let signature = hex::encode(hmac_sha256(secret.as_bytes(), to_sign.as_bytes()));
    format!("ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={SIGNED},Signature={signature}")
}

/// Scheme and authority of a base URL, as the `host` header will carry it.
pub(crate) fn split_endpoint(endpoint: &str) -> (String, String) {
    let base = endpoint.trim_end_matches('/');
    let host = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    // The default port is not part of the Host header.
    let host = host
        .strip_suffix(":443")
        .filter(|_| base.starts_with("https://"))
        .or_else(|| {
            host.strip_suffix(":80")
                .filter(|_| base.starts_with("http://"))
        })
        .unwrap_or(host);
    (base.to_string(), host.to_string())
}

fn request(
    c: &PhoneChannel,
    default_endpoint: &str,
    action: &str,
    query: &[(&str, String)],
    now: chrono::DateTime<chrono::Utc>,
    nonce: &str,
) -> Prepared {
    let endpoint = if c.endpoint.is_empty() {
        default_endpoint
    } else {
        &c.endpoint
    };
    let (base, host) = split_endpoint(endpoint);
    let date = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let r = Acs3 {
        host: &host,
        action,
        version: VERSION,
        date: &date,
        nonce,
        query,
        body: b"",
    };
    Prepared {
        url: format!("{base}/?{}", canonical_query(query)),
        headers: vec![
            (
                "Authorization".into(),
                authorization(c.access_key_id.trim(), c.access_key_secret.trim(), &r),
            ),
            ("x-acs-action".into(), action.into()),
            ("x-acs-content-sha256".into(), sha256_hex(b"")),
            ("x-acs-date".into(), date.clone()),
            ("x-acs-signature-nonce".into(), nonce.into()),
            ("x-acs-version".into(), VERSION.into()),
        ],
        body: Vec::new(),
    }
}

fn params_json(message: &Message) -> String {
    let map: serde_json::Map<String, serde_json::Value> = message
        .template_params()
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// `SendSms` to one number (E.164; Aliyun takes the `+`).
pub fn sms(
    c: &PhoneChannel,
    phone: &str,
    message: &Message,
    now: chrono::DateTime<chrono::Utc>,
    nonce: &str,
) -> Prepared {
    let query = [
        ("PhoneNumbers", phone.to_string()),
        ("SignName", c.sign_name.clone()),
        ("TemplateCode", message.template(c).to_string()),
        ("TemplateParam", params_json(message)),
    ];
    request(c, SMS_ENDPOINT, "SendSms", &query, now, nonce)
}

/// `SingleCallByTts` to one number: Aliyun's voice service calls mainland numbers only, written
/// without the country code.
pub fn voice(
    c: &PhoneChannel,
    phone: &str,
    message: &Message,
    now: chrono::DateTime<chrono::Utc>,
    nonce: &str,
) -> Result<Prepared, SendError> {
    let Some(national) = phone.strip_prefix("+86") else {
        return Err(SendError::Permanent(
            "Aliyun voice calls mainland China numbers (+86) only".into(),
        ));
    };
    let mut query = vec![
        ("CalledNumber", national.to_string()),
        ("TtsCode", message.template(c).to_string()),
        ("TtsParam", params_json(message)),
        ("PlayTimes", "2".to_string()),
    ];
    if !c.caller_number.trim().is_empty() {
        query.push(("CalledShowNumber", c.caller_number.trim().to_string()));
    }
    Ok(request(
        c,
        VOICE_ENDPOINT,
        "SingleCallByTts",
        &query,
        now,
        nonce,
    ))
}

/// Throttling and busy answers: worth retrying.
const TEMPORARY: [&str; 5] = [
    "isv.BUSINESS_LIMIT_CONTROL",
    "Throttling",
    "Throttling.User",
    "ServiceUnavailable",
    "InternalError",
];

pub fn read(status: u16, body: &[u8]) -> Result<(), SendError> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |n: &str| {
        json.as_ref()
            .and_then(|j| j.get(n))
            .and_then(serde_json::Value::as_str)
            .map(vendor_words)
    };
    match field("Code") {
        Some(c) if c == "OK" && (200..300).contains(&status) => Ok(()),
        Some(c) if TEMPORARY.contains(&c.as_str()) => Err(SendError::Transient(format!(
            "aliyun {c}: {}",
            field("Message").unwrap_or_default()
        ))),
        Some(c) => Err(SendError::Permanent(format!(
            "aliyun {c}: {}",
            field("Message").unwrap_or_default()
        ))),
        None => Err(SendError::Permanent(format!(
            "aliyun: HTTP {status} without a result code"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Aliyun's published V3 example (RunInstances at ecs.cn-shanghai, the documentation's
    /// placeholder keys, fixed date and nonce): canonical-request hash and signature as the
    /// documentation prints them.
    #[test]
    fn acs3_matches_the_published_example() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd".to_string(),
            ),
            ("RegionId", "cn-shanghai".to_string()),
        ];
        let r = Acs3 {
            host: "ecs.cn-shanghai.aliyuncs.com",
            action: "RunInstances",
            version: "2014-05-26",
            date: "2023-10-26T10:22:32Z",
            nonce: "3156853299f313e23d1673dc12e1703d",
            query: &query,
            body: b"",
        };
        assert_eq!(
            sha256_hex(canonical_request(&r).as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            authorization("YourAccessKeyId", "YourAccessKeySecret", &r),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn the_query_is_sorted_and_encoded() {
        assert_eq!(
            canonical_query(&[("b", "x y".into()), ("A", "{\"k\":\"中\"}".into())]),
            "A=%7B%22k%22%3A%22%E4%B8%AD%22%7D&b=x%20y"
        );
    }

    #[test]
    fn answers_other_than_ok_are_failures() {
        assert!(read(200, br#"{"Code":"OK","Message":"OK","BizId":"1"}"#).is_ok());
        assert!(matches!(
            read(
                200,
                br#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"limit"}"#
            ),
            Err(SendError::Transient(_))
        ));
        assert!(matches!(
            read(
                200,
                br#"{"Code":"isv.MOBILE_NUMBER_ILLEGAL","Message":"bad"}"#
            ),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            read(400, br#"{"Code":"Throttling.User","Message":"x"}"#),
            Err(SendError::Transient(_))
        ));
    }

    #[test]
    fn the_endpoint_gives_base_and_host() {
        assert_eq!(
            split_endpoint("http://127.0.0.1:9000/"),
            ("http://127.0.0.1:9000".into(), "127.0.0.1:9000".into())
        );
        assert_eq!(
            split_endpoint("https://dysmsapi.aliyuncs.com:443"),
            (
                "https://dysmsapi.aliyuncs.com:443".into(),
                "dysmsapi.aliyuncs.com".into()
            )
        );
    }
}
