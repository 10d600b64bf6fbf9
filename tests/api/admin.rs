//! Administration through HTTP: users and sites (created, listed, changed, every bad request
//! refused with nothing changed), the last admin kept, and the audit log (paged, filtered,
//! append-only in the database itself).

use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, Staff, TestApp, assert_error, created, ok, spawn_app, status_json,
};

/// Rows that an admin request could change.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    users: i64,
    sites: i64,
    audit: i64,
}

async fn counts(app: &TestApp) -> Counts {
    Counts {
        users: app.user_count().await,
        sites: app.site_count().await,
        audit: app.audit_count(None).await,
    }
}

async fn send_raw(
    app: &TestApp,
    admin: &Staff,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    app.request(method, path, Some(&admin.token))
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("the request was sent")
}

async fn admins_create_list_and_change_users(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let admin = app.staff("admin", &[]).await;
    let chosen = "a long chosen passphrase";
    let body = created(
        app.post_as(
            &admin.token,
            "/api/v1/admin/users",
            Some(&json!({
                "email": "  Li.Na@Example.org ",
                "name": " 李娜 ",
                "role": "counselor",
                "sites": ["north", "north"],
                "password": chosen,
                "locale": "zh-tw",
            })),
        )
        .await,
    )
    .await;
    let user = &body["user"];
    assert_eq!(user["email"], "li.na@example.org", "normalized: {body}");
    assert_eq!(user["name"], "李娜");
    assert_eq!(user["role"], "counselor");
    assert_eq!(user["sites"], json!(["north"]));
    assert_eq!(user["active"], true);
    assert_eq!(user["locale"], "zh-TW");
    assert!(
        body.get("password").is_none(),
        "a chosen password is not echoed: {body}"
    );
    let token = app.sign_in("li.na@example.org", chosen).await;
    let me = ok(app.get_as(&token, "/api/v1/auth/me").await).await;
    assert_eq!(me["sites"], json!(["north"]));

    // Without a password, one is generated and shown this once.
    let body = created(
        app.post_as(
            &admin.token,
            "/api/v1/admin/users",
            Some(&json!({"email": "sup@example.org", "name": "Sup", "role": "supervisor"})),
        )
        .await,
    )
    .await;
    let generated = body["password"].as_str().expect("a generated password");
    assert!(generated.chars().count() >= 12, "{generated}");
    app.sign_in("sup@example.org", generated).await;
    let id = body["user"]["id"].as_str().expect("id").to_string();

    let list = ok(app.get_as(&admin.token, "/api/v1/admin/users").await).await;
    let users = list["users"].as_array().expect("users");
    assert_eq!(users.len(), 3);
    let text = list.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "no hashes: {text}"
    );

    let changed = ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{id}"),
            &json!({"name": "Supervisor Wang", "sites": ["north"], "locale": "en"}),
        )
        .await)
    .await;
    assert_eq!(changed["name"], "Supervisor Wang");
    assert_eq!(changed["sites"], json!(["north"]));
    assert_eq!(changed["locale"], "en");
    assert_eq!(changed["role"], "supervisor");
    // Back to every site.
    let changed = ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{id}"),
            &json!({"sites": []}),
        )
        .await)
    .await;
    assert_eq!(changed["sites"], json!([]));

    let entries = app.audit_entries().await;
    let by_admin: Vec<_> = entries
        .iter()
        .filter(|e| e.actor_id.as_deref() == Some(admin.id.as_str()))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        by_admin,
        [
            "user.updated",
            "user.updated",
            "user.created",
            "user.created",
            "auth.login_succeeded"
        ],
        "newest first"
    );
    let updated = entries
        .iter()
        .find(|e| e.action == "user.updated")
        .expect("an update");
    assert_eq!(updated.target.as_deref(), Some(id.as_str()));
    assert_eq!(updated.actor, admin.email);
    assert_eq!(updated.ip.as_deref(), Some("127.0.0.1"));
    let all = serde_json::to_string(&entries).expect("JSON");
    assert!(
        !all.contains(chosen) && !all.contains(generated),
        "no password in the audit log"
    );
    assert!(
        !crate::helpers::captured_logs().contains(generated),
        "the generated password is not logged"
    );
}

