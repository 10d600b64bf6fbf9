//! What every request handler shares (`AppState`): settings, the pool, the live catalog, the
//! keys, and the channels that tell open queue pages and the in-process worker that something
//! changed. Its own module so that the edges (`http`, `web`, `workspace`) and the wiring
//! (`startup`) both import it and neither imports the other.
//!
//! Layer: edges (the lowest: shared by `http`, `web`, `workspace` and `startup`). ARCHITECTURE.md maps the layers.

use std::sync::Arc;

use crate::catalog::{Catalog, LiveCatalog};
use crate::config::Settings;
use crate::contact::ContactCipher;
use crate::{db, screening};

/// Shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub pool: db::Pool,
    pub catalog: Arc<LiveCatalog>,
    pub cipher: ContactCipher,
    pub accounts: crate::accounts::Accounts,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Tells open queue pages (server-sent events) that an alert opened or changed.
    pub notices: tokio::sync::broadcast::Sender<QueueNotice>,
    /// Wakes the in-process job worker when a job is committed.
    pub wake: Arc<tokio::sync::Notify>,
    /// What `GET /metrics` reports; the in-process worker records into the same.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// True once this instance LISTENs for `careline_alerts` (PostgreSQL): then every alert
    /// change, this instance's own included, reaches the streams through the database, once,
    /// and the in-process path stays quiet so nothing is delivered twice.
    pub changes_from_db: std::sync::atomic::AtomicBool,
    /// The database's one writer of screenings (group commit, issue 17).
    pub writer: screening::Writer,
    /// Versions and sites the writer has seen committed (append-only rows).
    pub known: Arc<screening::Known>,
    /// Accepted connections, by whether `TCP_NODELAY` was set on them (read back from the
    /// socket by `startup`'s `on_connect`).
    pub sockets: SocketCounts,
}

/// Accepted TCP connections, by the `TCP_NODELAY` option read back from each socket.
#[derive(Debug, Default)]
pub struct SocketCounts {
    pub nodelay: std::sync::atomic::AtomicU64,
    pub delayed: std::sync::atomic::AtomicU64,
}

