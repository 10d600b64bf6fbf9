//! The rider's pages through their handlers: a real `AppState` on a fresh SQLite database per
//! test, requests through `actix_web::test` with the compression middleware the server uses.

use std::collections::HashMap;

use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::test;

use crate::db::screenings as store;
use crate::test_support::{self, Routes, hidden};

/// The shared harness, with the rider pages alone wired.
struct Harness(test_support::Harness);

impl std::ops::Deref for Harness {
    type Target = test_support::Harness;
    fn deref(&self) -> &test_support::Harness {
        &self.0
    }
}

async fn harness() -> Harness {
    Harness(test_support::harness().await)
}

impl Harness {
    /// One request through the pages, as the server wires them (with compression).
    async fn call(&self, req: test::TestRequest) -> ServiceResponse {
        self.respond(Routes::RiderPages, req).await
    }

    async fn send(&self, req: test::TestRequest) -> (StatusCode, HashMap<String, String>, String) {
        read(self.call(req).await).await
    }

    fn rows(&self) -> (i64, i64) {
        let mut conn = self.conn();
        (
            store::count(&mut conn).expect("count"),
            store::count_contacts(&mut conn).expect("count"),
        )
    }

    fn row(&self, id: &str) -> store::ScreeningRow {
        store::find(&mut self.conn(), id)
            .expect("find")
            .expect("the row")
    }
}

/// Status, the `Set-Cookie` values by name, and the body as text.
async fn read(resp: ServiceResponse) -> (StatusCode, HashMap<String, String>, String) {
    let answer = test_support::read(resp).await;
    (answer.status, answer.cookies, answer.body)
}

/// Text of the page without tags (and without the head), for "what the rider reads".
fn visible_text(page: &str) -> String {
    let body = page.split("<body>").nth(1).unwrap_or(page);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Form {
    csrf: String,
    key: String,
    page: String,
}

async fn open_form(h: &Harness, path: &str) -> Form {
    let (status, cookies, page) = h.send(test::TestRequest::get().uri(path)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = hidden(&page, "csrf-token");
    assert!(csrf.starts_with("v1."), "a signed form token: {csrf}");
    assert!(
        !cookies.contains_key(super::csrf::COOKIE),
        "the form sets no CSRF cookie"
    );
    Form {
        key: hidden(&page, "idempotency-key"),
        csrf,
        page,
    }
}

fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B").replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form POST as a browser that keeps no cookies sends it.
fn post(path: &str, fields: &[(&str, &str)]) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(encode(fields))
}

fn phq9_answers(q9: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut a: Vec<(&str, &str)> = (1..=8)
        .map(|i| (["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"][i - 1], "0"))
        .collect();
    a.push(("q9", q9));
    a
}

fn with_controls<'a>(form: &'a Form, answers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf-token", form.csrf.as_str()),
        ("idempotency-key", form.key.as_str()),
        ("lang", "zh-CN"),
    ];
    fields.extend_from_slice(answers);
    fields
}

#[actix_web::test]
async fn the_list_puts_the_rider_screening_first_in_chinese_by_default() {
    let h = harness().await;
    let resp = h.call(test::TestRequest::get().uri("/")).await;
    let (status, _, page) = read(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"zh-CN\">"));
    let first = page.find("href=\"/s/").expect("a screening link");
    assert!(
        page[first..].starts_with("href=\"/s/rider_wellbeing\""),
        "{page}"
    );
    // The screenings on offer (`rider.public_questionnaires`), not every instrument.
    for q in ["phq4", "who5", "pss10"] {
        assert!(page.contains(&format!("href=\"/s/{q}\"")), "{q}");
    }
    for q in ["phq9", "gad7", "asq", "k10", "k6"] {
        assert!(!page.contains(&format!("href=\"/s/{q}\"")), "{q}");
    }
    assert!(page.contains("约 3 分钟"), "estimated minutes");
    assert!(
        page.contains("English") && page.contains("繁體中文"),
        "a switcher"
    );
}

#[actix_web::test]
async fn language_comes_from_the_query_then_the_cookie_then_accept_language() {
    let h = harness().await;
    let req = test::TestRequest::get()
        .uri("/")
        .insert_header((header::ACCEPT_LANGUAGE, "en-US,en;q=0.9"));
    let (_, cookies, page) = h.send(req).await;
    assert!(page.contains("<html lang=\"en\">") && page.contains("About 3 min"));
    assert!(
        !cookies.contains_key(super::request::COOKIE),
        "nothing chosen"
    );

    let req = test::TestRequest::get()
        .uri("/?lang=zh-TW")
        .insert_header((header::ACCEPT_LANGUAGE, "en"));
    let (_, cookies, page) = h.send(req).await;
    assert!(page.contains("<html lang=\"zh-TW\">") && page.contains("騎手身心小調查"));
    assert_eq!(
        cookies.get(super::request::COOKIE).map(String::as_str),
        Some("zh-TW")
    );

    let req = test::TestRequest::get()
        .uri("/s/phq9")
        .insert_header((header::ACCEPT_LANGUAGE, "zh-CN"))
        .cookie(actix_web::cookie::Cookie::new(super::request::COOKIE, "en"));
    let (_, _, page) = h.send(req).await;
    assert!(
        page.contains("<html lang=\"en\">"),
        "the cookie beats the header"
    );
    assert!(page.contains("Little interest or pleasure in doing things"));
}

