//! Alerts through HTTP: what yellow and red screenings open, the risk-ordered queue and its
//! filters, the lifecycle (acknowledge, note, resolve, give back, reassign, take next) with its
//! timeline, a rider's later screenings joining the open alert, racing acknowledgements, and
//! the event stream.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, GREEN, RED, Staff, TestApp, YELLOW, assert_error, created, ok, phq9_body,
    spawn_app, spawn_app_with, status_json,
};

/// ASQ with the acuity question answered yes: red and urgent.
fn asq_urgent() -> Value {
    json!({
        "questionnaire": "asq",
        "answers": {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": 1},
        "locale": "en",
    })
}

fn with_contact(mut body: Value, phone: &str) -> Value {
    body["contact"] = json!({"name": "Rider", "phone": phone});
    body["consent_to_contact"] = json!(true);
    body
}

fn at_site(mut body: Value, site: &str) -> Value {
    body["site"] = site.into();
    body
}

fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .unwrap_or_else(|e| panic!("RFC 3339 ({e}): {v}"))
}

/// Seconds from `created_at` to `deadline_at` of an alert summary.
fn window(alert: &Value) -> i64 {
    (time(&alert["deadline_at"]) - time(&alert["created_at"])).num_seconds()
}

async fn queue(app: &TestApp, who: &Staff, query: &str) -> Vec<Value> {
    let body = ok(app
        .get_as(&who.token, &format!("/api/v1/alerts{query}"))
        .await)
    .await;
    body["alerts"].as_array().expect("alerts").clone()
}

fn ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["id"].as_str().expect("an id").to_string())
        .collect()
}

fn list(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The alert as a counselor reads it, its timeline reduced to the lifecycle (the notifier's
/// pages and gaps are tested in `notifier.rs`).
async fn detail(app: &TestApp, who: &Staff, id: &str) -> Value {
    let mut d = ok(app
        .get_as(&who.token, &format!("/api/v1/alerts/{id}"))
        .await)
    .await;
    if let Some(timeline) = d["timeline"].as_array_mut() {
        timeline.retain(|e| {
            !crate::helpers::NOTIFIER_EVENTS.contains(&e["kind"].as_str().unwrap_or_default())
        });
    }
    d
}

fn kinds(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["kind"].as_str().expect("a kind").to_string())
        .collect()
}

async fn act(
    app: &TestApp,
    who: &Staff,
    id: &str,
    action: &str,
    body: Option<Value>,
) -> (u16, Value) {
    status_json(
        app.post_as(
            &who.token,
            &format!("/api/v1/alerts/{id}/{action}"),
            body.as_ref(),
        )
        .await,
    )
    .await
}

fn resolution() -> Value {
    json!({"outcome": "contacted_safe", "note": "Called the rider; safe, booked a session."})
}

async fn red_and_yellow_screenings_open_alerts_with_their_deadlines(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;

    let green = app.submit(&phq9_body(GREEN)).await;
    assert!(green.alert_id.is_none(), "green opens no alert");
    assert_eq!(app.alert_count().await, 0);

    let cases = [
        (phq9_body(RED), "red", false, 15 * 60),
        (asq_urgent(), "red", true, 5 * 60),
        (phq9_body(YELLOW), "yellow", false, 3 * 24 * 3600),
    ];
    for (body, tier, urgent, seconds) in cases {
        let submission = app.submit(&body).await;
        let id = submission.alert_id.expect("an alert");
        let alerts = queue(&app, &counselor, "").await;
        let alert = alerts
            .iter()
            .find(|a| a["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} in the queue: {alerts:?}"));
        assert_eq!(alert["tier"], tier, "{alert}");
        assert_eq!(alert["urgent"], urgent, "{alert}");
        assert_eq!(alert["status"], "open");
        assert_eq!(alert["site"], Value::Null);
        assert_eq!(alert["assignee"], Value::Null);
        assert_eq!(alert["outcome"], Value::Null);
        assert_eq!(window(alert), seconds, "the {tier} deadline: {alert}");
        let left = alert["seconds_left"].as_i64().expect("seconds_left");
        assert!(
            (seconds - 60..=seconds).contains(&left),
            "seconds_left {left} of {seconds}"
        );
        let reference = alert["reference"].as_str().expect("a reference");
        let body = reference.strip_prefix("A-").expect("A- prefix");
        assert_eq!(body.len(), 4, "{reference}");
        assert!(
            body.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() && !"ILOU".contains(c)),
            "{reference}"
        );
        // The reference opens the same alert.
        let by_reference = detail(&app, &counselor, reference).await;
        assert_eq!(by_reference["alert"]["id"], id.as_str());
        assert_eq!(kinds(&by_reference), ["opened"]);
        let opened = &by_reference["timeline"][0];
        assert_eq!(opened["actor"], Value::Null);
        assert_eq!(opened["detail"]["tier"], tier);
        assert_eq!(
            opened["detail"]["screening_id"],
            submission.screening_id.as_str()
        );
        assert_eq!(
            by_reference["screenings"][0]["id"],
            submission.screening_id.as_str()
        );
        assert!(
            !by_reference["reasons"]
                .as_array()
                .expect("reasons")
                .is_empty(),
            "the reasons that fired"
        );
    }
    assert_eq!(app.alert_count().await, 3);
    let body = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(body["open_red"], 2);
}

