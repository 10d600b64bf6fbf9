//! Page latency: from a red submission's `201 Created` to its page being accepted by the SMTP
//! server (the end of DATA answered), through the whole service: the submit transaction writes
//! the alert and the page job (the outbox), the in-process worker wakes, claims, checks the
//! alert under its lock, builds the message and sends it over lettre's pooled transport.
//!
//! Next to it, measured in the same run against the same server, the baseline: a raw lettre
//! send of a similar message (from the call to the server's acceptance). The ratio is what to
//! compare across machines; the goal is p99 under 1 s.
//!
//! SQLite always; PostgreSQL too when CARELINE_TEST_DATABASE_URL is set (a database is created
//! for the run and dropped after). Run: `cargo bench --bench notify`
//! (NOTIFY_BENCH_N=<submissions>, default 200).
//!
//! A plain `main` with `Instant` rather than criterion: the figure wanted is a latency
//! distribution (p50/p99/max) of one end-to-end event per sample, with its end observed by
//! another thread (the SMTP server), which criterion's iteration timing and mean-centred
//! statistics do not give.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use careline::accounts::{NewUser, Site};
use careline::audit::Who;
use careline::config::{Settings, Sources};
use careline::db::{self, AnyConnection};
use careline::notify::{Content, Delivery};
use careline::startup::Application;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailin_embedded::{Handler, Response, Server, response};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

mod common;
use common::{Target, drop_database, percentile, targets};

const WARMUP: usize = 5;
const SITE: &str = "station-1";
const COUNSELOR: &str = "bench-counselor@example.org";

/// Records when each message was accepted, by Message-ID.
#[derive(Clone)]
struct Recorder {
    accepted: UnboundedSender<(String, Instant)>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
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

/// An SMTP server in this process; returns its port and the acceptances.
fn smtp_server() -> (u16, UnboundedReceiver<(String, Instant)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP port");
    let port = listener.local_addr().expect("an address").port();
    let (tx, rx) = unbounded_channel();
    let mut server = Server::new(Recorder {
        accepted: tx,
        data: Vec::new(),
    });
    server.with_num_threads(16).with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, rx)
}

/// Waits for the acceptance of `id`, keeping others (a digest, say) aside.
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

