//! `Idempotency-Key`: a repeated request is answered with the first response and stores
//! nothing more; the same key with another body is refused.

use serde_json::{Value, json};

use crate::helpers::{Backend, GREEN, RED, Rows, assert_error, created, phq9_body, spawn_app};

async fn the_same_key_and_body_replay_the_first_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = phq9_body(RED);
    request["contact"] = json!({"phone": "13912345678"});
    request["consent_to_contact"] = json!(true);
    let first = app
        .post_screening_with_key(&request, "rider-42-attempt-1")
        .await;
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let first = created(first).await;

    let second = app
        .post_screening_with_key(&request, "rider-42-attempt-1")
        .await;
    assert_eq!(
        second
            .headers()
            .get("Idempotent-Replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let second = created(second).await;
    assert_eq!(
        first, second,
        "the replay is the first response, id included"
    );
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 1,
            versions: 0
        }
    );
    let row = app.find_screening(first["id"].as_str().expect("id")).await;
    assert_eq!(row.idempotency_key.as_deref(), Some("rider-42-attempt-1"));

    // Another key is another screening.
    let third = created(
        app.post_screening_with_key(&request, "rider-42-attempt-2")
            .await,
    )
    .await;
    assert_ne!(third["id"], first["id"]);
    assert_eq!(app.rows().await.screenings, 2);
}

async fn the_same_key_with_another_body_is_409(backend: Backend) {
    let app = spawn_app(backend).await;
    created(app.post_screening_with_key(&phq9_body(GREEN), "k-1").await).await;
    let before = app.rows().await;
    let mut other = phq9_body(RED);
    other["contact"] = json!({"phone": "13912345678"});
    other["consent_to_contact"] = json!(true);
    let body = assert_error(
        app.post_screening_with_key(&other, "k-1").await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{body}"
    );
    assert_eq!(app.rows().await, before);
    // The first request can still be replayed.
    created(app.post_screening_with_key(&phq9_body(GREEN), "k-1").await).await;
    assert_eq!(app.rows().await, before);
}

async fn concurrent_duplicates_store_one_screening(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = phq9_body(RED);
    let sends = (0..10).map(|_| app.post_screening_with_key(&request, "burst-1"));
    let responses = futures_util::future::join_all(sends).await;
    let mut bodies: Vec<Value> = Vec::new();
    for response in responses {
        bodies.push(created(response).await);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every duplicate gets the same response"
    );
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 0
        }
    );
}

async fn concurrent_different_screenings_are_all_stored(backend: Backend) {
    // The converse: concurrency alone loses nothing and merges nothing.
    let app = spawn_app(backend).await;
    let request = phq9_body(RED);
    let keys: Vec<String> = (0..10).map(|i| format!("parallel-{i}")).collect();
    let sends = keys
        .iter()
        .map(|k| app.post_screening_with_key(&request, k));
    let responses = futures_util::future::join_all(sends).await;
    let mut ids = Vec::new();
    for response in responses {
        ids.push(created(response).await["id"].clone());
    }
    ids.sort_by_key(Value::to_string);
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert_eq!(app.rows().await.screenings, 10);
    // The version was stored at the start (issue 14); ten writers add no row.
    assert_eq!(app.rows().await.versions, 0);
}

async fn bad_keys_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = serde_json::to_vec(&phq9_body(GREEN)).expect("JSON");
    let long = "k".repeat(201);
    let error = assert_error(
        app.post_screening_raw(
            body.clone(),
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", long.as_str()),
            ],
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["details"][0]["field"], "Idempotency-Key");
    // Bytes that are not visible ASCII cannot be a key.
    let response = app
        .client
        .post(app.url("/api/v1/screenings"))
        .header("Content-Type", "application/json")
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes("ключ".as_bytes()).expect("obs-text"),
        )
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_error(response, 400, "bad_request").await;
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 0,
            contacts: 0,
            versions: 0
        }
    );
}

