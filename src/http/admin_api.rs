//! Administration (admins only): users, sites, the audit log and the notifier's failed and dead
//! jobs under `/api/v1/admin/`.
//! Admins manage people and places; they never see a rider's answers or contact details.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::{ApiError, error, json_as, run};
use crate::accounts::{self, NewUser, Role, Site, UserPatch, UserView};
use crate::admin::notifier::{self, JobTroubleList};
use crate::db::audit::AuditRow;
use crate::state::AppState;

const ADMIN: [Role; 1] = [Role::Admin];

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// Every user.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The users.", body = UserList),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn list_users(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let users = run(&state, |conn, _| accounts::list_users(conn)).await?;
    Ok(HttpResponse::Ok().json(UserList { users }))
}

/// A created user; `password` only when it was generated (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Creates a user.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = CreatedUser),
        (status = 400, description = "Not a user.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 409, description = "The email is taken.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "A bad field (named in `details`).", body = error::Body),
    )
)]
pub(super) async fn create_user(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let new: NewUser = json_as(&req, payload, 16 * 1024, "a user").await?;
    let who = auth.principal.who();
    let (user, password) = run(&state, move |conn, _| {
        accounts::create_user(conn, &who, &new)
    })
    .await?;
    tracing::info!(user = %user.id, role = user.role.as_str(), "user created");
    Ok(HttpResponse::Created().json(CreatedUser { user, password }))
}

/// Changes a user. A new role, password, site list or active state ends their sessions at once.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id.")),
    request_body(content = UserPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed.", body = UserView),
        (status = 400, description = "Not a change.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such user.", body = error::Body),
        (status = 409, description = "It would leave no active admin.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "A bad field (named in `details`).", body = error::Body),
    )
)]
pub(super) async fn update_user(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let patch: UserPatch = json_as(&req, payload, 16 * 1024, "a user change").await?;
    let who = auth.principal.who();
    let id = id.into_inner();
    let user = run(&state, move |conn, _| {
        accounts::update_user(conn, &who, &id, &patch)
    })
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    pub sites: Vec<Site>,
}

/// Every site (station).
#[utoipa::path(
    get,
    path = "/api/v1/admin/sites",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sites.", body = SiteList),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn list_sites(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let sites = run(&state, |conn, _| accounts::list_sites(conn)).await?;
    Ok(HttpResponse::Ok().json(SiteList { sites }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnknownSiteList {
    /// Codes of the last 7 days (China time, today included), most recent first.
    pub codes: Vec<accounts::UnknownSite>,
}

/// Station codes that screenings used in the last 7 days but no site has (a misprinted or
/// retired poster): each with its count and when it was last seen. The screenings themselves
/// were stored with no site.
#[utoipa::path(
    get,
    path = "/api/v1/admin/sites/unknown",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The unknown codes.", body = UnknownSiteList),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn unknown_sites(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let now = chrono::Utc::now().naive_utc();
    let codes = run(&state, move |conn, _| accounts::unknown_sites(conn, now)).await?;
    Ok(HttpResponse::Ok().json(UnknownSiteList { codes }))
}

/// Creates a site. Its slug goes in QR code links: `/s/rider_wellbeing?site=<slug>`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/sites",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = Site, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = Site),
        (status = 400, description = "Not a site.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 409, description = "The slug is taken.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "A bad slug or name.", body = error::Body),
    )
)]
pub(super) async fn create_site(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let site: Site = json_as(&req, payload, 16 * 1024, "a site").await?;
    let who = auth.principal.who();
    let site = run(&state, move |conn, _| {
        accounts::create_site(conn, &who, &site)
    })
    .await?;
    Ok(HttpResponse::Created().json(site))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteRename {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

/// Renames a site (its slug stays: printed QR codes keep working).
#[utoipa::path(
    patch,
    path = "/api/v1/admin/sites/{slug}",
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "The site's slug.")),
    request_body(content = SiteRename, content_type = "application/json"),
    responses(
        (status = 200, description = "Renamed.", body = Site),
        (status = 400, description = "Not a rename.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such site.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "A bad name.", body = error::Body),
    )
)]
pub(super) async fn rename_site(
    req: HttpRequest,
    auth: Auth,
    slug: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let r: SiteRename = json_as(&req, payload, 16 * 1024, "a site rename").await?;
    let who = auth.principal.who();
    let slug = slug.into_inner();
    let site = run(&state, move |conn, _| {
        accounts::rename_site(conn, &who, &slug, &r.name)
    })
    .await?;
    Ok(HttpResponse::Ok().json(site))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PosterParams {
    /// `a4` (the default, also when empty) or `a6`.
    #[param(example = "a4", pattern = "^$|^(a4|a6)$")]
    pub size: Option<String>,
}

/// The poster of a site, or the error to answer (unknown site: 404; bad size: 400).
async fn poster_of(
    state: &web::Data<AppState>,
    slug: String,
    params: &PosterParams,
) -> Result<(crate::poster::Poster, crate::poster::Size), ApiError> {
    let size = match params.size.as_deref() {
        None | Some("") => crate::poster::Size::A4,
        Some(s) => crate::poster::Size::parse(s)
            .ok_or_else(|| ApiError::BadRequest("`size` must be `a4` or `a6`".into()))?,
    };
    let sites = run(state, |conn, _| accounts::list_sites(conn)).await?;
    let site = sites.into_iter().find(|s| s.slug == slug).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no site `{}`",
            slug.chars().take(64).collect::<String>()
        ))
    })?;
    let settings = &state.settings;
    let line = settings.crisis.lines.first();
    Ok((
        crate::poster::Poster {
            url: crate::poster::station_url(settings.public_url(), &site.slug),
            station: site.name,
            hotline_name: line.map_or_else(String::new, |l| l.name_in("zh-CN").to_string()),
            hotline_number: line.map_or_else(String::new, |l| l.number.clone()),
        },
        size,
    ))
}

