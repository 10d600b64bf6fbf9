//! The workspace pages through their handlers: a real `AppState` on a fresh SQLite database per
//! test, the JSON API and the pages wired as the server wires them (security headers and
//! compression included), users created through `accounts::create_user`, alerts raised by
//! submitting screenings through the API.

use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::test;

use crate::accounts::{self, NewUser, Site};
use crate::audit::Who;
use crate::db::alerts as alert_store;
use crate::http::auth::SESSION_COOKIE;
pub(super) use crate::test_support::{Answer, Harness, harness, hidden};
use crate::test_support::{Routes, read};

pub(super) const PASSWORD: &str = "a long enough password";

/// A signed-in browser: its session cookie and the session's CSRF token.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) cookie: String,
    pub(super) csrf: String,
}

pub(super) fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", super::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Harness {
    pub(super) async fn call(&self, req: test::TestRequest) -> Answer {
        read(self.respond(Routes::All, req).await).await
    }

    /// A station with a Chinese name.
    pub(super) fn site(&self, slug: &str) {
        self.site_named(slug, &format!("{slug} 站"));
    }

    pub(super) fn site_named(&self, slug: &str, name: &str) {
        accounts::create_site(
            &mut self.conn(),
            &Who::system(),
            &Site {
                slug: slug.into(),
                name: name.into(),
            },
        )
        .expect("a site");
    }

    /// A user with `PASSWORD`; returns the id.
    pub(super) fn user(
        &self,
        email: &str,
        name: &str,
        role: &str,
        sites: &[&str],
        locale: &str,
    ) -> String {
        let (user, _) = accounts::create_user(
            &mut self.conn(),
            &Who::system(),
            &NewUser {
                email: email.into(),
                name: name.into(),
                role: role.into(),
                sites: sites.iter().map(|s| s.to_string()).collect(),
                password: Some(PASSWORD.into()),
                locale: Some(locale.into()),
                phone: None,
            },
        )
        .expect("a user");
        user.id
    }

    /// Signs in through the form, as a browser does.
    pub(super) async fn try_login(&self, email: &str, password: &str, next: &str) -> Answer {
        let form = self.call(test::TestRequest::get().uri("/login")).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = hidden(&form.body, "csrf-token");
        assert_eq!(form.cookies.get("careline_csrf"), Some(&csrf));
        self.call(
            test::TestRequest::post()
                .uri("/login")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .cookie(Cookie::new("careline_csrf", csrf.clone()))
                .set_payload(encode(&[
                    ("csrf-token", &csrf),
                    ("email", email),
                    ("password", password),
                    ("next", next),
                ])),
        )
        .await
    }

    pub(super) async fn login(&self, email: &str) -> Session {
        let answer = self.try_login(email, PASSWORD, "").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let cookie = answer
            .cookies
            .get(SESSION_COOKIE)
            .expect("a session cookie")
            .clone();
        let page = self
            .call(
                test::TestRequest::get()
                    .uri("/account/password")
                    .cookie(Cookie::new(SESSION_COOKIE, cookie.clone())),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        Session {
            csrf: hidden(&page.body, "csrf-token"),
            cookie,
        }
    }

    pub(super) async fn get(&self, s: &Session, path: &str) -> Answer {
        self.call(
            test::TestRequest::get()
                .uri(path)
                .cookie(Cookie::new(SESSION_COOKIE, s.cookie.clone())),
        )
        .await
    }

    /// A form POST with the session cookie; the CSRF field is added unless `csrf` is `None`.
    pub(super) async fn post_with(
        &self,
        s: &Session,
        path: &str,
        csrf: Option<&str>,
        origin: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut all: Vec<(&str, &str)> = csrf.map(|c| ("csrf-token", c)).into_iter().collect();
        all.extend_from_slice(fields);
        let mut req = test::TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .cookie(Cookie::new(SESSION_COOKIE, s.cookie.clone()))
            .set_payload(encode(&all));
        if let Some(origin) = origin {
            req = req.insert_header((header::ORIGIN, origin));
        }
        self.call(req).await
    }

    pub(super) async fn post(&self, s: &Session, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_with(s, path, Some(&s.csrf), None, fields).await
    }

    /// Submits a PHQ-9 through the API (red when `q9` >= 1, yellow for a moderate total);
    /// returns the alert's row.
    async fn screening(&self, body: serde_json::Value) -> alert_store::AlertRow {
        let answer = self
            .call(
                test::TestRequest::post()
                    .uri("/api/v1/screenings")
                    .insert_header((header::CONTENT_TYPE, "application/json"))
                    .set_payload(body.to_string()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let id = serde_json::from_str::<serde_json::Value>(&answer.body).expect("JSON")["id"]
            .as_str()
            .expect("an id")
            .to_string();
        let mut conn = self.conn();
        let alert = alert_store::alert_of_screening(&mut conn, &id)
            .expect("a query")
            .expect("an alert");
        alert_store::find(&mut conn, &alert)
            .expect("a query")
            .expect("the alert")
    }

    async fn red(&self, site: &str) -> alert_store::AlertRow {
        self.screening(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 2},
            "locale": "zh-CN",
            "site": site,
        }))
        .await
    }

    async fn yellow(&self, site: &str) -> alert_store::AlertRow {
        self.screening(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1": 2, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 0, "q7": 0, "q8": 0, "q9": 0},
            "locale": "zh-CN",
            "site": site,
        }))
        .await
    }

    fn alert(&self, id: &str) -> alert_store::AlertRow {
        alert_store::find(&mut self.conn(), id)
            .expect("a query")
            .expect("the alert")
    }

    pub(super) fn audit_count(&self, action: &str) -> i64 {
        crate::db::audit::count(&mut self.conn(), Some(action)).expect("count")
    }

    /// A station, a counselor (zh-CN) of it, signed in.
    async fn counselor(&self) -> Session {
        self.site("north");
        self.user("li@example.org", "李咨询", "counselor", &["north"], "zh-CN");
        self.login("li@example.org").await
    }
}

// ---- signing in --------------------------------------------------------------------------