async fn the_red_deadline_comes_from_configuration(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            red_deadline: Some(Duration::from_secs(7 * 60)),
            ..Default::default()
        },
    )
    .await;
    let counselor = app.staff("counselor", &[]).await;
    app.red_alert(None).await;
    let alerts = queue(&app, &counselor, "").await;
    assert_eq!(window(&alerts[0]), 7 * 60, "{alerts:?}");
}

async fn a_site_is_kept_only_when_it_is_a_known_site(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    created(
        app.post_as(
            &admin.token,
            "/api/v1/admin/sites",
            Some(&json!({"slug": "wangjing", "name": "望京站"})),
        )
        .await,
    )
    .await;
    let counselor = app.staff("counselor", &[]).await;
    let known = app.submit(&at_site(phq9_body(RED), "wangjing")).await;
    let unknown = app
        .submit(&at_site(phq9_body(RED), "no-such-station"))
        .await;
    let malformed = app.submit(&at_site(phq9_body(RED), "Not A Slug!")).await;
    let sites: Vec<(String, Value)> = queue(&app, &counselor, "")
        .await
        .iter()
        .map(|a| (a["id"].as_str().expect("id").to_string(), a["site"].clone()))
        .collect();
    let site_of = |id: &Option<String>| {
        sites
            .iter()
            .find(|(i, _)| Some(i) == id.as_ref())
            .map(|(_, s)| s.clone())
            .expect("in the queue")
    };
    assert_eq!(site_of(&known.alert_id), "wangjing");
    assert_eq!(site_of(&unknown.alert_id), Value::Null);
    assert_eq!(site_of(&malformed.alert_id), Value::Null);
    assert_eq!(
        app.find_screening(&known.screening_id)
            .await
            .site
            .as_deref(),
        Some("wangjing")
    );
    assert_eq!(app.find_screening(&unknown.screening_id).await.site, None);
    // The rider was never blocked: three screenings, three alerts.
    assert_eq!(app.alert_count().await, 3);
}

async fn the_queue_is_urgent_red_then_red_then_yellow_each_by_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let counselor = app.staff("counselor", &[]).await;
    // Submitted in an order unlike the queue's, so the order cannot be the insertion order.
    let yellow_1 = app
        .submit(&phq9_body(YELLOW))
        .await
        .alert_id
        .expect("alert");
    let red_1 = app.red_alert(None).await;
    let yellow_2 = app
        .submit(&at_site(phq9_body(YELLOW), "north"))
        .await
        .alert_id
        .expect("alert");
    let urgent = app.submit(&asq_urgent()).await.alert_id.expect("alert");
    let red_2 = app.red_alert(Some("north")).await;
    let expected = [&urgent, &red_1, &red_2, &yellow_1, &yellow_2];
    assert_eq!(ids(&queue(&app, &counselor, "").await), list(&expected));

    // Filters.
    assert_eq!(
        ids(&queue(&app, &counselor, "?tier=red").await),
        list(&[&urgent, &red_1, &red_2])
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?tier=yellow").await),
        list(&[&yellow_1, &yellow_2])
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?tier=red,yellow&status=open").await),
        list(&expected)
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?site=north").await),
        list(&[&red_2, &yellow_2])
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?site=north&tier=yellow").await),
        list(&[&yellow_2])
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?limit=2").await),
        list(&[&urgent, &red_1])
    );
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{red_1}/acknowledge"),
            None,
        )
        .await)
    .await;
    assert_eq!(
        ids(&queue(&app, &counselor, "?status=acknowledged").await),
        list(&[&red_1])
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?status=open&tier=red").await),
        list(&[&urgent, &red_2])
    );
    let body = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(body["open_red"], 2, "open red alerts not yet taken");
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{red_1}/resolve"),
            Some(&resolution()),
        )
        .await)
    .await;
    assert!(
        !ids(&queue(&app, &counselor, "").await).contains(&red_1),
        "resolved alerts leave the default queue"
    );
    assert_eq!(
        ids(&queue(&app, &counselor, "?status=resolved").await),
        list(&[&red_1])
    );

    // Bad filter values.
    for query in [
        "?status=closed",
        "?status=open,nope",
        "?tier=green",
        "?tier=purple",
        "?site=Not%20A%20Slug",
        "?limit=0",
        "?limit=501",
        "?limit=-1",
    ] {
        let response = app
            .get_as(&counselor.token, &format!("/api/v1/alerts{query}"))
            .await;
        assert_error(response, 400, "bad_request").await;
    }
}

