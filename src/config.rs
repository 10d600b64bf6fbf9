//! Settings, in layers: `config/default.toml`, then `config/<CARELINE_ENV>.toml` if present,
//! then environment variables `CARELINE__<SECTION>__<KEY>`. Validated once at start; unknown
//! keys are refused with a message naming the key.
//!
//! Layer: shared vocabulary (plain data the layers above read). ARCHITECTURE.md maps the layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

pub mod channels;

/// The defaults, compiled in so the binary runs from any folder.
const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub questionnaires: QuestionnaireSettings,
    pub log: LogSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub privacy: PrivacySettings,
    pub crisis: CrisisSettings,
    /// What riders are offered (issue 10): the public screenings, the resource links' base.
    #[serde(default)]
    pub rider: RiderSettings,
    pub auth: AuthSettings,
    pub alerts: AlertSettings,
    pub mail: MailSettings,
    pub escalation: EscalationPolicy,
    pub worker: WorkerSettings,
    pub metrics: MetricsSettings,
    /// Flood guard (issue 11): source fingerprints, suspected-flood clusters, hard limits.
    #[serde(default)]
    pub abuse: AbuseSettings,
    /// Channels besides email (issue 13): group robots, SMS, voice calls.
    #[serde(default)]
    pub notify: channels::NotifySettings,
    /// `CARELINE_ENV` (not a file key): "production" turns on the strict start-up checks.
    #[serde(skip)]
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit: usize,
    /// The address riders reach the service at (`https://host`), printed in station posters'
    /// QR codes. Empty: `mail.public_url`.
    #[serde(default)]
    pub public_url: String,
    /// How long a rider's form (and result page) stays sendable: its token is signed with the
    /// time it was issued. An older form is not lost: it comes back filled, ready to send.
    #[serde(default = "default_form_token_ttl", with = "humantime_serde")]
    pub form_token_ttl: std::time::Duration,
}

fn default_form_token_ttl() -> std::time::Duration {
    std::time::Duration::from_secs(24 * 3600)
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    #[serde(with = "humantime_serde")]
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("DatabaseSettings")
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    pub contact_key: String,
    #[serde(with = "humantime_serde")]
    pub contact_retention: std::time::Duration,
    /// The smallest count any aggregate view (reports, what-would-change previews) shows as a
    /// number; smaller counts are shown as "<min_cell" and suppressed so they cannot be
    /// computed back.
    #[serde(default = "default_min_cell")]
    pub min_cell: u32,
}

fn default_min_cell() -> u32 {
    10
}

impl std::fmt::Debug for PrivacySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacySettings")
            .field("contact_retention", &self.contact_retention)
            .field("min_cell", &self.min_cell)
            .finish_non_exhaustive()
    }
}

/// Sign-in and sessions.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The HS256 key session tokens are signed with: at least 32 bytes.
    pub jwt_key: String,
    pub issuer: String,
    pub audience: String,
    /// How long a session lasts after sign-in.
    #[serde(with = "humantime_serde")]
    pub session_ttl: std::time::Duration,
    /// Wrong passwords allowed (per address and per account) before sign-in is slowed.
    pub login_free_failures: u32,
    /// The first delay once those are used up; it doubles with each further failure.
    #[serde(with = "humantime_serde")]
    pub login_delay: std::time::Duration,
    /// The longest delay, and how long failures are remembered.
    #[serde(with = "humantime_serde")]
    pub login_max_delay: std::time::Duration,
    /// Addresses or networks (CIDR) of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl AuthSettings {
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("\"{p}\" is not an IP address or network"))
            })
            .collect()
    }
}

/// The development-only session signing key shipped in `config/default.toml`.
pub const DEVELOPMENT_JWT_KEY: &str = "development only: not a secret, never use it in production";

/// Alerts: how long counselors have to act on each.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    #[serde(with = "humantime_serde")]
    pub red_deadline: std::time::Duration,
    #[serde(with = "humantime_serde")]
    pub urgent_deadline: std::time::Duration,
    #[serde(with = "humantime_serde")]
    pub yellow_deadline: std::time::Duration,
}

/// Outgoing mail.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp://host:587` (STARTTLS required), `smtps://host:465` (implicit TLS),
    /// `smtp+plain://host:port` (no TLS: local tests only). Empty: `.eml` files in `outbox_dir`.
    pub smtp_url: String,
    pub from: String,
    pub outbox_dir: PathBuf,
    /// The outer limit on one send (connect, greeting, every command, the data).
    #[serde(with = "humantime_serde")]
    pub timeout: std::time::Duration,
    pub pool_size: u32,
    /// Where links in emails point: the address counselors open the workspace at.
    pub public_url: String,
    /// Mail failing without a success for this long is an operational alarm (`/readyz`
    /// detail, the admin page).
    #[serde(with = "humantime_serde")]
    pub alarm_after: std::time::Duration,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may carry a password.
        f.debug_struct("MailSettings")
            .field("outbox_dir", &self.outbox_dir)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Who is paged about a red alert, level after level, until someone acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    pub levels: Vec<EscalationLevel>,
    /// How many times the whole chain runs before the last level repeats every `repeat_interval`.
    pub rounds: u32,
    #[serde(with = "humantime_serde")]
    pub repeat_interval: std::time::Duration,
    /// Replaces the first level's timeout on urgent alerts.
    #[serde(with = "humantime_serde")]
    pub urgent_first_timeout: std::time::Duration,
    /// Paged with all supervisors at the last level.
    pub backup_emails: Vec<String>,
    /// Acknowledged but unresolved alerts remind the acknowledger and the on-duty supervisors.
    #[serde(with = "humantime_serde")]
    pub reminder_interval: std::time::Duration,
    /// The channels each level pages besides email: `[notify]`, put here by
    /// `Settings::sync_channels` so every use case that escalates has them. Never stored on
    /// an alert (its copy of the policy is the chain; the channels are the configured ones).
    #[serde(skip)]
    pub channels: std::sync::Arc<channels::NotifySettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevel {
    pub notify: Audience,
    #[serde(with = "humantime_serde")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Counselors on shift now who serve the alert's site.
    OnDutyCounselors,
    /// Supervisors on shift now who serve the alert's site.
    OnDutySupervisors,
    /// Every active supervisor, plus `backup_emails`.
    AllSupervisors,
}

/// The job worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Look for due jobs at least this often (a committed job wakes the worker at once).
    #[serde(with = "humantime_serde")]
    pub poll_interval: std::time::Duration,
    /// How long a claimed job is reserved; past it, another worker takes it over.
    #[serde(with = "humantime_serde")]
    pub lease: std::time::Duration,
    pub concurrency: u32,
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub backoff_base: std::time::Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: std::time::Duration,
    /// On SIGTERM, running jobs get this long to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: std::time::Duration,
    /// Whether `careline serve` runs a job worker too (the default). False when separate
    /// `careline worker` processes do all the work (PostgreSQL deployments that scale them).
    #[serde(default = "run_in_serve")]
    pub in_serve: bool,
    /// Whether the auditor schedules the daily roster-gap message to supervisors (issue 13),
    /// once a day after 09:00 China time.
    #[serde(default = "gap_digest_on")]
    pub gap_digest: bool,
}

fn gap_digest_on() -> bool {
    true
}

fn run_in_serve() -> bool {
    true
}

