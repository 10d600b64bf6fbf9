//! Questionnaire administration under `/api/v1/admin/questionnaires` (issue 14): what is
//! live and refused, history, diff, the what-would-change report (admins and supervisors),
//! publish, roll back, withdraw and restore (admins).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::{ApiError, error, json_as, run};
use crate::accounts::Role;
use crate::admin::questionnaires::{
    self as q, AdminEntry, Detail, Diff, Published, QuestionnaireAdminError, Report,
};
use crate::state::AppState;

const ADMIN: [Role; 1] = [Role::Admin];
const REPORT_READERS: [Role; 2] = [Role::Supervisor, Role::Admin];
/// A questionnaire file is a few tens of kilobytes; this leaves room and refuses floods.
const SOURCE_LIMIT: usize = 512 * 1024;

impl From<QuestionnaireAdminError> for ApiError {
    fn from(e: QuestionnaireAdminError) -> Self {
        match e {
            QuestionnaireAdminError::Invalid(errors) => ApiError::Unprocessable {
                code: "invalid_questionnaire",
                message: format!(
                    "the questionnaire has {} error(s) (as `careline check` reports them, in `details`); nothing was changed",
                    errors.len()
                ),
                details: errors.into_iter().map(serde_json::Value::String).collect(),
            },
            QuestionnaireAdminError::NotBumped(m) => ApiError::Conflict("version_not_bumped", m),
            QuestionnaireAdminError::NotFound(m) => ApiError::NotFound(m),
            QuestionnaireAdminError::BadRequest(m) => ApiError::BadRequest(m),
            QuestionnaireAdminError::Io(m) => ApiError::Internal(m),
            QuestionnaireAdminError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminQuestionnaireList {
    pub questionnaires: Vec<AdminEntry>,
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Every questionnaire file: version, hash, counts, when loaded, whether offered, and for a
/// refused edit its `errors` (`path:line:col: message`) with the offending lines. Refusals
/// of every instance are listed (they are kept in the database).
#[utoipa::path(
    get,
    path = "/api/v1/admin/questionnaires",
    tag = "admin",
    operation_id = "list_admin_questionnaires",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The questionnaires.", body = AdminQuestionnaireList),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
    )
)]
pub(super) async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let questionnaires = run(&state, |conn, s| {
        q::list(
            conn,
            &s.catalog,
            s.catalog.instance(),
            now(),
            s.settings.questionnaires.sync_interval,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(AdminQuestionnaireList { questionnaires }))
}

/// One questionnaire: its entry, every stored version (when first and last used, how many
/// screenings it scored), publications, and the text served.
#[utoipa::path(
    get,
    path = "/api/v1/admin/questionnaires/{id}",
    tag = "admin",
    operation_id = "get_admin_questionnaire",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id.")),
    responses(
        (status = 200, description = "The questionnaire.", body = Detail),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
        (status = 404, description = "No such questionnaire.", body = error::Body),
    )
)]
pub(super) async fn detail(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let id = id.into_inner();
    let detail = run(&state, move |conn, s| {
        q::detail(
            conn,
            &s.catalog,
            &id,
            s.catalog.instance(),
            now(),
            s.settings.questionnaires.sync_interval,
            s.settings.privacy.min_cell,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// A stored version of this questionnaire: its version (`1.1.0`) or content hash.
    pub from: Option<String>,
    /// Another one.
    pub to: Option<String>,
}

/// A unified diff between two stored versions.
#[utoipa::path(
    get,
    path = "/api/v1/admin/questionnaires/{id}/diff",
    tag = "admin",
    operation_id = "diff_questionnaire_versions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id."), DiffParams),
    responses(
        (status = 200, description = "The diff.", body = Diff),
        (status = 400, description = "`from` or `to` missing.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin.", body = error::Body),
        (status = 404, description = "No such questionnaire or version.", body = error::Body),
    )
)]
pub(super) async fn diff(
    auth: Auth,
    id: web::Path<String>,
    params: web::Query<DiffParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let id = id.into_inner();
    let p = params.into_inner();
    let diff = run(&state, move |conn, _| {
        q::diff(
            conn,
            &id,
            p.from.as_deref().unwrap_or_default(),
            p.to.as_deref().unwrap_or_default(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(diff))
}

/// An edit: the whole TOML text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub source: String,
    /// The window of stored screenings re-scored, in days back from now: 1 to 3660, default 90.
    #[schema(example = 90)]
    pub days: Option<u32>,
}

/// The what-would-change report of an edit: checked as `careline check` does (422
/// `invalid_questionnaire` with every error), then every screening stored under the current
/// version in the window re-scored under the new text: `tier_changes` (old -> new tier with
/// counts), bands and rules newly firing or stopping, examples whose outcome changed. Counts
/// under `privacy.min_cell` are `null`. Nothing is changed.
#[utoipa::path(
    post,
    path = "/api/v1/admin/questionnaires/{id}/preview",
    tag = "admin",
    operation_id = "preview_questionnaire_edit",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id (a new one is allowed).")),
    request_body(content = PreviewRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The report.", body = Report),
        (status = 400, description = "Not an edit, or a bad `days`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Neither an admin nor a supervisor; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "Not a questionnaire id.", body = error::Body),
        (status = 413, description = "The text is too large.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "The text fails validation: `details` lists each error as `path:line:col: message`.", body = error::Body),
    )
)]
pub(super) async fn preview(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&REPORT_READERS)?;
    let body: PreviewRequest = json_as(&req, payload, SOURCE_LIMIT, "an edit").await?;
    let id = id.into_inner();
    let report = run(&state, move |conn, s| {
        q::preview(
            conn,
            &s.catalog,
            &id,
            &body.source,
            body.days.unwrap_or(90),
            s.settings.privacy.min_cell,
            now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A text to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub source: String,
}

/// Publishes an edit (or a new questionnaire): checked as `careline check` does, its version
/// above every known one (409 `version_not_bumped` otherwise), written atomically into the
/// questionnaire folder and reloaded; the publication and the report's counts are audited.
/// Every instance serves it once its own folder has it.
#[utoipa::path(
    put,
    path = "/api/v1/admin/questionnaires/{id}",
    tag = "admin",
    operation_id = "publish_questionnaire",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id (a new one is allowed).")),
    request_body(content = PublishRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Published and served.", body = Published),
        (status = 400, description = "Not an edit.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "Not a questionnaire id.", body = error::Body),
        (status = 409, description = "The version was not bumped.", body = error::Body),
        (status = 413, description = "The text is too large.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "The text fails validation: `details` lists each error as `path:line:col: message`.", body = error::Body),
    )
)]
pub(super) async fn publish(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let body: PublishRequest = json_as(&req, payload, SOURCE_LIMIT, "a questionnaire").await?;
    let who = auth.principal.who();
    let id = id.into_inner();
    let published = run(&state, move |conn, s| {
        q::publish(
            conn,
            &s.catalog,
            &who,
            &id,
            &body.source,
            "publish",
            s.settings.privacy.min_cell,
            now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(published))
}

/// Which stored version to publish again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// A stored version of this questionnaire: its version or content hash.
    #[schema(example = "1.1.0")]
    pub to: String,
    /// The new version number; default the highest known one with its last number plus one.
    pub version: Option<String>,
}

/// Rolls back: publishes a stored earlier version's text again under a new version number.
#[utoipa::path(
    post,
    path = "/api/v1/admin/questionnaires/{id}/rollback",
    tag = "admin",
    operation_id = "roll_back_questionnaire",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id.")),
    request_body(content = RollbackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Published and served.", body = Published),
        (status = 400, description = "Not a roll-back.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such questionnaire or version.", body = error::Body),
        (status = 409, description = "The given version was not bumped.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "The stored text no longer validates.", body = error::Body),
    )
)]
pub(super) async fn rollback(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let body: RollbackRequest = json_as(&req, payload, 16 * 1024, "a roll-back").await?;
    let who = auth.principal.who();
    let id = id.into_inner();
    let published = run(&state, move |conn, s| {
        q::rollback(
            conn,
            &s.catalog,
            &who,
            &id,
            &body.to,
            body.version.as_deref(),
            s.settings.privacy.min_cell,
            now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(published))
}

/// Whether the questionnaire is offered to riders now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Offered {
    pub id: String,
    pub offered: bool,
    /// False when it already was in that state.
    pub changed: bool,
}

async fn set_offered(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
    offered: bool,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&ADMIN)?;
    let who = auth.principal.who();
    let id = id.into_inner();
    let (id, changed) = run(&state, move |conn, s| {
        q::set_offered(conn, &s.catalog, &who, &id, offered, now()).map(|c| (id, c))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Offered {
        id,
        offered,
        changed,
    }))
}

/// Withdraws a questionnaire from riders. Not deleted: its versions stay, so stored
/// screenings remain explainable.
#[utoipa::path(
    post,
    path = "/api/v1/admin/questionnaires/{id}/withdraw",
    tag = "admin",
    operation_id = "withdraw_questionnaire",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id.")),
    responses(
        (status = 200, description = "Withdrawn.", body = Offered),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such questionnaire.", body = error::Body),
    )
)]
pub(super) async fn withdraw(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_offered(auth, id, state, false).await
}

/// Offers a withdrawn questionnaire to riders again.
#[utoipa::path(
    post,
    path = "/api/v1/admin/questionnaires/{id}/restore",
    tag = "admin",
    operation_id = "restore_questionnaire",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The questionnaire's id.")),
    responses(
        (status = 200, description = "Offered again.", body = Offered),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not an admin; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such questionnaire.", body = error::Body),
    )
)]
pub(super) async fn restore(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_offered(auth, id, state, true).await
}
