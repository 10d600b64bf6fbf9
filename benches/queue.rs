//! The queue under a flood (issue 11): `GET /api/v1/alerts` (the first page, the exact total
//! and `open_red`, the clusters) and the `/queue` page, with 10,000 open alerts in the
//! database, next to the same requests with 10 open alerts measured in the same run: the
//! ratio is what to compare across machines. Half of the 10,000 are in one suspected-flood
//! cluster (one row), half are ordinary alerts (paged 200 at a time).
//!
//! SQLite always; PostgreSQL too when CARELINE_TEST_DATABASE_URL is set (a database is created
//! for the run and dropped after). Run: `cargo bench --bench queue` (QUEUE_BENCH_N=<requests
//! per figure>, default 200).
//!
//! A plain `main` with `Instant`, as `benches/notify.rs`: the figures wanted are latency
//! percentiles of whole HTTP requests.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use careline::accounts::{NewUser, Site};
use careline::audit::Who;
use careline::config::{Settings, Sources};
use careline::db::{self, AnyConnection};
use careline::startup::Application;
use diesel::RunQueryDsl;

mod common;
use common::{Target, drop_database, percentile, targets};

const SITE: &str = "station-1";
const COUNSELOR: &str = "bench-counselor@example.org";
const PASSWORD: &str = "a long bench passphrase";
const WARMUP: usize = 10;

