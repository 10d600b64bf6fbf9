//! Builds the application from `Settings`: pool, migrations, questionnaire catalog and its
//! watcher, and the HTTP server. Tests bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};

use crate::config::Settings;
use crate::live::LiveCatalog;
use crate::screening::{self, ContactCipher, SubmitRequest, Submitted};
use crate::{db, http};

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
}

/// An alert opened or changed: no rider data, only which alert and its site.
#[derive(Debug, Clone)]
pub struct QueueNotice {
    pub alert_id: String,
    pub site: Option<String>,
}

/// Runs the submit use case on the blocking pool (diesel is synchronous).
pub async fn submit(
    state: &web::Data<AppState>,
    request: SubmitRequest,
    idempotency_key: Option<String>,
    request_hash: String,
) -> Result<Submitted, http::ApiError> {
    let state = web::Data::clone(state);
    let span = tracing::Span::current();
    let notify = web::Data::clone(&state);
    let submitted = web::block(move || {
        let _entered = span.enter();
        let catalog = state.catalog.get();
        let mut conn = state.pool.get().map_err(db::DbError::from);
        screening::submit_or_not_saved(
            conn.as_deref_mut()
                .map_err(|e| db::DbError::Connect(e.to_string())),
            state.context(&catalog),
            &request,
            idempotency_key.as_deref(),
            &request_hash,
        )
        .map_err(http::ApiError::from)
    })
    .await??;
    if let Some(alert) = &submitted.alert {
        tracing::info!(alert = %alert.alert_id, opened = alert.opened, tier = %alert.tier, "alert written");
        let _ = notify.notices.send(QueueNotice {
            alert_id: alert.alert_id.clone(),
            site: alert.site.clone(),
        });
        if alert.became_red {
            // Its first pages are committed: send them now.
            notify.wake.notify_one();
        }
    }
    Ok(submitted)
}

impl AppState {
    /// An alert opened or changed: open queue pages refresh, and the in-process worker looks
    /// for jobs the change committed (a restarted escalation, reminders).
    pub fn alert_changed(&self, alert_id: &str, site: Option<&str>) {
        let _ = self.notices.send(QueueNotice {
            alert_id: alert_id.to_string(),
            site: site.map(str::to_string),
        });
        self.wake.notify_one();
    }

    /// Checks the contact cipher key and the session keys (a bad one stops the start).
    pub fn check_keys(settings: &Settings) -> Result<(), StartupError> {
        ContactCipher::from_base64(&settings.privacy.contact_key).map_err(StartupError::Key)?;
        crate::accounts::Accounts::new(&settings.auth)
            .map_err(|e| StartupError::Auth(e.to_string()))?;
        settings
            .auth
            .trusted_proxies()
            .map_err(StartupError::Auth)?;
        Ok(())
    }

