//! Sign-in and sessions through HTTP: forged and replayed tokens are refused, a session ends at
//! once on sign-out, a password change, a role change or disabling, every sign-in failure gets
//! one message and an audit row without the password, and repeated failures are throttled.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, Backend, PASSWORD, TestApp, assert_error, captured_logs, ok, spawn_app,
    spawn_app_with, status_json,
};

/// The protected endpoints every token is tried on.
const PROTECTED: [&str; 2] = ["/api/v1/auth/me", "/api/v1/alerts"];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT with this header and payload, its signature an HMAC with `key` by `alg`
/// (`HS256`, `HS384` or `HS512`), whatever the header says.
fn forge(header: &Value, payload: &Value, alg: &str, key: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let signature = match alg {
        "HS256" => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("a key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HS384" => {
            let mut mac = hmac::Hmac::<sha2::Sha384>::new_from_slice(key).expect("a key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).expect("a key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        other => panic!("no MAC for {other}"),
    };
    format!("{signing_input}.{}", B64.encode(signature))
}

fn hs256_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

/// The claims of a token the service issued.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("JSON claims")
}

async fn status_on(app: &TestApp, path: &str, token: &str) -> (u16, Option<String>) {
    let response = app
        .client
        .get(app.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("the request was sent");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), challenge)
}

async fn forged_tokens_are_refused_and_a_correct_forgery_proves_the_forger(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let admin = app.staff("admin", &[]).await;
    let key = app.state.settings.auth.jwt_key.clone();
    let key = key.as_bytes();
    let claims = claims_of(&counselor.token);
    assert_eq!(claims["sub"], counselor.id.as_str(), "{claims}");
    for claim in ["iss", "aud", "sub", "sid", "iat", "exp"] {
        assert!(claims.get(claim).is_some(), "`{claim}` in {claims}");
    }

    // The forger is right: the same claims signed the same way are accepted. So each refusal
    // below is for the one thing changed.
    let genuine = forge(&hs256_header(), &claims, "HS256", key);
    for path in PROTECTED {
        assert_eq!(status_on(&app, path, &genuine).await.0, 200, "{path}");
    }

    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        c
    };
    let parts: Vec<&str> = counselor.token.split('.').collect();
    let mut attacks: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!(
                "{}.{}.",
                B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
                B64.encode(claims.to_string())
            ),
        ),
        (
            "alg None, the real signature",
            format!(
                "{}.{}.{}",
                B64.encode(json!({"alg": "None", "typ": "JWT"}).to_string()),
                parts[1],
                parts[2]
            ),
        ),
        (
            "HS512 with the right key",
            forge(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &claims,
                "HS512",
                key,
            ),
        ),
        (
            "HS384 with the right key",
            forge(
                &json!({"alg": "HS384", "typ": "JWT"}),
                &claims,
                "HS384",
                key,
            ),
        ),
        (
            "HS512 header over an HS256 signature",
            forge(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &claims,
                "HS256",
                key,
            ),
        ),
        (
            "RS256 header, HMAC with the key as if it were a public key",
            forge(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &claims,
                "HS256",
                key,
            ),
        ),
        (
            "another key",
            forge(
                &hs256_header(),
                &claims,
                "HS256",
                b"another key of at least thirty-two bytes, not ours",
            ),
        ),
        (
            "expired two minutes ago",
            forge(
                &hs256_header(),
                &with(&|c| c["exp"] = (now() - 120).into()),
                "HS256",
                key,
            ),
        ),
        (
            "exp as a string",
            forge(
                &hs256_header(),
                &with(&|c| c["exp"] = (now() + 3600).to_string().into()),
                "HS256",
                key,
            ),
        ),
        (
            "no exp",
            forge(
                &hs256_header(),
                &with(&|c| {
                    c.as_object_mut().expect("claims").remove("exp");
                }),
                "HS256",
                key,
            ),
        ),
        (
            "wrong aud",
            forge(
                &hs256_header(),
                &with(&|c| c["aud"] = "someone-else".into()),
                "HS256",
                key,
            ),
        ),
        (
            "no aud",
            forge(
                &hs256_header(),
                &with(&|c| {
                    c.as_object_mut().expect("claims").remove("aud");
                }),
                "HS256",
                key,
            ),
        ),
        (
            "wrong iss",
            forge(
                &hs256_header(),
                &with(&|c| c["iss"] = "someone-else".into()),
                "HS256",
                key,
            ),
        ),
        (
            "no sub",
            forge(
                &hs256_header(),
                &with(&|c| {
                    c.as_object_mut().expect("claims").remove("sub");
                }),
                "HS256",
                key,
            ),
        ),
        (
            "a session id that does not exist",
            forge(
                &hs256_header(),
                &with(&|c| c["sid"] = uuid::Uuid::new_v4().to_string().into()),
                "HS256",
                key,
            ),
        ),
        (
            "the admin's id on the counselor's session, signed with the key",
            forge(
                &hs256_header(),
                &with(&|c| c["sub"] = admin.id.as_str().into()),
                "HS256",
                key,
            ),
        ),
        (
            "the admin's id in the payload under the original signature",
            format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(with(&|c| c["sub"] = admin.id.as_str().into()).to_string()),
                parts[2]
            ),
        ),
        (
            "a later exp under the original signature",
            format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(with(&|c| c["exp"] = (now() + 999_999).into()).to_string()),
                parts[2]
            ),
        ),
        (
            "the signature cut off",
            format!("{}.{}", parts[0], parts[1]),
        ),
        ("the signature's last character changed", {
            let mut t = counselor.token.clone();
            let last = t.pop().expect("a character");
            t.push(if last == 'A' { 'B' } else { 'A' });
            t
        }),
        ("garbage", "not-a-token".into()),
        ("three empty parts", "..".into()),
        ("garbage in three parts", "a.b.c".into()),
        ("a huge token", "a".repeat(10_000)),
    ];
    attacks.push(("an empty token", String::new()));
    for (what, token) in &attacks {
        for path in PROTECTED {
            let (status, challenge) = status_on(&app, path, token).await;
            assert_eq!(status, 401, "{what}: {path} answered {status}");
            assert!(
                challenge.is_some_and(|c| c.starts_with("Bearer")),
                "{what}: a 401 names the scheme in WWW-Authenticate"
            );
        }
    }
    // The real token under another scheme, or with none, is not a bearer token.
    for header in [
        format!("Basic {}", counselor.token),
        format!("Token {}", counselor.token),
        counselor.token.clone(),
    ] {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("Authorization", header)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 401);
    }
    // After all that, the genuine session still works: refusals do not end it.
    assert_eq!(
        status_on(&app, "/api/v1/auth/me", &counselor.token).await.0,
        200
    );
}