/// The flood guard. A screening's source is a keyed hash of its network (IPv4 /24, IPv6 /48)
/// and user agent. Counts are over the last `window`, read from the stored screenings (so
/// every instance sees the same counts).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AbuseSettings {
    /// The counting window.
    #[serde(with = "humantime_serde")]
    pub window: std::time::Duration,
    /// More yellow or red screenings than this from one source in the window: the next ones'
    /// alerts join a suspected-flood cluster.
    pub cluster_per_source: u32,
    /// More yellow or red screenings than this at one site in the window (outside source
    /// clusters): the next ones join the site's suspected-flood cluster.
    pub cluster_per_site: u32,
    /// Screenings (any tier) one source may store in the window; over it: 429.
    pub limit_per_source: u32,
    /// Screenings (any tier) one site may store in the window; over it: 429.
    pub limit_per_site: u32,
    /// Fingerprints are cleared from screenings this long after they were stored.
    #[serde(with = "humantime_serde")]
    pub retention: std::time::Duration,
    /// Screenings (any tier) one source may store in the window before the next ones must
    /// carry a solved proof-of-work challenge (the form's script solves it unseen).
    pub challenge_per_source: u32,
    /// The same for one site.
    pub challenge_per_site: u32,
    /// The challenge's size: the solver tries up to this many hashes (half on average).
    pub challenge_max_number: u64,
    /// How long a challenge can be solved and used (once).
    #[serde(with = "humantime_serde")]
    pub challenge_ttl: std::time::Duration,
}

impl Default for AbuseSettings {
    fn default() -> Self {
        AbuseSettings {
            window: std::time::Duration::from_secs(3600),
            cluster_per_source: 20,
            cluster_per_site: 150,
            limit_per_source: 60,
            limit_per_site: 1000,
            retention: std::time::Duration::from_secs(7 * 24 * 3600),
            challenge_per_source: 10,
            challenge_per_site: 300,
            challenge_max_number: 20_000,
            challenge_ttl: std::time::Duration::from_secs(30 * 60),
        }
    }
}

impl AbuseSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &'static str, message: String| Err(SettingsError::Invalid { key, message });
        if !(60..=86_400).contains(&self.window.as_secs()) {
            return bad(
                "abuse.window",
                "must be 1m to 24h (the default is \"1h\")".into(),
            );
        }
        if self.cluster_per_source < 5 {
            return bad(
                "abuse.cluster_per_source",
                format!(
                    "must be at least 5, is {}: a few riders sharing one phone or one network must never form a flood (the default is 20)",
                    self.cluster_per_source
                ),
            );
        }
        if self.cluster_per_site < 20 {
            return bad(
                "abuse.cluster_per_site",
                format!(
                    "must be at least 20, is {}: a busy station must never form a flood (the default is 150)",
                    self.cluster_per_site
                ),
            );
        }
        if self.limit_per_source <= self.cluster_per_source {
            return bad(
                "abuse.limit_per_source",
                format!(
                    "must be more than abuse.cluster_per_source ({}): screenings are clustered before any is refused (the default is 60)",
                    self.cluster_per_source
                ),
            );
        }
        if self.limit_per_site <= self.cluster_per_site {
            return bad(
                "abuse.limit_per_site",
                format!(
                    "must be more than abuse.cluster_per_site ({}): screenings are clustered before any is refused (the default is 1000)",
                    self.cluster_per_site
                ),
            );
        }
        if self.challenge_per_source == 0 || self.challenge_per_source >= self.limit_per_source {
            return bad(
                "abuse.challenge_per_source",
                format!(
                    "must be 1 to less than abuse.limit_per_source ({}): the challenge comes before the refusal (the default is 10)",
                    self.limit_per_source
                ),
            );
        }
        if self.challenge_per_site == 0 || self.challenge_per_site >= self.limit_per_site {
            return bad(
                "abuse.challenge_per_site",
                format!(
                    "must be 1 to less than abuse.limit_per_site ({}) (the default is 300)",
                    self.limit_per_site
                ),
            );
        }
        if !(1_000..=1_000_000).contains(&self.challenge_max_number) {
            return bad(
                "abuse.challenge_max_number",
                "must be 1000 to 1000000: larger takes a phone seconds (the default is 20000)"
                    .into(),
            );
        }
        if !(1..=86_400).contains(&self.challenge_ttl.as_secs()) {
            return bad(
                "abuse.challenge_ttl",
                "must be 1s to 24h (the default is \"30m\")".into(),
            );
        }
        if self.retention < self.window || self.retention.as_secs() > 90 * 86_400 {
            return bad(
                "abuse.retention",
                "must be at least abuse.window and at most 90days (the default is \"7days\")"
                    .into(),
            );
        }
        Ok(())
    }
}

/// `GET /metrics`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Empty: `/metrics` is open. Set: a scrape must send `Authorization: Bearer <token>`.
    pub token: String,
    /// How often the gauges read from the database are refreshed (not on each scrape).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: std::time::Duration,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("token_set", &!self.token.is_empty())
            .field("refresh_interval", &self.refresh_interval)
            .finish()
    }
}

/// Keys whose value is a list of strings: from the environment they are written
/// comma-separated (`CARELINE__AUTH__TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16`). Only these are
/// split; a comma in any other value stays part of it.
pub const LIST_KEYS: &[&str] = &[
    "auth.trusted_proxies",
    "escalation.backup_emails",
    "rider.public_questionnaires",
];

/// The development-only contact key shipped in `config/default.toml`.
pub const DEVELOPMENT_CONTACT_KEY: &str = "ZGV2ZWxvcG1lbnQgb25seTogbm90IGEgc2VjcmV0ISE=";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisSettings {
    pub lines: Vec<CrisisLine>,
    /// What a rider with a serious result is told about the call to expect: when, and from
    /// which number (keyed by locale as the line names are: `zh_cn`, `zh_tw`, `en`). Empty:
    /// nothing is promised.
    #[serde(default)]
    pub callback_hint: std::collections::BTreeMap<String, String>,
}

impl CrisisSettings {
    /// The callback hint in `locale` (e.g. "zh-CN"), falling back to zh-CN, then to any.
    pub fn callback_hint_in(&self, locale: &str) -> Option<&str> {
        let key = locale.to_ascii_lowercase().replace('-', "_");
        self.callback_hint
            .get(&key)
            .or_else(|| self.callback_hint.get("zh_cn"))
            .or_else(|| self.callback_hint.values().next())
            .map(String::as_str)
    }
}

/// What riders are offered: which screenings the home page lists, where resource links lead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiderSettings {
    /// The questionnaire ids the home page lists, in order (`rider_wellbeing` is put first).
    /// Each must be loaded: checked at start (`startup`), where the catalog is known.
    pub public_questionnaires: Vec<String>,
    /// The base URL the questionnaires' path links (`/self-help/mood`) are resolved against.
    pub resource_base: String,
}

impl Default for RiderSettings {
    fn default() -> Self {
        RiderSettings {
            public_questionnaires: ["rider_wellbeing", "phq4", "who5", "pss10"]
                .map(str::to_string)
                .to_vec(),
            resource_base: "https://careline.example".into(),
        }
    }
}

impl RiderSettings {
    /// A resource link as the rider follows it: a path joined to `resource_base`, anything
    /// else (`https://...`, `tel:...`) as written.
    pub fn resolve(&self, url: &str) -> String {
        if url.starts_with('/') && !url.starts_with("//") {
            format!("{}{url}", self.resource_base.trim_end_matches('/'))
        } else {
            url.to_string()
        }
    }
}

