//! An administrator edits PHQ-9 in the workspace (issue 14): pastes an edit (a new title and
//! `moderate` from 10 to 12), sees the form as a rider would and the what-would-change report
//! over stored screenings, publishes, and the rider's form shows the change. The server serves
//! a COPY of the questionnaire folder: the repository's files are never changed.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use super::{Db, Setup, session_with_dir};

const OLD_TITLE: &str = "心情状况自评（PHQ-9）";
const NEW_TITLE: &str = "心情状况自评（PHQ-9，修订版）";

/// The shipped PHQ-9 with a new title and `moderate` at 12 (its examples at 10 to 12 mild).
fn edited(source: &str) -> String {
    let mut s = source
        .replace(r#"version = "1.1.2""#, r#"version = "1.2.0""#)
        .replace(
            &format!("zh-CN = \"{OLD_TITLE}\""),
            &format!("zh-CN = \"{NEW_TITLE}\""),
        )
        .replace(
            r#"{ name = "moderate", min = 10, tier = "yellow" }"#,
            r#"{ name = "moderate", min = 12, tier = "yellow" }"#,
        );
    for name in [
        "moderate starts at 10 and is yellow",
        "11 is moderate",
        "a prorated fractional total lands in its band: 8 x 9 / 7 = 10.3",
    ] {
        let start = s.find(&format!("name = \"{name}\"")).expect("the example");
        let end = start + s[start..].find("\n\n").unwrap_or(s.len() - start);
        let block = s[start..end]
            .replace("tier = \"yellow\"", "tier = \"green\"")
            .replace("\"moderate\" }", "\"mild\" }");
        s.replace_range(start..end, &block);
    }
    assert!(s.contains(NEW_TITLE) && s.contains("min = 12"));
    s
}

#[actix_web::test]
async fn an_admin_previews_an_edit_publishes_it_and_the_rider_form_shows_it() {
    let copy = tempfile::tempdir().expect("a temporary folder");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
    for entry in std::fs::read_dir(&shipped).expect("questionnaires/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&path, copy.path().join(path.file_name().expect("a name")))
                .expect("copy a questionnaire");
        }
    }
    let Some(mut s) = session_with_dir(
        "questionnaire-admin",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: true,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
        Some(copy.path().to_path_buf()),
    )
    .await
    else {
        return;
    };
    s.staff("admin", "admin@example.org", "管理员", &[]);
    // Twelve stored screenings at a total of 10: yellow now, green after the edit.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    for _ in 0..12 {
        let response = http
            .post(format!("{}/api/v1/screenings", s.base))
            .json(&json!({
                "questionnaire": "phq9",
                "answers": {"q1":3,"q2":3,"q3":3,"q4":1,"q5":0,"q6":0,"q7":0,"q8":0,"q9":0},
                "locale": "zh-CN",
            }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 201);
    }

    s.open("/admin/questionnaires/phq9").await;
    s.sign_in("admin@example.org", "#edit-form").await;
    assert_eq!(s.text("#live-version").await, "1.1.2");
    s.shot("detail").await;

    // Upload the edit as a file (the script reads it into the text box; pasting is the text
    // box itself), then preview.
    let source = std::fs::read_to_string(copy.path().join("phq9.toml")).expect("phq9.toml");
    let edit = edited(&source);
    let upload_dir = tempfile::tempdir().expect("a folder");
    let upload = upload_dir.path().join("phq9-edit.toml");
    std::fs::write(&upload, &edit).expect("written");
    s.client
        .find(Locator::Id("upload"))
        .await
        .expect("the upload field (shown with JavaScript)")
        .send_keys(upload.to_str().expect("a UTF-8 path"))
        .await
        .expect("uploaded");
    let mut in_box = serde_json::Value::Null;
    for _ in 0..50 {
        in_box = s
            .client
            .execute("return document.querySelector('#source').value", vec![])
            .await
            .expect("runs");
        if in_box == json!(edit) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(in_box, json!(edit), "the uploaded file is in the text box");
    s.submit("#edit-form", "#report").await;
    s.scroll_to("#report").await;
    s.shot("report").await;
    // The form as a rider would see it, with the new title and every item.
    let preview = s.text("#form-preview").await;
    assert!(preview.contains(NEW_TITLE), "{preview}");
    let items = s
        .client
        .find_all(Locator::Css("#form-preview li[data-item]"))
        .await
        .expect("items");
    assert_eq!(items.len(), 9);
    // The report: exactly the twelve moved from yellow to green.
    assert_eq!(s.text("#report-screenings").await, "12");
    let moved = s
        .client
        .execute(
            "return [...document.querySelectorAll('table.tier-changes tbody tr')].map(r => r.innerText.trim().split('\\t'))",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(moved, json!([["黄色", "绿色", "12"]]), "{moved}");
    // Nothing is published by a preview.
    assert!(std::fs::read_to_string(copy.path().join("phq9.toml")).expect("phq9") == source);

    s.submit("#publish-form", "p.ws-ok").await;
    assert_eq!(s.text("#live-version").await, "1.2.0");
    s.shot("published").await;
    assert_eq!(
        std::fs::read_to_string(copy.path().join("phq9.toml")).expect("phq9"),
        edit,
        "the file in the folder is the published text"
    );

    // The rider's form shows the change.
    s.open("/s/phq9").await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form"))
        .await
        .expect("the rider form");
    let heading = s.text("h1").await;
    assert_eq!(heading, NEW_TITLE);
    s.shot("rider-form").await;
}
