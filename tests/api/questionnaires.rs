//! `GET /api/v1/questionnaires` and `GET /api/v1/questionnaires/{id}`.

use serde_json::Value;

use crate::helpers::{Backend, assert_error, shipped_questionnaires, spawn_app};

fn shipped_hash(id: &str) -> String {
    let source = std::fs::read_to_string(shipped_questionnaires().join(format!("{id}.toml")))
        .expect("a shipped file");
    careline::questionnaire::content_hash(&source)
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

async fn lists_every_shipped_questionnaire(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_questionnaires(None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    let list = body["questionnaires"].as_array().expect("a list");
    let mut ids: Vec<&str> = list.iter().filter_map(|q| q["id"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "asq",
            "gad7",
            "k10",
            "k6",
            "phq4",
            "phq9",
            "pss10",
            "rider_wellbeing",
            "who5"
        ]
    );
    let phq9 = find(list, "phq9");
    assert_eq!(phq9["version"], "1.1.2");
    assert_eq!(phq9["content_hash"], shipped_hash("phq9"));
    assert_eq!(phq9["items"], 9);
    // zh-CN by default.
    assert_eq!(phq9["title"], "心情状况自评（PHQ-9）");
    assert_eq!(phq9["locales"], serde_json::json!(["zh-CN", "zh-TW", "en"]));
}

async fn lists_titles_in_the_requested_locale(backend: Backend) {
    let app = spawn_app(backend).await;
    let body: Value = app
        .get_questionnaires(Some("en"))
        .await
        .json()
        .await
        .expect("JSON");
    let list = body["questionnaires"].as_array().expect("a list");
    assert_eq!(find(list, "phq9")["title"], "Mood check (PHQ-9)");
    assert_eq!(find(list, "asq")["title"], "Safety check (ASQ)");

    let body: Value = app
        .get_questionnaires(Some("zh-TW"))
        .await
        .json()
        .await
        .expect("JSON");
    let list = body["questionnaires"].as_array().expect("a list");
    assert_eq!(find(list, "phq9")["title"], "心情狀況自評（PHQ-9）");

    // A locale nobody offers falls back to each questionnaire's default.
    let body: Value = app
        .get_questionnaires(Some("fr"))
        .await
        .json()
        .await
        .expect("JSON");
    let list = body["questionnaires"].as_array().expect("a list");
    assert_eq!(find(list, "phq9")["title"], "心情状况自评（PHQ-9）");
}

async fn gets_one_questionnaire(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_questionnaire("phq9").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["id"], "phq9");
    assert_eq!(body["version"], "1.1.2");
    assert_eq!(body["content_hash"], shipped_hash("phq9"));
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 9);
    assert_eq!(items[8]["id"], "q9");
    assert!(
        body.get("source").is_none(),
        "the file source is not part of the API"
    );
}

async fn unknown_questionnaire_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = assert_error(app.get_questionnaire("nope").await, 404, "not_found").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{body}"
    );
}

backend_tests!(
    lists_every_shipped_questionnaire,
    lists_titles_in_the_requested_locale,
    gets_one_questionnaire,
    unknown_questionnaire_is_404,
);
