//! Who may do what: the role matrix of every non-public `/api/v1` endpoint, records of other
//! sites answered 404 (and the attempt audited), CSRF for cookie sessions, one audit row per
//! read of answers, and rider data that only counselors see and no log line carries.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, RED, Staff, TestApp, assert_error, captured_logs, ok, phq9_body, spawn_app,
    status_json,
};

/// Endpoints anyone may call: the rider's side and signing in.
const PUBLIC: [(&str, &str); 6] = [
    ("GET", "/api/v1/questionnaires"),
    ("GET", "/api/v1/challenge"),
    ("GET", "/api/v1/questionnaires/{id}"),
    ("GET", "/api/v1/fhir/Questionnaire/{id}"),
    ("POST", "/api/v1/screenings"),
    ("POST", "/api/v1/auth/login"),
];

/// What a row's `{id}` or `{slug}` stands for (made fresh for every request that needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The route has no parameter.
    Nothing,
    /// An open red alert of the caller's site (`north`): also what take-next finds.
    OpenHere,
    /// An open red alert of another site (`south`).
    OpenElsewhere,
    /// A `north` alert acknowledged by the caller (by a colleague when the caller does not
    /// work alerts).
    TakenByCaller,
    /// An alert id that does not exist.
    NoAlert,
    /// A counselor's user id.
    AUser,
    /// A user id that does not exist.
    NoUser,
    /// The `north` site.
    ASite,
    /// A site slug that does not exist.
    NoSite,
    /// A shift of the counselor (made by the admin).
    AShift,
    /// A shift id that does not exist.
    NoShift,
    /// A suspected-flood cluster id that does not exist.
    NoCluster,
    /// A shipped questionnaire (`phq9`).
    AQuestionnaire,
    /// A questionnaire id no file has.
    NoQuestionnaire,
}
use Target::*;

struct Row {
    method: &'static str,
    route: &'static str,
    target: Target,
    /// Expected status for: anonymous, counselor, supervisor, admin.
    expect: [u16; 4],
}

const fn row(method: &'static str, route: &'static str, target: Target, expect: [u16; 4]) -> Row {
    Row {
        method,
        route,
        target,
        expect,
    }
}

const ROLES: [&str; 4] = ["anonymous", "counselor", "supervisor", "admin"];

