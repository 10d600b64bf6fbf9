//! Bad input gets a clear error and changes nothing: every case checks the JSON error shape
//! and that the row counts are what they were before.

use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, GREEN, Rows, TestApp, assert_error, assert_error_shape, created,
    gad7_answers, phq9_body, spawn_app, spawn_app_with,
};

/// Stores one good screening, so "nothing changed" is checked against rows that exist.
async fn baseline(app: &TestApp) -> Rows {
    created(app.post_screening(&phq9_body(GREEN)).await).await;
    let rows = app.rows().await;
    assert_eq!(
        rows,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 0
        }
    );
    rows
}

async fn post_json_text(app: &TestApp, text: &str) -> reqwest::Response {
    app.post_screening_raw(text.to_string(), &[("Content-Type", "application/json")])
        .await
}

/// `details` of a 422, as (item, code) pairs.
fn item_errors(body: &Value) -> Vec<(String, String)> {
    body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            assert!(
                d["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every entry says what is wrong: {d}"
            );
            (
                d["item"].as_str().unwrap_or("").to_string(),
                d["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(i, c)| (i.to_string(), c.to_string()))
        .collect()
}

async fn malformed_json_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    for text in [
        r#"{"questionnaire": "phq9", "answers": {"#,
        r#"{"questionnaire": "phq9", "answers": {"q1": 0,}}"#,
        "",
        "not json",
    ] {
        let body = assert_error(post_json_text(&app, text).await, 400, "bad_request").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not a valid screening")),
            "{text:?}: {body}"
        );
    }
    assert_eq!(app.rows().await, before);
}

async fn json_that_is_not_a_screening_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let answers = serde_json::to_string(&crate::helpers::phq9_answers(GREEN)).expect("JSON");
    let cases = [
        ("[]".to_string(), "a list"),
        ("null".to_string(), "null"),
        (r#"{"questionnaire": "phq9"}"#.to_string(), "answers"),
        (format!(r#"{{"answers": {answers}}}"#), "questionnaire"),
        (
            format!(r#"{{"questionnaire": "phq9", "answers": {answers}, "extra": 1}}"#),
            "extra",
        ),
        (
            format!(r#"{{"questionnaire": "phq9", "answers": {answers}, "locale": 5}}"#),
            "locale",
        ),
        (
            r#"{"questionnaire": "phq9", "answers": [0, 0, 0]}"#.to_string(),
            "answers",
        ),
        (
            format!(r#"{{"questionnaire": 9, "answers": {answers}}}"#),
            "questionnaire",
        ),
        (
            format!(
                r#"{{"questionnaire": "phq9", "questionnaire": "gad7", "answers": {answers}}}"#
            ),
            "duplicate",
        ),
        (
            format!(
                r#"{{"questionnaire": "phq9", "answers": {answers}, "consent_to_contact": "yes"}}"#
            ),
            "consent_to_contact",
        ),
    ];
    for (text, named) in cases {
        let body = assert_error(post_json_text(&app, &text).await, 400, "bad_request").await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        // Missing, unknown and duplicate fields are named; a value of the wrong type is
        // located by line and column (serde does not name the field).
        assert!(
            message.contains(named) || message.contains("line 1 column"),
            "{text}: the message names `{named}` or says where: {message}"
        );
    }
    assert_eq!(app.rows().await, before);
}

async fn unknown_questionnaire_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let body = assert_error(
        app.post_screening(&json!({"questionnaire": "phq10", "answers": {"q1": 0}}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("phq10")),
        "{body}"
    );
    assert_eq!(app.rows().await, before);
}

/// A valid screening padded with spaces to exactly `len` bytes.
fn padded_screening(len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&phq9_body(GREEN)).expect("JSON");
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

const LIMIT: usize = 1024;

async fn bodies_over_the_limit_are_413(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            body_limit: Some(LIMIT),
            ..AppOptions::default()
        },
    )
    .await;
    let before = baseline(&app).await;
    let json = [("Content-Type", "application/json")];

    // Exactly at the limit is fine.
    created(app.post_screening_raw(padded_screening(LIMIT), &json).await).await;
    let before = Rows {
        screenings: before.screenings + 1,
        ..before
    };
    assert_eq!(app.rows().await, before);

    // One byte over, and far over: refused, though the body is a valid screening.
    for len in [LIMIT + 1, 64 * LIMIT] {
        let body = assert_error(
            app.post_screening_raw(padded_screening(len), &json).await,
            413,
            "payload_too_large",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&LIMIT.to_string())),
            "the message gives the limit: {body}"
        );
    }
    assert_eq!(app.rows().await, before);
}

async fn chunked_bodies_over_the_limit_are_413(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            body_limit: Some(LIMIT),
            ..AppOptions::default()
        },
    )
    .await;
    let before = baseline(&app).await;
    let path = "/api/v1/screenings";

    // No Content-Length: the limit holds while reading. Under it, a chunked body is fine.
    let small: Vec<Vec<u8>> = padded_screening(LIMIT)
        .chunks(100)
        .map(<[u8]>::to_vec)
        .collect();
    let (status, body) = app.post_chunked(path, small).await;
    assert_eq!(status, 201, "{body}");
    let before = Rows {
        screenings: before.screenings + 1,
        ..before
    };

    for len in [LIMIT + 1, 64 * LIMIT] {
        let chunks: Vec<Vec<u8>> = padded_screening(len)
            .chunks(256)
            .map(<[u8]>::to_vec)
            .collect();
        let (status, body) = app.post_chunked(path, chunks).await;
        assert_eq!(status, 413, "{len} bytes: {body}");
        assert_error_shape(&body, "payload_too_large");
    }
    assert_eq!(app.rows().await, before);
}

