//! Duty rosters through HTTP: shifts created, listed and deleted (China-time input stored in
//! UTC, audited), who may change them, every bad input refused with its field and nothing
//! written, "on duty now" following the shifts, and the admins' list of failed jobs.

use chrono::{Duration, NaiveDateTime, SecondsFormat, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};

use careline::db;

use crate::helpers::{Backend, Staff, TestApp, assert_error, created, ok, spawn_app, status_json};

backend_tests!(
    shifts_are_created_listed_and_deleted_with_audit_rows,
    china_time_input_is_stored_in_utc,
    counselors_read_rosters_but_cannot_change_them,
    every_bad_shift_is_refused_with_its_field_and_nothing_is_written,
    a_shift_without_sites_serves_the_persons_own,
    on_duty_follows_the_shifts,
    admins_see_failed_and_dead_jobs_without_their_payload,
);

async fn delete_as(app: &TestApp, token: Option<&str>, path: &str) -> reqwest::Response {
    app.request(reqwest::Method::DELETE, path, token)
        .send()
        .await
        .expect("the request was sent")
}

async fn shift_count(app: &TestApp) -> i64 {
    app.with_conn(|c| {
        db::schema::shifts::table
            .count()
            .get_result::<i64>(c)
            .expect("count shifts")
    })
    .await
}

async fn shift_row(app: &TestApp, id: &str) -> Option<db::rosters::ShiftRow> {
    let id = id.to_string();
    app.with_conn(move |c| db::rosters::find(c, &id))
        .await
        .expect("read a shift")
}

