//! The only home of actix-web: routes, extractors, the JSON API handlers and error mapping.
//! Handlers are thin: extract, call one use case on the blocking pool, map the result.

pub mod error;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

pub use error::ApiError;

use crate::startup::AppState;
use crate::{db, screening};

/// Registers the JSON API and the health endpoints.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .service(
            web::scope("/api/v1")
                .route("/questionnaires", web::get().to(list_questionnaires))
                .route("/questionnaires/{id}", web::get().to(get_questionnaire))
                .route("/screenings", web::post().to(submit_screening)),
        );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let db_ok =
        web::block(move || pool.get().map(|mut c| db::ping(&mut c)).unwrap_or(false)).await?;
    let questionnaires = state.catalog.get().len();
    let body = json!({
        "database": if db_ok { "ok" } else { "unreachable" },
        "questionnaires": questionnaires,
    });
    if db_ok && questionnaires > 0 {
        Ok(HttpResponse::Ok().json(body))
    } else {
        Ok(HttpResponse::ServiceUnavailable().json(body))
    }
}

#[derive(Debug, Deserialize)]
struct LocaleQuery {
    locale: Option<String>,
}

async fn list_questionnaires(
    state: web::Data<AppState>,
    query: web::Query<LocaleQuery>,
) -> HttpResponse {
    let catalog = state.catalog.get();
    let list: Vec<_> = catalog
        .iter()
        .map(|q| {
            let locale = screening::pick_locale(q, query.locale.as_deref());
            json!({
                "id": q.id,
                "version": q.version,
                "content_hash": q.content_hash,
                "title": q.title.get(&locale, &q.default_locale),
                "locales": q.locales,
                "items": q.items.len(),
                "estimated_minutes": q.estimated_minutes,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "questionnaires": list }))
}

async fn get_questionnaire(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let catalog = state.catalog.get();
    let q = catalog
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown questionnaire `{id}`")))?;
    Ok(HttpResponse::Ok().json(q.as_ref()))
}

/// Reads the body up to `limit` bytes, refusing wrong content types and larger bodies.
pub async fn json_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn submit_screening(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload, state.settings.server.body_limit).await?;
    let request: screening::SubmitRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a valid screening: {e}")))?;
    let key = match req.headers().get("Idempotency-Key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
                .to_string(),
        ),
        None => None,
    };
    let request_hash = screening::sha256_hex(&body);
    let submitted = crate::startup::submit(&state, request, key, request_hash).await?;
    let id = submitted.response.id.clone();
    tracing::info!(screening = %id, tier = %submitted.response.outcome.tier, replayed = submitted.replayed, "screening recorded");
    // A replay answers exactly what the first request was answered.
    let mut response = HttpResponse::Created();
    if submitted.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(submitted.response))
}
