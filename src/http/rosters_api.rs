//! Duty rosters under `/api/v1/shifts` (everyone signed in reads them; supervisors and admins
//! change them).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::{ApiError, error, json_as, run};
use crate::accounts::Role;
use crate::rosters::{self, NewShift, OnDuty, RosterError, ShiftList, ShiftView};
use crate::state::AppState;

const EDITORS: [Role; 2] = [Role::Supervisor, Role::Admin];

impl From<RosterError> for ApiError {
    fn from(e: RosterError) -> Self {
        match e {
            RosterError::Invalid { field, message } => ApiError::Unprocessable {
                code: "invalid_request",
                message: format!("{field}: {message}"),
                details: vec![serde_json::json!({"field": field, "message": message})],
            },
            RosterError::BadQuery(m) => ApiError::BadRequest(m),
            RosterError::Forbidden => ApiError::Forbidden(e.to_string()),
            RosterError::NotFound => ApiError::NotFound(e.to_string()),
            RosterError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShiftWindow {
    /// RFC 3339, or `YYYY-MM-DDTHH:MM` in China time; default a day ago.
    #[param(
        example = "2026-12-01T00:00",
        pattern = r"^$|^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?(Z|[+-](0\d|1[0-4]):[0-5]\d))?$"
    )]
    pub from: Option<String>,
    /// As `from`; default a week from now. At most 92 days after `from`.
    #[param(
        example = "2026-12-08T00:00",
        pattern = r"^$|^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?(Z|[+-](0\d|1[0-4]):[0-5]\d))?$"
    )]
    pub to: Option<String>,
}

/// Shifts overlapping a window, by start.
#[utoipa::path(
    get,
    path = "/api/v1/shifts",
    tag = "rosters",
    security(("bearer" = [])),
    params(ShiftWindow),
    responses(
        (status = 200, description = "The shifts, times in UTC and in China time.", body = ShiftList),
        (status = 400, description = "A bad `from` or `to`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
    )
)]
pub(super) async fn list_shifts(
    _auth: Auth,
    query: web::Query<ShiftWindow>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let (from, to) = rosters::window(query.from.as_deref(), query.to.as_deref(), now)?;
    let list = run(&state, move |conn, _| rosters::list(conn, from, to)).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Adds a shift (supervisors and admins). Times without an offset are China time.
#[utoipa::path(
    post,
    path = "/api/v1/shifts",
    tag = "rosters",
    security(("bearer" = [])),
    request_body(content = NewShift, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = ShiftView),
        (status = 400, description = "Not a shift (bad JSON, unknown field).", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "A counselor; or a cookie request without the CSRF token.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "A bad field (named in `details`): a time, the person, a site.", body = error::Body),
    )
)]
pub(super) async fn create_shift(
    req: HttpRequest,
    auth: Auth,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&EDITORS)?;
    let new: NewShift = json_as(&req, payload, 16 * 1024, "a shift").await?;
    let who = auth.principal.clone();
    let shift = run(&state, move |conn, _| rosters::create(conn, &who, &new)).await?;
    tracing::info!(shift = %shift.id, user = %shift.user_id, by = %auth.principal.user_id, "shift created");
    Ok(HttpResponse::Created().json(shift))
}

/// Deletes a shift (supervisors and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/shifts/{id}",
    tag = "rosters",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The shift's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "A counselor; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such shift.", body = error::Body),
    )
)]
pub(super) async fn delete_shift(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&EDITORS)?;
    let who = auth.principal.clone();
    let id = id.into_inner();
    let shift = id.clone();
    run(&state, move |conn, _| rosters::delete(conn, &who, &shift)).await?;
    tracing::info!(shift = %id, by = %auth.principal.user_id, "shift deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Who is on shift now, per role, with the sites they serve.
#[utoipa::path(
    get,
    path = "/api/v1/shifts/on-duty",
    tag = "rosters",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active counselors and supervisors on shift now.", body = OnDuty),
        (status = 401, description = "Not signed in.", body = error::Body),
    )
)]
pub(super) async fn on_duty(
    _auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let on_duty = run(&state, move |conn, _| rosters::on_duty(conn, now)).await?;
    Ok(HttpResponse::Ok().json(on_duty))
}