fn utc(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("a time")
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A site `north`, a counselor of it, a supervisor of it and an admin.
async fn cast(app: &TestApp) -> (Staff, Staff, Staff) {
    app.create_site("north").await;
    (
        app.staff("counselor", &["north"]).await,
        app.staff("supervisor", &["north"]).await,
        app.staff("admin", &[]).await,
    )
}

const WEEK: &str = "/api/v1/shifts?from=2026-12-01T00:00&to=2026-12-08T00:00";

async fn shifts_are_created_listed_and_deleted_with_audit_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, admin) = cast(&app).await;

    let first = created(
        app.post_as(
            &supervisor.token,
            "/api/v1/shifts",
            Some(&json!({
                "user_id": counselor.id,
                "starts_at": "2026-12-01T09:00",
                "ends_at": "2026-12-01T17:00",
            })),
        )
        .await,
    )
    .await;
    let second = created(
        app.post_as(
            &admin.token,
            "/api/v1/shifts",
            Some(&json!({
                "user_id": supervisor.id,
                "starts_at": "2026-12-02T00:00:00Z",
                "ends_at": "2026-12-02T12:00:00+08:00",
                "sites": ["north"],
            })),
        )
        .await,
    )
    .await;
    assert_eq!(first["user_id"], counselor.id.as_str());
    assert_eq!(first["name"], counselor.name.as_str());
    assert_eq!(first["role"], "counselor");
    assert_eq!(first["active"], true);
    assert_eq!(first["created_by"], supervisor.id.as_str());
    assert_eq!(second["starts_at"], "2026-12-02T00:00:00Z");
    assert_eq!(second["ends_at"], "2026-12-02T04:00:00Z");
    assert_eq!(second["starts_local"], "2026-12-02T08:00:00+08:00");
    assert_eq!(second["sites"], json!(["north"]));

    // Listed by start, in the window asked for.
    let list = ok(app.get_as(&counselor.token, WEEK).await).await;
    assert_eq!(list["from"], "2026-11-30T16:00:00Z");
    assert_eq!(list["to"], "2026-12-07T16:00:00Z");
    let ids: Vec<&str> = list["shifts"]
        .as_array()
        .expect("shifts")
        .iter()
        .map(|s| s["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(
        ids,
        [&first["id"], &second["id"]].map(|v| v.as_str().unwrap())
    );
    assert_eq!(list["shifts"][0], first);
    let later = ok(app
        .get_as(
            &counselor.token,
            "/api/v1/shifts?from=2026-12-02T00:00:00Z&to=2026-12-03T00:00:00Z",
        )
        .await)
    .await;
    assert_eq!(later["shifts"].as_array().expect("shifts").len(), 1);
    assert_eq!(later["shifts"][0]["id"], second["id"]);

    // Audited, in the same transaction as the change.
    assert_eq!(app.audit_count(Some("shift.created")).await, 2);
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "shift.created" && e.target.as_deref() == first["id"].as_str())
        .expect("the audit row of the first shift");
    assert_eq!(entry.actor, supervisor.email);
    assert_eq!(entry.actor_id.as_deref(), Some(supervisor.id.as_str()));
    let detail: Value = serde_json::from_str(&entry.detail).expect("JSON detail");
    assert_eq!(
        detail,
        json!({
            "user_id": counselor.id,
            "starts_at": "2026-12-01T01:00:00Z",
            "ends_at": "2026-12-01T09:00:00Z",
            "sites": [],
        })
    );

    // Deleted: 204, gone from the list, its sites with it; a second delete is 404.
    let id = first["id"].as_str().expect("an id");
    let response = delete_as(
        &app,
        Some(&supervisor.token),
        &format!("/api/v1/shifts/{id}"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.expect("a body").is_empty());
    assert!(shift_row(&app, id).await.is_none());
    let list = ok(app.get_as(&counselor.token, WEEK).await).await;
    assert_eq!(list["shifts"].as_array().expect("shifts").len(), 1);
    assert_error(
        delete_as(&app, Some(&admin.token), &format!("/api/v1/shifts/{id}")).await,
        404,
        "not_found",
    )
    .await;
    let second_id = second["id"].as_str().expect("an id");
    let response = delete_as(
        &app,
        Some(&admin.token),
        &format!("/api/v1/shifts/{second_id}"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    let left: i64 = app
        .with_conn(|c| {
            db::schema::shift_sites::table
                .count()
                .get_result(c)
                .expect("count shift sites")
        })
        .await;
    assert_eq!(left, 0);
    assert_eq!(app.audit_count(Some("shift.deleted")).await, 2);
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "shift.deleted" && e.target.as_deref() == Some(id))
        .expect("the audit row of the deletion");
    assert_eq!(entry.actor, supervisor.email);
}

async fn china_time_input_is_stored_in_utc(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, _) = cast(&app).await;
    // (starts_at, ends_at) as sent -> as stored in UTC.
    let cases = [
        (
            ("2026-12-01T09:00", "2026-12-01T17:00"),
            ("2026-12-01 01:00:00", "2026-12-01 09:00:00"),
        ),
        // Just after midnight in China is still the day before in UTC.
        (
            ("2026-12-01T00:30", "2026-12-01T08:00:45"),
            ("2026-11-30 16:30:00", "2026-12-01 00:00:45"),
        ),
        (
            ("2026-12-01T09:00:00+08:00", "2026-12-01T10:00:00Z"),
            ("2026-12-01 01:00:00", "2026-12-01 10:00:00"),
        ),
        (
            ("2026-11-30T20:00:00-05:00", "2026-12-01T01:00:00.900Z"),
            ("2026-12-01 01:00:00", "2026-12-01 01:00:00"),
        ),
    ];
    for ((starts, ends), (starts_utc, ends_utc)) in cases {
        let body = json!({"user_id": counselor.id, "starts_at": starts, "ends_at": ends});
        let response = app
            .post_as(&supervisor.token, "/api/v1/shifts", Some(&body))
            .await;
        if starts_utc == ends_utc {
            // Whole seconds: 01:00:00.900Z is 01:00:00, not after the start.
            let error = assert_error(response, 422, "invalid_request").await;
            assert_eq!(error["error"]["details"][0]["field"], "ends_at");
            continue;
        }
        let shift = created(response).await;
        let row = shift_row(&app, shift["id"].as_str().expect("an id"))
            .await
            .expect("the row");
        assert_eq!(
            (row.starts_at, row.ends_at),
            (utc(starts_utc), utc(ends_utc)),
            "{starts} .. {ends}"
        );
        assert_eq!(
            shift["starts_at"],
            format!("{}Z", utc(starts_utc).format("%Y-%m-%dT%H:%M:%S"))
        );
        let local = utc(starts_utc) + Duration::hours(8);
        assert_eq!(
            shift["starts_local"],
            format!("{}+08:00", local.format("%Y-%m-%dT%H:%M:%S"))
        );
    }
}

