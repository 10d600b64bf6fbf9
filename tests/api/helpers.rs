//! The application under test, its fresh database, and one helper per endpoint.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::web;
use careline::config::{Settings, Sources};
use careline::db::{self, AnyConnection};
use careline::startup::Application;
use careline::state::AppState;
use diesel::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

pub const ENV_DATABASE_URL: &str = "CARELINE_TEST_DATABASE_URL";
pub const ENV_REQUIRE_SERVICES: &str = "CARELINE_REQUIRE_SERVICES";

/// The key contacts are encrypted with in tests (base64 of 32 bytes), not the shipped one.
pub const TEST_CONTACT_KEY: &str = "dGVzdCBrZXkgZm9yIGNhcmVsaW5lIGFwaSB0ZXN0cyE=";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn shipped_questionnaires() -> PathBuf {
    root().join("questionnaires")
}

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// `admin_url` is where test databases are created and dropped.
    Postgres {
        admin_url: String,
    },
}

fn services_required() -> bool {
    std::env::var(ENV_REQUIRE_SERVICES).is_ok_and(|v| v == "1")
}

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

impl Backend {
    /// PostgreSQL if it is configured and answers. Otherwise `None` (the test is skipped), or a
    /// panic when `CARELINE_REQUIRE_SERVICES=1`.
    pub async fn postgres() -> Option<Backend> {
        let url = std::env::var(ENV_DATABASE_URL).unwrap_or_default();
        if url.is_empty() {
            assert!(
                !services_required(),
                "{ENV_REQUIRE_SERVICES}=1 but {ENV_DATABASE_URL} is not set: \
                 the PostgreSQL tests cannot run"
            );
            note(&format!(
                "SKIPPED on PostgreSQL: set {ENV_DATABASE_URL} (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it"
            ));
            return None;
        }
        let check = url.clone();
        let reached = tokio::task::spawn_blocking(move || {
            diesel::PgConnection::establish(&check).map(|_| ())
        })
        .await
        .expect("the connection check ran");
        match reached {
            Ok(()) => Some(Backend::Postgres { admin_url: url }),
            Err(e) => {
                assert!(
                    !services_required(),
                    "PostgreSQL at {ENV_DATABASE_URL} is unreachable and \
                     {ENV_REQUIRE_SERVICES}=1: {e}"
                );
                note(&format!(
                    "SKIPPED on PostgreSQL: cannot connect through {ENV_DATABASE_URL}: {e}"
                ));
                None
            }
        }
    }
}

/// A database that exists for one test: a temporary SQLite file, or a PostgreSQL database
/// created for it and dropped (best effort) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    kind: TestDbKind,
}

#[derive(Debug)]
enum TestDbKind {
    Sqlite { _dir: TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn create(backend: &Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}", dir.path().join("careline.db").display());
                TestDb {
                    url,
                    kind: TestDbKind::Sqlite { _dir: dir },
                }
            }
            Backend::Postgres { admin_url } => {
                let name = format!("careline_test_{}", uuid::Uuid::new_v4().simple());
                let admin = admin_url.clone();
                let create = name.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::PgConnection::establish(&admin)
                        .expect("connect to CARELINE_TEST_DATABASE_URL");
                    diesel::sql_query(format!("CREATE DATABASE {create}"))
                        .execute(&mut conn)
                        .expect("create the test database");
                })
                .await
                .expect("the database was created");
                let mut url = reqwest::Url::parse(admin_url).expect("a postgres:// URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    kind: TestDbKind::Postgres {
                        admin_url: admin_url.clone(),
                        name,
                    },
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDbKind::Postgres { admin_url, name } = &self.kind {
            let (admin, name) = (admin_url.clone(), name.clone());
            // Drop runs on the async runtime: do the blocking work on a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                    // FORCE (PostgreSQL 13+): the application's pool may still hold connections.
                    let forced =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut conn);
                    if forced.is_err() {
                        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
                            .execute(&mut conn);
                    }
                }
            })
            .join();
        }
    }
}

/// Settings as the service would load them from `config/` alone, for a test.
pub fn test_settings(database_url: &str, questionnaires: &Path) -> Settings {
    let mut settings = Settings::load_from(&Sources {
        config_dir: root().join("config"),
        env_name: None,
        vars: Default::default(),
    })
    .expect("the shipped configuration loads");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.database.url = database_url.to_string();
    settings.questionnaires.dir = questionnaires.to_path_buf();
    settings.privacy.contact_key = TEST_CONTACT_KEY.into();
    // Every request of a test comes from one address and one client, so one source: the flood
    // guard would cluster and refuse tests that send many screenings. Its own tests
    // (`flood.rs`) put the shipped defaults back.
    settings.abuse.cluster_per_source = 1_000_000;
    settings.abuse.cluster_per_site = 1_000_000;
    settings.abuse.limit_per_source = 2_000_000;
    settings.abuse.limit_per_site = 2_000_000;
    settings.abuse.challenge_per_source = 1_500_000;
    settings.abuse.challenge_per_site = 1_500_000;
    // The daily roster-gap message would reach the supervisors of tests that count mails;
    // its own test (`password_reset.rs`) schedules it.
    settings.worker.gap_digest = false;
    settings
}