async fn signing_out_ends_that_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let other_device = app.sign_in(&counselor.email, PASSWORD).await;
    let me = ok(app.get_as(&counselor.token, "/api/v1/auth/me").await).await;
    assert_eq!(me["id"], counselor.id.as_str());
    assert_eq!(me["role"], "counselor");

    let response = app
        .post_as(&counselor.token, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(response.status().as_u16(), 204);
    for path in PROTECTED {
        assert_eq!(
            status_on(&app, path, &counselor.token).await.0,
            401,
            "{path}"
        );
    }
    // Signing out twice: the session is gone.
    assert_error(
        app.post_as(&counselor.token, "/api/v1/auth/logout", None)
            .await,
        401,
        "unauthorized",
    )
    .await;
    // Only that session ended: the other device is still signed in.
    assert_eq!(
        status_on(&app, "/api/v1/auth/me", &other_device).await.0,
        200
    );
    assert_eq!(app.audit_count(Some("auth.logout")).await, 1);
    assert_error(
        app.client
            .post(app.url("/api/v1/auth/logout"))
            .send()
            .await
            .expect("sent"),
        401,
        "unauthorized",
    )
    .await;
}

async fn a_password_change_ends_every_session_and_starts_a_new_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let counselor = app.staff("counselor", &[]).await;
    let other_device = app.sign_in(&counselor.email, PASSWORD).await;
    let new_password = "a brand new passphrase";

    // Refusals first: nothing changes.
    let cases = [
        (
            json!({"current_password": "not the password", "new_password": new_password}),
            "current_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "elevenchars"}),
            "new_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            "new_password",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .post_as(&counselor.token, "/api/v1/auth/password", Some(&body))
            .await;
        let error = assert_error(response, 422, "invalid_request").await;
        assert_eq!(error["error"]["details"][0]["field"], field, "{error}");
    }
    let response = app
        .post_as(
            &counselor.token,
            "/api/v1/auth/password",
            Some(&json!({"current_password": PASSWORD, "new_password": new_password, "extra": 1})),
        )
        .await;
    assert_error(response, 400, "bad_request").await;
    assert_eq!(
        status_on(&app, "/api/v1/auth/me", &counselor.token).await.0,
        200
    );

    let session = ok(app
        .post_as(
            &counselor.token,
            "/api/v1/auth/password",
            Some(&json!({"current_password": PASSWORD, "new_password": new_password})),
        )
        .await)
    .await;
    let fresh = session["token"].as_str().expect("a new token");
    for old in [&counselor.token, &other_device] {
        for path in PROTECTED {
            assert_eq!(status_on(&app, path, old).await.0, 401, "{path}");
        }
    }
    assert_eq!(status_on(&app, "/api/v1/auth/me", fresh).await.0, 200);
    assert_error(
        app.login(&counselor.email, PASSWORD).await,
        401,
        "bad_credentials",
    )
    .await;
    ok(app.login(&counselor.email, new_password).await).await;
    assert_eq!(app.audit_count(Some("auth.password_changed")).await, 1);
    let audit = serde_json::to_string(&app.audit_entries().await).expect("JSON");
    assert!(
        !audit.contains(new_password),
        "no password in the audit log"
    );
    assert!(
        !captured_logs().contains(new_password),
        "no password in the logs"
    );
}