async fn counselors_read_rosters_but_cannot_change_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, _) = cast(&app).await;
    let body = json!({
        "user_id": counselor.id,
        "starts_at": "2026-12-01T09:00",
        "ends_at": "2026-12-01T17:00",
    });
    let error = assert_error(
        app.post_as(&counselor.token, "/api/v1/shifts", Some(&body))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("supervisor"),
        "{error}"
    );
    assert_eq!(shift_count(&app).await, 0);

    let shift = created(
        app.post_as(&supervisor.token, "/api/v1/shifts", Some(&body))
            .await,
    )
    .await;
    let path = format!("/api/v1/shifts/{}", shift["id"].as_str().expect("an id"));
    assert_error(
        delete_as(&app, Some(&counselor.token), &path).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(shift_count(&app).await, 1);
    assert_eq!(app.audit_count(Some("shift.deleted")).await, 0);

    // Not signed in: 401 everywhere, and nothing written.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/shifts"),
        (reqwest::Method::GET, "/api/v1/shifts/on-duty"),
        (reqwest::Method::POST, "/api/v1/shifts"),
        (reqwest::Method::DELETE, path.as_str()),
    ] {
        let response = app
            .request(method.clone(), path, None)
            .json(&body)
            .send()
            .await
            .expect("the request was sent");
        assert_error(response, 401, "unauthorized").await;
    }
    assert_eq!(shift_count(&app).await, 1);

    // Everyone signed in reads the rosters.
    let list = ok(app.get_as(&counselor.token, WEEK).await).await;
    assert_eq!(list["shifts"].as_array().expect("shifts").len(), 1);
    ok(app.get_as(&counselor.token, "/api/v1/shifts/on-duty").await).await;

    // A cookie session changing rosters needs the CSRF header.
    let browser = app
        .cookie_session(&supervisor.email, crate::helpers::PASSWORD)
        .await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/shifts", None)
        .header("Cookie", &browser.cookie)
        .json(&body)
        .send()
        .await
        .expect("the request was sent");
    assert_error(response, 403, "forbidden").await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/shifts", None)
        .header("Cookie", &browser.cookie)
        .header("X-CSRF-Token", &browser.csrf)
        .json(&body)
        .send()
        .await
        .expect("the request was sent");
    created(response).await;
    assert_eq!(shift_count(&app).await, 2);
}