/// A running application and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    /// Where the worker writes mail as `.eml` files (no SMTP URL configured).
    pub outbox: TempDir,
    /// Versions the start stored (every loaded questionnaire's, so that a file broken later
    /// can be served from them); `rows().versions` counts the ones stored after.
    versions_at_start: i64,
    // Dropped last: the database outlives the handles above.
    _db: TestDb,
    _questionnaires: Option<TempDir>,
}

/// Any other change to the settings, applied last.
#[derive(Clone)]
pub struct Tweak(pub std::sync::Arc<dyn Fn(&mut Settings) + Send + Sync>);

impl std::fmt::Debug for Tweak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tweak")
    }
}

/// Options for `spawn_app_with`.
#[derive(Debug, Default)]
pub struct AppOptions {
    /// Serve a temporary copy of the shipped questionnaires (for reload tests).
    pub copy_questionnaires: bool,
    pub body_limit: Option<usize>,
    /// `database.timeout` (pool checkout; SQLite busy timeout).
    pub database_timeout: Option<Duration>,
    /// `auth.login_free_failures`, `auth.login_delay`: sign-in throttling.
    pub login_free_failures: Option<u32>,
    pub login_delay: Option<Duration>,
    /// `auth.trusted_proxies`: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<String>>,
    /// `alerts.red_deadline`.
    pub red_deadline: Option<Duration>,
    pub tweak: Option<Tweak>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    init_log_capture();
    let db = TestDb::create(&backend).await;
    let copy = options.copy_questionnaires.then(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for entry in std::fs::read_dir(shipped_questionnaires()).expect("questionnaires/") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(
                    &path,
                    dir.path().join(path.file_name().expect("a file name")),
                )
                .expect("copy a questionnaire");
            }
        }
        dir
    });
    let dir = copy
        .as_ref()
        .map_or_else(shipped_questionnaires, |d| d.path().to_path_buf());
    let mut settings = test_settings(&db.url, &dir);
    if let Some(limit) = options.body_limit {
        settings.server.body_limit = limit;
    }
    if let Some(timeout) = options.database_timeout {
        settings.database.timeout = timeout;
    }
    if let Some(free) = options.login_free_failures {
        settings.auth.login_free_failures = free;
    }
    if let Some(delay) = options.login_delay {
        settings.auth.login_delay = delay;
    }
    if let Some(proxies) = options.trusted_proxies {
        settings.auth.trusted_proxies = proxies;
    }
    if let Some(deadline) = options.red_deadline {
        settings.alerts.red_deadline = deadline;
    }
    let outbox = tempfile::tempdir().expect("a temporary folder");
    settings.mail.outbox_dir = outbox.path().to_path_buf();
    if let Some(tweak) = &options.tweak {
        (tweak.0)(&mut settings);
    }
    let application = Application::build(settings)
        .await
        .expect("the application builds");
    let port = application.port();
    let state = application.state();
    actix_web::rt::spawn(application.run_until_stopped());
    let versions_at_start = {
        let state = state.clone();
        actix_web::web::block(move || {
            let mut conn = state.pool.get().expect("a connection");
            db::schema::questionnaire_versions::table
                .count()
                .get_result::<i64>(&mut *conn)
                .expect("count questionnaire versions")
        })
        .await
        .expect("counted")
    };
    assert!(
        versions_at_start >= 1,
        "the start stores the loaded questionnaires' versions"
    );
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
        state,
        outbox,
        versions_at_start,
        _db: db,
        _questionnaires: copy,
    }
}

