//! Channels besides email (issue 13): one interface, one file per vendor family. Group robots
//! (`robots.rs`: WeCom, DingTalk, Feishu), SMS and voice calls (`aliyun.rs`, `tencent.rs`).
//!
//! Each delivery carries only what a page email carries: the alert's reference, tier, the
//! site's name, the deadline and a link (robots), never a rider's answers, name or phone.
//! Each adapter turns a message into a `Prepared` request (pure, tested against the vendors'
//! published signing examples) and reads the vendor's answer: their errors arrive as HTTP 200
//! with a non-zero code in the body, read here as failures (rate limits as temporary). Every
//! send runs under `notify.timeout`, in its own job, so a hanging channel delays no email.
//!
//! Layer: use cases (part of `notify`; the jobs worker drives it).

pub mod aliyun;
pub mod robots;
pub mod tencent;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::SendError;
use crate::config::Settings;
use crate::config::channels::{NotifySettings, PhoneChannel, Provider, Webhook};
use crate::i18n::{Lang, Tr};

/// What one channel delivery says: the fields of a page email, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub reference: String,
    pub tier: String,
    pub urgent: bool,
    /// The site's name as administrators set it (not its code); `None`: no site given.
    pub site: Option<String>,
    pub deadline: NaiveDateTime,
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Target {
    /// A group robot, by `Webhook::id` (kind and a hash of its URL).
    Webhook { id: String },
    /// A text to a staff member's phone (read from their account when it is sent).
    Sms { user_id: String },
    /// A voice call to a staff member's phone.
    Voice { user_id: String },
}

/// A request ready to be POSTed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// RFC 3986 percent-encoding (unreserved characters kept; space as `%20`), as Aliyun's
/// canonical query and DingTalk's signature parameter need it.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any size");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A reference or text made safe for a vendor's message: no control characters, bounded.
fn clean(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

impl Message {
    fn reference(&self) -> String {
        self.reference
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(64)
            .collect()
    }

    fn site(&self, t: Tr) -> String {
        self.site
            .as_deref()
            .map(|s| clean(s, 100))
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| t.tr("email-no-site"))
    }

    /// The robots' text, in `locale`.
    pub fn text(&self, locale: &str, public_url: &str) -> String {
        let t = Tr(Lang::parse(locale).unwrap_or(Lang::DEFAULT));
        let reference = self.reference();
        t.tr_args(
            "channel-page-text",
            &[
                ("tier", super::tier_name(t, &self.tier, self.urgent)),
                ("reference", reference.clone()),
                ("site", self.site(t)),
                ("deadline", crate::china_time::shanghai_time(self.deadline)),
                (
                    "link",
                    format!("{}/queue/{reference}", public_url.trim_end_matches('/')),
                ),
            ],
        )
    }

    /// The template variables of SMS and voice (the approved template fills them in), in
    /// Chinese: `tier`, `reference`, `site`, `deadline` (China time, `HH:MM`).
    pub fn template_params(&self) -> Vec<(&'static str, String)> {
        let t = Tr(Lang::DEFAULT);
        vec![
            ("tier", super::tier_name(t, &self.tier, self.urgent)),
            ("reference", self.reference()),
            ("site", clean(&self.site(t), 20)),
            (
                "deadline",
                self.deadline
                    .and_utc()
                    .with_timezone(&crate::china_time::shanghai())
                    .format("%H:%M")
                    .to_string(),
            ),
        ]
    }
}