async fn every_bad_shift_is_refused_with_its_field_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, admin) = cast(&app).await;
    let disabled = app.staff("counselor", &["north"]).await;
    ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{}", disabled.id),
            &json!({"active": false}),
        )
        .await)
    .await;
    let good = json!({
        "user_id": counselor.id,
        "starts_at": "2026-12-01T09:00",
        "ends_at": "2026-12-01T17:00",
    });
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    // (what, body, field)
    let unprocessable = [
        (
            "end before start",
            with("ends_at", json!("2026-12-01T08:00")),
            "ends_at",
        ),
        (
            "end at the start",
            with("ends_at", json!("2026-12-01T01:00:00Z")),
            "ends_at",
        ),
        (
            "longer than 7 days",
            with("ends_at", json!("2026-12-08T09:01")),
            "ends_at",
        ),
        (
            "unknown user",
            with("user_id", json!("0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e")),
            "user_id",
        ),
        ("empty user", with("user_id", json!("")), "user_id"),
        (
            "an admin as the shift's person",
            with("user_id", json!(admin.id)),
            "user_id",
        ),
        (
            "a disabled account",
            with("user_id", json!(disabled.id)),
            "user_id",
        ),
        (
            "unknown site",
            with("sites", json!(["north", "atlantis"])),
            "sites",
        ),
        (
            "a date without a time",
            with("starts_at", json!("2026-12-01")),
            "starts_at",
        ),
        (
            "a time in words",
            with("starts_at", json!("tomorrow 9am")),
            "starts_at",
        ),
        (
            "a month 13",
            with("ends_at", json!("2026-13-01T17:00")),
            "ends_at",
        ),
        (
            "a Unix timestamp as text",
            with("starts_at", json!("1764550800")),
            "starts_at",
        ),
    ];
    for (what, body, field) in &unprocessable {
        let error = assert_error(
            app.post_as(&supervisor.token, "/api/v1/shifts", Some(body))
                .await,
            422,
            "invalid_request",
        )
        .await;
        let details = error["error"]["details"].as_array().expect("details");
        assert_eq!(details.len(), 1, "{what}: {error}");
        assert_eq!(details[0]["field"], *field, "{what}: {error}");
        assert!(
            !details[0]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{what}"
        );
    }

    let mut unknown_field = good.clone();
    unknown_field["note"] = json!("x");
    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("an object")
        .remove("ends_at");
    let bad_requests = [
        ("an unknown field", unknown_field.to_string()),
        ("a missing field", missing.to_string()),
        (
            "a number as a time",
            with("starts_at", json!(1764550800)).to_string(),
        ),
        ("sites as text", with("sites", json!("north")).to_string()),
        ("not JSON", "{\"user_id\": ".to_string()),
        ("an array", "[]".to_string()),
    ];
    for (what, body) in bad_requests {
        let response = app
            .request(
                reqwest::Method::POST,
                "/api/v1/shifts",
                Some(&supervisor.token),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the request was sent");
        let (status, error) = status_json(response).await;
        assert_eq!(status, 400, "{what}: {error}");
        assert_eq!(error["error"]["code"], "bad_request", "{what}");
    }
    let response = app
        .request(
            reqwest::Method::POST,
            "/api/v1/shifts",
            Some(&supervisor.token),
        )
        .header("Content-Type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .expect("the request was sent");
    assert_error(response, 415, "unsupported_media_type").await;

    // Bad list windows are 400s.
    for query in [
        "from=yesterday",
        "to=2026-12-01",
        "from=2026-12-02T00:00&to=2026-12-01T00:00",
        "from=2026-12-01T00:00&to=2026-12-01T00:00",
        "from=2026-01-01T00:00&to=2026-12-01T00:00",
    ] {
        assert_error(
            app.get_as(&counselor.token, &format!("/api/v1/shifts?{query}"))
                .await,
            400,
            "bad_request",
        )
        .await;
    }
    assert_error(
        app.get_as(&admin.token, "/api/v1/admin/jobs?status=pending")
            .await,
        400,
        "bad_request",
    )
    .await;

    assert_eq!(shift_count(&app).await, 0);
    assert_eq!(app.audit_count(Some("shift.created")).await, 0);

    // The limits themselves are accepted: exactly 7 days, one minute long.
    created(
        app.post_as(
            &supervisor.token,
            "/api/v1/shifts",
            Some(&with("ends_at", json!("2026-12-08T09:00"))),
        )
        .await,
    )
    .await;
    created(
        app.post_as(
            &supervisor.token,
            "/api/v1/shifts",
            Some(&with("ends_at", json!("2026-12-01T09:01"))),
        )
        .await,
    )
    .await;
    assert_eq!(shift_count(&app).await, 2);
}

async fn a_shift_without_sites_serves_the_persons_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, _) = cast(&app).await;
    app.create_site("south").await;
    let everywhere = app.staff("counselor", &[]).await;
    let make = |user: &str, sites: Option<Value>| {
        let mut body = json!({
            "user_id": user,
            "starts_at": "2026-12-01T09:00",
            "ends_at": "2026-12-01T17:00",
        });
        if let Some(sites) = sites {
            body["sites"] = sites;
        }
        body
    };
    // (body, sites as stored, sites served)
    let cases = [
        (make(&counselor.id, None), json!([]), json!(["north"])),
        (
            make(&counselor.id, Some(json!([]))),
            json!([]),
            json!(["north"]),
        ),
        (
            make(&counselor.id, Some(Value::Null)),
            json!([]),
            json!(["north"]),
        ),
        (
            make(&counselor.id, Some(json!(["south", "south"]))),
            json!(["south"]),
            json!(["south"]),
        ),
        (make(&everywhere.id, None), json!([]), json!([])),
    ];
    for (body, sites, serves) in cases {
        let shift = created(
            app.post_as(&supervisor.token, "/api/v1/shifts", Some(&body))
                .await,
        )
        .await;
        assert_eq!(
            (&shift["sites"], &shift["serves"]),
            (&sites, &serves),
            "{body}"
        );
    }
}

