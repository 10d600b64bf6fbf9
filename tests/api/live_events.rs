//! Issue 12: live queue events across instances. Real `careline serve` processes (A and B) and
//! a `careline worker` process on one PostgreSQL database: a change committed by any of them
//! reaches the `/api/v1/alerts/events` streams of every instance (PostgreSQL LISTEN/NOTIFY),
//! once, with the alert timeline row's id as the SSE `id`, and a stream that reconnects with
//! `Last-Event-ID` is sent what it missed (only what its user may see). In-process tests
//! check the same resume on SQLite and that a `careline_alerts` payload holds ids only.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use careline::config::DatabaseSettings;
use careline::db;
use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{
    Backend, PASSWORD, RED, TestDb, assert_error, created, eventually, ok, phq9_body, spawn_app,
};

/// What the test allows a change to take to reach a stream (the wait ends as soon as it does;
/// what it took is printed).
const ARRIVAL: Duration = Duration::from_secs(5);

fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Event streams

/// One server-sent event as received.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
    at: Instant,
}

/// An open `/api/v1/alerts/events` stream, read by a task of its own.
struct Stream {
    rx: mpsc::UnboundedReceiver<Sse>,
    seen: Vec<Sse>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream {
    async fn open(base: &str, token: &str, last_event_id: Option<&str>) -> Stream {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let mut request = client
            .get(format!("{base}/api/v1/alerts/events"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("open the event stream");
        assert_eq!(response.status().as_u16(), 200, "the stream opens");
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut response = response;
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let mut sse = Sse {
                        id: None,
                        event: "message".into(),
                        data: String::new(),
                        at: Instant::now(),
                    };
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id: ") {
                            sse.id = Some(v.to_string());
                        } else if let Some(v) = line.strip_prefix("event: ") {
                            sse.event = v.to_string();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            sse.data = v.to_string();
                        }
                    }
                    if tx.send(sse).is_err() {
                        return;
                    }
                }
            }
        });
        let mut stream = Stream {
            rx,
            seen: Vec::new(),
            task,
        };
        stream
            .wait_for("the opening ping", |e| e.event == "ping")
            .await;
        stream
    }

    /// Waits (up to `ARRIVAL`) for an event that `matches`, keeping everything received.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&Sse) -> bool) -> Sse {
        if let Some(e) = self.seen.iter().find(|e| matches(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + ARRIVAL;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if matches(&e) {
                        return e;
                    }
                }
                Ok(None) => panic!("the stream ended before {what}: {:?}", self.seen),
                Err(_) => panic!(
                    "{what} did not arrive within {ARRIVAL:?}; received: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Reads for `quiet` and returns everything received so far.
    async fn drain(&mut self, quiet: Duration) -> &[Sse] {
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(e);
        }
        &self.seen
    }

    fn queue_events(&self) -> Vec<&Sse> {
        self.seen.iter().filter(|e| e.event == "queue").collect()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn names(e: &Sse, alert: &str) -> bool {
    e.event == "queue" && serde_json::from_str::<Value>(&e.data).is_ok_and(|d| d["alert"] == alert)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A running `careline serve` or `careline worker`: killed when dropped, its log printed when
/// the test fails.
struct Process {
    name: &'static str,
    child: Child,
    log: Arc<Mutex<String>>,
    port: Option<u16>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Process {
    fn start(name: &'static str, command: &str, database_url: &str, outbox: &str) -> Process {
        Process::start_with(name, command, database_url, outbox, &[])
    }

    /// `start` with further `CARELINE__*` variables.
    fn start_with(
        name: &'static str,
        command: &str,
        database_url: &str,
        outbox: &str,
        extra: &[(&str, &str)],
    ) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
        cmd.arg(command)
            .current_dir(crate::helpers::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARELINE") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let port = (command == "serve").then(free_port);
        cmd.envs([
            ("CARELINE__DATABASE__URL", database_url),
            ("CARELINE__SERVER__HOST", "127.0.0.1"),
            ("CARELINE__MAIL__OUTBOX_DIR", outbox),
            // Only the worker process runs jobs, so the escalations below are its own.
            ("CARELINE__WORKER__IN_SERVE", "false"),
            ("CARELINE__WORKER__POLL_INTERVAL", "200ms"),
            // Nobody is on duty: the chain is tried again every second (each try a change).
            ("CARELINE__ESCALATION__REPEAT_INTERVAL", "1s"),
            ("CARELINE__LOG__LEVEL", "careline=debug,info"),
        ]);
        if let Some(port) = port {
            cmd.env("CARELINE__SERVER__PORT", port.to_string());
        }
        cmd.envs(extra.iter().copied());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start careline {command}: {e}"));
        let log = crate::helpers::capture_log(&mut child);
        Process {
            name,
            child,
            log,
            port,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.expect("a serve process"))
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `/healthz` answers and the instance listens for alert changes.
    async fn ready(&mut self) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        let url = format!("{}/healthz", self.base());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            let up = client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up && self.log().contains("listening for alert changes") {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not start:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- log of {} (pid {}) ----\n{}",
                self.name,
                self.child.id(),
                self.log()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The database

struct Shared {
    pool: db::Pool,
    url: String,
    _db: TestDb,
}

impl Shared {
    async fn open(backend: &Backend) -> Shared {
        let test_db = TestDb::create(backend).await;
        let url = test_db.url.clone();
        let settings = DatabaseSettings {
            url: url.clone(),
            pool_size: 2,
            timeout: Duration::from_secs(10),
        };
        let pool = tokio::task::spawn_blocking(move || {
            let pool = db::connect(&settings).expect("connect to the test database");
            db::migrate(&mut pool.get().expect("a connection")).expect("migrate");
            pool
        })
        .await
        .expect("the migration ran");
        Shared {
            pool,
            url,
            _db: test_db,
        }
    }

    async fn run<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut db::AnyConnection) -> T + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&mut pool.get().expect("a connection")))
            .await
            .expect("the query ran")
    }

    async fn site(&self, slug: &'static str) {
        self.run(move |c| {
            careline::accounts::create_site(
                c,
                &careline::audit::Who::system(),
                &careline::accounts::Site {
                    slug: slug.into(),
                    name: format!("Station {slug}"),
                },
            )
        })
        .await
        .expect("create a site");
    }

    async fn counselor(&self, email: &'static str, site: &'static str) {
        self.run(move |c| {
            careline::accounts::create_user(
                c,
                &careline::audit::Who::system(),
                &careline::accounts::NewUser {
                    email: email.into(),
                    name: "Counselor".into(),
                    role: "counselor".into(),
                    sites: vec![site.into()],
                    password: Some(PASSWORD.into()),
                    locale: Some("en".into()),
                    phone: None,
                },
            )
        })
        .await
        .expect("create a counselor");
    }

    /// The alert's timeline rows of `kind`, oldest first.
    async fn events(&self, alert: &str, kind: &'static str) -> Vec<db::alerts::EventRow> {
        let alert = alert.to_string();
        self.run(move |c| db::alerts::events(c, &alert))
            .await
            .expect("read the timeline")
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

async fn sign_in(base: &str, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in");
    ok(response).await["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

/// Submits a red PHQ-9 screening at `site` on the instance at `base`; the alert's id.
async fn red_screening(shared: &Shared, base: &str, site: &str) -> String {
    let mut body = phq9_body(RED);
    body["site"] = site.into();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/screenings"))
        .json(&body)
        .send()
        .await
        .expect("submit");
    let screening = created(response).await["id"]
        .as_str()
        .expect("a screening id")
        .to_string();
    shared
        .run(move |c| db::alerts::alert_of_screening(c, &screening))
        .await
        .expect("read alert_screenings")
        .expect("a red screening opens an alert")
}

// ---------------------------------------------------------------------------------------------
// The tests

mod changes_reach_every_instance_and_a_reconnect_resumes {
    #[actix_web::test]
    async fn postgres() {
        if let Some(backend) = crate::helpers::Backend::postgres().await {
            super::changes_reach_every_instance_and_a_reconnect_resumes(backend).await;
        }
    }
}

async fn changes_reach_every_instance_and_a_reconnect_resumes(backend: Backend) {
    let shared = Shared::open(&backend).await;
    shared.site("north").await;
    shared.site("south").await;
    shared.counselor("north@example.org", "north").await;
    let outbox = tempfile::tempdir().expect("a temporary folder");
    let outbox_path = outbox.path().display().to_string();
    let mut a = Process::start("serve A", "serve", &shared.url, &outbox_path);
    let mut b = Process::start("serve B", "serve", &shared.url, &outbox_path);
    a.ready().await;
    b.ready().await;
    // One session, used on both instances (no sticky sessions).
    let token = sign_in(&b.base(), "north@example.org").await;
    let mut on_a = Stream::open(&a.base(), &token, None).await;
    let mut on_b = Stream::open(&b.base(), &token, None).await;

    // 1. A red screening submitted on A reaches B's stream (and A's), once each.
    let sent = Instant::now();
    let south = red_screening(&shared, &a.base(), "south").await;
    let north = red_screening(&shared, &a.base(), "north").await;
    let answered = Instant::now();
    let opened = shared.events(&north, "opened").await;
    let opened_id = opened[0].id.clone();
    let got_b = on_b
        .wait_for("the red alert on B", |e| names(e, &north))
        .await;
    let got_a = on_a
        .wait_for("the red alert on A", |e| names(e, &north))
        .await;
    note(&format!(
        "red screening on A -> stream on B: {:?} after the 201 ({:?} after the request); A's own stream: {:?} after the 201",
        got_b.at.saturating_duration_since(answered),
        got_b.at.saturating_duration_since(sent),
        got_a.at.saturating_duration_since(answered),
    ));
    assert_eq!(got_b.id.as_deref(), Some(opened_id.as_str()), "{got_b:?}");
    assert_eq!(got_a.id.as_deref(), Some(opened_id.as_str()), "{got_a:?}");
    for stream in [&mut on_a, &mut on_b] {
        let seen = stream.drain(Duration::from_millis(500)).await;
        let text = format!("{seen:?}");
        assert!(!text.contains(&south), "another site's alert: {text}");
        let ids: Vec<&String> = seen.iter().filter_map(|e| e.id.as_ref()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "each change once: {text}");
    }

    // 2. An escalation committed by a `careline worker` process reaches both streams. The
    // serve processes run no jobs (worker.in_serve = false): every retry is the worker's.
    let before = shared.events(&north, "nobody_to_page").await.len();
    let _worker = Process::start("worker", "worker", &shared.url, &outbox_path);
    let escalated = eventually(
        Duration::from_secs(30),
        "the worker process escalates the alert again",
        || async {
            let rows = shared.events(&north, "nobody_to_page").await;
            (rows.len() > before).then(|| rows[before].id.clone())
        },
    )
    .await;
    for (name, stream) in [("A", &mut on_a), ("B", &mut on_b)] {
        stream
            .wait_for(&format!("the worker's escalation on {name}"), |e| {
                e.id.as_deref() == Some(escalated.as_str()) && names(e, &north)
            })
            .await;
    }

    // 3. B's stream goes away; meanwhile the alert is taken (on A) and another site's alert
    // opens. Reconnecting with the last id it saw, it is sent what it missed, and only that.
    let last = on_b
        .drain(Duration::from_millis(200))
        .await
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("B's stream saw ids");
    let sent_to_b: Vec<String> = on_b.seen.iter().filter_map(|e| e.id.clone()).collect();
    drop(on_b);
    let acknowledged = reqwest::Client::new()
        .post(format!("{}/api/v1/alerts/{north}/acknowledge", a.base()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("acknowledge");
    ok(acknowledged).await;
    let south_again = red_screening(&shared, &a.base(), "south").await;
    let taken = shared.events(&north, "acknowledged").await;
    assert_eq!(taken.len(), 1);
    let mut resumed = Stream::open(&b.base(), &token, Some(&last)).await;
    resumed
        .wait_for("the missed acknowledgement", |e| {
            e.id.as_deref() == Some(taken[0].id.as_str()) && names(e, &north)
        })
        .await;
    let seen = resumed.drain(Duration::from_millis(500)).await;
    let text = format!("{seen:?}");
    assert!(
        !text.contains(&south_again) && !text.contains(&south),
        "{text}"
    );
    assert!(
        seen.iter().all(|e| e.id.as_deref() != Some(last.as_str())),
        "the event it had is not sent again: {text}"
    );
    // What came after, and from the replay margin before it only what B had been sent.
    assert!(
        seen.iter()
            .filter_map(|e| e.id.as_deref())
            .all(|id| id > last.as_str() || sent_to_b.iter().any(|s| s == id)),
        "only what came after: {text}"
    );

    // A Last-Event-ID that is not one is refused.
    let bad = reqwest::Client::new()
        .get(format!("{}/api/v1/alerts/events", b.base()))
        .bearer_auth(&token)
        .header("Last-Event-ID", "'; DROP TABLE alerts; --")
        .send()
        .await
        .expect("open the stream");
    assert_error(bad, 400, "bad_request").await;
}

/// The same resume on one instance (on SQLite the in-process path, which reads the ids from
/// the database).
async fn a_stream_that_reconnects_with_last_event_id_gets_what_it_missed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let counselor = app.staff("counselor", &["north"]).await;
    let mut stream = Stream::open(&app.address, &counselor.token, None).await;
    let first = app.red_alert(Some("north")).await;
    let got = stream.wait_for("the alert", |e| names(e, &first)).await;
    let opened = app.alert_events(&first).await;
    assert_eq!(got.id.as_deref(), Some(opened[0].id.as_str()), "{got:?}");
    let last = stream
        .drain(Duration::from_millis(300))
        .await
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("ids");
    let sent_before: Vec<String> = stream.seen.iter().filter_map(|e| e.id.clone()).collect();
    drop(stream);

    // A change whose id was taken before `last` but whose transaction committed after the
    // stream sent `last` (ids come from the clock before the commit): a resume must still
    // send it.
    let late = {
        let last = uuid::Uuid::parse_str(&last).expect("a UUID");
        let (secs, nanos) = last.get_timestamp().expect("a UUIDv7").to_unix();
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs - 5, nanos))
            .hyphenated()
            .to_string()
    };
    {
        let (late, first) = (late.clone(), first.clone());
        app.with_conn(move |c| {
            use careline::db::schema::alert_events as e;
            use diesel::prelude::*;
            diesel::insert_into(e::table)
                .values((
                    e::id.eq(&late),
                    e::alert_id.eq(&first),
                    e::at.eq(chrono::Utc::now().naive_utc()),
                    e::kind.eq("note"),
                    e::detail.eq("{}"),
                ))
                .execute(c)
        })
        .await
        .expect("a late timeline row");
    }

    let missed = app.red_alert(Some("north")).await;
    let other = app.red_alert(Some("south")).await;
    let mut resumed = Stream::open(&app.address, &counselor.token, Some(&last)).await;
    resumed
        .wait_for("the missed alert", |e| names(e, &missed))
        .await;
    let seen = resumed.drain(Duration::from_millis(300)).await;
    let text = format!("{seen:?}");
    assert!(!text.contains(&other), "{text}");
    assert!(
        seen.iter().any(|e| e.id.as_deref() == Some(late.as_str())),
        "the late-committed change is sent: {text}"
    );
    // About the first alert only that change is new; what the margin reads again was sent
    // before (a client only refreshes the row), and `last` itself is not sent again.
    for e in seen.iter().filter(|e| names(e, &first)) {
        let id = e.id.as_deref().expect("an id");
        assert!(id == late || sent_before.iter().any(|s| s == id), "{text}");
        assert_ne!(id, last, "{text}");
    }
    assert!(
        resumed.queue_events().iter().all(|e| e.id.is_some()),
        "{text}"
    );

    // Live again after the replay, each change once.
    let live = app.red_alert(Some("north")).await;
    resumed.wait_for("a new alert", |e| names(e, &live)).await;
    let seen = resumed.drain(Duration::from_millis(300)).await;
    let ids: Vec<&String> = seen.iter().filter_map(|e| e.id.as_ref()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "{seen:?}");
}

backend_tests!(a_stream_that_reconnects_with_last_event_id_gets_what_it_missed);

mod the_notify_payload_holds_ids_only {
    #[actix_web::test]
    async fn postgres() {
        if let Some(backend) = crate::helpers::Backend::postgres().await {
            super::the_notify_payload_holds_ids_only(backend).await;
        }
    }
}

async fn the_notify_payload_holds_ids_only(backend: Backend) {
    const NAME: &str = "Zhang Wei";
    const PHONE: &str = "13800138000";
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let url = app.database_url().to_string();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        diesel::sql_query("LISTEN careline_alerts")
            .execute(&mut conn)
            .expect("LISTEN");
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            for n in conn.notifications_iter() {
                match n {
                    Ok(n) => {
                        let _ = tx.send(n.payload);
                    }
                    Err(_) => return,
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    // The listener is in place before the change (LISTEN ran on its thread).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut request = phq9_body(RED);
    request["site"] = "north".into();
    request["contact"] = json!({"name": NAME, "phone": PHONE});
    request["consent_to_contact"] = json!(true);
    let body = created(app.post_screening(&request).await).await;
    let screening = body["id"].as_str().expect("an id").to_string();
    let alert = app
        .with_conn(move |c| db::alerts::alert_of_screening(c, &screening))
        .await
        .expect("read")
        .expect("an alert");
    let counselor = app.staff("counselor", &["north"]).await;
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            None,
        )
        .await)
    .await;

    let mut payloads = Vec::new();
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    while payloads.len() < 3 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => payloads.push(p),
            _ => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // opened, nobody_to_page (no one on duty), acknowledged.
    assert!(payloads.len() >= 3, "{payloads:?}");
    let timeline: Vec<String> = app
        .alert_events_all(&alert)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    for p in &payloads {
        let v: Value = serde_json::from_str(p).unwrap_or_else(|e| panic!("JSON ({e}): {p}"));
        let keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["alert", "event", "site"], "{p}");
        assert_eq!(v["alert"], alert.as_str(), "{p}");
        assert_eq!(v["site"], "north", "{p}");
        assert!(
            timeline.iter().any(|id| v["event"] == id.as_str()),
            "the event is a timeline row: {p}"
        );
        for secret in [NAME, PHONE, "phq9", "self_harm", "answers", "q9"] {
            assert!(!p.contains(secret), "{secret} in {p}");
        }
    }
}

mod a_flood_split_across_two_instances_reaches_the_limits_once {
    #[actix_web::test]
    async fn postgres() {
        if let Some(backend) = crate::helpers::Backend::postgres().await {
            super::a_flood_split_across_two_instances_reaches_the_limits_once(backend).await;
        }
    }
}

/// Issue 11: the flood guard counts in the database, so a flood sent half to each of two
/// `careline serve` processes on one PostgreSQL is limited and clustered as one.
async fn a_flood_split_across_two_instances_reaches_the_limits_once(backend: Backend) {
    let shared = Shared::open(&backend).await;
    let outbox = tempfile::tempdir().expect("an outbox");
    let outbox = outbox.path().display().to_string();
    let abuse = [
        ("CARELINE__ABUSE__CLUSTER_PER_SOURCE", "5"),
        ("CARELINE__ABUSE__CHALLENGE_PER_SOURCE", "11"),
        ("CARELINE__ABUSE__LIMIT_PER_SOURCE", "12"),
    ];
    let mut a = Process::start_with("serve A", "serve", &shared.url, &outbox, &abuse);
    let mut b = Process::start_with("serve B", "serve", &shared.url, &outbox, &abuse);
    a.ready().await;
    b.ready().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .user_agent("flood-script/1.0")
        .build()
        .expect("a client");
    let body = json!({"questionnaire": "asq", "answers": {}});
    let (mut stored, mut refused) = (0, 0);
    for i in 0..30 {
        let base = if i % 2 == 0 { a.base() } else { b.base() };
        let r = client
            .post(format!("{base}/api/v1/screenings"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        match r.status().as_u16() {
            201 => stored += 1,
            // 428 past the soft limit (no challenge sent), 429 past the hard one.
            428 | 429 => refused += 1,
            other => panic!("screening {i}: {other}"),
        }
    }
    // The soft limit (11) holds across both: 11 stored, not 11 per instance.
    assert_eq!((stored, refused), (11, 19));
    // With solved challenges (from either instance) the script gets one more, then the hard
    // limit (12) refuses it on both.
    let mut statuses = Vec::new();
    for base in [a.base(), b.base(), a.base()] {
        let c: Value = client
            .get(format!("{base}/api/v1/challenge"))
            .send()
            .await
            .expect("a challenge")
            .json()
            .await
            .expect("JSON");
        let number = altcha_lib_rs::solve_challenge(
            c["challenge"].as_str().expect("a challenge"),
            c["salt"].as_str().expect("a salt"),
            None,
            c["maxnumber"].as_u64(),
            0,
        )
        .expect("solvable");
        use base64::Engine;
        let solved = base64::engine::general_purpose::STANDARD.encode(
            json!({"algorithm": c["algorithm"], "challenge": c["challenge"], "number": number,
                   "salt": c["salt"], "signature": c["signature"]})
            .to_string(),
        );
        let mut with = body.clone();
        with["altcha"] = solved.into();
        let r = client
            .post(format!("{base}/api/v1/screenings"))
            .json(&with)
            .send()
            .await
            .expect("sent");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 429, 429]);
    let stored = stored + 1;
    let (screenings, clusters, clustered) = shared
        .run(|c| {
            use careline::db::schema::{alerts, flood_clusters, screenings};
            (
                screenings::table
                    .count()
                    .get_result::<i64>(c)
                    .expect("count"),
                flood_clusters::table
                    .count()
                    .get_result::<i64>(c)
                    .expect("count"),
                alerts::table
                    .filter(alerts::cluster_id.is_not_null())
                    .count()
                    .get_result::<i64>(c)
                    .expect("count"),
            )
        })
        .await;
    assert_eq!(screenings, stored);
    assert_eq!(
        clusters, 1,
        "one cluster for the flood, whichever instance saw it"
    );
    assert_eq!(clustered, stored, "the whole flood in it");
}
