//! Issue 11: a flood of fake screenings must never bury, hide or delay a real red alert.
//! The shipped `[abuse]` defaults (the test harness raises them for every other test, since a
//! test's requests all come from one source), a real SMTP server for the pages.

use std::sync::Arc;
use std::time::Duration;

use careline::config::{AbuseSettings, Settings};
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, GREEN, RED, TestApp, Tweak, assert_error, ok, phq9_body,
};
use crate::notifier::on_duty;
use crate::notifier_smtp::TestSmtp;

const SITE: &str = "station-1";
const FLOOD_AGENT: &str = "flood-script/1.0";
const RIDER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14) MicroMessenger/8.0.50";

async fn app(backend: Backend, smtp: Option<&TestSmtp>, tune: fn(&mut AbuseSettings)) -> TestApp {
    let url = smtp.map(TestSmtp::url);
    let tweak = move |s: &mut Settings| {
        s.abuse = AbuseSettings::default();
        // The proof of work has its own test; elsewhere it would only stop the flood early.
        s.abuse.challenge_per_source = 1_000_000;
        s.abuse.challenge_per_site = 1_000_000;
        tune(&mut s.abuse);
        if let Some(url) = &url {
            s.mail.smtp_url = url.clone();
            s.mail.timeout = Duration::from_secs(2);
        }
        s.worker.poll_interval = Duration::from_millis(100);
        // Nothing escalates during the test: the first level's pages only.
        for level in &mut s.escalation.levels {
            level.timeout = Duration::from_secs(3600);
        }
        s.escalation.urgent_first_timeout = Duration::from_secs(3600);
    };
    let app = crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(tweak))),
            ..Default::default()
        },
    )
    .await;
    app.create_site(SITE).await;
    app
}

/// POSTs a screening as a client with this user agent (one source per agent on loopback).
async fn post_from(app: &TestApp, agent: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/screenings"))
        .header("User-Agent", agent)
        .json(body)
        .send()
        .await
        .expect("sent")
}

/// `{"questionnaire":"asq","answers":{}}`: every question refused counts as positive, so red
/// and urgent: what a script can send without knowing anything.
fn empty_asq() -> Value {
    json!({"questionnaire": "asq", "answers": {}, "site": SITE})
}

async fn alert_of(app: &TestApp, screening: &Value) -> String {
    let id = screening["id"].as_str().expect("an id").to_string();
    app.with_conn(move |c| careline::db::alerts::alert_of_screening(c, &id))
        .await
        .expect("alert_screenings")
        .expect("an alert")
}

async fn audit_rows(app: &TestApp, action: &'static str) -> i64 {
    app.audit_count(Some(action)).await
}