#[actix_web::test]
async fn the_form_is_accessible_self_contained_and_small() {
    let h = harness().await;
    let form = open_form(&h, "/s/rider_wellbeing?site=station-7").await;
    let page = &form.page;
    assert_eq!(page.matches("<fieldset class=\"item\"").count(), 17);
    assert_eq!(page.matches("<legend>").count(), 17);
    assert!(page.contains("0 / 16"), "progress");
    assert!(page.contains("name=\"site\" value=\"station-7\""));
    assert!(page.contains("data-show-if=\"sh1 != 0 || sh2 != 0 || sh3 != 0 || sh4 != 0\""));
    assert!(form.key.starts_with("web-"));
    assert!(
        page.contains("<h2>过去两周，这些情况有多经常困扰你？</h2>"),
        "sections"
    );
    // Nothing inline (a strict CSP comes), nothing external.
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code"
    );
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(page.contains("src=\"/static/app.js?v="));
    assert!(page.contains("href=\"/static/app.css?v="));

    for q in h.state.catalog.get().iter() {
        let req = test::TestRequest::get()
            .uri(&format!("/s/{}", q.id))
            .insert_header((header::ACCEPT_ENCODING, "gzip"));
        let resp = h.call(req).await;
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.as_bytes()),
            Some(&b"gzip"[..])
        );
        assert_eq!(
            resp.headers()
                .get(header::CACHE_CONTROL)
                .map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );
        let gz = test::read_body(resp).await;
        assert!(gz.len() < 30 * 1024, "{}: {} bytes gzip", q.id, gz.len());
        // A real gzip stream of the whole page: the trailer holds the uncompressed length.
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "{}", q.id);
        let n = gz.len();
        let size = u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]);
        assert!(size > 2000, "{}: {size} bytes uncompressed", q.id);
    }
}

#[actix_web::test]
async fn an_unknown_screening_is_a_404_page() {
    let h = harness().await;
    let resp = h.call(test::TestRequest::get().uri("/s/nope")).await;
    let (status, _, page) = read(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("没有找到这个页面"));
}

/// The result id in a result page (its language switcher posts to `/r/{id}`).
fn result_id(page: &str) -> String {
    page.split("action=\"/r/")
        .nth(1)
        .and_then(|s| s.split(['"', '/']).next())
        .expect("the result id")
        .to_string()
}

#[actix_web::test]
async fn a_form_sent_without_any_cookie_is_stored_and_the_result_shown() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let answers = phq9_answers("1");
    // `post` sends no cookie at all, as a browser that blocks them.
    let (status, cookies, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        visible_text(&page).starts_with("12356"),
        "crisis lines first"
    );
    assert_eq!(h.rows(), (1, 0));
    assert_eq!(h.row(&result_id(&page)).tier, "red");
    assert!(!cookies.contains_key(super::csrf::COOKIE));
    // The contact form works cookie-free too: its token is on the page.
    let fields = [
        ("csrf-token", hidden(&page, "csrf-token")),
        ("token", hidden(&page, "token")),
        ("lang", "zh-CN".into()),
        ("phone", "13800000000".into()),
        ("consent", "yes".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/r/{}/contact", result_id(&page));
    let (status, _, thanks) = h.send(post(&path, &fields)).await;
    assert_eq!(status, StatusCode::OK, "{thanks}");
    assert!(thanks.contains("谢谢，我们收到了"));
    assert_eq!(h.rows(), (1, 1));
}

/// Sends `answers` to the phq9 form under `token` (with the form's key); status and page.
async fn send_with_token(
    h: &Harness,
    form: &Form,
    token: &str,
    answers: &[(&'static str, &'static str)],
    extra: &[(&'static str, &'static str)],
    origin: Option<&str>,
) -> (StatusCode, String) {
    let mut fields = vec![
        ("csrf-token", token),
        ("idempotency-key", form.key.as_str()),
        ("lang", "zh-CN"),
    ];
    fields.extend_from_slice(extra);
    fields.extend_from_slice(answers);
    let mut req = post("/s/phq9", &fields);
    if let Some(origin) = origin {
        req = req
            .insert_header((header::HOST, "careline.test"))
            .insert_header((header::ORIGIN, origin));
    }
    let (status, _, page) = h.send(req).await;
    (status, page)
}

fn form_key(h: &Harness) -> super::FormKey {
    super::FormKey::from_settings(&h.state.settings)
}

#[actix_web::test]
async fn an_expired_form_comes_back_filled_with_a_fresh_token_and_red_answers_get_the_crisis_lines_first()
 {
    let h = harness().await;
    crate::db::accounts::insert_site(
        &mut h.state.pool.get().expect("connection"),
        &crate::db::accounts::SiteRow {
            slug: "station-7".into(),
            name: "Station 7".into(),
            created_at: chrono::Utc::now().naive_utc(),
        },
    )
    .expect("a site");
    let form = open_form(&h, "/s/phq9?site=station-7").await;
    let issued = chrono::Utc::now().timestamp() - 25 * 3600;
    let old = form_key(&h).issue_at(super::Purpose::Screening, "phq9", &form.key, issued);
    let answers = phq9_answers("2");
    let (status, page) =
        send_with_token(&h, &form, &old, &answers, &[("site", "station-7")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.rows(), (0, 0), "nothing stored");
    let text = visible_text(&page);
    assert!(text.starts_with("12356"), "crisis lines first: {text}");
    assert!(text.contains("你的回答都还在"), "{text}");
    assert!(
        page.contains("id=\"q9-2\" name=\"q9\" value=\"2\" checked"),
        "kept"
    );
    assert!(
        page.contains("id=\"q1-0\" name=\"q1\" value=\"0\" checked"),
        "kept"
    );
    assert!(
        page.contains("name=\"site\" value=\"station-7\""),
        "the station kept"
    );
    assert!(
        page.contains("/s/phq9?lang=en&#38;site=station-7"),
        "the switcher keeps the station"
    );
    // A fresh token for the same render id: sending again is accepted, once.
    let fresh = hidden(&page, "csrf-token");
    assert_ne!(fresh, old);
    assert_eq!(hidden(&page, "idempotency-key"), form.key);
    let (status, result) =
        send_with_token(&h, &form, &fresh, &answers, &[("site", "station-7")], None).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(h.rows(), (1, 0));
    assert_eq!(
        h.row(&result_id(&result)).site.as_deref(),
        Some("station-7")
    );
    let (status, _) =
        send_with_token(&h, &form, &fresh, &answers, &[("site", "station-7")], None).await;
    assert_eq!(status, StatusCode::OK, "a double tap is the same result");
    assert_eq!(h.rows(), (1, 0));
}

#[actix_web::test]
async fn a_token_of_another_form_or_questionnaire_is_not_accepted_and_the_form_comes_back() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let other_form = open_form(&h, "/s/phq9").await;
    let gad7 = open_form(&h, "/s/gad7").await;
    let green = phq9_answers("0");
    for (what, token) in [
        ("another rendering of the form", other_form.csrf.as_str()),
        ("another questionnaire", gad7.csrf.as_str()),
        ("a made-up token", "v1.1.00"),
        ("no token", ""),
    ] {
        let (status, page) = send_with_token(&h, &form, token, &green, &[], None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(h.rows(), (0, 0), "{what}: nothing stored");
        let text = visible_text(&page);
        assert!(
            !text.starts_with("12356"),
            "{what}: green answers, no crisis block on top"
        );
        assert!(page.contains("href=\"tel:12356\""), "{what}: the hotline");
        assert!(text.contains("还没有保存"), "{what}: {text}");
        assert!(
            page.contains("id=\"q5-0\" name=\"q5\" value=\"0\" checked"),
            "{what}"
        );
        let fresh = hidden(&page, "csrf-token");
        assert!(
            form_key(&h)
                .check_at(
                    Some(&fresh),
                    super::Purpose::Screening,
                    "phq9",
                    &form.key,
                    chrono::Utc::now().timestamp()
                )
                .is_ok(),
            "{what}: a fresh token for this form"
        );
    }
}

#[actix_web::test]
async fn a_form_sent_from_another_site_is_not_stored_and_comes_back_under_a_new_key() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let red = phq9_answers("1");
    let (status, page) = send_with_token(
        &h,
        &form,
        &form.csrf,
        &red,
        &[],
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.rows(), (0, 0));
    assert!(
        visible_text(&page).starts_with("12356"),
        "red answers: lines first"
    );
    assert_ne!(
        hidden(&page, "idempotency-key"),
        form.key,
        "a key of our own"
    );
    // The same form from this site is accepted.
    let (status, _) = send_with_token(
        &h,
        &form,
        &form.csrf,
        &red,
        &[],
        Some("http://careline.test"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.rows(), (1, 0));
}

#[actix_web::test]
async fn a_result_form_with_a_bad_token_shows_the_result_again_and_changes_nothing() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let (_, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &phq9_answers("1"))))
        .await;
    let id = result_id(&page);
    let token = hidden(&page, "token");
    let expired = form_key(&h).issue_at(
        super::Purpose::Result,
        "",
        &id,
        chrono::Utc::now().timestamp() - 25 * 3600,
    );
    let fields = [
        ("csrf-token", expired.as_str()),
        ("token", token.as_str()),
        ("lang", "zh-CN"),
        ("phone", "13800000000"),
        ("name", "小王"),
        ("consent", "yes"),
    ];
    let (status, _, again) = h.send(post(&format!("/r/{id}/contact"), &fields)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.rows(), (1, 0), "no contact stored");
    assert!(visible_text(&again).starts_with("12356"));
    assert!(again.contains("value=\"13800000000\""), "the phone kept");
    assert!(again.contains("value=\"小王\""), "the name kept");
    // Its fresh token sends it.
    let fresh = hidden(&again, "csrf-token");
    let mut fields = fields;
    fields[0].1 = fresh.as_str();
    let (status, _, _) = h.send(post(&format!("/r/{id}/contact"), &fields)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.rows(), (1, 1));
    // A token made for another screening does not switch this one's language.
    let other = form_key(&h).issue(super::Purpose::Result, "", "another-id");
    let fields = [
        ("csrf-token", other.as_str()),
        ("token", token.as_str()),
        ("view", "result"),
        ("lang", "en"),
    ];
    let (status, cookies, page) = h.send(post(&format!("/r/{id}"), &fields)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!cookies.contains_key(super::request::COOKIE));
    assert!(
        visible_text(&page).starts_with("12356"),
        "the result, crisis lines first"
    );
}