async fn an_admin_change_of_role_sites_password_or_active_ends_the_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_site("north").await;
    let admin = app.staff("admin", &[]).await;
    let changes = [
        json!({"role": "supervisor"}),
        json!({"sites": ["north"]}),
        json!({"password": "set by the admin, long enough"}),
        json!({"active": false}),
    ];
    for change in changes {
        let user = app.staff("counselor", &[]).await;
        assert_eq!(status_on(&app, "/api/v1/auth/me", &user.token).await.0, 200);
        ok(app
            .patch_as(
                &admin.token,
                &format!("/api/v1/admin/users/{}", user.id),
                &change,
            )
            .await)
        .await;
        for path in PROTECTED {
            assert_eq!(
                status_on(&app, path, &user.token).await.0,
                401,
                "after {change}: {path}"
            );
        }
        if change.get("active").is_some() {
            // A disabled account cannot sign in, and is told the same as a wrong password.
            let body = assert_error(
                app.login(&user.email, PASSWORD).await,
                401,
                "bad_credentials",
            )
            .await;
            let wrong = assert_error(
                app.login(&user.email, "not the password at all").await,
                401,
                "bad_credentials",
            )
            .await;
            assert_eq!(body, wrong);
            // Enabled again, the old token stays dead; a new sign-in works.
            ok(app
                .patch_as(
                    &admin.token,
                    &format!("/api/v1/admin/users/{}", user.id),
                    &json!({"active": true}),
                )
                .await)
            .await;
            assert_eq!(status_on(&app, "/api/v1/auth/me", &user.token).await.0, 401);
            app.sign_in(&user.email, PASSWORD).await;
        }
    }
    // A new display name does not end the session.
    let user = app.staff("counselor", &[]).await;
    ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{}", user.id),
            &json!({"name": "Renamed"}),
        )
        .await)
    .await;
    let me = ok(app.get_as(&user.token, "/api/v1/auth/me").await).await;
    assert_eq!(me["name"], "Renamed");
}