async fn bad_user_requests_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let admin = app.staff("admin", &[]).await;
    let existing = app.create_user("counselor", &["north"]).await;
    let before = counts(&app).await;
    let user = |change: Value| {
        let mut body = json!({
            "email": "new@example.org",
            "name": "New",
            "role": "counselor",
            "password": PASSWORD,
        });
        for (k, v) in change.as_object().expect("an object") {
            if v.is_null() {
                body.as_object_mut().expect("an object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let invalid = [
        (user(json!({"password": "elevenchars"})), "password"),
        (user(json!({"password": "            "})), "password"),
        (user(json!({"password": "x".repeat(300)})), "password"),
        (user(json!({"email": "not-an-email"})), "email"),
        (user(json!({"email": "a@b"})), "email"),
        (user(json!({"email": "a b@example.org"})), "email"),
        (user(json!({"email": ""})), "email"),
        (user(json!({"role": "root"})), "role"),
        (user(json!({"role": "Admin"})), "role"),
        (user(json!({"role": "employer"})), "role"),
        (user(json!({"sites": ["nowhere"]})), "sites"),
        (user(json!({"locale": "fr"})), "locale"),
        (user(json!({"name": "  "})), "name"),
        (user(json!({"name": "x".repeat(101)})), "name"),
    ];
    for (body, field) in invalid {
        let response = app
            .post_as(&admin.token, "/api/v1/admin/users", Some(&body))
            .await;
        let error = assert_error(response, 422, "invalid_request").await;
        assert_eq!(
            error["error"]["details"][0]["field"], field,
            "{body}: {error}"
        );
    }
    for email in [existing.email.clone(), existing.email.to_uppercase()] {
        let response = app
            .post_as(
                &admin.token,
                "/api/v1/admin/users",
                Some(&user(json!({"email": email}))),
            )
            .await;
        assert_error(response, 409, "conflict").await;
    }
    let post = reqwest::Method::POST;
    let path = "/api/v1/admin/users";
    let valid = user(json!({})).to_string();
    assert_error(
        send_raw(&app, &admin, post.clone(), path, "text/plain", &valid).await,
        415,
        "unsupported_media_type",
    )
    .await;
    for text in [
        "{".to_string(),
        "[]".into(),
        user(json!({"name": null})).to_string(),
        user(json!({"is_admin": true})).to_string(),
        user(json!({"sites": "north"})).to_string(),
    ] {
        assert_error(
            send_raw(&app, &admin, post.clone(), path, "application/json", &text).await,
            400,
            "bad_request",
        )
        .await;
    }

    // Changes.
    let app = &app;
    let patch = |id: &str, body: Value| {
        let path = format!("/api/v1/admin/users/{id}");
        let token = admin.token.clone();
        async move { app.patch_as(&token, &path, &body).await }
    };
    for (body, field) in [
        (json!({}), "body"),
        (json!({"role": "root"}), "role"),
        (json!({"sites": ["nowhere"]}), "sites"),
        (json!({"password": "short"}), "password"),
        (json!({"locale": "xx"}), "locale"),
        (json!({"name": ""}), "name"),
    ] {
        let error = assert_error(
            patch(&existing.id, body.clone()).await,
            422,
            "invalid_request",
        )
        .await;
        assert_eq!(
            error["error"]["details"][0]["field"], field,
            "{body}: {error}"
        );
    }
    assert_error(
        patch("no-such-user", json!({"name": "X"})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        patch(&existing.id, json!({"name": "X", "email": "x@example.org"})).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        send_raw(
            app,
            &admin,
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/users/{}", existing.id),
            "application/x-www-form-urlencoded",
            "name=X",
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(counts(app).await, before, "nothing changed");
    let list = ok(app.get_as(&admin.token, "/api/v1/admin/users").await).await;
    let unchanged = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == existing.id.as_str())
        .expect("the user")
        .clone();
    assert_eq!(unchanged["name"], existing.name.as_str());
    assert_eq!(unchanged["sites"], json!(["north"]));
    app.sign_in(&existing.email, PASSWORD).await;
}

async fn the_last_active_admin_cannot_be_disabled_or_demoted(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    let me = format!("/api/v1/admin/users/{}", admin.id);
    let before = counts(&app).await;
    for change in [
        json!({"active": false}),
        json!({"role": "supervisor"}),
        json!({"role": "counselor", "name": "Demoted"}),
    ] {
        let error = assert_error(
            app.patch_as(&admin.token, &me, &change).await,
            409,
            "conflict",
        )
        .await;
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("last")),
            "{error}"
        );
    }
    assert_eq!(counts(&app).await, before, "nothing changed");
    let unchanged = ok(app.get_as(&admin.token, "/api/v1/auth/me").await).await;
    assert_eq!(unchanged["role"], "admin");
    assert_ne!(unchanged["name"], "Demoted");

    // With a second active admin, either may go; then the other is the last one.
    let second = app.create_user("admin", &[]).await;
    let path = format!("/api/v1/admin/users/{}", second.id);
    ok(app
        .patch_as(&admin.token, &path, &json!({"role": "supervisor"}))
        .await)
    .await;
    assert_error(
        app.patch_as(&admin.token, &me, &json!({"active": false}))
            .await,
        409,
        "conflict",
    )
    .await;
    ok(app
        .patch_as(&admin.token, &path, &json!({"role": "admin"}))
        .await)
    .await;
    ok(app
        .patch_as(&admin.token, &path, &json!({"active": false}))
        .await)
    .await;
    // A disabled admin does not count.
    assert_error(
        app.patch_as(&admin.token, &me, &json!({"role": "counselor"}))
            .await,
        409,
        "conflict",
    )
    .await;
    // Changing the last admin's name (or the admin role kept) is fine.
    ok(app
        .patch_as(
            &admin.token,
            &me,
            &json!({"name": "Still admin", "role": "admin"}),
        )
        .await)
    .await;
}

async fn admins_create_list_and_rename_sites(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    let site = created(
        app.post_as(
            &admin.token,
            "/api/v1/admin/sites",
            Some(&json!({"slug": "wangjing-2", "name": " 望京站 "})),
        )
        .await,
    )
    .await;
    assert_eq!(site, json!({"slug": "wangjing-2", "name": "望京站"}));
    created(
        app.post_as(
            &admin.token,
            "/api/v1/admin/sites",
            Some(&json!({"slug": "a_b", "name": "A B"})),
        )
        .await,
    )
    .await;
    let renamed = ok(app
        .patch_as(
            &admin.token,
            "/api/v1/admin/sites/wangjing-2",
            &json!({"name": "望京二站"}),
        )
        .await)
    .await;
    assert_eq!(renamed, json!({"slug": "wangjing-2", "name": "望京二站"}));
    let list = ok(app.get_as(&admin.token, "/api/v1/admin/sites").await).await;
    assert_eq!(
        list["sites"],
        json!([{"slug": "a_b", "name": "A B"}, {"slug": "wangjing-2", "name": "望京二站"}])
    );

    let before = counts(&app).await;
    for (body, field) in [
        (json!({"slug": "Not A Slug", "name": "x"}), "slug"),
        (json!({"slug": "", "name": "x"}), "slug"),
        (json!({"slug": "a".repeat(65), "name": "x"}), "slug"),
        (json!({"slug": "站", "name": "x"}), "slug"),
        (json!({"slug": "a/b", "name": "x"}), "slug"),
        (json!({"slug": "ok-slug", "name": " "}), "name"),
        (json!({"slug": "ok-slug", "name": "x".repeat(101)}), "name"),
    ] {
        let response = app
            .post_as(&admin.token, "/api/v1/admin/sites", Some(&body))
            .await;
        let error = assert_error(response, 422, "invalid_request").await;
        assert_eq!(
            error["error"]["details"][0]["field"], field,
            "{body}: {error}"
        );
    }
    assert_error(
        app.post_as(
            &admin.token,
            "/api/v1/admin/sites",
            Some(&json!({"slug": "wangjing-2", "name": "Again"})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let post = reqwest::Method::POST;
    assert_error(
        send_raw(
            &app,
            &admin,
            post.clone(),
            "/api/v1/admin/sites",
            "text/plain",
            "{}",
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    for text in [
        "not json",
        r#"{"slug": "ok-slug"}"#,
        r#"{"slug": "ok-slug", "name": "x", "region": "north"}"#,
    ] {
        assert_error(
            send_raw(
                &app,
                &admin,
                post.clone(),
                "/api/v1/admin/sites",
                "application/json",
                text,
            )
            .await,
            400,
            "bad_request",
        )
        .await;
    }
    assert_error(
        app.patch_as(
            &admin.token,
            "/api/v1/admin/sites/nowhere",
            &json!({"name": "x"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let error = assert_error(
        app.patch_as(
            &admin.token,
            "/api/v1/admin/sites/a_b",
            &json!({"name": ""}),
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["details"][0]["field"], "name");
    assert_error(
        app.patch_as(
            &admin.token,
            "/api/v1/admin/sites/a_b",
            &json!({"name": "x", "slug": "b_c"}),
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(counts(&app).await, before, "nothing changed");

    let actions: Vec<String> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|e| e.action.starts_with("site."))
        .map(|e| format!("{} {}", e.action, e.target.unwrap_or_default()))
        .collect();
    assert_eq!(
        actions,
        [
            "site.updated wangjing-2",
            "site.created a_b",
            "site.created wangjing-2"
        ]
    );
}

async fn the_audit_log_pages_newest_first_and_refuses_bad_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("admin", &[]).await;
    for _ in 0..4 {
        assert_error(
            app.login("nobody@example.org", "wrong password").await,
            401,
            "bad_credentials",
        )
        .await;
    }
    for i in 0..3 {
        app.create_site(&format!("site-{i}")).await;
    }
    let all: Vec<String> = app
        .audit_entries()
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        all.len(),
        9,
        "the admin made, a sign-in, four failures, three sites"
    );

    // Page by 3 through everything, following `next`.
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &before {
            Some(b) => format!("?limit=3&before={b}"),
            None => "?limit=3".to_string(),
        };
        let page = ok(app
            .get_as(&admin.token, &format!("/api/v1/admin/audit{query}"))
            .await)
        .await;
        let entries = page["entries"].as_array().expect("entries");
        assert!(entries.len() <= 3);
        paged.extend(
            entries
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_string()),
        );
        pages += 1;
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), entries.last().and_then(|e| e["id"].as_str()));
                before = Some(next.to_string());
            }
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, all, "every entry once, newest first");

    let page = ok(app
        .get_as(
            &admin.token,
            "/api/v1/admin/audit?action=auth.login_failed&limit=3",
        )
        .await)
    .await;
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e["action"] == "auth.login_failed"));
    let next = page["next"].as_str().expect("a fourth failure");
    let page = ok(app
        .get_as(
            &admin.token,
            &format!("/api/v1/admin/audit?action=auth.login_failed&limit=3&before={next}"),
        )
        .await)
    .await;
    assert_eq!(page["entries"].as_array().expect("entries").len(), 1);
    assert_eq!(page["next"], Value::Null);
    let entry = &page["entries"][0];
    for field in ["id", "at", "actor", "action", "detail"] {
        assert!(entry.get(field).is_some(), "{field} in {entry}");
    }
    assert_eq!(entry["actor"], "nobody@example.org");
    assert_eq!(entry["ip"], "127.0.0.1");
    let default = ok(app.get_as(&admin.token, "/api/v1/admin/audit").await).await;
    assert_eq!(default["entries"].as_array().expect("entries").len(), 9);
    let none = ok(app
        .get_as(&admin.token, "/api/v1/admin/audit?action=no.such_action")
        .await)
    .await;
    assert_eq!(none["entries"], json!([]));

    let rows = app.audit_count(None).await;
    for query in [
        "?limit=0",
        "?limit=201",
        "?limit=-5",
        "?limit=many",
        "?before=yesterday",
        "?before=",
        "?action=",
        "?action=Alert.Viewed",
        "?action=alert%20viewed",
        "?action=alert.viewed;drop",
    ] {
        let response = app
            .get_as(&admin.token, &format!("/api/v1/admin/audit{query}"))
            .await;
        assert_error(response, 400, "bad_request").await;
    }
    assert_eq!(
        app.audit_count(None).await,
        rows,
        "reading the log writes nothing"
    );
}

async fn the_audit_log_and_timelines_cannot_be_changed_in_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let id = app.red_alert(None).await;
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await)
    .await;
    let audit_before = app.audit_entries().await;
    let events_before = app.alert_events(&id).await.len();
    assert!(!audit_before.is_empty() && events_before == 2);
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET detail = '{}' WHERE action = 'alert.acknowledged'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'auth.login_succeeded'",
        "UPDATE alert_events SET kind = 'note'",
        "DELETE FROM alert_events",
    ] {
        let result = app
            .with_conn(move |c| diesel::sql_query(sql).execute(c).map_err(|e| e.to_string()))
            .await;
        let error = result.expect_err(sql);
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    let after = app.audit_entries().await;
    assert_eq!(
        serde_json::to_string(&after).expect("JSON"),
        serde_json::to_string(&audit_before).expect("JSON"),
        "the audit log is as it was"
    );
    assert_eq!(app.alert_events(&id).await.len(), events_before);
    // Appending still works.
    ok(app
        .get_as(&counselor.token, &format!("/api/v1/alerts/{id}"))
        .await)
    .await;
    assert_eq!(app.audit_count(None).await, after.len() as i64 + 1);
    let (status, _) = status_json(app.get_as(&counselor.token, "/api/v1/auth/me").await).await;
    assert_eq!(status, 200);
}

/// PostgreSQL's TRUNCATE empties a table without firing row triggers: the append-only tables
/// need a statement-level `BEFORE TRUNCATE` trigger too. (SQLite has no TRUNCATE; its
/// truncate-optimized `DELETE FROM t` fires the row triggers and is refused above.)
async fn the_audit_log_and_timelines_cannot_be_truncated(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    let counselor = app.staff("counselor", &[]).await;
    let id = app.red_alert(None).await;
    ok(app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await)
    .await;
    let rows = app.audit_count(None).await;
    let statements: &[&str] = match backend {
        Backend::Sqlite => &["DELETE FROM audit_log", "DELETE FROM alert_events"],
        Backend::Postgres { .. } => &["TRUNCATE audit_log", "TRUNCATE alert_events"],
    };
    for sql in statements {
        let sql = sql.to_string();
        let result = app
            .with_conn(move |c| diesel::sql_query(sql).execute(c).map_err(|e| e.to_string()))
            .await;
        assert!(
            result.is_err(),
            "the append-only table was emptied: {result:?}"
        );
    }
    assert_eq!(app.audit_count(None).await, rows);
    assert_eq!(app.alert_events(&id).await.len(), 2);
}

backend_tests!(
    admins_create_list_and_change_users,
    bad_user_requests_are_refused_and_change_nothing,
    the_last_active_admin_cannot_be_disabled_or_demoted,
    admins_create_list_and_rename_sites,
    the_audit_log_pages_newest_first_and_refuses_bad_parameters,
    the_audit_log_and_timelines_cannot_be_changed_in_the_database,
    the_audit_log_and_timelines_cannot_be_truncated,
);