async fn a_flood_is_one_row_and_the_real_red_alert_keeps_its_place(backend: Backend) {
    let smtp = TestSmtp::start();
    // 300 from one source must all be stored to show they form one row.
    let app = app(backend, Some(&smtp), |a| {
        a.limit_per_source = 1000;
    })
    .await;
    let counselor = app.staff("counselor", &[SITE]).await;
    let supervisor = app.staff("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    on_duty(&app, &supervisor.id).await;

    let mut flood = Vec::new();
    for _ in 0..300 {
        let r = post_from(&app, FLOOD_AGENT, &empty_asq()).await;
        assert_eq!(r.status().as_u16(), 201);
        flood.push(alert_of(&app, &r.json().await.expect("JSON")).await);
    }
    // One ordinary red screening from a rider's phone, with consent and a number.
    let mut real = phq9_body(RED);
    real["site"] = SITE.into();
    real["contact"] = json!({"name": "骑手", "phone": "13912345678"});
    real["consent_to_contact"] = true.into();
    let r = post_from(&app, RIDER_AGENT, &real).await;
    assert_eq!(r.status().as_u16(), 201);
    let real_alert = alert_of(&app, &r.json().await.expect("JSON")).await;

    // The queue: the real alert first (the flood is one row), counts exact.
    let queue = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    let rows = queue["alerts"].as_array().expect("alerts");
    assert_eq!(rows.len(), 1, "{queue}");
    assert_eq!(rows[0]["id"], real_alert.as_str());
    assert_eq!(queue["total"], 1);
    assert_eq!(queue["open_red"], 301, "every open red alert is counted");
    let clusters = queue["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "{queue}");
    let cluster = &clusters[0];
    assert_eq!(cluster["unresolved"], 300, "{cluster}");
    assert_eq!(cluster["urgent"], 300);
    assert_eq!(cluster["kind"], "source");
    assert_eq!(cluster["site"], SITE);
    assert_eq!(cluster["with_contact"], 0);
    let cluster_id = cluster["id"].as_str().expect("an id").to_string();
    // With ?tier=red too, and on the queue page.
    let red = ok(app
        .get_as(&counselor.token, "/api/v1/alerts?tier=red")
        .await)
    .await;
    assert_eq!(red["alerts"][0]["id"], real_alert.as_str());
    let page = app
        .client
        .get(app.url("/queue"))
        .header("Cookie", format!("careline_session={}", counselor.token))
        .send()
        .await
        .expect("the queue page")
        .text()
        .await
        .expect("a page");
    let real_ref = app.alert_row(&real_alert).await.reference;
    assert!(page.contains(&real_ref), "the real alert is on the page");
    assert!(
        page.contains(&format!("/queue/clusters/{cluster_id}")),
        "the cluster's row links to it"
    );

    // Its alerts keep their deadlines and are listed, a rider's number first (none here).
    let detail = ok(app
        .get_as(&supervisor.token, &format!("/api/v1/clusters/{cluster_id}"))
        .await)
    .await;
    assert_eq!(detail["alerts"].as_array().expect("alerts").len(), 300);
    let first = app.alert_row(&flood[0]).await;
    assert_eq!(first.cluster_id.as_deref(), Some(cluster_id.as_str()));
    assert!(first.deadline_at > first.created_at);
    assert_eq!(audit_rows(&app, "abuse.flood_started").await, 1);

    // Paging: the supervisor gets one flood page, the counselor the real alert's page and
    // the flood's first pages (before it was recognised), never 300.
    let sup = supervisor.email.to_ascii_lowercase();
    let mails = smtp
        .wait_accepted(Duration::from_secs(20), "the flood page", |m| {
            m.iter()
                .any(|a| a.to.iter().any(|t| t.eq_ignore_ascii_case(&sup)))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails = smtp.accepted().len().max(mails.len());
    let all = smtp.accepted();
    let to_supervisor: Vec<_> = all
        .iter()
        .filter(|a| a.to.iter().any(|t| t.eq_ignore_ascii_case(&sup)))
        .collect();
    assert_eq!(to_supervisor.len(), 1, "one page for the whole flood");
    let raw = String::from_utf8_lossy(&to_supervisor[0].raw).into_owned();
    assert!(raw.contains(&cluster_id), "the page links to the cluster");
    assert!(
        mails <= 30,
        "{mails} mails: the flood was not paged one by one"
    );

    // A supervisor resolves the flood in bulk: one audit row per alert, the real one open.
    let before = audit_rows(&app, "alert.resolved").await;
    let done = ok(app
        .post_as(
            &supervisor.token,
            &format!("/api/v1/clusters/{cluster_id}/resolve"),
            Some(&json!({"note": "One script from one network."})),
        )
        .await)
    .await;
    assert_eq!(done["resolved"], 300, "{done}");
    assert_eq!(done["kept"], 0);
    assert_eq!(audit_rows(&app, "alert.resolved").await - before, 300);
    assert_eq!(app.alert_row(&real_alert).await.status, "open");
    assert_eq!(
        app.alert_row(&flood[299]).await.outcome.as_deref(),
        Some("false_positive")
    );
    let queue = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(queue["clusters"].as_array().map(Vec::len), Some(0));
    assert_eq!(queue["open_red"], 1);
}

async fn a_supervisor_moves_a_real_alert_out_of_a_cluster_and_it_pages(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, Some(&smtp), |a| {
        a.cluster_per_source = 5;
        a.limit_per_source = 100;
    })
    .await;
    let counselor = app.staff("counselor", &[SITE]).await;
    let supervisor = app.staff("supervisor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    for _ in 0..6 {
        assert_eq!(
            post_from(&app, FLOOD_AGENT, &empty_asq()).await.status(),
            201
        );
    }
    // A real rider behind the same network and browser: in the cluster, listed first.
    let mut real = phq9_body(RED);
    real["site"] = SITE.into();
    real["contact"] = json!({"phone": "13912345678"});
    real["consent_to_contact"] = true.into();
    let r = post_from(&app, FLOOD_AGENT, &real).await;
    let real_alert = alert_of(&app, &r.json().await.expect("JSON")).await;
    let queue = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(queue["alerts"].as_array().map(Vec::len), Some(0), "{queue}");
    let cluster_id = queue["clusters"][0]["id"]
        .as_str()
        .expect("a cluster")
        .to_string();
    assert_eq!(queue["clusters"][0]["unresolved"], 7);
    assert_eq!(queue["clusters"][0]["with_contact"], 1);
    let detail = ok(app
        .get_as(&supervisor.token, &format!("/api/v1/clusters/{cluster_id}"))
        .await)
    .await;
    assert_eq!(
        detail["alerts"][0]["id"],
        real_alert.as_str(),
        "a number first"
    );
    assert_eq!(detail["alerts"][0]["has_contact"], true);

    // Bad input changes nothing: a counselor, an id not of this cluster, an empty list, no note.
    let path = format!("/api/v1/clusters/{cluster_id}/release");
    let r = app
        .post_as(
            &counselor.token,
            &path,
            Some(&json!({"alert_ids": [real_alert]})),
        )
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = app
        .post_as(
            &supervisor.token,
            &path,
            Some(&json!({"alert_ids": [real_alert, "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e"]})),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let r = app
        .post_as(&supervisor.token, &path, Some(&json!({"alert_ids": []})))
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let r = app
        .post_as(
            &supervisor.token,
            &path,
            Some(&json!({"ids": [real_alert]})),
        )
        .await;
    assert_error(r, 400, "bad_request").await;
    let r = app
        .post_as(
            &supervisor.token,
            &format!("/api/v1/clusters/{cluster_id}/resolve"),
            Some(&json!({"note": "  "})),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(
        app.alert_row(&real_alert).await.cluster_id.as_deref(),
        Some(cluster_id.as_str())
    );
    assert_eq!(audit_rows(&app, "alert.released_from_cluster").await, 0);
    assert_eq!(audit_rows(&app, "alert.resolved").await, 0);

    // Moved back: in the queue, paged to the on-duty counselor, audited.
    let moved = ok(app
        .post_as(
            &supervisor.token,
            &path,
            Some(&json!({"alert_ids": [real_alert]})),
        )
        .await)
    .await;
    assert_eq!(moved["released"], 1);
    let queue = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(queue["alerts"][0]["id"], real_alert.as_str());
    assert_eq!(queue["clusters"][0]["unresolved"], 6);
    assert_eq!(audit_rows(&app, "alert.released_from_cluster").await, 1);
    // The cluster's page: a counselor sees the alerts and no actions; a supervisor resolves
    // the rest from the page's form.
    let page_as = |token: String| {
        let url = app.url(&format!("/queue/clusters/{cluster_id}"));
        let client = app.client.clone();
        async move {
            let r = client
                .get(url)
                .header("Cookie", format!("careline_session={token}"))
                .send()
                .await
                .expect("the cluster page");
            (r.status().as_u16(), r.text().await.expect("a page"))
        }
    };
    let (status, page) = page_as(counselor.token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        page.matches("class=\"tier-red").count(),
        6,
        "its six alerts"
    );
    assert!(
        !page.contains("id=\"resolve-all\""),
        "no actions for a counselor"
    );
    let (status, page) = page_as(supervisor.token.clone()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"resolve-all\"") && page.contains("name=\"alert\""));
    let session = app
        .cookie_session(&supervisor.email, crate::helpers::PASSWORD)
        .await;
    let r = app
        .client
        .post(app.url(&format!("/queue/clusters/{cluster_id}/resolve")))
        .header("Cookie", &session.cookie)
        .header("Origin", app.address.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf-token={}&note=One+script.", session.csrf))
        .send()
        .await
        .expect("the resolve form");
    // Back on the cluster's page with the count of what was resolved.
    let landed = r.url().to_string();
    assert!(
        landed.ends_with(&format!(
            "/queue/clusters/{cluster_id}?notice=resolved&count=6&kept=0"
        )),
        "{landed}"
    );
    assert_eq!(
        audit_rows(&app, "alert.resolved").await,
        6,
        "one row per alert"
    );
    assert_eq!(
        app.alert_row(&real_alert).await.status,
        "open",
        "moved out before"
    );

    let reference = app.alert_row(&real_alert).await.reference;
    let c = counselor.email.to_ascii_lowercase();
    smtp.wait_accepted(Duration::from_secs(20), "the released alert's page", |m| {
        m.iter().any(|a| {
            a.to.iter().any(|t| t.eq_ignore_ascii_case(&c))
                && String::from_utf8_lossy(&a.raw).contains(&reference)
        })
    })
    .await;
}

async fn over_the_hard_limit_nothing_is_stored_and_the_rider_still_sees_the_crisis_lines(
    backend: Backend,
) {
    let app = app(backend, None, |a| {
        a.cluster_per_source = 5;
        a.limit_per_source = 6;
    })
    .await;
    for _ in 0..6 {
        assert_eq!(
            post_from(&app, FLOOD_AGENT, &empty_asq()).await.status(),
            201
        );
    }
    let stored = app.rows().await.screenings;
    let r = post_from(&app, FLOOD_AGENT, &empty_asq()).await;
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 60, "{retry}");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    assert_eq!(body["result"]["outcome"]["tier"], "red", "{body}");
    assert_eq!(
        body["result"]["crisis_lines"][0]["number"], "12356",
        "{body}"
    );
    assert_eq!(body["result"]["id"], "");
    assert_eq!(app.rows().await.screenings, stored, "nothing stored");

    // The form from the same source: 429, the crisis lines first, nothing stored.
    // The form's own token and key, from the page as a browser gets it.
    let form = app
        .client
        .get(app.url("/s/asq?lang=en"))
        .header("User-Agent", FLOOD_AGENT)
        .send()
        .await
        .expect("the form")
        .text()
        .await
        .expect("a page");
    let hidden = |name: &str| {
        form.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("the hidden {name}"))
            .to_string()
    };
    let (token, key) = (hidden("csrf-token"), hidden("idempotency-key"));
    let r = app
        .client
        .post(app.url("/s/asq"))
        .header("User-Agent", FLOOD_AGENT)
        .header("Origin", app.address.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf-token={token}&idempotency-key={key}&lang=en&q1=1&q2=0&q3=0&q4=0&q5=1"
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let page = r.text().await.expect("a page");
    let body = &page[page.find("<body").expect("a body")..];
    let crisis = body.find("12356").expect("the crisis line");
    let heading = body
        .find("<h1>Your answers could not be saved just now</h1>")
        .expect("the heading");
    assert!(crisis < heading, "crisis lines first:\n{page}");
    assert_eq!(app.rows().await.screenings, stored, "nothing stored");

    // Another source (a rider's phone) is not limited.
    let r = post_from(&app, RIDER_AGENT, &phq9_body(RED)).await;
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(app.rows().await.screenings, stored + 1);
}

/// Green screenings sent at once from one source are written in batches (on PostgreSQL as
/// one statement that checks the limit itself): exactly the limit is stored, the rest are
/// refused, and another source's burst is stored whole.
async fn green_screenings_sent_at_once_stop_at_the_hard_limit(backend: Backend) {
    let app = app(backend, None, |a| {
        a.limit_per_source = 6;
    })
    .await;
    let green = phq9_body(GREEN);
    // The questionnaire's version stored first: the bursts below need no other row.
    assert_eq!(post_from(&app, RIDER_AGENT, &green).await.status(), 201);
    let before = app.rows().await.screenings;
    let statuses: Vec<u16> =
        futures_util::future::join_all((0..20).map(|_| post_from(&app, FLOOD_AGENT, &green)))
            .await
            .into_iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        14,
        "{statuses:?}"
    );
    assert_eq!(app.rows().await.screenings, before + 6);
    let statuses: Vec<u16> = futures_util::future::join_all(
        (0..5).map(|_| post_from(&app, "another-phone/1.0", &green)),
    )
    .await
    .into_iter()
    .map(|r| r.status().as_u16())
    .collect();
    assert_eq!(statuses, vec![201; 5]);
    assert_eq!(app.rows().await.screenings, before + 11);
}

async fn a_busy_real_station_never_clusters(backend: Backend) {
    let app = app(backend, None, |_| {}).await;
    let counselor = app.staff("counselor", &[SITE]).await;
    // 200 screenings in an hour from 40 phones, a third of them yellow or red.
    let answers = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 1, 0, 0, 1, 0, 0],
        [0, 1, 0, 0, 1, 0, 0, 0, 0],
        [2, 2, 2, 1, 2, 2, 1, 1, 0],
        [3, 3, 2, 2, 2, 2, 2, 2, 1],
        [0, 0, 1, 0, 0, 0, 0, 0, 0],
    ];
    for n in 0..200 {
        let mut body = phq9_body(answers[n % answers.len()]);
        body["site"] = SITE.into();
        let agent = format!("Mozilla/5.0 (Linux; Android 14; rider-phone-{})", n % 40);
        let r = post_from(&app, &agent, &body).await;
        assert_eq!(r.status().as_u16(), 201, "screening {n}");
    }
    let queue = ok(app
        .get_as(&counselor.token, "/api/v1/alerts?limit=500")
        .await)
    .await;
    assert_eq!(
        queue["clusters"].as_array().map(Vec::len),
        Some(0),
        "no cluster"
    );
    assert!(
        queue["total"].as_i64().expect("a total") >= 60,
        "{}",
        queue["total"]
    );
    assert_eq!(audit_rows(&app, "abuse.flood_started").await, 0);
}

async fn admins_see_the_flood_guard(backend: Backend) {
    let app = app(backend, None, |a| {
        a.cluster_per_source = 5;
        a.limit_per_source = 6;
    })
    .await;
    let admin = app.staff("admin", &[]).await;
    for _ in 0..7 {
        post_from(&app, FLOOD_AGENT, &empty_asq()).await;
    }
    let view = ok(app.get_as(&admin.token, "/api/v1/admin/abuse").await).await;
    assert_eq!(view["window_seconds"], 3600);
    assert_eq!(view["clusters"].as_array().map(Vec::len), Some(1), "{view}");
    let sources = view["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "{view}");
    assert_eq!(sources[0]["screenings"], 6);
    assert_eq!(sources[0]["limited"], true);
    let key = sources[0]["key"].as_str().expect("a hash");
    assert_eq!(key.len(), 32);
    assert!(!key.contains("127.0.0"), "a hash, never the address");
    // And on the admin page.
    let page = app
        .client
        .get(app.url("/admin"))
        .header("Cookie", format!("careline_session={}", admin.token))
        .send()
        .await
        .expect("the admin page")
        .text()
        .await
        .expect("a page");
    assert!(page.contains(key), "the limited source is listed on /admin");
    // Fingerprints past the retention are cleared.
    let cleared = app
        .with_conn(|c| {
            careline::db::abuse::clear_fingerprints(
                c,
                chrono::Utc::now().naive_utc() + chrono::Duration::seconds(1),
            )
        })
        .await
        .expect("cleared");
    assert_eq!(cleared, 6);
}

/// Solves a challenge from `GET /api/v1/challenge` as the form's script does.
async fn solved_challenge(app: &TestApp) -> String {
    use base64::Engine;
    let c = ok(app.get("/api/v1/challenge").await).await;
    let number = altcha_lib_rs::solve_challenge(
        c["challenge"].as_str().expect("a challenge"),
        c["salt"].as_str().expect("a salt"),
        None,
        c["maxnumber"].as_u64(),
        0,
    )
    .expect("solvable");
    let payload = json!({
        "algorithm": c["algorithm"], "challenge": c["challenge"], "number": number,
        "salt": c["salt"], "signature": c["signature"],
    });
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

async fn over_the_soft_limit_a_solved_challenge_is_needed_once_each(backend: Backend) {
    let app = app(backend, None, |a| {
        a.cluster_per_source = 5;
        a.challenge_per_source = 2;
        a.limit_per_source = 100;
        a.challenge_ttl = Duration::from_secs(2);
        a.challenge_max_number = 5000;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            post_from(&app, FLOOD_AGENT, &phq9_body(RED)).await.status(),
            201
        );
    }
    let stored = app.rows().await.screenings;
    // No solution: 428, the result (crisis lines) still there, nothing stored.
    let r = post_from(&app, FLOOD_AGENT, &phq9_body(RED)).await;
    assert_eq!(r.status().as_u16(), 428);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "challenge_required", "{body}");
    assert_eq!(body["result"]["crisis_lines"][0]["number"], "12356");
    assert_eq!(app.rows().await.screenings, stored);
    // Another source is not asked.
    assert_eq!(
        post_from(&app, RIDER_AGENT, &phq9_body(RED)).await.status(),
        201
    );
    let stored = stored + 1;

    // Solved: stored once; the same solution again is refused.
    let solution = solved_challenge(&app).await;
    let mut body = phq9_body(RED);
    body["altcha"] = solution.clone().into();
    assert_eq!(post_from(&app, FLOOD_AGENT, &body).await.status(), 201);
    assert_eq!(app.rows().await.screenings, stored + 1);
    let mut again = phq9_body([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    again["altcha"] = solution.into();
    let r = post_from(&app, FLOOD_AGENT, &again).await;
    assert_eq!(r.status().as_u16(), 428, "a replayed solution");
    let text = r.text().await.expect("a body");
    assert!(text.contains("already used"), "{text}");

    // Tampered (another number) and not base64: refused.
    use base64::Engine;
    let fresh = solved_challenge(&app).await;
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&fresh)
            .expect("base64"),
    )
    .expect("JSON");
    payload["number"] = (payload["number"].as_u64().expect("a number") + 1).into();
    for bad in [
        base64::engine::general_purpose::STANDARD.encode(payload.to_string()),
        "not a payload".to_string(),
    ] {
        let mut body = phq9_body(RED);
        body["altcha"] = bad.into();
        assert_eq!(post_from(&app, FLOOD_AGENT, &body).await.status(), 428);
    }
    // Longer than any payload (4096 characters): a field error, whether or not one is needed.
    let mut body = phq9_body(RED);
    body["altcha"] = "0".repeat(5000).into();
    assert_eq!(post_from(&app, RIDER_AGENT, &body).await.status(), 422);
    // Expired (abuse.challenge_ttl is 2 s here).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut body = phq9_body(RED);
    body["altcha"] = fresh.into();
    let r = post_from(&app, FLOOD_AGENT, &body).await;
    assert_eq!(r.status().as_u16(), 428);
    assert!(r.text().await.expect("a body").contains("expired"));
    assert_eq!(
        app.rows().await.screenings,
        stored + 1,
        "nothing else stored"
    );
}

async fn an_unworked_flood_pages_its_supervisors_again(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, Some(&smtp), |a| {
        a.cluster_per_source = 5;
        a.limit_per_source = 100;
    })
    .await;
    // A counselor takes the first level's pages: the supervisor gets only the flood's.
    let counselor = app.staff("counselor", &[SITE]).await;
    on_duty(&app, &counselor.id).await;
    let supervisor = app.staff("supervisor", &[SITE]).await;
    on_duty(&app, &supervisor.id).await;
    for _ in 0..6 {
        assert_eq!(
            post_from(&app, FLOOD_AGENT, &empty_asq()).await.status(),
            201
        );
    }
    let sup = supervisor.email.to_ascii_lowercase();
    let to_sup = |m: &[crate::notifier_smtp::Attempt]| {
        m.iter()
            .filter(|a| a.to.iter().any(|t| t.eq_ignore_ascii_case(&sup)))
            .count()
    };
    smtp.wait_accepted(Duration::from_secs(20), "the first flood page", |m| {
        to_sup(m) == 1
    })
    .await;
    let policy = app.state.settings.escalation.clone();
    // Not yet a repeat interval later: nothing.
    let p = policy.clone();
    let now = chrono::Utc::now().naive_utc();
    let n = app
        .with_conn(move |c| careline::jobs::repage_clusters(c, &p, now))
        .await
        .expect("the auditor");
    assert_eq!(n, 0);
    // A repeat interval later (its last page moved back by one), nobody has worked it:
    // paged again, once, whatever two auditors do.
    let back = chrono::Duration::from_std(policy.repeat_interval).expect("a duration")
        + chrono::Duration::seconds(1);
    app.with_conn(move |c| {
        use careline::db::schema::flood_clusters as f;
        use diesel::prelude::*;
        diesel::update(f::table)
            .set(f::paged_at.eq(Some(now - back)))
            .execute(c)
    })
    .await
    .expect("moved back");
    let later = chrono::Utc::now().naive_utc();
    for expected in [1, 0] {
        let p = policy.clone();
        let n = app
            .with_conn(move |c| careline::jobs::repage_clusters(c, &p, later))
            .await
            .expect("the auditor");
        assert_eq!(n, expected);
    }
    app.state.wake.notify_one();
    smtp.wait_accepted(Duration::from_secs(20), "the second flood page", |m| {
        to_sup(m) == 2
    })
    .await;
    let cluster =
        ok(app.get_as(&supervisor.token, "/api/v1/alerts").await).await["clusters"][0]["id"]
            .as_str()
            .expect("a cluster")
            .to_string();
    let id = cluster.clone();
    let row = app
        .with_conn(move |c| careline::db::abuse::find(c, &id))
        .await
        .expect("read")
        .expect("the cluster");
    assert_eq!(row.paged_count, 6, "paged with its open red count");
    let at = row.paged_at.expect("paged");
    assert!((at - later).num_milliseconds().abs() < 1, "{at} vs {later}");
    // Worked (resolved): no more pages.
    ok(app
        .post_as(
            &supervisor.token,
            &format!("/api/v1/clusters/{cluster}/resolve"),
            Some(&json!({"note": "A script."})),
        )
        .await)
    .await;
    let much_later = later + chrono::Duration::hours(1);
    let p = policy.clone();
    let n = app
        .with_conn(move |c| careline::jobs::repage_clusters(c, &p, much_later))
        .await
        .expect("the auditor");
    assert_eq!(n, 0);
}

backend_tests!(
    an_unworked_flood_pages_its_supervisors_again,
    over_the_soft_limit_a_solved_challenge_is_needed_once_each,
    a_flood_is_one_row_and_the_real_red_alert_keeps_its_place,
    a_supervisor_moves_a_real_alert_out_of_a_cluster_and_it_pages,
    over_the_hard_limit_nothing_is_stored_and_the_rider_still_sees_the_crisis_lines,
    a_busy_real_station_never_clusters,
    green_screenings_sent_at_once_stop_at_the_hard_limit,
    admins_see_the_flood_guard,
);
