//! FHIR R4 exports: every shipped questionnaire as a `Questionnaire`, and a screening of each
//! as a `QuestionnaireResponse` (through an alert), validated by an independent library:
//! `fhir.resources` (R4B models) in a Python virtualenv under `target/` (`.ci/run` installs it;
//! without Python and pip the validation is skipped with a message, unless
//! `CARELINE_REQUIRE_SERVICES=1`). Access, contact details only when asked for, and the audit
//! log on both databases.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Backend, RED, assert_error, phq9_body, root, spawn_app};

/// `fhir.resources`, pinned.
const FHIR_RESOURCES: &str = "fhir.resources==8.3.0";
const PHONE: &str = "13912345678";
const NAME: &str = "王小明";

/// The virtualenv's python with `fhir.resources`, made (once) if missing; `None` (skip) when
/// it cannot be made and services are not required.
fn validator_python() -> Option<PathBuf> {
    let venv = root().join("target").join("fhir-venv");
    let python = venv.join("bin").join("python");
    let has = |p: &Path| {
        Command::new(p)
            .args(["-c", "import fhir.resources.R4B.questionnaire"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(&python) {
        return Some(python);
    }
    // The SQLite and PostgreSQL runs are separate processes: one makes the venv, the other
    // waits for it (a folder is the lock: creating one is atomic).
    let lock = root().join("target").join("fhir-venv.lock");
    let _ = std::fs::create_dir_all(root().join("target"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while std::fs::create_dir(&lock).is_err() {
        if has(&python) {
            return Some(python);
        }
        if std::time::Instant::now() > deadline {
            let _ = std::fs::remove_dir(&lock);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    if has(&python) {
        let _ = std::fs::remove_dir(&lock);
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "-q",
                "--disable-pip-version-check",
                FHIR_RESOURCES,
            ])
            .status()
            .is_ok_and(|s| s.success());
    let _ = std::fs::remove_dir(&lock);
    if made && has(&python) {
        return Some(python);
    }
    let why = format!(
        "cannot install {FHIR_RESOURCES} into {} (python3 -m venv and pip)",
        venv.display()
    );
    if std::env::var("CARELINE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{why}, and CARELINE_REQUIRE_SERVICES=1 requires the FHIR validation to run");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {why}\n").as_bytes(),
    );
    None
}

async fn fhir_get(app: &crate::helpers::TestApp, token: Option<&str>, path: &str) -> Value {
    let r = app
        .request(reqwest::Method::GET, path, token)
        .send()
        .await
        .expect("the request was sent");
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(
        r.headers()["content-type"],
        "application/fhir+json",
        "{path}"
    );
    r.json().await.expect("JSON")
}

/// An example of the questionnaire that opens an alert (yellow or red).
fn alerting_example(q: &careline::questionnaire::Questionnaire) -> Value {
    q.examples
        .iter()
        .find(|e| e.tier != careline::questionnaire::Tier::Green)
        .unwrap_or_else(|| panic!("{} has a yellow or red example", q.id))
        .answers
        .clone()
}

async fn every_questionnaire_and_a_screening_of_each_validate(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let catalog = app.state.catalog.get();
    let mut ids: Vec<String> = catalog.iter().map(|q| q.id.clone()).collect();
    ids.sort();
    assert!(ids.len() >= 9, "every shipped questionnaire: {ids:?}");
    for (n, id) in ids.iter().enumerate() {
        let q = catalog.get(id).expect("listed");
        // Public, like GET /api/v1/questionnaires/{id}.
        let resource = fhir_get(&app, None, &format!("/api/v1/fhir/Questionnaire/{id}")).await;
        std::fs::write(
            dir.path().join(format!("questionnaire-{id}.json")),
            resource.to_string(),
        )
        .expect("written");

        let mut body =
            json!({"questionnaire": id, "answers": alerting_example(q), "locale": "zh-CN"});
        // One of them with consented contact details, exported with them.
        let with_contact = n == 0;
        if with_contact {
            body["contact"] = json!({"name": NAME, "phone": PHONE});
            body["consent_to_contact"] = json!(true);
        }
        let alert = app.submit(&body).await.alert_id.expect("an alert");
        let query = if with_contact {
            "?include_contact=true"
        } else {
            ""
        };
        let bundle = fhir_get(
            &app,
            Some(&counselor.token),
            &format!("/api/v1/alerts/{alert}/fhir{query}"),
        )
        .await;
        let text = bundle.to_string();
        assert_eq!(
            text.contains(PHONE),
            with_contact,
            "{id}: contact only when asked"
        );
        std::fs::write(dir.path().join(format!("bundle-{id}.json")), text).expect("written");
    }

    let Some(python) = validator_python() else {
        return;
    };
    let out = Command::new(python)
        .arg(root().join("tests/fhir/validate.py"))
        .arg(dir.path())
        .output()
        .expect("the validator runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "fhir.resources refused an export:\n{report}"
    );
    assert!(
        report.contains(&format!("{} passed, 0 failed", 2 * ids.len())),
        "{report}"
    );
}

async fn phq9_carries_the_published_loinc_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let q = fhir_get(&app, None, "/api/v1/fhir/Questionnaire/phq9").await;
    assert_eq!(q["resourceType"], "Questionnaire");
    assert_eq!(
        q["code"][0],
        json!({"system": "http://loinc.org", "code": "44249-1"})
    );
    let items: Vec<&str> = q["item"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["type"] == "choice")
        .map(|i| i["code"][0]["code"].as_str().expect("a code"))
        .collect();
    assert_eq!(
        items,
        [
            "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
            "44260-8"
        ]
    );
    let answers: Vec<&str> = q["item"][0]["answerOption"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["valueCoding"]["code"].as_str().expect("a code"))
        .collect();
    assert_eq!(answers, ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]);
    let total = q["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["linkId"] == "score-total")
        .expect("the total");
    assert_eq!(total["code"][0]["code"], "44261-6");
    let gad7 = fhir_get(&app, None, "/api/v1/fhir/Questionnaire/gad7").await;
    assert_eq!(gad7["code"][0]["code"], "69737-5");
    // Others: Careline's own code system.
    let k10 = fhir_get(&app, None, "/api/v1/fhir/Questionnaire/k10").await;
    assert_eq!(
        k10["item"][0]["code"][0]["system"],
        "https://careline.invalid/fhir/CodeSystem/k10"
    );
    // A conditional item (ASQ's acuity question) is not required and carries its condition.
    let asq = fhir_get(&app, None, "/api/v1/fhir/Questionnaire/asq").await;
    let q5 = asq["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["linkId"] == "q5")
        .expect("q5");
    assert_eq!(q5["required"], false);
    assert_eq!(
        q5["extension"][0]["url"],
        "https://careline.invalid/fhir/StructureDefinition/show-if"
    );
    assert!(
        q5["extension"][0]["valueString"]
            .as_str()
            .is_some_and(|c| c.contains("q1"))
    );
    // The other languages ride along as translations.
    let langs: Vec<&str> = asq["_title"]["extension"]
        .as_array()
        .expect("translations")
        .iter()
        .map(|t| t["extension"][0]["valueCode"].as_str().expect("a language"))
        .collect();
    assert_eq!(langs, ["zh-TW", "en"]);
    assert_eq!(asq["language"], "zh-CN");
    assert_error(
        app.get("/api/v1/fhir/Questionnaire/nope").await,
        404,
        "not_found",
    )
    .await;
}

async fn the_export_is_audited_and_kept_to_those_who_may_see_the_alert(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let here = app.staff("counselor", &["north"]).await;
    let elsewhere = app.staff("counselor", &["south"]).await;
    let admin = app.staff("admin", &[]).await;
    let mut body = phq9_body(RED);
    body["site"] = "north".into();
    body["contact"] = json!({"name": NAME, "phone": PHONE});
    body["consent_to_contact"] = json!(true);
    let alert = app.submit(&body).await.alert_id.expect("an alert");
    let path = format!("/api/v1/alerts/{alert}/fhir");

    let before = app.audit_count(Some("alert.fhir_exported")).await;
    let plain = fhir_get(&app, Some(&here.token), &path).await;
    assert!(!plain.to_string().contains(PHONE) && !plain.to_string().contains(NAME));
    assert_eq!(
        plain["entry"].as_array().map(Vec::len),
        Some(1),
        "one response, no patient"
    );
    let response = &plain["entry"][0]["resource"];
    assert_eq!(response["resourceType"], "QuestionnaireResponse");
    assert!(response.get("subject").is_none());
    let total = response["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["linkId"] == "score-total")
        .expect("the score");
    assert_eq!(total["answer"][0]["valueDecimal"], json!(1.0));

    let full = fhir_get(
        &app,
        Some(&here.token),
        &format!("{path}?include_contact=true"),
    )
    .await;
    let text = full.to_string();
    assert!(text.contains(PHONE) && text.contains(NAME), "{text}");
    let patient = &full["entry"][0];
    assert_eq!(patient["resource"]["resourceType"], "Patient");
    assert_eq!(
        full["entry"][1]["resource"]["subject"]["reference"],
        patient["fullUrl"]
    );
    assert_eq!(
        app.audit_count(Some("alert.fhir_exported")).await,
        before + 2
    );
    let entries = app.audit_entries().await;
    let last = entries
        .iter()
        .find(|e| e.action == "alert.fhir_exported")
        .expect("audited");
    assert_eq!(last.actor_id.as_deref(), Some(here.id.as_str()));
    let detail: Value = serde_json::from_str(&last.detail).expect("JSON detail");
    assert_eq!(detail["contact"], json!(true), "{detail}");
    assert!(
        !serde_json::to_string(&entries)
            .expect("JSON")
            .contains(PHONE)
    );

    // Another site's counselor: 404 and the attempt audited; admins: 403; nobody: 401.
    let denied = app.audit_count(Some("alert.access_denied")).await;
    assert_error(app.get_as(&elsewhere.token, &path).await, 404, "not_found").await;
    assert_eq!(
        app.audit_count(Some("alert.access_denied")).await,
        denied + 1
    );
    assert_error(app.get_as(&admin.token, &path).await, 403, "forbidden").await;
    assert_error(app.get(&path).await, 401, "unauthorized").await;
    assert_error(
        app.get_as(&here.token, &format!("{path}?include_contact=maybe"))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(
        app.audit_count(Some("alert.fhir_exported")).await,
        before + 2
    );
}

backend_tests!(
    every_questionnaire_and_a_screening_of_each_validate,
    phq9_carries_the_published_loinc_codes,
    the_export_is_audited_and_kept_to_those_who_may_see_the_alert,
);