/// The matrix. Counselor and supervisor serve the site `north`; admins manage users, sites
/// and the audit log and see no alert (403 for the whole area); a record outside the caller's
/// sites is answered as if it did not exist (404). Anonymous is always 401.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //   method   route                                 {id} / {slug}       anon  couns  superv  admin
    row("GET",   "/api/v1/auth/me",                     Nothing,           [401,  200,   200,    200]),
    row("POST",  "/api/v1/auth/logout",                 Nothing,           [401,  204,   204,    204]),
    row("POST",  "/api/v1/auth/password",               Nothing,           [401,  200,   200,    200]),
    row("GET",   "/api/v1/alerts",                      Nothing,           [401,  200,   200,    403]),
    row("GET",   "/api/v1/alerts/events",               Nothing,           [401,  200,   200,    403]),
    row("POST",  "/api/v1/alerts/take-next",            OpenHere,          [401,  200,   200,    403]),
    row("GET",   "/api/v1/alerts/{id}",                 OpenHere,          [401,  200,   200,    403]),
    row("GET",   "/api/v1/alerts/{id}",                 OpenElsewhere,     [401,  404,   404,    403]),
    row("GET",   "/api/v1/alerts/{id}",                 NoAlert,           [401,  404,   404,    403]),
    row("POST",  "/api/v1/alerts/{id}/acknowledge",     OpenHere,          [401,  200,   200,    403]),
    row("POST",  "/api/v1/alerts/{id}/acknowledge",     OpenElsewhere,     [401,  404,   404,    403]),
    row("POST",  "/api/v1/alerts/{id}/unacknowledge",   TakenByCaller,     [401,  200,   200,    403]),
    row("POST",  "/api/v1/alerts/{id}/unacknowledge",   OpenElsewhere,     [401,  404,   404,    403]),
    row("POST",  "/api/v1/alerts/{id}/notes",           TakenByCaller,     [401,  201,   201,    403]),
    row("POST",  "/api/v1/alerts/{id}/notes",           OpenElsewhere,     [401,  404,   404,    403]),
    row("POST",  "/api/v1/alerts/{id}/resolve",         TakenByCaller,     [401,  200,   200,    403]),
    row("POST",  "/api/v1/alerts/{id}/resolve",         OpenElsewhere,     [401,  404,   404,    403]),
    row("POST",  "/api/v1/alerts/{id}/assign",          TakenByCaller,     [401,  403,   200,    403]),
    row("POST",  "/api/v1/alerts/{id}/assign",          OpenElsewhere,     [401,  403,   404,    403]),
    row("GET",   "/api/v1/clusters/{id}",               NoCluster,         [401,  404,   404,    403]),
    row("POST",  "/api/v1/clusters/{id}/release",       NoCluster,         [401,  403,   404,    403]),
    row("POST",  "/api/v1/clusters/{id}/resolve",       NoCluster,         [401,  403,   404,    403]),
    row("GET",   "/api/v1/admin/abuse",                 Nothing,           [401,  403,   403,    200]),
    row("GET",   "/api/v1/alerts/{id}/fhir",            OpenHere,          [401,  200,   200,    403]),
    row("GET",   "/api/v1/alerts/{id}/fhir",            OpenElsewhere,     [401,  404,   404,    403]),
    row("GET",   "/api/v1/admin/users",                 Nothing,           [401,  403,   403,    200]),
    row("POST",  "/api/v1/admin/users",                 Nothing,           [401,  403,   403,    201]),
    row("PATCH", "/api/v1/admin/users/{id}",            AUser,             [401,  403,   403,    200]),
    row("PATCH", "/api/v1/admin/users/{id}",            NoUser,            [401,  403,   403,    404]),
    row("GET",   "/api/v1/admin/sites",                 Nothing,           [401,  403,   403,    200]),
    row("POST",  "/api/v1/admin/contacts/erase",        Nothing,           [401,  403,   403,    200]),
    row("POST",  "/api/v1/admin/sites",                 Nothing,           [401,  403,   403,    201]),
    row("GET",   "/api/v1/admin/sites/unknown",         Nothing,           [401,  403,   403,    200]),
    row("PATCH", "/api/v1/admin/sites/{slug}",          ASite,             [401,  403,   403,    200]),
    row("PATCH", "/api/v1/admin/sites/{slug}",          NoSite,            [401,  403,   403,    404]),
    row("GET",   "/api/v1/admin/sites/{slug}/poster.svg", ASite,           [401,  403,   403,    200]),
    row("GET",   "/api/v1/admin/sites/{slug}/poster.svg", NoSite,          [401,  403,   403,    404]),
    row("GET",   "/api/v1/admin/sites/{slug}/poster.png", ASite,           [401,  403,   403,    200]),
    row("GET",   "/api/v1/admin/sites/{slug}/poster.png", NoSite,          [401,  403,   403,    404]),
    row("GET",   "/api/v1/admin/audit",                 Nothing,           [401,  403,   403,    200]),
    row("GET",   "/api/v1/admin/jobs",                  Nothing,           [401,  403,   403,    200]),
    // The folder served here is the repository's: the admin's edits are refused (422, 404),
    // never written.
    row("GET",   "/api/v1/admin/questionnaires",        Nothing,           [401,  403,   403,    200]),
    row("GET",   "/api/v1/admin/questionnaires/{id}",   AQuestionnaire,    [401,  403,   403,    200]),
    row("GET",   "/api/v1/admin/questionnaires/{id}",   NoQuestionnaire,   [401,  403,   403,    404]),
    row("PUT",   "/api/v1/admin/questionnaires/{id}",   AQuestionnaire,    [401,  403,   403,    422]),
    row("GET",   "/api/v1/admin/questionnaires/{id}/diff", AQuestionnaire, [401,  403,   403,    400]),
    row("POST",  "/api/v1/admin/questionnaires/{id}/preview", AQuestionnaire, [401, 403,  422,    422]),
    row("POST",  "/api/v1/admin/questionnaires/{id}/rollback", AQuestionnaire, [401, 403, 403,    404]),
    row("POST",  "/api/v1/admin/questionnaires/{id}/withdraw", NoQuestionnaire, [401, 403, 403,   404]),
    row("POST",  "/api/v1/admin/questionnaires/{id}/restore", AQuestionnaire, [401, 403,  403,    200]),
    row("GET",   "/api/v1/reports/screenings",          Nothing,           [401,  403,   200,    200]),
    row("GET",   "/api/v1/reports/alerts",              Nothing,           [401,  403,   200,    200]),
    row("GET",   "/api/v1/reports/coverage",            Nothing,           [401,  403,   200,    200]),
    row("GET",   "/api/v1/shifts",                      Nothing,           [401,  200,   200,    200]),
    row("POST",  "/api/v1/shifts",                      Nothing,           [401,  403,   201,    201]),
    row("GET",   "/api/v1/shifts/on-duty",              Nothing,           [401,  200,   200,    200]),
    row("DELETE","/api/v1/shifts/{id}",                 AShift,            [401,  403,   204,    204]),
    row("DELETE","/api/v1/shifts/{id}",                 NoShift,           [401,  403,   404,    404]),
];