async fn every_sign_in_failure_gets_one_message_and_an_audit_row_without_the_password(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let user = app.staff("counselor", &[]).await;
    let disabled = app.create_user("counselor", &[]).await;
    let admin = app.staff("admin", &[]).await;
    ok(app
        .patch_as(
            &admin.token,
            &format!("/api/v1/admin/users/{}", disabled.id),
            &json!({"active": false}),
        )
        .await)
    .await;
    let wrong = "WRONG_PASSWORD_MARKER_51x";
    let before = app.audit_count(Some("auth.login_failed")).await;
    let mut bodies = Vec::new();
    for (email, password) in [
        (user.email.as_str(), wrong),
        ("nobody@example.org", wrong),
        (disabled.email.as_str(), PASSWORD),
        ("", wrong),
    ] {
        bodies.push(assert_error(app.login(email, password).await, 401, "bad_credentials").await);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one message for every failure: {bodies:?}"
    );
    assert_eq!(app.audit_count(Some("auth.login_failed")).await - before, 4);
    // The email is matched without regard to case or surrounding spaces.
    let session = ok(app
        .login(&format!("  {}  ", user.email.to_uppercase()), PASSWORD)
        .await)
    .await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["user"]["id"], user.id.as_str());
    assert!(session["user"]["csrf_token"].is_string());

    let entries = app.audit_entries().await;
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "auth.login_failed")
        .collect();
    let reasons: Vec<String> = failed
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(&e.detail).expect("JSON detail");
            d["reason"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    for reason in ["wrong_password", "unknown_email", "disabled"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    assert!(failed.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")));
    let succeeded: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "auth.login_succeeded" && e.actor_id.as_deref() == Some(&user.id))
        .collect();
    assert_eq!(succeeded.len(), 2, "the first sign-in and the one above");
    assert!(
        succeeded
            .iter()
            .all(|e| e.ip.as_deref() == Some("127.0.0.1"))
    );
    let all = serde_json::to_string(&entries).expect("JSON");
    for secret in [wrong, PASSWORD] {
        assert!(!all.contains(secret), "`{secret}` is in the audit log");
        assert!(
            !captured_logs().contains(secret),
            "`{secret}` is in the logs"
        );
    }
}

async fn a_sign_in_that_is_not_json_or_not_a_sign_in_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("counselor", &[]).await;
    let post = |content_type: &'static str, body: String| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let form = format!("email={}&password={}", user.email, PASSWORD);
    assert_error(
        post("application/x-www-form-urlencoded", form)
            .await
            .expect("sent"),
        415,
        "unsupported_media_type",
    )
    .await;
    for body in [
        "{".to_string(),
        "[]".into(),
        json!({"email": user.email}).to_string(),
        json!({"email": user.email, "password": PASSWORD, "remember": true}).to_string(),
        json!({"email": user.email, "password": 12}).to_string(),
    ] {
        assert_error(
            post("application/json", body.clone()).await.expect("sent"),
            400,
            "bad_request",
        )
        .await;
    }
    // None of these counted as a failed sign-in, or signed anyone in.
    assert_eq!(app.audit_count(Some("auth.login_failed")).await, 0);
    assert_eq!(app.audit_count(Some("auth.login_succeeded")).await, 0);
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {:?}", response.headers()))
}