async fn a_filter_that_is_not_a_number_is_a_json_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let response = app
        .get_as(&counselor.token, "/api/v1/alerts?limit=ten")
        .await;
    assert_error(response, 400, "bad_request").await;
}

async fn an_alert_is_acknowledged_noted_and_resolved_on_its_timeline(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let id = app.red_alert(None).await;

    let (status, taken) = act(&app, &counselor, &id, "acknowledge", None).await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["status"], "acknowledged");
    assert_eq!(taken["assignee"]["id"], counselor.id.as_str());
    assert_eq!(taken["assignee"]["name"], counselor.name.as_str());

    let note = "Left a voicemail; will call again in 10 minutes.";
    let (status, noted) = act(&app, &counselor, &id, "notes", Some(json!({"text": note}))).await;
    assert_eq!(status, 201, "{noted}");
    assert_eq!(noted["status"], "acknowledged");

    // Resolving needs a known outcome code and a note; nothing changes until it has both.
    let refused = [
        (json!({"outcome": "fixed", "note": "x"}), 422),
        (json!({"outcome": "", "note": "x"}), 422),
        (json!({"outcome": "CONTACTED_SAFE", "note": "x"}), 422),
        (json!({"outcome": "contacted_safe", "note": ""}), 422),
        (json!({"outcome": "contacted_safe", "note": "   \n "}), 422),
        (
            json!({"outcome": "contacted_safe", "note": "x".repeat(4001)}),
            422,
        ),
        // A body without one of the two is not a resolution at all.
        (json!({"note": "x"}), 400),
        (json!({"outcome": "contacted_safe"}), 400),
        (
            json!({"outcome": "contacted_safe", "note": "x", "extra": 1}),
            400,
        ),
    ];
    for (body, expected) in refused {
        let (status, error) = act(&app, &counselor, &id, "resolve", Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {error}");
        crate::helpers::assert_error_shape(
            &error,
            if expected == 422 {
                "invalid_request"
            } else {
                "bad_request"
            },
        );
    }
    assert_eq!(app.alert_row(&id).await.status, "acknowledged");

    let (status, resolved) = act(&app, &counselor, &id, "resolve", Some(resolution())).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["outcome"], "contacted_safe");

    // Closed: no more notes, no second resolution, no taking it again.
    for (action, body) in [
        ("notes", Some(json!({"text": "late"}))),
        ("resolve", Some(resolution())),
        ("acknowledge", None),
        ("unacknowledge", None),
    ] {
        let (status, error) = act(&app, &counselor, &id, action, body).await;
        assert_eq!(status, 409, "{action}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("resolved")),
            "{error}"
        );
    }

    let d = detail(&app, &counselor, &id).await;
    assert_eq!(kinds(&d), ["opened", "acknowledged", "note", "resolved"]);
    let timeline = d["timeline"].as_array().expect("timeline");
    assert_eq!(timeline[1]["actor"]["id"], counselor.id.as_str());
    assert_eq!(timeline[2]["detail"]["text"], note);
    assert_eq!(timeline[3]["detail"]["outcome"], "contacted_safe");
    assert!(
        timeline[3]["detail"]["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("Called"))
    );
    for action in ["alert.acknowledged", "alert.note_added", "alert.resolved"] {
        assert_eq!(app.audit_count(Some(action)).await, 1, "{action}");
    }
    let audit = serde_json::to_string(&app.audit_entries().await).expect("JSON");
    assert!(
        !audit.contains(note),
        "the note's text stays on the timeline, not in the audit log"
    );
}

