//! Signing in and out, and changing one's own password.
//!
//! The sign-in form has no session yet, so it uses the rider pages' double-submit CSRF token
//! (a cookie and the same value in a field) plus the Origin check. Every failure shows one
//! message whatever was wrong; the password is never echoed back or logged.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{LoginPage, PasswordPage, WsBase};
use super::{Anonymous, Ctx, Fields, home_of, render, render_with, see_other, see_other_with};
use crate::accounts::{self, AdminError, AuthError};
use crate::http::auth::{self as session, client_ip};
use crate::http::run;
use crate::i18n::Tr;
use crate::state::AppState;
use crate::web::{csrf, request};

/// A local path to go back to after signing in: one that starts with a single `/` and holds
/// no backslash or control character (so it cannot name another site).
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2000;
    local.then(|| next.to_string())
}

fn login_form(
    req: &HttpRequest,
    t: Tr,
    next: Option<String>,
    email: String,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let (token, cookie) = csrf::token(req);
    let page = LoginPage {
        base: WsBase::anonymous(t, t.tr("ws-login-title")),
        csrf: token,
        next: next.unwrap_or_default(),
        email,
        error,
        notice: request::query_param(req, "reset")
            .is_some()
            .then(|| t.tr("ws-reset-done")),
    };
    render_with(&page, status, cookie.into_iter().collect())
}

/// `GET /login`: the form (or, already signed in, where the user works).
pub(super) async fn login_page(req: HttpRequest) -> HttpResponse {
    let next = safe_next(request::query_param(&req, "next").as_deref());
    if let Ok(Some(auth)) = session::resolve(&req).await {
        return see_other(&next.unwrap_or_else(|| home_of(auth.principal.role).to_string()));
    }
    let t = Tr(request::negotiate(&req).0);
    login_form(&req, t, next, String::new(), None, StatusCode::OK)
}

/// `POST /login`.
pub(super) async fn login(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let t = Tr(request::negotiate(&req).0);
    let next = safe_next(fields.get("next"));
    let email = fields.text("email").trim().to_string();
    if !csrf::verify(&req, fields.get(csrf::FIELD)) {
        tracing::warn!("sign-in refused: missing or wrong CSRF token, or another origin");
        return login_form(
            &req,
            t,
            next,
            email,
            Some(t.tr("ws-login-expired")),
            StatusCode::FORBIDDEN,
        );
    }
    let password = fields.text("password");
    let ip = client_ip(&req, &state);
    let attempt = email.clone();
    let result = run(&state, move |conn, state| {
        Ok::<_, crate::http::ApiError>(accounts::login(
            conn,
            &state.accounts,
            &attempt,
            &password,
            ip,
        ))
    })
    .await;
    match result {
        Ok(Ok(signed)) => {
            tracing::info!(user = %signed.principal.user_id, "signed in on the sign-in page");
            let cookie = session::session_cookie(&req, signed.token, state.accounts.session_ttl);
            let to = next.unwrap_or_else(|| home_of(signed.principal.role).to_string());
            see_other_with(&to, vec![cookie])
        }
        Ok(Err(AuthError::BadCredentials)) => {
            tracing::info!("sign-in failed");
            login_form(
                &req,
                t,
                next,
                email,
                Some(t.tr("ws-login-failed")),
                StatusCode::UNAUTHORIZED,
            )
        }
        Ok(Err(AuthError::Throttled(wait))) => {
            tracing::info!(wait_s = wait.as_secs(), "sign-in throttled");
            let minutes = i64::try_from(wait.as_secs().div_ceil(60).max(1)).unwrap_or(15);
            let message = format!(
                "{} {}",
                t.tr("ws-login-failed"),
                t.tr_n("ws-login-wait", "n", minutes)
            );
            let mut response = login_form(
                &req,
                t,
                next,
                email,
                Some(message),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Ok(Err(e)) => super::failure_page(None, t.lang(), e.into()),
        Err(e) => super::failure_page(None, t.lang(), e),
    }
}

/// `POST /logout`: ends this session at once.
pub(super) async fn logout(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match super::signed_in(&req, &[], Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(&req, &state, &ctx) {
        return ctx.csrf_refused("logout");
    }
    let who = ctx.who().clone();
    match run(&state, move |conn, _| accounts::logout(conn, &who)).await {
        Ok(()) => {
            tracing::info!(user = %ctx.who().user_id, "signed out");
            see_other_with("/login", vec![session::clear_session_cookie(&req)])
        }
        Err(e) => ctx.failure(e),
    }
}

fn password_form(
    ctx: &Ctx,
    error: Option<String>,
    changed: bool,
    status: StatusCode,
) -> HttpResponse {
    let t = ctx.t();
    let page = PasswordPage {
        base: ctx.base(t.tr("ws-password-title"), "/account/password"),
        csrf: ctx.csrf.clone(),
        error,
        changed,
    };
    render(&page, status)
}

/// `GET /account/password`.
pub(super) async fn password_page(req: HttpRequest) -> HttpResponse {
    let ctx = match super::signed_in(&req, &[], Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let changed = request::query_param(&req, "changed").is_some();
    password_form(&ctx, None, changed, StatusCode::OK)
}

/// `POST /account/password`: every session of the user ends; this browser gets a new one.
pub(super) async fn change_password(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match super::signed_in(&req, &[], Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(&req, &state, &ctx) {
        return ctx.csrf_refused("password");
    }
    let t = ctx.t();
    let current = fields.text("current_password");
    let new = fields.text("new_password");
    let refuse = |key: &str| {
        password_form(
            &ctx,
            Some(t.tr(key)),
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    if new != fields.text("repeat_password") {
        return refuse("ws-password-mismatch");
    }
    if accounts::password::check_new(&new).is_err() {
        return refuse("ws-password-weak");
    }
    if new == current {
        return refuse("ws-password-same");
    }
    let who = ctx.who().clone();
    let result = run(&state, move |conn, state| {
        Ok::<_, crate::http::ApiError>(accounts::change_password(
            conn,
            &state.accounts,
            &who,
            &current,
            &new,
        ))
    })
    .await;
    match result {
        Ok(Ok(signed)) => {
            tracing::info!(user = %ctx.who().user_id, "password changed");
            let cookie = session::session_cookie(&req, signed.token, state.accounts.session_ttl);
            see_other_with("/account/password?changed=1", vec![cookie])
        }
        Ok(Err(AdminError::Invalid { field, .. })) if field == "current_password" => {
            refuse("ws-password-current")
        }
        Ok(Err(AdminError::Invalid { .. })) => refuse("ws-password-weak"),
        Ok(Err(e)) => ctx.failure(e),
        Err(e) => ctx.failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(
            safe_next(Some("/queue/A-7F3K")).as_deref(),
            Some("/queue/A-7F3K")
        );
        assert_eq!(
            safe_next(Some("/queue?tier=red")).as_deref(),
            Some("/queue?tier=red")
        );
        for bad in [
            "//evil.example/x",
            "https://evil.example/",
            "/\\evil.example",
            "queue",
            "",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }
}