/// Rows in the tables a submission writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub screenings: i64,
    pub contacts: i64,
    pub versions: i64,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The URL of this test's own database.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    pub fn questionnaire_dir(&self) -> PathBuf {
        self.state.catalog.dir().to_path_buf()
    }

    /// Runs `f` with a connection from the application's pool, on the blocking pool.
    pub async fn with_conn<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> T + Send + 'static,
    {
        let pool = self.state.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("a database connection");
            f(&mut conn)
        })
        .await
        .expect("the database task ran")
    }

    /// Screenings, contacts, and the questionnaire versions stored since the start.
    pub async fn rows(&self) -> Rows {
        let at_start = self.versions_at_start;
        self.with_conn(move |c| Rows {
            screenings: db::screenings::count(c).expect("count screenings"),
            contacts: db::screenings::count_contacts(c).expect("count contacts"),
            versions: db::schema::questionnaire_versions::table
                .count()
                .get_result::<i64>(c)
                .expect("count questionnaire versions")
                - at_start,
        })
        .await
    }

    pub async fn find_screening(&self, id: &str) -> db::screenings::ScreeningRow {
        let id = id.to_string();
        self.with_conn(move |c| db::screenings::find(c, &id))
            .await
            .expect("read the screening")
            .expect("the screening is stored")
    }

    /// The stored (version, source) of a questionnaire version.
    pub async fn find_version(&self, content_hash: &str) -> Option<(String, String)> {
        use db::schema::questionnaire_versions as v;
        let hash = content_hash.to_string();
        self.with_conn(move |c| {
            v::table
                .find(hash)
                .select((v::version, v::source))
                .first::<(String, String)>(c)
                .optional()
                .expect("read questionnaire_versions")
        })
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the request was sent")
    }

    pub async fn get_healthz(&self) -> reqwest::Response {
        self.get("/healthz").await
    }

    pub async fn get_readyz(&self) -> reqwest::Response {
        self.get("/readyz").await
    }

    pub async fn get_questionnaires(&self, locale: Option<&str>) -> reqwest::Response {
        match locale {
            Some(l) => {
                self.get(&format!("/api/v1/questionnaires?locale={l}"))
                    .await
            }
            None => self.get("/api/v1/questionnaires").await,
        }
    }

    pub async fn get_questionnaire(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/questionnaires/{id}")).await
    }

    /// POSTs a JSON screening.
    pub async fn post_screening(&self, body: &Value) -> reqwest::Response {
        self.post_screening_raw(
            serde_json::to_vec(body).expect("JSON"),
            &[("Content-Type", "application/json")],
        )
        .await
    }

    /// POSTs a JSON screening with an `Idempotency-Key`.
    pub async fn post_screening_with_key(&self, body: &Value, key: &str) -> reqwest::Response {
        self.post_screening_raw(
            serde_json::to_vec(body).expect("JSON"),
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
        )
        .await
    }

    /// POSTs any bytes with exactly the given headers (no Content-Type unless given).
    pub async fn post_screening_raw(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url("/api/v1/screenings"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .body(body)
            .send()
            .await
            .expect("the request was sent")
    }

    /// POSTs `chunks` with `Transfer-Encoding: chunked` (so no Content-Length) over a plain
    /// socket; returns the status and the response body.
    pub async fn post_chunked(&self, path: &str, chunks: Vec<Vec<u8>>) -> (u16, Value) {
        let port = self.port;
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            let mut stream =
                std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the app");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("a read timeout");
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            // The server may answer and close before it has read every chunk: a failed write
            // is fine as long as the response can be read.
            let mut request = head.into_bytes();
            for chunk in &chunks {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            let _ = stream.write_all(&request);
            let mut response = Vec::new();
            let _ = stream.read_to_end(&mut response);
            parse_http_response(&response)
        })
        .await
        .expect("the chunked request ran")
    }
}

/// (status, JSON body) of a raw HTTP/1.1 response (with `Content-Length` or chunked body).
fn parse_http_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response, got {text:?}"));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        out
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("a JSON body ({e}), got {body:?} after {head:?}"));
    (status, json)
}

/// Checks an error response: its status, the JSON error shape and its code; returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "an error is JSON, not {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_error_shape(&body, code);
    body
}

pub fn assert_error_shape(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "error code in {body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a message for people in {body}");
    if let Some(details) = error.get("details") {
        assert!(details.is_array(), "details is a list in {body}");
    }
    let keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["error"], "only `error` at the top of {body}");
}

/// Reads a 201 response's JSON body, failing with the body otherwise.
pub async fn created(response: reqwest::Response) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(status, 201, "expected 201 Created, got {status}: {text}");
    serde_json::from_str(&text).expect("a JSON body")
}

/// Polls `check` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Answers to the seven GAD-7 items.
pub fn gad7_answers(values: [i64; 7]) -> Value {
    let mut answers = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        answers.insert(format!("q{}", i + 1), Value::from(*v));
    }
    Value::Object(answers)
}

/// Answers to the nine PHQ-9 items.
pub fn phq9_answers(values: [i64; 9]) -> Value {
    let mut answers = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        answers.insert(format!("q{}", i + 1), Value::from(*v));
    }
    Value::Object(answers)
}