fn poster_response(content_type: &str, slug: &str, ext: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("inline; filename=\"careline-poster-{slug}.{ext}\""),
        ))
        .body(body)
}

/// A site's printable poster as SVG: the QR code of `{public_url}/s/rider_wellbeing?site={slug}`,
/// the station's name, the first crisis line and a line on privacy (zh-CN).
#[utoipa::path(
    get,
    path = "/api/v1/admin/sites/{slug}/poster.svg",
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "The site's slug."), PosterParams),
    responses(
        (status = 200, description = "The poster (A4 or A6, in millimetres).", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad `size`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
        (status = 404, description = "No such site.", body = error::Body),
    )
)]
pub(super) async fn poster_svg(
    auth: Auth,
    slug: web::Path<String>,
    query: web::Query<PosterParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let slug = slug.into_inner();
    let (poster, size) = poster_of(&state, slug.clone(), &query).await?;
    let body =
        crate::poster::svg(&poster, size).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(poster_response(
        "image/svg+xml; charset=utf-8",
        &slug,
        "svg",
        body.into_bytes(),
    ))
}

/// A site's poster as PNG at 150 dpi: the QR code and the link (the SVG has the full text).
#[utoipa::path(
    get,
    path = "/api/v1/admin/sites/{slug}/poster.png",
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "The site's slug."), PosterParams),
    responses(
        (status = 200, description = "The poster (A4 or A6 at 150 dpi).", content_type = "image/png", body = String),
        (status = 400, description = "A bad `size`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
        (status = 404, description = "No such site.", body = error::Body),
    )
)]
pub(super) async fn poster_png(
    auth: Auth,
    slug: web::Path<String>,
    query: web::Query<PosterParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let slug = slug.into_inner();
    let (poster, size) = poster_of(&state, slug.clone(), &query).await?;
    let body = web::block(move || crate::poster::png(&poster, size))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(poster_response("image/png", &slug, "png", body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The `id` of the last entry of the previous page.
    #[param(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$"
    )]
    pub before: Option<String>,
    /// Only this action, e.g. `alert.viewed`.
    #[param(pattern = "^[a-z._]{1,64}$")]
    pub action: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditRow>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next: Option<String>,
}

