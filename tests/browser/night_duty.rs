//! Issue 13: the workspace at 3 am, on a phone (390x844) in headless Chromium.
//!
//! A red alert arriving in the open queue plays the page's tone (observed by wrapping
//! `AudioContext` through WebDriver before it arrives and counting oscillators started),
//! raises a notification (a wrapped `Notification` that reports permission granted and
//! records what is shown) and vibrates; the queue card is one link; the alert page has its
//! call button (`tel:`) within the first screen; when another counselor takes the alert the
//! open page follows without a reload; axe-core finds nothing on either page. Screenshots go
//! to `target/screenshots/night-duty-*.png`.
//!
//! Presence: two counselors in two browsers on one server; each open page of an alert names
//! the other, and drops the name once the other has left and the viewing window has passed
//! (`presence-*.png`).

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use super::{Db, HEIGHT, STAFF_PASSWORD, Session, Setup, WIDTH, session_with};

const PHONE: &str = "13800001111";

/// Wraps the page's sound, notification and vibration: `window.__tones` counts oscillators
/// started, `window.__notes` holds the notifications shown, `window.__buzz` counts vibrations.
const HOOKS: &str = r#"
window.__tones = 0; window.__notes = []; window.__buzz = 0;
var Real = window.AudioContext || window.webkitAudioContext;
window.AudioContext = function () {
  var ctx = new Real();
  var make = ctx.createOscillator.bind(ctx);
  ctx.createOscillator = function () {
    var osc = make();
    var start = osc.start.bind(osc);
    osc.start = function () { window.__tones += 1; return start.apply(null, arguments); };
    return osc;
  };
  return ctx;
};
function FakeNotification(title, options) {
  window.__notes.push({ title: title, body: (options || {}).body || '' });
}
FakeNotification.permission = 'granted';
FakeNotification.requestPermission = function () { return Promise.resolve('granted'); };
window.Notification = FakeNotification;
navigator.vibrate = function () { window.__buzz += 1; return true; };
return true;
"#;

/// A counselor of the north site, on duty from an hour ago for the next eight hours.
fn on_duty(s: &Session, email: &str, name: &str) -> String {
    let user_id = s.staff("counselor", email, name, &["north"]);
    let mut conn = s.state.pool.get().expect("a connection");
    let now = chrono::Utc::now().naive_utc();
    careline::db::rosters::insert(
        &mut conn,
        &careline::db::rosters::ShiftRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.clone(),
            starts_at: now - chrono::Duration::hours(1),
            ends_at: now + chrono::Duration::hours(8),
            created_by: None,
            created_at: now,
        },
        &[],
    )
    .expect("a shift");
    user_id
}

