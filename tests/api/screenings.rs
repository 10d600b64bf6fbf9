//! `POST /api/v1/screenings` when everything is right: 201 with the outcome, the message and
//! resources of the tier, and a stored row pinned to the exact questionnaire version.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, GREEN, RED, Rows, YELLOW, created, phq9_body, shipped_questionnaires, spawn_app,
};

fn numbers(body: &Value) -> Vec<&str> {
    body["crisis_lines"]
        .as_array()
        .expect("crisis_lines is a list")
        .iter()
        .map(|l| l["number"].as_str().expect("a number"))
        .collect()
}

fn resource_kinds(body: &Value) -> Vec<&str> {
    body["resources"]
        .as_array()
        .expect("resources is a list")
        .iter()
        .map(|l| l["kind"].as_str().expect("a kind"))
        .collect()
}

/// The outcome has the contract shape of DESIGN.md section 6, and nothing else.
fn assert_outcome_shape(outcome: &Value, questionnaire: &str) {
    let mut keys: Vec<&str> = outcome
        .as_object()
        .expect("the outcome is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bands",
            "content_hash",
            "questionnaire",
            "reasons",
            "scores",
            "tier",
            "urgent",
            "version"
        ],
        "{outcome}"
    );
    assert_eq!(outcome["questionnaire"], questionnaire);
    assert!(outcome["version"].is_string());
    assert!(
        outcome["content_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:") && h.len() == 7 + 64),
        "{outcome}"
    );
    assert!(outcome["scores"].is_object());
    assert!(outcome["bands"].is_object());
    assert!(outcome["urgent"].is_boolean());
    for reason in outcome["reasons"].as_array().expect("reasons is a list") {
        assert!(reason["kind"].is_string() && reason["id"].is_string());
        assert!(["green", "yellow", "red"].contains(&reason["tier"].as_str().unwrap_or("")));
    }
}

async fn red_shows_every_crisis_line_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = created(app.post_screening(&phq9_body(RED)).await).await;
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_outcome_shape(&body["outcome"], "phq9");
    assert_eq!(body["outcome"]["tier"], "red");
    assert_eq!(body["outcome"]["urgent"], false);
    assert_eq!(body["outcome"]["scores"]["total"], 1);
    assert_eq!(body["outcome"]["bands"]["total"], "minimal");
    assert!(
        body["outcome"]["reasons"]
            .as_array()
            .expect("reasons")
            .contains(&json!({"kind": "rule", "id": "self_harm", "tier": "red"})),
        "{body}"
    );
    assert_eq!(numbers(&body), ["12356", "110", "120"]);
    assert_eq!(body["crisis_lines"][0]["name"], "全国心理援助热线");
    assert_eq!(body["locale"], "zh-CN");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("谢谢你如实回答")),
        "{body}"
    );
    // No off-site card on red (issue 10): the contact form on the page is the offer.
    assert!(resource_kinds(&body).is_empty(), "{body}");
    assert_eq!(body["contact_offer"], true);
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 1,
            contacts: 0,
            versions: 0
        }
    );
}

async fn yellow_shows_the_hotline_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = created(app.post_screening(&phq9_body(YELLOW)).await).await;
    assert_outcome_shape(&body["outcome"], "phq9");
    assert_eq!(body["outcome"]["tier"], "yellow");
    assert_eq!(body["outcome"]["bands"]["total"], "moderate");
    assert_eq!(numbers(&body), ["12356"]);
    assert_eq!(resource_kinds(&body), ["booking", "self_help"]);
    assert_eq!(body["contact_offer"], true);
}

async fn green_shows_no_crisis_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = created(app.post_screening(&phq9_body(GREEN)).await).await;
    assert_outcome_shape(&body["outcome"], "phq9");
    assert_eq!(body["outcome"]["tier"], "green");
    assert_eq!(body["outcome"]["reasons"][0]["id"], "total.minimal");
    assert_eq!(numbers(&body), Vec::<&str>::new());
    assert_eq!(resource_kinds(&body), ["self_help", "course"]);
    assert_eq!(body["contact_offer"], false);
}

async fn urgent_red_is_flagged_and_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = created(
        app.post_screening(&json!({
            "questionnaire": "asq",
            "answers": {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1},
        }))
        .await,
    )
    .await;
    assert_eq!(body["outcome"]["tier"], "red");
    assert_eq!(body["outcome"]["urgent"], true);
    assert_eq!(numbers(&body), ["12356", "110", "120"]);
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    assert_eq!(row.tier, "red");
    assert!(row.urgent);
}