#[actix_web::test]
async fn signing_in_sets_the_session_cookie_and_goes_to_the_users_area() {
    let h = harness().await;
    h.site("north");
    h.user("li@example.org", "李咨询", "counselor", &["north"], "zh-CN");
    h.user("root@example.org", "Root", "admin", &[], "en");

    let answer = h.try_login("LI@example.org ", PASSWORD, "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/queue");
    assert!(answer.cookies.contains_key(SESSION_COOKIE));
    let set_cookie = answer.header("set-cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));

    let admin = h.try_login("root@example.org", PASSWORD, "").await;
    assert_eq!(admin.location(), "/admin");

    // `next` brings the user back, but only to a local path.
    let back = h
        .try_login("li@example.org", PASSWORD, "/queue?tier=red")
        .await;
    assert_eq!(back.location(), "/queue?tier=red");
    for foreign in [
        "//evil.example/queue",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let answer = h.try_login("li@example.org", PASSWORD, foreign).await;
        assert_eq!(answer.location(), "/queue", "{foreign}");
    }
    assert_eq!(h.audit_count("auth.login_succeeded"), 6);
}

#[actix_web::test]
async fn every_sign_in_failure_shows_one_message_and_never_the_password() {
    let h = harness().await;
    h.user("li@example.org", "李咨询", "counselor", &[], "zh-CN");
    let off = h.user("off@example.org", "Off", "counselor", &[], "zh-CN");
    accounts::update_user(
        &mut h.conn(),
        &Who::system(),
        &off,
        &accounts::UserPatch {
            active: Some(false),
            ..Default::default()
        },
    )
    .expect("disabled");

    let secret = "my-secret-guess-1234";
    let mut messages = Vec::new();
    for (email, password) in [
        ("li@example.org", secret),
        ("nobody@example.org", secret),
        ("off@example.org", PASSWORD),
    ] {
        let answer = h.try_login(email, password, "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{email}");
        assert!(!answer.cookies.contains_key(SESSION_COOKIE));
        assert!(!answer.body.contains(secret), "the password is echoed");
        assert!(!answer.body.contains(PASSWORD), "the password is echoed");
        let start = answer.body.find("id=\"login-error\"").expect("an error");
        let message = answer.body[start..].split('<').next().unwrap_or_default();
        messages.push(message.to_string());
        // The email stays in the form, to correct a typo.
        assert!(answer.body.contains(&format!("value=\"{email}\"")));
    }
    assert!(messages[0].contains("邮箱或密码不正确"), "{}", messages[0]);
    assert_eq!(messages[0], messages[1]);
    assert_eq!(messages[1], messages[2]);
}

#[actix_web::test]
async fn repeated_failures_are_throttled_with_retry_after_and_the_same_message() {
    let h = harness().await;
    h.user("li@example.org", "李咨询", "counselor", &[], "zh-CN");
    for _ in 0..5 {
        let answer = h.try_login("li@example.org", "wrong password!!", "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits, with the same message.
    let answer = h.try_login("li@example.org", PASSWORD, "").await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    let wait: u64 = answer.header("retry-after").parse().expect("seconds");
    assert!(wait >= 1);
    assert!(answer.body.contains("邮箱或密码不正确"));
    assert!(!answer.cookies.contains_key(SESSION_COOKIE));
}

#[actix_web::test]
async fn the_sign_in_form_needs_its_csrf_token_and_this_origin() {
    let h = harness().await;
    h.user("li@example.org", "李咨询", "counselor", &[], "zh-CN");
    let form = h.call(test::TestRequest::get().uri("/login")).await;
    let csrf = hidden(&form.body, "csrf-token");
    let post = |fields: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut req = test::TestRequest::post()
            .uri("/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .cookie(Cookie::new("careline_csrf", csrf.clone()))
            .set_payload(
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", super::url_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        if let Some(o) = origin {
            req = req.insert_header((header::ORIGIN, o));
        }
        req
    };
    let creds = || {
        vec![
            ("email", "li@example.org".to_string()),
            ("password", PASSWORD.to_string()),
        ]
    };
    let answer = h.call(post(creds(), None)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.cookies.contains_key(SESSION_COOKIE));
    let mut with_token = creds();
    with_token.push(("csrf-token", csrf.clone()));
    let answer = h
        .call(post(with_token.clone(), Some("https://evil.example")))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!answer.cookies.contains_key(SESSION_COOKIE));
    assert_eq!(h.audit_count("auth.login_succeeded"), 0);
    let answer = h.call(post(with_token, None)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

// ---- access -------------------------------------------------------------------------------

#[actix_web::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_come_back() {
    let h = harness().await;
    for (path, next) in [
        ("/queue", "/queue"),
        ("/queue?tier=red", "/queue%3Ftier%3Dred"),
        ("/queue/A-7F3K", "/queue/A-7F3K"),
        ("/admin", "/admin"),
        ("/admin/audit", "/admin/audit"),
        ("/account/password", "/account/password"),
    ] {
        let answer = h.call(test::TestRequest::get().uri(path)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        let location = answer.location().to_string();
        assert_eq!(location, format!("/login?next={next}"), "{path}");
        // The sign-in page carries it on.
        let form = h.call(test::TestRequest::get().uri(&location)).await;
        assert_eq!(
            hidden(&form.body, "next"),
            path.replace('&', "&amp;"),
            "{path}"
        );
    }
    let answer = h
        .call(
            test::TestRequest::post()
                .uri("/queue/take-next")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload("csrf-token=x"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");
    // The live rows answer a bare 401: a script asks for them.
    let answer = h.call(test::TestRequest::get().uri("/queue/rows")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // A cookie of no live session is the same as none.
    let answer = h
        .call(
            test::TestRequest::get()
                .uri("/queue")
                .cookie(Cookie::new(SESSION_COOKIE, "not.a.token")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn each_role_is_refused_the_areas_of_the_others() {
    let h = harness().await;
    let counselor = h.counselor().await;
    h.user("root@example.org", "Root", "admin", &[], "en");
    let admin = h.login("root@example.org").await;
    for path in ["/admin", "/admin/audit"] {
        let answer = h.get(&counselor, path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.body.contains("无权访问"), "{path}");
    }
    for path in ["/queue", "/queue/rows", "/queue/A-7F3K"] {
        let answer = h.get(&admin, path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.body.contains("Not your area"), "{path}");
    }
    let answer = h.post(&admin, "/queue/take-next", &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = h
        .post(
            &counselor,
            "/admin/sites",
            &[("slug", "south"), ("name", "南站")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(accounts::list_sites(&mut h.conn()).expect("sites").len(), 1);
    // The nav bar offers each role its own areas only.
    let page = h.get(&admin, "/admin").await;
    assert!(page.body.contains("href=\"/admin/audit\"") && !page.body.contains("href=\"/queue\""));
    let page = h.get(&counselor, "/queue").await;
    assert!(page.body.contains("href=\"/queue\"") && !page.body.contains("href=\"/admin\""));
}

#[actix_web::test]
async fn another_stations_alert_is_not_found_and_the_attempt_is_audited() {
    let h = harness().await;
    let counselor = h.counselor().await;
    h.site("south");
    let theirs = h.red("south").await;
    let answer = h
        .get(&counselor, &format!("/queue/{}", theirs.reference))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(!answer.body.contains(&theirs.reference));
    assert_eq!(h.audit_count("alert.access_denied"), 1);
    assert_eq!(h.audit_count("alert.viewed"), 0);
    let answer = h
        .post(
            &counselor,
            &format!("/queue/{}/acknowledge", theirs.reference),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(h.alert(&theirs.id).status, "open");
    // Nor is it on the queue.
    let page = h.get(&counselor, "/queue").await;
    assert!(!page.body.contains(&theirs.reference));
    // An unknown reference reads the same.
    let answer = h.get(&counselor, "/queue/A-ZZZZ").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

// ---- CSRF ---------------------------------------------------------------------------------

#[actix_web::test]
async fn a_post_without_the_token_or_from_another_origin_changes_nothing() {
    let h = harness().await;
    let s = h.counselor().await;
    let alert = h.red("north").await;
    let path = format!("/queue/{}/acknowledge", alert.reference);
    let answer = h.post_with(&s, &path, None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("这个表单已过期"));
    let answer = h.post_with(&s, &path, Some("0000"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = h
        .post_with(&s, &path, Some(&s.csrf), Some("https://evil.example"), &[])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(h.alert(&alert.id).status, "open");
    assert_eq!(h.audit_count("alert.acknowledged"), 0);
    let answer = h.post_with(&s, "/queue/take-next", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(h.alert(&alert.id).status, "open");
    // Signing out needs it too.
    let answer = h.post_with(&s, "/logout", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(h.get(&s, "/queue").await.status, StatusCode::OK);
    // With the token, from this site, it goes through.
    let answer = h
        .post_with(&s, &path, Some(&s.csrf), Some("http://localhost:8080"), &[])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(h.alert(&alert.id).status, "acknowledged");
}

#[actix_web::test]
async fn admin_forms_refuse_a_post_without_the_token() {
    let h = harness().await;
    h.user("root@example.org", "Root", "admin", &[], "en");
    let admin = h.login("root@example.org").await;
    let answer = h
        .post_with(
            &admin,
            "/admin/sites",
            None,
            None,
            &[("slug", "south"), ("name", "South")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = h
        .post_with(
            &admin,
            "/admin/users",
            Some(&admin.csrf),
            Some("https://evil.example"),
            &[("email", "x@example.org"), ("name", "X"), ("role", "admin")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        accounts::list_sites(&mut h.conn())
            .expect("sites")
            .is_empty()
    );
    assert_eq!(accounts::list_users(&mut h.conn()).expect("users").len(), 1);
    // Another session's token is not this one's.
    h.user("two@example.org", "Two", "admin", &[], "en");
    let other = h.login("two@example.org").await;
    let answer = h
        .post_with(
            &admin,
            "/admin/sites",
            Some(&other.csrf),
            None,
            &[("slug", "south"), ("name", "South")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        accounts::list_sites(&mut h.conn())
            .expect("sites")
            .is_empty()
    );
}

// ---- the alert lifecycle through forms ------------------------------------------------------

#[actix_web::test]
async fn acknowledge_note_and_resolve_through_the_alert_page() {
    let h = harness().await;
    let s = h.counselor().await;
    let alert = h.red("north").await;
    let page = format!("/queue/{}", alert.reference);

    let view = h.get(&s, &page).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(h.audit_count("alert.viewed"), 1, "one audit row per view");
    assert!(view.body.contains("act-acknowledge"));
    assert!(
        !view.body.contains("act-resolve"),
        "take it before resolving"
    );
    // Answers with the item's text and the chosen label in the counselor's language.
    assert!(view.body.contains("有不如死掉或用某种方式伤害自己的念头"));
    assert!(view.body.contains("一半以上的天数 (2)"));
    assert!(view.body.contains("tel:12356"), "the crisis reminder");
    // The referral export: a GET form to the FHIR endpoint; no contact was given, so no box.
    assert!(view.body.contains(&format!(
        "<form method=\"get\" action=\"/api/v1/alerts/{}/fhir\" class=\"act-fhir\">",
        alert.reference
    )));
    assert!(!view.body.contains("name=\"include_contact\""));

    let answer = h.post(&s, &format!("{page}/acknowledge"), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), page);
    assert_eq!(h.alert(&alert.id).status, "acknowledged");

    let answer = h
        .post(
            &s,
            &format!("{page}/notes"),
            &[("text", "已电话联系，骑手愿意聊聊")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);

    // No outcome: refused, the note kept, nothing changed.
    let answer = h
        .post(
            &s,
            &format!("{page}/resolve"),
            &[("outcome", ""), ("note", "转介到站点心理老师")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("请选择处理结果"));
    assert!(answer.body.contains("转介到站点心理老师"));
    assert_eq!(h.alert(&alert.id).status, "acknowledged");
    // No note: refused.
    let answer = h
        .post(
            &s,
            &format!("{page}/resolve"),
            &[("outcome", "referred"), ("note", "  ")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);

    let answer = h
        .post(
            &s,
            &format!("{page}/resolve"),
            &[("outcome", "referred"), ("note", "转介到站点心理老师")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let row = h.alert(&alert.id);
    assert_eq!(row.status, "resolved");
    assert_eq!(row.outcome.as_deref(), Some("referred"));

    let view = h.get(&s, &page).await;
    assert!(
        view.body.contains("已电话联系，骑手愿意聊聊"),
        "the note on the timeline"
    );
    assert!(view.body.contains("已转介"), "the outcome, localized");
    assert!(view.body.contains("李咨询"), "who did it");
    assert!(view.body.contains("已结案"));
    assert!(
        !view.body.contains("act-note"),
        "a resolved alert takes no notes"
    );
    // Off the default queue now.
    let queue = h.get(&s, "/queue").await;
    assert!(!queue.body.contains(&alert.reference));
    let all = h.get(&s, "/queue?status=resolved").await;
    assert!(all.body.contains(&alert.reference));
}

#[actix_web::test]
async fn take_next_opens_the_most_urgent_alert() {
    let h = harness().await;
    let s = h.counselor().await;
    let yellow = h.yellow("north").await;
    let red = h.red("north").await;
    let answer = h.post(&s, "/queue/take-next", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), format!("/queue/{}", red.reference));
    assert_eq!(h.alert(&red.id).status, "acknowledged");
    assert_eq!(h.alert(&yellow.id).status, "open");
    h.post(&s, "/queue/take-next", &[]).await;
    let answer = h.post(&s, "/queue/take-next", &[]).await;
    assert_eq!(answer.location(), "/queue?notice=none-open");
    let page = h.get(&s, answer.location()).await;
    assert!(page.body.contains("没有待接手的预警"));
}

#[actix_web::test]
async fn a_second_counselor_gets_a_409_page_naming_who_took_it() {
    let h = harness().await;
    let first = h.counselor().await;
    h.user("wang@example.org", "Wang", "counselor", &["north"], "en");
    let second = h.login("wang@example.org").await;
    let alert = h.red("north").await;
    let path = format!("/queue/{}/acknowledge", alert.reference);
    assert_eq!(
        h.post(&first, &path, &[]).await.status,
        StatusCode::SEE_OTHER
    );
    let answer = h.post(&second, &path, &[]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(
        answer
            .body
            .contains("This alert has already been taken by 李咨询"),
        "{}",
        answer.body
    );
    // The alert page itself, as it is now: taken by the first.
    assert!(answer.body.contains(&alert.reference));
    assert!(answer.body.contains("id=\"alert-assignee\">李咨询"));
    assert_eq!(
        h.alert(&alert.id).assignee_id,
        crate::db::accounts::find_user_by_email(&mut h.conn(), "li@example.org")
            .expect("a query")
            .map(|u| u.id)
    );
    // Nor may the second resolve it.
    let answer = h
        .post(
            &second,
            &format!("/queue/{}/resolve", alert.reference),
            &[("outcome", "other"), ("note", "x")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(h.alert(&alert.id).status, "acknowledged");
}

#[actix_web::test]
async fn supervisors_hand_alerts_over_and_counselors_cannot() {
    let h = harness().await;
    let counselor = h.counselor().await;
    let li = crate::db::accounts::find_user_by_email(&mut h.conn(), "li@example.org")
        .expect("a query")
        .expect("li")
        .id;
    h.user("boss@example.org", "Boss", "supervisor", &[], "zh-CN");
    let wang = h.user(
        "wang@example.org",
        "王咨询",
        "counselor",
        &["north"],
        "zh-CN",
    );
    h.site("south");
    h.user("far@example.org", "Far", "counselor", &["south"], "zh-CN");
    let boss = h.login("boss@example.org").await;
    let alert = h.red("north").await;
    let page = format!("/queue/{}", alert.reference);
    h.post(&counselor, &format!("{page}/acknowledge"), &[])
        .await;
    let view = h.get(&counselor, &page).await;
    assert!(!view.body.contains("act-assign"));
    let answer = h
        .post(&counselor, &format!("{page}/assign"), &[("user_id", &wang)])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(h.alert(&alert.id).assignee_id.as_deref(), Some(li.as_str()));

    let view = h.get(&boss, &page).await;
    assert!(view.body.contains("act-assign"));
    assert!(view.body.contains("王咨询"));
    assert!(!view.body.contains(">Far<"), "not of this station");
    let answer = h
        .post(&boss, &format!("{page}/assign"), &[("user_id", &wang)])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        h.alert(&alert.id).assignee_id.as_deref(),
        Some(wang.as_str())
    );
}

#[actix_web::test]
async fn the_alert_page_shows_contact_details_only_with_consent() {
    let h = harness().await;
    h.site("north");
    h.user("amy@example.org", "Amy", "counselor", &["north"], "en");
    let s = h.login("amy@example.org").await;
    let alert = h
        .screening(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 1},
            "locale": "zh-CN",
            "site": "north",
            "contact": {"name": "小张", "phone": "13800000000"},
            "consent_to_contact": true,
        }))
        .await;
    let view = h.get(&s, &format!("/queue/{}", alert.reference)).await;
    assert_eq!(view.status, StatusCode::OK);
    // The counselor's language, not the rider's.
    assert!(view.body.contains("<html lang=\"en\">"));
    assert!(
        view.body
            .contains("Thoughts that you would be better off dead")
    );
    assert!(view.body.contains("Several days (1)"));
    assert!(view.body.contains("13800000000") && view.body.contains("小张"));
    // The referral export offers the contact details, unticked.
    assert!(view.body.contains(
        "<input type=\"checkbox\" name=\"include_contact\" value=\"true\"> Include contact details"
    ));
    let without = h.red("north").await;
    let view = h.get(&s, &format!("/queue/{}", without.reference)).await;
    assert!(!view.body.contains("contact-title"));
}

/// Issue 13: the number to call is the first thing on the alert page, as a `tel:` link of
/// its digits; without contact details the page says so; queue rows mark alerts with a
/// number.
#[actix_web::test]
async fn the_alert_page_leads_with_the_call_button_or_says_there_is_no_number() {
    let h = harness().await;
    h.site("north");
    h.user("amy@example.org", "Amy", "counselor", &["north"], "en");
    let s = h.login("amy@example.org").await;
    let with = h
        .screening(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 1},
            "locale": "zh-CN",
            "site": "north",
            "contact": {"name": "小张", "phone": "+86 138-0000 0000"},
            "consent_to_contact": true,
        }))
        .await;
    let without = h.red("north").await;
    let view = h.get(&s, &format!("/queue/{}", with.reference)).await;
    assert_eq!(view.status, StatusCode::OK);
    let button = view.body.find("id=\"call-button\"").expect("a call button");
    assert!(
        view.body.contains(
            "<a class=\"call-button\" id=\"call-button\" href=\"tel:+8613800000000\"><span class=\"call-label\">Call the rider</span> <span class=\"call-number\">+86 138-0000 0000</span></a>"
        ),
        "{}",
        view.body
    );
    // Before the alert's facts, the crisis lines and the actions.
    for later in ["alert-title", "actions-title", "ws-crisis"] {
        let at = view.body.find(later).expect(later);
        assert!(button < at, "{later}");
    }
    assert!(!view.body.contains("id=\"no-contact\""));
    assert!(view.body.contains(&format!("data-alert=\"{}\"", with.id)));

    let view = h.get(&s, &format!("/queue/{}", without.reference)).await;
    assert!(!view.body.contains("call-button"));
    assert!(view.body.contains(
        "<p class=\"no-contact\" id=\"no-contact\">The rider left no contact details: there is no number to call.</p>"
    ));

    let queue = h.get(&s, "/queue").await;
    let row_of = |reference: &str| {
        let start = queue
            .body
            .find(&format!("data-ref=\"{reference}\""))
            .expect("a row");
        let end = queue.body[start..].find("</tr>").expect("its end") + start;
        queue.body[start..end].to_string()
    };
    assert!(
        row_of(&with.reference).contains("<span class=\"pill has-contact\">number left</span>")
    );
    assert!(!row_of(&without.reference).contains("has-contact"));
}

/// Issue 13: the alert page says who else has it open (from the database, so across
/// instances); the line refreshes through `GET /queue/{ref}/viewers`; a page not refreshed
/// for the window drops out; an alert the user may not see is 404 and records nothing.
#[actix_web::test]
async fn the_alert_page_says_who_else_has_it_open() {
    use crate::db::schema::alert_viewers;
    use diesel::prelude::*;
    let h = harness().await;
    h.site("north");
    h.site("south");
    h.user("amy@example.org", "Amy", "counselor", &["north"], "en");
    h.user("bo@example.org", "Bo", "supervisor", &[], "en");
    h.user("cy@example.org", "Cy", "counselor", &["south"], "en");
    let amy = h.login("amy@example.org").await;
    let bo = h.login("bo@example.org").await;
    let cy = h.login("cy@example.org").await;
    let alert = h.red("north").await;
    let page = format!("/queue/{}", alert.reference);
    let viewers = format!("/queue/{}/viewers", alert.reference);
    let rows = |h: &Harness| -> i64 {
        alert_viewers::table
            .count()
            .get_result(&mut *h.conn())
            .expect("a count")
    };

    // Alone on the page: an empty line.
    let view = h.get(&amy, &page).await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(
        view.body
            .contains("<p class=\"viewers\" id=\"alert-viewers\"></p>"),
        "{}",
        view.body
    );
    assert_eq!(rows(&h), 1);

    // A second person opens it: sees the first, and the first's refresh sees the second.
    let view = h.get(&bo, &page).await;
    assert!(
        view.body
            .contains("<p class=\"viewers\" id=\"alert-viewers\">Also open now: Amy</p>"),
        "{}",
        view.body
    );
    let line = h.get(&amy, &viewers).await;
    assert_eq!(line.status, StatusCode::OK);
    assert_eq!(line.header("cache-control"), "no-store");
    assert_eq!(
        line.body,
        "<p class=\"viewers\" id=\"alert-viewers\">Also open now: Bo</p>"
    );
    assert_eq!(rows(&h), 2);

    // Another site's counselor: not found, nothing recorded, nobody told.
    let refused = h.get(&cy, &viewers).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(!refused.body.contains("Amy"));
    assert_eq!(rows(&h), 2);
    let unknown = h.get(&amy, "/queue/ZZZZZZZZ/viewers").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(rows(&h), 2);

    // Amy's page goes quiet past the window: Bo no longer sees her.
    let stale = chrono::Utc::now().naive_utc()
        - crate::alerts::VIEWING_WINDOW
        - chrono::Duration::seconds(1);
    diesel::update(alert_viewers::table)
        .set(alert_viewers::seen_at.eq(stale))
        .execute(&mut *h.conn())
        .expect("an update");
    let line = h.get(&bo, &viewers).await;
    assert_eq!(line.body, "<p class=\"viewers\" id=\"alert-viewers\"></p>");
}

// ---- the queue ----------------------------------------------------------------------------

/// Issue 11: the page says how many more alerts there are and links to the next page.
#[actix_web::test]
async fn the_queue_page_says_how_many_more_and_pages_to_them() {
    let h = harness().await;
    let s = h.counselor().await;
    let mut refs = Vec::new();
    for _ in 0..3 {
        refs.push(h.red("north").await.reference);
    }
    let page = h.get(&s, "/queue?limit=2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("还有 1 条预警"), "{}", page.body);
    let start = page.body.find("id=\"queue-more\"").expect("the more link");
    let href_at = page.body[..start].rfind("href=\"").expect("its href") + 6;
    let href = page.body[href_at..]
        .split('"')
        .next()
        .expect("the href")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let next = h.get(&s, &href).await;
    assert_eq!(next.status, StatusCode::OK, "{href}");
    assert!(
        !next.body.contains("id=\"queue-more\""),
        "the last page: {href}"
    );
    let shown = |body: &str| refs.iter().filter(|r| body.contains(r.as_str())).count();
    assert_eq!(shown(&page.body), 2);
    assert_eq!(shown(&next.body), 1);
    assert_eq!(
        h.get(&s, "/queue?cursor=bad").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn the_queue_title_counts_open_red_alerts_and_the_rows_fragment_follows() {
    let h = harness().await;
    let s = h.counselor().await;
    let page = h.get(&s, "/queue").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.title().starts_with("(0) 预警队列"), "{}", page.title());
    assert!(page.body.contains("/static/workspace.js?v="));
    assert!(page.body.contains("data-rows=\"/queue/rows\""));

    let yellow = h.yellow("north").await;
    let red = h.red("north").await;
    let rows = h.get(&s, "/queue/rows").await;
    assert_eq!(rows.status, StatusCode::OK);
    assert!(rows.body.starts_with("<table>"));
    assert!(
        rows.body.contains("data-title=\"(1) 预警队列"),
        "{}",
        rows.body
    );
    assert!(rows.body.contains("data-open-red=\"1\""));
    let red_at = rows.body.find(&red.reference).expect("the red alert");
    let yellow_at = rows.body.find(&yellow.reference).expect("the yellow alert");
    assert!(red_at < yellow_at, "red first");
    assert!(rows.body.contains("还剩"), "time left");
    assert!(!rows.body.contains("<html"), "a fragment");

    let page = h.get(&s, "/queue").await;
    assert!(page.title().starts_with("(1) 预警队列"), "{}", page.title());
    // Filters, as the API reads them; the rows' URL carries them.
    let reds = h.get(&s, "/queue?tier=red").await;
    assert!(reds.body.contains(&red.reference) && !reds.body.contains(&yellow.reference));
    assert!(reds.body.contains("data-rows=\"/queue/rows?tier=red\""));
    let rows = h.get(&s, "/queue/rows?tier=yellow").await;
    assert!(!rows.body.contains(&red.reference) && rows.body.contains(&yellow.reference));
    for bad in [
        "/queue?tier=green",
        "/queue?status=closed",
        "/queue/rows?site=A%20B",
        "/queue?limit=0",
    ] {
        assert_eq!(
            h.get(&s, bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    // Taken: no longer counted as open.
    h.post(&s, &format!("/queue/{}/acknowledge", red.reference), &[])
        .await;
    let rows = h.get(&s, "/queue/rows").await;
    assert!(rows.body.contains("data-title=\"(0) 预警队列"));
    assert!(rows.body.contains("李咨询"), "the assignee");
}

#[actix_web::test]
async fn overdue_alerts_say_so() {
    let h = harness().await;
    let s = h.counselor().await;
    let red = h.red("north").await;
    {
        use crate::db::schema::alerts::dsl;
        use diesel::prelude::*;
        let earlier = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(30);
        diesel::update(dsl::alerts.find(&red.id))
            .set(dsl::deadline_at.eq(earlier))
            .execute(&mut h.conn())
            .expect("moved back");
    }
    let rows = h.get(&s, "/queue/rows").await;
    assert!(rows.body.contains("overdue"), "{}", rows.body);
    assert!(rows.body.contains("已超时 30 分钟"), "{}", rows.body);
}

// ---- administration -----------------------------------------------------------------------

#[actix_web::test]
async fn an_admin_creates_sites_and_users_and_a_generated_password_is_shown_once() {
    let h = harness().await;
    h.user("root@example.org", "Root", "admin", &[], "en");
    let admin = h.login("root@example.org").await;

    let answer = h
        .post(
            &admin,
            "/admin/sites",
            &[("slug", "east-3"), ("name", "东三站")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/admin?done=site");
    let page = h.get(&admin, "/admin").await;
    assert!(page.body.contains("东三站"));
    assert!(
        page.body
            .contains("http://127.0.0.1:8080/s/rider_wellbeing?site=east-3"),
        "the full link a poster prints"
    );
    for poster in [
        "/api/v1/admin/sites/east-3/poster.svg?size=a4",
        "/api/v1/admin/sites/east-3/poster.svg?size=a6",
        "/api/v1/admin/sites/east-3/poster.png?size=a4",
        "/api/v1/admin/sites/east-3/poster.png?size=a6",
    ] {
        assert!(page.body.contains(poster), "{poster}");
    }
    // A bad slug and a duplicate are refused with the form kept.
    let answer = h
        .post(&admin, "/admin/sites", &[("slug", "East 3"), ("name", "x")])
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("id=\"admin-error\""));
    let answer = h
        .post(
            &admin,
            "/admin/sites",
            &[("slug", "east-3"), ("name", "again")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    let answer = h
        .post(&admin, "/admin/sites/east-3", &[("name", "东三站（新）")])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        accounts::list_sites(&mut h.conn()).expect("sites")[0].name,
        "东三站（新）"
    );

    // No password given: one is generated and shown on this answer only.
    let answer = h
        .post(
            &admin,
            "/admin/users",
            &[
                ("email", "zhao@example.org"),
                ("name", "赵咨询"),
                ("role", "counselor"),
                ("sites", "east-3"),
                ("locale", "zh-CN"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let start = answer
        .body
        .find("id=\"generated-password\">")
        .expect("the password")
        + "id=\"generated-password\">".len();
    let generated = answer.body[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(generated.len() >= 12, "{generated}");
    let page = h.get(&admin, "/admin").await;
    assert!(page.body.contains("zhao@example.org"));
    assert!(!page.body.contains(&generated), "shown once");
    let signed = h.try_login("zhao@example.org", &generated, "").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let users = accounts::list_users(&mut h.conn()).expect("users");
    let zhao = users
        .iter()
        .find(|u| u.email == "zhao@example.org")
        .expect("zhao");
    assert_eq!(zhao.sites, vec!["east-3".to_string()]);

    // A bad email: refused, what was typed kept.
    let answer = h
        .post(
            &admin,
            "/admin/users",
            &[
                ("email", "not-an-email"),
                ("name", "钱"),
                ("role", "counselor"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("value=\"not-an-email\""));

    // Disabling a user: their sign-in fails from then on.
    let answer = h
        .post(
            &admin,
            &format!("/admin/users/{}", zhao.id),
            &[
                ("name", "赵咨询"),
                ("role", "counselor"),
                ("sites", "east-3"),
                ("locale", "zh-CN"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let users = accounts::list_users(&mut h.conn()).expect("users");
    assert!(
        !users
            .iter()
            .any(|u| u.email == "zhao@example.org" && u.active)
    );
    let refused = h.try_login("zhao@example.org", &generated, "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // The last admin cannot demote themselves.
    let me = users
        .iter()
        .find(|u| u.email == "root@example.org")
        .expect("root");
    let answer = h
        .post(
            &admin,
            &format!("/admin/users/{}", me.id),
            &[
                ("name", "Root"),
                ("role", "counselor"),
                ("active", "yes"),
                ("locale", "en"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.body.contains("last active administrator"));
}

#[actix_web::test]
async fn the_audit_page_lists_entries_newest_first_and_filters_by_action() {
    let h = harness().await;
    h.user("root@example.org", "Root", "admin", &[], "en");
    let _ = h
        .try_login("root@example.org", "wrong password!!", "")
        .await;
    let admin = h.login("root@example.org").await;
    let page = h.get(&admin, "/admin/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    let succeeded = page.body.find("auth.login_succeeded").expect("the sign-in");
    let failed = page
        .body
        .find("auth.login_failed</code>")
        .expect("the failure");
    assert!(succeeded < failed, "newest first");
    assert!(!page.body.contains("wrong password!!"));
    let only = h.get(&admin, "/admin/audit?action=auth.login_failed").await;
    assert!(only.body.contains("auth.login_failed</code>"));
    assert!(!only.body.contains("auth.login_succeeded</code>"));
    // Paging: one per page, then the next.
    let first = h.get(&admin, "/admin/audit?limit=1").await;
    assert!(first.body.contains("rel=\"next\""));
    let next_start = first
        .body
        .find("href=\"/admin/audit?limit=1&#38;before=")
        .unwrap_or_else(|| panic!("a next link: {}", first.body));
    let href = first.body[next_start + 6..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&#38;", "&");
    let second = h.get(&admin, &href).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(
        second.body.contains("auth.login_failed</code>")
            || second.body.contains("user.created</code>")
    );
    for bad in [
        "/admin/audit?limit=0",
        "/admin/audit?before=x",
        "/admin/audit?action=DROP%20TABLE",
    ] {
        assert_eq!(
            h.get(&admin, bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

// ---- account --------------------------------------------------------------------------------

#[actix_web::test]
async fn changing_the_password_ends_the_old_session_and_starts_a_new_one() {
    let h = harness().await;
    let s = h.counselor().await;
    let new = "another long password";
    let answer = h
        .post(
            &s,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("repeat_password", "different one!!"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("两次输入的新密码不一致"));
    let answer = h
        .post(
            &s,
            "/account/password",
            &[
                ("current_password", "wrong current pw"),
                ("new_password", new),
                ("repeat_password", new),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!answer.body.contains(new), "never echoed");
    let answer = h
        .post(
            &s,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("repeat_password", new),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let fresh = Session {
        cookie: answer
            .cookies
            .get(SESSION_COOKIE)
            .expect("a new cookie")
            .clone(),
        csrf: String::new(),
    };
    assert_eq!(
        h.get(&s, "/queue").await.status,
        StatusCode::SEE_OTHER,
        "the old session ended"
    );
    let page = h.get(&fresh, answer.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("密码已修改"));
    assert_eq!(
        h.try_login("li@example.org", new, "").await.status,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn signing_out_ends_the_session_at_once() {
    let h = harness().await;
    let s = h.counselor().await;
    let page = h.get(&s, "/queue").await;
    assert!(
        page.body.contains("李咨询") && page.body.contains("咨询师"),
        "name and role in the nav bar"
    );
    let answer = h.post(&s, "/logout", &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login");
    assert_eq!(
        answer.cookies.get(SESSION_COOKIE).map(String::as_str),
        Some("")
    );
    assert_eq!(h.get(&s, "/queue").await.status, StatusCode::SEE_OTHER);
    assert_eq!(h.audit_count("auth.logout"), 1);
}

// ---- headers and strings --------------------------------------------------------------------

#[actix_web::test]
async fn pages_carry_the_security_headers() {
    let h = harness().await;
    let s = h.counselor().await;
    let alert = h.red("north").await;
    let anonymous = h.call(test::TestRequest::get().uri("/login")).await;
    let pages = vec![
        h.get(&s, "/queue").await,
        h.get(&s, "/queue/rows").await,
        h.get(&s, &format!("/queue/{}", alert.reference)).await,
        h.get(&s, "/admin").await,
        h.post(&s, "/queue/take-next", &[]).await,
        anonymous,
    ];
    for page in &pages {
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("referrer-policy"), "no-referrer");
        assert_eq!(page.header("cache-control"), "no-store");
    }
    // No inline script or style in any page.
    for page in &pages {
        assert!(!page.body.contains("<script>") && !page.body.contains("style="));
    }
    let js = h
        .call(test::TestRequest::get().uri("/static/workspace.js"))
        .await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("new EventSource('/api/v1/alerts/events')"));
    let css = h
        .call(test::TestRequest::get().uri("/static/workspace.css"))
        .await;
    assert_eq!(css.status, StatusCode::OK);
}

#[::core::prelude::v1::test]
fn every_workspace_string_exists_in_every_language() {
    use crate::i18n::{Lang, Tr};
    let root = env!("CARGO_MANIFEST_DIR");
    let keys = |lang: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{root}/locales/{lang}/workspace.ftl"))
            .expect("the Fluent file");
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("ws-"))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect();
        keys.sort();
        keys
    };
    let zh_cn = keys("zh-CN");
    assert!(zh_cn.len() > 100);
    assert_eq!(zh_cn, keys("zh-TW"));
    assert_eq!(zh_cn, keys("en"));

    // Every key the code and the templates name, plus those built from enum names.
    let mut used: Vec<String> = Vec::new();
    let quoted = |text: &str, marker: &str, out: &mut Vec<String>| {
        for part in text.split(marker).skip(1) {
            let key: String = part
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'
                })
                .collect();
            if part[key.len()..].starts_with('"') && !key.is_empty() {
                out.push(format!("ws-{key}"));
            }
        }
    };
    for (dir, marker) in [
        (format!("{root}/src/workspace"), "\"ws-"),
        (format!("{root}/templates/workspace"), "tr(\"ws-"),
    ] {
        for entry in std::fs::read_dir(dir).expect("a folder").flatten() {
            if entry.path().ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).expect("a file");
            quoted(&text, marker, &mut used);
        }
    }
    assert!(used.len() > 100, "{}", used.len());
    for tier in ["red", "yellow", "green"] {
        used.push(format!("ws-tier-{tier}"));
    }
    for role in crate::accounts::Role::ALL {
        used.push(format!("ws-role-{}", role.as_str()));
    }
    for s in crate::alerts::Status::ALL {
        used.push(format!("ws-status-{}", s.as_str()));
    }
    for r in crate::alerts::Resolution::ALL {
        used.push(format!("ws-outcome-{}", r.as_str()));
    }
    for e in [
        "opened",
        "attached",
        "acknowledged",
        "unacknowledged",
        "reassigned",
        "note",
        "resolved",
        "paged",
        "escalation_gap",
        "escalation_repaired",
        "delivery_failed",
        "nobody_to_page",
        "channel_sent",
    ] {
        used.push(format!("ws-event-{e}"));
    }
    for way in ["left", "overdue"] {
        for unit in ["minutes", "hours", "days"] {
            used.push(format!("ws-{way}-{unit}"));
        }
    }
    for key in &used {
        assert!(
            zh_cn.contains(key),
            "{key} is used but not in the Fluent files"
        );
    }
    // And the loader serves them (every .ftl of a language's folder is loaded).
    for lang in Lang::ALL {
        let text = Tr(lang).tr("ws-queue-title");
        assert!(
            !text.is_empty() && text != "ws-queue-title",
            "{}",
            lang.code()
        );
    }
    assert_eq!(Tr(Lang::ZhTw).tr("ws-queue-title"), "預警佇列");
}

#[actix_web::test]
async fn the_reports_page_shows_charts_and_tables_to_admins_and_supervisors_only() {
    let h = harness().await;
    let counselor = h.counselor().await;
    h.user("root@example.org", "Root", "admin", &[], "en");
    let admin = h.login("root@example.org").await;
    let answer = h.get(&counselor, "/reports").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let page = h
        .get(&admin, "/reports?from=2026-11-02&to=2026-11-29")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Programme reports"));
    // Server-rendered SVG with a title, and the same figures as tables.
    assert!(page.body.contains("<svg class=\"chart\""));
    assert!(page.body.contains("<title id="));
    assert!(page.body.contains("<caption>2026-W45</caption>"));
    // No screenings at all: every period shows only "<10".
    assert!(page.body.contains("<td>&lt;10</td>") || page.body.contains("<td>&#60;10</td>"));
    assert!(
        page.body
            .contains("/api/v1/reports/screenings?from=2026-11-02")
    );
    assert!(page.body.contains("href=\"/reports\""));
    let bad = h.get(&admin, "/reports?by=day").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// Issue 10: an admin erases a rider's contact on request from the admin page (the CSRF
/// token and this origin like every admin form); a number that is not one changes nothing.
#[actix_web::test]
async fn an_admin_erases_a_riders_contact_from_the_admin_page() {
    let h = harness().await;
    h.site("north");
    h.user("root@example.org", "Root", "admin", &[], "en");
    let admin = h.login("root@example.org").await;
    let alert = h
        .screening(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 0, "q6": 0, "q7": 0, "q8": 0, "q9": 1},
            "locale": "zh-CN",
            "site": "north",
            "contact": {"name": "小张", "phone": "13800000000"},
            "consent_to_contact": true,
        }))
        .await;
    let contacts = || crate::db::screenings::count_contacts(&mut h.conn()).expect("count");
    assert_eq!(contacts(), 1);
    let page = h.get(&admin, "/admin").await;
    assert!(
        page.body.contains("action=\"/admin/contacts/erase\""),
        "the form"
    );

    // Without the token, from another origin, with a number that is not one: nothing erased.
    let answer = h
        .post_with(
            &admin,
            "/admin/contacts/erase",
            None,
            None,
            &[("phone", "13800000000")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = h
        .post_with(
            &admin,
            "/admin/contacts/erase",
            Some(&admin.csrf),
            Some("https://evil.example"),
            &[("phone", "13800000000")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = h
        .post(&admin, "/admin/contacts/erase", &[("phone", "call me")])
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("That is not a phone number"),
        "{}",
        answer.body
    );
    assert_eq!(contacts(), 1);
    assert_eq!(h.audit_count("contact.erased"), 0);

    let answer = h
        .post(
            &admin,
            "/admin/contacts/erase",
            &[("phone", "138 0000 0000")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("1 contact(s) erased; 1 alert(s) no longer tied to this rider."),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("13800000000") && !answer.body.contains("138 0000 0000"));
    assert_eq!(contacts(), 0);
    assert_eq!(h.alert(&alert.id).rider_key, None);
    assert_eq!(h.audit_count("contact.erased"), 1);
    // The counselor's alert page no longer shows a contact, and says why on the timeline.
    h.user("amy@example.org", "Amy", "counselor", &["north"], "en");
    let counselor = h.login("amy@example.org").await;
    let view = h
        .get(&counselor, &format!("/queue/{}", alert.reference))
        .await;
    assert!(!view.body.contains("13800000000"));
    assert!(
        view.body.contains("Contact details deleted"),
        "{}",
        view.body
    );
}