fn settings(database_url: &str, smtp_port: u16, outbox: &Path) -> Settings {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vars = [
        ("CARELINE__DATABASE__URL", database_url.to_string()),
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
            name: "Bench Counselor".into(),
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

struct Figures {
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    Figures {
        n: samples.len(),
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
        max: *samples.last().expect("samples"),
    }
}

struct Row {
    backend: &'static str,
    page: Figures,
    raw: Figures,
    /// Pages accepted before the client had read the 201.
    early: usize,
}

async fn run(target: &Target, n: usize) -> Row {
    let (port, mut rx) = smtp_server();
    let mut seen = HashMap::new();
    let outbox = tempfile::tempdir().expect("a temporary folder");
    let settings = settings(&target.url, port, outbox.path());
    let mail_settings = settings.mail.clone();
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let pool = state.pool.clone();
    tokio::task::spawn_blocking({
        let pool = pool.clone();
        move || staff(&mut pool.get().expect("a connection"))
    })
    .await
    .expect("staff created");
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let from = mail_settings.from.parse().expect("mail.from");
    let body = serde_json::json!({
        "questionnaire": "phq9",
        "answers": {"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0,"q9":1},
        "locale": "zh-CN",
        "site": SITE,
    });

    let mut pages = Vec::with_capacity(n);
    let mut early = 0;
    for i in 0..WARMUP + n {
        let response = client
            .post(format!("{address}/api/v1/screenings"))
            .json(&body)
            .send()
            .await
            .expect("submitted");
        let created = Instant::now();
        assert_eq!(response.status().as_u16(), 201, "a red screening");
        let screening: serde_json::Value = response.json().await.expect("JSON");
        let screening_id = screening["id"].as_str().expect("an id").to_string();
        let alert_id = tokio::task::spawn_blocking({
            let pool = pool.clone();
            move || {
                db::alerts::alert_of_screening(
                    &mut pool.get().expect("a connection"),
                    &screening_id,
                )
            }
        })
        .await
        .expect("looked up")
        .expect("alert_screenings")
        .expect("a red screening opens an alert");
        let key = format!("page:{alert_id}:open:0:0:{COUNSELOR}");
        let id = careline::notify::message_id(&key, &from);
        let at = accepted(&mut rx, &mut seen, &id).await;
        if at < created {
            early += 1;
        }
        if i >= WARMUP {
            pages.push(at.saturating_duration_since(created));
        }
    }

    // The baseline: the same kind of message straight through lettre to the same server.
    let transport =
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&format!("smtp://127.0.0.1:{port}"))
            .expect("an SMTP URL")
            .build();
    let mut raw = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let key = format!("raw:{i}");
        let delivery = Delivery {
            to: COUNSELOR.into(),
            locale: "en".into(),
            content: Content::Page {
                reference: format!("B-{i:04}"),
                tier: "red".into(),
                urgent: false,
                site: Some(SITE.into()),
                deadline: chrono::Utc::now().naive_utc(),
            },
        };
        let message = careline::notify::build(&delivery, &key, &mail_settings).expect("a message");
        let id = careline::notify::message_id(&key, &from);
        let start = Instant::now();
        transport.send(message).await.expect("sent");
        let at = accepted(&mut rx, &mut seen, &id).await;
        if i >= WARMUP {
            raw.push(at.saturating_duration_since(start));
        }
    }
    Row {
        backend: target.name,
        page: figures(pages),
        raw: figures(raw),
        early,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let n: usize = std::env::var("NOTIFY_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut rows = Vec::new();
    let mut runtimes = Vec::new();
    let targets = targets(tmp.path(), "notify");
    for target in &targets {
        // A runtime of its own per backend, as `careline serve` has (the worker runs on it).
        // Kept, not dropped: once its `block_on` returns, nothing on it runs any more (the
        // next backend is measured alone), and dropping it with the application's tasks
        // still alive would drop lettre's pool outside a runtime, which panics.
        let system = actix_web::rt::System::new();
        rows.push(system.block_on(run(target, n)));
        runtimes.push(system);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nred submission 201 -> page accepted by the SMTP server ({WARMUP} warm-up submissions not counted)\n"
    );
    let _ = writeln!(
        out,
        "{:<9} {:>5} {:>10} {:>10} {:>10} | {:>12} {:>12} | {:>9} {:>9}",
        "backend", "n", "p50", "p99", "max", "raw p50", "raw p99", "x p50", "x p99"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<9} {:>5} {:>10} {:>10} {:>10} | {:>12} {:>12} | {:>9.1} {:>9.1}",
            r.backend,
            r.page.n,
            ms(r.page.p50),
            ms(r.page.p99),
            ms(r.page.max),
            ms(r.raw.p50),
            ms(r.raw.p99),
            r.page.p50.as_secs_f64() / r.raw.p50.as_secs_f64(),
            r.page.p99.as_secs_f64() / r.raw.p99.as_secs_f64(),
        );
    }
    for r in &rows {
        let _ = writeln!(
            out,
            "{}: goal p99 < 1 s {}; {} of {} pages were accepted before the client had read the 201 (counted as 0)",
            r.backend,
            if r.page.p99 < Duration::from_secs(1) {
                "met"
            } else {
                "MISSED"
            },
            r.early,
            WARMUP + r.page.n,
        );
    }
    let _ = out.flush();
    for target in &targets {
        if let Some((admin, name)) = &target.cleanup {
            drop_database(admin, name);
        }
    }
    let _ = tmp.close();
    // Without running the runtimes' destructors (see above).
    std::process::exit(0);
}
