//! `GET /metrics` (the Prometheus text format), its optional bearer token, and the middleware
//! that counts every request by route pattern, method and status.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// Counts and times each request under its route pattern (`/api/v1/alerts/{id}`), never the
/// raw path: an id or a query string never becomes a label.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| std::sync::Arc::clone(&s.metrics));
    let method = req.method().as_str().to_string();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        metrics.http_request(
            &route,
            &method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// Whether the request may read the metrics: always when no token is configured; else only
/// with `Authorization: Bearer <token>`, compared in constant time.
fn authorized(req: &HttpRequest, token: &str) -> bool {
    if token.is_empty() {
        return true;
    }
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // `ct_eq` takes the same time whatever bytes differ (a different length is refused at
    // once: the length is not the secret).
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// Metrics of this instance in the Prometheus text format (version 0.0.4).
///
/// Families: `careline_http_requests_total{route,method,status}`,
/// `careline_http_request_duration_seconds{route,method}`,
/// `careline_screenings_total{questionnaire,tier}`, `careline_alerts_open{tier}`,
/// `careline_alerts_overdue{tier}`, `careline_alert_oldest_open_red_age_seconds`,
/// `careline_alert_time_to_acknowledge_seconds{tier}`,
/// `careline_escalation_levels_reached_total{level}`, `careline_roster_gap_sites`,
/// `careline_jobs{kind,status}`, `careline_deliveries_total{channel,result}`,
/// `careline_mail_up`, `careline_mail_failing_seconds`, `careline_worker_last_seen_seconds`,
/// `careline_questionnaire_refused_files`, `careline_db_pool_connections{state}`. No label
/// holds rider data. With `metrics.token` set, a bearer token is required.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics, as text/plain; version=0.0.4.", content_type = "text/plain", body = String),
        (status = 401, description = "`metrics.token` is set and the request has no `Authorization: Bearer` header with it.", body = super::error::Body),
    )
)]
pub async fn serve(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, super::ApiError> {
    if !authorized(&req, &state.settings.metrics.token) {
        return Err(super::ApiError::Unauthorized);
    }
    let pool = state.pool.state();
    let at = crate::metrics::AtScrape {
        refused_files: state.catalog.errors().len(),
        pool_in_use: pool.connections.saturating_sub(pool.idle_connections),
        pool_idle: pool.idle_connections,
        pool_max: state.pool.max_size(),
    };
    let text = state.metrics.encode(at, chrono::Utc::now().timestamp());
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text))
}
