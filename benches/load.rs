//! Load (issue 17): the real service on a loopback port, driven by 16 concurrent HTTP/1.1
//! keep-alive clients, next to the database's own one-row-per-transaction commit rate
//! measured in the same run on the same disk. Prints, per database:
//! - API screenings/s (`POST /api/v1/screenings`, a green PHQ-9, by a lean HTTP/1.1 client:
//!   `Http1`), p50 and p99, and the ratio to the raw commit rate (SQLite: one writer, WAL, synchronous=FULL, as
//!   the service opens it; PostgreSQL: 16 client threads, as pgbench would);
//! - the rider's path (form `GET /s/phq9` gzip, then its `POST`) per second;
//! - the form page on one kept-alive connection, compressed and not (the 40 ms stall of
//!   Nagle's algorithm meeting delayed ACKs shows here);
//! - a red screening's 201 to its page accepted by an in-process SMTP server (p50, p99).
//!
//! SQLite always; PostgreSQL too when CARELINE_TEST_DATABASE_URL is set (a database is created
//! for the run and dropped after). Run: `cargo bench --bench load`; LOAD_SECONDS=<s> per
//! phase (default 10), LOAD_RED=<n> red screenings (default 100).
//!
//! Each request carries a user agent of its own: the flood guard counts the stored screenings
//! of a request's source (network and user agent), and one source sending everything would
//! measure that count growing, not what thousands of riders cost.
//!
//! A plain `main`: the figures are rates and latency distributions of many clients at once.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use careline::accounts::{NewUser, Site};
use careline::audit::Who;
use careline::config::{Settings, Sources};
use careline::db::{self, AnyConnection};
use careline::startup::Application;
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use mailin_embedded::{Handler, Response, Server, response};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

mod common;
use common::{Target, drop_database, percentile, targets};

const CLIENTS: usize = 16;
const SITE: &str = "station-1";
const COUNSELOR: &str = "load-counselor@example.org";

// ---------------------------------------------------------------------------------------------
// The SMTP server (as benches/notify.rs): when each message was accepted, by Message-ID.

#[derive(Clone)]
struct Recorder {
    accepted: UnboundedSender<(String, Instant)>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> Response {
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let at = Instant::now();
        let raw = String::from_utf8_lossy(&self.data);
        let id = raw
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("Message-ID")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        let _ = self.accepted.send((id, at));
        response::OK
    }
}

fn smtp_server() -> (u16, UnboundedReceiver<(String, Instant)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP port");
    let port = listener.local_addr().expect("an address").port();
    let (tx, rx) = unbounded_channel();
    let mut server = Server::new(Recorder {
        accepted: tx,
        data: Vec::new(),
    });
    server.with_num_threads(4).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, rx)
}

fn settings(database_url: &str, smtp_port: u16, outbox: &Path) -> Settings {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vars = [
        ("CARELINE__DATABASE__URL", database_url.to_string()),
        ("CARELINE__DATABASE__POOL_SIZE", "24".to_string()),
        ("CARELINE__SERVER__HOST", "127.0.0.1".to_string()),
        ("CARELINE__SERVER__PORT", "0".to_string()),
        (
            "CARELINE__QUESTIONNAIRES__DIR",
            root.join("questionnaires").display().to_string(),
        ),
        (
            "CARELINE__MAIL__SMTP_URL",
            format!("smtp+plain://127.0.0.1:{smtp_port}"),
        ),
        ("CARELINE__MAIL__OUTBOX_DIR", outbox.display().to_string()),
        ("CARELINE__LOG__LEVEL", "warn".to_string()),
        // One client address sends everything: the flood guard would refuse the load.
        (
            "CARELINE__ABUSE__CLUSTER_PER_SOURCE",
            "100000000".to_string(),
        ),
        ("CARELINE__ABUSE__CLUSTER_PER_SITE", "100000000".to_string()),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SOURCE",
            "150000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SITE",
            "150000000".to_string(),
        ),
        ("CARELINE__ABUSE__LIMIT_PER_SOURCE", "200000000".to_string()),
        ("CARELINE__ABUSE__LIMIT_PER_SITE", "200000000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Settings::load_from(&Sources {
        config_dir: root.join("config"),
        env_name: None,
        vars,
    })
    .expect("the settings load")
}