pub fn audit_page(
    conn: &mut crate::db::AnyConnection,
    p: &AuditParams,
) -> Result<AuditPage, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit: must be 1 to 200".into()));
    }
    if let Some(b) = &p.before
        && uuid::Uuid::parse_str(b).is_err()
    {
        return Err(ApiError::BadRequest("before: must be an entry id".into()));
    }
    if let Some(a) = &p.action
        && (a.is_empty()
            || a.len() > 64
            || !a
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
    {
        return Err(ApiError::BadRequest(
            "action: must be an action name like alert.viewed".into(),
        ));
    }
    let entries =
        crate::db::audit::page(conn, p.before.as_deref(), p.action.as_deref(), limit + 1)?;
    let more = entries.len() as i64 > limit;
    let entries: Vec<AuditRow> = entries.into_iter().take(limit as usize).collect();
    let next = if more {
        entries.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(AuditPage { entries, next })
}

/// Pages through the audit log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "admin",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of the audit log.", body = AuditPage),
        (status = 400, description = "A bad parameter.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn audit(
    auth: Auth,
    query: web::Query<AuditParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let params = query.into_inner();
    let page = run(&state, move |conn, _| audit_page(conn, &params)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobParams {
    /// `failed`, `dead` or `failed,dead` (the default).
    #[param(
        example = "failed,dead",
        pattern = r"^$|^\s*(failed|dead)\s*(,\s*(failed|dead)\s*)*$"
    )]
    pub status: Option<String>,
    /// 1 to 200, default 100.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Jobs of the notifier that failed (a permanent error) or died (kept failing), newest first.
/// Never a job's payload.
#[utoipa::path(
    get,
    path = "/api/v1/admin/jobs",
    tag = "admin",
    security(("bearer" = [])),
    params(JobParams),
    responses(
        (status = 200, description = "The troubled jobs.", body = JobTroubleList),
        (status = 400, description = "A bad parameter.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn troubled_jobs(
    auth: Auth,
    query: web::Query<JobParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&[Role::Admin])?;
    let statuses =
        notifier::parse_statuses(query.status.as_deref()).map_err(ApiError::BadRequest)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit: must be 1 to 200".into()));
    }
    let limit = usize::try_from(limit).unwrap_or(100);
    let jobs = run(&state, move |conn, _| {
        notifier::troubled_jobs(conn, &statuses, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(JobTroubleList { jobs }))
}

/// A rider's request to have their contact details erased, by the phone number they gave.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The phone number as the rider gives it (spaces, `+ - ( )` allowed); matched through
    /// the keyed rider hash, never stored or logged.
    #[schema(
        example = "138 0000 0000",
        pattern = r"^[ +()\-]*([0-9][ +()\-]*){5,20}$"
    )]
    pub phone: String,
}

/// Erases a rider's contact details on request: every contact under the phone number's keyed
/// hash is deleted, and the rider's alerts keep their record without the contact (a
/// `contact_erased` entry on each timeline). Audited as `contact.erased` with the counts.
#[utoipa::path(
    post,
    path = "/api/v1/admin/contacts/erase",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = EraseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Erased (the counts may be 0).", body = crate::screening::Erased),
        (status = 400, description = "Not an erase request.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "Not a phone number (`details` names `phone`).", body = error::Body),
    )
)]
pub(super) async fn erase_contacts(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    // Read as JSON first, then as the request: serde's message for a wrong field would quote
    // the value, and the value is a rider's phone number.
    let body: serde_json::Value = json_as(&req, payload, 4 * 1024, "JSON").await?;
    let request: EraseRequest = serde_json::from_value(body).map_err(|_| {
        ApiError::BadRequest(
            "the body is not an erase request: send {\"phone\": \"...\"}, the number as a string and nothing else".into(),
        )
    })?;
    let who = auth.principal.who();
    let erased = run(&state, move |conn, state| {
        crate::screening::erase_contacts_by_phone(conn, &state.cipher, &request.phone, &who)
    })
    .await?
    .map_err(|message| ApiError::Unprocessable {
        code: "invalid_request",
        message: message.to_string(),
        details: vec![serde_json::json!({"field": "phone", "message": message})],
    })?;
    tracing::info!(
        contacts = erased.contacts_erased,
        alerts = erased.alerts_unlinked,
        "contact details erased on request"
    );
    Ok(HttpResponse::Ok().json(erased))
}
