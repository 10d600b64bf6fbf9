//! A database failure never costs the rider the result: valid answers are scored first, and if
//! they cannot be stored the answer is a 503 `not_saved` that still carries the result (crisis
//! lines first on red), logged with the cause, with no internals in the body.

use crate::helpers::{Backend, GREEN, RED, captured_logs, created, phq9_body, spawn_app};
use diesel::RunQueryDsl;

async fn a_database_failure_still_returns_the_result_and_logs_the_cause(backend: Backend) {
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
    let response = app.post_screening(&phq9_body(RED)).await;
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    rename("screenings_away", "screenings").await;

    assert_eq!(body["error"]["code"], "not_saved", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(body["result"]["outcome"]["tier"], "red");
    assert_eq!(
        body["result"]["id"], "",
        "nothing was stored, so there is no id"
    );
    let numbers: Vec<&str> = body["result"]["crisis_lines"]
        .as_array()
        .expect("crisis lines")
        .iter()
        .filter_map(|l| l["number"].as_str())
        .collect();
    assert_eq!(numbers, ["12356", "110", "120"]);
    let text = body.to_string().to_lowercase();
    for internal in ["screenings_away", "relation", "diesel", "sql"] {
        assert!(!text.contains(internal), "`{internal}` leaks in {text}");
    }
    assert!(
        captured_logs()
            .lines()
            .any(|l| l.contains("could not be saved") && l.contains("screenings")),
        "the log has the cause"
    );
    assert_eq!(app.rows().await, before, "nothing stored");
}

backend_tests!(a_database_failure_still_returns_the_result_and_logs_the_cause);
