//! The OpenAPI 3.1 document of the JSON API, generated from the handlers' `#[utoipa::path]`
//! annotations and the `ToSchema` derives on the request and response types, and served at
//! `GET /api/openapi.json`.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// The API's description; `ApiDoc::openapi()` builds the document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Careline API",
        description = "Mental-health screening for delivery riders: the questionnaires on offer, \
            and submitting a screening to get its outcome. Errors answer \
            `{\"error\":{\"code\",\"message\",\"details\"?}}`.",
    ),
    paths(
        super::healthz,
        super::readyz,
        serve,
        super::list_questionnaires,
        super::get_questionnaire,
        super::submit_screening,
    ),
    // Referenced only from `ErrorObject.details`, which the derive does not follow.
    components(schemas(crate::scoring::AnswerError, crate::screening::FieldError)),
    modifiers(&NoLicense),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "questionnaires", description = "The questionnaires being served."),
        (name = "screenings", description = "Submitting a rider's answers."),
        (name = "meta", description = "This document."),
    )
)]
pub struct ApiDoc;

/// The package has no licence field, which the derive would turn into a licence with an empty
/// name: leave the licence out instead.
#[derive(Debug)]
struct NoLicense;

impl utoipa::Modify for NoLicense {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.license = None;
    }
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object))
)]
pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(&*DOCUMENT)
}
