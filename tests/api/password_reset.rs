//! Issue 13: password reset by email and roster gaps, through HTTP on both databases, with
//! mail through a real SMTP server in the process (mailin-embedded, `notifier_smtp.rs`).
//!
//! The reset: one answer for known and unknown addresses, a link that works once and not
//! after it expired, every session of the user ended, throttled requests, CSRF, bad input
//! changing nothing (row counts checked). The gaps: the banner of a fresh installation and
//! of a site without cover, and the daily message to supervisors with the right hours.

use std::sync::Arc;
use std::time::Duration;

use careline::config::Settings;
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{AppOptions, Backend, PASSWORD, RED, TestApp, Tweak, created, phq9_body};
use crate::notifier_smtp::{Attempt, TestSmtp};

const NEW_PASSWORD: &str = "a brand new passphrase 42";
const MARKER_NAME: &str = "Marker Rider Name";
const MARKER_PHONE: &str = "13912345678";

async fn app(backend: Backend, smtp: &TestSmtp) -> TestApp {
    let url = smtp.url();
    let tweak = move |s: &mut Settings| {
        s.mail.smtp_url = url.clone();
        s.mail.timeout = Duration::from_secs(5);
        s.worker.poll_interval = Duration::from_millis(100);
    };
    crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(tweak))),
            ..Default::default()
        },
    )
    .await
}

