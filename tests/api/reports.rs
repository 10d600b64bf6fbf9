//! Programme reports through HTTP against a hand-built fixture with known answers (written
//! straight into the database at chosen times), on both databases: screenings by site and
//! tier with small sites folded, time to acknowledge, share within the deadline, outcomes,
//! escalation levels, hours with nobody on duty, the site filter, CSV, and bad queries.

use chrono::{Duration, NaiveDateTime};
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use careline::db::{self, alerts::AlertRow, alerts::EventRow, screenings};

use crate::helpers::{Backend, TestApp, assert_error, ok, spawn_app};

backend_tests!(
    report_figures_match_the_hand_built_fixture,
    reports_refuse_bad_queries,
);

/// China time `YYYY-MM-DD HH:MM` as stored (UTC).
fn china(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("a time") - Duration::hours(8)
}

fn count(n: u64) -> Value {
    json!({"kind": "count", "value": n})
}

fn small() -> Value {
    json!({"kind": "small"})
}

async fn screening(
    app: &TestApp,
    n: usize,
    q: &str,
    tier: &str,
    site: &str,
    at: &str,
    contact: bool,
) {
    let (q, tier, site, at) = (q.to_string(), tier.to_string(), site.to_string(), china(at));
    app.with_conn(move |c| {
        for i in 0..n {
            let id = uuid::Uuid::new_v4().to_string();
            let hash = format!("sha256:{q}");
            let version = screenings::NewVersion {
                content_hash: &hash,
                questionnaire_id: &q,
                version: "1",
                source: "",
                first_used_at: at,
            };
            let row = screenings::ScreeningRow {
                id: id.clone(),
                questionnaire_id: q.clone(),
                content_hash: hash.clone(),
                answers: "{}".into(),
                scores: "{}".into(),
                bands: "{}".into(),
                reasons: "[]".into(),
                tier: tier.clone(),
                urgent: false,
                locale: "en".into(),
                site: Some(site.clone()),
                submitted_at: at + Duration::seconds(i as i64),
                idempotency_key: None,
                request_hash: None,
                response: None,
                contact_token_hash: None,
                source_fp: None,
            };
            let contact_row = screenings::ContactRow {
                screening_id: id,
                nonce: vec![0; 12],
                ciphertext: vec![1],
                created_at: at,
                delete_after: at + Duration::days(3650),
                rider_key: None,
            };
            screenings::insert(
                c,
                &version,
                &row,
                contact.then_some(&contact_row),
                &|_, _| Ok(()),
            )
            .expect("insert a screening");
        }
    })
    .await;
}

struct Alert {
    tier: &'static str,
    site: &'static str,
    created: NaiveDateTime,
    deadline_minutes: i64,
    ack_minutes: Option<i64>,
    outcome: Option<&'static str>,
    paged_levels: &'static [usize],
}

async fn alert(app: &TestApp, a: Alert) {
    app.with_conn(move |c| {
        let id = uuid::Uuid::new_v4().to_string();
        let ack = a.ack_minutes.map(|m| a.created + Duration::minutes(m));
        let row = AlertRow {
            id: id.clone(),
            reference: format!("A-{}", &id[..8]),
            tier: a.tier.into(),
            urgent: false,
            priority: 1,
            site: Some(a.site.into()),
            reasons: "[]".into(),
            status: if a.outcome.is_some() { "resolved" } else if ack.is_some() { "acknowledged" } else { "open" }.into(),
            assignee_id: None,
            rider_key: None,
            created_at: a.created,
            deadline_at: a.created + Duration::minutes(a.deadline_minutes),
            acknowledged_at: ack,
            resolved_at: a.outcome.map(|_| a.created + Duration::hours(30)),
            outcome: a.outcome.map(str::to_string),
            updated_at: a.created,
            policy: None,
            cluster_id: None,
        };
        diesel::insert_into(db::schema::alerts::table)
            .values(&row)
            .execute(c)
            .expect("insert an alert");
        for &level in a.paged_levels {
            let event = EventRow {
                id: uuid::Uuid::new_v4().to_string(),
                alert_id: id.clone(),
                at: a.created + Duration::minutes(level as i64 * 15),
                actor_id: None,
                kind: "paged".into(),
                detail: json!({"level": level, "round": 0, "notify": "on_duty_counselors", "recipients": 1}).to_string(),
            };
            diesel::insert_into(db::schema::alert_events::table)
                .values(&event)
                .execute(c)
                .expect("insert a page");
        }
    })
    .await;
}

async fn shift(app: &TestApp, user: &str, from: &str, to: &str, sites: &[&str]) {
    let row = db::rosters::ShiftRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        starts_at: china(from),
        ends_at: china(to),
        created_by: None,
        created_at: china(from),
    };
    let sites: Vec<String> = sites.iter().map(|s| s.to_string()).collect();
    app.with_conn(move |c| db::rosters::insert(c, &row, &sites))
        .await
        .expect("insert a shift");
}