#[actix_web::test]
async fn every_rider_error_page_shows_the_hotline() {
    let h = harness().await;
    let has_hotline = |what: &str, page: &str| {
        assert!(page.contains("href=\"tel:12356\""), "{what}: {page}");
    };
    for path in ["/s/nope", "/nope", "/r"] {
        let (status, _, page) = h.send(test::TestRequest::get().uri(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        has_hotline(path, &page);
        assert!(page.contains("没有找到这个页面"), "{path}");
    }
    let (status, _, page) = h.send(post("/s/nope", &[("q1", "1")])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    has_hotline("POST 404", &page);

    let form = open_form(&h, "/s/phq9").await;
    let big = "x".repeat(super::FORM_LIMIT + 1);
    let answers = phq9_answers("0");
    let mut fields = with_controls(&form, &answers);
    fields.push(("padding", big.as_str()));
    let (status, _, page) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    has_hotline("413", &page);

    let expired = form_key(&h).issue_at(super::Purpose::Screening, "phq9", &form.key, 1);
    let (status, page) = send_with_token(&h, &form, &expired, &answers, &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    has_hotline("expired", &page);

    // 409: the key used for other answers; red answers get every line first.
    let (status, _) = send_with_token(&h, &form, &form.csrf, &answers, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) =
        send_with_token(&h, &form, &form.csrf, &phq9_answers("1"), &[], None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        visible_text(&page).starts_with("12356"),
        "red answers: lines first"
    );
    assert!(page.contains("href=\"tel:110\""));
    assert!(page.contains("/s/phq9?lang=zh-CN"), "a way back");

    // 500 and 503 (the failures of the submit itself are in tests/api/rider_form.rs).
    let req = test::TestRequest::post().uri("/s/phq9").to_http_request();
    for resp in [
        super::failure(&req, &h.state, crate::i18n::Lang::ZhCn),
        super::unavailable(&req, &h.state, crate::i18n::Lang::ZhCn, "phq9", Some("s1")),
    ] {
        let status = resp.status();
        let body = actix_web::body::to_bytes(resp.into_body())
            .await
            .expect("body");
        let page = String::from_utf8(body.to_vec()).expect("utf-8");
        has_hotline(status.as_str(), &page);
        assert!(
            visible_text(&page).starts_with("12356"),
            "{status}: lines first"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(page.contains("/s/phq9?lang=zh-CN&#38;site=s1"), "{page}");
        }
    }
}

#[actix_web::test]
async fn missing_answers_come_back_with_the_answers_kept_and_the_message_by_the_item() {
    let h = harness().await;
    let form = open_form(&h, "/s/rider_wellbeing").await;
    // anx2 and dep1 (required) left out; sh answers given.
    let answers = [
        ("anx1", "2"),
        ("dep2", "1"),
        ("sh1", "0"),
        ("sh2", "0"),
        ("sh3", "0"),
        ("sh4", "0"),
    ];
    let (status, _, page) = h
        .send(post("/s/rider_wellbeing", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("id=\"anx1-2\" name=\"anx1\" value=\"2\" checked"),
        "kept"
    );
    assert!(
        page.contains("id=\"dep2-1\" name=\"dep2\" value=\"1\" checked"),
        "kept"
    );
    assert!(
        page.contains("id=\"sh4-0\" name=\"sh4\" value=\"0\" checked"),
        "kept"
    );
    // The message sits inside the item's fieldset, linked from the summary.
    let item = &page[page.find("id=\"item-anx2\"").expect("anx2")..];
    let item = &item[..item.find("</fieldset>").expect("end")];
    assert!(
        item.contains("class=\"error\" id=\"err-anx2\">请选一个答案"),
        "{item}"
    );
    assert!(page.contains("<a href=\"#item-anx2\">第 2 题</a>"));
    assert!(page.contains("<a href=\"#item-dep1\">第 3 题</a>"));
    assert!(!page.contains("id=\"err-anx1\""));
    // The same form (token and key) can be sent again.
    assert_eq!(hidden(&page, "idempotency-key"), form.key);
    assert_eq!(h.rows(), (0, 0));
}

#[actix_web::test]
async fn a_red_result_puts_the_crisis_lines_first_and_a_double_submit_stores_one_row() {
    let h = harness().await;
    // A known station: screenings keep only sites that exist.
    crate::db::accounts::insert_site(
        &mut h.state.pool.get().expect("connection"),
        &crate::db::accounts::SiteRow {
            slug: "station-7".into(),
            name: "Station 7".into(),
            created_at: chrono::Utc::now().naive_utc(),
        },
    )
    .expect("a site");
    let form = open_form(&h, "/s/phq9?site=station-7").await;
    let answers = phq9_answers("1");
    let mut fields = with_controls(&form, &answers);
    fields.push(("site", "station-7"));
    let (status, cookies, page) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        cookies.keys().all(|k| k == super::request::COOKIE),
        "a result sets no cookie but the language one: {cookies:?}"
    );
    let text = visible_text(&page);
    assert!(text.starts_with("12356"), "{text}");
    let (i110, i120) = (
        text.find("110").expect("110"),
        text.find("120").expect("120"),
    );
    assert!(i110 < i120);
    assert!(page.contains("href=\"tel:12356\""));
    assert!(page.contains("href=\"tel:110\"") && page.contains("href=\"tel:120\""));
    assert!(
        !page
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case("red")),
        "never the word"
    );
    assert!(!text.contains("score") && !text.contains("分数"));
    // The contact offer: a separate, unticked consent box and a phone field.
    assert!(page.contains("type=\"checkbox\" id=\"consent\" name=\"consent\" value=\"yes\">"));
    assert!(page.contains("name=\"phone\""));
    let token = hidden(&page, "token");
    let id = page
        .split("action=\"/r/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result id")
        .to_string();
    assert_eq!(h.row(&id).site.as_deref(), Some("station-7"));
    assert_eq!(h.row(&id).tier, "red");

    // The same form again (a double tap or a refresh), from a browser that keeps no cookie:
    // the first result, no second row, and the contact offer still there with the same
    // token (derived from the screening and the form's key).
    let (status, _, again) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(visible_text(&again).starts_with("12356"));
    assert_eq!(hidden(&again, "token"), token);
    assert_eq!(h.rows(), (1, 0));

    // Different answers under the same key are refused, nothing stored.
    let other = phq9_answers("0");
    let (status, _, _) = h.send(post("/s/phq9", &with_controls(&form, &other))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(h.rows(), (1, 0));
}

#[actix_web::test]
async fn with_javascript_off_answers_to_questions_that_do_not_apply_are_set_aside() {
    let h = harness().await;
    let form = open_form(&h, "/s/rider_wellbeing").await;
    let answers = [
        ("anx1", "0"),
        ("anx2", "0"),
        ("dep1", "0"),
        ("dep2", "0"),
        ("sh1", "0"),
        ("sh2", "0"),
        ("sh3", "0"),
        ("sh4", "0"),
        // Asked only after a "yes" above: the rider answered it anyway.
        ("sh5", "1"),
        ("sleep_short", "1"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "1"),
        ("work_time", "1"),
        ("work_ratings", "0"),
        ("work_income", "1"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ];
    let (status, _, page) = h
        .send(post("/s/rider_wellbeing", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("accent-calm"), "a green result");
    assert!(
        page.contains("<details class=\"contact-fold\">") && page.contains("name=\"phone\""),
        "on green the contact offer is there, folded"
    );
    assert!(
        page.contains("https://careline.example/self-help/mood"),
        "self-help links"
    );
    let id = page
        .split("action=\"/r/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result id")
        .to_string();
    let row = h.row(&id);
    assert!(!row.answers.contains("sh5"), "{}", row.answers);
}

#[actix_web::test]
async fn a_yellow_result_offers_the_hotline_and_a_contact() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let answers = [
        ("q1", "2"),
        ("q2", "2"),
        ("q3", "2"),
        ("q4", "2"),
        ("q5", "1"),
        ("q6", "1"),
        ("q7", "0"),
        ("q8", "0"),
        ("q9", "0"),
    ];
    let (status, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("accent-care"));
    let text = visible_text(&page);
    assert!(!text.starts_with("12356"), "not at the top on yellow");
    assert!(page.contains("href=\"tel:12356\""), "the hotline");
    assert!(!page.contains("href=\"tel:110\""), "only the hotline");
    assert!(page.contains("name=\"phone\""), "the contact offer");
    assert!(
        !text.contains("10"),
        "no raw score (10) in the rider's face: {text}"
    );
}

#[actix_web::test]
async fn contact_details_need_consent_and_a_valid_phone() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let answers = phq9_answers("2");
    let (_, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    let token = hidden(&page, "token");
    // The result page's forms carry their own token, bound to this screening.
    let csrf = hidden(&page, "csrf-token");
    assert_ne!(csrf, form.csrf);
    let action = page
        .split("class=\"contact\" id=\"contact\" method=\"post\" action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the contact form")
        .to_string();

    // No consent: refused next to the box, the typed phone kept, nothing stored.
    let fields = [
        ("csrf-token", csrf.as_str()),
        ("token", token.as_str()),
        ("lang", "zh-CN"),
        ("phone", "138 0000 0000"),
        ("name", ""),
    ];
    let (status, _, page) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"consent-error\">请勾选同意"), "{page}");
    assert!(page.contains("value=\"138 0000 0000\""));
    assert!(
        visible_text(&page).starts_with("12356"),
        "the lines stay first"
    );
    assert_eq!(h.rows(), (1, 0));

    // Consent but a bad phone.
    let fields = [
        ("csrf-token", csrf.as_str()),
        ("token", token.as_str()),
        ("lang", "zh-CN"),
        ("phone", "call me"),
        ("consent", "yes"),
    ];
    let (status, _, page) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"phone-error\">请填写有效的电话号码"));
    assert!(page.contains("checked"), "the consent kept");
    assert_eq!(h.rows(), (1, 0));

    // A wrong token: as if the screening did not exist.
    let fields = [
        ("csrf-token", csrf.as_str()),
        ("token", "0000"),
        ("lang", "zh-CN"),
        ("phone", "13800000000"),
        ("consent", "yes"),
    ];
    let resp = h.call(post(&action, &fields)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // A missing CSRF field.
    let fields = [
        ("token", token.as_str()),
        ("phone", "13800000000"),
        ("consent", "yes"),
    ];
    let resp = h.call(post(&action, &fields)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.rows(), (1, 0));

    // All good: thanks, with the lines still first; a second tap says the same.
    let fields = [
        ("csrf-token", csrf.as_str()),
        ("token", token.as_str()),
        ("lang", "zh-CN"),
        ("phone", "13800000000"),
        ("name", "小王"),
        ("consent", "yes"),
    ];
    let (status, _, page) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("谢谢，我们收到了"));
    assert!(visible_text(&page).starts_with("12356"));
    assert!(!page.contains("13800000000"), "the phone is not echoed");
    assert_eq!(h.rows(), (1, 1));
    let (status, _, page) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("已经收到你的联系方式"));
    assert_eq!(h.rows(), (1, 1));
}