#[actix_web::test]
async fn a_red_alert_wakes_the_phone_and_the_alert_page_leads_with_the_call() {
    let Some(mut s) = session_with(
        "night-duty",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    s.create_site("north", "北站");
    let _ = on_duty(&s, "li@example.org", "李咨询");
    let _ = on_duty(&s, "wang@example.org", "王咨询");

    s.open("/login").await;
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("form.ws-login"))
        .await
        .expect("the sign-in form");
    assert!(
        s.client.find(Locator::Css("#forgot-link")).await.is_ok(),
        "a way to reset a forgotten password"
    );
    s.sign_in("li@example.org", "#queue").await;
    s.wait_until("the live indicator", Duration::from_secs(15), || async {
        let class = s
            .client
            .find(Locator::Css("#live"))
            .await
            .expect("#live")
            .attr("class")
            .await
            .expect("class")
            .unwrap_or_default();
        (class.contains("on"), class)
    })
    .await;
    // The alarm's button is offered (permission not yet asked in a fresh profile).
    assert!(s.displayed("#alarm").await, "the alarm row");
    // The header is one row on a phone.
    let header = s
        .client
        .execute(
            "return document.querySelector('.ws-bar').getBoundingClientRect().height",
            vec![],
        )
        .await
        .expect("runs");
    assert!(
        header.as_f64().unwrap_or(999.0) < 70.0,
        "one-row header: {header}"
    );
    s.client.execute(HOOKS, vec![]).await.expect("the hooks");
    s.shot("queue-waiting").await;

    // A rider's red result with a consented number.
    s.submit_red(
        "north",
        json!({"contact": {"name": "小张", "phone": PHONE}, "consent_to_contact": true}),
    )
    .await;
    let alert = s.alerts().remove(0);
    let reference = alert.reference.clone();
    let row = format!("#queue-rows tr[data-ref='{reference}']");
    s.wait_until("the new alert's row", Duration::from_secs(15), || async {
        (
            s.client.find(Locator::Css(&row)).await.is_ok(),
            s.title().await,
        )
    })
    .await;
    // The tone (two beeps), one notification naming the alert, one vibration.
    s.wait_until("the tone", Duration::from_secs(10), || async {
        let n = s
            .client
            .execute("return window.__tones", vec![])
            .await
            .expect("runs");
        (n.as_i64() == Some(2), n.to_string())
    })
    .await;
    let notes = s
        .client
        .execute("return window.__notes", vec![])
        .await
        .expect("runs");
    let notes = notes.as_array().expect("a list").clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["title"], json!("新的红色预警"));
    assert!(
        notes[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains(&reference),
        "{notes:?}"
    );
    assert!(
        !notes[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains(PHONE),
        "no rider data in the notification"
    );
    let buzz = s
        .client
        .execute("return window.__buzz", vec![])
        .await
        .expect("runs");
    assert_eq!(buzz, json!(1));
    let title = s.title().await;
    assert!(
        title.starts_with("(1) "),
        "the title keeps its count: {title}"
    );
    // The row says a number was left, and the whole card is the link.
    assert!(s.text(&row).await.contains("留有电话"));
    let hit = s
        .client
        .execute(
            "var cell = document.querySelector(arguments[0] + ' td.col-left').getBoundingClientRect();\
             var el = document.elementFromPoint(cell.left + cell.width - 8, cell.top + cell.height / 2);\
             return el ? (el.closest('a') ? el.closest('a').getAttribute('href') : el.tagName) : null;",
            vec![json!(row)],
        )
        .await
        .expect("runs");
    assert_eq!(
        hit,
        json!(format!("/queue/{reference}")),
        "a tap anywhere on the card"
    );
    s.shot("queue-red-arrived").await;
    let violations = s.axe_violations().await;
    assert!(violations.is_empty(), "queue at 390x844: {violations:#?}");

    // The alert page: the call button within the first screen.
    s.client
        .find(Locator::Css(&format!("{row} td.col-ref a")))
        .await
        .expect("the link")
        .click()
        .await
        .expect("tapped");
    s.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#call-button"))
        .await
        .expect("the call button");
    let href = s
        .client
        .find(Locator::Css("#call-button"))
        .await
        .expect("the button")
        .attr("href")
        .await
        .expect("href");
    assert_eq!(href.as_deref(), Some(format!("tel:{PHONE}").as_str()));
    let rect = s
        .client
        .execute(
            "var r = document.getElementById('call-button').getBoundingClientRect();\
             return [r.top, r.bottom, r.height, window.innerHeight, window.innerWidth];",
            vec![],
        )
        .await
        .expect("runs");
    let r: Vec<f64> = rect
        .as_array()
        .expect("numbers")
        .iter()
        .map(|v| v.as_f64().unwrap_or(-1.0))
        .collect();
    assert_eq!(r[4] as u32, WIDTH, "{r:?}");
    assert!(
        r[0] >= 0.0 && r[1] <= f64::from(HEIGHT) && r[1] <= r[3],
        "in the first screen: {r:?}"
    );
    assert!(r[2] >= 48.0, "large enough to tap: {r:?}");
    s.shot("alert-call-button").await;
    let violations = s.axe_violations().await;
    assert!(
        violations.is_empty(),
        "alert page at 390x844: {violations:#?}"
    );
    assert_eq!(s.text("#alert-status").await, "待接手");
    s.client
        .execute("window.careline_marker = 'still here'; return true", vec![])
        .await
        .expect("runs");

    // Another counselor takes it (through the API): the open page follows.
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({"email": "wang@example.org", "password": STAFF_PASSWORD}))
        .send()
        .await
        .expect("signed in");
    let token = login.json::<serde_json::Value>().await.expect("JSON")["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let taken = reqwest::Client::new()
        .post(format!("{}/api/v1/alerts/{}/acknowledge", s.base, alert.id))
        .bearer_auth(&token)
        .send()
        .await
        .expect("acknowledged");
    assert_eq!(taken.status(), reqwest::StatusCode::OK);
    s.wait_until("the page follows", Duration::from_secs(15), || async {
        let who = s.text("#alert-assignee").await;
        (who == "王咨询", who)
    })
    .await;
    assert_eq!(s.text("#alert-status").await, "处理中");
    assert!(s.displayed("#live-note").await);
    let marker = s
        .client
        .execute("return window.careline_marker || null", vec![])
        .await
        .expect("runs");
    assert_eq!(marker, json!("still here"), "not reloaded");
    // Taken by someone else: this counselor can no longer acknowledge it.
    assert!(
        s.client
            .find(Locator::Css("form.act-acknowledge"))
            .await
            .is_err(),
        "the actions follow too"
    );
    s.shot("alert-taken-by-another").await;
    s.close().await;
}

/// The presence line of the alert page on screen (read in one go: the page may replace it).
async fn viewers_line(s: &Session) -> String {
    let line = s
        .client
        .execute(
            "var p = document.getElementById('alert-viewers'); return p ? p.textContent : null",
            vec![],
        )
        .await
        .expect("runs");
    line.as_str().expect("the presence line").to_string()
}

/// Who else has an alert open, with two counselors in two browsers on one server: when 王
/// opens the alert 李 has open, 李's page names 王 at its next refresh (every 15 s), without
/// a reload; after 王 has left and the 45 s window has passed, 李's page drops the name
/// again. The window is driven, not waited out: 王's last sighting is moved back past it in
/// the database, as 45 s without a refresh would leave it.
#[actix_web::test]
async fn an_open_alert_page_names_who_else_has_it_open_until_they_leave() {
    use careline::db::AnyConnection;
    use careline::db::schema::alert_viewers;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

    let Some(mut li) = session_with(
        "presence-li",
        Setup {
            javascript: true,
            db: Db::Sqlite,
            desktop: false,
            challenge_per_source: 1_500_000,
            block_cookies: false,
        },
    )
    .await
    else {
        return;
    };
    li.create_site("north", "北站");
    let _ = on_duty(&li, "li@example.org", "李咨询");
    let wang_id = on_duty(&li, "wang@example.org", "王咨询");
    li.submit_red("north", json!({})).await;
    let page = format!("/queue/{}", li.alerts().remove(0).reference);

    li.open(&page).await;
    li.sign_in("li@example.org", "#alert-viewers").await;
    assert_eq!(viewers_line(&li).await, "", "nobody else has it open yet");
    li.client
        .execute("window.careline_marker = 'still here'; return true", vec![])
        .await
        .expect("runs");

    let mut wang = li.beside("presence-wang").await;
    wang.open(&page).await;
    wang.sign_in("wang@example.org", "#alert-viewers").await;
    assert_eq!(
        viewers_line(&wang).await,
        "正在查看此预警的还有：李咨询",
        "王's page names 李 as it opens"
    );
    wang.shot("alert-opened").await;

    li.wait_until("李's page names 王", Duration::from_secs(25), || async {
        let line = viewers_line(&li).await;
        (line == "正在查看此预警的还有：王咨询", line)
    })
    .await;
    let marker = li
        .client
        .execute("return window.careline_marker || null", vec![])
        .await
        .expect("runs");
    assert_eq!(marker, json!("still here"), "not reloaded");
    assert!(li.displayed("#alert-viewers").await, "the line is shown");
    li.shot("also-open").await;
    let violations = li.axe_violations().await;
    assert!(violations.is_empty(), "with the line: {violations:#?}");

    // 王 leaves: back to the queue, then the browser is closed.
    wang.client
        .find(Locator::Css(".crumbs a"))
        .await
        .expect("the way back")
        .click()
        .await
        .expect("followed");
    wang.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#queue"))
        .await
        .expect("the queue");
    wang.close().await;
    {
        let mut conn = li.state.pool.get().expect("a connection");
        let passed = chrono::Utc::now().naive_utc()
            - careline::alerts::VIEWING_WINDOW
            - chrono::Duration::seconds(1);
        let moved = match &mut *conn {
            AnyConnection::Sqlite(c) => {
                diesel::update(alert_viewers::table.filter(alert_viewers::user_id.eq(&wang_id)))
                    .set(alert_viewers::seen_at.eq(passed))
                    .execute(c)
            }
            AnyConnection::Postgresql(_) => unreachable!("this test runs on SQLite"),
        }
        .expect("the sighting moved back");
        assert_eq!(moved, 1, "王's one open page of the alert");
    }
    li.wait_until("李's page drops 王", Duration::from_secs(25), || async {
        let line = viewers_line(&li).await;
        (line.is_empty(), line)
    })
    .await;
    assert!(
        !li.displayed("#alert-viewers").await,
        "an empty line takes no space"
    );
    li.shot("alone-again").await;
    li.close().await;
}