impl SocketCounts {
    pub fn record(&self, nodelay: bool) {
        let counter = if nodelay {
            &self.nodelay
        } else {
            &self.delayed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An alert opened or changed: no rider data, only which alert and its site, and the
/// timeline row that recorded the change when known (from a `careline_alerts` notification;
/// the in-process path of SQLite does not know it, and streams read it from the database).
#[derive(Debug, Clone)]
pub struct QueueNotice {
    pub alert_id: String,
    pub site: Option<String>,
    pub event_id: Option<String>,
}

impl QueueNotice {
    /// Not one alert: every stream reads the changes after its last event from the database
    /// (after a gap in listening, or a stream that lagged behind).
    pub fn catch_up() -> QueueNotice {
        QueueNotice {
            alert_id: String::new(),
            site: None,
            event_id: None,
        }
    }

    pub fn is_catch_up(&self) -> bool {
        self.alert_id.is_empty()
    }
}

impl AppState {
    /// An alert opened or changed: open queue pages refresh, and the in-process worker looks
    /// for jobs the change committed (a restarted escalation, reminders).
    pub fn alert_changed(&self, alert_id: &str, site: Option<&str>) {
        self.tell_streams(alert_id, site);
        self.wake.notify_one();
    }

    /// Tells this instance's open streams of a change it committed itself, unless the change
    /// reaches them through `careline_alerts` anyway.
    pub fn tell_streams(&self, alert_id: &str, site: Option<&str>) {
        if self
            .changes_from_db
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        let _ = self.notices.send(QueueNotice {
            alert_id: alert_id.to_string(),
            site: site.map(str::to_string),
            event_id: None,
        });
    }

    /// Starts listening for alert changes committed by any process on the database
    /// (PostgreSQL), and fans each out to this instance's streams. Nothing for SQLite, where
    /// the in-process path is the only one (one instance).
    pub fn listen_for_changes(
        self: &Arc<Self>,
        stopped: impl Fn() -> bool + Send + 'static,
    ) -> Result<bool, db::DbError> {
        let me = Arc::clone(self);
        let flag = Arc::clone(self);
        let started = db::listen::spawn_with_payloads(
            &self.settings.database.url,
            db::alerts::CHANGES_CHANNEL,
            move |payload| match db::alerts::ChangeNotice::parse(&payload) {
                Some(n) => {
                    let _ = me.notices.send(QueueNotice {
                        alert_id: n.alert,
                        site: n.site,
                        event_id: Some(n.event),
                    });
                }
                None => tracing::warn!("an alert change notification that does not parse"),
            },
            move |listening| {
                flag.changes_from_db
                    .store(listening, std::sync::atomic::Ordering::Release);
                if listening {
                    // Changes committed while nobody listened: every stream reads what it
                    // missed from the database.
                    let _ = flag.notices.send(QueueNotice::catch_up());
                    tracing::info!("listening for alert changes");
                } else {
                    tracing::warn!("alert change listener lost its connection; reconnecting");
                }
            },
            stopped,
        )?;
        Ok(started)
    }

    /// An alert was acknowledged: records its time to acknowledgement.
    pub fn acknowledged(&self, alert: &crate::alerts::AlertSummary) {
        if let Ok(opened) = chrono::DateTime::parse_from_rfc3339(&alert.created_at) {
            let waited = chrono::Utc::now().signed_duration_since(opened);
            self.metrics.acknowledged(
                alert.tier.as_str(),
                waited.num_milliseconds() as f64 / 1000.0,
            );
        }
    }

    /// Checks the contact cipher key and the session keys (a bad one stops the start).
    pub fn check_keys(settings: &Settings) -> Result<(), KeyError> {
        ContactCipher::from_base64(&settings.privacy.contact_key).map_err(KeyError::Contact)?;
        crate::accounts::Accounts::new(&settings.auth)
            .map_err(|e| KeyError::Auth(e.to_string()))?;
        settings.auth.trusted_proxies().map_err(KeyError::Auth)?;
        Ok(())
    }

    /// The state of a running service from its settings, pool and catalog: derives the
    /// contact cipher and the session keys (and fails on bad ones).
    pub fn new(
        settings: Settings,
        pool: db::Pool,
        catalog: Arc<LiveCatalog>,
    ) -> Result<AppState, KeyError> {
        let cipher =
            ContactCipher::from_base64(&settings.privacy.contact_key).map_err(KeyError::Contact)?;
        // A binary without a JWT crypto backend, or a bad key, stops here.
        let accounts = crate::accounts::Accounts::new(&settings.auth)
            .map_err(|e| KeyError::Auth(e.to_string()))?;
        let trusted_proxies = settings.auth.trusted_proxies().map_err(KeyError::Auth)?;
        let writer =
            screening::Writer::start(pool.clone()).map_err(|e| KeyError::Writer(e.to_string()))?;
        Ok(AppState {
            settings,
            pool,
            catalog,
            cipher,
            accounts,
            trusted_proxies,
            notices: tokio::sync::broadcast::channel(256).0,
            wake: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            changes_from_db: std::sync::atomic::AtomicBool::new(false),
            writer,
            known: Arc::new(screening::Known::default()),
            sockets: SocketCounts::default(),
        })
    }

    pub fn context<'a>(&'a self, catalog: &'a Catalog) -> screening::Context<'a> {
        screening::Context {
            catalog,
            cipher: &self.cipher,
            crisis_lines: &self.settings.crisis.lines,
            rider: &self.settings.rider,
            contact_retention: self.settings.privacy.contact_retention,
            alerts: &self.settings.alerts,
            escalation: &self.settings.escalation,
            abuse: &self.settings.abuse,
            source: None,
        }
    }
}

/// A key in the settings that cannot be used; the service does not start with one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("configuration: privacy.contact_key: {0}")]
    Contact(String),
    #[error("configuration: auth: {0}")]
    Auth(String),
    #[error("{0}")]
    Writer(String),
}
