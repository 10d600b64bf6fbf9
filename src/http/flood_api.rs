//! Suspected floods: a cluster's alerts, moving some back to the queue, resolving the rest
//! (`/api/v1/clusters/...`, supervisors), and the admin's view of the flood guard
//! (`/api/v1/admin/abuse`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::{ApiError, error, json_as, run};
use crate::abuse::AbuseOverview;
use crate::accounts::Role;
use crate::alerts::clusters::{self, BulkResolved, ClusterDetail};
use crate::state::AppState;

const WORKERS: [Role; 2] = [Role::Counselor, Role::Supervisor];

/// One suspected flood: its unresolved alerts, those of riders who left a phone number first.
#[utoipa::path(
    get,
    path = "/api/v1/clusters/{id}",
    operation_id = "cluster_detail",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The cluster's id (from `clusters` of `GET /api/v1/alerts`).")),
    responses(
        (status = 200, description = "The cluster and its alerts.", body = ClusterDetail),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts.", body = error::Body),
        (status = 404, description = "No such cluster among this user's sites.", body = error::Body),
    )
)]
pub(super) async fn detail(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let id = id.into_inner();
    let detail = run(&state, move |conn, _| {
        clusters::cluster_detail(conn, &who, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Alerts of this cluster (ids) that look real: back to the queue, paged as usual.
    #[schema(min_items = 1, max_items = 1000)]
    pub alert_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Released {
    /// How many moved back to the queue.
    pub released: usize,
}

/// Supervisors: moves alerts of the cluster back to the queue (an open red one pages at once).
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/release",
    operation_id = "cluster_release",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The cluster's id.")),
    request_body(content = ReleaseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Moved.", body = Released),
        (status = 400, description = "Not a list of alert ids.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Only supervisors; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such cluster among this user's sites.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "An id that is not an unresolved alert of this cluster; nothing moved.", body = error::Body),
    )
)]
pub(super) async fn release(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let r: ReleaseRequest = json_as(&req, payload, 128 * 1024, "a list of alert ids").await?;
    let who = auth.principal;
    let id = id.into_inner();
    let released = run(&state, move |conn, state| {
        clusters::release(conn, &who, &id, &r.alert_ids, &state.settings.escalation)
    })
    .await?;
    // Every open queue catches up (a notice per alert without its site would not reach the
    // counselors of that site); this also wakes the worker for the released alerts' pages.
    state.alert_changed("", None);
    tracing::info!(released, "alerts moved out of a suspected flood");
    Ok(HttpResponse::Ok().json(Released { released }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResolveRequest {
    /// Why these are false positives: required, 1 to 4000 characters, not all blank.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub note: String,
}

/// Supervisors: resolves every unresolved alert of the cluster as `false_positive` with the
/// note (one timeline and one audit row each), except those another counselor has taken.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/resolve",
    operation_id = "cluster_resolve",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The cluster's id.")),
    request_body(content = BulkResolveRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Resolved.", body = BulkResolved),
        (status = 400, description = "Not a note.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Only supervisors; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such cluster among this user's sites.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "No note, or a bad one.", body = error::Body),
    )
)]
pub(super) async fn resolve(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let r: BulkResolveRequest = json_as(&req, payload, 64 * 1024, "a note").await?;
    let who = auth.principal;
    let id = id.into_inner();
    let done = run(&state, move |conn, _| {
        clusters::resolve_all(conn, &who, &id, &r.note)
    })
    .await?;
    // Every open queue refreshes.
    state.alert_changed("", None);
    tracing::info!(
        resolved = done.resolved,
        kept = done.kept,
        "a suspected flood resolved"
    );
    Ok(HttpResponse::Ok().json(done))
}

/// Admins: the flood guard now: clusters, busy sources (keyed hashes) and busy sites.
#[utoipa::path(
    get,
    path = "/api/v1/admin/abuse",
    operation_id = "admin_abuse",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The flood guard's view.", body = AbuseOverview),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn abuse(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&[Role::Admin])?;
    let overview = run(&state, move |conn, state| {
        crate::abuse::overview(conn, &state.settings.abuse, chrono::Utc::now().naive_utc())
    })
    .await?;
    Ok(HttpResponse::Ok().json(overview))
}
