//! Email to staff: the messages (localized, no rider data), and the mailer (lettre over SMTP
//! with an outer timeout around every send, or `.eml` files when no SMTP server is configured).
//!
//! Layer: use cases (above `accounts`; the jobs worker drives it). ARCHITECTURE.md maps the layers.

pub mod channels;

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDateTime;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};

use crate::china_time::shanghai_time;
use crate::config::MailSettings;
use crate::i18n::{Lang, Tr};

/// What a message is about. Only references, tiers, sites, times and counts: never a rider's
/// answers, score, name or phone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Content {
    Page {
        reference: String,
        tier: String,
        urgent: bool,
        site: Option<String>,
        deadline: NaiveDateTime,
    },
    Remind {
        reference: String,
        tier: String,
        site: Option<String>,
    },
    Digest {
        date: String,
        /// (site, open yellow alerts)
        counts: Vec<(String, i64)>,
    },
    /// The daily roster gaps (issue 13): the stretches of the next days with nobody on duty,
    /// per site (site names and times only).
    Gaps { date: String, gaps: Vec<GapLine> },
    /// A suspected flood of screenings: one mail for the whole cluster.
    Flood {
        cluster: String,
        site: Option<String>,
        count: i64,
        minutes: i64,
    },
}

/// One stretch with nobody on duty at a site (UTC; shown in China time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GapLine {
    pub site_name: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

/// One delivery: a message to one address, with its deterministic Message-ID.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub to: String,
    pub locale: String,
    pub content: Content,
}

/// `<hash@domain>` from the delivery's unique key: a resend (after a crash) is the same mail.
pub fn message_id(unique_key: &str, from: &Mailbox) -> String {
    let hash = hex::encode(Sha256::digest(unique_key.as_bytes()));
    format!("<{}@{}>", &hash[..32], from.email.domain())
}

