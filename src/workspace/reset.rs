//! Password reset by email (issue 13): `GET|POST /login/forgot` asks for a link,
//! `GET|POST /login/reset` sets a new password through it. Nobody is signed in, so the forms
//! use the sign-in page's double-submit CSRF token plus the Origin check.
//!
//! The answer to a request is the same page, status and timing for known and unknown
//! addresses: the mail goes out from a task of its own, after the answer, with the mailer's
//! outer timeout. Logs carry the reset's id only: never the address or the token.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{ForgotPage, ResetPage, WsBase};
use super::{Fields, render_with, see_other_with};
use crate::accounts::reset::{self, RequestError, ResetMail};
use crate::accounts::{AdminError, password};
use crate::http::auth::client_ip;
use crate::http::run;
use crate::i18n::Tr;
use crate::notify;
use crate::state::AppState;
use crate::web::{csrf, request};

fn forgot_form(
    req: &HttpRequest,
    t: Tr,
    email: String,
    error: Option<String>,
    sent: bool,
    status: StatusCode,
) -> HttpResponse {
    let (token, cookie) = csrf::token(req);
    let page = ForgotPage {
        base: WsBase::anonymous(t, t.tr("ws-forgot-title")),
        csrf: token,
        email,
        error,
        sent,
    };
    render_with(&page, status, cookie.into_iter().collect())
}

/// `GET /login/forgot`.
pub(super) async fn forgot_page(req: HttpRequest) -> HttpResponse {
    let t = Tr(request::negotiate(&req).0);
    forgot_form(&req, t, String::new(), None, false, StatusCode::OK)
}

/// Whether `email` can be an address at all (anything else is refused before any lookup; the
/// refusal says nothing about accounts).
fn plausible(email: &str) -> bool {
    let email = email.trim();
    !email.is_empty()
        && email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `POST /login/forgot`.
pub(super) async fn forgot(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let t = Tr(request::negotiate(&req).0);
    let email = fields.text("email").trim().to_string();
    if !csrf::verify(&req, fields.get(csrf::FIELD)) {
        tracing::warn!("reset request refused: missing or wrong CSRF token, or another origin");
        let error = Some(t.tr("ws-forgot-expired"));
        return forgot_form(&req, t, email, error, false, StatusCode::FORBIDDEN);
    }
    if !plausible(&email) {
        let error = Some(t.tr("ws-forgot-bad-email"));
        return forgot_form(
            &req,
            t,
            email,
            error,
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let ip = client_ip(&req, &state);
    let asked = email.clone();
    let result = run(&state, move |conn, state| {
        Ok::<_, crate::http::ApiError>(reset::request(conn, &state.accounts, &asked, ip))
    })
    .await;
    match result {
        Ok(Ok(mail)) => {
            if let Some(mail) = mail {
                tracing::info!(reset = %mail.reset_id, "password reset link issued");
                send(&state, mail);
            }
            forgot_form(&req, t, String::new(), None, true, StatusCode::OK)
        }
        Ok(Err(RequestError::Throttled(wait))) => {
            tracing::info!(wait_s = wait.as_secs(), "password reset request throttled");
            let minutes = i64::try_from(wait.as_secs().div_ceil(60).max(1)).unwrap_or(15);
            let error = Some(t.tr_n("ws-forgot-wait", "n", minutes));
            let mut response =
                forgot_form(&req, t, email, error, false, StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Ok(Err(RequestError::Db(e))) => super::failure_page(None, t.lang(), e.into()),
        Err(e) => super::failure_page(None, t.lang(), e),
    }
}

/// Sends the link from a task of its own: the answer does not wait for the mail server (so a
/// known address is not told apart by time), and the mailer's outer timeout bounds the send.
fn send(state: &web::Data<AppState>, mail: ResetMail) {
    let settings = state.settings.mail.clone();
    actix_web::rt::spawn(async move {
        let key = format!("reset:{}", mail.reset_id);
        let minutes = i64::try_from(reset::LINK_TTL.as_secs() / 60).unwrap_or(30);
        match notify::send_reset(
            &settings,
            &mail.to,
            &mail.locale,
            &mail.token,
            minutes,
            &key,
        )
        .await
        {
            Ok(()) => tracing::info!(reset = %mail.reset_id, "password reset mail sent"),
            Err(e) => {
                tracing::warn!(reset = %mail.reset_id, error = %e, "password reset mail not sent");
            }
        }
    });
}

fn reset_form(
    req: &HttpRequest,
    t: Tr,
    token: String,
    error: Option<String>,
    dead: bool,
    status: StatusCode,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token(req);
    let page = ResetPage {
        base: WsBase::anonymous(t, t.tr("ws-reset-title")),
        csrf: csrf_token,
        token,
        error,
        dead,
    };
    render_with(&page, status, cookie.into_iter().collect())
}

/// A token as mailed: URL-safe base64 of 32 bytes. Anything else is dead without a lookup.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// `GET /login/reset?token=`: the form, or that the link is unknown, used or expired (410).
pub(super) async fn reset_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let t = Tr(request::negotiate(&req).0);
    let token = request::query_param(&req, "token").unwrap_or_default();
    if !well_formed(&token) {
        return reset_form(&req, t, String::new(), None, true, StatusCode::GONE);
    }
    let probe = token.clone();
    match run(&state, move |conn, _| reset::link_is_live(conn, &probe)).await {
        Ok(true) => reset_form(&req, t, token, None, false, StatusCode::OK),
        Ok(false) => reset_form(&req, t, String::new(), None, true, StatusCode::GONE),
        Err(e) => super::failure_page(None, t.lang(), e),
    }
}

/// `POST /login/reset`: sets the password, ends every session of the user, and sends the
/// browser to the sign-in page.
pub(super) async fn reset(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let t = Tr(request::negotiate(&req).0);
    let token = fields.text("token");
    if !csrf::verify(&req, fields.get(csrf::FIELD)) {
        tracing::warn!("password reset refused: missing or wrong CSRF token, or another origin");
        let error = Some(t.tr("ws-forgot-expired"));
        return reset_form(&req, t, token, error, false, StatusCode::FORBIDDEN);
    }
    if !well_formed(&token) {
        return reset_form(&req, t, String::new(), None, true, StatusCode::GONE);
    }
    let new = fields.text("new_password");
    let refuse = |key: &str, token: String| {
        reset_form(
            &req,
            t,
            token,
            Some(t.tr(key)),
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    if new != fields.text("repeat_password") {
        return refuse("ws-password-mismatch", token);
    }
    if password::check_new(&new).is_err() {
        return refuse("ws-password-weak", token);
    }
    let ip = client_ip(&req, &state);
    let given = token.clone();
    let result = run(&state, move |conn, _| {
        Ok::<_, crate::http::ApiError>(reset::complete(conn, &given, &new, ip))
    })
    .await;
    match result {
        Ok(Ok(user)) => {
            tracing::info!(user = %user, "password reset through a link");
            see_other_with(
                "/login?reset=1",
                vec![crate::http::auth::clear_session_cookie(&req)],
            )
        }
        Ok(Err(AdminError::Invalid { field, .. })) if field == "token" => {
            reset_form(&req, t, String::new(), None, true, StatusCode::GONE)
        }
        Ok(Err(AdminError::Invalid { .. })) => refuse("ws-password-weak", token),
        Ok(Err(e)) => super::failure_page(None, t.lang(), e.into()),
        Err(e) => super::failure_page(None, t.lang(), e),
    }
}