#[actix_web::test]
async fn the_result_can_be_switched_to_another_language() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let answers = phq9_answers("1");
    let (_, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    let token = hidden(&page, "token");
    // The result page's forms carry their own token, bound to this screening.
    let csrf = hidden(&page, "csrf-token");
    assert_ne!(csrf, form.csrf);
    let action = page
        .split("<form class=\"langs\" method=\"post\" action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the switcher")
        .to_string();
    let fields = [
        ("csrf-token", csrf.as_str()),
        ("token", token.as_str()),
        ("view", "result"),
        ("lang", "en"),
    ];
    let (status, cookies, page) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<html lang=\"en\">"));
    assert!(visible_text(&page).starts_with("12356 National psychological assistance hotline"));
    assert!(page.contains("Would you like a counselor to contact you?"));
    assert_eq!(
        cookies.get(super::request::COOKIE).map(String::as_str),
        Some("en")
    );
    let bad = [
        ("csrf-token", csrf.as_str()),
        ("token", "nope"),
        ("lang", "en"),
    ];
    let resp = h.call(post(&action, &bad)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn assets_are_served_from_memory_with_a_long_cache() {
    let h = harness().await;
    for (path, ty) in [
        ("/static/app.css?v=1", "text/css; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
    ] {
        let resp = h.call(test::TestRequest::get().uri(path)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get(header::CONTENT_TYPE).unwrap(), ty);
        assert!(
            resp.headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("max-age=31536000"))
        );
    }
}

#[actix_web::test]
async fn a_form_body_of_the_wrong_type_or_size_is_refused_with_a_page() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let req = test::TestRequest::post()
        .uri("/s/phq9")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload("{}");
    let (status, _, page) = h.send(req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(page.contains("表格没有收到"), "{page}");
    let big = "x".repeat(super::FORM_LIMIT + 1);
    let answers = phq9_answers("0");
    let mut fields = with_controls(&form, &answers);
    fields.push(("padding", big.as_str()));
    let (status, _, _) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.rows(), (0, 0));
}

