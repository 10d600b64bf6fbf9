//! What the end-to-end benchmarks (`notify`, `queue`) share: the databases to run against and
//! latency percentiles.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;

/// One database to measure against; PostgreSQL ones are created for the run and dropped after.
pub struct Target {
    pub name: &'static str,
    pub url: String,
    /// (admin URL, database name) of a database to drop at the end.
    pub cleanup: Option<(String, String)>,
}

/// SQLite in `tmp` always; PostgreSQL too when `CARELINE_TEST_DATABASE_URL` is set. `label`
/// keeps the files and databases of one run apart.
pub fn targets(tmp: &Path, label: &str) -> Vec<Target> {
    let mut t = vec![Target {
        name: "sqlite",
        url: format!("sqlite://{}/{label}-bench.db", tmp.display()),
        cleanup: None,
    }];
    if let Ok(admin) = std::env::var("CARELINE_TEST_DATABASE_URL") {
        let name = format!("careline_bench_{label}_{}", std::process::id());
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin)
            .expect("PostgreSQL admin URL");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the bench database");
        let mut url = reqwest::Url::parse(&admin).expect("a postgres:// URL");
        url.set_path(&format!("/{name}"));
        t.push(Target {
            name: "postgres",
            url: url.to_string(),
            cleanup: Some((admin, name)),
        });
    }
    t
}

pub fn drop_database(admin: &str, name: &str) {
    if let Ok(mut conn) = <diesel::PgConnection as diesel::Connection>::establish(admin) {
        let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// The `q` quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