async fn the_configured_body_limit_applies_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let limit = app.state.settings.server.body_limit;
    assert_eq!(limit, 65536, "config/default.toml");
    assert_error(
        app.post_screening_raw(
            padded_screening(limit + 1),
            &[("Content-Type", "application/json")],
        )
        .await,
        413,
        "payload_too_large",
    )
    .await;
    assert_eq!(app.rows().await, before);
}

async fn a_body_that_is_not_json_is_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let good = serde_json::to_vec(&phq9_body(GREEN)).expect("JSON");
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| ("Content-Type", c))
            .into_iter()
            .collect();
        let body = assert_error(
            app.post_screening_raw(good.clone(), &headers).await,
            415,
            "unsupported_media_type",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("application/json")),
            "{content_type:?}: {body}"
        );
    }
    assert_eq!(app.rows().await, before);
}

async fn every_bad_item_gets_its_own_entry(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    // gad7: no optional items.
    let text = r#"{"questionnaire": "gad7", "answers": {
        "q1": 9, "q2": 1.5, "q3": "2", "q4": 0, "q4": 1, "q5": true, "q6": 0, "q99": 1
    }}"#;
    let body = assert_error(post_json_text(&app, text).await, 422, "invalid_answers").await;
    assert_eq!(
        item_errors(&body),
        pairs(&[
            ("q1", "not_a_choice"),
            ("q2", "not_a_whole_number"),
            ("q3", "not_a_whole_number"),
            ("q4", "duplicate_item"),
            ("q5", "not_a_whole_number"),
            ("q7", "required"),
            ("q99", "unknown_item"),
        ]),
        "{body}"
    );
    assert_eq!(app.rows().await, before);
}

async fn each_kind_of_bad_item_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let with = |item: &str, value: Value| {
        let mut answers = gad7_answers([0; 7]);
        answers[item] = value;
        json!({"questionnaire": "gad7", "answers": answers})
    };
    let cases = [
        (with("q8", json!(0)), ("q8", "unknown_item")),
        (with("q1", json!(4)), ("q1", "not_a_choice")),
        (with("q1", json!(-1)), ("q1", "not_a_choice")),
        (with("q1", json!(1.5)), ("q1", "not_a_whole_number")),
        (with("q1", json!(1.0)), ("q1", "not_a_whole_number")),
        (with("q1", json!("1")), ("q1", "not_a_whole_number")),
        (with("q1", json!([1])), ("q1", "not_a_whole_number")),
        (with("q7", Value::Null), ("q7", "required")),
    ];
    for (request, expected) in cases {
        let body = assert_error(app.post_screening(&request).await, 422, "invalid_answers").await;
        assert_eq!(item_errors(&body), pairs(&[expected]), "{request}");
        let message = body["error"]["details"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(!message.is_empty());
    }
    // A required item left out entirely.
    let mut answers = gad7_answers([0; 7]);
    answers.as_object_mut().expect("object").remove("q3");
    let body = assert_error(
        app.post_screening(&json!({"questionnaire": "gad7", "answers": answers}))
            .await,
        422,
        "invalid_answers",
    )
    .await;
    assert_eq!(item_errors(&body), pairs(&[("q3", "required")]));
    assert_eq!(app.rows().await, before);
}

async fn a_duplicate_key_in_the_answers_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    // Same value twice, and two different values: both refused, not silently collapsed.
    for text in [
        r#"{"questionnaire": "phq9", "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 0, "q9": 0}}"#,
        r#"{"questionnaire": "phq9", "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 1, "q9": 0}}"#,
    ] {
        let body = assert_error(post_json_text(&app, text).await, 422, "invalid_answers").await;
        assert_eq!(item_errors(&body), pairs(&[("q9", "duplicate_item")]));
    }
    assert_eq!(app.rows().await, before);
}

async fn a_hidden_item_answered_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    // ASQ q5 is asked only after a positive screen: with q1-q4 all "no" it is hidden.
    for q5 in [1, 0] {
        let body = assert_error(
            app.post_screening(&json!({
                "questionnaire": "asq",
                "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": q5},
            }))
            .await,
            422,
            "invalid_answers",
        )
        .await;
        assert_eq!(item_errors(&body), pairs(&[("q5", "not_asked")]), "{body}");
    }
    assert_eq!(app.rows().await, before);
    // The same answers without q5 are a negative screen.
    let body = created(
        app.post_screening(&json!({
            "questionnaire": "asq",
            "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0},
        }))
        .await,
    )
    .await;
    assert_eq!(body["outcome"]["tier"], "green");
}

async fn errors_in_fields_other_than_answers_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = baseline(&app).await;
    let mut request = phq9_body(GREEN);
    request["contact"] = json!({"phone": "call me"});
    request["consent_to_contact"] = json!(true);
    let body = assert_error(app.post_screening(&request).await, 422, "invalid_request").await;
    assert_eq!(
        body["error"]["details"][0]["field"], "contact.phone",
        "{body}"
    );
    assert_eq!(app.rows().await, before);
}

backend_tests!(
    malformed_json_is_400,
    json_that_is_not_a_screening_is_400,
    unknown_questionnaire_is_404,
    bodies_over_the_limit_are_413,
    chunked_bodies_over_the_limit_are_413,
    the_configured_body_limit_applies_by_default,
    a_body_that_is_not_json_is_415,
    every_bad_item_gets_its_own_entry,
    each_kind_of_bad_item_is_422,
    a_duplicate_key_in_the_answers_is_422,
    a_hidden_item_answered_is_422,
    errors_in_fields_other_than_answers_are_422,
);
