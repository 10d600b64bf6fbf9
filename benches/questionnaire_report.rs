//! The what-would-change report (issue 14) over stored screenings: PHQ-9's `moderate` cut
//! moved from 10 to 12, re-scoring every screening of the current version in the window.
//!
//! Next to it, in the same run, the baseline: scoring the same answers directly (parse the
//! answers' JSON text and score under the new text, no database). The ratio (report /
//! baseline) is what to compare across machines: what reading the rows and tallying adds.
//!
//! SQLite always; PostgreSQL too when CARELINE_TEST_DATABASE_URL is set (a database is created
//! for the run and dropped after). Run: `cargo bench --bench questionnaire_report`
//! (REPORT_BENCH_N=<screenings>, default 100000; REPORT_BENCH_ROUNDS, default 3: the median).
//!
//! A plain `main` with `Instant` rather than criterion: one sample is a whole report over
//! 100,000 rows (seconds), which criterion's many-iteration sampling would take minutes for.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use careline::admin::questionnaires::{Tally, preview};
use careline::catalog::{LiveCatalog, parse_questionnaire};
use careline::config::DatabaseSettings;
use careline::db::{self, AnyConnection};
use careline::scoring::{self, AnswerSet};
use diesel::prelude::*;

mod common;
use common::{drop_database, percentile, targets};

const MODERATE_10: &str = r#"{ name = "moderate", min = 10, tier = "yellow" }"#;
const MODERATE_12: &str = r#"{ name = "moderate", min = 12, tier = "yellow" }"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The shipped PHQ-9 with `moderate` at 12 and its examples at 10 to 12 mild and green.
fn edited(source: &str) -> String {
    let mut s = source
        .replace(r#"version = "1.1.0""#, r#"version = "1.2.0""#)
        .replace(MODERATE_10, MODERATE_12);
    for name in [
        "moderate starts at 10 and is yellow",
        "11 is moderate",
        "a prorated fractional total lands in its band: 8 x 9 / 7 = 10.3",
    ] {
        let start = s.find(&format!("name = \"{name}\"")).expect("the example");
        let end = start + s[start..].find("\n\n").unwrap_or(s.len() - start);
        let block = s[start..end]
            .replace("tier = \"yellow\"", "tier = \"green\"")
            .replace("\"moderate\" }", "\"mild\" }");
        s.replace_range(start..end, &block);
    }
    s
}

/// A deterministic spread of answers (xorshift), some items left out (PHQ-9 prorates two).
fn answers(n: usize) -> Vec<String> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            let mut parts = Vec::new();
            for item in 1..=9 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = x % 9;
                if v == 8 && item != 9 {
                    continue;
                }
                parts.push(format!("\"q{item}\":{}", v.min(3)));
            }
            format!("{{{}}}", parts.join(","))
        })
        .collect()
}

fn store(conn: &mut AnyConnection, q: &careline::questionnaire::Questionnaire, texts: &[String]) {
    use db::schema::screenings;
    db::questionnaires::ensure_version(
        conn,
        &db::screenings::NewVersion {
            content_hash: &q.content_hash,
            questionnaire_id: &q.id,
            version: &q.version,
            source: &q.source,
            first_used_at: chrono::Utc::now().naive_utc(),
        },
    )
    .expect("store the version");
    let now = chrono::Utc::now().naive_utc();
    for chunk in texts.chunks(1000) {
        let rows: Vec<db::screenings::ScreeningRow> = chunk
            .iter()
            .map(|text| {
                let set = AnswerSet::parse_json(q, text).expect("valid answers");
                let o = scoring::score(&set);
                db::screenings::ScreeningRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    questionnaire_id: q.id.clone(),
                    content_hash: q.content_hash.clone(),
                    answers: text.clone(),
                    scores: serde_json::to_string(&o.scores).unwrap(),
                    bands: serde_json::to_string(&o.bands).unwrap(),
                    reasons: serde_json::to_string(&o.reasons).unwrap(),
                    tier: o.tier.as_str().to_string(),
                    urgent: o.urgent,
                    locale: "zh-CN".into(),
                    site: None,
                    submitted_at: now - chrono::Duration::minutes(1),
                    idempotency_key: None,
                    request_hash: None,
                    response: None,
                    contact_token_hash: None,
                    source_fp: None,
                }
            })
            .collect();
        // A multi-row INSERT is per backend in diesel (not in the common dialect).
        db::write_transaction(conn, |c| -> Result<(), db::DbError> {
            match c {
                AnyConnection::Sqlite(c) => diesel::insert_into(screenings::table)
                    .values(&rows)
                    .execute(c)?,
                AnyConnection::Postgresql(c) => diesel::insert_into(screenings::table)
                    .values(&rows)
                    .execute(c)?,
            };
            Ok(())
        })
        .expect("insert screenings");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    percentile(&v, 0.5)
}

