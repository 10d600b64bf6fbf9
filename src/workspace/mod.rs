//! The staff workspace: server-rendered pages for counselors, supervisors and admins.
//!
//! Routes: `GET|POST /login`, `GET|POST /login/forgot` and `GET|POST /login/reset` (password
//! reset by email), `POST /logout`, `GET|POST /account/password`; `GET /queue` (the
//! risk-ordered queue), `GET /queue/rows` (its table body, for the page's live refresh),
//! `POST /queue/take-next`, `GET /queue/{ref}` (the alert page) and
//! `POST /queue/{ref}/{acknowledge|unacknowledge|notes|resolve|assign}`; `GET /admin`,
//! `POST /admin/users`, `POST /admin/users/{id}`, `POST /admin/sites`,
//! `POST /admin/sites/{slug}` and `GET /admin/audit`; `GET|POST /rosters` (duty rosters, for
//! everyone; changes by supervisors and admins) and `POST /rosters/{id}/delete`; `GET /reports`
//! (programme reports, supervisors and admins).
//!
//! Access: not signed in -> 303 to `/login?next=`; a signed-in user of the wrong role -> 403
//! (whole areas); an alert that is not theirs to see -> 404. Every POST made with the session
//! cookie carries the session's CSRF token in a hidden field and must come from this site.
//! The pages are complete without JavaScript; `workspace.js` only refreshes the queue live.
//!
//! Logs carry ids only: never answers, names, phone numbers or emails.
//!
//! Layer: edges (above `web`, whose page plumbing it shares). ARCHITECTURE.md maps the layers.

mod account;
mod admin;
mod notifier;
mod questionnaires;
mod queue;
mod reports;
mod reset;
mod rosters;
mod views;

#[cfg(test)]
mod rosters_tests;
#[cfg(test)]
mod tests;

use actix_web::cookie::Cookie;
use actix_web::error::UrlencodedError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use self::views::{ErrorPage, WsBase};
use crate::accounts::{Principal, Role};
use crate::http::ApiError;
use crate::http::auth::{self, Auth};
use crate::i18n::{Lang, Tr};
use crate::state::AppState;
use crate::web::request;

/// The largest form body accepted (a note is at most 4000 characters).
const FORM_LIMIT: usize = 64 * 1024;