async fn messages_follow_the_locale_with_a_fallback(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = phq9_body(RED);
    request["locale"] = json!("en");
    let body = created(app.post_screening(&request).await).await;
    assert_eq!(body["locale"], "en");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Thank you for answering honestly")),
        "{body}"
    );
    assert_eq!(
        body["crisis_lines"][0]["name"],
        "National psychological assistance hotline"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("\nCall the support hotline above now")),
        "the red message as short lines: {body}"
    );

    // Locales match without regard to case.
    request["locale"] = json!("zh-tw");
    let body = created(app.post_screening(&request).await).await;
    assert_eq!(body["locale"], "zh-TW");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("謝謝你如實回答")),
        "{body}"
    );

    // A locale the questionnaire does not offer, or none, falls back to its default.
    for locale in [json!("fr"), Value::Null] {
        request["locale"] = locale;
        let body = created(app.post_screening(&request).await).await;
        assert_eq!(body["locale"], "zh-CN");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("谢谢你如实回答")),
            "{body}"
        );
        let row = app.find_screening(body["id"].as_str().expect("id")).await;
        assert_eq!(row.locale, "zh-CN");
    }
}

async fn the_row_keeps_what_was_scored(backend: Backend) {
    let app = spawn_app(backend).await;
    // A screening keeps its site only when the site is known (an unknown one is dropped).
    app.create_site("station-12").await;
    let mut request = phq9_body(YELLOW);
    request["site"] = json!("station-12");
    let body = created(app.post_screening(&request).await).await;
    let id = body["id"].as_str().expect("id");
    let row = app.find_screening(id).await;
    assert_eq!(row.id, id);
    assert_eq!(row.questionnaire_id, "phq9");
    assert_eq!(row.site.as_deref(), Some("station-12"));
    assert_eq!(row.tier, "yellow");
    assert!(!row.urgent);
    assert_eq!(row.locale, "zh-CN");
    assert!(row.idempotency_key.is_none());
    let answers: Value = serde_json::from_str(&row.answers).expect("answers are JSON");
    assert_eq!(answers, request["answers"]);
    let scores: Value = serde_json::from_str(&row.scores).expect("scores are JSON");
    assert_eq!(scores, body["outcome"]["scores"]);
    let bands: Value = serde_json::from_str(&row.bands).expect("bands are JSON");
    assert_eq!(bands, body["outcome"]["bands"]);
    let reasons: Value = serde_json::from_str(&row.reasons).expect("reasons are JSON");
    assert_eq!(reasons, body["outcome"]["reasons"]);

    // Without a site, none is stored.
    let body = created(app.post_screening(&phq9_body(GREEN)).await).await;
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    assert_eq!(row.site, None);
}

async fn a_screening_is_pinned_to_its_exact_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let source =
        std::fs::read_to_string(shipped_questionnaires().join("phq9.toml")).expect("phq9.toml");
    let hash = careline::questionnaire::content_hash(&source);
    let body = created(app.post_screening(&phq9_body(GREEN)).await).await;
    assert_eq!(body["outcome"]["content_hash"], hash);
    assert_eq!(body["outcome"]["version"], "1.1.2");
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    assert_eq!(row.content_hash, hash);
    assert_eq!(
        app.find_version(&hash).await,
        Some(("1.1.2".to_string(), source)),
        "questionnaire_versions holds the file's exact text"
    );
    // The start stored every loaded version (so a file broken later is served from it,
    // issue 14): screenings reuse those rows and add none.
    created(app.post_screening(&phq9_body(RED)).await).await;
    assert_eq!(app.rows().await.versions, 0);
    created(
        app.post_screening(
            &json!({"questionnaire": "gad7", "answers": crate::helpers::gad7_answers([0; 7])}),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.rows().await,
        Rows {
            screenings: 3,
            contacts: 0,
            versions: 0
        }
    );
}

async fn a_json_content_type_with_parameters_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = serde_json::to_vec(&phq9_body(GREEN)).expect("JSON");
    created(
        app.post_screening_raw(body, &[("Content-Type", "application/json; charset=utf-8")])
            .await,
    )
    .await;
    assert_eq!(app.rows().await.screenings, 1);
}

async fn unanswered_optional_items_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    // PHQ-9 allows two missing items (prorated), but an unanswered item 9 is never "no risk".
    let body = created(
        app.post_screening(&json!({
            "questionnaire": "phq9",
            "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": null},
        }))
        .await,
    )
    .await;
    assert_eq!(body["outcome"]["tier"], "yellow");
    let row = app.find_screening(body["id"].as_str().expect("id")).await;
    let answers: Value = serde_json::from_str(&row.answers).expect("JSON");
    assert!(
        answers.get("q9").is_none(),
        "unanswered is not stored as an answer"
    );
}

backend_tests!(
    red_shows_every_crisis_line_in_order,
    yellow_shows_the_hotline_only,
    green_shows_no_crisis_line,
    urgent_red_is_flagged_and_stored,
    messages_follow_the_locale_with_a_fallback,
    the_row_keeps_what_was_scored,
    a_screening_is_pinned_to_its_exact_version,
    a_json_content_type_with_parameters_is_accepted,
    unanswered_optional_items_are_accepted,
);
