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

use chrono::NaiveDateTime;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::{GapLine, SendError};
use crate::config::Settings;
use crate::config::channels::{NotifySettings, PhoneChannel, Provider, Webhook};
use crate::i18n::{Lang, Tr};

/// What one channel delivery says. Untagged: the payloads of `channel.send` jobs stored
/// before the gap message existed are pages (the fields of `Page`) and still read as such.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    /// A red alert's page: the fields of a page email, nothing more.
    Page(Page),
    /// The daily roster gaps (issue 13): site names and times, nothing about anyone.
    Gaps(Gaps),
}

/// A red alert's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub reference: String,
    pub tier: String,
    pub urgent: bool,
    /// The site's name as administrators set it (not its code); `None`: no site given.
    pub site: Option<String>,
    pub deadline: NaiveDateTime,
}

/// The roster gaps of the next 7 days as of `date` (China time), for one robot or one
/// supervisor: only the sites they serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gaps {
    pub date: String,
    pub gaps: Vec<GapLine>,
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

impl Page {
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

    fn text(&self, locale: &str, public_url: &str) -> String {
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

    fn template_params(&self) -> Vec<(&'static str, String)> {
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

/// How much of a robot's text the gap lines may take: WeCom takes at most 2,048 bytes of
/// text; the rest of the lines are counted ("and 3 more") and the link lists them all.
const GAP_LINES_BUDGET: usize = 1400;

impl Gaps {
    fn text(&self, locale: &str, public_url: &str) -> String {
        let t = Tr(Lang::parse(locale).unwrap_or(Lang::DEFAULT));
        let mut lines: Vec<String> = Vec::new();
        let mut used = 0;
        for (i, g) in self.gaps.iter().enumerate() {
            let line = t.tr_args(
                "email-gaps-line",
                &[
                    ("site", clean(&g.site_name, 100)),
                    ("from", crate::china_time::shanghai_time(g.from)),
                    ("to", crate::china_time::shanghai_time(g.to)),
                ],
            );
            if i > 0 && used + line.len() > GAP_LINES_BUDGET {
                lines.push(t.tr_args(
                    "channel-gaps-more",
                    &[("count", (self.gaps.len() - i).to_string())],
                ));
                break;
            }
            used += line.len() + 1;
            lines.push(line);
        }
        t.tr_args(
            "channel-gaps-text",
            &[
                ("count", self.gaps.len().to_string()),
                ("date", clean(&self.date, 10)),
                ("lines", lines.join("\n")),
                (
                    "link",
                    format!("{}/rosters", public_url.trim_end_matches('/')),
                ),
            ],
        )
    }

    /// `count` (gaps), and the first gap: `site`, `from`, `to` (China time, `MM-DD HH:MM`).
    fn template_params(&self) -> Vec<(&'static str, String)> {
        let at = |t: NaiveDateTime| {
            t.and_utc()
                .with_timezone(&crate::china_time::shanghai())
                .format("%m-%d %H:%M")
                .to_string()
        };
        let first = self.gaps.first();
        vec![
            ("count", self.gaps.len().to_string()),
            (
                "site",
                first.map(|g| clean(&g.site_name, 20)).unwrap_or_default(),
            ),
            ("from", first.map(|g| at(g.from)).unwrap_or_default()),
            ("to", first.map(|g| at(g.to)).unwrap_or_default()),
        ]
    }
}

impl Message {
    /// A red alert's page (it goes out only while the alert is open), not the gap message.
    pub fn is_page(&self) -> bool {
        matches!(self, Message::Page(_))
    }

    /// The robots' text, in `locale`.
    pub fn text(&self, locale: &str, public_url: &str) -> String {
        match self {
            Message::Page(p) => p.text(locale, public_url),
            Message::Gaps(g) => g.text(locale, public_url),
        }
    }

    /// The template variables of SMS and voice (the approved template fills them in), in
    /// Chinese. A page: `tier`, `reference`, `site`, `deadline` (China time, `HH:MM`). The gap
    /// message: `count`, `site`, `from`, `to` (its first gap).
    pub fn template_params(&self) -> Vec<(&'static str, String)> {
        match self {
            Message::Page(p) => p.template_params(),
            Message::Gaps(g) => g.template_params(),
        }
    }

    /// The approved template of `c` this message is sent with: `template_id` for a page,
    /// `gap_template` for the gap message (empty: the deployment has none).
    pub fn template<'a>(&self, c: &'a PhoneChannel) -> &'a str {
        match self {
            Message::Page(_) => c.template_id.trim(),
            Message::Gaps(_) => c.gap_template.trim(),
        }
    }
}

/// The channels of one worker: the configured ones and one HTTP client. Their rate limits
/// are kept in the database (`db::channels`), so they hold across instances.
#[derive(Debug)]
pub struct Channels {
    settings: NotifySettings,
    public_url: String,
    client: reqwest::Client,
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
        })
    }

    pub fn webhook(&self, id: &str) -> Option<&Webhook> {
        self.settings.webhooks.iter().find(|w| w.id() == id)
    }

    /// The channel's rate-limit key (a robot's id, `sms`, `voice`) and its `per_minute`;
    /// `None` when it is no longer configured.
    pub fn limit_of(&self, target: &Target) -> Option<(String, u32)> {
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
    // Vendors send approved templates only: the gap message goes by text, and only with its
    // own template.
    if !message.is_page() {
        if voice {
            return Err(SendError::Permanent(
                "voice calls carry pages only, not the gap message".into(),
            ));
        }
        if message.template(c).is_empty() {
            return Err(SendError::Permanent(
                "notify.sms has no gap_template for the gap message".into(),
            ));
        }
    }
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
        let m = Message::Page(Page {
            reference: "R-7F3K\n".into(),
            tier: "red".into(),
            urgent: true,
            site: Some("北区站".into()),
            deadline: chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .unwrap()
                .and_hms_opt(19, 5, 0)
                .unwrap(),
        });
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

    fn at(d: u32, h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn the_gap_message_lists_site_names_and_china_time_hours() {
        let m = Message::Gaps(Gaps {
            date: "2026-12-04".into(),
            gaps: vec![
                GapLine {
                    site_name: "北区站".into(),
                    from: at(3, 14),
                    to: at(3, 22),
                },
                GapLine {
                    site_name: "South\nStation".into(),
                    from: at(4, 1),
                    to: at(5, 1),
                },
            ],
        });
        let text = m.text("en", "https://care.example.cn/");
        assert!(text.contains("2 roster gaps"), "{text}");
        // UTC 14:00 and 22:00 are 22:00 and 06:00 the next day in China.
        assert!(
            text.contains("- 北区站: 2026-12-03 22:00 to 2026-12-04 06:00"),
            "{text}"
        );
        assert!(
            text.contains("- SouthStation: 2026-12-04 09:00 to 2026-12-05 09:00"),
            "{text}"
        );
        assert!(text.contains("https://care.example.cn/rosters"), "{text}");
        assert!(!m.is_page());
        assert_eq!(
            m.template_params(),
            vec![
                ("count", "2".to_string()),
                ("site", "北区站".to_string()),
                ("from", "12-03 22:00".to_string()),
                ("to", "12-04 06:00".to_string()),
            ]
        );
        let zh = m.text("zh-CN", "https://care.example.cn");
        assert!(
            zh.contains("- 北区站：2026-12-03 22:00 至 2026-12-04 06:00"),
            "{zh}"
        );
    }

    #[test]
    fn a_long_gap_message_stays_within_a_robots_text_limit() {
        let gaps: Vec<GapLine> = (0..200)
            .map(|i| GapLine {
                site_name: format!("配送站点第{i}号站"),
                from: at(3, 0) + chrono::Duration::hours(i),
                to: at(3, 0) + chrono::Duration::hours(i) + chrono::Duration::minutes(30),
            })
            .collect();
        let m = Message::Gaps(Gaps {
            date: "2026-12-03".into(),
            gaps,
        });
        for locale in ["zh-CN", "zh-TW", "en"] {
            let text = m.text(locale, "https://care.example.cn");
            // WeCom's limit on a text message.
            assert!(text.len() <= 2048, "{locale}: {} bytes", text.len());
            assert!(text.contains("配送站点第0号站"), "{text}");
            assert!(!text.contains("配送站点第199号站"), "{text}");
            let shown = text.matches("配送站点第").count();
            assert!(
                text.contains(&format!(" {} ", 200 - shown)),
                "the rest counted: {text}"
            );
        }
    }

    #[test]
    fn stored_page_payloads_still_read_as_pages() {
        // A `channel.send` message as stored before the gap message existed.
        let old = r#"{"reference":"R-1","tier":"red","urgent":false,"site":"北区站","deadline":"2026-12-03T19:05:00"}"#;
        let m: Message = serde_json::from_str(old).unwrap();
        assert!(matches!(&m, Message::Page(p) if p.reference == "R-1"));
        let gaps = Message::Gaps(Gaps {
            date: "2026-12-03".into(),
            gaps: vec![GapLine {
                site_name: "x".into(),
                from: at(3, 0),
                to: at(3, 1),
            }],
        });
        let back: Message = serde_json::from_str(&serde_json::to_string(&gaps).unwrap()).unwrap();
        assert_eq!(back, gaps);
        let page: Message = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(page, m);
    }
}