#[actix_web::test]
async fn a_station_tag_that_is_not_a_slug_is_dropped_and_the_screening_kept() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9?site=Station%207%21").await;
    assert!(form.page.contains("name=\"site\" value=\"Station 7!\""));
    let answers = phq9_answers("0");
    let mut fields = with_controls(&form, &answers);
    fields.push(("site", "Station 7!"));
    let (status, _, page) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(status, StatusCode::OK);
    let id = page
        .split("action=\"/r/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result id")
        .to_string();
    assert_eq!(h.row(&id).site, None);
    // Links never carry it.
    assert!(!form.page.contains("site=Station"));
}

#[actix_web::test]
async fn a_station_code_that_names_no_site_is_counted_for_the_admins() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9?site=statoin-7").await;
    let answers = phq9_answers("0");
    let mut fields = with_controls(&form, &answers);
    fields.push(("site", "statoin-7"));
    let (status, _, page) = h.send(post("/s/phq9", &fields)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a misprinted poster never blocks a rider"
    );
    let id = page
        .split("action=\"/r/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result id")
        .to_string();
    assert_eq!(h.row(&id).site, None);
    let mut conn = h.state.pool.get().expect("a connection");
    let unknown =
        crate::accounts::unknown_sites(&mut conn, chrono::Utc::now().naive_utc()).expect("listed");
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].code.as_str(), unknown[0].count),
        ("statoin-7", 1)
    );
}

/// rider_wellbeing's answers: everything "no"/"never", with the self-harm questions as given.
fn wellbeing_answers(
    self_harm: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut a = vec![
        ("anx1", "0"),
        ("anx2", "0"),
        ("dep1", "0"),
        ("dep2", "0"),
        ("sleep_short", "0"),
        ("sleep_drowsy", "0"),
        ("sleep_exhausted", "0"),
        ("work_time", "0"),
        ("work_ratings", "0"),
        ("work_income", "0"),
        ("work_traffic", "0"),
        ("work_lonely", "0"),
    ];
    a.extend_from_slice(self_harm);
    a
}