/// Workspace pages fetch the queue's rows and listen to its event stream: `connect-src 'self'`
/// on top of the rider pages' policy. Still no inline script or style anywhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Registers the workspace pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let form = web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, req| {
            let status = match &err {
                UrlencodedError::Overflow { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                UrlencodedError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::info!(status = status.as_u16(), "workspace form body refused");
            let page = error_page(
                Tr(request::negotiate(req).0),
                None,
                "ws-error-400-title",
                "ws-error-400-body",
            );
            actix_web::error::InternalError::from_response(err, render(&page, status)).into()
        });
    // A questionnaire's whole text, URL-encoded (Chinese triples in size): more room.
    let text_form = form.clone().limit(2 * 1024 * 1024);
    let post = |path: &str, handler| {
        web::resource(path.to_string())
            .app_data(form.clone())
            .route(handler)
    };
    cfg.service(
        post("/login", web::post().to(account::login)).route(web::get().to(account::login_page)),
    )
    .service(
        post("/login/forgot", web::post().to(reset::forgot))
            .route(web::get().to(reset::forgot_page)),
    )
    .service(
        post("/login/reset", web::post().to(reset::reset)).route(web::get().to(reset::reset_page)),
    )
    .service(post("/logout", web::post().to(account::logout)))
    .service(
        post(
            "/account/password",
            web::post().to(account::change_password),
        )
        .route(web::get().to(account::password_page)),
    )
    .route("/queue", web::get().to(queue::page))
    // Before `/queue/{ref}`: neither is an alert.
    .route("/queue/rows", web::get().to(queue::rows))
    .service(post("/queue/take-next", web::post().to(queue::take_next)))
    .route("/queue/clusters/{id}", web::get().to(queue::cluster))
    .service(post(
        "/queue/clusters/{id}/{action}",
        web::post().to(queue::cluster_act),
    ))
    .route("/queue/{ref}", web::get().to(queue::alert))
    // Before the POST-only `/queue/{ref}/{action}`, which would answer a GET with 405.
    .route("/queue/{ref}/viewers", web::get().to(queue::viewers))
    .service(post("/queue/{ref}/{action}", web::post().to(queue::act)))
    .route("/admin", web::get().to(admin::page))
    .route("/admin/audit", web::get().to(admin::audit))
    .route("/admin/questionnaires", web::get().to(questionnaires::list))
    .route(
        "/admin/questionnaires/{id}",
        web::get().to(questionnaires::detail),
    )
    .service(
        web::resource("/admin/questionnaires/{id}/preview")
            .app_data(text_form.clone())
            .route(web::post().to(questionnaires::preview)),
    )
    .service(
        web::resource("/admin/questionnaires/{id}/publish")
            .app_data(text_form)
            .route(web::post().to(questionnaires::publish)),
    )
    .service(post(
        "/admin/questionnaires/{id}/{action}",
        web::post().to(questionnaires::offer),
    ))
    .route("/reports", web::get().to(reports::page))
    .service(post("/admin/users", web::post().to(admin::create_user)))
    .service(post(
        "/admin/users/{id}",
        web::post().to(admin::update_user),
    ))
    .service(post("/admin/sites", web::post().to(admin::create_site)))
    .service(post(
        "/admin/contacts/erase",
        web::post().to(admin::erase_contacts),
    ))
    .service(post(
        "/admin/sites/{slug}",
        web::post().to(admin::rename_site),
    ))
    .service(post("/rosters", web::post().to(rosters::create)).route(web::get().to(rosters::page)))
    .service(post(
        "/rosters/{id}/delete",
        web::post().to(rosters::delete),
    ));
}

// ---- who is asking ----------------------------------------------------------------------

/// A signed-in user on a workspace page.
#[derive(Debug, Clone)]
struct Ctx {
    auth: Auth,
    lang: Lang,
    /// The session's CSRF token, for the hidden field of every form.
    csrf: String,
    /// What the page warns of about duty cover (GET pages only; issue 13).
    coverage: Option<crate::jobs::gaps::Coverage>,
}

impl Ctx {
    fn who(&self) -> &Principal {
        &self.auth.principal
    }

    fn t(&self) -> Tr {
        Tr(self.lang)
    }

    fn base(&self, title: String, current: &str) -> WsBase {
        WsBase::signed_in(self, title, current)
    }

    /// The generic error page for this user (with the nav bar).
    fn error(&self, status: StatusCode, heading: &str, body: &str) -> HttpResponse {
        render(&error_page(self.t(), Some(self), heading, body), status)
    }

    fn forbidden_area(&self) -> HttpResponse {
        self.error(
            StatusCode::FORBIDDEN,
            "ws-error-403-title",
            "ws-error-403-body",
        )
    }

    fn not_found(&self) -> HttpResponse {
        self.error(
            StatusCode::NOT_FOUND,
            "ws-error-404-title",
            "ws-error-404-body",
        )
    }

    fn bad_request(&self) -> HttpResponse {
        self.error(
            StatusCode::BAD_REQUEST,
            "ws-error-400-title",
            "ws-error-400-body",
        )
    }

    /// A CSRF refusal: nothing was changed.
    fn csrf_refused(&self, what: &'static str) -> HttpResponse {
        tracing::warn!(user = %self.who().user_id, form = what, "refused: missing or wrong CSRF token, or another origin");
        self.error(
            StatusCode::FORBIDDEN,
            "ws-error-csrf-title",
            "ws-error-csrf-body",
        )
    }

    /// A failure: the database unreachable is a 503 with `Retry-After`; anything else is
    /// unexpected, logged with a reference, an opaque 500 page for the user.
    fn failure(&self, e: impl Into<ApiError>) -> HttpResponse {
        failure_page(Some(self), self.lang, e.into())
    }
}

