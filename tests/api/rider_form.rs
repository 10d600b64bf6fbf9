//! The rider's form through real HTTP, on both databases: it never depends on a cookie (the
//! client here keeps none), and when the answers cannot be stored the page that says so has the
//! crisis lines first and a way back to the form that keeps the station.

use crate::helpers::{Backend, spawn_app};
use diesel::RunQueryDsl;

/// The value of a hidden field of `page`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    page[start..][..page[start..].find('"').expect("a quote")].to_string()
}

/// The form's hidden fields and `answers`, form-encoded (every value is URL-safe).
fn body(page: &str, answers: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("csrf-token".to_string(), hidden(page, "csrf-token")),
        (
            "idempotency-key".to_string(),
            hidden(page, "idempotency-key"),
        ),
        ("lang".to_string(), "zh-CN".to_string()),
        ("site".to_string(), "s1".to_string()),
    ];
    fields.extend(answers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

const RED: [(&str, &str); 9] = [
    ("q1", "0"),
    ("q2", "0"),
    ("q3", "0"),
    ("q4", "0"),
    ("q5", "0"),
    ("q6", "0"),
    ("q7", "0"),
    ("q8", "0"),
    ("q9", "1"),
];

async fn open_and_send(app: &crate::helpers::TestApp) -> (u16, String) {
    let form = app.get("/s/phq9?site=s1").await;
    assert_eq!(form.status().as_u16(), 200);
    assert!(
        form.headers().get("set-cookie").is_none()
            || !form
                .headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap_or_default().starts_with("careline_csrf")),
        "no CSRF cookie"
    );
    let page = form.text().await.expect("the form");
    let response = app
        .client
        .post(app.url("/s/phq9"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", app.address.clone())
        .body(body(&page, &RED))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a page"))
}

async fn the_form_is_stored_without_any_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.rows().await;
    let (status, page) = open_and_send(&app).await;
    assert_eq!(status, 200, "{page}");
    let first_call = page.find("href=\"tel:").expect("a crisis line");
    assert!(page[first_call..].starts_with("href=\"tel:12356\""));
    assert!(
        first_call < page.find("<h1>").expect("the heading"),
        "crisis lines first"
    );
    assert_eq!(app.rows().await.screenings, before.screenings + 1);
}

backend_tests!(the_form_is_stored_without_any_cookie);

async fn a_form_that_cannot_be_stored_shows_the_crisis_lines_and_a_way_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.rows().await;
    let rename = |from: &'static str, to: &'static str| {
        app.with_conn(move |c| {
            diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
                .execute(c)
                .expect("rename the table")
        })
    };
    rename("screenings", "screenings_away").await;
    let (status, page) = open_and_send(&app).await;
    rename("screenings_away", "screenings").await;
    assert_eq!(status, 503, "{page}");
    let first_call = page.find("href=\"tel:").expect("a crisis line");
    assert!(first_call < page.find("<h1>").expect("the heading"));
    assert!(page.contains("href=\"tel:110\""));
    assert!(
        page.contains("/s/phq9?lang=zh-CN&#38;site=s1"),
        "the way back keeps the station: {page}"
    );
    assert_eq!(app.rows().await, before, "nothing stored");
}

backend_tests!(a_form_that_cannot_be_stored_shows_the_crisis_lines_and_a_way_back);

async fn the_api_tells_a_red_from_refusals_alone_by_its_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |answers: serde_json::Value| {
        let app = &app;
        async move {
            crate::helpers::created(
                app.post_screening(&serde_json::json!({
                    "questionnaire": "asq",
                    "answers": answers,
                    "locale": "zh-CN",
                }))
                .await,
            )
            .await
        }
    };
    // Nothing answered: still red (a refusal counts as positive), in its own words.
    let refused = post(serde_json::json!({})).await;
    assert_eq!(refused["outcome"]["tier"], "red");
    let message = refused["message"].as_str().expect("a message");
    assert!(
        message.contains("有几个关于安全的问题你没有回答"),
        "{message}"
    );
    assert!(!message.contains("谢谢你如实告诉我们"), "{message}");
    // A "yes": the words for a rider who told us.
    let told = post(serde_json::json!({"q1": 1})).await;
    assert_eq!(told["outcome"]["tier"], "red");
    assert!(
        told["message"]
            .as_str()
            .is_some_and(|m| m.contains("谢谢你如实告诉我们")),
        "{told}"
    );
    assert_eq!(app.rows().await.screenings, 2, "both stored, as before");
}

backend_tests!(the_api_tells_a_red_from_refusals_alone_by_its_message);
