//! `GET /healthz` and `GET /readyz`.

use crate::helpers::{Backend, spawn_app};
use serde_json::Value;

async fn healthz_answers_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_healthz().await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_database_and_catalog(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_readyz().await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["database"], "ok", "{body}");
    let shipped = std::fs::read_dir(crate::helpers::shipped_questionnaires())
        .expect("questionnaires/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count();
    assert_eq!(body["questionnaires"], shipped, "{body}");
}

backend_tests!(healthz_answers_ok, readyz_reports_database_and_catalog);