    /// The state of a running service from its settings, pool and catalog: derives the
    /// contact cipher and the session keys (and fails on bad ones).
    pub fn new(
        settings: Settings,
        pool: db::Pool,
        catalog: Arc<LiveCatalog>,
    ) -> Result<AppState, StartupError> {
        let cipher =
            ContactCipher::from_base64(&settings.privacy.contact_key).map_err(StartupError::Key)?;
        // A binary without a JWT crypto backend, or a bad key, stops here.
        let accounts = crate::accounts::Accounts::new(&settings.auth)
            .map_err(|e| StartupError::Auth(e.to_string()))?;
        let trusted_proxies = settings
            .auth
            .trusted_proxies()
            .map_err(StartupError::Auth)?;
        Ok(AppState {
            settings,
            pool,
            catalog,
            cipher,
            accounts,
            trusted_proxies,
            notices: tokio::sync::broadcast::channel(256).0,
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn context<'a>(
        &'a self,
        catalog: &'a crate::questionnaire::Catalog,
    ) -> screening::Context<'a> {
        screening::Context {
            catalog,
            cipher: &self.cipher,
            crisis_lines: &self.settings.crisis.lines,
            contact_retention: self.settings.privacy.contact_retention,
            alerts: &self.settings.alerts,
            escalation: &self.settings.escalation,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot read the questionnaire folder {0}: {1}")]
    Questionnaires(String, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("configuration: privacy.contact_key: {0}")]
    Key(String),
    #[error("configuration: auth: {0}")]
    Auth(String),
    #[error("configuration: {0}")]
    Mail(String),
}

/// A built, not yet running, application.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    worker: Arc<crate::jobs::worker::Worker>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Connects and migrates on the blocking pool.
pub async fn connect_and_migrate(settings: &Settings) -> Result<db::Pool, StartupError> {
    let db_settings = settings.database.clone();
    let pool = tokio::task::spawn_blocking(move || -> Result<db::Pool, db::DbError> {
        let pool = db::connect(&db_settings)?;
        let mut conn = pool.get()?;
        for m in db::migrate(&mut conn)? {
            tracing::info!(migration = %m, "migration applied");
        }
        Ok(pool)
    })
    .await
    .map_err(|e| db::DbError::Connect(e.to_string()))??;
    Ok(pool)
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        // Keys first: a bad contact or session key (or a binary built without a JWT crypto
        // backend) stops the service before it touches the database.
        AppState::check_keys(&settings)?;
        if settings.is_development() && settings.auth.jwt_key == crate::config::DEVELOPMENT_JWT_KEY
        {
            tracing::warn!(
                "auth.jwt_key is the development key: set CARELINE__AUTH__JWT_KEY before real use"
            );
        }
        let pool = connect_and_migrate(&settings).await?;
        let check = pool.clone();
        let admins = tokio::task::spawn_blocking(move || {
            check
                .get()
                .map_err(db::DbError::from)
                .and_then(|mut c| db::accounts::count_admins(&mut c))
        })
        .await
        .map_err(|e| db::DbError::Connect(e.to_string()))??;
        if admins == 0 {
            tracing::warn!(
                "no administrator yet: create one with `careline user add --email you@example.org --name \"Your Name\" --role admin` (the password is read from stdin, or generated and printed once)"
            );
        }
        let dir = settings.questionnaires.dir.clone();
        let catalog = Arc::new(
            LiveCatalog::load(&dir)
                .map_err(|e| StartupError::Questionnaires(dir.display().to_string(), e))?,
        );
        let watcher = match crate::live::watch(Arc::clone(&catalog)) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the questionnaire folder; reload with SIGHUP");
                None
            }
        };
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|e| StartupError::Bind(address.clone(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(address.clone(), e))?
            .port();
        let state = web::Data::new(AppState::new(settings, pool, catalog)?);
        let worker = Arc::new(
            crate::jobs::worker::Worker::new(
                state.settings.clone(),
                state.pool.clone(),
                Arc::clone(&state.wake),
            )
            .map_err(StartupError::Mail)?,
        );
        // Seen from the start, so readiness does not flap before the worker's first beat.
        let beat = Arc::clone(&worker);
        tokio::task::spawn_blocking(move || beat.heartbeat())
            .await
            .map_err(|e| db::DbError::Connect(e.to_string()))??;
        let server_state = web::Data::clone(&state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::clone(&server_state))
                .wrap(middleware::Compress::default())
                .wrap(http::security_headers())
                .configure(http::configure)
                .configure(crate::web::configure)
        })
        .listen(listener)
        .map_err(|e| StartupError::Bind(address, e))?
        .run();
        Ok(Application {
            port,
            server,
            state,
            worker,
            _watcher: watcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        web::Data::clone(&self.state)
    }

    /// Serves until the server stops (SIGINT/SIGTERM; the job worker then stops claiming and
    /// finishes what it runs); SIGHUP reloads the questionnaires.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop_worker, stopping) = tokio::sync::watch::channel(false);
        let worker = actix_web::rt::spawn(Arc::clone(&self.worker).run(stopping));
        let catalog = Arc::clone(&self.state.catalog);
        #[cfg(unix)]
        actix_web::rt::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading questionnaires");
                let c = Arc::clone(&catalog);
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.reload()).await {
                    tracing::error!(error = %e, "cannot read the questionnaire folder");
                }
            }
        });
        let pool = self.state.pool.clone();
        actix_web::rt::spawn(async move {
            // Contact details are kept only for the configured retention period.
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let pool = pool.clone();
                let purged = tokio::task::spawn_blocking(move || -> Result<usize, db::DbError> {
                    let mut conn = pool.get()?;
                    let now = chrono::Utc::now().naive_utc();
                    // Session rows a day past their end are no use (sign-ins stay in the audit log).
                    db::accounts::delete_old_sessions(&mut conn, now - chrono::Duration::days(1))?;
                    db::screenings::delete_expired_contacts(&mut conn, now)
                })
                .await;
                match purged {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(deleted = n, "expired contact details deleted"),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "cannot delete expired contact details")
                    }
                    Err(e) => tracing::error!(error = %e, "contact retention task failed"),
                }
            }
        });
        let served = self.server.await;
        let _ = stop_worker.send(true);
        let _ = worker.await;
        served
    }
}