/// Week 2026-W47 (Monday 16 to Sunday 22 November 2026, China time) with known answers.
async fn fixture(app: &TestApp) {
    for site in ["north", "south", "tiny"] {
        app.create_site(site).await;
    }
    let wed = "2026-11-18 12:00";
    screening(app, 12, "phq9", "green", "north", wed, true).await;
    screening(app, 8, "phq9", "green", "north", wed, false).await;
    screening(app, 10, "phq9", "yellow", "north", wed, false).await;
    screening(app, 10, "phq9", "red", "north", wed, false).await;
    screening(app, 15, "phq9", "green", "south", wed, false).await;
    screening(app, 10, "gad7", "yellow", "south", wed, false).await;
    screening(app, 10, "phq9", "red", "south", wed, false).await;
    // One red screening at a small station.
    screening(app, 1, "phq9", "red", "tiny", "2026-11-22 23:59", false).await;
    // Monday of the next week, China time (Sunday 16:00 UTC): not in W47.
    screening(app, 1, "phq9", "red", "north", "2026-11-23 00:00", false).await;

    // 20 red alerts at north, deadline 10 minutes, acknowledged after 1..=20 minutes: 10 in
    // time, 10 late; median 10, 90th percentile 18. 10 of them resolved as referred.
    for k in 1..=20 {
        alert(
            app,
            Alert {
                tier: "red",
                site: "north",
                created: china("2026-11-17 10:00") + Duration::minutes(k * 30),
                deadline_minutes: 10,
                ack_minutes: Some(k),
                outcome: (k <= 10).then_some("referred"),
                paged_levels: if k <= 3 { &[0, 1] } else { &[0] },
            },
        )
        .await;
    }
    // 10 yellow alerts at south, all acknowledged after an hour, well within 3 days.
    for k in 0..10 {
        alert(
            app,
            Alert {
                tier: "yellow",
                site: "south",
                created: china("2026-11-19 09:00") + Duration::minutes(k),
                deadline_minutes: 3 * 24 * 60,
                ack_minutes: Some(60),
                outcome: None,
                paged_levels: &[],
            },
        )
        .await;
    }
    // Counselors: one of north for 12 hours on Monday, one of every site for 8 on Tuesday;
    // a supervisor's shift does not make a counselor on duty.
    let north = app.create_user("counselor", &["north"]).await;
    let everywhere = app.create_user("counselor", &[]).await;
    let supervisor = app.create_user("supervisor", &[]).await;
    shift(app, &north.id, "2026-11-16 08:00", "2026-11-16 20:00", &[]).await;
    shift(
        app,
        &everywhere.id,
        "2026-11-17 09:00",
        "2026-11-17 17:00",
        &[],
    )
    .await;
    shift(
        app,
        &supervisor.id,
        "2026-11-18 09:00",
        "2026-11-18 19:00",
        &[],
    )
    .await;
}