/// The people of the matrix.
struct Cast {
    counselor: Staff,
    supervisor: Staff,
    admin: Staff,
    /// Takes alerts for callers who do not work them, and is the target of reassignments.
    colleague: Staff,
    target_user: String,
}

impl Cast {
    fn of(&self, role: usize) -> Option<&Staff> {
        match role {
            1 => Some(&self.counselor),
            2 => Some(&self.supervisor),
            3 => Some(&self.admin),
            _ => None,
        }
    }
}

async fn fill(app: &TestApp, cast: &Cast, target: Target, caller: Option<&Staff>) -> String {
    match target {
        Nothing => String::new(),
        OpenHere => app.red_alert(Some("north")).await,
        OpenElsewhere => app.red_alert(Some("south")).await,
        TakenByCaller => {
            let id = app.red_alert(Some("north")).await;
            let taker = caller
                .filter(|c| c.role != "admin")
                .unwrap_or(&cast.colleague);
            ok(app
                .post_as(
                    &taker.token,
                    &format!("/api/v1/alerts/{id}/acknowledge"),
                    None,
                )
                .await)
            .await;
            id
        }
        NoAlert => "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e".into(),
        AUser => cast.target_user.clone(),
        NoUser => "no-such-user".into(),
        ASite => "north".into(),
        NoSite => "no-such-site".into(),
        AShift => {
            let body = shift_body(cast);
            let shift = crate::helpers::created(
                app.post_as(&cast.admin.token, "/api/v1/shifts", Some(&body))
                    .await,
            )
            .await;
            shift["id"].as_str().expect("a shift id").to_string()
        }
        NoShift => "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e".into(),
        NoCluster => "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8f".into(),
        AQuestionnaire => "phq9".into(),
        NoQuestionnaire => "no_such_questionnaire".into(),
    }
}

/// A shift of the counselor: eight hours from 09:00 China time on 1 December 2026.
fn shift_body(cast: &Cast) -> Value {
    json!({
        "user_id": cast.counselor.id,
        "starts_at": "2026-12-01T09:00",
        "ends_at": "2026-12-01T17:00",
    })
}