pub(crate) fn tier_name(t: Tr, tier: &str, urgent: bool) -> String {
    match (tier, urgent) {
        ("red", true) => t.tr("email-tier-red-urgent"),
        ("red", false) => t.tr("email-tier-red"),
        _ => t.tr("email-tier-yellow"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bad recipient address")]
    Address,
    #[error("cannot build the message: {0}")]
    Message(String),
}

/// Builds the message. Every header value is either ours or validated (addresses are parsed;
/// references and site slugs are restricted to safe characters), and lettre encodes headers,
/// so no field can inject a header.
pub fn build(
    delivery: &Delivery,
    unique_key: &str,
    settings: &MailSettings,
) -> Result<Message, BuildError> {
    build_named(
        delivery,
        unique_key,
        settings,
        &std::collections::HashMap::new(),
    )
}

/// `build`, with the sites' names (slug -> name): a site is named by its name where known,
/// else by its code.
pub fn build_named(
    delivery: &Delivery,
    unique_key: &str,
    settings: &MailSettings,
    names: &std::collections::HashMap<String, String>,
) -> Result<Message, BuildError> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| BuildError::Message(format!("mail.from: {e}")))?;
    let to: Mailbox = delivery.to.parse().map_err(|_| BuildError::Address)?;
    let t = Tr(Lang::parse(&delivery.locale).unwrap_or(Lang::DEFAULT));
    let base = settings.public_url.trim_end_matches('/');
    let safe = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(64)
            .collect()
    };
    let site_name = |site: &Option<String>| {
        let named = site.as_deref().and_then(|slug| names.get(slug)).map(|n| {
            // The admin's text, on one line (a subject is a header: lettre encodes it).
            n.chars()
                .filter(|c| !c.is_control())
                .take(120)
                .collect::<String>()
        });
        named
            .filter(|n| !n.trim().is_empty())
            .or_else(|| site.as_deref().map(safe).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| t.tr("email-no-site"))
    };
    let (subject, body) = match &delivery.content {
        Content::Page {
            reference,
            tier,
            urgent,
            site,
            deadline,
        } => {
            let reference = safe(reference);
            let args = [
                ("tier", tier_name(t, tier, *urgent)),
                ("reference", reference.clone()),
                ("site", site_name(site)),
                ("deadline", shanghai_time(*deadline)),
                ("link", format!("{base}/queue/{reference}")),
            ];
            (
                t.tr_args("email-page-subject", &args),
                t.tr_args("email-page-body", &args),
            )
        }
        Content::Remind {
            reference,
            tier,
            site,
        } => {
            let reference = safe(reference);
            let args = [
                ("tier", tier_name(t, tier, false)),
                ("reference", reference.clone()),
                ("site", site_name(site)),
                ("link", format!("{base}/queue/{reference}")),
            ];
            (
                t.tr_args("email-remind-subject", &args),
                t.tr_args("email-remind-body", &args),
            )
        }
        Content::Digest { date, counts } => {
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let lines = counts
                .iter()
                .map(|(site, n)| format!("- {}: {n}", site_name(&Some(site.clone()))))
                .collect::<Vec<_>>()
                .join("\n");
            let args = [
                ("count", total.to_string()),
                ("date", safe(date)),
                ("lines", lines),
                ("link", format!("{base}/queue?tier=yellow")),
            ];
            (
                t.tr_args("email-digest-subject", &args),
                t.tr_args("email-digest-body", &args),
            )
        }
        Content::Gaps { date, gaps } => {
            // A site's name is the admin's text: one line each, no control characters.
            let name =
                |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(120).collect() };
            let lines = gaps
                .iter()
                .map(|g| {
                    t.tr_args(
                        "email-gaps-line",
                        &[
                            ("site", name(&g.site_name)),
                            ("from", shanghai_time(g.from)),
                            ("to", shanghai_time(g.to)),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let args = [
                ("count", gaps.len().to_string()),
                ("date", safe(date)),
                ("lines", lines),
                ("link", format!("{base}/rosters")),
            ];
            (
                t.tr_args("email-gaps-subject", &args),
                t.tr_args("email-gaps-body", &args),
            )
        }
        Content::Flood {
            cluster,
            site,
            count,
            minutes,
        } => {
            let args = [
                ("site", site_name(site)),
                ("count", count.to_string()),
                ("minutes", minutes.to_string()),
                ("link", format!("{base}/queue/clusters/{}", safe(cluster))),
            ];
            (
                t.tr_args("email-flood-subject", &args),
                t.tr_args("email-flood-body", &args),
            )
        }
    };
    // One line, whatever a translation holds.
    let subject: String = subject.replace(['\r', '\n'], " ");
    let body = format!("{body}\n\n--\n{}\n", t.tr("email-footer"));
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id(unique_key, &from)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| BuildError::Message(e.to_string()))
}

/// The password reset mail (issue 13): the link, how long it works, and nothing else. Built
/// apart from `Content` because its token must never be stored (no job row holds it).
pub fn build_reset(
    to: &str,
    locale: &str,
    token: &str,
    minutes: i64,
    unique_key: &str,
    settings: &MailSettings,
) -> Result<Message, BuildError> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| BuildError::Message(format!("mail.from: {e}")))?;
    let to: Mailbox = to.parse().map_err(|_| BuildError::Address)?;
    let t = Tr(Lang::parse(locale).unwrap_or(Lang::DEFAULT));
    let base = settings.public_url.trim_end_matches('/');
    let token: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(128)
        .collect();
    let args = [
        ("link", format!("{base}/login/reset?token={token}")),
        ("minutes", minutes.to_string()),
    ];
    let subject = t
        .tr_args("email-reset-subject", &args)
        .replace(['\r', '\n'], " ");
    let body = format!(
        "{}\n\n--\n{}\n",
        t.tr_args("email-reset-body", &args),
        t.tr("email-footer")
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id(unique_key, &from)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| BuildError::Message(e.to_string()))
}

/// Builds and sends the password reset mail once (no retry: the person asks again), within
/// the mailer's outer timeout.
pub async fn send_reset(
    settings: &MailSettings,
    to: &str,
    locale: &str,
    token: &str,
    minutes: i64,
    unique_key: &str,
) -> Result<(), String> {
    let message =
        build_reset(to, locale, token, minutes, unique_key, settings).map_err(|e| e.to_string())?;
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| format!("mail.from: {e}"))?;
    let mailer = Mailer::new(settings)?;
    mailer
        .send(&message, &message_id(unique_key, &from))
        .await
        .map_err(|e| e.to_string())
}

