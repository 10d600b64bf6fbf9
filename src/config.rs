//! Settings, in layers: `config/default.toml`, then `config/<CARELINE_ENV>.toml` if present,
//! then environment variables `CARELINE__<SECTION>__<KEY>`. Validated once at start; unknown
//! keys are refused with a message naming the key.
//!
//! Layer: shared vocabulary (plain data the layers above read). ARCHITECTURE.md maps the layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

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
    pub auth: AuthSettings,
    pub alerts: AlertSettings,
    pub mail: MailSettings,
    pub escalation: EscalationPolicy,
    pub worker: WorkerSettings,
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
}

impl std::fmt::Debug for PrivacySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacySettings")
            .field("contact_retention", &self.contact_retention)
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
}

fn run_in_serve() -> bool {
    true
}

/// The development-only contact key shipped in `config/default.toml`.
pub const DEVELOPMENT_CONTACT_KEY: &str = "ZGV2ZWxvcG1lbnQgb25seTogbm90IGEgc2VjcmV0ISE=";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisSettings {
    pub lines: Vec<CrisisLine>,
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
            return bad("escalation.levels", "list at least one level");
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

    pub fn is_production(&self) -> bool {
        self.environment.as_deref() == Some("production")
    }

    /// No `CARELINE_ENV`, or `development`: development keys are accepted (with a warning).
    pub fn is_development(&self) -> bool {
        matches!(self.environment.as_deref(), None | Some("development"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireSettings {
    pub dir: PathBuf,
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
        builder = builder.add_source(
            Environment::with_prefix("CARELINE")
                .prefix_separator("__")
                .separator("__")
                // CARELINE__AUTH__TRUSTED_PROXIES="10.0.0.1,10.1.0.0/16"
                .list_separator(",")
                .with_list_parse_key("auth.trusted_proxies")
                .with_list_parse_key("escalation.backup_emails")
                .source(Some(sources.vars.clone().into_iter().collect())),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.environment = sources.env_name.clone();
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.questionnaires.dir.as_os_str().is_empty() {
            return Err(SettingsError::Invalid {
                key: "questionnaires.dir",
                message: "must not be empty".into(),
            });
        }
        if !(self.database.url.starts_with("sqlite://")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(SettingsError::Invalid {
                key: "database.url",
                message: "must start with sqlite:// or postgres://".into(),
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
        if self.is_production() && self.privacy.contact_key == DEVELOPMENT_CONTACT_KEY {
            return Err(SettingsError::Invalid {
                key: "privacy.contact_key",
                message: "the development key must not be used in production; set CARELINE__PRIVACY__CONTACT_KEY to base64 of 32 random bytes".into(),
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
        if self.crisis.lines.is_empty() {
            return Err(SettingsError::Invalid {
                key: "crisis.lines",
                message: "list at least one crisis line".into(),
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
        assert_eq!(s.questionnaires.dir, PathBuf::from("questionnaires"));
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
            "[log]\nlevel = \"debug\"\n[auth]\njwt_key = \"a staging key that is long enough to be accepted\"\n",
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
            ..sources(&[])
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
            err.contains("not-an-ip") || err.contains("trusted_proxies"),
            "{err}"
        );
    }
}