async fn on_duty_follows_the_shifts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, admin) = cast(&app).await;
    app.create_site("south").await;
    let other = app.staff("counselor", &["south"]).await;
    let now = Utc::now();
    let shift = |user: &str, from: Duration, to: Duration, sites: Value| {
        json!({
            "user_id": user,
            "starts_at": rfc3339(now + from),
            "ends_at": rfc3339(now + to),
            "sites": sites,
        })
    };
    let empty = ok(app.get_as(&counselor.token, "/api/v1/shifts/on-duty").await).await;
    assert_eq!(empty["counselors"], json!([]));
    assert_eq!(empty["supervisors"], json!([]));

    let current = created(
        app.post_as(
            &admin.token,
            "/api/v1/shifts",
            Some(&shift(
                &counselor.id,
                Duration::hours(-1),
                Duration::hours(2),
                json!([]),
            )),
        )
        .await,
    )
    .await;
    // Overlapping: the same person once, with the sites of both and the later end.
    created(
        app.post_as(
            &admin.token,
            "/api/v1/shifts",
            Some(&shift(
                &counselor.id,
                Duration::minutes(-5),
                Duration::hours(3),
                json!(["south"]),
            )),
        )
        .await,
    )
    .await;
    // Not yet, and already over.
    created(
        app.post_as(
            &admin.token,
            "/api/v1/shifts",
            Some(&shift(
                &supervisor.id,
                Duration::hours(1),
                Duration::hours(9),
                json!([]),
            )),
        )
        .await,
    )
    .await;
    created(
        app.post_as(
            &admin.token,
            "/api/v1/shifts",
            Some(&shift(
                &other.id,
                Duration::hours(-9),
                Duration::minutes(-1),
                json!([]),
            )),
        )
        .await,
    )
    .await;

    let duty = ok(app.get_as(&counselor.token, "/api/v1/shifts/on-duty").await).await;
    let people = duty["counselors"].as_array().expect("counselors");
    assert_eq!(people.len(), 1, "{duty}");
    assert_eq!(people[0]["user_id"], counselor.id.as_str());
    assert_eq!(people[0]["name"], counselor.name.as_str());
    assert_eq!(people[0]["serves"], json!(["north", "south"]));
    let until = (now + Duration::hours(3)).naive_utc();
    assert_eq!(
        people[0]["until"],
        format!("{}Z", until.format("%Y-%m-%dT%H:%M:%S"))
    );
    assert_eq!(
        people[0]["until_local"],
        format!(
            "{}+08:00",
            (until + Duration::hours(8)).format("%Y-%m-%dT%H:%M:%S")
        )
    );
    assert_eq!(duty["supervisors"], json!([]));
    assert!(duty["at"].as_str().is_some_and(|a| a.ends_with('Z')));
    assert!(
        duty["at_local"]
            .as_str()
            .is_some_and(|a| a.ends_with("+08:00"))
    );

    // The notifier reads the same rosters.
    let paged = app
        .with_conn(|c| db::rosters::on_duty(c, "counselor", Some("north"), Utc::now().naive_utc()))
        .await
        .expect("on duty");
    assert_eq!(
        paged.iter().map(|r| r.email.as_str()).collect::<Vec<_>>(),
        [counselor.email.as_str()]
    );

    // Disabled people are not on duty; deleting shifts takes people off.
    ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{}", counselor.id),
            &json!({"active": false}),
        )
        .await)
    .await;
    let duty = ok(app
        .get_as(&supervisor.token, "/api/v1/shifts/on-duty")
        .await)
    .await;
    assert_eq!(duty["counselors"], json!([]));
    ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{}", counselor.id),
            &json!({"active": true}),
        )
        .await)
    .await;
    let counselor_token = app
        .sign_in(&counselor.email, crate::helpers::PASSWORD)
        .await;
    let duty = ok(app.get_as(&counselor_token, "/api/v1/shifts/on-duty").await).await;
    assert_eq!(duty["counselors"].as_array().expect("counselors").len(), 1);
    let ids: Vec<String> = app
        .with_conn(move |c| {
            db::schema::shifts::table
                .filter(db::schema::shifts::user_id.eq(&counselor.id))
                .select(db::schema::shifts::id)
                .load(c)
                .expect("shift ids")
        })
        .await;
    assert_eq!(ids.len(), 2);
    for id in ids {
        let response = delete_as(&app, Some(&admin.token), &format!("/api/v1/shifts/{id}")).await;
        assert_eq!(response.status().as_u16(), 204);
    }
    let duty = ok(app.get_as(&counselor_token, "/api/v1/shifts/on-duty").await).await;
    assert_eq!(duty["counselors"], json!([]));
    assert_eq!(current["sites"], json!([]));
}

