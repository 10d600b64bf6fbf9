//! `careline backup PATH`, run as the real binary: a snapshot taken while screenings are being
//! submitted holds every screening answered 201 before it began and opens as a Careline
//! database; bad inputs are refused with a clear message and write nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use careline::config::DatabaseSettings;
use careline::db;

use crate::helpers::{Backend, GREEN, RED, YELLOW, phq9_body, spawn_app};

struct Run {
    code: Option<i32>,
    output: String,
}

/// Runs `careline ARGS` with only `CARELINE__DATABASE__URL` set.
async fn careline(database_url: &str, args: &[&str]) -> Run {
    let url = database_url.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_careline"));
        cmd.args(&args)
            .current_dir(crate::helpers::root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARELINE") {
                cmd.env_remove(k);
            }
        }
        cmd.env("CARELINE__DATABASE__URL", &url);
        let out = cmd.output().expect("careline ran");
        Run {
            code: out.status.code(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    })
    .await
    .expect("the command ran")
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read the folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[actix_web::test]
async fn a_backup_during_submissions_holds_every_screening_committed_before_it() {
    let app = Arc::new(spawn_app(Backend::Sqlite).await);
    let committed: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (app, committed, stop) = (Arc::clone(&app), Arc::clone(&committed), Arc::clone(&stop));
        writers.push(actix_web::rt::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let values = [GREEN, YELLOW, RED][(n + w) % 3];
                let response = app.post_screening(&phq9_body(values)).await;
                assert_eq!(response.status().as_u16(), 201, "a screening under load");
                let body: serde_json::Value = response.json().await.expect("JSON");
                let id = body["id"].as_str().expect("an id").to_string();
                committed.lock().expect("the list").push(id);
                n += 1;
            }
        }));
    }
    // Some screenings first, then the backup while the writers go on.
    crate::helpers::eventually(Duration::from_secs(60), "30 screenings", || async {
        (committed.lock().expect("the list").len() >= 30).then_some(())
    })
    .await;
    let dir = tempfile::tempdir().expect("a folder");
    let snapshot = dir.path().join("careline-backup.db");
    let before: BTreeSet<String> = committed
        .lock()
        .expect("the list")
        .iter()
        .cloned()
        .collect();
    let run = careline(
        app.database_url(),
        &["backup", snapshot.to_str().expect("UTF-8")],
    )
    .await;
    let after_count = committed.lock().expect("the list").len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("a writer finished");
    }
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert!(run.output.contains("backup written to"), "{}", run.output);
    assert!(
        after_count > before.len(),
        "the writers kept writing during the backup ({} then {after_count})",
        before.len()
    );
    assert_eq!(
        files_in(dir.path()),
        ["careline-backup.db"],
        "only the backup is left"
    );

    // The snapshot opens as a Careline database: its schema is current (nothing to migrate)
    // and it holds every screening answered 201 before the backup began.
    let url = format!("sqlite://{}", snapshot.display());
    let ids = before.clone();
    let (pending, missing, total) = tokio::task::spawn_blocking(move || {
        let pool = db::connect(&DatabaseSettings {
            url,
            pool_size: 1,
            timeout: Duration::from_secs(5),
        })
        .expect("the snapshot opens");
        let mut conn = pool.get().expect("a connection");
        let pending = db::migrate(&mut conn).expect("the migrations check");
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| {
                db::screenings::find(&mut conn, id)
                    .expect("read a screening")
                    .is_none()
            })
            .cloned()
            .collect();
        let total = db::screenings::count(&mut conn).expect("count");
        (pending, missing, total)
    })
    .await
    .expect("the check ran");
    assert!(
        pending.is_empty(),
        "the snapshot needed migrations: {pending:?}"
    );
    assert!(
        missing.is_empty(),
        "{} of {} committed screenings missing from the snapshot",
        missing.len(),
        before.len()
    );
    assert!(total >= before.len() as i64);
    assert!(
        run.output.contains(&format!("{total} screenings")),
        "{}",
        run.output
    );
}

#[actix_web::test]
async fn bad_backup_targets_are_refused_and_nothing_is_written() {
    let app = spawn_app(Backend::Sqlite).await;
    let url = app.database_url().to_string();
    let dir = tempfile::tempdir().expect("a folder");

    // An existing file is never overwritten.
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"keep me").expect("write");
    let run = careline(&url, &["backup", existing.to_str().expect("UTF-8")]).await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(run.output.contains("already exists"), "{}", run.output);
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");

    // A folder that does not exist (here: below a file).
    let below_file = existing.join("backup.db");
    let run = careline(&url, &["backup", below_file.to_str().expect("UTF-8")]).await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output.contains("is not an existing folder"),
        "{}",
        run.output
    );
    assert_eq!(files_in(dir.path()), ["existing.db"]);

    // A folder that cannot be written: read-only, or (when the tests run as root, who may
    // write anyway) /proc.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    let privileged = std::fs::write(locked.join("probe"), b"x").is_ok();
    let _ = std::fs::remove_file(locked.join("probe"));
    let target = if privileged {
        std::path::PathBuf::from(format!(
            "/proc/careline-backup-{}.db",
            uuid::Uuid::new_v4().simple()
        ))
    } else {
        locked.join("backup.db")
    };
    let run = careline(&url, &["backup", target.to_str().expect("UTF-8")]).await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output
            .contains(&format!("cannot write the backup {}", target.display())),
        "{}",
        run.output
    );
    assert!(!target.exists());
    assert!(files_in(&locked).is_empty(), "{:?}", files_in(&locked));

    // PostgreSQL: pg_dump, with the exact command, and the URL's password is not echoed.
    let pg_target = dir.path().join("pg.db");
    let run = careline(
        "postgres://careline:pw-not-to-echo@127.0.0.1:5432/careline",
        &["backup", pg_target.to_str().expect("UTF-8")],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output
            .contains("pg_dump --format=custom --file=careline.dump \"$CARELINE__DATABASE__URL\""),
        "{}",
        run.output
    );
    assert!(!run.output.contains("pw-not-to-echo"), "{}", run.output);
    assert!(!pg_target.exists());

    // No database at the configured path: said, and none is created.
    let nowhere = dir.path().join("no-such.db");
    let run = careline(
        &format!("sqlite://{}", nowhere.display()),
        &["backup", dir.path().join("b.db").to_str().expect("UTF-8")],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(run.output.contains("no SQLite database"), "{}", run.output);
    assert!(!nowhere.exists());
    assert_eq!(files_in(dir.path()).len(), 2, "{:?}", files_in(dir.path()));
}
