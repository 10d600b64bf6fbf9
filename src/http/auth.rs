//! Who is asking: the session token from `Authorization: Bearer` (API clients) or the session
//! cookie (the browser), checked against the sessions table on every request; the client's
//! address (X-Forwarded-For only from configured proxies); and CSRF for cookie requests.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};

use super::ApiError;
use crate::accounts::{self, AuthError, Principal, Role};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "careline_session";
/// The header API calls made with the cookie carry the CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// The hidden form field pages carry it in.
pub const CSRF_FIELD: &str = "csrf-token";

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie,
}

/// A signed-in user. Extracting it fails with 401 when there is no live session, and (for the
/// JSON API) with 403 when a cookie-authenticated request that changes state lacks the CSRF
/// header or comes from another origin.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    pub via: Via,
}

impl Auth {
    /// The CSRF token of this session: a MAC of the session id, so it needs no storage and
    /// dies with the session.
    pub fn csrf_token(&self, state: &AppState) -> String {
        csrf_for(state, &self.principal.session_id)
    }

    pub fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.principal.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this area is for {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )))
        }
    }
}

pub fn csrf_for(state: &AppState, session_id: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(state.settings.auth.jwt_key.as_bytes())
            .expect("HMAC takes a key of any length");
    mac.update(b"csrf\0");
    mac.update(session_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `Origin` (or, without it, `Referer`) names this site. A browser sends one of them
/// on every cross-site POST; with neither, the request is not from a browser page.
pub fn same_origin(req: &HttpRequest) -> bool {
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER));
    let Some(source) = source else {
        return true;
    };
    let Ok(source) = source.to_str() else {
        return false;
    };
    let Some((scheme, rest)) = source.split_once("://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let info = req.connection_info();
    scheme.eq_ignore_ascii_case(info.scheme()) && host.eq_ignore_ascii_case(info.host())
}

/// Checks a cookie request's CSRF token (field or header) and origin.
pub fn csrf_ok(req: &HttpRequest, state: &AppState, auth: &Auth, given: Option<&str>) -> bool {
    if auth.via == Via::Bearer {
        return true;
    }
    let expected = auth.csrf_token(state);
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) && same_origin(req)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let trusted = &state.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("X-Forwarded-For")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    let client = forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .copied()
        .unwrap_or(peer);
    Some(client.to_string())
}

fn token_of(req: &HttpRequest) -> Option<(String, Via)> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| (token.trim().to_string(), Via::Bearer));
    }
    req.cookie(SESSION_COOKIE)
        .map(|c| (c.value().to_string(), Via::Cookie))
}

/// Resolves the session of a request (no CSRF check): `None` when not signed in.
pub async fn resolve(req: &HttpRequest) -> Result<Option<Auth>, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal("no application state"));
    };
    let Some((token, via)) = token_of(req) else {
        return Ok(None);
    };
    if token.is_empty() || token.len() > 4096 {
        return Ok(None);
    }
    let ip = client_ip(req, &state);
    let result = web::block(move || {
        let mut conn = state.pool.get().map_err(crate::db::DbError::from)?;
        accounts::authenticate(&mut conn, &state.accounts, &token, ip)
    })
    .await?;
    match result {
        Ok(principal) => Ok(Some(Auth { principal, via })),
        Err(AuthError::Unauthenticated) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = resolve(&req).await?.ok_or(ApiError::Unauthorized)?;
            if auth.via == Via::Cookie && !is_safe(req.method()) {
                let state = req
                    .app_data::<web::Data<AppState>>()
                    .cloned()
                    .ok_or_else(|| ApiError::internal("no application state"))?;
                let given = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                if !csrf_ok(&req, &state, &auth, given) {
                    return Err(ApiError::Forbidden(
                        "a request made with the session cookie needs the X-CSRF-Token header and must come from this site".into(),
                    ));
                }
            }
            Ok(auth)
        })
    }
}

/// The session cookie: HttpOnly, SameSite=Strict, Secure except on plain-http localhost.
pub fn session_cookie(
    req: &HttpRequest,
    token: String,
    max_age: std::time::Duration,
) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!is_plain_localhost(req))
        .max_age(time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(43_200),
        ))
        .finish()
}

pub fn clear_session_cookie(req: &HttpRequest) -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!is_plain_localhost(req))
        .finish();
    c.make_removal();
    c
}

/// Plain http to localhost (development, tests): browsers drop `Secure` cookies there.
fn is_plain_localhost(req: &HttpRequest) -> bool {
    let info = req.connection_info();
    let host = info.host();
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    info.scheme() == "http" && matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}