fn settings(database_url: &str, outbox: &Path) -> Settings {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vars = [
        ("CARELINE__DATABASE__URL", database_url.to_string()),
        ("CARELINE__SERVER__PORT", "0".to_string()),
        (
            "CARELINE__QUESTIONNAIRES__DIR",
            root.join("questionnaires").display().to_string(),
        ),
        ("CARELINE__MAIL__OUTBOX_DIR", outbox.display().to_string()),
        ("CARELINE__LOG__LEVEL", "warn".to_string()),
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

/// The site, the counselor, and `n` open red alerts: half in one cluster when `n` > 100.
fn seed(conn: &mut AnyConnection, n: usize) {
    use careline::db::schema::{alerts, flood_clusters};
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
    careline::accounts::create_user(
        conn,
        &who,
        &NewUser {
            email: COUNSELOR.into(),
            name: "Bench Counselor".into(),
            role: "counselor".into(),
            sites: vec![SITE.into()],
            password: Some(PASSWORD.into()),
            locale: Some("en".into()),
            phone: None,
        },
    )
    .expect("a counselor");
    let now = chrono::Utc::now().naive_utc();
    let clustered = if n > 100 { n / 2 } else { 0 };
    let cluster_id = uuid::Uuid::now_v7().to_string();
    if clustered > 0 {
        let cluster = db::abuse::ClusterRow {
            id: cluster_id.clone(),
            kind: "source".into(),
            source_key: "0".repeat(32),
            site: Some(SITE.into()),
            status: "active".into(),
            first_at: now,
            last_at: now,
            alert_count: clustered as i32,
            paged_at: Some(now),
            paged_count: clustered as i32,
        };
        match conn {
            AnyConnection::Sqlite(c) => diesel::insert_into(flood_clusters::table)
                .values(&cluster)
                .execute(c),
            AnyConnection::Postgresql(c) => diesel::insert_into(flood_clusters::table)
                .values(&cluster)
                .execute(c),
        }
        .expect("a cluster");
    }
    let rows: Vec<db::alerts::AlertRow> = (0..n)
        .map(|i| {
            let id = uuid::Uuid::now_v7().to_string();
            db::alerts::AlertRow {
                reference: format!("A-{:06}", i),
                tier: "red".into(),
                urgent: i % 10 == 0,
                priority: if i % 10 == 0 { 0 } else { 1 },
                site: Some(SITE.into()),
                reasons: "[]".into(),
                status: "open".into(),
                assignee_id: None,
                rider_key: None,
                created_at: now,
                deadline_at: now + chrono::Duration::seconds(900 + i as i64),
                acknowledged_at: None,
                resolved_at: None,
                outcome: None,
                updated_at: now,
                policy: None,
                cluster_id: (i < clustered).then(|| cluster_id.clone()),
                id,
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        match conn {
            AnyConnection::Sqlite(c) => diesel::insert_into(alerts::table).values(chunk).execute(c),
            AnyConnection::Postgresql(c) => {
                diesel::insert_into(alerts::table).values(chunk).execute(c)
            }
        }
        .expect("alerts");
    }
}

#[derive(Clone, Copy)]
struct Figures {
    p50: Duration,
    p99: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    Figures {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

struct Measured {
    api: Figures,
    page: Figures,
    total: i64,
    clusters: usize,
}

async fn run(target: &Target, alerts: usize, n: usize) -> Measured {
    let outbox = tempfile::tempdir().expect("a temporary folder");
    let app = Application::build(settings(&target.url, outbox.path()))
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.state().pool.clone();
    tokio::task::spawn_blocking(move || seed(&mut pool.get().expect("a connection"), alerts))
        .await
        .expect("seeded");
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let login: serde_json::Value = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": COUNSELOR, "password": PASSWORD}))
        .send()
        .await
        .expect("signed in")
        .json()
        .await
        .expect("JSON");
    let token = login["token"].as_str().expect("a token").to_string();

    let mut api = Vec::with_capacity(n);
    let mut last = serde_json::Value::Null;
    for i in 0..WARMUP + n {
        let started = Instant::now();
        let response = client
            .get(format!("{address}/api/v1/alerts"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the queue");
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.expect("a body");
        if i >= WARMUP {
            api.push(started.elapsed());
        }
        if i == 0 {
            last = serde_json::from_slice(&body).expect("JSON");
        }
    }
    let mut page = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let started = Instant::now();
        let response = client
            .get(format!("{address}/queue"))
            .header("Cookie", format!("careline_session={token}"))
            .send()
            .await
            .expect("the queue page");
        assert_eq!(response.status().as_u16(), 200);
        let _ = response.bytes().await.expect("a page");
        if i >= WARMUP {
            page.push(started.elapsed());
        }
    }
    Measured {
        api: figures(api),
        page: figures(page),
        total: last["total"].as_i64().unwrap_or(-1),
        clusters: last["clusters"].as_array().map_or(0, Vec::len),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let n: usize = std::env::var("QUEUE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nthe queue with 10 and with 10,000 open red alerts (half of them in one cluster), {n} requests each\n"
    );
    let _ = writeln!(
        out,
        "{:<9} {:>6} {:>7} {:>8} | {:>10} {:>10} | {:>10} {:>10} | {:>7} {:>7}",
        "backend",
        "alerts",
        "total",
        "clusters",
        "api p50",
        "api p99",
        "page p50",
        "page p99",
        "x api99",
        "x page99"
    );
    let mut runtimes = Vec::new();
    let mut cleanups = Vec::new();
    for (small, large) in targets(tmp.path(), "queue_small")
        .into_iter()
        .zip(targets(tmp.path(), "queue_large"))
    {
        let system = actix_web::rt::System::new();
        let base = system.block_on(run(&small, 10, n));
        runtimes.push(system);
        let system = actix_web::rt::System::new();
        let flood = system.block_on(run(&large, 10_000, n));
        runtimes.push(system);
        for (alerts, m) in [(10, &base), (10_000, &flood)] {
            let _ = writeln!(
                out,
                "{:<9} {:>6} {:>7} {:>8} | {:>10} {:>10} | {:>10} {:>10} | {:>7.2} {:>7.2}",
                small.name,
                alerts,
                m.total,
                m.clusters,
                ms(m.api.p50),
                ms(m.api.p99),
                ms(m.page.p50),
                ms(m.page.p99),
                m.api.p99.as_secs_f64() / base.api.p99.as_secs_f64(),
                m.page.p99.as_secs_f64() / base.page.p99.as_secs_f64(),
            );
        }
        cleanups.extend(small.cleanup);
        cleanups.extend(large.cleanup);
    }
    let _ = out.flush();
    for (admin, name) in &cleanups {
        drop_database(admin, name);
    }
    let _ = tmp.close();
    // Without running the runtimes' destructors (see benches/notify.rs).
    std::process::exit(0);
}