/// The channels of one worker: the configured ones, one HTTP client, and a rate limit per
/// channel.
#[derive(Debug)]
pub struct Channels {
    settings: NotifySettings,
    public_url: String,
    client: reqwest::Client,
    /// Sends in the last minute, per channel id.
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Channels {
    pub fn new(settings: &Settings) -> Result<Channels, String> {
        let client = reqwest::Client::builder()
            .timeout(settings.notify.timeout)
            .connect_timeout(settings.notify.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("careline")
            .build()
            .map_err(|e| format!("cannot build the HTTP client for channels: {e}"))?;
        Ok(Channels {
            settings: settings.notify.clone(),
            public_url: settings.mail.public_url.clone(),
            client,
            sent: Mutex::new(HashMap::new()),
        })
    }

    pub fn webhook(&self, id: &str) -> Option<&Webhook> {
        self.settings.webhooks.iter().find(|w| w.id() == id)
    }

    /// The channel's name for timelines and logs (`wecom`, `sms`, ...), and its rate limit.
    fn limit_of(&self, target: &Target) -> Option<(String, u32)> {
        match target {
            Target::Webhook { id } => self.webhook(id).map(|w| (id.clone(), w.per_minute)),
            Target::Sms { .. } => self
                .settings
                .sms
                .as_ref()
                .map(|c| ("sms".into(), c.per_minute)),
            Target::Voice { .. } => self
                .settings
                .voice
                .as_ref()
                .map(|c| ("voice".into(), c.per_minute)),
        }
    }

    /// Takes a slot of the channel's rate limit: `None` when one is free now (and it is
    /// taken), else how long until one frees.
    pub fn reserve(&self, target: &Target) -> Option<Duration> {
        let (key, per_minute) = self.limit_of(target)?;
        let window = Duration::from_secs(60);
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let q = sent.entry(key).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() < per_minute as usize {
            q.push_back(now);
            return None;
        }
        q.front()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
    }

    /// The kind of channel, as the timeline shows it: `wecom`, `dingtalk`, `feishu`, `sms`,
    /// `voice`.
    pub fn label(&self, target: &Target) -> &'static str {
        match target {
            Target::Webhook { id } => self.webhook(id).map_or("webhook", |w| w.kind.as_str()),
            Target::Sms { .. } => "sms",
            Target::Voice { .. } => "voice",
        }
    }

    /// The request for one delivery. `phone` is the staff member's number (SMS, voice).
    pub fn prepare(
        &self,
        target: &Target,
        phone: Option<&str>,
        message: &Message,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Prepared, SendError> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let phone_of =
            || phone.ok_or_else(|| SendError::Permanent("the person has no phone number".into()));
        let gone = |what: &str| SendError::Permanent(format!("{what} is no longer configured"));
        match target {
            Target::Webhook { id } => {
                let w = self.webhook(id).ok_or_else(|| gone("the robot"))?;
                Ok(robots::prepare(
                    w,
                    &message.text(&w.locale, &self.public_url),
                    now,
                ))
            }
            Target::Sms { .. } => {
                let c = self
                    .settings
                    .sms
                    .as_ref()
                    .ok_or_else(|| gone("notify.sms"))?;
                phone_request(c, false, phone_of()?, message, now, &nonce)
            }
            Target::Voice { .. } => {
                let c = self
                    .settings
                    .voice
                    .as_ref()
                    .ok_or_else(|| gone("notify.voice"))?;
                phone_request(c, true, phone_of()?, message, now, &nonce)
            }
        }
    }

    /// Sends one delivery, within `notify.timeout` from connecting to the vendor's answer.
    pub async fn send(
        &self,
        target: &Target,
        phone: Option<&str>,
        message: &Message,
    ) -> Result<(), SendError> {
        let prepared = self.prepare(target, phone, message, chrono::Utc::now())?;
        let read = match target {
            Target::Webhook { id } => match self.webhook(id) {
                Some(w) => Reader::Robot(w.kind),
                None => return Err(SendError::Permanent("the robot is gone".into())),
            },
            Target::Sms { .. } => Reader::Phone(self.settings.sms.as_ref().map(|c| c.provider)),
            Target::Voice { .. } => Reader::Phone(self.settings.voice.as_ref().map(|c| c.provider)),
        };
        let timeout = self.settings.timeout;
        let exchange = async {
            let mut request = self.client.post(&prepared.url).body(prepared.body.clone());
            for (k, v) in &prepared.headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let response = request.send().await.map_err(|e| {
                SendError::Transient(format!("cannot reach the channel: {}", without_url(&e)))
            })?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|e| {
                SendError::Transient(format!("the answer broke off: {}", without_url(&e)))
            })?;
            Ok::<_, SendError>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                SendError::Transient(format!(
                    "no answer within notify.timeout ({})",
                    humantime::format_duration(timeout)
                ))
            })??;
        if status == 429 || status >= 500 {
            return Err(SendError::Transient(format!("HTTP {status}")));
        }
        match read {
            Reader::Robot(kind) => robots::read(kind, status, &body),
            Reader::Phone(Some(Provider::Aliyun)) => aliyun::read(status, &body),
            Reader::Phone(Some(Provider::Tencent)) => tencent::read(status, &body),
            Reader::Phone(None) => Err(SendError::Permanent("not configured".into())),
        }
    }
}

enum Reader {
    Robot(crate::config::channels::WebhookKind),
    Phone(Option<Provider>),
}

/// A reqwest error without its URL (a robot's URL carries its key).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad answer"
    } else {
        "request failed"
    };
    kind.to_string()
}

fn phone_request(
    c: &PhoneChannel,
    voice: bool,
    phone: &str,
    message: &Message,
    now: chrono::DateTime<chrono::Utc>,
    nonce: &str,
) -> Result<Prepared, SendError> {
    match (c.provider, voice) {
        (Provider::Aliyun, false) => Ok(aliyun::sms(c, phone, message, now, nonce)),
        (Provider::Aliyun, true) => aliyun::voice(c, phone, message, now, nonce),
        (Provider::Tencent, false) => Ok(tencent::sms(c, phone, message, now)),
        (Provider::Tencent, true) => Ok(tencent::voice(c, phone, message, now)),
    }
}

/// The first 300 characters of a vendor's words, for the job's last error (never a body
/// we sent).
pub(crate) fn vendor_words(s: &str) -> String {
    clean(s, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("a b+c/d=e*"), "a%20b%2Bc%2Fd%3De%2A");
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
    }

    #[test]
    fn a_message_carries_reference_tier_site_name_deadline_and_link_only() {
        let m = Message {
            reference: "R-7F3K\n".into(),
            tier: "red".into(),
            urgent: true,
            site: Some("北区站".into()),
            deadline: chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .unwrap()
                .and_hms_opt(19, 5, 0)
                .unwrap(),
        };
        let text = m.text("zh-CN", "https://care.example.cn/");
        assert!(text.contains("紧急红色预警"), "{text}");
        assert!(text.contains("R-7F3K"), "{text}");
        assert!(text.contains("北区站"), "{text}");
        assert!(text.contains("2026-12-04 03:05"), "{text}");
        assert!(
            text.contains("https://care.example.cn/queue/R-7F3K"),
            "{text}"
        );
        let params = m.template_params();
        assert_eq!(
            params,
            vec![
                ("tier", "紧急红色预警".to_string()),
                ("reference", "R-7F3K".to_string()),
                ("site", "北区站".to_string()),
                ("deadline", "03:05".to_string()),
            ]
        );
    }
}