#[actix_web::test]
async fn skipped_sensitive_questions_bring_a_gentle_prompt_once_then_the_form_is_accepted() {
    let h = harness().await;
    let form = open_form(&h, "/s/rider_wellbeing?site=station-7").await;
    assert!(!form.page.contains("data-decided"));
    let answers = wellbeing_answers(&[]);
    let mut fields = with_controls(&form, &answers);
    fields.push(("site", "station-7"));
    let (status, _, page) = h.send(post("/s/rider_wellbeing", &fields)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(h.rows(), (0, 0), "nothing stored on the prompt");
    let text = visible_text(&page);
    assert!(text.contains("你可以跳过这些问题，但"), "{text}");
    assert!(text.contains("有 4 个问题你没有回答"), "{text}");
    assert!(
        !text.starts_with("12356"),
        "refusals alone: no alarm block on top"
    );
    assert!(page.contains("href=\"tel:12356\""), "the hotline in reach");
    for sh in ["sh1", "sh2", "sh3", "sh4"] {
        assert!(page.contains(&format!("<a href=\"#item-{sh}\">")), "{sh}");
    }
    assert!(page.contains("id=\"work_lonely-0\" name=\"work_lonely\" value=\"0\" checked"));
    assert!(page.contains("name=\"sensitive-seen\" value=\"1\""));
    assert!(page.contains(" novalidate data-decided data-store=\"rider_wellbeing@"));
    assert!(page.contains("name=\"site\" value=\"station-7\""));
    let key = hidden(&page, "idempotency-key");
    assert_eq!(key, form.key);

    // Sent again as it is: accepted, red (a refusal counts), with the words for refusals.
    let again = Form {
        csrf: hidden(&page, "csrf-token"),
        key,
        page: String::new(),
    };
    let mut fields = with_controls(&again, &answers);
    fields.push(("sensitive-seen", "1"));
    let (status, _, result) = h.send(post("/s/rider_wellbeing", &fields)).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(h.rows(), (1, 0));
    let row = h.row(&result_id(&result));
    assert_eq!(row.tier, "red");
    let text = visible_text(&result);
    assert!(text.starts_with("12356"), "crisis lines first: {text}");
    assert!(text.contains("有几个关于安全的问题你没有回答"), "{text}");
    assert!(!text.contains("谢谢你如实告诉我们"), "{text}");
}

#[actix_web::test]
async fn a_yes_with_other_sensitive_questions_skipped_puts_the_crisis_lines_on_the_prompt() {
    let h = harness().await;
    let form = open_form(&h, "/s/rider_wellbeing").await;
    let answers = wellbeing_answers(&[("sh1", "1")]);
    let (status, _, page) = h
        .send(post("/s/rider_wellbeing", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.rows(), (0, 0));
    let text = visible_text(&page);
    assert!(
        text.starts_with("12356"),
        "a disclosure: lines first: {text}"
    );
    assert!(text.contains("有 3 个问题你没有回答"), "{text}");
    assert!(!page.contains("<a href=\"#item-sh1\">"));
    // Sent with the marker: stored, and the usual red words (the rider told us).
    let again = Form {
        csrf: hidden(&page, "csrf-token"),
        key: form.key.clone(),
        page: String::new(),
    };
    let mut fields = with_controls(&again, &answers);
    fields.push(("sensitive-seen", "1"));
    let (_, _, result) = h.send(post("/s/rider_wellbeing", &fields)).await;
    assert_eq!(h.rows(), (1, 0));
    assert!(visible_text(&result).contains("谢谢你如实告诉我们"));
}

#[actix_web::test]
async fn answered_sensitive_questions_bring_no_prompt() {
    let h = harness().await;
    let form = open_form(&h, "/s/asq").await;
    let answers = [("q1", "0"), ("q2", "0"), ("q3", "0"), ("q4", "0")];
    let (status, _, page) = h
        .send(post("/s/asq", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("sensitive-seen"));
    assert_eq!(h.rows(), (1, 0));
}

/// asq with a "yes" to the first question, every other question answered.
const ASQ_YES: [(&str, &str); 5] = [
    ("q1", "1"),
    ("q2", "0"),
    ("q3", "0"),
    ("q4", "0"),
    ("q5", "0"),
];

#[actix_web::test]
async fn a_red_result_says_when_and_from_which_number_a_counselor_calls_and_has_no_off_site_card() {
    let h = Harness(
        test_support::harness_with(&[(
            "CARELINE__CRISIS__CALLBACK_HINT__ZH_CN",
            "值班咨询师一般会在 30 分钟内用 010-12345678 给你回电。",
        )])
        .await,
    );
    let form = open_form(&h, "/s/asq").await;
    let (_, _, page) = h
        .send(post("/s/asq", &with_controls(&form, &ASQ_YES)))
        .await;
    let contact = &page[page.find("id=\"contact\"").expect("the contact form")..];
    assert!(
        contact.contains(
            "<p class=\"callback\">值班咨询师一般会在 30 分钟内用 010-12345678 给你回电。</p>"
        ),
        "{page}"
    );
    assert!(
        !page.contains("careline.example"),
        "no placeholder card: {page}"
    );
    assert!(!page.contains("class=\"cards\""), "no off-site card at all");
    // The message as short steps: a sentence, then one thing to do per line.
    let steps = &page[page.find("<ol class=\"steps\">").expect("steps")..];
    let steps = &steps[..steps.find("</ol>").expect("the end")];
    assert_eq!(steps.matches("<li>").count(), 3, "{steps}");
    assert!(
        steps.contains("<li>现在就拨打上面的心理援助热线，和专业的人聊一聊。</li>"),
        "{steps}"
    );
    let fields = [
        ("csrf-token", hidden(&page, "csrf-token")),
        ("token", hidden(&page, "token")),
        ("lang", "zh-CN".into()),
        ("phone", "13800000000".into()),
        ("consent", "yes".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, _, thanks) = h
        .send(post(&format!("/r/{}/contact", result_id(&page)), &fields))
        .await;
    assert!(thanks.contains("010-12345678"), "{thanks}");

    // Not configured: nothing is promised.
    let h = harness().await;
    let form = open_form(&h, "/s/asq").await;
    let (_, _, page) = h
        .send(post("/s/asq", &with_controls(&form, &ASQ_YES)))
        .await;
    assert!(!page.contains("class=\"callback\""));
}

#[actix_web::test]
async fn a_green_result_offers_the_hotline_small() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let (_, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &phq9_answers("0"))))
        .await;
    assert!(page.contains("accent-calm"));
    let small = &page[page
        .find("class=\"hotline-small\"")
        .expect("the small hotline")..];
    assert!(small.contains("href=\"tel:12356\""), "{small}");
    assert!(!page.contains("href=\"tel:110\""), "only the hotline");
    assert!(!visible_text(&page).starts_with("12356"), "not at the top");
}

// ---- issue 10: the rider's own data, green contact, the screenings on offer -------------

/// The rider's private link on a page (result or thank-you), unescaped.
fn withdraw_link(page: &str) -> String {
    page.split("class=\"own-data\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the withdraw link")
        .replace("&amp;", "&")
}

/// A red PHQ-9 sent from the form, then a contact left on its result: (screening id, the
/// thank-you page).
async fn red_with_contact(h: &Harness) -> (String, String) {
    let form = open_form(h, "/s/phq9").await;
    let answers = phq9_answers("1");
    let (status, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = result_id(&page);
    let fields = [
        ("csrf-token", hidden(&page, "csrf-token")),
        ("token", hidden(&page, "token")),
        ("lang", "zh-CN".into()),
        ("phone", "13800000000".into()),
        ("consent", "yes".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, thanks) = h.send(post(&format!("/r/{id}/contact"), &fields)).await;
    assert_eq!(status, StatusCode::OK, "{thanks}");
    (id, thanks)
}

impl Harness {
    fn audit(&self, action: &str) -> i64 {
        crate::db::audit::count(&mut self.conn(), Some(action)).expect("count")
    }

    fn alert_of(&self, screening: &str) -> crate::db::alerts::AlertRow {
        let mut conn = self.conn();
        let id = crate::db::alerts::alert_of_screening(&mut conn, screening)
            .expect("read")
            .expect("an alert");
        crate::db::alerts::find(&mut conn, &id)
            .expect("read")
            .expect("the alert")
    }
}

#[actix_web::test]
async fn the_withdraw_link_deletes_the_contact_keeps_the_alert_and_audits_it() {
    let h = harness().await;
    let (id, thanks) = red_with_contact(&h).await;
    assert_eq!(h.rows(), (1, 1));
    assert!(h.alert_of(&id).rider_key.is_some());
    let link = withdraw_link(&thanks);
    assert!(
        link.starts_with(&format!("/r/{id}/withdraw?token=")),
        "{link}"
    );

    let (status, cookies, page) = h.send(test::TestRequest::get().uri(&link)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(cookies.is_empty(), "{cookies:?}");
    assert!(page.contains("撤回同意并删除"), "{page}");
    assert!(
        page.contains("href=\"tel:12356\""),
        "the hotline is on the page"
    );
    assert_eq!(h.rows(), (1, 1), "opening the page changes nothing");

    let fields = [
        ("csrf-token", hidden(&page, "csrf-token")),
        ("token", hidden(&page, "token")),
        ("lang", "zh-CN".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let action = format!("/r/{id}/withdraw");
    let (status, _, done) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done.contains("你的联系方式已经删除"), "{done}");
    assert!(done.contains("href=\"tel:12356\""));
    assert_eq!(
        h.rows(),
        (1, 0),
        "the contact row is deleted, the screening kept"
    );
    let alert = h.alert_of(&id);
    assert_eq!(alert.rider_key, None, "the alert no longer names the rider");
    assert_eq!(alert.tier, "red");
    let events = crate::db::alerts::events(&mut h.conn(), &alert.id).expect("events");
    assert_eq!(
        events.iter().filter(|e| e.kind == "contact_erased").count(),
        1,
        "{events:?}"
    );
    assert_eq!(h.audit("contact.withdrawn"), 1);
    let entry = crate::db::audit::page(&mut h.conn(), None, None, 100)
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "contact.withdrawn")
        .expect("the entry");
    assert_eq!(entry.target.as_deref(), Some(id.as_str()));
    assert!(!entry.detail.contains("13800000000"), "{}", entry.detail);
    assert_eq!(entry.ip, None, "the rider's address is not kept");

    // Already withdrawn: said so, nothing changes, no second entry.
    let (status, _, again) = h.send(post(&action, &fields)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(again.contains("没有保存任何联系方式"), "{again}");
    assert!(again.contains("href=\"tel:12356\""));
    assert_eq!(h.rows(), (1, 0));
    assert_eq!(h.audit("contact.withdrawn"), 1);
    let (status, _, page) = h.send(test::TestRequest::get().uri(&link)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("没有保存任何联系方式") && !page.contains("撤回同意并删除</button>"));
}

#[actix_web::test]
async fn a_withdrawal_with_a_wrong_token_or_from_another_site_changes_nothing() {
    let h = harness().await;
    let (id, thanks) = red_with_contact(&h).await;
    let (other, _) = red_with_contact(&h).await;
    assert_eq!(h.rows(), (2, 2));
    let link = withdraw_link(&thanks);
    let token = link
        .split("token=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("the token")
        .to_string();

    // The page: a wrong token, another screening's link, no token at all: the 404 page with
    // the hotline, whichever it is.
    for path in [
        format!("/r/{id}/withdraw?token={}", "0".repeat(48)),
        format!("/r/{other}/withdraw?token={token}"),
        format!("/r/{id}/withdraw"),
        format!("/r/no-such-id/withdraw?token={token}"),
    ] {
        let (status, _, page) = h.send(test::TestRequest::get().uri(&path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("href=\"tel:12356\""), "{path}");
    }

    let (_, _, page) = h.send(test::TestRequest::get().uri(&link)).await;
    let csrf = hidden(&page, "csrf-token");
    let good = |csrf: &str, token: &str| {
        vec![
            ("csrf-token".to_string(), csrf.to_string()),
            ("token".to_string(), token.to_string()),
            ("lang".to_string(), "zh-CN".to_string()),
        ]
    };
    let send = |fields: Vec<(String, String)>, path: String, origin: Option<&'static str>| {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut req = post(&path, &pairs);
        if let Some(origin) = origin {
            req = req.insert_header((header::ORIGIN, origin));
        }
        req
    };
    let action = format!("/r/{id}/withdraw");
    // From another site: the page again (403), with a fresh button; nothing deleted.
    let (status, _, page) = h
        .send(send(
            good(&csrf, &token),
            action.clone(),
            Some("https://evil.example"),
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("撤回同意并删除</button>"), "{page}");
    // A form token of another screening's page.
    let (_, _, other_thanks) = h
        .send(
            test::TestRequest::get().uri(&format!("/r/{other}/withdraw?token={}", "0".repeat(48))),
        )
        .await;
    assert!(other_thanks.contains("href=\"tel:12356\""));
    let foreign = super::form_key(&h.state).issue(super::Purpose::Result, "withdraw", &other);
    let (status, _, _) = h
        .send(send(good(&foreign, &token), action.clone(), None))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A result page's token (same screening, another form).
    let result_token = super::form_key(&h.state).issue(super::Purpose::Result, "", &id);
    let (status, _, _) = h
        .send(send(good(&result_token, &token), action.clone(), None))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A good form token with another screening's contact token, or none.
    for wrong in ["0".repeat(48), String::new()] {
        let (status, _, page) = h
            .send(send(good(&csrf, &wrong), action.clone(), None))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{wrong:?}");
        assert!(page.contains("href=\"tel:12356\""));
    }
    assert_eq!(h.rows(), (2, 2), "nothing was deleted");
    assert_eq!(h.audit("contact.withdrawn"), 0);
    assert!(h.alert_of(&id).rider_key.is_some());

    // And the right one still works.
    let (status, _, _) = h.send(send(good(&csrf, &token), action, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.rows(), (2, 1));
    assert_eq!(h.audit("contact.withdrawn"), 1);
}

#[actix_web::test]
async fn a_green_result_offers_the_hotline_and_a_folded_contact_form_that_opens_a_yellow_alert() {
    let h = harness().await;
    let form = open_form(&h, "/s/phq9").await;
    let answers = phq9_answers("0");
    let (status, _, page) = h
        .send(post("/s/phq9", &with_controls(&form, &answers)))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = result_id(&page);
    assert_eq!(h.row(&id).tier, "green");
    assert!(
        page.contains("class=\"hotline-small\""),
        "the hotline, small"
    );
    assert!(page.contains("<details class=\"contact-fold\">"), "{page}");
    assert!(page.contains("name=\"phone\""));
    // The resource links lead to the configured base.
    assert!(
        page.contains("href=\"https://careline.example/self-help/mood\""),
        "{page}"
    );
    let count_alerts = || {
        use diesel::prelude::*;
        crate::db::schema::alerts::table
            .count()
            .get_result::<i64>(&mut h.conn())
            .expect("count")
    };
    assert_eq!(
        count_alerts(),
        0,
        "a green result raises no alert by itself"
    );

    // A bad phone: the form again (unfolded, with the error), nothing stored.
    let mut fields = [
        ("csrf-token", hidden(&page, "csrf-token")),
        ("token", hidden(&page, "token")),
        ("lang", "zh-CN".to_string()),
        ("phone", "12".to_string()),
        ("consent", "yes".to_string()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, refused) = h.send(post(&format!("/r/{id}/contact"), &pairs)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.contains("<details class=\"contact-fold\" open>"),
        "{refused}"
    );
    assert_eq!(h.rows(), (1, 0));
    assert_eq!(count_alerts(), 0);

    fields[3].1 = "13800000000".to_string();
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, thanks) = h.send(post(&format!("/r/{id}/contact"), &pairs)).await;
    assert_eq!(status, StatusCode::OK, "{thanks}");
    assert!(thanks.contains("class=\"own-data\""), "the withdraw link");
    assert_eq!(h.rows(), (1, 1));
    let alert = h.alert_of(&id);
    assert_eq!(alert.tier, "yellow");
    assert!(alert.rider_key.is_some());
    assert!(
        alert.reasons.contains("contact_requested"),
        "{}",
        alert.reasons
    );
    assert_eq!(count_alerts(), 1);
    // The queue shows the reason in the counselor's language.
    let reason: crate::scoring::Reason =
        serde_json::from_str::<Vec<crate::scoring::Reason>>(&alert.reasons)
            .expect("reasons")
            .remove(0);
    for (locale, text) in [
        ("zh-CN", "骑手请求咨询师联系"),
        ("en", "The rider asked to be contacted"),
    ] {
        let shown = crate::alerts::reason_text_for(&reason, locale);
        assert!(shown.starts_with(text), "{locale}: {shown}");
    }
}

#[actix_web::test]
async fn the_home_page_offers_the_public_screenings_in_plain_words_and_the_others_stay_reachable() {
    let h = harness().await;
    let (status, _, page) = h.send(test::TestRequest::get().uri("/")).await;
    assert_eq!(status, StatusCode::OK);
    let hrefs: Vec<&str> = page
        .split("class=\"card")
        .skip(1)
        .filter_map(|s| s.split("href=\"").nth(1))
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(
        hrefs,
        ["/s/rider_wellbeing", "/s/phq4", "/s/who5", "/s/pss10"],
        "{page}"
    );
    let text = visible_text(&page);
    assert!(text.contains("最近过得好不好"), "a plain title: {text}");
    for acronym in ["WHO-5", "PHQ", "PSS", "ASQ"] {
        assert!(!text.contains(acronym), "{acronym} in {text}");
    }
    // Not listed, still reachable by link (a counselor sends it).
    let (status, _, _) = h.send(test::TestRequest::get().uri("/s/asq")).await;
    assert_eq!(status, StatusCode::OK);

    let h = test_support::harness_with(&[(
        "CARELINE__RIDER__RESOURCE_BASE",
        "https://help.union.cn/r",
    )])
    .await;
    let h = Harness(h);
    let (_, _, page) = h.send(test::TestRequest::get().uri("/?lang=en")).await;
    assert!(page.contains("How you have been feeling lately"), "{page}");
    let form = open_form(&h, "/s/phq9").await;
    let (_, _, result) = h
        .send(post("/s/phq9", &with_controls(&form, &phq9_answers("0"))))
        .await;
    assert!(
        result.contains("href=\"https://help.union.cn/r/self-help/mood\""),
        "{result}"
    );
}
