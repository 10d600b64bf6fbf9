//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET /api/v1/auth/me`,
//! `POST /api/v1/auth/password`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Auth, Via, client_ip};
use super::{ApiError, error, json_as, run};
use crate::accounts::{self, Role, SignedIn};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "counselor@example.org")]
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginRequest(<redacted>)")
    }
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Sites served; empty means all.
    pub sites: Vec<String>,
    pub locale: String,
    /// For requests made with the session cookie: send it as `X-CSRF-Token`.
    pub csrf_token: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// UTC, RFC 3339.
    pub expires_at: String,
    pub user: Me,
}

pub(crate) fn me(state: &AppState, p: &accounts::Principal) -> Me {
    Me {
        id: p.user_id.clone(),
        email: p.email.clone(),
        name: p.name.clone(),
        role: p.role,
        sites: p.sites.clone(),
        locale: p.locale.clone(),
        csrf_token: super::auth::csrf_for(state, &p.session_id),
    }
}

fn session(state: &AppState, s: &SignedIn) -> Session {
    Session {
        token: s.token.clone(),
        token_type: "Bearer".into(),
        expires_at: s
            .expires_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        user: me(state, &s.principal),
    }
}

/// Signs in with email and password.
///
/// Every failure (unknown email, wrong password, disabled account) answers the same 401.
/// After repeated failures from one address or for one account, attempts are refused with 429
/// and `Retry-After` (right password or not) until the delay has passed.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = Session),
        (status = 400, description = "Not a sign-in request.", body = error::Body),
        (status = 401, description = "The email or password is not right, or the account is disabled.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 429, description = "Too many failures: wait `Retry-After` seconds.", body = error::Body,
            headers(("Retry-After" = String, description = "Seconds to wait."))),
        (status = 500, description = "Unexpected failure.", body = error::Body),
    )
)]
pub(super) async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: LoginRequest = json_as(&req, payload, 16 * 1024, "a sign-in request").await?;
    let ip = client_ip(&req, &state);
    let signed = run(&state, move |conn, state| {
        accounts::login(conn, &state.accounts, &request.email, &request.password, ip)
    })
    .await?;
    tracing::info!(user = %signed.principal.user_id, "signed in");
    Ok(HttpResponse::Ok().json(session(&state, &signed)))
}

/// Ends this session at once (the token stops working everywhere).
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out."),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Cookie request without the CSRF token.", body = error::Body),
    )
)]
pub(super) async fn logout(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let principal = auth.principal.clone();
    run(&state, move |conn, _| accounts::logout(conn, &principal)).await?;
    let mut response = HttpResponse::NoContent();
    if auth.via == Via::Cookie {
        response.cookie(super::auth::clear_session_cookie(&req));
    }
    Ok(response.finish())
}

/// The signed-in user, and the CSRF token for cookie requests.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user.", body = Me),
        (status = 401, description = "Not signed in.", body = error::Body),
    )
)]
pub(super) async fn whoami(auth: Auth, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(me(&state, &auth.principal))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange(<redacted>)")
    }
}

/// Changes the signed-in user's password. Every session of the user ends (other devices are
/// signed out); the answer carries a new session for this client.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    security(("bearer" = [])),
    request_body(content = PasswordChange, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed: a new session.", body = Session),
        (status = 400, description = "Not a password change request.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Cookie request without the CSRF token.", body = error::Body),
        (status = 422, description = "The current password is not right, or the new one is too short.", body = error::Body),
    )
)]
pub(super) async fn change_password(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: PasswordChange = json_as(&req, payload, 16 * 1024, "a password change").await?;
    let principal = auth.principal.clone();
    let signed = run(&state, move |conn, state| {
        accounts::change_password(
            conn,
            &state.accounts,
            &principal,
            &request.current_password,
            &request.new_password,
        )
    })
    .await?;
    let mut response = HttpResponse::Ok();
    if auth.via == Via::Cookie {
        response.cookie(super::auth::session_cookie(
            &req,
            signed.token.clone(),
            state.settings.auth.session_ttl,
        ));
    }
    Ok(response.json(session(&state, &signed)))
}