/// How a send failed: transient failures are retried, permanent ones are not.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("transient: {0}")]
    Transient(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

/// lettre's pooled transport starts a task to close its connections when dropped, which
/// panics if the runtime is already gone (a process shutting down with the worker still
/// running). Then the connections are left to the operating system instead.
pub struct Transport(Option<AsyncSmtpTransport<Tokio1Executor>>);

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err()
            && let Some(t) = self.0.take()
        {
            std::mem::forget(t);
        }
    }
}

/// Sends messages: SMTP, or `.eml` files in a folder.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: std::sync::Arc<Transport>,
        timeout: Duration,
    },
    Files(PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { timeout, .. } => write!(f, "Mailer::Smtp(timeout {timeout:?})"),
            Mailer::Files(dir) => write!(f, "Mailer::Files({})", dir.display()),
        }
    }
}

/// With no SMTP URL every message becomes a file: the folder is created and a file written
/// and removed in it, so an unwritable folder stops the service at start, not a page later.
fn probe_outbox(dir: &std::path::Path) -> Result<(), String> {
    let refuse = |e: std::io::Error| {
        format!(
            "`mail.outbox_dir`: cannot write to {}: {e}; set mail.outbox_dir to a folder this service can write, or mail.smtp_url to a mail server",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(refuse)?;
    let probe = dir.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&probe, b"careline start-up check\n").map_err(refuse)?;
    std::fs::remove_file(&probe).map_err(refuse)
}

impl Mailer {
    /// From configuration: `smtp://` requires STARTTLS, `smtps://` is implicit TLS,
    /// `smtp+plain://` has no TLS (local tests), empty writes files.
    pub fn new(settings: &MailSettings) -> Result<Mailer, String> {
        let url = settings.smtp_url.trim();
        if url.is_empty() {
            probe_outbox(&settings.outbox_dir)?;
            return Ok(Mailer::Files(settings.outbox_dir.clone()));
        }
        let lettre_url = if let Some(rest) = url.strip_prefix("smtp+plain://") {
            format!("smtp://{rest}")
        } else if url.starts_with("smtp://") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}tls=required")
        } else {
            url.to_string()
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url)
            .map_err(|e| format!("mail.smtp_url: {e}"))?
            // lettre's own timeout covers the connection and each command; the outer timeout
            // in `send` covers the whole exchange.
            .timeout(Some(settings.timeout))
            .pool_config(PoolConfig::new().max_size(settings.pool_size))
            .build();
        Ok(Mailer::Smtp {
            transport: std::sync::Arc::new(Transport(Some(transport))),
            timeout: settings.timeout,
        })
    }

    /// Whether the mail path answers: the SMTP server greets and takes a NOOP (within the
    /// timeout), or the outbox folder can be created.
    pub async fn probe(&self) -> bool {
        match self {
            Mailer::Smtp { transport, timeout } => {
                let Some(transport) = &transport.0 else {
                    return false;
                };
                matches!(
                    tokio::time::timeout(*timeout, transport.test_connection()).await,
                    Ok(Ok(true))
                )
            }
            Mailer::Files(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || std::fs::create_dir_all(&dir).is_ok())
                    .await
                    .unwrap_or(false)
            }
        }
    }

    pub async fn send(&self, message: &Message, message_id: &str) -> Result<(), SendError> {
        match self {
            Mailer::Smtp { transport, timeout } => {
                let Some(transport) = &transport.0 else {
                    return Err(SendError::Transient("the mailer is shut down".into()));
                };
                match tokio::time::timeout(*timeout, transport.send(message.clone())).await {
                    Err(_) => Err(SendError::Transient(format!(
                        "no answer from the mail server within {timeout:?}"
                    ))),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                    Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
                }
            }
            Mailer::Files(dir) => {
                let dir = dir.clone();
                let bytes = message.formatted();
                let name: String = message_id
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
                    .collect();
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    // Written whole, then renamed: a reader never sees half a message, and a
                    // resend replaces the same file.
                    let tmp = dir.join(format!(".{name}.tmp"));
                    std::fs::write(&tmp, &bytes)?;
                    std::fs::rename(&tmp, dir.join(format!("{name}.eml")))
                })
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?
                .map_err(|e| SendError::Transient(format!("cannot write the .eml file: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MailSettings {
        crate::config::Settings::load_from(&crate::config::Sources {
            config_dir: "/nonexistent".into(),
            env_name: None,
            vars: Default::default(),
        })
        .unwrap()
        .mail
    }

    fn page() -> Delivery {
        Delivery {
            to: "li@example.org".into(),
            locale: "zh-CN".into(),
            content: Content::Page {
                reference: "A-7F3K".into(),
                tier: "red".into(),
                urgent: false,
                site: Some("station-1".into()),
                deadline: chrono::NaiveDate::from_ymd_opt(2026, 11, 29)
                    .unwrap()
                    .and_hms_opt(4, 30, 0)
                    .unwrap(),
            },
        }
    }

    #[test]
    fn a_page_names_the_alert_and_links_to_it_in_china_time() {
        let m = build(&page(), "page:a:0:0:li@example.org", &settings()).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.contains("To: li@example.org"), "{text}");
        let body = m.formatted();
        let body = String::from_utf8_lossy(&body);
        // The body is quoted-printable or base64 encoded; decode by building again in English.
        let mut en = page();
        en.locale = "en".into();
        let en = String::from_utf8(build(&en, "k", &settings()).unwrap().formatted()).unwrap();
        assert!(en.contains("A-7F3K"), "{en}");
        assert!(en.contains("http://127.0.0.1:8080/queue/A-7F3K"), "{en}");
        assert!(en.contains("2026-11-29 12:30"), "UTC+8: {en}");
        assert!(!body.is_empty());
    }

    #[test]
    fn mails_name_the_site_by_its_name_where_known() {
        let mut en = page();
        en.locale = "en".into();
        let names = std::collections::HashMap::from([(
            "station-1".to_string(),
            "North station\r\nBcc: evil@example.org".to_string(),
        )]);
        let named = build_named(&en, "k", &settings(), &names).unwrap();
        let subject = named.headers().get_raw("Subject").unwrap().to_string();
        assert!(subject.contains("North station"), "{subject}");
        assert!(!subject.contains("station-1"), "{subject}");
        let text = String::from_utf8(named.formatted()).unwrap();
        assert!(!text.to_ascii_lowercase().contains("\r\nbcc:"), "{text}");
        // Unknown to the map: the code.
        let coded = build(&en, "k", &settings()).unwrap();
        let subject = coded.headers().get_raw("Subject").unwrap().to_string();
        assert!(subject.contains("station-1"), "{subject}");
    }

    #[test]
    fn the_message_id_is_the_same_for_the_same_delivery() {
        let s = settings();
        let a = build(&page(), "k1", &s).unwrap();
        let b = build(&page(), "k1", &s).unwrap();
        let c = build(&page(), "k2", &s).unwrap();
        let id = |m: &Message| {
            m.headers()
                .get_raw("Message-ID")
                .map(str::to_string)
                .unwrap()
        };
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
    }

    #[test]
    fn no_field_can_inject_a_header() {
        let s = settings();
        let mut d = page();
        d.to = "li@example.org\r\nBcc: evil@example.org".into();
        assert!(matches!(build(&d, "k", &s), Err(BuildError::Address)));
        let mut d = page();
        d.locale = "en".into();
        d.content = Content::Page {
            reference: "A-7F3K\r\nBcc: evil@example.org".into(),
            tier: "red".into(),
            urgent: true,
            site: Some("x\r\nBcc: evil@example.org".into()),
            deadline: chrono::Utc::now().naive_utc(),
        };
        let text = String::from_utf8(build(&d, "k", &s).unwrap().formatted()).unwrap();
        assert!(!text.to_ascii_lowercase().contains("\r\nbcc:"), "{text}");
    }

    #[tokio::test]
    async fn without_smtp_messages_become_eml_files_named_by_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings();
        s.outbox_dir = dir.path().to_path_buf();
        let mailer = Mailer::new(&s).unwrap();
        let m = build(&page(), "k1", &s).unwrap();
        let id = message_id("k1", &s.from.parse().unwrap());
        mailer.send(&m, &id).await.unwrap();
        mailer.send(&m, &id).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "a resend replaces the same file");
    }
}
