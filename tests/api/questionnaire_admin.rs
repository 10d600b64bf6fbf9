//! Administrators manage questionnaires (issue 14), through HTTP on both databases: a broken
//! file listed with its line and column within two seconds; a restart with the broken file
//! still serving the last good version; the what-would-change report of moving PHQ-9's
//! `moderate` cut from 10 to 12 over stored screenings; publish, an unbumped version refused,
//! roll back, withdraw and restore; who may call what; bad inputs changing nothing.
//!
//! Every test serves a COPY of the questionnaire folder: the repository's files never change.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use careline::db;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, Staff, TestApp, Tweak, assert_error, created, eventually, ok, phq9_body,
    spawn_app_with,
};

const MODERATE_10: &str = r#"{ name = "moderate", min = 10, tier = "yellow" }"#;
const MODERATE_12: &str = r#"{ name = "moderate", min = 12, tier = "yellow" }"#;
const SEVERE_BAND: &str = r#"{ name = "severe", min = 20, tier = "red" }"#;

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            copy_questionnaires: true,
            ..AppOptions::default()
        },
    )
    .await
}

fn phq9_path(app: &TestApp) -> std::path::PathBuf {
    app.questionnaire_dir().join("phq9.toml")
}

fn phq9_source(app: &TestApp) -> String {
    std::fs::read_to_string(phq9_path(app)).expect("phq9.toml")
}

/// The examples of the shipped PHQ-9 whose total is 10 to 12: moderate now, mild after the edit.
const AT_10_TO_12: [&str; 3] = [
    "moderate starts at 10 and is yellow",
    "11 is moderate",
    "a prorated fractional total lands in its band: 8 x 9 / 7 = 10.3",
];