/// A crisis line. `name` is keyed by locale written with an underscore (`zh_cn`), because
/// configuration keys are case-insensitive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisLine {
    pub number: String,
    pub name: std::collections::BTreeMap<String, String>,
}

impl CrisisLine {
    /// The name in `locale` (e.g. "zh-CN"), falling back to zh-CN, then to any.
    pub fn name_in(&self, locale: &str) -> &str {
        let key = locale.to_ascii_lowercase().replace('-', "_");
        self.name
            .get(&key)
            .or_else(|| self.name.get("zh_cn"))
            .or_else(|| self.name.values().next())
            .map_or(self.number.as_str(), String::as_str)
    }
}

impl Settings {
    fn validate_notifier(&self) -> Result<(), SettingsError> {
        let bad = |key: &'static str, message: &str| {
            Err(SettingsError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        let url = &self.mail.smtp_url;
        if !(url.is_empty()
            || url.starts_with("smtp://")
            || url.starts_with("smtps://")
            || url.starts_with("smtp+plain://"))
        {
            return bad(
                "mail.smtp_url",
                "must be empty (write .eml files), smtp://host:587 (STARTTLS), smtps://host:465 or smtp+plain://host:port (tests only)",
            );
        }
        if url.starts_with("smtp+plain://") && self.is_production() {
            return bad(
                "mail.smtp_url",
                "plain SMTP without TLS is refused in production",
            );
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad(
                "mail.from",
                "must be an address like \"Careline <careline@example.org>\"",
            );
        }
        if self.mail.timeout.is_zero() || self.mail.pool_size == 0 {
            return bad(
                "mail.timeout",
                "mail.timeout and mail.pool_size must be more than 0",
            );
        }
        if !(self.mail.public_url.starts_with("http://")
            || self.mail.public_url.starts_with("https://"))
        {
            return bad("mail.public_url", "must start with http:// or https://");
        }
        let p = &self.escalation;
        // No setting can mute a red alert: there is always a level, a timeout and a repeat.
        if p.levels.is_empty() {
            return bad(
                "escalation.levels",
                "list at least one level, ending with { notify = \"all_supervisors\", timeout = \"10m\" }",
            );
        }
        // Levels of on-duty people page nobody when nobody is on shift; only the last level's
        // "every supervisor plus backup_emails" does not depend on a roster.
        if p.levels.last().map(|l| l.notify) != Some(Audience::AllSupervisors) {
            return bad(
                "escalation.levels",
                "the last level must be { notify = \"all_supervisors\", timeout = \"10m\" }: on-duty levels page nobody when nobody is on shift, and backup_emails are paged only with all supervisors",
            );
        }
        if p.levels.iter().any(|l| l.timeout.is_zero()) || p.urgent_first_timeout.is_zero() {
            return bad("escalation.levels", "every timeout must be more than 0s");
        }
        if p.rounds == 0 {
            return bad("escalation.rounds", "must be at least 1");
        }
        if p.repeat_interval.is_zero() || p.reminder_interval.is_zero() {
            return bad(
                "escalation.repeat_interval",
                "escalation.repeat_interval and escalation.reminder_interval must be more than 0s",
            );
        }
        if let Some(e) = p
            .backup_emails
            .iter()
            .find(|e| e.parse::<lettre::Address>().is_err())
        {
            return Err(SettingsError::Invalid {
                key: "escalation.backup_emails",
                message: format!("\"{e}\" is not an email address"),
            });
        }
        let w = &self.worker;
        if self.mail.timeout >= w.lease {
            return Err(SettingsError::Invalid {
                key: "mail.timeout",
                message: format!(
                    "must be shorter than worker.lease ({}), or a slow send is taken over and sent twice; write e.g. mail.timeout = \"10s\" with worker.lease = \"60s\"",
                    humantime::format_duration(w.lease)
                ),
            });
        }
        if w.poll_interval.is_zero() || w.lease < std::time::Duration::from_secs(1) {
            return bad(
                "worker.lease",
                "worker.poll_interval must be more than 0s and worker.lease at least 1s",
            );
        }
        if w.concurrency == 0 || w.max_attempts == 0 {
            return bad(
                "worker.concurrency",
                "worker.concurrency and worker.max_attempts must be at least 1",
            );
        }
        if w.backoff_base.is_zero() || w.backoff_max < w.backoff_base {
            return bad(
                "worker.backoff_base",
                "must be more than 0s and at most worker.backoff_max",
            );
        }
        Ok(())
    }

    /// Upper bounds (README lists them): a duration beyond them is a typo, or a setting that
    /// leaves a red alert unheard for hours.
    fn validate_bounds(&self) -> Result<(), SettingsError> {
        const MIN: u64 = 60;
        const HOUR: u64 = 60 * MIN;
        const DAY: u64 = 24 * HOUR;
        let p = &self.escalation;
        let w = &self.worker;
        let mut checks: Vec<(&'static str, std::time::Duration, u64)> = vec![
            ("database.timeout", self.database.timeout, 5 * MIN),
            (
                "privacy.contact_retention",
                self.privacy.contact_retention,
                3650 * DAY,
            ),
            ("auth.session_ttl", self.auth.session_ttl, 30 * DAY),
            ("auth.login_delay", self.auth.login_delay, HOUR),
            ("auth.login_max_delay", self.auth.login_max_delay, DAY),
            ("alerts.red_deadline", self.alerts.red_deadline, 2 * HOUR),
            ("alerts.urgent_deadline", self.alerts.urgent_deadline, HOUR),
            (
                "alerts.yellow_deadline",
                self.alerts.yellow_deadline,
                30 * DAY,
            ),
            ("mail.timeout", self.mail.timeout, 5 * MIN),
            ("mail.alarm_after", self.mail.alarm_after, HOUR),
            (
                "escalation.urgent_first_timeout",
                p.urgent_first_timeout,
                HOUR,
            ),
            ("escalation.repeat_interval", p.repeat_interval, HOUR),
            ("escalation.reminder_interval", p.reminder_interval, DAY),
            ("worker.poll_interval", w.poll_interval, 5 * MIN),
            ("worker.lease", w.lease, HOUR),
            ("worker.backoff_base", w.backoff_base, 10 * MIN),
            ("worker.backoff_max", w.backoff_max, HOUR),
            ("worker.shutdown_timeout", w.shutdown_timeout, 10 * MIN),
        ];
        for l in &p.levels {
            checks.push(("escalation.levels", l.timeout, 2 * HOUR));
        }
        for (key, d, max) in checks {
            let max = std::time::Duration::from_secs(max);
            if d > max {
                return Err(SettingsError::Invalid {
                    key,
                    message: format!(
                        "{} is longer than the most allowed, {}; write at most \"{}\"",
                        humantime::format_duration(d),
                        humantime::format_duration(max),
                        humantime::format_duration(max)
                    ),
                });
            }
        }
        if self.mail.alarm_after.is_zero() {
            return Err(SettingsError::Invalid {
                key: "mail.alarm_after",
                message: "must be more than 0s, e.g. \"5m\"".into(),
            });
        }
        if p.rounds > 100 {
            return Err(SettingsError::Invalid {
                key: "escalation.rounds",
                message: format!("{} is more than the most allowed, 100", p.rounds),
            });
        }
        Ok(())
    }

    /// The base URL printed in station posters: `server.public_url`, else `mail.public_url`
    /// (without a trailing `/`).
    pub fn public_url(&self) -> &str {
        let own = self.server.public_url.trim();
        if own.is_empty() {
            self.mail.public_url.trim_end_matches('/')
        } else {
            own.trim_end_matches('/')
        }
    }

    fn validate_public_url(&self) -> Result<(), SettingsError> {
        let key = if self.server.public_url.trim().is_empty() {
            "mail.public_url"
        } else {
            "server.public_url"
        };
        let url = self.public_url();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        // The authority without a port: `host`, `host:8080`, `[::1]:8080`.
        let host = rest.map(|r| {
            let authority = r.split('/').next().unwrap_or_default();
            match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => authority.split(':').next().unwrap_or_default(),
            }
        });
        let host_ok = host.is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        });
        let path_ok = rest.is_some_and(|r| !r.contains(['?', '#', ' ']));
        if !host_ok || !path_ok {
            return Err(SettingsError::Invalid {
                key,
                message: format!(
                    "\"{url}\" is not a base URL like \"https://careline.your-union.cn\" (http:// or https://, a host, no query)"
                ),
            });
        }
        if self.is_production() {
            let name = host.unwrap_or_default().to_ascii_lowercase();
            if placeholder_host(&name) {
                return Err(SettingsError::Invalid {
                    key,
                    message: format!(
                        "\"{url}\" is a placeholder host: station posters would print a QR code that leads nowhere; set CARELINE__SERVER__PUBLIC_URL to the address riders reach"
                    ),
                });
            }
        }
        Ok(())
    }

    fn validate_rider(&self) -> Result<(), SettingsError> {
        let ids = &self.rider.public_questionnaires;
        if ids.is_empty() {
            return Err(SettingsError::Invalid {
                key: "rider.public_questionnaires",
                message: "list at least one questionnaire id, e.g. [\"rider_wellbeing\"]: the home page would offer nothing".into(),
            });
        }
        if let Some(bad) = ids.iter().find(|id| {
            id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }) {
            return Err(SettingsError::Invalid {
                key: "rider.public_questionnaires",
                message: format!(
                    "\"{bad}\" is not a questionnaire id (a-z, 0-9 and _, as the file name questionnaires/<id>.toml)"
                ),
            });
        }
        if let Some(twice) = ids
            .iter()
            .enumerate()
            .find(|(i, id)| ids[..*i].contains(id))
            .map(|(_, id)| id)
        {
            return Err(SettingsError::Invalid {
                key: "rider.public_questionnaires",
                message: format!("\"{twice}\" is listed twice"),
            });
        }
        let base = self.rider.resource_base.trim();
        let Some(host) = base_url_host(base) else {
            return Err(SettingsError::Invalid {
                key: "rider.resource_base",
                message: format!(
                    "\"{base}\" is not a base URL like \"https://help.your-union.cn\" (http:// or https://, a host, optionally a path, no query)"
                ),
            });
        };
        if self.is_production() {
            let name = host.to_ascii_lowercase();
            if placeholder_host(&name) || is_local_host(&name) {
                return Err(SettingsError::Invalid {
                    key: "rider.resource_base",
                    message: format!(
                        "\"{base}\" is a placeholder or local host: every self-help, course and booking link on a result would lead nowhere; set CARELINE__RIDER__RESOURCE_BASE to the deployment's own resource site"
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.environment.as_deref() == Some("production")
    }

    /// No `CARELINE_ENV`, or `development`: development keys are accepted (with a warning).
    pub fn is_development(&self) -> bool {
        matches!(self.environment.as_deref(), None | Some("development"))
    }
}

/// The host of a base URL (`http://` or `https://`, a host, an optional port and path, no
/// query or fragment), or `None` when it is not one.
fn base_url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    (host_ok && !rest.contains(['?', '#', ' ', '"', '\''])).then(|| host.to_string())
}

/// A host that only reaches the machine itself (or a private test network's name).
fn is_local_host(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// Hosts reserved for examples and documentation (RFC 2606, RFC 6761), and this project's own
/// placeholder: never a real deployment's address.
fn placeholder_host(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    [
        "example.org",
        "example.com",
        "example.net",
        "careline.example",
    ]
    .iter()
    .any(|p| name == *p || name.ends_with(&format!(".{p}")))
        || [".example", ".invalid", ".test"]
            .iter()
            .any(|tld| name.ends_with(tld))
        || ["example", "invalid", "test"].contains(&name)
}

/// A number a phone can dial: digits, optionally with `+`, `-` and spaces, at least 3 digits.
pub fn dialable(number: &str) -> bool {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    digits >= 3
        && number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
        && number.trim_start().find('+').is_none_or(|i| i == 0)
        && number.matches('+').count() <= 1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireSettings {
    /// Empty: looked up (`startup::questionnaire_dir`): `./questionnaires`, then beside the
    /// binary, then in the SQLite database's folder.
    pub dir: PathBuf,
    /// How often an instance writes what it serves and what it refused to the database and
    /// reads withdrawals back (issue 14): a refused file shows on every instance within this.
    #[serde(with = "humantime_serde", default = "default_sync_interval")]
    pub sync_interval: std::time::Duration,
}

fn default_sync_interval() -> std::time::Duration {
    std::time::Duration::from_secs(2)
}

impl DatabaseSettings {
    /// The folder of the SQLite file (the data directory); `None` for PostgreSQL.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        let path = Path::new(self.url.strip_prefix("sqlite://")?);
        Some(match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Where the layers come from; `from_process` reads the real process environment.
#[derive(Debug, Clone)]
pub struct Sources {
    pub config_dir: PathBuf,
    pub env_name: Option<String>,
    pub vars: HashMap<String, String>,
}

impl Sources {
    pub fn from_process() -> Self {
        Sources {
            config_dir: std::env::var_os("CARELINE_CONFIG_DIR")
                .map_or_else(|| PathBuf::from("config"), PathBuf::from),
            env_name: std::env::var("CARELINE_ENV").ok().filter(|s| !s.is_empty()),
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("CARELINE__"))
                .collect(),
        }
    }
}

impl Settings {
    pub fn load() -> Result<Settings, SettingsError> {
        Self::load_from(&Sources::from_process())
    }

    pub fn load_from(sources: &Sources) -> Result<Settings, SettingsError> {
        let dir: &Path = &sources.config_dir;
        let default_file = dir.join("default.toml");
        let mut builder = Config::builder();
        builder = if default_file.is_file() {
            builder.add_source(File::from(default_file).format(FileFormat::Toml))
        } else {
            builder.add_source(File::from_str(DEFAULTS, FileFormat::Toml))
        };
        if let Some(env) = &sources.env_name {
            if !env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(SettingsError::Invalid {
                    key: "CARELINE_ENV",
                    message: format!("\"{env}\" must be a plain name like \"production\""),
                });
            }
            builder = builder.add_source(
                File::from(dir.join(format!("{env}.toml")))
                    .format(FileFormat::Toml)
                    .required(false),
            );
        }
        // List-valued keys are split here, not by config-rs: its list parsing needs
        // `try_parsing(true)`, which also turns every other value that looks like a number or
        // a boolean into one (a numeric secret would lose digits as a float). Each listed key
        // is set as a list of trimmed, non-empty items; every other variable stays a string.
        let mut scalars = HashMap::new();
        let mut lists: Vec<(&str, Vec<String>)> = Vec::new();
        for (name, value) in &sources.vars {
            let key = name
                .to_ascii_lowercase()
                .strip_prefix("careline__")
                .map(|k| k.replace("__", "."));
            match key
                .as_deref()
                .and_then(|k| LIST_KEYS.iter().find(|l| **l == k))
            {
                Some(list_key) => lists.push((
                    list_key,
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect(),
                )),
                None => {
                    scalars.insert(name.clone(), value.clone());
                }
            }
        }
        builder = builder.add_source(
            Environment::with_prefix("CARELINE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(scalars.into_iter().collect())),
        );
        for (key, items) in lists {
            builder = builder.set_override(key, items)?;
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.environment = sources.env_name.clone();
        settings.validate()?;
        settings.sync_channels();
        Ok(settings)
    }

    /// Copies `[notify]` into the escalation policy (see `EscalationPolicy::channels`); run
    /// again after changing `notify` in code (`startup` does).
    pub fn sync_channels(&mut self) {
        self.escalation.channels = std::sync::Arc::new(self.notify.clone());
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if !(self.database.url.starts_with("sqlite://")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(SettingsError::Invalid {
                key: "database.url",
                message: "must start with sqlite:// or postgres://".into(),
            });
        }
        self.abuse.validate()?;
        if !(2..=1000).contains(&self.privacy.min_cell) {
            return Err(SettingsError::Invalid {
                key: "privacy.min_cell",
                message: format!(
                    "must be between 2 and 1000, is {}; a count of 1 would single out a rider (the default is 10)",
                    self.privacy.min_cell
                ),
            });
        }
        if !(std::time::Duration::from_secs(600)..=std::time::Duration::from_secs(7 * 86_400))
            .contains(&self.server.form_token_ttl)
        {
            return Err(SettingsError::Invalid {
                key: "server.form_token_ttl",
                message: "must be between 10m and 7days (the default is 24h): riders are interrupted by orders, and a form opened in the morning should still send in the evening".into(),
            });
        }
        if self.database.pool_size == 0 {
            return Err(SettingsError::Invalid {
                key: "database.pool_size",
                message: "must be at least 1".into(),
            });
        }
        if let Err(e) = crate::contact::ContactCipher::from_base64(&self.privacy.contact_key) {
            return Err(SettingsError::Invalid {
                key: "privacy.contact_key",
                message: e,
            });
        }
        if !self.is_development() && self.privacy.contact_key == DEVELOPMENT_CONTACT_KEY {
            return Err(SettingsError::Invalid {
                key: "privacy.contact_key",
                message: "the development key is accepted only in development; set CARELINE__PRIVACY__CONTACT_KEY to base64 of 32 random bytes, e.g. the output of `head -c 32 /dev/urandom | base64`".into(),
            });
        }
        if self.auth.jwt_key.len() < 32 {
            return Err(SettingsError::Invalid {
                key: "auth.jwt_key",
                message: format!(
                    "must be at least 32 bytes, is {}; set CARELINE__AUTH__JWT_KEY to e.g. the output of `head -c 48 /dev/urandom | base64`",
                    self.auth.jwt_key.len()
                ),
            });
        }
        if !self.is_development() && self.auth.jwt_key == DEVELOPMENT_JWT_KEY {
            return Err(SettingsError::Invalid {
                key: "auth.jwt_key",
                message: "the development key is accepted only in development; set CARELINE__AUTH__JWT_KEY to a secret of at least 32 bytes".into(),
            });
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            return Err(SettingsError::Invalid {
                key: "auth.issuer",
                message: "auth.issuer and auth.audience must not be empty".into(),
            });
        }
        if self.auth.session_ttl < std::time::Duration::from_secs(60) {
            return Err(SettingsError::Invalid {
                key: "auth.session_ttl",
                message: "must be at least 1m".into(),
            });
        }
        if self.auth.login_delay.is_zero() || self.auth.login_max_delay < self.auth.login_delay {
            return Err(SettingsError::Invalid {
                key: "auth.login_delay",
                message: "must be more than 0s and at most auth.login_max_delay".into(),
            });
        }
        if let Err(message) = self.auth.trusted_proxies() {
            return Err(SettingsError::Invalid {
                key: "auth.trusted_proxies",
                message,
            });
        }
        for (key, d) in [
            ("alerts.red_deadline", self.alerts.red_deadline),
            ("alerts.urgent_deadline", self.alerts.urgent_deadline),
            ("alerts.yellow_deadline", self.alerts.yellow_deadline),
        ] {
            if d.is_zero() {
                return Err(SettingsError::Invalid {
                    key,
                    message: "must be more than 0s".into(),
                });
            }
        }
        if self.alerts.urgent_deadline > self.alerts.red_deadline {
            return Err(SettingsError::Invalid {
                key: "alerts.urgent_deadline",
                message: "must not be longer than alerts.red_deadline".into(),
            });
        }
        self.validate_notifier()?;
        self.notify.validate(
            self.escalation.levels.len(),
            self.worker.lease,
            self.is_production(),
        )?;
        self.validate_public_url()?;
        self.validate_rider()?;

        let sync = self.questionnaires.sync_interval;
        if sync < std::time::Duration::from_millis(100)
            || sync > std::time::Duration::from_secs(300)
        {
            return Err(SettingsError::Invalid {
                key: "questionnaires.sync_interval",
                message: "must be 100ms to 5m (the default is \"2s\"): refused edits show on other instances within it".into(),
            });
        }
        if self.metrics.refresh_interval.is_zero() {
            return Err(SettingsError::Invalid {
                key: "metrics.refresh_interval",
                message: "must be more than 0s".into(),
            });
        }
        if self.metrics.token.trim() != self.metrics.token {
            return Err(SettingsError::Invalid {
                key: "metrics.token",
                message: "must not start or end with spaces (a scraper would never match it)"
                    .into(),
            });
        }
        self.validate_bounds()?;
        if self.crisis.lines.is_empty() {
            return Err(SettingsError::Invalid {
                key: "crisis.lines",
                message: "list at least one crisis line".into(),
            });
        }
        if let Some((key, hint)) = self.crisis.callback_hint.iter().find(|(k, h)| {
            !["zh_cn", "zh_tw", "en"].contains(&k.as_str())
                || !(1..=300).contains(&h.trim().chars().count())
        }) {
            return Err(SettingsError::Invalid {
                key: "crisis.callback_hint",
                message: format!(
                    "`{key}` ({} characters): keys are zh_cn, zh_tw and en, each a text of 1 to 300 characters, e.g. zh_cn = \"留下电话后，值班咨询师一般会在 30 分钟内用 010-12345678 给你回电。\"",
                    hint.trim().chars().count()
                ),
            });
        }
        if let Some(line) = self.crisis.lines.iter().find(|l| !dialable(&l.number)) {
            return Err(SettingsError::Invalid {
                key: "crisis.lines",
                message: format!(
                    "number \"{}\" cannot be dialled: write digits, optionally with + - and spaces, at least 3 digits, e.g. number = \"12356\" or \"+86 10 8295 1332\"",
                    line.number
                ),
            });
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(SettingsError::Invalid {
                key: "log.level",
                message: format!("\"{}\" is not a log filter: {e}", self.log.level),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(vars: &[(&str, &str)]) -> Sources {
        Sources {
            config_dir: PathBuf::from("/nonexistent"),
            env_name: None,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn defaults_load_without_any_file() {
        let s = Settings::load_from(&sources(&[])).unwrap();
        // Empty: looked up at start.
        assert_eq!(s.questionnaires.dir, PathBuf::new());
        assert_eq!(s.database.sqlite_dir(), Some(PathBuf::from("data")));
        assert_eq!(s.log.format, LogFormat::Text);
    }

    #[test]
    fn environment_variables_override_the_files() {
        let s = Settings::load_from(&sources(&[
            ("CARELINE__LOG__FORMAT", "json"),
            ("CARELINE__QUESTIONNAIRES__DIR", "/srv/q"),
        ]))
        .unwrap();
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.questionnaires.dir, PathBuf::from("/srv/q"));
    }

    #[test]
    fn an_environment_file_overlays_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default.toml"), DEFAULTS).unwrap();
        std::fs::write(
            dir.path().join("staging.toml"),
            "[log]\nlevel = \"debug\"\n[auth]\njwt_key = \"a staging key that is long enough to be accepted\"\n[privacy]\ncontact_key = \"c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=\"\n",
        )
        .unwrap();
        let s = Settings::load_from(&Sources {
            config_dir: dir.path().into(),
            env_name: Some("staging".into()),
            vars: HashMap::new(),
        })
        .unwrap();
        assert_eq!(s.log.level, "debug");
        assert_eq!(s.log.format, LogFormat::Text);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Settings::load_from(&sources(&[("CARELINE__LOG__FROMAT", "json")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("fromat"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            format!("{DEFAULTS}\n[mail]\nhost = \"x\"\n"),
        )
        .unwrap();
        let err = Settings::load_from(&Sources {
            config_dir: dir.path().into(),
            env_name: None,
            vars: HashMap::new(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("mail"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let err = Settings::load_from(&sources(&[("CARELINE__LOG__FORMAT", "xml")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("xml"), "{err}");
        let err = Settings::load_from(&sources(&[("CARELINE__LOG__LEVEL", "info,[[[")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.level"), "{err}");
        let err = Settings::load_from(&Sources {
            env_name: Some("../etc".into()),
            ..sources(&[])
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("CARELINE_ENV"), "{err}");
    }

    #[test]
    fn list_keys_take_comma_separated_values_from_the_environment() {
        let s = Settings::load_from(&sources(&[
            ("CARELINE__AUTH__TRUSTED_PROXIES", "127.0.0.1"),
            ("CARELINE__ESCALATION__BACKUP_EMAILS", "a@x.org, b@x.org"),
        ]))
        .unwrap();
        assert_eq!(s.auth.trusted_proxies, vec!["127.0.0.1".to_string()]);
        assert_eq!(
            s.escalation.backup_emails,
            vec!["a@x.org".to_string(), "b@x.org".to_string()]
        );
        let s = Settings::load_from(&sources(&[(
            "CARELINE__AUTH__TRUSTED_PROXIES",
            "10.0.0.1,10.1.0.0/16,::1",
        )]))
        .unwrap();
        assert_eq!(s.auth.trusted_proxies, ["10.0.0.1", "10.1.0.0/16", "::1"]);
        // Empty: an empty list, not one empty item.
        let s =
            Settings::load_from(&sources(&[("CARELINE__ESCALATION__BACKUP_EMAILS", "")])).unwrap();
        assert!(s.escalation.backup_emails.is_empty());
    }

    #[test]
    fn a_comma_in_a_scalar_value_is_not_split() {
        let s = Settings::load_from(&sources(&[
            ("CARELINE__LOG__LEVEL", "careline=debug,info"),
            ("CARELINE__METRICS__TOKEN", "a,b,c"),
            (
                "CARELINE__MAIL__FROM",
                "\"Care, line\" <careline@example.org>",
            ),
        ]))
        .unwrap();
        assert_eq!(s.log.level, "careline=debug,info");
        assert_eq!(s.metrics.token, "a,b,c");
        assert_eq!(s.mail.from, "\"Care, line\" <careline@example.org>");
        // A value that looks like a number stays the string it was.
        let digits = "12345678901234567890123456789012345678901234567890";
        let s = Settings::load_from(&sources(&[("CARELINE__AUTH__JWT_KEY", digits)])).unwrap();
        assert_eq!(s.auth.jwt_key, digits);
    }

    #[test]
    fn the_session_key_is_checked() {
        let err = Settings::load_from(&sources(&[("CARELINE__AUTH__JWT_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth.jwt_key") && err.contains("32 bytes"),
            "{err}"
        );
        // The shipped key runs in development only.
        assert!(Settings::load_from(&sources(&[])).is_ok());
        let err = Settings::load_from(&Sources {
            env_name: Some("staging".into()),
            ..sources(&[(
                "CARELINE__PRIVACY__CONTACT_KEY",
                "c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=",
            )])
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("auth.jwt_key"), "{err}");
        let err = Settings::load_from(&sources(&[(
            "CARELINE__AUTH__TRUSTED_PROXIES",
            "10.0.0.0/8,not-an-ip",
        )]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"not-an-ip\" is not an IP address") && err.contains("trusted_proxies"),
            "{err}"
        );
        let s = Settings::load_from(&sources(&[
            ("CARELINE__AUTH__TRUSTED_PROXIES", "10.0.0.0/8, 10.1.2.3"),
            ("CARELINE__ESCALATION__BACKUP_EMAILS", "desk@example.org"),
        ]))
        .unwrap();
        assert_eq!(s.auth.trusted_proxies, ["10.0.0.0/8", "10.1.2.3"]);
        assert_eq!(s.escalation.backup_emails, ["desk@example.org"]);
    }

    fn refusal(vars: &[(&str, &str)]) -> String {
        Settings::load_from(&sources(vars))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn the_chain_must_end_in_a_level_without_a_roster() {
        let err = Settings::load_from(&Sources {
            config_dir: {
                let dir = tempfile::tempdir().unwrap().keep();
                std::fs::write(
                    dir.join("default.toml"),
                    DEFAULTS.replace(
                        "levels = [\n    { notify = \"on_duty_counselors\", timeout = \"5m\" },\n    { notify = \"on_duty_supervisors\", timeout = \"5m\" },\n    { notify = \"all_supervisors\", timeout = \"10m\" },\n]",
                        "levels = [{ notify = \"on_duty_counselors\", timeout = \"5m\" }]",
                    ),
                )
                .unwrap();
                dir
            },
            env_name: None,
            vars: HashMap::new(),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("escalation.levels")
                && err.contains("the last level must be { notify = \"all_supervisors\""),
            "{err}"
        );
        // The shipped chain ends in all_supervisors.
        let s = Settings::load_from(&sources(&[])).unwrap();
        assert_eq!(
            s.escalation.levels.last().map(|l| l.notify),
            Some(Audience::AllSupervisors)
        );
    }

    #[test]
    fn every_timeout_and_interval_has_an_upper_bound() {
        let err = refusal(&[("CARELINE__ESCALATION__REPEAT_INTERVAL", "1000years")]);
        assert!(
            err.contains("`escalation.repeat_interval`") && err.contains("write at most \"1h\""),
            "{err}"
        );
        let err = refusal(&[("CARELINE__ESCALATION__URGENT_FIRST_TIMEOUT", "100years")]);
        assert!(err.contains("`escalation.urgent_first_timeout`"), "{err}");
        let err = refusal(&[("CARELINE__ALERTS__RED_DEADLINE", "3days")]);
        assert!(err.contains("`alerts.red_deadline`"), "{err}");
        let err = refusal(&[("CARELINE__WORKER__BACKOFF_MAX", "2h")]);
        assert!(err.contains("`worker.backoff_max`"), "{err}");
        let err = refusal(&[("CARELINE__MAIL__ALARM_AFTER", "0s")]);
        assert!(err.contains("`mail.alarm_after`"), "{err}");
        let err = refusal(&[("CARELINE__MAIL__ALARM_AFTER", "1day")]);
        assert!(err.contains("`mail.alarm_after`"), "{err}");
        // A level's timeout (in the list) too.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            DEFAULTS.replace(
                "{ notify = \"all_supervisors\", timeout = \"10m\" }",
                "{ notify = \"all_supervisors\", timeout = \"100years\" }",
            ),
        )
        .unwrap();
        let err = Settings::load_from(&Sources {
            config_dir: dir.path().into(),
            env_name: None,
            vars: HashMap::new(),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`escalation.levels`") && err.contains("write at most \"2h\""),
            "{err}"
        );
    }

    #[test]
    fn crisis_numbers_must_be_dialable() {
        for bad in [
            "",
            " ",
            "not-a-phone",
            "12",
            "1-2",
            "12356 ext. 4",
            "86+12356",
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("default.toml"),
                DEFAULTS.replace("number = \"12356\"", &format!("number = {bad:?}")),
            )
            .unwrap();
            let err = Settings::load_from(&Sources {
                config_dir: dir.path().into(),
                env_name: None,
                vars: HashMap::new(),
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("`crisis.lines`") && err.contains("cannot be dialled"),
                "{bad:?}: {err}"
            );
        }
        for good in ["110", "12356", "+86 10 8295-1332", "400-161-9995"] {
            assert!(dialable(good), "{good}");
        }
        assert!(Settings::load_from(&sources(&[])).is_ok());
    }

    #[test]
    fn abuse_settings_that_would_cluster_real_riders_or_refuse_before_clustering_are_refused() {
        for (key, bad, named) in [
            ("CARELINE__ABUSE__WINDOW", "10s", "`abuse.window`"),
            ("CARELINE__ABUSE__WINDOW", "2days", "`abuse.window`"),
            (
                "CARELINE__ABUSE__CLUSTER_PER_SOURCE",
                "2",
                "`abuse.cluster_per_source`",
            ),
            (
                "CARELINE__ABUSE__CLUSTER_PER_SITE",
                "5",
                "`abuse.cluster_per_site`",
            ),
            (
                "CARELINE__ABUSE__LIMIT_PER_SOURCE",
                "20",
                "`abuse.limit_per_source`",
            ),
            (
                "CARELINE__ABUSE__LIMIT_PER_SITE",
                "100",
                "`abuse.limit_per_site`",
            ),
            ("CARELINE__ABUSE__RETENTION", "1m", "`abuse.retention`"),
            ("CARELINE__ABUSE__RETENTION", "365days", "`abuse.retention`"),
            (
                "CARELINE__ABUSE__CHALLENGE_PER_SOURCE",
                "60",
                "`abuse.challenge_per_source`",
            ),
            (
                "CARELINE__ABUSE__CHALLENGE_PER_SITE",
                "0",
                "`abuse.challenge_per_site`",
            ),
            (
                "CARELINE__ABUSE__CHALLENGE_MAX_NUMBER",
                "5000000",
                "`abuse.challenge_max_number`",
            ),
            (
                "CARELINE__ABUSE__CHALLENGE_TTL",
                "0s",
                "`abuse.challenge_ttl`",
            ),
        ] {
            let err = refusal(&[(key, bad)]);
            assert!(err.contains(named), "{key}={bad}: {err}");
        }
        let defaults = Settings::load_from(&sources(&[])).unwrap().abuse;
        assert_eq!(defaults, AbuseSettings::default());
        assert_eq!(defaults.window.as_secs(), 3600);
        let ok = Settings::load_from(&sources(&[("CARELINE__ABUSE__CLUSTER_PER_SOURCE", "30")]))
            .unwrap();
        assert_eq!(ok.abuse.cluster_per_source, 30);
    }

    #[test]
    fn a_callback_hint_is_localized_and_bounded() {
        let s = Settings::load_from(&sources(&[
            ("CARELINE__CRISIS__CALLBACK_HINT__ZH_CN", "30 分钟内回电"),
            ("CARELINE__CRISIS__CALLBACK_HINT__EN", "within 30 minutes"),
        ]))
        .unwrap();
        assert_eq!(s.crisis.callback_hint_in("en"), Some("within 30 minutes"));
        assert_eq!(s.crisis.callback_hint_in("zh-TW"), Some("30 分钟内回电"));
        let none = Settings::load_from(&sources(&[])).unwrap();
        assert_eq!(none.crisis.callback_hint_in("zh-CN"), None);
        let long = "x".repeat(301);
        for bad in [
            ("CARELINE__CRISIS__CALLBACK_HINT__ZH_CN", " "),
            ("CARELINE__CRISIS__CALLBACK_HINT__ZH_CN", long.as_str()),
            ("CARELINE__CRISIS__CALLBACK_HINT__FR", "bientôt"),
        ] {
            let err = refusal(&[bad]);
            assert!(err.contains("`crisis.callback_hint`"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_form_token_lifetime_out_of_bounds_is_refused() {
        for bad in ["1m", "9m", "8days"] {
            let err = refusal(&[("CARELINE__SERVER__FORM_TOKEN_TTL", bad)]);
            assert!(err.contains("`server.form_token_ttl`"), "{bad}: {err}");
        }
        let ok =
            Settings::load_from(&sources(&[("CARELINE__SERVER__FORM_TOKEN_TTL", "2h")])).unwrap();
        assert_eq!(ok.server.form_token_ttl.as_secs(), 7200);
        assert_eq!(
            Settings::load_from(&sources(&[]))
                .unwrap()
                .server
                .form_token_ttl
                .as_secs(),
            24 * 3600
        );
    }

    #[test]
    fn a_questionnaire_sync_interval_out_of_range_is_refused() {
        for bad in ["0s", "50ms", "6m"] {
            let err = refusal(&[("CARELINE__QUESTIONNAIRES__SYNC_INTERVAL", bad)]);
            assert!(
                err.contains("`questionnaires.sync_interval`: must be 100ms to 5m"),
                "{bad}: {err}"
            );
        }
        let ok = Settings::load_from(&sources(&[(
            "CARELINE__QUESTIONNAIRES__SYNC_INTERVAL",
            "500ms",
        )]))
        .unwrap();
        assert_eq!(ok.questionnaires.sync_interval.as_millis(), 500);
        assert_eq!(
            Settings::load_from(&sources(&[]))
                .unwrap()
                .questionnaires
                .sync_interval
                .as_secs(),
            2
        );
    }

    #[test]
    fn a_small_cell_below_two_is_refused() {
        for bad in ["0", "1", "1001"] {
            let err = refusal(&[("CARELINE__PRIVACY__MIN_CELL", bad)]);
            assert!(err.contains("`privacy.min_cell`"), "{bad}: {err}");
        }
        let ok = Settings::load_from(&sources(&[("CARELINE__PRIVACY__MIN_CELL", "5")])).unwrap();
        assert_eq!(ok.privacy.min_cell, 5);
        assert_eq!(
            Settings::load_from(&sources(&[])).unwrap().privacy.min_cell,
            10
        );
    }

    #[test]
    fn a_send_must_end_before_its_lease() {
        let err = refusal(&[("CARELINE__MAIL__TIMEOUT", "1days")]);
        assert!(err.contains("`mail.timeout`"), "{err}");
        let err = refusal(&[("CARELINE__MAIL__TIMEOUT", "60s")]);
        assert!(
            err.contains("`mail.timeout`") && err.contains("shorter than worker.lease (1m)"),
            "{err}"
        );
        assert!(Settings::load_from(&sources(&[("CARELINE__MAIL__TIMEOUT", "59s")])).is_ok());
    }

    #[test]
    fn development_keys_are_refused_outside_development() {
        let staging = |vars: &[(&str, &str)]| {
            Settings::load_from(&Sources {
                env_name: Some("staging".into()),
                ..sources(vars)
            })
        };
        let jwt = (
            "CARELINE__AUTH__JWT_KEY",
            "a staging key that is long enough to be accepted",
        );
        let err = staging(&[jwt]).unwrap_err().to_string();
        assert!(
            err.contains("`privacy.contact_key`") && err.contains("CARELINE__PRIVACY__CONTACT_KEY"),
            "{err}"
        );
        let contact = (
            "CARELINE__PRIVACY__CONTACT_KEY",
            "c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=",
        );
        let err = staging(&[contact]).unwrap_err().to_string();
        assert!(err.contains("`auth.jwt_key`"), "{err}");
        assert!(staging(&[jwt, contact]).is_ok());
        // Development (no CARELINE_ENV, or "development") accepts both.
        assert!(Settings::load_from(&sources(&[])).is_ok());
    }

    #[test]
    fn the_public_url_falls_back_to_mail_and_refuses_placeholders_in_production() {
        let s = Settings::load_from(&sources(&[])).unwrap();
        assert_eq!(s.public_url(), "http://127.0.0.1:8080");
        let s = Settings::load_from(&sources(&[(
            "CARELINE__SERVER__PUBLIC_URL",
            "https://care.union.cn/",
        )]))
        .unwrap();
        assert_eq!(s.public_url(), "https://care.union.cn");
        for bad in [
            "care.union.cn",
            "ftp://x.cn",
            "https://",
            "https://a b.cn",
            "https://x.cn/?q=1",
        ] {
            let err = Settings::load_from(&sources(&[("CARELINE__SERVER__PUBLIC_URL", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`server.public_url`"), "{bad}: {err}");
        }
        let production = |vars: &[(&str, &str)]| {
            let mut all = vec![
                (
                    "CARELINE__AUTH__JWT_KEY",
                    "a production key that is long enough to be accepted",
                ),
                (
                    "CARELINE__PRIVACY__CONTACT_KEY",
                    "c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=",
                ),
                ("CARELINE__RIDER__RESOURCE_BASE", "https://help.union.cn"),
            ];
            all.extend_from_slice(vars);
            Settings::load_from(&Sources {
                env_name: Some("production".into()),
                ..sources(&all)
            })
        };
        for placeholder in [
            "https://careline.example.org",
            "https://careline.example",
            "https://example.com:8443",
            "https://x.invalid",
        ] {
            let err = production(&[("CARELINE__SERVER__PUBLIC_URL", placeholder)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("placeholder host"), "{placeholder}: {err}");
            // Through the fallback, the mail key is named.
            let err = production(&[("CARELINE__MAIL__PUBLIC_URL", placeholder)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("`mail.public_url`"), "{placeholder}: {err}");
        }
        let s = production(&[("CARELINE__SERVER__PUBLIC_URL", "https://care.union.cn")]).unwrap();
        assert_eq!(s.public_url(), "https://care.union.cn");
        // Outside production a placeholder is fine (tests, demos).
        assert!(
            Settings::load_from(&sources(&[(
                "CARELINE__SERVER__PUBLIC_URL",
                "https://careline.example"
            )]))
            .is_ok()
        );
    }

    #[test]
    fn the_public_questionnaires_and_the_resource_base_are_checked() {
        let s = Settings::load_from(&sources(&[])).unwrap();
        assert_eq!(
            s.rider.public_questionnaires,
            ["rider_wellbeing", "phq4", "who5", "pss10"]
        );
        assert_eq!(
            s.rider.resolve("/self-help/mood"),
            "https://careline.example/self-help/mood"
        );
        assert_eq!(s.rider.resolve("tel:12356"), "tel:12356");
        assert_eq!(s.rider.resolve("https://a.cn/x"), "https://a.cn/x");
        let s = Settings::load_from(&sources(&[(
            "CARELINE__RIDER__RESOURCE_BASE",
            "https://help.union.cn/rider/",
        )]))
        .unwrap();
        assert_eq!(
            s.rider.resolve("/booking"),
            "https://help.union.cn/rider/booking"
        );
        let s = Settings::load_from(&sources(&[(
            "CARELINE__RIDER__PUBLIC_QUESTIONNAIRES",
            "who5,rider_wellbeing",
        )]))
        .unwrap();
        assert_eq!(s.rider.public_questionnaires, ["who5", "rider_wellbeing"]);
        for (bad, says) in [
            ("[]", "list at least one questionnaire id"),
            ("[\"PHQ9\"]", "\"PHQ9\" is not a questionnaire id"),
            ("[\"phq4\", \"phq4\"]", "\"phq4\" is listed twice"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("development.toml"),
                format!(
                    "[rider]\npublic_questionnaires = {bad}\nresource_base = \"https://a.cn\"\n"
                ),
            )
            .unwrap();
            let err = Settings::load_from(&Sources {
                config_dir: dir.path().to_path_buf(),
                env_name: Some("development".into()),
                vars: Default::default(),
            })
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("`rider.public_questionnaires`") && err.contains(says),
                "{bad}: {err}"
            );
        }
        for bad in [
            "help.union.cn",
            "ftp://x.cn",
            "https://",
            "https://x.cn/?q=1",
        ] {
            let err = refusal(&[("CARELINE__RIDER__RESOURCE_BASE", bad)]);
            assert!(
                err.contains("`rider.resource_base`") && err.contains("is not a base URL"),
                "{bad}: {err}"
            );
        }
        let production = |base: &str| {
            Settings::load_from(&Sources {
                env_name: Some("production".into()),
                ..sources(&[
                    (
                        "CARELINE__AUTH__JWT_KEY",
                        "a production key that is long enough to be accepted",
                    ),
                    (
                        "CARELINE__PRIVACY__CONTACT_KEY",
                        "c3RhZ2luZyBrZXk6IDMyIGJ5dGVzIG9mIG5vdGhpbmc=",
                    ),
                    ("CARELINE__SERVER__PUBLIC_URL", "https://care.union.cn"),
                    ("CARELINE__RIDER__RESOURCE_BASE", base),
                ])
            })
        };
        for placeholder in [
            "https://careline.example",
            "https://help.example.com",
            "http://localhost:8000",
            "http://127.0.0.1",
            "https://x.test",
        ] {
            let err = production(placeholder).unwrap_err().to_string();
            assert!(
                err.contains("`rider.resource_base`") && err.contains("placeholder or local host"),
                "{placeholder}: {err}"
            );
        }
        assert!(production("https://help.union.cn").is_ok());
    }
}