async fn admins_see_failed_and_dead_jobs_without_their_payload(backend: Backend) {
    let app = spawn_app(backend).await;
    let (counselor, supervisor, admin) = cast(&app).await;
    let alert = app.red_alert(Some("north")).await;
    let reference = app.alert_row(&alert).await.reference;
    let now = Utc::now().naive_utc();
    let job = |kind: &str, status: &str, alert: Option<&str>, n: i64| {
        let mut row = db::jobs::JobRow::new(
            kind,
            format!("test:{kind}:{status}:{n}"),
            alert,
            json!({"delivery": {"to": "hidden-recipient@example.org"}}),
            now,
            now - Duration::minutes(10 - n),
        );
        row.status = status.into();
        row.attempts = 3;
        row.last_error = Some(format!("550 mailbox unavailable ({status})"));
        row.finished_at = Some(now);
        row
    };
    let rows = [
        job("email", "failed", Some(&alert), 1),
        job("email", "dead", None, 2),
        job("digest", "done", None, 3),
    ];
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    app.with_conn(move |c| {
        for row in &rows {
            assert!(db::jobs::enqueue(c, row).expect("insert a job"));
        }
    })
    .await;

    for who in [&counselor, &supervisor] {
        assert_error(
            app.get_as(&who.token, "/api/v1/admin/jobs").await,
            403,
            "forbidden",
        )
        .await;
    }
    let response = app
        .request(reqwest::Method::GET, "/api/v1/admin/jobs", None)
        .send()
        .await
        .expect("the request was sent");
    assert_error(response, 401, "unauthorized").await;

    let response = app.get_as(&admin.token, "/api/v1/admin/jobs").await;
    let text = response.text().await.expect("a body");
    assert!(!text.contains("hidden-recipient"), "{text}");
    assert!(!text.contains("payload"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    let listed: Vec<&Value> = body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| ids.iter().any(|id| j["id"] == id.as_str()))
        .collect();
    // Newest first; the done job is not listed.
    assert_eq!(listed.len(), 2, "{body}");
    assert_eq!(listed[0]["id"], ids[1].as_str());
    assert_eq!(listed[0]["status"], "dead");
    assert_eq!(listed[0]["alert_reference"], Value::Null);
    assert_eq!(listed[1]["id"], ids[0].as_str());
    assert_eq!(listed[1]["kind"], "email");
    assert_eq!(listed[1]["status"], "failed");
    assert_eq!(listed[1]["alert_reference"], reference.as_str());
    assert_eq!(listed[1]["attempts"], 3);
    assert_eq!(listed[1]["last_error"], "550 mailbox unavailable (failed)");
    assert!(
        listed[1]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        listed[1]["finished_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let keys: Vec<&str> = listed[1]
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 8, "only what admins need: {keys:?}");

    let dead = ok(app
        .get_as(&admin.token, "/api/v1/admin/jobs?status=dead")
        .await)
    .await;
    assert!(
        dead["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .all(|j| j["status"] == "dead")
    );
    assert!(
        dead["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["id"] == ids[1].as_str())
    );
    let one = ok(app
        .get_as(
            &admin.token,
            "/api/v1/admin/jobs?status=failed,dead&limit=1",
        )
        .await)
    .await;
    assert_eq!(one["jobs"].as_array().expect("jobs").len(), 1);
    for query in [
        "status=done",
        "status=failed,,dead",
        "limit=0",
        "limit=201",
        "limit=x",
    ] {
        assert_error(
            app.get_as(&admin.token, &format!("/api/v1/admin/jobs?{query}"))
                .await,
            400,
            "bad_request",
        )
        .await;
    }
}
