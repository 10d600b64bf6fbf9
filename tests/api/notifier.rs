//! The notifier end to end without an SMTP server: pages are written as `.eml` files.
//! (The SMTP, escalation-timing, crash and multi-worker cases are in `notifier_smtp.rs`.)

use std::time::Duration;

use crate::helpers::{AppOptions, Backend, RED, TestApp, eventually, phq9_body};

/// A shift from an hour ago to an hour from now.
pub async fn on_duty(app: &TestApp, user_id: &str) {
    let user = user_id.to_string();
    app.with_conn(move |c| {
        let now = chrono::Utc::now().naive_utc();
        careline::db::rosters::insert(
            c,
            &careline::db::rosters::ShiftRow {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: user,
                starts_at: now - chrono::Duration::hours(1),
                ends_at: now + chrono::Duration::hours(1),
                created_by: None,
                created_at: now,
            },
            &[],
        )
    })
    .await
    .expect("a shift");
}

fn outbox_files(app: &TestApp) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(app.outbox.path())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .map(|p| std::fs::read_to_string(p).expect("an .eml file"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

async fn a_red_screening_pages_the_on_duty_counselors_of_its_site(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, AppOptions::default()).await;
    app.create_site("station-1").await;
    app.create_site("station-2").await;
    let here = app.create_user("counselor", &["station-1"]).await;
    let elsewhere = app.create_user("counselor", &["station-2"]).await;
    let off_duty = app.create_user("counselor", &["station-1"]).await;
    on_duty(&app, &here.id).await;
    on_duty(&app, &elsewhere.id).await;
    let _ = off_duty;

    let mut body = phq9_body(RED);
    body["site"] = "station-1".into();
    body["contact"] = serde_json::json!({"name": "王小明标记", "phone": "13912345678"});
    body["consent_to_contact"] = true.into();
    let alert_id = app.submit(&body).await.alert_id.expect("an alert");
    let alert = app.alert_row(&alert_id).await;

    let mails = eventually(
        Duration::from_secs(20),
        "the page to be written",
        || async {
            let files = outbox_files(&app);
            (!files.is_empty()).then_some(files)
        },
    )
    .await;
    assert_eq!(
        mails.len(),
        1,
        "only the on-duty counselor of station-1: {mails:?}"
    );
    let mail = &mails[0];
    assert!(mail.contains(&format!("To: {}", here.email)), "{mail}");
    assert!(mail.contains("Message-ID: <"), "{mail}");
    assert!(mail.contains(&alert.reference), "{mail}");
    for secret in ["王小明标记", "13912345678"] {
        assert!(
            !mail.contains(secret),
            "rider data `{secret}` in the mail: {mail}"
        );
        assert!(
            !crate::helpers::captured_logs().contains(secret),
            "`{secret}` in the logs"
        );
    }
    assert!(
        !mail.contains("q9") && !mail.contains("self_harm"),
        "no answers or reasons: {mail}"
    );
    // The timer for the next level is armed.
    let pending = app
        .with_conn(move |c| careline::db::jobs::list_for_alert(c, &alert_id))
        .await
        .expect("jobs");
    assert!(
        pending
            .iter()
            .any(|j| j.kind == "alert.escalate" && j.status == "pending"),
        "{pending:?}"
    );
    // The worker reports itself to /readyz.
    let ready: serde_json::Value = app.get_readyz().await.json().await.expect("JSON");
    assert_eq!(ready["worker"], "ok", "{ready}");
}

backend_tests!(a_red_screening_pages_the_on_duty_counselors_of_its_site);
