//! The rider's own data (issue 10): an admin erases a rider's contact details on request, by
//! phone number matched through the keyed rider hash; and a start that offers riders a
//! questionnaire that is not loaded is refused.

use serde_json::json;

use crate::helpers::{
    Backend, RED, Rows, assert_error, created, phq9_body, shipped_questionnaires, spawn_app,
    test_settings,
};

const PHONE: &str = "13912345678";
const OTHER: &str = "13800001111";
const ERASE: &str = "/api/v1/admin/contacts/erase";

/// A red PHQ-9 with a consented contact; its screening id.
async fn red_with_contact(app: &crate::helpers::TestApp, phone: &str) -> String {
    let mut body = phq9_body(RED);
    body["contact"] = json!({"name": "小王", "phone": phone});
    body["consent_to_contact"] = json!(true);
    let created = created(app.post_screening(&body).await).await;
    created["id"].as_str().expect("an id").to_string()
}

async fn alert_of(app: &crate::helpers::TestApp, screening: &str) -> String {
    let id = screening.to_string();
    app.with_conn(move |c| careline::db::alerts::alert_of_screening(c, &id))
        .await
        .expect("read")
        .expect("an alert")
}

async fn an_admin_erases_a_riders_contacts_by_phone_number(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    // Two screenings of one rider (the second joins the first's alert), one of another rider.
    let first = red_with_contact(&app, PHONE).await;
    let second = red_with_contact(&app, PHONE).await;
    let other = red_with_contact(&app, OTHER).await;
    let alert = alert_of(&app, &first).await;
    assert_eq!(
        alert_of(&app, &second).await,
        alert,
        "the same rider's alert"
    );
    assert!(app.alert_row(&alert).await.rider_key.is_some());
    assert_eq!(app.rows().await.contacts, 3);

    // Written the way the rider says it on the phone: spaces and a dash.
    let response = app
        .post_as(
            &admin.token,
            ERASE,
            Some(&json!({"phone": "139 1234-5678"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"contacts_erased": 2, "alerts_unlinked": 1}));

    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 3,
            contacts: 1,
            versions: 0
        },
        "the other rider's contact stays; every screening stays"
    );
    let row = app.alert_row(&alert).await;
    assert_eq!(row.rider_key, None, "the alert no longer names the rider");
    assert_eq!(row.tier, "red", "the record the counselor needs is kept");
    let events = app.alert_events(&alert).await;
    let erased: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "contact_erased")
        .collect();
    assert_eq!(erased.len(), 1, "{events:?}");
    assert_eq!(erased[0].actor_id.as_deref(), Some(admin.id.as_str()));
    assert!(!erased[0].detail.contains("5678"), "{}", erased[0].detail);
    let other_alert = alert_of(&app, &other).await;
    assert!(app.alert_row(&other_alert).await.rider_key.is_some());

    assert_eq!(app.audit_count(Some("contact.erased")).await, 1);
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "contact.erased")
        .expect("the audit row");
    assert_eq!(entry.actor_id.as_deref(), Some(admin.id.as_str()));
    assert!(
        !entry.detail.contains("5678") && !entry.detail.contains("小王"),
        "no rider data in the audit details: {}",
        entry.detail
    );
    assert!(
        !crate::helpers::captured_logs().contains("1234-5678"),
        "the number is not logged"
    );

    // Again: nothing left to erase under that number, said as such (and audited).
    let response = app
        .post_as(&admin.token, ERASE, Some(&json!({"phone": PHONE})))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"contacts_erased": 0, "alerts_unlinked": 0}));
    assert_eq!(app.rows().await.contacts, 1);
    assert_eq!(app.audit_count(Some("contact.erased")).await, 2);
}

async fn a_bad_erase_request_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    let counselor = app.staff("counselor", &[]).await;
    red_with_contact(&app, PHONE).await;
    let before = app.rows().await;
    for (body, status, code) in [
        (json!({"phone": "abc"}), 422, "invalid_request"),
        (json!({"phone": "1234"}), 422, "invalid_request"),
        (json!({"phone": "1".repeat(21)}), 422, "invalid_request"),
        (json!({}), 400, "bad_request"),
        (json!({"phone": PHONE, "name": "x"}), 400, "bad_request"),
        (json!({"phone": 13912345678_i64}), 400, "bad_request"),
    ] {
        let response = app.post_as(&admin.token, ERASE, Some(&body)).await;
        let error = assert_error(response, status, code).await;
        assert!(
            !error.to_string().contains(PHONE),
            "the error does not echo the number: {error}"
        );
        assert_eq!(app.rows().await, before, "{body}");
    }
    // Not an admin: refused before anything is read.
    let response = app
        .post_as(&counselor.token, ERASE, Some(&json!({"phone": PHONE})))
        .await;
    assert_error(response, 403, "forbidden").await;
    let response = app
        .client
        .post(app.url(ERASE))
        .json(&json!({"phone": PHONE}))
        .send()
        .await
        .expect("sent");
    assert_error(response, 401, "unauthorized").await;
    assert_eq!(app.rows().await, before);
    assert_eq!(app.audit_count(Some("contact.erased")).await, 0);
}

#[actix_web::test]
async fn a_start_offering_a_questionnaire_that_is_not_loaded_is_refused() {
    let dir = tempfile::tempdir().expect("a folder");
    let url = format!("sqlite://{}/careline.db", dir.path().display());
    let mut settings = test_settings(&url, &shipped_questionnaires());
    settings.rider.public_questionnaires = vec!["rider_wellbeing".into(), "phq_9".into()];
    let err = match careline::startup::Application::build(settings).await {
        Ok(_) => panic!("a start offering an unknown questionnaire is refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("`rider.public_questionnaires`")
            && err.contains("\"phq_9\" not a loaded questionnaire")
            && err.contains("rider_wellbeing"),
        "{err}"
    );
}

backend_tests!(
    an_admin_erases_a_riders_contacts_by_phone_number,
    a_bad_erase_request_is_refused_and_changes_nothing,
);