async fn the_sixth_wrong_password_is_throttled_and_so_is_the_right_one(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            trusted_proxies: Some(vec!["127.0.0.1".into()]),
            ..Default::default()
        },
    )
    .await;
    let target = app.create_user("counselor", &[]).await;
    let bystander = app.create_user("counselor", &[]).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let attacker = "203.0.113.7";
    for i in 1..=5 {
        let response = app
            .login_with(&target.email, "wrong password here", &from(attacker))
            .await;
        assert_eq!(response.status().as_u16(), 401, "failure {i} is not slowed");
    }
    let sixth = app
        .login_with(&target.email, "wrong password here", &from(attacker))
        .await;
    assert_eq!(sixth.status().as_u16(), 429);
    let wait = retry_after(&sixth);
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    let sixth = assert_error(sixth, 429, "too_many_requests").await;

    // The right password from that address: slowed the same way, with the same message.
    let right = app
        .login_with(&target.email, PASSWORD, &from(attacker))
        .await;
    assert_eq!(right.status().as_u16(), 429);
    retry_after(&right);
    let right = assert_error(right, 429, "too_many_requests").await;
    assert_eq!(
        right["error"]["message"], sixth["error"]["message"],
        "the answer does not tell a right password from a wrong one"
    );
    // Another account from the same address waits too; so does this account from elsewhere.
    assert_eq!(
        app.login_with(&bystander.email, PASSWORD, &from(attacker))
            .await
            .status()
            .as_u16(),
        429
    );
    assert_eq!(
        app.login_with(&target.email, PASSWORD, &from("198.51.100.20"))
            .await
            .status()
            .as_u16(),
        429
    );
    // Another account from another address is not affected.
    ok(app
        .login_with(&bystander.email, PASSWORD, &from("198.51.100.30"))
        .await)
    .await;
    // An entry prepended by the client is not believed: the right-most untrusted one counts.
    assert_eq!(
        app.login_with(&bystander.email, PASSWORD, &from("192.0.2.99, 203.0.113.7"))
            .await
            .status()
            .as_u16(),
        429
    );
    let entries = app.audit_entries().await;
    let throttled: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "auth.login_failed" && e.detail.contains("throttled"))
        .collect();
    assert!(throttled.len() >= 4, "throttled attempts are audited");
    assert!(
        entries
            .iter()
            .filter(|e| e.action.starts_with("auth.login"))
            .all(|e| e.ip.as_deref() != Some("127.0.0.1")),
        "behind a trusted proxy, the audited address is the client's"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "auth.login_failed" && e.ip.as_deref() == Some(attacker))
    );
}

async fn x_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            login_free_failures: Some(2),
            ..Default::default()
        },
    )
    .await;
    let target = app.create_user("counselor", &[]).await;
    let other = app.create_user("counselor", &[]).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let response = app
            .login_with(
                &target.email,
                "wrong password here",
                &[("X-Forwarded-For", ip)],
            )
            .await;
        assert_eq!(response.status().as_u16(), 401);
    }
    // A new address in the header does not buy new attempts: the peer address is the client.
    let response = app
        .login_with(
            &other.email,
            PASSWORD,
            &[("X-Forwarded-For", "203.0.113.3")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 429);
    let entries = app.audit_entries().await;
    assert!(
        entries
            .iter()
            .filter(|e| e.action == "auth.login_failed")
            .all(|e| e.ip.as_deref() == Some("127.0.0.1")),
        "the audit log records the peer, not the header"
    );
}

async fn api_responses_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.staff("counselor", &[]).await;
    let check = |response: &reqwest::Response, what: &str| {
        let h = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}: {}",
            h("content-security-policy")
        );
        assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
        assert!(h("cache-control").contains("no-store"), "{what}");
    };
    let me = app.get_as(&user.token, "/api/v1/auth/me").await;
    check(&me, "GET /api/v1/auth/me");
    let queue = app.get_as(&user.token, "/api/v1/alerts").await;
    check(&queue, "GET /api/v1/alerts");
    let login = app.login(&user.email, PASSWORD).await;
    check(&login, "POST /api/v1/auth/login (it carries a token)");
    let denied = app.get("/api/v1/alerts").await;
    check(&denied, "a 401");
    assert!(
        denied
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer")),
        "a 401 has WWW-Authenticate: {:?}",
        denied.headers()
    );
    let (status, body) = status_json(denied).await;
    assert_eq!(status, 401);
    crate::helpers::assert_error_shape(&body, "unauthorized");
}

backend_tests!(
    forged_tokens_are_refused_and_a_correct_forgery_proves_the_forger,
    signing_out_ends_that_session_at_once,
    a_password_change_ends_every_session_and_starts_a_new_one,
    an_admin_change_of_role_sites_password_or_active_ends_the_sessions,
    every_sign_in_failure_gets_one_message_and_an_audit_row_without_the_password,
    a_sign_in_that_is_not_json_or_not_a_sign_in_is_refused,
    the_sixth_wrong_password_is_throttled_and_so_is_the_right_one,
    x_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy,
    api_responses_carry_security_headers,
);