async fn every_outcome_code_resolves(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    for outcome in [
        "contacted_safe",
        "referred",
        "emergency_services",
        "unreachable",
        "false_positive",
        "other",
    ] {
        let id = app.red_alert(None).await;
        act(&app, &counselor, &id, "acknowledge", None).await;
        let (status, body) = act(
            &app,
            &counselor,
            &id,
            "resolve",
            Some(json!({"outcome": outcome, "note": "done"})),
        )
        .await;
        assert_eq!(status, 200, "{outcome}: {body}");
        assert_eq!(body["outcome"], outcome);
    }
}

async fn an_alert_can_be_given_back_by_whoever_took_it_or_a_supervisor(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.staff("counselor", &[]).await;
    let second = app.staff("counselor", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    let id = app.red_alert(None).await;

    let (status, _) = act(&app, &first, &id, "unacknowledge", None).await;
    assert_eq!(status, 409, "an open alert cannot be given back");
    act(&app, &first, &id, "acknowledge", None).await;
    let (status, error) = act(&app, &second, &id, "unacknowledge", None).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(
        app.alert_row(&id).await.assignee_id.as_deref(),
        Some(first.id.as_str())
    );

    let (status, open) = act(&app, &first, &id, "unacknowledge", None).await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open["status"], "open");
    assert_eq!(open["assignee"], Value::Null);
    let (status, _) = act(&app, &second, &id, "acknowledge", None).await;
    assert_eq!(status, 200, "open again: another counselor takes it");
    let (status, open) = act(&app, &supervisor, &id, "unacknowledge", None).await;
    assert_eq!(
        status, 200,
        "a supervisor gives anyone's alert back: {open}"
    );

    let d = detail(&app, &first, &id).await;
    assert_eq!(
        kinds(&d),
        [
            "opened",
            "acknowledged",
            "unacknowledged",
            "acknowledged",
            "unacknowledged"
        ]
    );
    assert_eq!(d["timeline"][2]["detail"]["from"], first.id.as_str());
    assert_eq!(d["timeline"][4]["actor"]["id"], supervisor.id.as_str());
    assert_eq!(app.audit_count(Some("alert.unacknowledged")).await, 2);
}

async fn a_second_acknowledgement_gets_409_naming_who_took_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.staff("counselor", &[]).await;
    let second = app.staff("counselor", &[]).await;
    let id = app.red_alert(None).await;
    let reference = app.alert_row(&id).await.reference;
    assert_eq!(
        act(&app, &first, &reference, "acknowledge", None).await.0,
        200
    );
    for key in [&id, &reference] {
        let (status, error) = act(&app, &second, key, "acknowledge", None).await;
        assert_eq!(status, 409, "{error}");
        crate::helpers::assert_error_shape(&error, "conflict");
        let message = error["error"]["message"].as_str().expect("a message");
        assert!(message.contains(&first.name), "names the taker: {message}");
        let now = &error["error"]["details"][0];
        assert_eq!(
            now["id"],
            id.as_str(),
            "details holds the alert as it is: {error}"
        );
        assert_eq!(now["status"], "acknowledged");
        assert_eq!(now["assignee"]["id"], first.id.as_str());
    }
    // The taker acknowledging again is a conflict too, and changes nothing.
    assert_eq!(act(&app, &first, &id, "acknowledge", None).await.0, 409);
    let events = app.alert_events(&id).await;
    assert_eq!(
        events.iter().filter(|e| e.kind == "acknowledged").count(),
        1
    );
    assert_eq!(app.audit_count(Some("alert.acknowledged")).await, 1);
}