fn lang_of(p: &Principal) -> Lang {
    Lang::parse(&p.locale).unwrap_or(Lang::DEFAULT)
}

/// Where a user lands after signing in.
fn home_of(role: Role) -> &'static str {
    if role.works_alerts() {
        "/queue"
    } else {
        "/admin"
    }
}

/// What to answer when a page is asked for without a usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anonymous {
    /// Send the browser to the sign-in page, coming back here afterwards (GET pages).
    SignIn,
    /// Send the browser to the sign-in page (POSTs: their target cannot be opened again).
    SignInPlain,
    /// A bare 401 (the queue's live rows: a script fetches them).
    Unauthorized,
}

/// The signed-in user of a page, if their role is one of `roles` (empty: any role); otherwise
/// the response to send instead.
async fn signed_in(
    req: &HttpRequest,
    roles: &[Role],
    anonymous: Anonymous,
) -> Result<Ctx, HttpResponse> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| {
            failure_page(
                None,
                Lang::DEFAULT,
                ApiError::internal("no application state"),
            )
        })?;
    let auth = match auth::resolve(req).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Err(match anonymous {
                Anonymous::Unauthorized => HttpResponse::Unauthorized()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .content_type("text/plain; charset=utf-8")
                    .body("sign in first"),
                Anonymous::SignIn => see_other(&format!("/login?next={}", encode_next(req))),
                Anonymous::SignInPlain => see_other("/login"),
            });
        }
        Err(e) => return Err(failure_page(None, request::negotiate(req).0, e)),
    };
    let mut ctx = Ctx {
        lang: lang_of(&auth.principal),
        csrf: auth.csrf_token(&state),
        auth,
        coverage: None,
    };
    if !roles.is_empty() && !roles.contains(&ctx.who().role) {
        tracing::info!(user = %ctx.who().user_id, role = ctx.who().role.as_str(), path = req.path(), "refused: not this role's area");
        return Err(ctx.forbidden_area());
    }
    if req.method() == actix_web::http::Method::GET && anonymous != Anonymous::Unauthorized {
        ctx.coverage = coverage(&state, req.path()).await;
    }
    Ok(ctx)
}

/// The pages that list the gaps of the next 24 hours; every page says when no shift exists.
const GAP_PAGES: [&str; 3] = ["/queue", "/rosters", "/admin"];

/// What a page warns of about duty cover. A failure to read it never fails the page.
async fn coverage(state: &web::Data<AppState>, path: &str) -> Option<crate::jobs::gaps::Coverage> {
    use crate::jobs::gaps::Coverage;
    let with_gaps = GAP_PAGES.contains(&path);
    let result = crate::http::run(state, move |conn, _| {
        let now = chrono::Utc::now().naive_utc();
        if with_gaps {
            crate::jobs::gaps::coverage_now(conn, now)
        } else if crate::db::rosters::any_from(conn, now)? {
            Ok(Coverage::Gaps(Vec::new()))
        } else {
            Ok(Coverage::NoShifts)
        }
    })
    .await;
    match result {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read duty cover for the page's banner");
            None
        }
    }
}

/// The path and query of this request, percent-encoded as one query value.
fn encode_next(req: &HttpRequest) -> String {
    let mut next = req.path().to_string();
    if !req.query_string().is_empty() {
        next.push('?');
        next.push_str(req.query_string());
    }
    url_encode(&next)
}

/// Percent-encodes everything but unreserved characters (for a query value).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The form fields of a POST, in order, duplicates kept (multi-selects repeat a name).
#[derive(Debug)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether the session's CSRF token is in the form and the request comes from this site.
    fn csrf_ok(&self, req: &HttpRequest, state: &AppState, ctx: &Ctx) -> bool {
        auth::csrf_ok(req, state, &ctx.auth, self.get(auth::CSRF_FIELD))
    }
}

// ---- responses --------------------------------------------------------------------------

/// Headers every workspace response carries: nothing here may be cached, framed or leak a
/// referrer.
fn harden(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
}