/// A site and a counselor of it on duty for the whole run.
fn staff(conn: &mut AnyConnection) {
    let who = Who::system();
    careline::accounts::create_site(
        conn,
        &who,
        &Site {
            slug: SITE.into(),
            name: "Station 1".into(),
        },
    )
    .expect("a site");
    let (user, _) = careline::accounts::create_user(
        conn,
        &who,
        &NewUser {
            email: COUNSELOR.into(),
            name: "Load Counselor".into(),
            role: "counselor".into(),
            sites: vec![SITE.into()],
            password: None,
            locale: Some("en".into()),
            phone: None,
        },
    )
    .expect("a counselor");
    let now = chrono::Utc::now().naive_utc();
    db::rosters::insert(
        conn,
        &db::rosters::ShiftRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id,
            starts_at: now - chrono::Duration::hours(1),
            ends_at: now + chrono::Duration::hours(12),
            created_by: None,
            created_at: now,
        },
        &[],
    )
    .expect("a shift");
}

// ---------------------------------------------------------------------------------------------
// Figures

struct Rate {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn rate(mut samples: Vec<Duration>, elapsed: Duration) -> Rate {
    samples.sort();
    Rate {
        per_second: samples.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The database's own rate: one row per transaction for `seconds`, `threads` at once, on a
/// table of its own in the same database (SQLite opened as the service opens it).
fn raw_commits(url: &str, threads: usize, seconds: Duration) -> Rate {
    let settings = careline::config::DatabaseSettings {
        url: url.to_string(),
        pool_size: threads as u32,
        timeout: Duration::from_secs(30),
    };
    let pool = db::connect(&settings).expect("a pool");
    pool.get()
        .expect("a connection")
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY NOT NULL, payload TEXT NOT NULL)",
        )
        .expect("the raw table");
    let payload = "x".repeat(1200);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let pool = pool.clone();
            let payload = payload.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("a connection");
                let sql = match &*conn {
                    AnyConnection::Sqlite(_) => "INSERT INTO bench_raw (id, payload) VALUES (?, ?)",
                    AnyConnection::Postgresql(_) => {
                        "INSERT INTO bench_raw (id, payload) VALUES ($1, $2)"
                    }
                };
                let mut samples = Vec::new();
                while start.elapsed() < seconds {
                    let t = Instant::now();
                    // Autocommit: one statement, one transaction, one commit.
                    diesel::sql_query(sql)
                        .bind::<diesel::sql_types::Text, _>(uuid::Uuid::now_v7().to_string())
                        .bind::<diesel::sql_types::Text, _>(&payload)
                        .execute(&mut *conn)
                        .expect("a raw insert");
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let samples: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a raw thread"))
        .collect();
    rate(samples, start.elapsed())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

const GREEN: &str = r#"{"questionnaire":"phq9","answers":{"q1":0,"q2":1,"q3":0,"q4":1,"q5":0,"q6":0,"q7":0,"q8":0,"q9":0},"locale":"zh-CN"}"#;

/// A lean HTTP/1.1 client for the API phase: one kept-alive TCP connection per client, each
/// request written as bytes, each response read by its `Content-Length`. Real HTTP over TCP,
/// as any client sends it, at a fraction of a general-purpose client's CPU per request: the
/// load generator runs on the same two cores as the service it measures.
struct Http1 {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

impl Http1 {
    async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http1 {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Writes one request and reads its response: the status and the body's length.
    async fn send(&mut self, request: &[u8]) -> std::io::Result<(u16, usize)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        let mut head_end = None;
        loop {
            if head_end.is_none() {
                head_end = self.buf.windows(4).position(|w| w == b"\r\n\r\n");
            }
            if let Some(end) = head_end {
                let head = std::str::from_utf8(&self.buf[..end])
                    .map_err(|_| invalid("a response head that is not text"))?;
                let status: u16 = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("no status line"))?;
                let length = head
                    .split("\r\n")
                    .skip(1)
                    .filter_map(|line| line.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| invalid("a response without Content-Length"))?;
                let total = end + 4 + length;
                if self.buf.len() >= total {
                    self.buf.drain(..total);
                    return Ok((status, length));
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// `CLIENTS` keep-alive clients posting screenings for `seconds` (`Http1`: each request its
/// own user agent, so the flood guard counts each as its own source).
async fn api_load(addr: &str, seconds: Duration) -> (Rate, usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|task| {
            let addr = addr.to_string();
            tokio::spawn(async move {
                let mut conn = Http1::connect(&addr).await.expect("a connection");
                let mut samples = Vec::new();
                let mut failed = 0;
                let mut request = Vec::with_capacity(512);
                while start.elapsed() < seconds {
                    request.clear();
                    let _ = write!(
                        request,
                        "POST /api/v1/screenings HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: load/{task}/{n}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n{GREEN}",
                        n = samples.len() + failed,
                        len = GREEN.len(),
                    );
                    let t = Instant::now();
                    match conn.send(&request).await {
                        Ok((201, _)) => samples.push(t.elapsed()),
                        Ok(_) => failed += 1,
                        Err(_) => {
                            failed += 1;
                            conn = Http1::connect(&addr).await.expect("a connection");
                        }
                    }
                }
                (samples, failed)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (s, f) = t.await.expect("a client");
        samples.extend(s);
        failed += f;
    }
    (rate(samples, start.elapsed()), failed)
}

fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html.find(&needle).expect("the hidden field") + needle.len();
    html[at..].split('"').next().expect("a value").to_string()
}

/// The rider's path: the form compressed, then its POST, by `CLIENTS` keep-alive clients.
async fn rider_path(base: &str, seconds: Duration) -> (Rate, usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|task| {
            let url = format!("{base}/s/phq9");
            let post = format!("{base}/s/phq9");
            tokio::spawn(async move {
                let client = client();
                let mut samples = Vec::new();
                let mut failed = 0;
                while start.elapsed() < seconds {
                    let t = Instant::now();
                    let agent = format!("rider/{task}/{}", samples.len() + failed);
                    let Ok(page) = client
                        .get(&url)
                        .header("User-Agent", &agent)
                        .header("Accept-Encoding", "gzip")
                        .send()
                        .await
                    else {
                        failed += 1;
                        continue;
                    };
                    // reqwest is built without decompression: read it as the browser would.
                    let compressed = page.headers().get("content-encoding").is_some();
                    let bytes = page.bytes().await.unwrap_or_default();
                    let html = if compressed {
                        decode(&bytes)
                    } else {
                        String::from_utf8_lossy(&bytes).into_owned()
                    };
                    let mut form = vec![
                        ("csrf-token".to_string(), hidden(&html, "csrf-token")),
                        (
                            "idempotency-key".to_string(),
                            hidden(&html, "idempotency-key"),
                        ),
                        ("lang".to_string(), "zh-CN".to_string()),
                    ];
                    for i in 1..=9 {
                        form.push((format!("q{i}"), "0".to_string()));
                    }
                    let body = form
                        .iter()
                        .map(|(k, v)| format!("{k}={}", urlencode(v)))
                        .collect::<Vec<_>>()
                        .join("&");
                    let r = client
                        .post(&post)
                        .header("User-Agent", &agent)
                        .header("Accept-Encoding", "gzip, br")
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            samples.push(t.elapsed());
                        }
                        _ => failed += 1,
                    }
                }
                (samples, failed)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (s, f) = t.await.expect("a client");
        samples.extend(s);
        failed += f;
    }
    (rate(samples, start.elapsed()), failed)
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A gzip body (the form's hidden fields are read from it).
fn decode(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .expect("a gzip body");
    out
}

/// The form page, one request after another on one kept-alive connection.
async fn form_page(base: &str, encoding: &str, n: usize) -> Rate {
    let client = client();
    let url = format!("{base}/s/phq9");
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n + 5 {
        let t = Instant::now();
        let r = client
            .get(&url)
            .header("Accept-Encoding", encoding)
            .send()
            .await
            .expect("the form");
        let _ = r.bytes().await.expect("its body");
        if i >= 5 {
            samples.push(t.elapsed());
        }
    }
    rate(samples, start.elapsed())
}

async fn accepted(
    rx: &mut UnboundedReceiver<(String, Instant)>,
    seen: &mut HashMap<String, Instant>,
    id: &str,
) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(at) = seen.remove(id) {
            return at;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((got, at))) => {
                seen.insert(got, at);
            }
            _ => panic!("no mail {id} within 30 s"),
        }
    }
}

/// Red screenings one after another: 201 to the page accepted by the SMTP server.
async fn red_pages(
    base: &str,
    pool: &db::Pool,
    from: &lettre::message::Mailbox,
    rx: &mut UnboundedReceiver<(String, Instant)>,
    n: usize,
) -> Rate {
    let client = client();
    let mut seen = HashMap::new();
    let body = serde_json::json!({
        "questionnaire": "phq9",
        "answers": {"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0,"q9":1},
        "locale": "zh-CN",
        "site": SITE,
    });
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let response = client
            .post(format!("{base}/api/v1/screenings"))
            .json(&body)
            .send()
            .await
            .expect("submitted");
        let created = Instant::now();
        assert_eq!(response.status().as_u16(), 201, "a red screening");
        let screening: serde_json::Value = response.json().await.expect("JSON");
        let screening_id = screening["id"].as_str().expect("an id").to_string();
        let pool = pool.clone();
        let alert_id = tokio::task::spawn_blocking(move || {
            db::alerts::alert_of_screening(&mut pool.get().expect("a connection"), &screening_id)
        })
        .await
        .expect("looked up")
        .expect("alert_screenings")
        .expect("a red screening opens an alert");
        let key = format!("page:{alert_id}:open:0:0:{COUNSELOR}");
        let id = careline::notify::message_id(&key, from);
        let at = accepted(rx, &mut seen, &id).await;
        samples.push(at.saturating_duration_since(created));
    }
    rate(samples, start.elapsed())
}

struct Row {
    backend: &'static str,
    raw: Rate,
    raw_threads: usize,
    api: Rate,
    api_failed: usize,
    batches: u64,
    stored: i64,
    rider: Rate,
    rider_failed: usize,
    page_gzip: Rate,
    page_plain: Rate,
    red: Rate,
}

/// The service on a runtime of its own (as `careline serve`), on another thread.
fn serve(settings: Settings) -> (u16, actix_web::web::Data<careline::state::AppState>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let app = Application::build(settings)
                .await
                .expect("the application builds");
            tx.send((app.port(), app.state())).expect("tell the port");
            let _ = app.run_until_stopped().await;
        });
    });
    rx.recv().expect("the service started")
}

fn run(target: &Target, seconds: Duration, red_n: usize) -> Row {
    let (smtp_port, mut rx) = smtp_server();
    let outbox = tempfile::tempdir().expect("a temporary folder");
    let settings = settings(&target.url, smtp_port, outbox.path());
    let from: lettre::message::Mailbox = settings.mail.from.parse().expect("mail.from");
    let (raw, raw_threads) = match target.name {
        // One writer is what SQLite does best (more only wait for its lock).
        "sqlite" => (raw_commits(&target.url, 1, seconds), 1),
        _ => (raw_commits(&target.url, CLIENTS, seconds), CLIENTS),
    };
    let (port, state) = serve(settings);
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let pool = state.pool.clone();
    staff(&mut pool.get().expect("a connection"));
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load runtime");
    load.block_on(async {
        // Warm up: connections, the version row, caches.
        let _ = api_load(&addr, Duration::from_secs(1)).await;
        let batches_before = state.writer.batches();
        let stored_before = count(&pool);
        let (api, api_failed) = api_load(&addr, seconds).await;
        let batches = state.writer.batches() - batches_before;
        let stored = count(&pool) - stored_before;
        let (rider, rider_failed) = rider_path(&base, seconds).await;
        let page_gzip = form_page(&base, "gzip", 200).await;
        let page_plain = form_page(&base, "identity", 200).await;
        let red = red_pages(&base, &pool, &from, &mut rx, red_n).await;
        Row {
            backend: target.name,
            raw,
            raw_threads,
            api,
            api_failed,
            batches,
            stored,
            rider,
            rider_failed,
            page_gzip,
            page_plain,
            red,
        }
    })
}

fn count(pool: &db::Pool) -> i64 {
    db::screenings::count(&mut pool.get().expect("a connection")).expect("count")
}

fn main() {
    let seconds = Duration::from_secs_f64(
        std::env::var("LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0),
    );
    let red_n: usize = std::env::var("LOAD_RED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let targets = targets(tmp.path(), "load");
    let rows: Vec<Row> = targets.iter().map(|t| run(t, seconds, red_n)).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nload: {CLIENTS} keep-alive HTTP/1.1 clients, {:.0} s per phase\n",
        seconds.as_secs_f64()
    );
    for r in &rows {
        let ratio = r.api.per_second / r.raw.per_second;
        let _ = writeln!(
            out,
            "{backend}: raw one-row commits ({threads} thread(s)): {raw:.0}/s (p50 {rp50}, p99 {rp99})",
            backend = r.backend,
            threads = r.raw_threads,
            raw = r.raw.per_second,
            rp50 = ms(r.raw.p50),
            rp99 = ms(r.raw.p99),
        );
        let _ = writeln!(
            out,
            "{backend}: API screenings: {api:.0}/s, p50 {p50}, p99 {p99}, {ratio:.2}x raw; {failed} failed; {stored} stored in {batches} batches ({per:.1} per commit)",
            backend = r.backend,
            api = r.api.per_second,
            p50 = ms(r.api.p50),
            p99 = ms(r.api.p99),
            failed = r.api_failed,
            stored = r.stored,
            batches = r.batches,
            per = r.stored as f64 / r.batches.max(1) as f64,
        );
        let _ = writeln!(
            out,
            "{backend}: rider's path (form GET gzip + POST): {rate:.0}/s, p50 {p50}, p99 {p99}; {failed} failed",
            backend = r.backend,
            rate = r.rider.per_second,
            p50 = ms(r.rider.p50),
            p99 = ms(r.rider.p99),
            failed = r.rider_failed,
        );
        let _ = writeln!(
            out,
            "{backend}: form page on one kept-alive connection: gzip p50 {g50} p99 {g99}; uncompressed p50 {u50} p99 {u99}; difference at p50 {d}",
            backend = r.backend,
            g50 = ms(r.page_gzip.p50),
            g99 = ms(r.page_gzip.p99),
            u50 = ms(r.page_plain.p50),
            u99 = ms(r.page_plain.p99),
            d = ms(r.page_gzip.p50.saturating_sub(r.page_plain.p50)),
        );
        let _ = writeln!(
            out,
            "{backend}: red 201 -> page accepted by SMTP: p50 {p50}, p99 {p99} (n = {n})",
            backend = r.backend,
            p50 = ms(r.red.p50),
            p99 = ms(r.red.p99),
            n = red_n,
        );
        let goal = if r.backend == "sqlite" { 2.0 } else { 1.0 };
        let _ = writeln!(
            out,
            "{backend}: goals: >= {goal:.1}x raw {a}; API p99 <= 20 ms {b}; form page within 2 ms {c}; rider's path >= 1,000/s {d}; page p99 <= 1 s {e}\n",
            backend = r.backend,
            a = met(ratio >= goal),
            b = met(r.api.p99 <= Duration::from_millis(20)),
            c = met(r.page_gzip.p50 <= r.page_plain.p50 + Duration::from_millis(2)),
            d = met(r.rider.per_second >= 1000.0),
            e = met(r.red.p99 <= Duration::from_secs(1)),
        );
    }
    let _ = out.flush();
    for target in &targets {
        if let Some((admin, name)) = &target.cleanup {
            drop_database(admin, name);
        }
    }
    // The services' threads are still serving: end without waiting for them.
    std::process::exit(0);
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