async fn report_figures_match_the_hand_built_fixture(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let admin = app.staff("admin", &[]).await;
    let window = "from=2026-11-16&to=2026-11-29";

    let r = ok(app
        .get_as(
            &admin.token,
            &format!("/api/v1/reports/screenings?{window}"),
        )
        .await)
    .await;
    assert_eq!(r["min_cell"], 10);
    let weeks: Vec<&str> = r["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(weeks, ["2026-W47", "2026-W48"]);
    let w47 = &r["periods"][0];
    assert_eq!(w47["total"], count(76));
    let by_site = &w47["by_site"];
    // `tiny` (1 screening) is folded into other sites with the smallest site, `south`.
    assert_eq!(by_site["rows"], json!(["north", "other_sites"]));
    assert_eq!(by_site["columns"], json!(["green", "yellow", "red"]));
    assert_eq!(
        by_site["cells"],
        json!([
            [count(20), count(10), count(10)],
            [count(15), count(10), count(11)]
        ])
    );
    assert_eq!(by_site["row_totals"], json!([count(40), count(36)]));
    assert_eq!(
        by_site["column_totals"],
        json!([count(35), count(20), count(21)])
    );
    assert_eq!(by_site["total"], count(76));
    assert_eq!(w47["by_questionnaire"]["rows"], json!(["gad7", "phq9"]));
    assert_eq!(
        w47["by_questionnaire"]["cells"],
        json!([[count(10)], [count(66)]])
    );
    assert_eq!(w47["identified"]["cells"], json!([[count(12), count(64)]]));
    // One screening in W48: too few for any breakdown.
    assert_eq!(r["periods"][1]["total"], small());
    assert_eq!(r["periods"][1]["by_site"]["rows"], json!([]));

    // The same window less a day gives the very same weeks.
    let narrower = ok(app
        .get_as(
            &admin.token,
            "/api/v1/reports/screenings?from=2026-11-17&to=2026-11-28",
        )
        .await)
    .await;
    assert_eq!(narrower["periods"], r["periods"]);

    // The small station's own view is the row it is folded into.
    let tiny = ok(app
        .get_as(
            &admin.token,
            &format!("/api/v1/reports/screenings?{window}&site=tiny"),
        )
        .await)
    .await;
    assert_eq!(
        tiny["periods"][0]["by_site"]["rows"],
        json!(["other_sites"])
    );
    assert_eq!(
        tiny["periods"][0]["by_site"]["cells"],
        json!([[count(15), count(10), count(11)]])
    );

    let a = ok(app
        .get_as(&admin.token, &format!("/api/v1/reports/alerts?{window}"))
        .await)
    .await;
    let w47 = &a["periods"][0];
    assert_eq!(w47["acknowledged"]["rows"], json!(["yellow", "red"]));
    assert_eq!(
        w47["acknowledged"]["cells"],
        json!([[count(10), small()], [count(10), count(10)]])
    );
    let times = &w47["ack_times"];
    assert_eq!(times[1]["tier"], "red");
    assert_eq!(times[1]["median_minutes"], 10.0);
    assert_eq!(times[1]["p90_minutes"], 18.0);
    assert_eq!(times[1]["share_within_deadline"], 0.5);
    assert_eq!(times[0]["median_minutes"], 60.0);
    // 0 late is a small count: the share would give it away.
    assert_eq!(times[0]["share_within_deadline"], Value::Null);
    let outcomes = &w47["outcomes"];
    let referred = outcomes["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "referred")
        .unwrap();
    for (j, cell) in outcomes["cells"][0].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            *cell,
            if j == referred { count(10) } else { small() },
            "outcome {j}"
        );
    }
    assert_eq!(
        w47["escalation"]["cells"],
        json!([[count(20), small(), small()]])
    );
    let opened = &w47["opened"];
    assert_eq!(opened["rows"], json!(["north", "south"]));
    assert_eq!(opened["cells"][0][0], small(), "no yellow alert at north");
    assert_eq!(opened["cells"][1][1], small(), "no red alert at south");

    let c = ok(app
        .get_as(&admin.token, &format!("/api/v1/reports/coverage?{window}"))
        .await)
    .await;
    let w47 = &c["periods"][0];
    assert_eq!(w47["hours"], 168.0);
    assert_eq!(w47["uncovered_hours"], 148.0);
    let site = |s: &str| {
        w47["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["site"] == s)
            .unwrap()["uncovered_hours"]
            .clone()
    };
    assert_eq!(site("north"), 148.0);
    assert_eq!(site("south"), 160.0);

    // CSV: UTF-8 with a BOM, the same suppressed figures.
    let response = app
        .get_as(
            &admin.token,
            &format!("/api/v1/reports/screenings?{window}&format=csv"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFperiod,start,table,row,column,value\r\n"));
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        text.contains("2026-W47,2026-11-16,by_site,north,red,10\r\n"),
        "{text}"
    );
    assert!(
        text.contains("2026-W48,2026-11-23,by_site,total,total,<10\r\n"),
        "{text}"
    );
    let alerts_csv = app
        .get_as(
            &admin.token,
            &format!("/api/v1/reports/alerts?{window}&format=csv"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        alerts_csv.contains("2026-W47,2026-11-16,ack_times,red,median_minutes,10.0\r\n"),
        "{alerts_csv}"
    );
    assert!(
        alerts_csv.contains("2026-W47,2026-11-16,outcomes,resolved,other,<10\r\n"),
        "{alerts_csv}"
    );

    // A supervisor reads the same figures.
    let supervisor = app.staff("supervisor", &["north"]).await;
    let same = ok(app
        .get_as(
            &supervisor.token,
            &format!("/api/v1/reports/screenings?{window}"),
        )
        .await)
    .await;
    assert_eq!(same, r);
}

async fn reports_refuse_bad_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    for (query, needle) in [
        ("by=day", "`by`"),
        ("from=yesterday", "`from`"),
        ("to=2026-02-30", "`to`"),
        ("from=2026-11-10&to=2026-11-01", "after"),
        ("from=2001-01-01&to=2026-11-01", "at most"),
        ("format=xlsx", "`format`"),
    ] {
        for report in ["screenings", "alerts", "coverage"] {
            let body = assert_error(
                app.get_as(&admin.token, &format!("/api/v1/reports/{report}?{query}"))
                    .await,
                400,
                "bad_request",
            )
            .await;
            assert!(
                body["error"]["message"].as_str().unwrap().contains(needle),
                "{query}: {body}"
            );
        }
    }
}