/// A PHQ-9 screening: green with all zeros.
pub fn phq9_body(values: [i64; 9]) -> Value {
    serde_json::json!({
        "questionnaire": "phq9",
        "answers": phq9_answers(values),
        "locale": "zh-CN",
    })
}

pub const GREEN: [i64; 9] = [0; 9];
/// Total 10: moderate, yellow, no rule.
pub const YELLOW: [i64; 9] = [3, 3, 3, 1, 0, 0, 0, 0, 0];
/// Item 9 endorsed: red by the `self_harm` rule.
pub const RED: [i64; 9] = [0, 0, 0, 0, 0, 0, 0, 0, 1];

// ---------------------------------------------------------------------------------------------
// Captured logs

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOG_INIT: OnceLock<()> = OnceLock::new();

/// Everything the process logged so far (every test of this binary installs the same
/// subscriber, at trace level for careline, so a log check sees all the service writes).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_log_capture() {
    LOG_INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("careline=trace,debug"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

// ---------------------------------------------------------------------------------------------
// Staff: users, sites, sessions and signed-in requests

/// The password test users get unless a test says otherwise (12 characters or more).
pub const PASSWORD: &str = "correct horse battery staple";

/// A user made for a test, with a bearer token of a live session.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub token: String,
}

/// A browser-like session: the session cookie and the CSRF token `/api/v1/auth/me` gives it.
#[derive(Debug, Clone)]
pub struct CookieSession {
    /// The `Cookie` header value.
    pub cookie: String,
    pub csrf: String,
}

/// What a submitted screening left behind.
#[derive(Debug, Clone)]
pub struct Submission {
    pub screening_id: String,
    /// The alert it opened or joined (yellow and red).
    pub alert_id: Option<String>,
}

static USER_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The body of a response as JSON, with its status; fails with the text if it is not JSON.
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}): {text}"))
    };
    (status, json)
}

/// Reads a 200 response's JSON body, failing with the body otherwise.
pub async fn ok(response: reqwest::Response) -> Value {
    let (status, body) = status_json(response).await;
    assert_eq!(status, 200, "expected 200 OK, got {status}: {body}");
    body
}

/// Timeline entries the notifier writes.
pub const NOTIFIER_EVENTS: [&str; 6] = [
    "paged",
    "escalation_gap",
    "nobody_to_page",
    "escalation_repaired",
    "delivery_failed",
    "channel_sent",
];

impl TestApp {
    /// Creates a user directly in the database, as `careline user add` does, with `PASSWORD`.
    /// The sites must exist.
    pub async fn create_user(&self, role: &str, sites: &[&str]) -> careline::accounts::UserView {
        let n = USER_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{}{} {n}", role[..1].to_uppercase(), &role[1..]);
        self.create_user_as(role, &format!("{role}-{n}@example.org"), &name, sites)
            .await
    }

    pub async fn create_user_as(
        &self,
        role: &str,
        email: &str,
        name: &str,
        sites: &[&str],
    ) -> careline::accounts::UserView {
        let new = careline::accounts::NewUser {
            email: email.into(),
            name: name.into(),
            role: role.into(),
            sites: sites.iter().map(|s| s.to_string()).collect(),
            password: Some(PASSWORD.into()),
            locale: Some("en".into()),
            phone: None,
        };
        self.with_conn(move |c| {
            careline::accounts::create_user(c, &careline::audit::Who::system(), &new)
        })
        .await
        .unwrap_or_else(|e| panic!("create a {role}: {e}"))
        .0
    }

    /// Creates a site directly in the database.
    pub async fn create_site(&self, slug: &str) {
        let site = careline::accounts::Site {
            slug: slug.into(),
            name: format!("Station {slug}"),
        };
        self.with_conn(move |c| {
            careline::accounts::create_site(c, &careline::audit::Who::system(), &site)
        })
        .await
        .unwrap_or_else(|e| panic!("create a site: {e}"));
    }

    /// A new user of `role` serving `sites` (none: all), signed in.
    pub async fn staff(&self, role: &str, sites: &[&str]) -> Staff {
        let user = self.create_user(role, sites).await;
        let token = self.sign_in(&user.email, PASSWORD).await;
        Staff {
            id: user.id,
            email: user.email,
            name: user.name,
            role: role.into(),
            token,
        }
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.login_with(email, password, &[]).await
    }

    /// `POST /api/v1/auth/login` with extra headers (e.g. `X-Forwarded-For`).
    pub async fn login_with(
        &self,
        email: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the request was sent")
    }