async fn only_the_assignee_or_a_supervisor_resolves_or_notes_are_open_to_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let taker = app.staff("counselor", &[]).await;
    let other = app.staff("counselor", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    let id = app.red_alert(None).await;
    let (status, error) = act(&app, &taker, &id, "resolve", Some(resolution())).await;
    assert_eq!(
        status, 409,
        "an open alert is taken before it is resolved: {error}"
    );
    act(&app, &taker, &id, "acknowledge", None).await;
    let (status, error) = act(&app, &other, &id, "resolve", Some(resolution())).await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&taker.name)),
        "{error}"
    );
    assert_eq!(app.alert_row(&id).await.status, "acknowledged");
    // A colleague may add what they know.
    let (status, _) = act(
        &app,
        &other,
        &id,
        "notes",
        Some(json!({"text": "I know this rider."})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = act(&app, &supervisor, &id, "resolve", Some(resolution())).await;
    assert_eq!(status, 200, "{body}");
    let row = app.alert_row(&id).await;
    assert_eq!(row.status, "resolved");
    assert_eq!(row.assignee_id.as_deref(), Some(taker.id.as_str()));
    let d = detail(&app, &taker, &id).await;
    assert_eq!(d["timeline"][3]["actor"]["id"], supervisor.id.as_str());
}

async fn supervisors_reassign_and_counselors_cannot(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let first = app.staff("counselor", &["north"]).await;
    let second = app.staff("counselor", &["north"]).await;
    let elsewhere = app.create_user("counselor", &["south"]).await;
    let admin = app.create_user("admin", &[]).await;
    let supervisor = app.staff("supervisor", &["north"]).await;
    let id = app.red_alert(Some("north")).await;
    let assign = |to: &str| Some(json!({"user_id": to}));

    let (status, _) = act(&app, &supervisor, &id, "assign", assign(&second.id)).await;
    assert_eq!(status, 409, "an open alert is taken, not assigned");
    act(&app, &first, &id, "acknowledge", None).await;
    let (status, error) = act(&app, &first, &id, "assign", assign(&second.id)).await;
    assert_eq!(status, 403, "counselors do not reassign: {error}");
    crate::helpers::assert_error_shape(&error, "forbidden");
    for (to, why) in [
        (admin.id.as_str(), "an admin does not work alerts"),
        (elsewhere.id.as_str(), "serves another site"),
        ("no-such-user", "unknown"),
    ] {
        let (status, error) = act(&app, &supervisor, &id, "assign", assign(to)).await;
        assert_eq!(status, 422, "{why}: {error}");
        assert_eq!(error["error"]["details"][0]["field"], "user_id");
    }
    assert_eq!(
        app.alert_row(&id).await.assignee_id.as_deref(),
        Some(first.id.as_str())
    );

    let (status, moved) = act(&app, &supervisor, &id, "assign", assign(&second.id)).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["assignee"]["id"], second.id.as_str());
    assert_eq!(moved["status"], "acknowledged");
    // Now the new assignee works it, and the former one may not close it.
    assert_eq!(
        act(&app, &first, &id, "resolve", Some(resolution()))
            .await
            .0,
        409
    );
    assert_eq!(
        act(&app, &second, &id, "resolve", Some(resolution()))
            .await
            .0,
        200
    );
    let d = detail(&app, &second, &id).await;
    assert_eq!(
        kinds(&d),
        ["opened", "acknowledged", "reassigned", "resolved"]
    );
    assert_eq!(d["timeline"][2]["detail"]["from"], first.id.as_str());
    assert_eq!(d["timeline"][2]["detail"]["to"], second.id.as_str());
    assert_eq!(d["timeline"][2]["actor"]["id"], supervisor.id.as_str());
    assert_eq!(app.audit_count(Some("alert.reassigned")).await, 1);
}

