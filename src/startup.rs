//! Builds the application from `Settings`: pool, migrations, questionnaire catalog and its
//! watcher, and the HTTP server. Tests bind port 0 and read the port back.
//!
//! Layer: wiring (above every other layer). ARCHITECTURE.md maps the layers.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};

use crate::catalog::LiveCatalog;
use crate::config::Settings;
use crate::state::{AppState, KeyError};
use crate::{db, http};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot read the questionnaire folder {0}: {1}")]
    Questionnaires(String, std::io::Error),
    #[error("{0}")]
    NoQuestionnaires(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("configuration: {0}")]
    Mail(String),
    #[error("configuration: {0}")]
    Unheard(String),
    #[error("configuration: `rider.public_questionnaires`: {0}")]
    Unoffered(String),
}

/// Every screening the home page is to offer must be loaded: an id with no questionnaire
/// behind it (a typo, a file that failed validation) stops the start, naming it.
pub fn check_public_questionnaires(
    settings: &Settings,
    catalog: &crate::catalog::Catalog,
    dir: &std::path::Path,
) -> Result<(), StartupError> {
    let missing: Vec<&str> = settings
        .rider
        .public_questionnaires
        .iter()
        .filter(|id| catalog.get(id).is_none())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let loaded: Vec<&str> = catalog.iter().map(|q| q.id.as_str()).collect();
    Err(StartupError::Unoffered(format!(
        "{} not a loaded questionnaire in {} (loaded: {}); fix the id or the file, or take it off the list",
        missing
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", "),
        dir.display(),
        loaded.join(", ")
    )))
}

/// Refuses to start (outside development; warns in development) when the escalation chain's
/// last level would page nobody: no active supervisor and no `escalation.backup_emails`, as on
/// a fresh install. Run by `careline serve` and `careline worker`.
pub async fn check_someone_is_paged(
    settings: &Settings,
    pool: &db::Pool,
) -> Result<(), StartupError> {
    let pool = pool.clone();
    let policy = settings.escalation.clone();
    let reached = tokio::task::spawn_blocking(move || {
        pool.get()
            .map_err(db::DbError::from)
            .and_then(|mut c| crate::jobs::last_level_reaches_someone(&mut c, &policy))
    })
    .await
    .map_err(|e| db::DbError::Connect(e.to_string()))??;
    if reached {
        return Ok(());
    }
    let message = "`escalation.backup_emails`: there is no active supervisor and no backup address, so a red alert's last level (all supervisors plus escalation.backup_emails) would page nobody; set escalation.backup_emails to at least one address that is watched (e.g. CARELINE__ESCALATION__BACKUP_EMAILS=duty-desk@example.org), or add a supervisor with `careline user add --role supervisor --email ... --name ...`";
    if settings.is_development() {
        tracing::warn!("{message} (accepted in development only)");
        Ok(())
    } else {
        Err(StartupError::Unheard(message.to_string()))
    }
}

