//! `GET /healthz` and `GET /readyz`.

use crate::helpers::{Backend, spawn_app};
use serde_json::Value;

fn shipped_count() -> usize {
    std::fs::read_dir(crate::helpers::shipped_questionnaires())
        .expect("questionnaires/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count()
}

async fn healthz_answers_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_healthz().await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_database_and_catalog(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get_readyz().await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["questionnaires"], shipped_count(), "{body}");
}

backend_tests!(healthz_answers_ok, readyz_reports_database_and_catalog);

// PostgreSQL only: SQLite is a file the process opens itself, with no server to lose.

/// Runs SQL on the test server outside the application's pool.
async fn admin_sql(backend: &Backend, sql: String) {
    use diesel::{Connection, RunQueryDsl};
    let Backend::Postgres { admin_url } = backend else {
        unreachable!("PostgreSQL only")
    };
    let admin = admin_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect");
        diesel::sql_query(sql)
            .execute(&mut conn)
            .expect("admin SQL");
    })
    .await
    .expect("admin SQL ran");
}

fn database_name(app: &crate::helpers::TestApp) -> String {
    let url = reqwest::Url::parse(app.database_url()).expect("a URL");
    url.path().trim_start_matches('/').to_string()
}

#[actix_web::test]
async fn postgres_readyz_is_503_when_the_database_is_gone() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let app = crate::helpers::spawn_app_with(
        backend.clone(),
        crate::helpers::AppOptions {
            database_timeout: Some(std::time::Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.get_readyz().await.status().as_u16(), 200);
    let name = database_name(&app);
    admin_sql(&backend, format!("DROP DATABASE {name} WITH (FORCE)")).await;
    let response = app.get_readyz().await;
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["database"], "unreachable", "{body}");
    assert_eq!(body["questionnaires"], shipped_count(), "{body}");
    // Liveness does not depend on the database.
    assert_eq!(app.get_healthz().await.status().as_u16(), 200);
}

