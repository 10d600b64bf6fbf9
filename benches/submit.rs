//! Submissions per second through the submit use case (score + one transaction writing the
//! version row and the screening), next to the database's own raw insert rate measured in the
//! same run: the ratio is what to compare across machines.
//!
//! SQLite always; PostgreSQL too when CARELINE_TEST_DATABASE_URL is set (a database is created
//! for the run and dropped after). Run: `cargo bench --bench submit`.

use std::path::Path;
use std::time::Duration;

use careline::catalog::Catalog;
use careline::config::{CrisisLine, DatabaseSettings};
use careline::contact::ContactCipher;
use careline::db::{self, AnyConnection};
use careline::screening::{self, SubmitRequest};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Target {
    name: &'static str,
    url: String,
    cleanup: Option<(String, String)>,
}

fn targets(tmp: &Path) -> Vec<Target> {
    let mut t = vec![Target {
        name: "sqlite",
        url: format!("sqlite://{}/bench.db", tmp.display()),
        cleanup: None,
    }];
    if let Ok(admin) = std::env::var("CARELINE_TEST_DATABASE_URL") {
        let name = format!("careline_bench_{}", std::process::id());
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin)
            .expect("PostgreSQL admin URL");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create bench database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_string();
        t.push(Target {
            name: "postgres",
            url: format!("{base}/{name}"),
            cleanup: Some((admin, name)),
        });
    }
    t
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, _) =
        Catalog::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires")).unwrap();
    let cipher = ContactCipher::from_base64(KEY).unwrap();
    let lines: Vec<CrisisLine> = Vec::new();
    let settings = careline::config::Settings::load_from(&careline::config::Sources {
        config_dir: "/nonexistent".into(),
        env_name: None,
        vars: Default::default(),
    })
    .unwrap();
    let ctx = screening::Context {
        catalog: &catalog,
        cipher: &cipher,
        crisis_lines: &lines,
        rider: &settings.rider,
        contact_retention: Duration::from_secs(3600),
        alerts: &settings.alerts,
        escalation: &settings.escalation,
        abuse: &settings.abuse,
        source: None,
    };
    let body = r#"{"questionnaire":"phq9","answers":{"q1":2,"q2":2,"q3":1,"q4":2,"q5":1,"q6":1,"q7":1,"q8":1,"q9":0},"locale":"zh-CN","site":"station-1"}"#;
    let request: SubmitRequest = serde_json::from_str(body).unwrap();
    let payload = "x".repeat(1200);

    let mut g = c.benchmark_group("submit");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    for target in targets(tmp.path()) {
        let settings = DatabaseSettings {
            url: target.url.clone(),
            pool_size: 2,
            timeout: Duration::from_secs(5),
        };
        let pool = db::connect(&settings).unwrap();
        let mut conn = pool.get().unwrap();
        db::migrate(&mut conn).unwrap();
        conn.batch_execute(
            "CREATE TABLE bench_raw (id TEXT PRIMARY KEY NOT NULL, payload TEXT NOT NULL)",
        )
        .unwrap();
        let raw_sql = match &*conn {
            AnyConnection::Sqlite(_) => "INSERT INTO bench_raw (id, payload) VALUES (?, ?)",
            AnyConnection::Postgresql(_) => "INSERT INTO bench_raw (id, payload) VALUES ($1, $2)",
        };
        g.bench_function(format!("baseline/{}_raw_insert", target.name), |b| {
            b.iter(|| {
                diesel::sql_query(raw_sql)
                    .bind::<diesel::sql_types::Text, _>(uuid::Uuid::now_v7().to_string())
                    .bind::<diesel::sql_types::Text, _>(&payload)
                    .execute(&mut *conn)
                    .unwrap()
            })
        });
        g.bench_function(format!("{}/submit", target.name), |b| {
            b.iter(|| screening::submit(&mut conn, ctx, &request, None, "h").unwrap())
        });
        drop(conn);
        drop(pool);
        if let Some((admin, name)) = target.cleanup {
            let mut c = <diesel::PgConnection as diesel::Connection>::establish(&admin).unwrap();
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