fn render<T: Template>(page: &T, status: StatusCode) -> HttpResponse {
    render_with(page, status, Vec::new())
}

fn render_with<T: Template>(
    page: &T,
    status: StatusCode,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot render a workspace page");
            return HttpResponse::InternalServerError()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/plain; charset=utf-8")
                .body("internal error");
        }
    };
    let mut response = HttpResponse::build(status);
    response.content_type("text/html; charset=utf-8");
    harden(&mut response);
    for c in cookies {
        response.cookie(c);
    }
    response.body(body)
}

/// 303 See Other: after a POST, the browser fetches `location` with GET.
fn see_other(location: &str) -> HttpResponse {
    see_other_with(location, Vec::new())
}

fn see_other_with(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_string()));
    harden(&mut response);
    for c in cookies {
        response.cookie(c);
    }
    response.finish()
}

fn error_page(t: Tr, ctx: Option<&Ctx>, heading: &str, body: &str) -> ErrorPage {
    let heading = t.tr(heading);
    let base = match ctx {
        Some(ctx) => ctx.base(heading.clone(), ""),
        None => WsBase::anonymous(t, heading.clone()),
    };
    ErrorPage {
        base,
        heading,
        body: t.tr(body),
    }
}

fn failure_page(ctx: Option<&Ctx>, lang: Lang, e: ApiError) -> HttpResponse {
    if let ApiError::Unavailable(m) = &e {
        tracing::error!(error = %m, "a workspace page failed: no database");
        let mut response = render(
            &error_page(Tr(lang), ctx, "ws-error-503-title", "ws-error-503-body"),
            StatusCode::SERVICE_UNAVAILABLE,
        );
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(crate::http::error::RETRY_AFTER_SECONDS),
        );
        return response;
    }
    let e = match e {
        ApiError::Internal(detail) => detail,
        other => other.to_string(),
    };
    let reference = uuid::Uuid::new_v4();
    tracing::error!(%reference, error = %e, "a workspace page failed");
    render(
        &error_page(Tr(lang), ctx, "ws-error-500-title", "ws-error-500-body"),
        StatusCode::INTERNAL_SERVER_ERROR,
    )
}

/// A use case's failure that is not its own typed error (the pool, the blocking pool).
fn run_failure(ctx: &Ctx, e: ApiError) -> HttpResponse {
    ctx.failure(e)
}

// ---- small formatting helpers shared by the pages -----------------------------------------

/// `2026-11-29 12:21 北京时间` from an RFC 3339 time: China time, where the programme runs,
/// labelled in the reader's language (issue 13: every staff page shows China time, labelled).
fn display_time(t: Tr, rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|at| china_label(t, at.naive_utc(), "%Y-%m-%d %H:%M"))
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// A UTC time in China time with `format`, then the label ("北京时间", "China time").
fn china_label(t: Tr, utc: chrono::NaiveDateTime, format: &str) -> String {
    format!(
        "{} {}",
        crate::china_time::local(utc).format(format),
        t.tr("ws-china-time")
    )
}

/// "12 min left" / "overdue by 3 min": minutes under an hour, hours under two days, else days.
fn time_left(t: Tr, seconds: i64) -> String {
    let overdue = seconds < 0;
    let s = seconds.unsigned_abs();
    let (key, n) = if s < 3600 {
        ("minutes", s.div_ceil(60).max(1))
    } else if s < 48 * 3600 {
        ("hours", s / 3600)
    } else {
        ("days", s / 86_400)
    };
    let key = format!("ws-{}-{key}", if overdue { "overdue" } else { "left" });
    t.tr_n(&key, "n", i64::try_from(n).unwrap_or(i64::MAX))
}

fn tier_label(t: Tr, tier: crate::questionnaire::Tier) -> String {
    t.tr(&format!("ws-tier-{}", tier.as_str()))
}

fn role_label(t: Tr, role: Role) -> String {
    t.tr(&format!("ws-role-{}", role.as_str()))
}