async fn a_key_whose_first_use_was_refused_is_still_free(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut bad = phq9_body(GREEN);
    bad["answers"]["q1"] = json!(4);
    assert_error(
        app.post_screening_with_key(&bad, "retry-1").await,
        422,
        "invalid_answers",
    )
    .await;
    // The corrected request under the same key is a first use, not a conflict.
    let response = app
        .post_screening_with_key(&phq9_body(GREEN), "retry-1")
        .await;
    assert!(response.headers().get("Idempotent-Replayed").is_none());
    created(response).await;
    assert_eq!(app.rows().await.screenings, 1);
}

async fn a_replay_after_an_edit_answers_what_the_first_version_scored(backend: Backend) {
    let app = crate::helpers::spawn_app_with(
        backend,
        crate::helpers::AppOptions {
            copy_questionnaires: true,
            ..Default::default()
        },
    )
    .await;
    let first = created(
        app.post_screening_with_key(&phq9_body(GREEN), "across-edit")
            .await,
    )
    .await;
    let path = app.questionnaire_dir().join("phq9.toml");
    let source = std::fs::read_to_string(&path).expect("phq9.toml");
    std::fs::write(
        &path,
        source.replace(r#"version = "1.1.2""#, r#"version = "2.0.0""#),
    )
    .expect("edit phq9");
    let catalog = std::sync::Arc::clone(&app.state.catalog);
    tokio::task::spawn_blocking(move || catalog.reload())
        .await
        .expect("reload ran")
        .expect("reload");
    let replay = created(
        app.post_screening_with_key(&phq9_body(GREEN), "across-edit")
            .await,
    )
    .await;
    assert_eq!(replay, first);
    assert_eq!(replay["outcome"]["version"], "1.1.2");
    assert_eq!(app.rows().await.screenings, 1);
}

backend_tests!(
    a_key_whose_first_use_was_refused_is_still_free,
    a_replay_after_an_edit_answers_what_the_first_version_scored,
    the_same_key_and_body_replay_the_first_response,
    the_same_key_with_another_body_is_409,
    concurrent_duplicates_store_one_screening,
    concurrent_different_screenings_are_all_stored,
    bad_keys_are_refused_and_store_nothing,
);

async fn the_store_turns_a_duplicate_key_into_a_replay(backend: Backend) {
    // Two requests with one key can both pass the look-up before either inserts; the unique
    // key then decides. Exercised here directly, without relying on the timing of a race.
    use careline::db::screenings::{Inserted, NewVersion, ScreeningRow, insert};
    let app = spawn_app(backend).await;
    let inserted = app
        .with_conn(|c| {
            let now = chrono::Utc::now().naive_utc();
            let version = NewVersion {
                content_hash: "sha256:test",
                questionnaire_id: "phq9",
                version: "0.0.1",
                source: "id = \"phq9\"",
                first_used_at: now,
            };
            let row = |id: &str, hash: &str| ScreeningRow {
                id: id.into(),
                questionnaire_id: "phq9".into(),
                content_hash: "sha256:test".into(),
                answers: "{}".into(),
                scores: "{}".into(),
                bands: "{}".into(),
                reasons: "[]".into(),
                tier: "green".into(),
                urgent: false,
                locale: "zh-CN".into(),
                site: None,
                submitted_at: now,
                idempotency_key: Some("same-key".into()),
                request_hash: Some(hash.into()),
                response: Some(format!("{{\"first\":\"{id}\"}}")),
                contact_token_hash: None,
                source_fp: None,
            };
            let first = insert(c, &version, &row("s-1", "h-1"), None, &|_, _| Ok(()))
                .expect("first insert");
            let second = insert(c, &version, &row("s-2", "h-2"), None, &|_, _| Ok(()))
                .expect("second insert");
            (first, second)
        })
        .await;
    assert!(matches!(inserted.0, Inserted::New(_)));
    match inserted.1 {
        Inserted::Duplicate(replay) => {
            assert_eq!(replay.request_hash.as_deref(), Some("h-1"));
            assert_eq!(replay.response.as_deref(), Some("{\"first\":\"s-1\"}"));
        }
        other => panic!("a duplicate, got {other:?}"),
    }
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 1
        }
    );
}

backend_tests!(the_store_turns_a_duplicate_key_into_a_replay);