    /// Signs in and returns the bearer token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let body = ok(self.login(email, password).await).await;
        body["token"].as_str().expect("a token").to_string()
    }

    /// A request with `Authorization: Bearer <token>` when a token is given.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, Some(token))
            .send()
            .await
            .expect("the request was sent")
    }

    /// POSTs `body` as JSON, or nothing when `None`.
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.request(reqwest::Method::POST, path, Some(token));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the request was sent")
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("the request was sent")
    }

    /// Signs in and holds the session as a browser does: the token in the session cookie, and
    /// the CSRF token read from `GET /api/v1/auth/me` with that cookie.
    pub async fn cookie_session(&self, email: &str, password: &str) -> CookieSession {
        let token = self.sign_in(email, password).await;
        let cookie = format!("careline_session={token}");
        let me = ok(self
            .client
            .get(self.url("/api/v1/auth/me"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("the request was sent"))
        .await;
        CookieSession {
            cookie,
            csrf: me["csrf_token"].as_str().expect("a CSRF token").to_string(),
        }
    }

    /// Submits a screening (201 expected) and finds the alert it opened or joined.
    pub async fn submit(&self, body: &Value) -> Submission {
        let body = created(self.post_screening(body).await).await;
        let screening_id = body["id"].as_str().expect("a screening id").to_string();
        let lookup = screening_id.clone();
        let alert_id = self
            .with_conn(move |c| db::alerts::alert_of_screening(c, &lookup))
            .await
            .expect("read alert_screenings");
        Submission {
            screening_id,
            alert_id,
        }
    }

    /// Submits a red PHQ-9 screening at `site` and returns the id of its alert.
    pub async fn red_alert(&self, site: Option<&str>) -> String {
        let mut body = phq9_body(RED);
        if let Some(site) = site {
            body["site"] = site.into();
        }
        self.submit(&body)
            .await
            .alert_id
            .expect("a red screening opens an alert")
    }

    pub async fn alert_row(&self, id: &str) -> db::alerts::AlertRow {
        let id = id.to_string();
        self.with_conn(move |c| db::alerts::find(c, &id))
            .await
            .expect("read the alert")
            .expect("the alert exists")
    }

    /// The alert's timeline, oldest first.
    /// The alert's lifecycle timeline: what people did (opened, acknowledged, notes, ...),
    /// without the notifier's own entries (pages, gaps, repairs, failed deliveries).
    pub async fn alert_events(&self, id: &str) -> Vec<db::alerts::EventRow> {
        self.alert_events_all(id)
            .await
            .into_iter()
            .filter(|e| !NOTIFIER_EVENTS.contains(&e.kind.as_str()))
            .collect()
    }

    /// Every timeline entry, the notifier's included.
    pub async fn alert_events_all(&self, id: &str) -> Vec<db::alerts::EventRow> {
        let id = id.to_string();
        self.with_conn(move |c| db::alerts::events(c, &id))
            .await
            .expect("read the timeline")
    }

    pub async fn alert_count(&self) -> i64 {
        self.with_conn(|c| {
            db::schema::alerts::table
                .count()
                .get_result::<i64>(c)
                .expect("count alerts")
        })
        .await
    }

    /// Audit rows, of one action or all.
    pub async fn audit_count(&self, action: Option<&str>) -> i64 {
        let action = action.map(str::to_string);
        self.with_conn(move |c| db::audit::count(c, action.as_deref()))
            .await
            .expect("count audit rows")
    }

    /// The whole audit log, newest first.
    pub async fn audit_entries(&self) -> Vec<db::audit::AuditRow> {
        self.with_conn(|c| db::audit::page(c, None, None, 100_000))
            .await
            .expect("read the audit log")
    }

    pub async fn user_count(&self) -> i64 {
        self.with_conn(|c| {
            db::schema::users::table
                .count()
                .get_result::<i64>(c)
                .expect("count users")
        })
        .await
    }

    pub async fn site_count(&self) -> i64 {
        self.with_conn(|c| {
            db::schema::sites::table
                .count()
                .get_result::<i64>(c)
                .expect("count sites")
        })
        .await
    }
}

/// Collects a child process's stdout and stderr, line by line, into one shared log (read it
/// when a test fails; it never holds rider data, since the service logs ids only).
pub fn capture_log(child: &mut std::process::Child) -> std::sync::Arc<Mutex<String>> {
    use std::io::{BufRead, BufReader};
    let log = std::sync::Arc::new(Mutex::new(String::new()));
    let stdout = child
        .stdout
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    let stderr = child
        .stderr
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    for pipe in [stdout, stderr].into_iter().flatten() {
        let log = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    log
}
