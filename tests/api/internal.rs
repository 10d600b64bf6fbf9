//! Unexpected failures are an opaque 500 that is logged with a reference, never a 400, and
//! never carry internals to the client.

use crate::helpers::{Backend, GREEN, assert_error, captured_logs, created, phq9_body, spawn_app};
use diesel::RunQueryDsl;

async fn a_database_failure_is_an_opaque_logged_500(backend: Backend) {
    let app = spawn_app(backend).await;
    created(app.post_screening(&phq9_body(GREEN)).await).await;
    let before = app.rows().await;
    let rename = |from: &'static str, to: &'static str| {
        app.with_conn(move |c| {
            diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
                .execute(c)
                .expect("rename the table")
        })
    };
    rename("screenings", "screenings_away").await;
    let body = assert_error(app.post_screening(&phq9_body(GREEN)).await, 500, "internal").await;
    rename("screenings_away", "screenings").await;

    let message = body["error"]["message"].as_str().expect("a message");
    let reference = message
        .split("reference ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("a reference in {message}"));
    for internal in ["screenings", "table", "relation", "diesel", "sql"] {
        assert!(
            !message.to_lowercase().contains(internal),
            "`{internal}` leaks in {message}"
        );
    }
    assert!(
        captured_logs()
            .lines()
            .any(|l| l.contains(reference) && l.contains("screenings")),
        "the log has the reference and the cause"
    );
    assert_eq!(app.rows().await, before, "nothing stored");
}

backend_tests!(a_database_failure_is_an_opaque_logged_500);