/// Refuses to start (outside development; warns in development, where sites are often made
/// after the first start) when a group robot names a site that does not exist: a typo would
/// silently page nobody on that robot. Run by `careline serve` and `careline worker`.
pub async fn check_channel_sites(settings: &Settings, pool: &db::Pool) -> Result<(), StartupError> {
    let named = settings.notify.named_sites();
    if named.is_empty() {
        return Ok(());
    }
    let pool = pool.clone();
    let missing = tokio::task::spawn_blocking(move || {
        let mut c = pool.get().map_err(db::DbError::from)?;
        let mut missing = Vec::new();
        for slug in named {
            if !db::accounts::site_exists(&mut c, &slug)? {
                missing.push(slug);
            }
        }
        Ok::<_, db::DbError>(missing)
    })
    .await
    .map_err(|e| db::DbError::Connect(e.to_string()))??;
    if missing.is_empty() {
        return Ok(());
    }
    let message = format!(
        "`notify.webhooks`: no site {}; a robot's `sites` lists site slugs as on /admin (create the site first, or fix the slug)",
        missing
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if settings.is_development() {
        tracing::warn!("{message} (accepted in development only)");
        Ok(())
    } else {
        Err(StartupError::Unheard(message))
    }
}

/// The questionnaire folder: `questionnaires.dir` when it is set; else the first folder of
/// `./questionnaires` (the working directory), `questionnaires` next to the binary, and
/// `questionnaires` in the data directory (the SQLite file's folder) that exists. When none
/// does, the error names every place it looked.
pub fn questionnaire_dir(settings: &Settings) -> Result<std::path::PathBuf, String> {
    let configured = &settings.questionnaires.dir;
    if !configured.as_os_str().is_empty() {
        return Ok(configured.clone());
    }
    let mut places: Vec<(std::path::PathBuf, &str)> = Vec::new();
    match std::env::current_dir() {
        Ok(cwd) => places.push((cwd.join("questionnaires"), "the working directory")),
        Err(_) => places.push(("questionnaires".into(), "the working directory")),
    }
    if let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
    {
        places.push((bin.join("questionnaires"), "next to the careline binary"));
    }
    if let Some(data) = settings.database.sqlite_dir() {
        let data = std::path::absolute(&data).unwrap_or(data);
        places.push((data.join("questionnaires"), "the data directory"));
    }
    if let Some((found, _)) = places.iter().find(|(p, _)| p.is_dir()) {
        return Ok(found.clone());
    }
    let looked = places
        .iter()
        .map(|(p, what)| format!("{} ({what})", p.display()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "no questionnaire folder found; looked in {looked}. Set questionnaires.dir \
         (CARELINE__QUESTIONNAIRES__DIR) or pass --questionnaires DIR"
    ))
}

/// One round of `admin::questionnaires::sync` on the blocking pool; a failure is logged and
/// the next round tries again.
async fn sync_questionnaires(pool: &db::Pool, catalog: &Arc<LiveCatalog>) {
    let pool = pool.clone();
    let catalog = Arc::clone(catalog);
    let done = tokio::task::spawn_blocking(move || -> Result<(), db::DbError> {
        let mut conn = pool.get()?;
        crate::admin::questionnaires::sync(
            &mut conn,
            &catalog,
            catalog.instance(),
            chrono::Utc::now().naive_utc(),
        )
    })
    .await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot sync the questionnaires with the database")
        }
        Err(e) => tracing::warn!(error = %e, "the questionnaire sync failed"),
    }
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

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Application, StartupError> {
        // `[notify]` may have been changed in code after loading (tests do).
        settings.sync_channels();
        // Keys first: a bad contact or session key (or a binary built without a JWT crypto
        // backend) stops the service before it touches the database.
        AppState::check_keys(&settings)?;
        if settings.is_development() && settings.auth.jwt_key == crate::config::DEVELOPMENT_JWT_KEY
        {
            tracing::warn!(
                "auth.jwt_key is the development key: set CARELINE__AUTH__JWT_KEY before real use"
            );
        }
        let pool = db::connect_and_migrate(&settings.database).await?;
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
        check_someone_is_paged(&settings, &pool).await?;
        check_channel_sites(&settings, &pool).await?;
        let dir = questionnaire_dir(&settings).map_err(StartupError::NoQuestionnaires)?;
        tracing::info!(dir = %dir.display(), "questionnaire folder");
        let catalog = Arc::new(
            LiveCatalog::load(&dir)
                .map_err(|e| StartupError::Questionnaires(dir.display().to_string(), e))?,
        );
        // Before serving: a file broken at start serves its last good stored version.
        sync_questionnaires(&pool, &catalog).await;
        check_public_questionnaires(&settings, &catalog.get(), &dir)?;
        let watcher = match crate::catalog::watch(Arc::clone(&catalog)) {
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
                Arc::clone(&state.metrics),
            )
            .map_err(StartupError::Mail)?,
        );
        // Seen from the start, so readiness does not flap before the worker's first beat.
        if state.settings.worker.in_serve {
            let beat = Arc::clone(&worker);
            tokio::task::spawn_blocking(move || beat.heartbeat())
                .await
                .map_err(|e| db::DbError::Connect(e.to_string()))??;
        } else {
            tracing::info!(
                "worker.in_serve is false: jobs are left to `careline worker` processes"
            );
        }
        let server_state = web::Data::clone(&state);
        let socket_state = web::Data::clone(&state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::clone(&server_state))
                .wrap(middleware::Compress::default())
                .wrap(middleware::from_fn(http::metrics::record))
                .wrap(http::security_headers())
                .configure(http::configure)
                .configure(crate::workspace::configure)
                .configure(crate::web::configure)
        })
        // Without TCP_NODELAY, a compressed response written in two pieces waits for the
        // client's delayed ACK (Nagle's algorithm): 40 ms on every kept-alive request.
        .tcp_nodelay(true)
        .on_connect(move |conn, _| {
            if let Some(socket) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                socket_state
                    .sockets
                    .record(socket.nodelay().unwrap_or(false));
            }
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
        let stop = stopping.clone();
        // PostgreSQL: alert changes of every instance and worker reach this one's streams.
        if let Err(e) = self.state.listen_for_changes(move || *stop.borrow()) {
            tracing::warn!(error = %e, "cannot listen for alert changes");
        }
        let worker = self
            .state
            .settings
            .worker
            .in_serve
            .then(|| actix_web::rt::spawn(Arc::clone(&self.worker).run(stopping)));
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
        let state = web::Data::clone(&self.state);
        actix_web::rt::spawn(async move {
            // What this instance serves and refused, to the database; withdrawals back.
            let mut every = tokio::time::interval(state.settings.questionnaires.sync_interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                sync_questionnaires(&state.pool, &state.catalog).await;
            }
        });
        let state = web::Data::clone(&self.state);
        actix_web::rt::spawn(async move {
            // The gauges read from the database: on a timer, never on a scrape.
            let mut every = tokio::time::interval(state.settings.metrics.refresh_interval);
            loop {
                every.tick().await;
                let s = web::Data::clone(&state);
                let done = tokio::task::spawn_blocking(move || -> Result<(), db::DbError> {
                    let mut conn = s.pool.get()?;
                    crate::admin::observe::refresh(
                        &mut conn,
                        &s.metrics,
                        chrono::Utc::now().naive_utc(),
                        s.settings.escalation.levels.len(),
                    )
                })
                .await;
                if !matches!(done, Ok(Ok(()))) {
                    state.metrics.refresh_failed();
                    match done {
                        Ok(Err(e)) => tracing::warn!(error = %e, "cannot refresh the metrics"),
                        Err(e) => tracing::warn!(error = %e, "the metrics refresh failed"),
                        Ok(Ok(())) => {}
                    }
                }
            }
        });
        // The mail path is tried every minute while no mail is being sent, so a broken SMTP
        // server shows on /metrics before a red alert needs it.
        let worker_for_probe = Arc::clone(&self.worker);
        actix_web::rt::spawn(async move {
            let every = std::time::Duration::from_secs(60);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let metrics = &worker_for_probe.metrics;
                if metrics
                    .mail_last_attempt()
                    .is_some_and(|t| t.elapsed() < every)
                {
                    continue;
                }
                let ok = worker_for_probe.mailer.probe().await;
                metrics.mail_result(ok);
            }
        });
        let pool = self.state.pool.clone();
        let abuse = self.state.settings.abuse.clone();
        let auth = &self.state.settings.auth;
        let throttle = std::sync::Arc::new(crate::accounts::LoginThrottle::new(
            auth.login_free_failures,
            auth.login_delay,
            auth.login_max_delay,
        ));
        actix_web::rt::spawn(async move {
            // Contact details are kept only for the configured retention period.
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let pool = pool.clone();
                let throttle = std::sync::Arc::clone(&throttle);
                let abuse = abuse.clone();
                let purged = tokio::task::spawn_blocking(move || -> Result<usize, db::DbError> {
                    let mut conn = pool.get()?;
                    let now = chrono::Utc::now().naive_utc();
                    // Session rows a day past their end are no use (sign-ins stay in the audit log).
                    db::accounts::delete_old_sessions(&mut conn, now - chrono::Duration::days(1))?;
                    // Sign-in failures older than the throttle's ceiling no longer count.
                    throttle.purge(&mut conn, now)?;
                    // Source fingerprints are kept only for abuse.retention.
                    crate::abuse::forget_old_sources(&mut conn, &abuse, now)?;
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
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        served
    }
}