fn body_for(method: &str, route: &str, cast: &Cast, n: usize) -> Option<Value> {
    match (method, route) {
        ("POST", "/api/v1/auth/password") => Some(json!({
            "current_password": PASSWORD,
            "new_password": "another long passphrase",
        })),
        ("POST", "/api/v1/alerts/{id}/notes") => Some(json!({"text": "Tried to call."})),
        ("POST", "/api/v1/alerts/{id}/resolve") => {
            Some(json!({"outcome": "unreachable", "note": "No answer three times."}))
        }
        ("POST", "/api/v1/alerts/{id}/assign") => Some(json!({"user_id": cast.colleague.id})),
        ("POST", "/api/v1/admin/users") => Some(json!({
            "email": format!("matrix-{n}@example.org"),
            "name": "Made by the matrix",
            "role": "counselor",
        })),
        ("PATCH", "/api/v1/admin/users/{id}") => Some(json!({"name": "Renamed by the matrix"})),
        ("POST", "/api/v1/admin/sites") => {
            Some(json!({"slug": format!("matrix-{n}"), "name": "Matrix station"}))
        }
        ("PATCH", "/api/v1/admin/sites/{slug}") => Some(json!({"name": "North station"})),
        ("POST", "/api/v1/admin/contacts/erase") => Some(json!({"phone": "139 0000 0000"})),
        ("POST", "/api/v1/shifts") => Some(shift_body(cast)),
        ("POST", "/api/v1/clusters/{id}/release") => {
            Some(json!({"alert_ids": ["0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e"]}))
        }
        ("POST", "/api/v1/clusters/{id}/resolve") => Some(json!({"note": "A script, not riders."})),
        ("PUT", "/api/v1/admin/questionnaires/{id}")
        | ("POST", "/api/v1/admin/questionnaires/{id}/preview") => {
            Some(json!({"source": "id = \"phq9\""}))
        }
        ("POST", "/api/v1/admin/questionnaires/{id}/rollback") => Some(json!({"to": "0.0.0"})),
        _ => None,
    }
}