/// A client that does not follow redirects (the 303 is what is checked).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// The value of a hidden field in a page.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {body}"))
        + marker.len();
    body[start..]
        .split('"')
        .next()
        .expect("a value")
        .to_string()
}

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn urlencoded(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form page's CSRF token and the cookie that carries it.
struct Form {
    csrf: String,
    cookie: String,
}

async fn form(app: &TestApp, path: &str) -> (u16, Form, String) {
    let response = browser().get(app.url(path)).send().await.expect("the form");
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("careline_csrf="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .expect("a CSRF cookie");
    let body = response.text().await.expect("a body");
    let csrf = if status == 200 {
        hidden(&body, "csrf-token")
    } else {
        String::new()
    };
    (status, Form { csrf, cookie }, body)
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, Option<String>, String) {
    let response = browser()
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(urlencoded(fields))
        .send()
        .await
        .expect("the post");
    let status = response.status().as_u16();
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let location = header(reqwest::header::LOCATION);
    let retry = header(reqwest::header::RETRY_AFTER);
    (
        status,
        location,
        retry,
        response.text().await.expect("a body"),
    )
}

async fn ask(app: &TestApp, form: &Form, email: &str) -> (u16, Option<String>, String) {
    let (status, _, retry, body) = post(
        app,
        "/login/forgot",
        &form.cookie,
        &[("csrf-token", &form.csrf), ("email", email)],
    )
    .await;
    (status, retry, body)
}

async fn set_password(
    app: &TestApp,
    form: &Form,
    token: &str,
    new: &str,
    repeat: &str,
) -> (u16, Option<String>, String) {
    let (status, location, _, body) = post(
        app,
        "/login/reset",
        &form.cookie,
        &[
            ("csrf-token", &form.csrf),
            ("token", token),
            ("new_password", new),
            ("repeat_password", repeat),
        ],
    )
    .await;
    (status, location, body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    resets: i64,
    unused: i64,
    live_sessions: i64,
}

async fn counts(app: &TestApp) -> Counts {
    app.with_conn(|c| {
        use careline::db::schema::{password_resets, sessions};
        let now = Utc::now().naive_utc();
        Ok::<_, diesel::result::Error>(Counts {
            resets: password_resets::table.count().get_result(c)?,
            unused: password_resets::table
                .filter(password_resets::used_at.is_null())
                .count()
                .get_result(c)?,
            live_sessions: sessions::table
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .count()
                .get_result(c)?,
        })
    })
    .await
    .expect("count rows")
}

/// The token of the link in a reset mail.
fn token_of(mail: &Attempt) -> String {
    let body = mail.body();
    let start = body
        .find("/login/reset?token=")
        .unwrap_or_else(|| panic!("no link in {body}"))
        + "/login/reset?token=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get_as(token, "/api/v1/auth/me").await.status().as_u16()
}

// ---- the reset --------------------------------------------------------------------------

async fn a_reset_link_sets_the_password_once_and_ends_every_session(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, &smtp).await;
    let user = app.create_user("counselor", &[]).await;
    let phone = app.sign_in(&user.email, PASSWORD).await;
    let desk = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(counts(&app).await.live_sessions, 2);

    let (status, page, body) = form(&app, "/login/forgot").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = ask(&app, &page, &user.email).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"forgot-sent\""), "{body}");
    let mails = smtp
        .wait_accepted(Duration::from_secs(15), "the reset mail", |m| !m.is_empty())
        .await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![user.email.clone()]);
    assert_eq!(mails[0].subject(), "[Careline] Set a new password");
    let token = token_of(&mails[0]);
    assert_eq!(token.len(), 43, "32 random bytes, URL-safe base64: {token}");
    assert!(
        mails[0]
            .body()
            .contains(&format!("http://127.0.0.1:8080/login/reset?token={token}")),
        "{}",
        mails[0].body()
    );
    // Only the token's SHA-256 is stored.
    let stored: Vec<String> = app
        .with_conn(|c| {
            use careline::db::schema::password_resets;
            password_resets::table
                .select(password_resets::token_hash)
                .load(c)
        })
        .await
        .expect("the reset rows");
    assert_eq!(
        stored,
        vec![careline::accounts::reset::token_hash(&token)],
        "hashed, not the token"
    );
    assert_ne!(stored[0], token);

    // The link opens the form.
    let (status, page, body) = form(&app, &format!("/login/reset?token={token}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hidden(&body, "token"), token);

    // Bad input changes nothing: the link stays usable, the sessions live.
    let before = counts(&app).await;
    let (status, _, body) =
        set_password(&app, &page, &token, NEW_PASSWORD, "another one 123").await;
    assert_eq!(status, 422, "mismatch: {body}");
    let (status, _, body) = set_password(&app, &page, &token, "short", "short").await;
    assert_eq!(status, 422, "weak: {body}");
    let (status, _, _, body) = post(
        &app,
        "/login/reset",
        &page.cookie,
        &[
            ("csrf-token", "0".repeat(64).as_str()),
            ("token", &token),
            ("new_password", NEW_PASSWORD),
            ("repeat_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 403, "wrong CSRF token: {body}");
    let (status, _, _, body) = post(
        &app,
        "/login/reset",
        "",
        &[
            ("csrf-token", &page.csrf),
            ("token", &token),
            ("new_password", NEW_PASSWORD),
            ("repeat_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 403, "no CSRF cookie: {body}");
    assert_eq!(counts(&app).await, before, "nothing changed");
    assert_eq!(me(&app, &phone).await, 200);
    assert_eq!(app.audit_count(Some("auth.password_reset")).await, 0);

    // The link works once.
    let (status, location, body) =
        set_password(&app, &page, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some("/login?reset=1"));
    let after = counts(&app).await;
    assert_eq!(
        after,
        Counts {
            resets: 1,
            unused: 0,
            live_sessions: 0
        },
        "the link used up, every session ended"
    );
    assert_eq!(me(&app, &phone).await, 401);
    assert_eq!(me(&app, &desk).await, 401);
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status().as_u16(),
        401
    );
    assert_eq!(
        app.login(&user.email, NEW_PASSWORD).await.status().as_u16(),
        200
    );
    assert_eq!(app.audit_count(Some("auth.password_reset")).await, 1);
    assert_eq!(app.audit_count(Some("auth.reset_requested")).await, 1);

    // Used: the same link again is refused, and changes nothing.
    let before = counts(&app).await;
    let (status, _, body) = set_password(
        &app,
        &page,
        &token,
        "yet another passphrase",
        "yet another passphrase",
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("id=\"reset-dead\""), "{body}");
    let (status, _, body) = form(&app, &format!("/login/reset?token={token}")).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(counts(&app).await, before);
    assert_eq!(
        app.login(&user.email, NEW_PASSWORD).await.status().as_u16(),
        200,
        "the password set through the link stays"
    );
    // The sign-in page says what happened.
    let (_, _, body) = form(&app, "/login?reset=1").await;
    assert!(body.contains("id=\"login-notice\""), "{body}");
}

backend_tests!(a_reset_link_sets_the_password_once_and_ends_every_session);

async fn expired_unknown_and_malformed_links_are_refused_and_change_nothing(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, &smtp).await;
    let user = app.create_user("supervisor", &[]).await;
    let session = app.sign_in(&user.email, PASSWORD).await;
    let (_, page, _) = form(&app, "/login/forgot").await;
    let (status, _, _) = ask(&app, &page, &user.email).await;
    assert_eq!(status, 200);
    let mails = smtp
        .wait_accepted(Duration::from_secs(15), "the reset mail", |m| !m.is_empty())
        .await;
    let token = token_of(&mails[0]);
    // The link's time runs out.
    app.with_conn(|c| {
        use careline::db::schema::password_resets;
        let past: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::minutes(1);
        diesel::update(password_resets::table)
            .set(password_resets::expires_at.eq(past))
            .execute(c)
    })
    .await
    .expect("expire the link");
    let before = counts(&app).await;
    let (_, reset_page, _) = form(&app, "/login/forgot").await;
    let other = "A".repeat(43);
    for (what, t) in [
        ("expired", token.as_str()),
        ("unknown", other.as_str()),
        ("malformed", "not-a-token"),
        ("empty", ""),
    ] {
        let (status, _, body) = form(&app, &format!("/login/reset?token={}", t)).await;
        assert_eq!(status, 410, "{what}: {body}");
        let (status, _, body) =
            set_password(&app, &reset_page, t, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(status, 410, "{what}: {body}");
        assert!(body.contains("id=\"reset-dead\""), "{what}: {body}");
    }
    assert_eq!(counts(&app).await, before, "nothing changed");
    assert_eq!(me(&app, &session).await, 200, "the session lives");
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status().as_u16(),
        200
    );
    assert_eq!(app.audit_count(Some("auth.password_reset")).await, 0);
}

backend_tests!(expired_unknown_and_malformed_links_are_refused_and_change_nothing);

async fn known_and_unknown_addresses_get_the_same_answer(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, &smtp).await;
    let user = app.create_user("counselor", &[]).await;
    let (_, page, _) = form(&app, "/login/forgot").await;

    // Bad input first: refused, nothing stored, nothing counted towards the throttle.
    let before = counts(&app).await;
    for (what, email) in [
        ("empty", ""),
        ("no @", "not-an-address"),
        ("spaces", "a b@example.org"),
    ] {
        let (status, _, body) = ask(&app, &page, email).await;
        assert_eq!(status, 422, "{what}: {body}");
        assert!(body.contains("id=\"forgot-error\""), "{what}: {body}");
    }
    let (status, _, _, body) = post(
        &app,
        "/login/forgot",
        &page.cookie,
        &[("email", user.email.as_str())],
    )
    .await;
    assert_eq!(status, 403, "no CSRF field: {body}");
    assert_eq!(counts(&app).await, before);
    assert_eq!(app.audit_count(Some("auth.reset_requested")).await, 0);

    let (unknown_status, _, unknown_body) = ask(&app, &page, "nobody-here@example.org").await;
    let (known_status, _, known_body) = ask(&app, &page, &user.email.to_uppercase()).await;
    assert_eq!(unknown_status, 200);
    assert_eq!(known_status, 200);
    assert_eq!(unknown_body, known_body, "the same page for both");
    let mails = smtp
        .wait_accepted(Duration::from_secs(15), "the reset mail", |m| !m.is_empty())
        .await;
    // Time for a mail to the unknown address, if one were (wrongly) sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = smtp.accepted().into_iter().chain(mails).collect::<Vec<_>>();
    assert!(
        mails.iter().all(|m| m.to == vec![user.email.clone()]),
        "mail only to the known address: {:?}",
        mails.iter().map(|m| m.to.clone()).collect::<Vec<_>>()
    );
    assert_eq!(smtp.accepted().len(), 1);
    assert_eq!(
        counts(&app).await.resets,
        1,
        "a link for the known address only"
    );
    assert_eq!(app.audit_count(Some("auth.reset_requested")).await, 2);
}

backend_tests!(known_and_unknown_addresses_get_the_same_answer);

async fn reset_requests_are_throttled(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, &smtp).await;
    let user = app.create_user("counselor", &[]).await;
    let (_, page, _) = form(&app, "/login/forgot").await;
    for n in 0..careline::accounts::reset::FREE_REQUESTS {
        let (status, _, body) = ask(&app, &page, &user.email).await;
        assert_eq!(status, 200, "request {n}: {body}");
    }
    smtp.wait_accepted(Duration::from_secs(15), "three reset mails", |m| {
        m.len() >= 3
    })
    .await;
    let before = counts(&app).await;
    assert_eq!(before.resets, 3);
    assert_eq!(before.unused, 1, "a new link ends the older ones");
    // The next request, for this address or any other from this client, waits.
    for email in [user.email.as_str(), "nobody-here@example.org"] {
        let (status, retry, body) = ask(&app, &page, email).await;
        assert_eq!(status, 429, "{email}: {body}");
        let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(body.contains("id=\"forgot-error\""), "{body}");
    }
    assert_eq!(counts(&app).await, before, "nothing stored while throttled");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.accepted().len(), 3, "no mail while throttled");
    assert_eq!(app.audit_count(Some("auth.reset_refused")).await, 2);
}

backend_tests!(reset_requests_are_throttled);

// ---- roster gaps ------------------------------------------------------------------------

async fn cookie_get(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = browser()
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("the page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

fn china(t: NaiveDateTime) -> String {
    careline::china_time::shanghai_time(t)
}

async fn sites_without_cover_show_a_banner_and_supervisors_get_the_daily_gaps(backend: Backend) {
    let smtp = TestSmtp::start();
    let app = app(backend, &smtp).await;
    app.create_site("station-1").await;
    app.create_site("station-2").await;
    let supervisor = app.create_user("supervisor", &["station-1"]).await;
    let counselor = app.create_user("counselor", &["station-1"]).await;
    let session = app.cookie_session(&supervisor.email, PASSWORD).await;

    // A fresh installation: every staff page says nobody will be paged.
    for path in ["/queue", "/rosters", "/account/password"] {
        let (status, body) = cookie_get(&app, &session.cookie, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("id=\"cover-banner\""), "{path}: {body}");
        assert!(body.contains("Nobody will be paged"), "{path}: {body}");
    }

    // The counselor covers station-1 for the next two hours; a supervisor covers station-2
    // from in 30 hours (beyond the banner's day).
    let now = Utc::now().naive_utc();
    let shift_end = now + chrono::Duration::hours(2);
    let later = app.create_user("supervisor", &["station-2"]).await;
    let (c_id, l_id) = (counselor.id.clone(), later.id.clone());
    app.with_conn(move |c| {
        use careline::db::rosters::{ShiftRow, insert};
        insert(
            c,
            &ShiftRow {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: c_id,
                starts_at: now - chrono::Duration::hours(1),
                ends_at: shift_end,
                created_by: None,
                created_at: now,
            },
            &[],
        )?;
        insert(
            c,
            &ShiftRow {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: l_id,
                starts_at: now + chrono::Duration::hours(30),
                ends_at: now + chrono::Duration::hours(40),
                created_by: None,
                created_at: now,
            },
            &[],
        )
    })
    .await
    .expect("shifts");
    // A red screening with contact details, so the messages can be checked for them.
    let mut body = phq9_body(RED);
    body["site"] = json!("station-1");
    body["contact"] = json!({"name": MARKER_NAME, "phone": MARKER_PHONE});
    body["consent_to_contact"] = json!(true);
    created(app.post_screening(&body).await).await;

    let (status, page) = cookie_get(&app, &session.cookie, "/queue").await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("Nobody will be paged"), "{page}");
    let gap_1 = format!(
        "Nobody on duty at Station station-1 from {}",
        china(shift_end)
    );
    let gap_2 = format!("Nobody on duty at Station station-2 from {}", china(now));
    assert!(page.contains(&gap_1), "{page}");
    // station-2 is bare now (a minute's tolerance for the page's clock).
    assert!(
        page.contains(&gap_2)
            || page.contains(&format!(
                "Nobody on duty at Station station-2 from {}",
                china(now + chrono::Duration::minutes(1))
            )),
        "{page}"
    );
    for path in ["/rosters"] {
        let (_, body) = cookie_get(&app, &session.cookie, path).await;
        assert!(body.contains(&gap_1), "{path}: {body}");
    }
    // Pages other than the queue, rosters and admin do not list gaps.
    let (_, body) = cookie_get(&app, &session.cookie, "/account/password").await;
    assert!(!body.contains("id=\"cover-banner\""), "{body}");

    // The daily message: once per day whoever schedules it.
    let date = "2026-12-03";
    let first = app
        .with_conn(move |c| careline::jobs::schedule_gaps(c, date, Utc::now().naive_utc()))
        .await
        .expect("schedule");
    let again = app
        .with_conn(move |c| careline::jobs::schedule_gaps(c, date, Utc::now().naive_utc()))
        .await
        .expect("schedule again");
    assert!(first && !again, "one job per day");
    app.state.wake.notify_one();
    let is_gaps = |m: &Attempt| m.subject().contains("roster gaps");
    let mails = smtp
        .wait_accepted(Duration::from_secs(20), "the gap messages", |m| {
            m.iter().filter(|m| is_gaps(m)).count() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails: Vec<Attempt> = smtp.accepted().into_iter().chain(mails).collect();
    let gaps: Vec<&Attempt> = mails.iter().filter(|m| is_gaps(m)).collect();
    let to_first: Vec<&&Attempt> = gaps
        .iter()
        .filter(|m| m.to == vec![supervisor.email.clone()])
        .collect();
    assert!(!to_first.is_empty(), "the station-1 supervisor");
    let body = to_first[0].body();
    // station-1: from the shift's end to a week ahead, in China time; nothing of station-2.
    assert!(
        body.contains(&format!("- Station station-1: {} to", china(shift_end))),
        "{body}"
    );
    assert!(
        !body.contains("station-2"),
        "only the sites they serve: {body}"
    );
    let to_later: Vec<&&Attempt> = gaps
        .iter()
        .filter(|m| m.to == vec![later.email.clone()])
        .collect();
    assert!(!to_later.is_empty(), "the station-2 supervisor");
    let body = to_later[0].body();
    assert!(
        body.contains(&format!("to {}", china(now + chrono::Duration::hours(30)))),
        "the gap ends where the shift starts: {body}"
    );
    assert!(
        body.contains(&format!(
            "- Station station-2: {} to",
            china(now + chrono::Duration::hours(40))
        )),
        "and starts again where it ends: {body}"
    );
    assert!(
        gaps.iter().all(|m| m.to != vec![counselor.email.clone()]),
        "supervisors only"
    );
    for m in &gaps {
        let all = m.everything();
        assert!(!all.contains(MARKER_NAME), "{all}");
        assert!(!all.contains(MARKER_PHONE), "{all}");
    }
}

backend_tests!(sites_without_cover_show_a_banner_and_supervisors_get_the_daily_gaps);
