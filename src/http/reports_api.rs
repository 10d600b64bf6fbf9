//! Programme reports under `/api/v1/reports` (admins and supervisors): the same protected
//! figures as the `/reports` page, as JSON or as CSV (`format=csv`).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::{ApiError, error, run};
use crate::accounts::Role;
use crate::reports::{self, AlertReport, CoverageReport, ReportError, ScreeningReport};
use crate::state::AppState;

const READERS: [Role; 2] = [Role::Supervisor, Role::Admin];

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::BadQuery(m) => ApiError::BadRequest(m),
            ReportError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First day wanted, `YYYY-MM-DD` in China time; the report starts with the week or month
    /// containing it. Default: 12 weeks (or a year) before `to`.
    #[param(example = "2026-11-02", pattern = r"^$|^\d{4}-\d{2}-\d{2}$")]
    pub from: Option<String>,
    /// Last day wanted (China time); only finished weeks or months are reported. Default today.
    #[param(example = "2026-11-29", pattern = r"^$|^\d{4}-\d{2}-\d{2}$")]
    pub to: Option<String>,
    /// `week` (Monday to Sunday, the default) or `month`.
    #[param(example = "week", pattern = "^(week|month)$")]
    pub by: Option<String>,
    /// Only this site's row (of the same all-sites table; a small site shows the row of the
    /// sites it is folded with).
    #[param(example = "station-1")]
    pub site: Option<String>,
    /// `csv` for a CSV file (UTF-8 with a BOM) instead of JSON (`json` or empty: JSON).
    #[param(example = "csv", pattern = "^$|^(json|csv)$")]
    pub format: Option<String>,
}

fn checked(p: &ReportParams, state: &AppState) -> Result<(reports::Query, bool), ApiError> {
    let csv = match p.format.as_deref() {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`format` must be `json` or `csv`".into(),
            ));
        }
    };
    let q = reports::query(
        p.from.as_deref(),
        p.to.as_deref(),
        p.by.as_deref(),
        p.site.as_deref(),
        state.settings.privacy.min_cell,
        chrono::Utc::now().naive_utc(),
    )?;
    Ok((q, csv))
}

fn csv_response(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"careline-{name}.csv\""),
        ))
        .body(body)
}

/// Screenings per week or month: sites by tier, questionnaires, riders identified by consent.
#[utoipa::path(
    get,
    path = "/api/v1/reports/screenings",
    tag = "reports",
    security(("bearer" = [])),
    params(ReportParams),
    responses(
        (status = 200, description = "The report (or CSV with `format=csv`); small counts as `small`.", content((ScreeningReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad `from`, `to`, `by` or `format`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "A counselor.", body = error::Body),
    )
)]
pub(super) async fn screenings(
    auth: Auth,
    query: web::Query<ReportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&READERS)?;
    let (q, csv) = checked(&query, &state)?;
    let report = run(&state, move |conn, _| reports::screenings(conn, &q)).await?;
    Ok(if csv {
        csv_response("screenings", report.csv())
    } else {
        HttpResponse::Ok().json(report)
    })
}

/// Alerts per week or month: opened, time to acknowledge, share within the deadline,
/// escalation levels, outcomes.
#[utoipa::path(
    get,
    path = "/api/v1/reports/alerts",
    tag = "reports",
    security(("bearer" = [])),
    params(ReportParams),
    responses(
        (status = 200, description = "The report (or CSV with `format=csv`).", content((AlertReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad `from`, `to`, `by` or `format`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "A counselor.", body = error::Body),
    )
)]
pub(super) async fn alerts(
    auth: Auth,
    query: web::Query<ReportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&READERS)?;
    let (q, csv) = checked(&query, &state)?;
    let report = run(&state, move |conn, _| reports::alerts(conn, &q)).await?;
    Ok(if csv {
        csv_response("alerts", report.csv())
    } else {
        HttpResponse::Ok().json(report)
    })
}

/// Roster coverage per week or month: hours with no counselor on duty, overall and per site.
#[utoipa::path(
    get,
    path = "/api/v1/reports/coverage",
    tag = "reports",
    security(("bearer" = [])),
    params(ReportParams),
    responses(
        (status = 200, description = "The report (or CSV with `format=csv`).", content((CoverageReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad `from`, `to`, `by` or `format`.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "A counselor.", body = error::Body),
    )
)]
pub(super) async fn coverage(
    auth: Auth,
    query: web::Query<ReportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&READERS)?;
    let (q, csv) = checked(&query, &state)?;
    let report = run(&state, move |conn, _| reports::coverage(conn, &q)).await?;
    Ok(if csv {
        csv_response("coverage", report.csv())
    } else {
        HttpResponse::Ok().json(report)
    })
}
