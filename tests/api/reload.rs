//! Live reload (issue 3): an edit that fails validation is refused while the previous version
//! keeps serving, and the error names file:line:col; a good edit is served at once, and old
//! screenings keep pointing at the version that scored them.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    AppOptions, Backend, GREEN, TestApp, created, eventually, phq9_body, spawn_app_with,
};

const WAIT: Duration = Duration::from_secs(5);
const SEVERE_BAND: &str = r#"{ name = "severe", min = 20, tier = "red" }"#;

async fn spawn_with_copy(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            copy_questionnaires: true,
            ..AppOptions::default()
        },
    )
    .await
}

fn phq9_source(app: &TestApp) -> String {
    std::fs::read_to_string(app.questionnaire_dir().join("phq9.toml")).expect("phq9.toml")
}

/// The shipped PHQ-9 with another version and its top cut point out of range (max is 27).
fn broken_edit(source: &str) -> String {
    assert!(source.contains(SEVERE_BAND) && source.contains(r#"version = "1.1.2""#));
    source
        .replace(r#"version = "1.1.2""#, r#"version = "1.1.3""#)
        .replace(
            SEVERE_BAND,
            r#"{ name = "severe", min = 30, tier = "red" }"#,
        )
}

/// The shipped PHQ-9 with only its version bumped.
fn good_edit(source: &str) -> String {
    source.replace(r#"version = "1.1.2""#, r#"version = "1.2.0""#)
}

/// Writes the whole file at once (write to a side file, then rename, as editors do).
fn save(path: &Path, text: &str) {
    let side = path.with_extension("toml.partial");
    std::fs::write(&side, text).expect("write the edit");
    std::fs::rename(&side, path).expect("rename the edit into place");
}

async fn served_version(app: &TestApp) -> (String, String) {
    let body: Value = app
        .get_questionnaire("phq9")
        .await
        .json()
        .await
        .expect("JSON");
    (
        body["version"].as_str().expect("version").to_string(),
        body["content_hash"].as_str().expect("hash").to_string(),
    )
}

/// The errors kept for phq9.toml, as `path:line:col: message` lines.
fn phq9_errors(app: &TestApp) -> Option<Vec<String>> {
    app.state
        .catalog
        .errors()
        .into_iter()
        .find(|(path, _)| path.ends_with("phq9.toml"))
        .map(|(_, diags)| diags.iter().map(ToString::to_string).collect())
}

/// 1-based line and column of `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("the needle is in the text");
    let line = text[..offset].matches('\n').count() + 1;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Checks that the broken edit is refused, the old version serves and stores its hash, and
/// the error has the file position of the bad cut point.
async fn check_broken_edit_refused(app: &TestApp, old_hash: &str, broken: &str) -> String {
    let (version, hash) = served_version(app).await;
    assert_eq!(version, "1.1.2", "the previous version keeps serving");
    assert_eq!(hash, old_hash);
    let errors = phq9_errors(app).expect("the refused edit is reported");
    // The position is that of the bad value, `30`, on its line.
    let path = app.questionnaire_dir().join("phq9.toml");
    let (line, col) = position(broken, r#"30, tier = "red""#);
    let expected = format!("{}:{line}:{col}: ", path.display());
    let error = errors
        .iter()
        .find(|e| e.starts_with(&expected))
        .unwrap_or_else(|| panic!("an error at {expected}, got {errors:?}"));
    assert!(
        error.contains("30") && error.contains("total"),
        "the message names the value and the score: {error}"
    );
    assert!(
        crate::helpers::captured_logs().contains(error.as_str()),
        "the error is logged as it is reported: {error}"
    );

    // A submission still works and is scored by (and pinned to) the old version.
    let body = created(app.post_screening(&phq9_body(GREEN)).await).await;
    assert_eq!(body["outcome"]["version"], "1.1.2");
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    assert_eq!(row.content_hash, old_hash);
    row.id
}

async fn check_good_edit_served(app: &TestApp, old_hash: &str, old_source: &str, first_id: &str) {
    let good = good_edit(old_source);
    let new_hash = careline::questionnaire::content_hash(&good);
    assert_ne!(new_hash, old_hash);
    assert_eq!(phq9_errors(app), None, "the errors are cleared");
    let (version, hash) = served_version(app).await;
    assert_eq!(
        (version.as_str(), hash.as_str()),
        ("1.2.0", new_hash.as_str())
    );
    let body = created(app.post_screening(&phq9_body(GREEN)).await).await;
    assert_eq!(body["outcome"]["version"], "1.2.0");
    assert_eq!(body["outcome"]["content_hash"], new_hash);
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    assert_eq!(row.content_hash, new_hash);

    // The earlier screening still points at its own version, and both versions are kept.
    let first = app.find_screening(first_id).await;
    assert_eq!(first.content_hash, old_hash);
    assert_eq!(
        app.find_version(old_hash).await,
        Some(("1.1.2".to_string(), old_source.to_string()))
    );
    assert_eq!(
        app.find_version(&new_hash).await,
        Some(("1.2.0".to_string(), good))
    );
}

async fn the_watcher_refuses_a_broken_edit_and_serves_a_good_one(backend: Backend) {
    let app = spawn_with_copy(backend).await;
    let old_source = phq9_source(&app);
    let old_hash = careline::questionnaire::content_hash(&old_source);
    let path = app.questionnaire_dir().join("phq9.toml");
    // A screening before any edit.
    let before = created(app.post_screening(&phq9_body(GREEN)).await).await;
    let before_id = before["id"].as_str().expect("id").to_string();

    let broken = broken_edit(&old_source);
    save(&path, &broken);
    eventually(WAIT, "the watcher to report the broken edit", || async {
        phq9_errors(&app).map(|_| ())
    })
    .await;
    check_broken_edit_refused(&app, &old_hash, &broken).await;

    save(&path, &good_edit(&old_source));
    eventually(WAIT, "the watcher to serve version 1.2.0", || async {
        (served_version(&app).await.0 == "1.2.0").then_some(())
    })
    .await;
    check_good_edit_served(&app, &old_hash, &old_source, &before_id).await;
}

async fn reload_refuses_a_broken_edit_and_serves_a_good_one(backend: Backend) {
    // The same through `LiveCatalog::reload` (what SIGHUP runs), independent of the watcher.
    let app = spawn_with_copy(backend).await;
    let old_source = phq9_source(&app);
    let old_hash = careline::questionnaire::content_hash(&old_source);
    let path = app.questionnaire_dir().join("phq9.toml");
    let before = created(app.post_screening(&phq9_body(GREEN)).await).await;
    let before_id = before["id"].as_str().expect("id").to_string();
    let reload = || {
        let catalog = std::sync::Arc::clone(&app.state.catalog);
        async move {
            tokio::task::spawn_blocking(move || catalog.reload())
                .await
                .expect("reload ran")
                .expect("the folder is readable");
        }
    };

    let broken = broken_edit(&old_source);
    std::fs::write(&path, &broken).expect("write");
    reload().await;
    check_broken_edit_refused(&app, &old_hash, &broken).await;
    // Refused again on the next reload: still the old version, still reported.
    reload().await;
    check_broken_edit_refused(&app, &old_hash, &broken).await;

    std::fs::write(&path, good_edit(&old_source)).expect("write");
    reload().await;
    check_good_edit_served(&app, &old_hash, &old_source, &before_id).await;

    // A deleted file is withdrawn; put back, it is offered again.
    let gad7 = app.questionnaire_dir().join("gad7.toml");
    let gad7_source = std::fs::read_to_string(&gad7).expect("gad7.toml");
    std::fs::remove_file(&gad7).expect("remove gad7");
    reload().await;
    assert_eq!(app.get_questionnaire("gad7").await.status().as_u16(), 404);
    let readyz: Value = app.get_readyz().await.json().await.expect("JSON");
    assert_eq!(readyz["questionnaires"], 8);
    std::fs::write(&gad7, gad7_source).expect("restore gad7");
    reload().await;
    assert_eq!(app.get_questionnaire("gad7").await.status().as_u16(), 200);
}

backend_tests!(
    the_watcher_refuses_a_broken_edit_and_serves_a_good_one,
    reload_refuses_a_broken_edit_and_serves_a_good_one,
);

#[cfg(unix)]
async fn sighup_reloads_the_catalog(backend: Backend) {
    use tokio::signal::unix::{SignalKind, signal};
    let app = spawn_with_copy(backend).await;
    // Our own listener first: once one is registered, SIGHUP no longer ends the process, even
    // if it arrives before the application's listener is in place.
    let _ours = signal(SignalKind::hangup()).expect("listen for SIGHUP");
    let (reloads, _) = app.state.catalog.counters();
    let pid = std::process::id().to_string();
    eventually(WAIT, "a reload after SIGHUP", || {
        let pid = pid.clone();
        let app = &app;
        async move {
            let status = std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .expect("run kill");
            assert!(status.success());
            tokio::time::sleep(Duration::from_millis(100)).await;
            (app.state.catalog.counters().0 > reloads).then_some(())
        }
    })
    .await;
    // Nothing changed on disk: still the shipped version.
    assert_eq!(served_version(&app).await.0, "1.1.2");
}

#[cfg(unix)]
backend_tests!(sighup_reloads_the_catalog);

#[test]
fn a_reload_never_publishes_an_older_reading_of_the_folder() {
    // The watcher and SIGHUP can reload at the same time. Whatever the interleaving, once a
    // reload returns, the catalog is at least as new as the folder was when it started.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use careline::catalog::LiveCatalog;

    let dir = tempfile::tempdir().expect("a temporary folder");
    let shipped =
        std::fs::read_to_string(crate::helpers::shipped_questionnaires().join("phq9.toml"))
            .expect("phq9.toml");
    let path = dir.path().join("phq9.toml");
    std::fs::write(&path, &shipped).expect("write");
    let live = Arc::new(LiveCatalog::load(dir.path()).expect("load"));
    let stop = Arc::new(AtomicBool::new(false));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let (live, stop) = (Arc::clone(&live), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    live.reload().expect("reload");
                }
            })
        })
        .collect();
    let mut stale = Vec::new();
    for i in 0..40 {
        let version = format!("1.0.{}", i + 1);
        save(
            &path,
            &shipped.replace(r#"version = "1.1.2""#, &format!(r#"version = "{version}""#)),
        );
        live.reload().expect("reload");
        let served = live.get().get("phq9").map(|q| q.version.clone());
        if served.as_deref() != Some(version.as_str()) {
            stale.push((version, served));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in others {
        t.join().expect("a reloading thread");
    }
    assert!(stale.is_empty(), "stale catalogs after reload: {stale:?}");
}