async fn every_endpoint_answers_each_role_as_the_matrix_says(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let cast = Cast {
        counselor: app.staff("counselor", &["north"]).await,
        supervisor: app.staff("supervisor", &["north"]).await,
        admin: app.staff("admin", &[]).await,
        colleague: app.staff("counselor", &["north"]).await,
        target_user: app.create_user("counselor", &["north"]).await.id,
    };

    // The matrix covers every registered non-public /api/v1 route (the OpenAPI document lists
    // exactly the registered routes: a unit test keeps them equal).
    let document = ok(app.get("/api/openapi.json").await).await;
    let mut registered = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let method = method.to_uppercase();
            if path.starts_with("/api/v1/") && !PUBLIC.contains(&(method.as_str(), path.as_str())) {
                registered.insert((method, path.clone()));
            }
        }
    }
    let covered: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_string()))
        .collect();
    let missing: Vec<_> = registered.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the role matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&registered).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist: {stale:?}"
    );

    let mut failures = Vec::new();
    let mut n = 0;
    for r in MATRIX {
        for (role, expected) in r.expect.iter().enumerate() {
            n += 1;
            // Signing out and changing the password end sessions: those rows use a session (or
            // a user) of their own, so the rest of the matrix keeps its sessions.
            let own;
            let caller = match (cast.of(role), r.route) {
                (Some(who), "/api/v1/auth/logout") => {
                    own = Staff {
                        token: app.sign_in(&who.email, PASSWORD).await,
                        ..who.clone()
                    };
                    Some(&own)
                }
                (Some(who), "/api/v1/auth/password") => {
                    let sites: &[&str] = if who.role == "admin" { &[] } else { &["north"] };
                    own = app.staff(&who.role, sites).await;
                    Some(&own)
                }
                (who, _) => who,
            };
            let target = fill(&app, &cast, r.target, caller).await;
            let path = r.route.replace("{id}", &target).replace("{slug}", &target);
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("a method");
            let mut request = app.request(method, &path, caller.map(|c| c.token.as_str()));
            if let Some(body) = body_for(r.method, r.route, &cast, n) {
                request = request.json(&body);
            }
            let response = request.send().await.expect("the request was sent");
            let status = response.status().as_u16();
            if status != *expected {
                // The event stream never ends: read its body only when it is not one.
                let text = if status == 200 && r.route.ends_with("/events") {
                    String::new()
                } else {
                    response.text().await.unwrap_or_default()
                };
                failures.push(format!(
                    "{} {} ({:?}) as {}: expected {expected}, got {status} {text}",
                    r.method, r.route, r.target, ROLES[role]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cells differ from the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn another_sites_alert_is_404_and_the_attempt_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    app.create_site("south").await;
    let counselor = app.staff("counselor", &["north"]).await;
    let supervisor = app.staff("supervisor", &["north"]).await;
    let everywhere = app.staff("counselor", &[]).await;
    let south = app.red_alert(Some("south")).await;
    let no_site = app.red_alert(None).await;
    let reference = app.alert_row(&south).await.reference;

    let missing = assert_error(
        app.get_as(
            &counselor.token,
            "/api/v1/alerts/0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e",
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.audit_count(Some("alert.access_denied")).await, 0);

    let attempts: [(&Staff, String, &str); 5] = [
        (&counselor, format!("/api/v1/alerts/{south}"), "GET"),
        (&counselor, format!("/api/v1/alerts/{reference}"), "GET"),
        (&counselor, format!("/api/v1/alerts/{no_site}"), "GET"),
        (&supervisor, format!("/api/v1/alerts/{south}"), "GET"),
        (
            &counselor,
            format!("/api/v1/alerts/{south}/acknowledge"),
            "POST",
        ),
    ];
    for (i, (who, path, method)) in attempts.iter().enumerate() {
        let response = if *method == "GET" {
            app.get_as(&who.token, path).await
        } else {
            app.post_as(&who.token, path, None).await
        };
        let body = assert_error(response, 404, "not_found").await;
        assert_eq!(
            body, missing,
            "{path}: the same answer as for no alert at all"
        );
        let denied: Vec<_> = app
            .audit_entries()
            .await
            .into_iter()
            .filter(|e| e.action == "alert.access_denied")
            .collect();
        assert_eq!(denied.len(), i + 1, "{method} {path} is audited once");
        let last = &denied[0];
        assert_eq!(last.actor_id.as_deref(), Some(who.id.as_str()));
        assert_eq!(last.actor, who.email);
        assert_eq!(last.ip.as_deref(), Some("127.0.0.1"));
        assert!(
            last.target.as_deref() == Some(south.as_str())
                || last.target.as_deref() == Some(no_site.as_str()),
            "the alert is named: {last:?}"
        );
    }
    assert_eq!(
        app.alert_row(&south).await.status,
        "open",
        "the refused acknowledgement did nothing"
    );
    assert_eq!(app.audit_count(Some("alert.viewed")).await, 0);
    assert_eq!(app.audit_count(Some("alert.acknowledged")).await, 0);
    // The queue does not list it either, even when asked for that site.
    let listed = ok(app
        .get_as(&counselor.token, "/api/v1/alerts?site=south")
        .await)
    .await;
    assert_eq!(listed["alerts"], json!([]));
    let listed = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_eq!(listed["alerts"], json!([]));
    assert_eq!(listed["open_red"], 0);
    // A counselor of every site sees both.
    ok(app
        .get_as(&everywhere.token, &format!("/api/v1/alerts/{south}"))
        .await)
    .await;
    ok(app
        .get_as(&everywhere.token, &format!("/api/v1/alerts/{no_site}"))
        .await)
    .await;
}

async fn every_read_of_an_alert_writes_exactly_one_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let admin = app.staff("admin", &[]).await;
    let id = app.red_alert(None).await;
    let reference = app.alert_row(&id).await.reference;
    for (i, key) in [&id, &reference, &id, &id, &reference].iter().enumerate() {
        let before = app.audit_count(Some("alert.viewed")).await;
        let all_before = app.audit_count(None).await;
        ok(app
            .get_as(&counselor.token, &format!("/api/v1/alerts/{key}"))
            .await)
        .await;
        assert_eq!(
            app.audit_count(Some("alert.viewed")).await,
            before + 1,
            "view {i}"
        );
        assert_eq!(
            app.audit_count(None).await,
            all_before + 1,
            "view {i}: one row in all"
        );
    }
    let viewed: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|e| e.action == "alert.viewed")
        .collect();
    assert_eq!(viewed.len(), 5);
    for e in &viewed {
        assert_eq!(e.target.as_deref(), Some(id.as_str()));
        assert_eq!(e.actor_id.as_deref(), Some(counselor.id.as_str()));
        assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
        let detail: Value = serde_json::from_str(&e.detail).expect("JSON");
        assert_eq!(detail["answers"], true, "{detail}");
    }
    // The queue, refusals and unknown alerts read no answers: no row.
    let before = app.audit_count(None).await;
    ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    assert_error(
        app.get_as(&admin.token, &format!("/api/v1/alerts/{id}"))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get(&format!("/api/v1/alerts/{id}")).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get_as(&counselor.token, "/api/v1/alerts/A-ZZZZ").await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.audit_count(None).await, before);
}

async fn rider_contact_details_reach_counselors_only_and_no_log_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let admin = app.staff("admin", &[]).await;
    let name = "MARKER_RIDER_NAME_Q8Z";
    let phone = "13712345670";
    let mut request = phq9_body(RED);
    request["contact"] = json!({"name": name, "phone": phone});
    request["consent_to_contact"] = json!(true);
    let id = app.submit(&request).await.alert_id.expect("an alert");

    let d = ok(app
        .get_as(&counselor.token, &format!("/api/v1/alerts/{id}"))
        .await)
    .await;
    assert_eq!(d["contact"]["name"], name);
    assert_eq!(d["contact"]["phone"], phone);
    // The answers are there, with each item's text in the counselor's language (en).
    let answers = d["screenings"][0]["answers"].as_array().expect("answers");
    assert_eq!(answers.len(), 9);
    let q9 = answers.iter().find(|a| a["item"] == "q9").expect("q9");
    assert_eq!(q9["value"], 1);
    assert!(
        q9["text"]
            .as_str()
            .is_some_and(|t| t.is_ascii() && !t.is_empty()),
        "English item text: {q9}"
    );
    // Work on it too: notes and transitions log ids only.
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await)
    .await;

    let (status, body) = status_json(
        app.get_as(&admin.token, &format!("/api/v1/alerts/{id}"))
            .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let queue = ok(app.get_as(&counselor.token, "/api/v1/alerts").await).await;
    let audit = ok(app
        .get_as(&admin.token, "/api/v1/admin/audit?limit=200")
        .await)
    .await;
    let db_audit = serde_json::to_string(&app.audit_entries().await).expect("JSON");
    for (what, text) in [
        ("the admin's 403", body.to_string()),
        ("the queue", queue.to_string()),
        ("the admin's audit page", audit.to_string()),
        ("the audit table", db_audit),
    ] {
        assert!(
            !text.contains(name) && !text.contains(phone),
            "{what} shows the contact: {text}"
        );
    }
    crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the view in the logs",
        || async { captured_logs().contains(&id).then_some(()) },
    )
    .await;
    let logs = captured_logs();
    for secret in [name, phone, "12345670"] {
        assert!(
            !logs.contains(secret),
            "`{secret}` is in the logs:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for staff_email in [&counselor.email, &admin.email] {
        assert!(
            !logs.contains(staff_email.as_str()),
            "logs carry ids, not emails"
        );
    }
}

/// Sends a request with the session cookie and the given extra headers.
async fn with_cookie(
    app: &TestApp,
    cookie: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).header("Cookie", cookie);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("the request was sent")
}

async fn cookie_requests_that_change_state_need_the_csrf_token_and_this_origin(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("counselor", &[]).await;
    let session = app.cookie_session(&user.email, PASSWORD).await;
    let other = app.cookie_session(&user.email, PASSWORD).await;
    assert_ne!(session.csrf, other.csrf, "each session has its own token");
    let id = app.red_alert(None).await;
    let path = format!("/api/v1/alerts/{id}/acknowledge");
    let own_origin = app.address.clone();
    let refused: [(&str, Vec<(&str, &str)>); 6] = [
        ("no token", vec![]),
        ("a wrong token", vec![("X-CSRF-Token", "0123abcd")]),
        (
            "another session's token",
            vec![("X-CSRF-Token", &other.csrf)],
        ),
        (
            "the token from another origin",
            vec![
                ("X-CSRF-Token", &session.csrf),
                ("Origin", "https://evil.example"),
            ],
        ),
        (
            "the token, referred from another site",
            vec![
                ("X-CSRF-Token", &session.csrf),
                ("Referer", "https://evil.example/page"),
            ],
        ),
        (
            "the token, from an origin that only starts like ours",
            vec![
                ("X-CSRF-Token", &session.csrf),
                ("Origin", "http://127.0.0.1.evil.example"),
            ],
        ),
    ];
    for (what, headers) in &refused {
        let response = with_cookie(&app, &session.cookie, &path, headers).await;
        assert_error(response, 403, "forbidden").await;
        let row = app.alert_row(&id).await;
        assert_eq!(row.status, "open", "{what}: the alert stays open");
        assert_eq!(app.alert_events(&id).await.len(), 1, "{what}: no event");
    }
    // Admin actions the same way: nothing created.
    let admin = app.create_user("admin", &[]).await;
    let admin_session = app.cookie_session(&admin.email, PASSWORD).await;
    let users = app.user_count().await;
    let response = app
        .client
        .post(app.url("/api/v1/admin/users"))
        .header("Cookie", &admin_session.cookie)
        .json(&json!({"email": "csrf@example.org", "name": "CSRF", "role": "admin"}))
        .send()
        .await
        .expect("sent");
    assert_error(response, 403, "forbidden").await;
    assert_eq!(app.user_count().await, users);
    // Signing out is a change too: refused without the token, and the session lives on.
    assert_error(
        with_cookie(&app, &session.cookie, "/api/v1/auth/logout", &[]).await,
        403,
        "forbidden",
    )
    .await;
    // Reading needs no token.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/alerts/{id}")))
        .header("Cookie", &session.cookie)
        .send()
        .await
        .expect("sent");
    ok(response).await;

    // With the token, from this origin or with none: done.
    let response = with_cookie(
        &app,
        &session.cookie,
        &path,
        &[("X-CSRF-Token", &session.csrf)],
    )
    .await;
    let taken = ok(response).await;
    assert_eq!(taken["assignee"]["id"], user.id.as_str());
    let second = app.red_alert(None).await;
    let response = with_cookie(
        &app,
        &session.cookie,
        &format!("/api/v1/alerts/{second}/acknowledge"),
        &[("X-CSRF-Token", &session.csrf), ("Origin", &own_origin)],
    )
    .await;
    ok(response).await;

    // A bearer request needs no CSRF token, whatever its Origin says.
    let bearer = app.sign_in(&user.email, PASSWORD).await;
    let third = app.red_alert(None).await;
    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/alerts/{third}/acknowledge"),
            Some(&bearer),
        )
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("sent");
    ok(response).await;

    let response = with_cookie(
        &app,
        &session.cookie,
        "/api/v1/auth/logout",
        &[("X-CSRF-Token", &session.csrf)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.starts_with("careline_session=")
                && (c.contains("Max-Age=0") || c.contains("expires="))
        });
    assert!(
        cleared,
        "signing out with the cookie clears it: {:?}",
        response.headers()
    );
}

backend_tests!(
    every_endpoint_answers_each_role_as_the_matrix_says,
    another_sites_alert_is_404_and_the_attempt_is_audited,
    every_read_of_an_alert_writes_exactly_one_audit_row,
    rider_contact_details_reach_counselors_only_and_no_log_line,
    cookie_requests_that_change_state_need_the_csrf_token_and_this_origin,
);