#[actix_web::test]
async fn postgres_connections_cut_by_the_server_are_replaced() {
    // What a database restart does to the pool: every connection is closed under it.
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let app = spawn_app(backend.clone()).await;
    crate::helpers::created(
        app.post_screening(&crate::helpers::phq9_body(crate::helpers::GREEN))
            .await,
    )
    .await;
    let name = database_name(&app);
    admin_sql(
        &backend,
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    for _ in 0..3 {
        crate::helpers::created(
            app.post_screening(&crate::helpers::phq9_body(crate::helpers::RED))
                .await,
        )
        .await;
    }
    assert_eq!(app.get_readyz().await.status().as_u16(), 200);
    assert_eq!(app.rows().await.screenings, 4);
}

/// Issue 12: the database refuses connections (`ALLOW_CONNECTIONS false`, every backend of it
/// terminated, so the pool cannot get one): the rider's form, the sign-in page and API, the
/// queue page and the alert API answer 503 with `Retry-After` (never 500), and the form still
/// shows the crisis lines first.
#[actix_web::test]
async fn postgres_an_unreachable_database_is_503_with_retry_after_on_pages_and_api() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let app = crate::helpers::spawn_app_with(
        backend.clone(),
        crate::helpers::AppOptions {
            database_timeout: Some(std::time::Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await;
    let counselor = app.staff("counselor", &[]).await;
    assert_eq!(
        app.get_as(&counselor.token, "/api/v1/alerts")
            .await
            .status()
            .as_u16(),
        200
    );
    let csrf = "ab".repeat(32);
    let cookie = format!("careline_csrf={csrf}");
    let mut form: Vec<(String, String)> = crate::helpers::RED
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("q{}", i + 1), v.to_string()))
        .collect();
    form.push(("lang".into(), "en".into()));
    // The rider form's own token (signed, no cookie) and render id, from the page.
    let form_page = app.get("/s/phq9").await.text().await.expect("the form");
    for field in ["csrf-token", "idempotency-key"] {
        let value = form_page
            .split(&format!("name=\"{field}\" value=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no {field}"))
            .to_string();
        form.push((field.into(), value));
    }

    // A rider's red result, saved while the database was there: its page carries the
    // result's token and the contact form's address.
    let saved = app
        .client
        .post(app.url("/s/phq9"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&form))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        saved.status().as_u16(),
        200,
        "the form while the database is up"
    );
    let saved = saved.text().await.expect("a page");
    let token = saved
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result's token")
        .to_string();
    let result_csrf = saved
        .split("name=\"csrf-token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the result page's form token")
        .to_string();
    let contact_action = saved
        .split("id=\"contact\" method=\"post\" action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the contact form")
        .to_string();
    let result_action = contact_action
        .strip_suffix("/contact#contact")
        .unwrap_or_else(|| panic!("/r/{{id}}/contact, not {contact_action}"))
        .to_string();
    let screenings_before = app.rows().await.screenings;

    let name = database_name(&app);
    admin_sql(
        &backend,
        format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
    )
    .await;
    admin_sql(
        &backend,
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;

    let retry_after = |r: &reqwest::Response| {
        r.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    // The rider's form, a red answer set.
    let r = app
        .client
        .post(app.url("/s/phq9"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&form))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 503, "the form");
    assert!(retry_after(&r).is_some_and(|s| s > 0), "{:?}", r.headers());
    let page = r.text().await.expect("a page");
    let body = &page[page.find("<body").expect("a body")..];
    let crisis = body.find("12356").expect("the crisis line");
    let heading = body
        .find("<h1>Your answers could not be saved just now</h1>")
        .expect("the 503 heading");
    assert!(crisis < heading, "crisis lines first:\n{page}");
    for line in ["110", "120"] {
        assert!(page.contains(line), "{page}");
    }

    // The result page again (its language switcher) and the contact form under it: 503
    // with the crisis lines first, never the 500 page.
    let crisis_first = |page: &str, heading: &str| {
        let body = &page[page.find("<body").expect("a body")..];
        let crisis = body.find("12356").expect("the crisis line");
        let at = body
            .find(&format!("<h1>{heading}</h1>"))
            .unwrap_or_else(|| panic!("the heading {heading}:\n{page}"));
        assert!(crisis < at, "crisis lines first:\n{page}");
    };
    let r = app
        .client
        .post(app.url(&result_action))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("csrf-token".into(), result_csrf.clone()),
            ("token".into(), token.clone()),
            ("lang".into(), "en".into()),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 503, "the result page");
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());
    crisis_first(
        &r.text().await.expect("a page"),
        "Your result cannot be shown just now",
    );
    let r = app
        .client
        .post(app.url(&contact_action))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("csrf-token".into(), result_csrf.clone()),
            ("token".into(), token.clone()),
            ("lang".into(), "en".into()),
            ("phone".into(), "138 0000 0000".into()),
            ("consent".into(), "yes".into()),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 503, "the contact form");
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());
    crisis_first(
        &r.text().await.expect("a page"),
        "Your contact details could not be saved just now",
    );

    // The sign-in page.
    let r = app
        .client
        .post(app.url("/login"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("email".into(), counselor.email.clone()),
            ("password".into(), crate::helpers::PASSWORD.into()),
            ("csrf-token".into(), csrf.clone()),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 503, "the sign-in page");
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());

    // The queue page (the session lookup needs the database).
    let r = app
        .client
        .get(app.url("/queue"))
        .header("Cookie", format!("careline_session={}", counselor.token))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 503, "the queue page");
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());

    // The API: sign-in, the queue, a screening (scored, not saved).
    let r = app.login(&counselor.email, crate::helpers::PASSWORD).await;
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());
    crate::helpers::assert_error(r, 503, "unavailable").await;
    let r = app.get_as(&counselor.token, "/api/v1/alerts").await;
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());
    crate::helpers::assert_error(r, 503, "unavailable").await;
    let r = app
        .post_screening(&crate::helpers::phq9_body(crate::helpers::RED))
        .await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(retry_after(&r).is_some(), "{:?}", r.headers());
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "not_saved", "{body}");
    assert_eq!(
        body["result"]["crisis_lines"][0]["number"], "12356",
        "{body}"
    );

    // Back: served again.
    admin_sql(
        &backend,
        format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"),
    )
    .await;
    crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "the queue API to answer again",
        || async {
            let r = app.get_as(&counselor.token, "/api/v1/alerts").await;
            (r.status().as_u16() == 200).then_some(())
        },
    )
    .await;
    // Nothing was stored while it was away: no screening, no contact.
    assert_eq!(app.rows().await.screenings, screenings_before);
    assert_eq!(app.rows().await.contacts, 0);
}

fn urlencoded(fields: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a URL");
    url.query_pairs_mut().extend_pairs(fields);
    url.query().unwrap_or_default().to_string()
}

/// Issue 12: a known path asked with another method is a JSON 405 naming the methods it
/// answers in `Allow`; an unknown path under /api is a JSON 404 (not an empty body).
#[actix_web::test]
async fn wrong_methods_get_405_with_allow_and_unknown_api_paths_a_json_404() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    for (method, path, allow) in [
        ("GET", "/api/v1/screenings", "POST"),
        ("DELETE", "/api/v1/alerts/some-id", "GET"),
        ("OPTIONS", "/api/v1/alerts/take-next", "POST"),
        ("PUT", "/api/v1/admin/users", "GET, POST"),
        ("POST", "/healthz", "GET"),
        ("DELETE", "/api/openapi.json", "GET"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = client
            .request(m, app.url(path))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
    }
    for path in ["/api/v1/nope", "/api/nope", "/api/v1/alerts/x/y/z"] {
        let response = client.get(app.url(path)).send().await.expect("a response");
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}