fn main() {
    let n = env_usize("REPORT_BENCH_N", 100_000);
    let rounds = env_usize("REPORT_BENCH_ROUNDS", 3).max(1);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let folder = tmp.path().join("questionnaires");
    std::fs::create_dir(&folder).expect("a folder");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires/phq9.toml");
    std::fs::copy(&shipped, folder.join("phq9.toml")).expect("copy phq9.toml");
    let catalog = Arc::new(LiveCatalog::load(&folder).expect("load"));
    let current = Arc::clone(catalog.get_all().get("phq9").expect("phq9"));
    let new_source = edited(&current.source);
    let new = parse_questionnaire("phq9.toml", Some("phq9"), &new_source).expect("the edit loads");
    let texts = answers(n);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "questionnaire_report: {n} stored PHQ-9 screenings, moderate 10 -> 12, median of {rounds}"
    );

    for target in targets(tmp.path(), "report") {
        let settings = DatabaseSettings {
            url: target.url.clone(),
            pool_size: 2,
            timeout: Duration::from_secs(30),
        };
        let pool = db::connect(&settings).expect("connect");
        let mut conn = pool.get().expect("a connection");
        db::migrate(&mut conn).expect("migrate");
        store(&mut conn, &current, &texts);

        let mut direct = Vec::new();
        let mut report = Vec::new();
        let mut moved = 0;
        for _ in 0..rounds {
            // Baseline: the same answers scored directly (in memory).
            let started = Instant::now();
            let mut tally = Tally::default();
            let mut yellow_to_green = 0u64;
            for text in &texts {
                let set = AnswerSet::parse_json(&new, text).expect("valid");
                let o = scoring::score(&set);
                yellow_to_green += u64::from(o.tier == careline::questionnaire::Tier::Green);
            }
            std::hint::black_box((&mut tally, yellow_to_green));
            direct.push(started.elapsed());

            let started = Instant::now();
            let r = preview(
                &mut conn,
                &catalog,
                "phq9",
                &new_source,
                90,
                10,
                chrono::Utc::now().naive_utc(),
            )
            .expect("the report");
            report.push(started.elapsed());
            assert_eq!(
                r.screenings,
                Some(n as u64),
                "every stored screening re-scored"
            );
            moved = r
                .tier_changes
                .iter()
                .find(|c| c.from.as_str() == "yellow" && c.to.as_str() == "green")
                .and_then(|c| c.count)
                .unwrap_or(0);
        }
        let (d, r) = (median(direct), median(report));
        let _ = writeln!(
            out,
            "  {:8} direct scoring {:>9.1} ms ({:>8.0}/s)  report {:>9.1} ms ({:>8.0}/s)  ratio report/direct {:.2}  (yellow->green: {moved})",
            target.name,
            d.as_secs_f64() * 1000.0,
            n as f64 / d.as_secs_f64(),
            r.as_secs_f64() * 1000.0,
            n as f64 / r.as_secs_f64(),
            r.as_secs_f64() / d.as_secs_f64(),
        );
        drop(conn);
        drop(pool);
        if let Some((admin, name)) = &target.cleanup {
            drop_database(admin, name);
        }
    }
}