async fn take_next_takes_the_most_urgent_open_alert_the_counselor_may_see(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let counselor = app.staff("counselor", &["north"]).await;
    assert_error(
        app.post_as(&counselor.token, "/api/v1/alerts/take-next", None)
            .await,
        404,
        "not_found",
    )
    .await;
    let yellow = app
        .submit(&at_site(phq9_body(YELLOW), "north"))
        .await
        .alert_id
        .expect("alert");
    let red = app.red_alert(Some("north")).await;
    let urgent = app
        .submit(&at_site(asq_urgent(), "north"))
        .await
        .alert_id
        .expect("alert");
    // More urgent, but not this counselor's: never taken by them.
    let _south = app.submit(&at_site(asq_urgent(), "south")).await;
    let _nowhere = app.submit(&asq_urgent()).await;
    for expected in [&urgent, &red, &yellow] {
        let taken = ok(app
            .post_as(&counselor.token, "/api/v1/alerts/take-next", None)
            .await)
        .await;
        assert_eq!(&taken["id"], expected.as_str(), "{taken}");
        assert_eq!(taken["status"], "acknowledged");
        assert_eq!(taken["assignee"]["id"], counselor.id.as_str());
    }
    assert_error(
        app.post_as(&counselor.token, "/api/v1/alerts/take-next", None)
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn a_later_screening_of_the_same_rider_joins_the_open_alert(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let phone = "13800138000";
    let first = app.submit(&with_contact(phq9_body(YELLOW), phone)).await;
    let id = first.alert_id.clone().expect("a yellow alert");
    let yellow = app.alert_row(&id).await;
    assert_eq!(yellow.tier, "yellow");

    let second = app.submit(&with_contact(phq9_body(RED), phone)).await;
    assert_eq!(
        second.alert_id.as_deref(),
        Some(id.as_str()),
        "joined, not a second alert"
    );
    assert_eq!(app.alert_count().await, 1);
    let raised = app.alert_row(&id).await;
    assert_eq!(raised.tier, "red", "the tier is raised");
    assert_eq!(raised.reference, yellow.reference, "the same reference");
    assert!(
        raised.deadline_at < yellow.deadline_at,
        "the nearer red deadline"
    );

    // A later yellow joins too, and lowers nothing.
    let third = app.submit(&with_contact(phq9_body(YELLOW), phone)).await;
    assert_eq!(third.alert_id.as_deref(), Some(id.as_str()));
    let still = app.alert_row(&id).await;
    assert_eq!(
        (still.tier.as_str(), still.deadline_at),
        ("red", raised.deadline_at)
    );

    let d = detail(&app, &counselor, &id).await;
    let screenings: Vec<&str> = d["screenings"]
        .as_array()
        .expect("screenings")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        screenings,
        [
            first.screening_id.as_str(),
            second.screening_id.as_str(),
            third.screening_id.as_str()
        ]
    );
    assert_eq!(kinds(&d), ["opened", "attached", "attached"]);
    assert_eq!(d["timeline"][1]["detail"]["raised"], true);
    assert_eq!(
        d["timeline"][1]["detail"]["screening_id"],
        second.screening_id.as_str()
    );
    assert_eq!(d["timeline"][2]["detail"]["raised"], false);
    assert_eq!(d["alert"]["tier"], "red");
    assert_eq!(d["contact"]["phone"], phone);
    assert_eq!(
        d["earlier_screenings"],
        json!([]),
        "the alert's own screenings are not 'earlier'"
    );

    // Another number, or none, is another rider.
    let other = app
        .submit(&with_contact(phq9_body(RED), "13900139000"))
        .await;
    assert_ne!(other.alert_id.as_deref(), Some(id.as_str()));
    let anonymous = app.submit(&phq9_body(RED)).await;
    let anonymous_2 = app.submit(&phq9_body(RED)).await;
    assert_ne!(
        anonymous.alert_id, anonymous_2.alert_id,
        "no contact: never joined"
    );
    assert_eq!(app.alert_count().await, 4);
}

async fn an_identified_riders_earlier_screenings_are_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let phone = "+86 138-0013-8001";
    let green = app.submit(&with_contact(phq9_body(GREEN), phone)).await;
    assert!(green.alert_id.is_none());
    let red = app.submit(&with_contact(phq9_body(RED), phone)).await;
    let first = red.alert_id.clone().expect("alert");
    let d = detail(&app, &counselor, &first).await;
    let earlier = d["earlier_screenings"].as_array().expect("a list");
    assert_eq!(earlier.len(), 1, "{d}");
    assert_eq!(earlier[0]["id"], green.screening_id.as_str());
    assert_eq!(earlier[0]["tier"], "green");
    assert_eq!(earlier[0]["questionnaire"], "phq9");
    assert!(
        earlier[0].get("answers").is_none(),
        "no answers of other screenings"
    );

    // Once that alert is resolved, the rider's next red opens a new alert, which lists both.
    act(&app, &counselor, &first, "acknowledge", None).await;
    act(&app, &counselor, &first, "resolve", Some(resolution())).await;
    let again = app.submit(&with_contact(phq9_body(RED), phone)).await;
    let second = again.alert_id.expect("alert");
    assert_ne!(second, first);
    let d = detail(&app, &counselor, &second).await;
    let earlier: Vec<&str> = d["earlier_screenings"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        earlier,
        [red.screening_id.as_str(), green.screening_id.as_str()],
        "newest first"
    );
    // An anonymous rider has no history.
    let anonymous = app.red_alert(None).await;
    let d = detail(&app, &counselor, &anonymous).await;
    assert_eq!(d["earlier_screenings"], json!([]));
    assert_eq!(d["contact"], Value::Null);
}