/// The shipped PHQ-9 with `moderate` starting at 12 (its examples at 10 to 12 now mild and
/// green), as `version`.
fn moderate_at_12(source: &str, version: &str) -> String {
    assert!(source.contains(MODERATE_10) && source.contains(r#"version = "1.1.2""#));
    let mut s = source
        .replace(r#"version = "1.1.2""#, &format!(r#"version = "{version}""#))
        .replace(MODERATE_10, MODERATE_12);
    for name in AT_10_TO_12 {
        let start = s
            .find(&format!("name = \"{name}\""))
            .unwrap_or_else(|| panic!("the example {name:?}"));
        let end = start + s[start..].find("\n\n").unwrap_or(s.len() - start);
        let block = s[start..end]
            .replace("tier = \"yellow\"", "tier = \"green\"")
            .replace("\"moderate\" }", "\"mild\" }");
        assert!(block.contains("\"mild\" }"), "{block}");
        s.replace_range(start..end, &block);
    }
    s
}

/// The shipped PHQ-9 with another version and its top cut point out of range (max is 27).
fn broken(source: &str) -> String {
    assert!(source.contains(SEVERE_BAND));
    source
        .replace(r#"version = "1.1.2""#, r#"version = "1.1.3""#)
        .replace(
            SEVERE_BAND,
            r#"{ name = "severe", min = 30, tier = "red" }"#,
        )
}

/// Writes the whole file at once, as editors do.
fn save(path: &Path, text: &str) {
    let side = path.with_extension("toml.partial");
    std::fs::write(&side, text).expect("write the edit");
    std::fs::rename(&side, path).expect("rename the edit into place");
}

/// 1-based line and column of `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("the needle is in the text");
    let line = text[..offset].matches('\n').count() + 1;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

async fn list(app: &TestApp, admin: &Staff) -> Vec<Value> {
    let body = ok(app
        .get_as(&admin.token, "/api/v1/admin/questionnaires")
        .await)
    .await;
    body["questionnaires"]
        .as_array()
        .expect("questionnaires")
        .clone()
}

async fn entry(app: &TestApp, admin: &Staff, id: &str) -> Option<Value> {
    list(app, admin).await.into_iter().find(|e| e["id"] == id)
}

async fn put(app: &TestApp, token: &str, id: &str, body: &Value) -> reqwest::Response {
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/admin/questionnaires/{id}"),
        Some(token),
    )
    .json(body)
    .send()
    .await
    .expect("the request was sent")
}

async fn served(app: &TestApp, id: &str) -> (u16, Value) {
    let response = app.get_questionnaire(id).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What a publication must leave untouched when it is refused.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    versions: i64,
    publications: i64,
    audit: i64,
    withdrawals: i64,
    file: String,
}

async fn counts(app: &TestApp) -> Counts {
    let (versions, publications, audit, withdrawals) = app
        .with_conn(|c| {
            use db::schema::{audit_log, questionnaire_versions, questionnaire_withdrawals};
            (
                questionnaire_versions::table
                    .count()
                    .get_result::<i64>(c)
                    .expect("count versions"),
                db::questionnaires::count_publications(c).expect("count publications"),
                audit_log::table
                    .filter(audit_log::action.like("questionnaire.%"))
                    .count()
                    .get_result::<i64>(c)
                    .expect("count audit rows"),
                questionnaire_withdrawals::table
                    .count()
                    .get_result::<i64>(c)
                    .expect("count withdrawals"),
            )
        })
        .await;
    Counts {
        versions,
        publications,
        audit,
        withdrawals,
        file: phq9_source(app),
    }
}

async fn a_broken_file_shows_in_the_api_with_its_line_and_column_within_two_seconds(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let before = entry(&app, &admin, "phq9").await.expect("phq9 is listed");
    assert_eq!(before["errors"], json!([]));
    assert_eq!(before["version"], "1.1.2");
    assert_eq!(before["serving"], "file");
    assert_eq!(before["offered"], true);
    assert!(before["items"].as_u64() == Some(9) && before["examples"].as_u64() > Some(5));

    let text = broken(&phq9_source(&app));
    save(&phq9_path(&app), &text);
    let (line, col) = position(&text, r#"30, tier = "red""#);
    let expected = format!("{}:{line}:{col}: ", phq9_path(&app).display());
    let refused = eventually(Duration::from_secs(2), "the refusal in the API", || async {
        entry(&app, &admin, "phq9")
            .await
            .filter(|e| e["errors"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await;
    let errors: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().expect("an error string"))
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&expected) && e.contains("30")),
        "an error at {expected}: {errors:?}"
    );
    let shown = &refused["error_lines"][0];
    assert_eq!(shown["line"], line);
    assert_eq!(shown["col"], col);
    assert!(
        shown["text"]
            .as_str()
            .expect("the line")
            .contains("min = 30"),
        "the offending line is shown: {shown}"
    );
    // The previous version keeps serving.
    assert_eq!(refused["version"], "1.1.2");
    assert_eq!(served(&app, "phq9").await.1["version"], "1.1.2");

    // Kept in the database, so every instance lists it (within the sync interval).
    let stored = eventually(Duration::from_secs(5), "the stored refusal", || async {
        app.with_conn(|c| db::questionnaires::refusals(c).expect("refusals"))
            .await
            .into_iter()
            .find(|r| r.questionnaire_id == "phq9")
    })
    .await;
    assert!(stored.errors.contains(&expected), "{}", stored.errors);
    assert_eq!(stored.source, text);

    // Mended: the refusal goes.
    save(
        &phq9_path(&app),
        &text.replace(
            r#"{ name = "severe", min = 30, tier = "red" }"#,
            SEVERE_BAND,
        ),
    );
    eventually(Duration::from_secs(5), "the mended file served", || async {
        let e = entry(&app, &admin, "phq9").await?;
        (e["version"] == "1.1.3" && e["errors"] == json!([])).then_some(())
    })
    .await;
    eventually(Duration::from_secs(5), "the refusal deleted", || async {
        app.with_conn(|c| db::questionnaires::refusals(c).expect("refusals"))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

async fn after_a_restart_with_the_broken_file_riders_get_the_last_good_version_and_the_refusal_is_listed(
    backend: Backend,
) {
    let first = spawn(backend.clone()).await;
    let good_hash = served(&first, "phq9").await.1["content_hash"]
        .as_str()
        .expect("a hash")
        .to_string();
    let text = broken(&phq9_source(&first));
    save(&phq9_path(&first), &text);

    // Another process on the same database and folder, started with the file broken.
    let url = first.database_url().to_string();
    let dir = first.questionnaire_dir();
    let restarted = spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(move |s| {
                s.database.url = url.clone();
                s.questionnaires.dir = dir.clone();
            }))),
            ..AppOptions::default()
        },
    )
    .await;
    let (status, q) = served(&restarted, "phq9").await;
    assert_eq!(status, 200, "PHQ-9 is still offered to riders: {q}");
    assert_eq!(q["version"], "1.1.2");
    assert_eq!(q["content_hash"], good_hash.as_str());
    let body = created(restarted.post_screening(&phq9_body([0; 9])).await).await;
    assert_eq!(body["outcome"]["content_hash"], good_hash.as_str());

    let admin = restarted.staff("admin", &[]).await;
    let e = entry(&restarted, &admin, "phq9")
        .await
        .expect("phq9 listed");
    assert_eq!(e["serving"], "stored", "{e}");
    assert_eq!(e["version"], "1.1.2");
    let (line, col) = position(&text, r#"30, tier = "red""#);
    let expected = format!("{}:{line}:{col}: ", phq9_path(&first).display());
    assert!(
        e["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.starts_with(&expected))),
        "the refusal is listed after the restart: {e}"
    );
}

/// Stores `n` PHQ-9 screenings with these answers.
async fn store_screenings(app: &TestApp, answers: [i64; 9], n: usize) {
    for _ in 0..n {
        created(app.post_screening(&phq9_body(answers)).await).await;
    }
}

const TEN: [i64; 9] = [3, 3, 3, 1, 0, 0, 0, 0, 0];
const ELEVEN: [i64; 9] = [3, 3, 3, 2, 0, 0, 0, 0, 0];
const FOURTEEN: [i64; 9] = [2, 2, 2, 2, 2, 2, 1, 1, 0];
const THREE: [i64; 9] = [1, 1, 1, 0, 0, 0, 0, 0, 0];

async fn a_preview_moving_phq9_moderate_from_10_to_12_reports_exactly_how_many_moved_yellow_to_green(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    // 7 at 10 and 5 at 11: 12 move from yellow to green; 10 at 14 stay yellow; 3 green stay
    // green (under privacy.min_cell = 10: suppressed).
    store_screenings(&app, TEN, 7).await;
    store_screenings(&app, ELEVEN, 5).await;
    store_screenings(&app, FOURTEEN, 10).await;
    store_screenings(&app, THREE, 3).await;
    // Another questionnaire's screenings are not counted.
    created(
        app.post_screening(&json!({
            "questionnaire": "gad7",
            "answers": crate::helpers::gad7_answers([3, 3, 3, 1, 0, 0, 0]),
            "locale": "zh-CN",
        }))
        .await,
    )
    .await;
    let before = counts(&app).await;
    let source = moderate_at_12(&phq9_source(&app), "1.2.0");

    // Supervisors may view the report.
    for who in [&admin, &supervisor] {
        let report = ok(app
            .post_as(
                &who.token,
                "/api/v1/admin/questionnaires/phq9/preview",
                Some(&json!({"source": source, "days": 90})),
            )
            .await)
        .await;
        assert_eq!(report["version"], "1.2.0");
        assert_eq!(report["current_version"], "1.1.2");
        assert_eq!(report["screenings"], 25);
        assert_eq!(report["days"], 90);
        let cell = |from: &str, to: &str| {
            report["tier_changes"]
                .as_array()
                .expect("tier_changes")
                .iter()
                .find(|c| c["from"] == from && c["to"] == to)
                .cloned()
        };
        assert_eq!(
            cell("yellow", "green").expect("yellow -> green")["count"],
            12
        );
        assert_eq!(
            cell("yellow", "yellow").expect("yellow -> yellow")["count"],
            10
        );
        let small = cell("green", "green").expect("green -> green");
        assert_eq!(small["count"], Value::Null, "3 is under min_cell: {small}");
        assert_eq!(small["suppressed"], true);
        assert!(cell("green", "yellow").is_none() && cell("yellow", "red").is_none());
        assert_eq!(report["tier_changes"].as_array().map(Vec::len), Some(3));
        let band = |id: &str| {
            report["bands"]
                .as_array()
                .expect("bands")
                .iter()
                .find(|b| b["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("{id} in {}", report["bands"]))
        };
        assert_eq!(band("total.moderate")["stopped_firing"], 12);
        assert_eq!(band("total.moderate")["newly_firing"], 0);
        assert_eq!(band("total.mild")["newly_firing"], 12);
        // The examples at 10 and 11 change outcome (in both files).
        let changed: Vec<&str> = report["examples"]
            .as_array()
            .expect("examples")
            .iter()
            .map(|e| e["name"].as_str().expect("a name"))
            .collect();
        assert!(
            AT_10_TO_12.iter().all(|name| changed.contains(name))
                && !changed.contains(&"14 is the top of moderate"),
            "{changed:?}"
        );
        // The form as a rider would see it.
        assert_eq!(report["form"]["items"].as_array().map(Vec::len), Some(9));
    }
    let default_window = ok(app
        .post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/phq9/preview",
            Some(&json!({"source": source})),
        )
        .await)
    .await;
    assert_eq!(default_window["days"], 90, "90 days by default");
    assert_eq!(default_window["screenings"], 25);
    // A preview changes nothing.
    assert_eq!(counts(&app).await, before);
    assert_eq!(served(&app, "phq9").await.1["version"], "1.1.2");
}

async fn publish_serves_the_new_version_and_writes_one_audit_row(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    store_screenings(&app, TEN, 2).await;
    let before = counts(&app).await;
    let source = moderate_at_12(&phq9_source(&app), "1.2.0");
    let published = ok(put(&app, &admin.token, "phq9", &json!({"source": source})).await).await;
    assert_eq!(published["version"], "1.2.0");
    assert_eq!(published["old_version"], "1.1.2");
    assert_eq!(published["kind"], "publish");
    let hash = careline::questionnaire::content_hash(&source);
    assert_eq!(published["content_hash"], hash.as_str());

    // Served at once, and the file in the folder is the text.
    let (_, q) = served(&app, "phq9").await;
    assert_eq!(q["version"], "1.2.0");
    assert_eq!(q["content_hash"], hash.as_str());
    assert_eq!(phq9_source(&app), source);
    let leftovers: Vec<_> = std::fs::read_dir(app.questionnaire_dir())
        .expect("the folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );
    // A total of 10 is now mild and green.
    let body = created(app.post_screening(&phq9_body(TEN)).await).await;
    assert_eq!(body["outcome"]["tier"], "green");
    assert_eq!(body["outcome"]["bands"]["total"], "mild");

    let after = counts(&app).await;
    assert_eq!(after.audit, before.audit + 1, "one audit row");
    assert_eq!(after.publications, before.publications + 1);
    let rows: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|r| r.action == "questionnaire.publish")
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(rows[0].target.as_deref(), Some("phq9"));
    let detail: Value = serde_json::from_str(&rows[0].detail).expect("JSON detail");
    assert_eq!(detail["content_hash"], hash.as_str());
    assert_eq!(detail["old_version"], "1.1.2");
    assert_eq!(detail["new_version"], "1.2.0");
    assert_eq!(detail["report"]["days"], 90);
    assert!(
        !rows[0].detail.contains("answers"),
        "no answers in the audit log"
    );

    // The history lists both versions with their use, and the diff the changed cut.
    let history = ok(app
        .get_as(&admin.token, "/api/v1/admin/questionnaires/phq9")
        .await)
    .await;
    let versions = history["versions"].as_array().expect("versions");
    let old = versions
        .iter()
        .find(|v| v["version"] == "1.1.2")
        .expect("1.1.2 in the history");
    assert_eq!(
        old["screenings"],
        Value::Null,
        "2 screenings: under min_cell"
    );
    assert!(old["first_used_at"].is_string() && old["last_used_at"].is_string());
    let new = versions
        .iter()
        .find(|v| v["version"] == "1.2.0")
        .expect("1.2.0 in the history");
    assert_eq!(new["live"], true);
    assert_eq!(old["live"], false);
    assert_eq!(
        history["publications"][0]["published_by"],
        admin.id.as_str()
    );
    let diff = ok(app
        .get_as(
            &admin.token,
            "/api/v1/admin/questionnaires/phq9/diff?from=1.1.2&to=1.2.0",
        )
        .await)
    .await;
    let text = diff["diff"].as_str().expect("a diff");
    assert!(
        text.contains(&format!("-  {MODERATE_10},"))
            && text.contains(&format!("+  {MODERATE_12},")),
        "{text}"
    );
    assert!(text.contains("-version = \"1.1.2\"") && text.contains("+version = \"1.2.0\""));
}

async fn an_unbumped_version_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let before = counts(&app).await;
    let original = phq9_source(&app);
    // The same version with another cut, a lower version, and the very text served.
    let same = moderate_at_12(&original, "1.1.2");
    let lower = moderate_at_12(&original, "1.0.9");
    for source in [&same, &lower, &original] {
        let body = assert_error(
            put(&app, &admin.token, "phq9", &json!({"source": source})).await,
            409,
            "version_not_bumped",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("a message")
                .contains("1.1.2"),
            "{body}"
        );
    }
    assert_eq!(counts(&app).await, before);
    assert_eq!(served(&app, "phq9").await.1["version"], "1.1.2");
}

async fn roll_back_publishes_a_stored_earlier_version_as_a_new_version(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let original = phq9_source(&app);
    ok(put(
        &app,
        &admin.token,
        "phq9",
        &json!({"source": moderate_at_12(&original, "1.2.0")}),
    )
    .await)
    .await;
    let rolled = ok(app
        .post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/phq9/rollback",
            Some(&json!({"to": "1.1.2"})),
        )
        .await)
    .await;
    assert_eq!(rolled["version"], "1.2.1", "the next version number");
    assert_eq!(rolled["kind"], "rollback");
    let expected = original.replace(r#"version = "1.1.2""#, r#"version = "1.2.1""#);
    assert_eq!(phq9_source(&app), expected);
    let (_, q) = served(&app, "phq9").await;
    assert_eq!(q["version"], "1.2.1");
    assert_eq!(
        q["content_hash"],
        careline::questionnaire::content_hash(&expected).as_str()
    );
    // The cut at 10 is back.
    let body = created(app.post_screening(&phq9_body(TEN)).await).await;
    assert_eq!(body["outcome"]["tier"], "yellow");
    assert_eq!(app.audit_count(Some("questionnaire.rollback")).await, 1);
    // A given number that is not above the highest is refused.
    let before = counts(&app).await;
    assert_error(
        app.post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/phq9/rollback",
            Some(&json!({"to": "1.2.0", "version": "1.2.1"})),
        )
        .await,
        409,
        "version_not_bumped",
    )
    .await;
    assert_eq!(counts(&app).await, before);
}

async fn withdraw_hides_a_questionnaire_from_riders_and_restore_offers_it_again(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let w = ok(app
        .post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/gad7/withdraw",
            None,
        )
        .await)
    .await;
    assert_eq!(w, json!({"id": "gad7", "offered": false, "changed": true}));
    assert_eq!(served(&app, "gad7").await.0, 404);
    let offered = ok(app.get_questionnaires(None).await).await;
    assert!(!offered.to_string().contains("\"gad7\""), "{offered}");
    let before = app.rows().await;
    assert_error(
        app.post_screening(&json!({
            "questionnaire": "gad7",
            "answers": crate::helpers::gad7_answers([0; 7]),
            "locale": "zh-CN",
        }))
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.rows().await, before, "nothing stored");
    let e = entry(&app, &admin, "gad7").await.expect("still listed");
    assert_eq!(
        (e["offered"].clone(), e["withdrawn"].clone()),
        (json!(false), json!(true))
    );
    // Again: nothing changes.
    let again = ok(app
        .post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/gad7/withdraw",
            None,
        )
        .await)
    .await;
    assert_eq!(again["changed"], false);
    ok(app
        .post_as(
            &admin.token,
            "/api/v1/admin/questionnaires/gad7/restore",
            None,
        )
        .await)
    .await;
    assert_eq!(served(&app, "gad7").await.0, 200);
    assert_eq!(app.audit_count(Some("questionnaire.withdraw")).await, 1);
    assert_eq!(app.audit_count(Some("questionnaire.restore")).await, 1);
}

/// Every route of the area, with a body that would succeed for an admin.
fn routes(source: &str) -> Vec<(reqwest::Method, String, Option<Value>)> {
    use reqwest::Method;
    let base = "/api/v1/admin/questionnaires";
    vec![
        (Method::GET, base.to_string(), None),
        (Method::GET, format!("{base}/phq9"), None),
        (
            Method::PUT,
            format!("{base}/phq9"),
            Some(json!({"source": source})),
        ),
        (
            Method::GET,
            format!("{base}/phq9/diff?from=1.1.2&to=1.1.2"),
            None,
        ),
        (
            Method::POST,
            format!("{base}/phq9/preview"),
            Some(json!({"source": source})),
        ),
        (
            Method::POST,
            format!("{base}/phq9/rollback"),
            Some(json!({"to": "1.1.2"})),
        ),
        (Method::POST, format!("{base}/phq9/withdraw"), None),
        (Method::POST, format!("{base}/phq9/restore"), None),
    ]
}

async fn a_counselor_gets_403_on_every_route_and_a_supervisor_only_sees_the_report(
    backend: Backend,
) {
    let app = spawn(backend).await;
    app.create_site("north").await;
    let counselor = app.staff("counselor", &["north"]).await;
    let supervisor = app.staff("supervisor", &["north"]).await;
    let source = moderate_at_12(&phq9_source(&app), "1.2.0");
    let before = counts(&app).await;
    for (method, path, body) in routes(&source) {
        for who in [&counselor, &supervisor] {
            let mut request = app.request(method.clone(), &path, Some(&who.token));
            if let Some(b) = &body {
                request = request.json(b);
            }
            let response = request.send().await.expect("sent");
            if who.role == "supervisor" && path.ends_with("/preview") {
                assert_eq!(response.status().as_u16(), 200, "{method} {path}");
            } else {
                assert_error(response, 403, "forbidden").await;
            }
        }
        let anonymous = app
            .request(method.clone(), &path, None)
            .send()
            .await
            .expect("sent");
        assert_error(anonymous, 401, "unauthorized").await;
    }
    assert_eq!(counts(&app).await, before, "nothing changed");
}

async fn bad_inputs_get_a_clear_error_and_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.staff("admin", &[]).await;
    let original = phq9_source(&app);
    let before = counts(&app).await;
    let t = admin.token.as_str();

    // A text that fails validation: every error as `path:line:col: message`.
    let bad = broken(&original).replace(r#"version = "1.1.3""#, r#"version = "1.3.0""#);
    for path in ["phq9", "phq9/preview"] {
        let response = if path == "phq9" {
            put(&app, t, "phq9", &json!({"source": bad})).await
        } else {
            app.post_as(
                t,
                "/api/v1/admin/questionnaires/phq9/preview",
                Some(&json!({"source": bad})),
            )
            .await
        };
        let body = assert_error(response, 422, "invalid_questionnaire").await;
        let (line, col) = position(&bad, r#"30, tier = "red""#);
        let details = body["error"]["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d
                .as_str()
                .is_some_and(|d| d.starts_with(&format!("phq9.toml:{line}:{col}: ")))),
            "{body}"
        );
    }
    // Not TOML at all; another questionnaire's id; empty; wrong fields; bad `days`.
    let not_toml = assert_error(
        put(
            &app,
            t,
            "phq9",
            &json!({"source": "id = \"phq9\"\nversion = "}),
        )
        .await,
        422,
        "invalid_questionnaire",
    )
    .await;
    assert!(
        not_toml["error"]["details"][0]
            .as_str()
            .expect("an error")
            .starts_with("phq9.toml:2:")
    );
    let gad7 = std::fs::read_to_string(app.questionnaire_dir().join("gad7.toml")).expect("gad7");
    assert_error(
        put(&app, t, "phq9", &json!({"source": gad7})).await,
        422,
        "invalid_questionnaire",
    )
    .await;
    assert_error(
        put(&app, t, "phq9", &json!({"source": "  "})).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        put(&app, t, "phq9", &json!({"text": original})).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        put(&app, t, "phq9", &json!({"source": original, "extra": 1})).await,
        400,
        "bad_request",
    )
    .await;
    for days in [json!(0), json!(4000), json!(-1), json!("90")] {
        assert_error(
            app.post_as(
                t,
                "/api/v1/admin/questionnaires/phq9/preview",
                Some(&json!({"source": original, "days": days})),
            )
            .await,
            400,
            "bad_request",
        )
        .await;
    }
    // Not JSON.
    let plain = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/admin/questionnaires/phq9",
            Some(t),
        )
        .header("Content-Type", "text/plain")
        .body(original.clone())
        .send()
        .await
        .expect("sent");
    assert_error(plain, 415, "unsupported_media_type").await;
    // Not an id a file may have.
    for id in ["PHQ9", "phq-9", "a.b"] {
        assert_error(
            put(&app, t, id, &json!({"source": original})).await,
            404,
            "not_found",
        )
        .await;
    }
    // Diff, roll back, withdraw: missing or unknown versions and questionnaires.
    let base = "/api/v1/admin/questionnaires";
    assert_error(
        app.get_as(t, &format!("{base}/phq9/diff?from=1.1.2")).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        app.get_as(t, &format!("{base}/phq9/diff?from=1.1.2&to=9.9.9"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get_as(t, &format!("{base}/phq9/diff?from=1&to=2&x=3"))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        app.get_as(t, &format!("{base}/nothing_here")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.post_as(
            t,
            &format!("{base}/phq9/rollback"),
            Some(&json!({"to": "0.0.1"})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.post_as(
            t,
            &format!("{base}/phq9/rollback"),
            Some(&json!({"to": "1.1.2", "version": "2\"\n[x]"})),
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        app.post_as(t, &format!("{base}/phq9/rollback"), None).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        app.post_as(t, &format!("{base}/nothing_here/withdraw"), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(counts(&app).await, before, "nothing changed");
    assert_eq!(phq9_source(&app), original);
}

backend_tests!(
    a_broken_file_shows_in_the_api_with_its_line_and_column_within_two_seconds,
    after_a_restart_with_the_broken_file_riders_get_the_last_good_version_and_the_refusal_is_listed,
    a_preview_moving_phq9_moderate_from_10_to_12_reports_exactly_how_many_moved_yellow_to_green,
    publish_serves_the_new_version_and_writes_one_audit_row,
    an_unbumped_version_is_refused_and_changes_nothing,
    roll_back_publishes_a_stored_earlier_version_as_a_new_version,
    withdraw_hides_a_questionnaire_from_riders_and_restore_offers_it_again,
    a_counselor_gets_403_on_every_route_and_a_supervisor_only_sees_the_report,
    bad_inputs_get_a_clear_error_and_change_nothing,
);
