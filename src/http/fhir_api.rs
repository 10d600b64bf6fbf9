//! FHIR R4 exports (`application/fhir+json`): each questionnaire as a `Questionnaire` (public,
//! like `GET /api/v1/questionnaires/{id}`), and an alert's screenings as `QuestionnaireResponse`s
//! for a referral (counselors and supervisors who may see the alert; every export audited).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::{ApiError, error, run};
use crate::accounts::Role;
use crate::alerts::{self, DetailContext};
use crate::state::AppState;

const WORKERS: [Role; 2] = [Role::Counselor, Role::Supervisor];
pub const FHIR_JSON: &str = "application/fhir+json";

fn fhir(body: &serde_json::Value, download: Option<String>) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    r.content_type(FHIR_JSON);
    if let Some(name) = download {
        r.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ));
    }
    r.body(body.to_string())
}

/// A questionnaire as a FHIR R4 `Questionnaire`: LOINC codes for PHQ-9 and GAD-7, Careline's
/// own code systems (`https://careline.invalid/fhir/CodeSystem/...`) for the others.
#[utoipa::path(
    get,
    path = "/api/v1/fhir/Questionnaire/{id}",
    tag = "fhir",
    params(("id" = String, Path, description = "The questionnaire's id.", example = "phq9")),
    responses(
        (status = 200, description = "The Questionnaire resource of the version being served.", content_type = "application/fhir+json", body = Object),
        (status = 404, description = "No questionnaire has this id.", body = error::Body),
    )
)]
pub(super) async fn questionnaire(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let catalog = state.catalog.get();
    let q = catalog.get(&id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "unknown questionnaire `{}`",
            id.chars().take(64).collect::<String>()
        ))
    })?;
    Ok(fhir(&crate::fhir::questionnaire(q), None))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `true` adds the rider's contact details (a `Patient`) when the rider consented to be
    /// contacted. Default `false`.
    pub include_contact: Option<bool>,
}

/// An alert's screenings as a FHIR R4 `Bundle` (`collection`) of `QuestionnaireResponse`s with
/// their scores and bands, for a referral. Contact details only with `include_contact=true`.
/// Each export is written to the audit log.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}/fhir",
    tag = "fhir",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference (`A-7F3K`)."), ExportParams),
    responses(
        (status = 200, description = "The Bundle.", content_type = "application/fhir+json", body = Object),
        (status = 400, description = "A bad query string.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not see answers.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
    )
)]
pub(super) async fn alert_export(
    auth: Auth,
    id: web::Path<String>,
    query: web::Query<ExportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let id = id.into_inner();
    let include_contact = query.include_contact.unwrap_or(false);
    let (reference, bundle) = run(&state, move |conn, state| {
        let catalog = state.catalog.get();
        alerts::fhir_export(
            conn,
            DetailContext {
                catalog: &catalog,
                cipher: &state.cipher,
            },
            &who,
            &id,
            include_contact,
        )
    })
    .await?;
    tracing::info!(alert = %reference, include_contact, "alert exported as FHIR");
    Ok(fhir(
        &bundle,
        Some(format!("careline-{reference}.fhir.json")),
    ))
}