async fn two_acknowledgements_racing_exactly_one_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.staff("counselor", &[]).await;
    let b = app.staff("counselor", &[]).await;
    for round in 0..30 {
        let id = app.red_alert(None).await;
        let path = format!("/api/v1/alerts/{id}/acknowledge");
        let (ra, rb) = tokio::join!(
            app.post_as(&a.token, &path, None),
            app.post_as(&b.token, &path, None)
        );
        let (sa, ba) = status_json(ra).await;
        let (sb, bb) = status_json(rb).await;
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {ba} / {bb}");
        let (winner, loser_body) = if sa == 200 { (&a, &bb) } else { (&b, &ba) };
        let row = app.alert_row(&id).await;
        assert_eq!(row.status, "acknowledged");
        assert_eq!(
            row.assignee_id.as_deref(),
            Some(winner.id.as_str()),
            "round {round}"
        );
        assert!(
            loser_body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&winner.name)),
            "round {round}: the loser is told who won: {loser_body}"
        );
        let events = app.alert_events(&id).await;
        assert_eq!(
            events.iter().filter(|e| e.kind == "acknowledged").count(),
            1,
            "round {round}: one acknowledged event"
        );
    }
    assert_eq!(app.audit_count(Some("alert.acknowledged")).await, 30);
}

/// Reads an event stream until `text` arrives; `None` after `within`.
async fn read_until(
    response: &mut reqwest::Response,
    text: &str,
    within: Duration,
) -> Option<String> {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(text) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return None,
        }
    }
    Some(seen)
}

async fn the_event_stream_announces_new_and_changed_alerts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let counselor = app.staff("counselor", &["north"]).await;
    let admin = app.staff("admin", &[]).await;
    assert_error(app.get("/api/v1/alerts/events").await, 401, "unauthorized").await;
    assert_error(
        app.get_as(&admin.token, "/api/v1/alerts/events").await,
        403,
        "forbidden",
    )
    .await;

    let mut stream = app.get_as(&counselor.token, "/api/v1/alerts/events").await;
    assert_eq!(stream.status().as_u16(), 200);
    let content_type = stream
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    read_until(&mut stream, "event: ping", Duration::from_secs(5))
        .await
        .expect("the stream opens with a ping");

    // Another site's alert is not announced to this counselor; this site's is.
    let south = app.red_alert(Some("south")).await;
    let north = app.red_alert(Some("north")).await;
    let seen = read_until(&mut stream, "event: queue", Duration::from_secs(5))
        .await
        .expect("`event: queue` within seconds of a red screening");
    assert!(seen.contains(&north), "{seen}");
    assert!(!seen.contains(&south), "{seen}");
    assert!(
        !seen.contains("Rider") && !seen.contains("phq9"),
        "no rider data: {seen}"
    );

    // A change (taken) is announced too.
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{north}/acknowledge"),
            None,
        )
        .await)
    .await;
    let seen = read_until(&mut stream, &north, Duration::from_secs(5))
        .await
        .expect("the acknowledgement is announced");
    assert!(seen.contains("event: queue"), "{seen}");
}

