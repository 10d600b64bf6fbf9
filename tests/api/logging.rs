//! Logs carry ids, never answers, names or phone numbers (DESIGN.md section 5).

use serde_json::json;

use crate::helpers::{Backend, RED, assert_error, captured_logs, created, phq9_body, spawn_app};

const NAME: &str = "MARKER_RIDER_NAME_7Q";
const PHONE: &str = "13912345678";

async fn contact_details_never_reach_the_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut request = phq9_body(RED);
    request["contact"] = json!({"name": NAME, "phone": PHONE});
    request["consent_to_contact"] = json!(true);
    let body = created(app.post_screening_with_key(&request, "log-check-1").await).await;
    let id = body["id"].as_str().expect("id").to_string();
    // A replay, and refusals (no consent, invalid answers, a bad phone) log too.
    created(app.post_screening_with_key(&request, "log-check-1").await).await;
    let mut refused = request.clone();
    refused["consent_to_contact"] = json!(false);
    assert_error(app.post_screening(&refused).await, 422, "invalid_request").await;
    let mut refused = request.clone();
    refused["answers"]["q1"] = json!(7);
    assert_error(app.post_screening(&refused).await, 422, "invalid_answers").await;
    let mut refused = request.clone();
    refused["contact"]["phone"] = json!(format!("{PHONE} call me"));
    assert_error(app.post_screening(&refused).await, 422, "invalid_request").await;
    let mut refused = request.clone();
    refused["contact"]["email"] = json!("MARKER_EMAIL_7Q@example.com");
    assert_error(app.post_screening(&refused).await, 400, "bad_request").await;

    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the screening id in the logs",
        || async { captured_logs().contains(&id).then_some(()) },
    )
    .await;
    let logs = captured_logs();
    for secret in [NAME, PHONE, "12345678", "MARKER_EMAIL_7Q"] {
        assert!(
            !logs.contains(secret),
            "`{secret}` appears in the logs:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

backend_tests!(contact_details_never_reach_the_logs);