async fn unknown_alerts_and_bad_bodies_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let supervisor = app.staff("supervisor", &[]).await;
    let id = app.red_alert(None).await;
    act(&app, &counselor, &id, "acknowledge", None).await;
    let events_before = app.alert_events(&id).await.len();
    let audit_before = app.audit_count(None).await;

    for missing in [
        "no-such-alert",
        "A-ZZZZ",
        "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e",
    ] {
        assert_error(
            app.get_as(&counselor.token, &format!("/api/v1/alerts/{missing}"))
                .await,
            404,
            "not_found",
        )
        .await;
        for (action, body) in [
            ("acknowledge", None),
            ("unacknowledge", None),
            ("notes", Some(json!({"text": "x"}))),
            ("resolve", Some(resolution())),
        ] {
            let (status, error) = act(&app, &counselor, missing, action, body).await;
            assert_eq!(status, 404, "{action} {missing}: {error}");
        }
        let (status, _) = act(
            &app,
            &supervisor,
            missing,
            "assign",
            Some(json!({"user_id": counselor.id})),
        )
        .await;
        assert_eq!(status, 404);
    }

    let raw = |action: &'static str, content_type: &'static str, body: &'static str| {
        let who = if action == "assign" {
            &supervisor
        } else {
            &counselor
        };
        app.request(
            reqwest::Method::POST,
            &format!("/api/v1/alerts/{id}/{action}"),
            Some(&who.token),
        )
        .header("Content-Type", content_type)
        .body(body)
        .send()
    };
    for action in ["notes", "resolve", "assign"] {
        assert_error(
            raw(action, "text/plain", "{}").await.expect("sent"),
            415,
            "unsupported_media_type",
        )
        .await;
        assert_error(
            raw(action, "application/json", "{not json")
                .await
                .expect("sent"),
            400,
            "bad_request",
        )
        .await;
        assert_error(
            raw(action, "application/json", r#"{"unknown": 1}"#)
                .await
                .expect("sent"),
            400,
            "bad_request",
        )
        .await;
    }
    for text in ["", "   ", "x\u{0}y"] {
        let (status, error) =
            act(&app, &counselor, &id, "notes", Some(json!({"text": text}))).await;
        assert_eq!(status, 422, "{text:?}: {error}");
        assert_eq!(error["error"]["details"][0]["field"], "note");
    }
    let (status, _) = act(
        &app,
        &counselor,
        &id,
        "notes",
        Some(json!({"text": "x".repeat(4001)})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(app.alert_events(&id).await.len(), events_before);
    assert_eq!(
        app.audit_count(None).await,
        audit_before,
        "no audit row for refused actions"
    );
    let row = app.alert_row(&id).await;
    assert_eq!(row.status, "acknowledged");
    assert_eq!(row.assignee_id.as_deref(), Some(counselor.id.as_str()));
}

/// Issue 11: nothing is hidden. The queue pages through every alert with a cursor, says the
/// exact total, and `open_red` is a count, not the length of the page.
async fn the_queue_pages_through_every_alert_and_counts_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let mut opened = Vec::new();
    for _ in 0..5 {
        opened.push(app.red_alert(None).await);
    }
    opened.push(
        app.submit(&phq9_body(YELLOW))
            .await
            .alert_id
            .expect("alert"),
    );
    opened.push(app.submit(&asq_urgent()).await.alert_id.expect("alert"));
    let everything = ids(&queue(&app, &counselor, "").await);
    assert_eq!(everything.len(), 7);

    let mut seen = Vec::new();
    let mut query = "?limit=3".to_string();
    let mut pages = 0;
    loop {
        let body = ok(app
            .get_as(&counselor.token, &format!("/api/v1/alerts{query}"))
            .await)
        .await;
        pages += 1;
        assert_eq!(body["total"], 7, "the total counts every page: {body}");
        assert_eq!(
            body["open_red"], 6,
            "a count, not the page's length: {body}"
        );
        let page = body["alerts"].as_array().expect("alerts");
        assert!(page.len() <= 3);
        seen.extend(ids(page));
        match body["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // Every alert once, in the queue's order.
    assert_eq!(seen, everything);
    let mut sorted = seen.clone();
    sorted.sort();
    opened.sort();
    assert_eq!(sorted, opened);

    // Any cursor the documented pattern allows is a position (past every row: an empty page).
    for odd in ["-037926918.-92540.r", "9999999999.9999999999999999999.z"] {
        let response = app
            .get_as(&counselor.token, &format!("/api/v1/alerts?cursor={odd}"))
            .await;
        assert_eq!(response.status().as_u16(), 200, "{odd}");
    }
    for bad in [
        "",
        "nonsense",
        "1.2",
        "x.1.abc",
        "1.2.a%20b",
        "12345678901.1.a",
        "1.12345678901234567890.a",
    ] {
        let response = app
            .get_as(&counselor.token, &format!("/api/v1/alerts?cursor={bad}"))
            .await;
        assert_error(response, 400, "bad_request").await;
    }
}

backend_tests!(
    red_and_yellow_screenings_open_alerts_with_their_deadlines,
    the_red_deadline_comes_from_configuration,
    a_site_is_kept_only_when_it_is_a_known_site,
    the_queue_is_urgent_red_then_red_then_yellow_each_by_deadline,
    the_queue_pages_through_every_alert_and_counts_exactly,
    a_filter_that_is_not_a_number_is_a_json_400,
    an_alert_is_acknowledged_noted_and_resolved_on_its_timeline,
    every_outcome_code_resolves,
    an_alert_can_be_given_back_by_whoever_took_it_or_a_supervisor,
    a_second_acknowledgement_gets_409_naming_who_took_it,
    only_the_assignee_or_a_supervisor_resolves_or_notes_are_open_to_all,
    supervisors_reassign_and_counselors_cannot,
    take_next_takes_the_most_urgent_open_alert_the_counselor_may_see,
    a_later_screening_of_the_same_rider_joins_the_open_alert,
    an_identified_riders_earlier_screenings_are_listed,
    two_acknowledgements_racing_exactly_one_wins,
    the_event_stream_announces_new_and_changed_alerts,
    unknown_alerts_and_bad_bodies_change_nothing,
);
