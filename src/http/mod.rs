//! The JSON API and the health endpoints: routes, extractors, handlers and the one mapping of
//! errors to HTTP (`error.rs`).
//! Handlers are thin: extract, call one use case on the blocking pool, map the result.
//!
//! Layer: edges (above `state`). ARCHITECTURE.md maps the layers.

mod admin_api;
mod alerts_api;
pub mod auth;
mod auth_api;
pub mod error;
pub mod fhir_api;
mod flood_api;
pub mod metrics;
pub mod openapi;
mod questionnaires_api;
mod reports_api;
mod rosters_api;

pub use admin_api::{AuditParams, audit_page};
pub use alerts_api::QueueParams;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use error::ApiError;

use crate::screening::{SubmitRequest, Submitted};
use crate::state::AppState;
use crate::{db, screening};

/// Registers the JSON API and the health endpoints. Every route here is described in the
/// OpenAPI document (`openapi::ApiDoc`); a test fails when one is not.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(web::to(not_routed)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(web::to(not_routed)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics::serve))
            .default_service(web::to(not_routed)),
    )
    .service(
        web::resource("/api/openapi.json")
            .route(web::get().to(openapi::serve))
            .default_service(web::to(not_routed)),
    )
    .service(
        web::scope("/api/v1")
            // A path this API does not have is a JSON 404, a known path asked with
            // another method a JSON 405 with `Allow`.
            .default_service(web::to(not_routed))
            // A query string that does not parse (`?limit=ten`) is a JSON 400 like every
            // other error of the API, not actix-web's plain-text one.
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::BadRequest(format!("the query string is not valid: {e}")).into()
            }))
            .route("/questionnaires", web::get().to(list_questionnaires))
            .route("/questionnaires/{id}", web::get().to(get_questionnaire))
            .route("/screenings", web::post().to(submit_screening))
            .route("/challenge", web::get().to(challenge))
            .route("/auth/login", web::post().to(auth_api::login))
            .route("/auth/logout", web::post().to(auth_api::logout))
            .route("/auth/me", web::get().to(auth_api::whoami))
            .route("/auth/password", web::post().to(auth_api::change_password))
            .route("/alerts", web::get().to(alerts_api::list))
            // Before `/alerts/{id}`: "events" is not an alert.
            .route("/alerts/events", web::get().to(alerts_api::events))
            .route("/alerts/take-next", web::post().to(alerts_api::take_next))
            .route("/alerts/{id}", web::get().to(alerts_api::detail))
            .route(
                "/alerts/{id}/acknowledge",
                web::post().to(alerts_api::acknowledge),
            )
            .route(
                "/alerts/{id}/unacknowledge",
                web::post().to(alerts_api::unacknowledge),
            )
            .route("/alerts/{id}/notes", web::post().to(alerts_api::add_note))
            .route("/alerts/{id}/resolve", web::post().to(alerts_api::resolve))
            .route("/alerts/{id}/assign", web::post().to(alerts_api::assign))
            .route("/clusters/{id}", web::get().to(flood_api::detail))
            .route("/clusters/{id}/release", web::post().to(flood_api::release))
            .route("/clusters/{id}/resolve", web::post().to(flood_api::resolve))
            .route("/admin/abuse", web::get().to(flood_api::abuse))
            .route("/alerts/{id}/fhir", web::get().to(fhir_api::alert_export))
            .route(
                "/fhir/Questionnaire/{id}",
                web::get().to(fhir_api::questionnaire),
            )
            .route(
                "/admin/contacts/erase",
                web::post().to(admin_api::erase_contacts),
            )
            .route("/admin/users", web::get().to(admin_api::list_users))
            .route("/admin/users", web::post().to(admin_api::create_user))
            .route("/admin/users/{id}", web::patch().to(admin_api::update_user))
            .route("/admin/sites", web::get().to(admin_api::list_sites))
            .route("/admin/sites", web::post().to(admin_api::create_site))
            // Before `/admin/sites/{slug}`: "unknown" is the list of unknown codes.
            .route(
                "/admin/sites/unknown",
                web::get().to(admin_api::unknown_sites),
            )
            .route(
                "/admin/sites/{slug}",
                web::patch().to(admin_api::rename_site),
            )
            .route(
                "/admin/sites/{slug}/poster.svg",
                web::get().to(admin_api::poster_svg),
            )
            .route(
                "/admin/sites/{slug}/poster.png",
                web::get().to(admin_api::poster_png),
            )
            .route("/admin/audit", web::get().to(admin_api::audit))
            .route("/admin/jobs", web::get().to(admin_api::troubled_jobs))
            .route(
                "/admin/questionnaires",
                web::get().to(questionnaires_api::list),
            )
            .route(
                "/admin/questionnaires/{id}",
                web::get().to(questionnaires_api::detail),
            )
            .route(
                "/admin/questionnaires/{id}",
                web::put().to(questionnaires_api::publish),
            )
            .route(
                "/admin/questionnaires/{id}/diff",
                web::get().to(questionnaires_api::diff),
            )
            .route(
                "/admin/questionnaires/{id}/preview",
                web::post().to(questionnaires_api::preview),
            )
            .route(
                "/admin/questionnaires/{id}/rollback",
                web::post().to(questionnaires_api::rollback),
            )
            .route(
                "/admin/questionnaires/{id}/withdraw",
                web::post().to(questionnaires_api::withdraw),
            )
            .route(
                "/admin/questionnaires/{id}/restore",
                web::post().to(questionnaires_api::restore),
            )
            .route(
                "/reports/screenings",
                web::get().to(reports_api::screenings),
            )
            .route("/reports/alerts", web::get().to(reports_api::alerts))
            .route("/reports/coverage", web::get().to(reports_api::coverage))
            .route("/shifts", web::get().to(rosters_api::list_shifts))
            .route("/shifts", web::post().to(rosters_api::create_shift))
            // Before `/shifts/{id}`: "on-duty" is not a shift.
            .route("/shifts/on-duty", web::get().to(rosters_api::on_duty))
            .route("/shifts/{id}", web::delete().to(rosters_api::delete_shift)),
    )
    .service(web::scope("/api").default_service(web::to(not_routed)));
}

/// No route took the request: 405 with `Allow` when the path is one of the document's with
/// other methods, else 404 (both as the API's JSON errors).
async fn not_routed(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    let allow = openapi::methods_of(req.path());
    if allow.is_empty() {
        ApiError::NotFound(format!(
            "no such API path: {}",
            req.path().chars().take(200).collect::<String>()
        ))
        .error_response()
    } else {
        ApiError::MethodNotAllowed(allow.join(", ")).error_response()
    }
}

/// Headers on every response. Pages set their own, stricter CSP; assets their own caching.
/// Everything else is never cached: answers, alerts and sessions must not sit in a cache.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Runs the submit use case: checked and scored here (pure work of microseconds), then
/// every read and write of the database in the database's one writer (group commit), waited
/// for without parking a blocking-pool thread per request.
pub async fn submit(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    request: SubmitRequest,
    idempotency_key: Option<String>,
    request_hash: String,
) -> Result<Submitted, ApiError> {
    let source = source_of(req, state);
    let notify = web::Data::clone(state);
    let catalog = state.catalog.get();
    let mut ctx = state.context(&catalog);
    ctx.source = Some(&source);
    let submitted = screening::submit_grouped(
        &state.writer,
        &state.known,
        ctx,
        &request,
        idempotency_key.as_deref(),
        &request_hash,
    )
    .await?;
    if !submitted.replayed {
        let outcome = &submitted.response.outcome;
        notify
            .metrics
            .screening(&outcome.questionnaire, outcome.tier.as_str());
    }
    if let Some(alert) = &submitted.alert {
        tracing::info!(alert = %alert.alert_id, opened = alert.opened, tier = %alert.tier, "alert written");
        notify.tell_streams(&alert.alert_id, alert.site.as_deref());
        if alert.became_red {
            // Its first pages (or its cluster's) are committed: send them now. A cluster of
            // yellow alerts pages at the worker's next poll.
            notify.wake.notify_one();
        }
    }
    Ok(submitted)
}

/// A proof-of-work challenge (ALTCHA v1, SHA-256).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeBody {
    #[schema(example = "SHA-256")]
    pub algorithm: String,
    /// Hex SHA-256 of `salt` followed by the secret number.
    pub challenge: String,
    /// The number is at most this.
    pub maxnumber: u64,
    /// Random hex, then `?expires=<unix seconds>`.
    pub salt: String,
    /// HMAC of `challenge`: the server's proof that it made it.
    pub signature: String,
}

/// A proof-of-work challenge for `POST /api/v1/screenings` (its `altcha` field), needed only
/// while a source or site is over its soft limit. Solve: find `number` in 0..=`maxnumber`
/// with hex(SHA-256(`salt` + `number`)) = `challenge`; send base64 of the JSON
/// `{"algorithm","challenge","number","salt","signature"}`. Used once; expires.
#[utoipa::path(
    get,
    path = "/api/v1/challenge",
    tag = "screenings",
    responses(
        (status = 200, description = "A fresh challenge (never cached).", body = ChallengeBody),
    )
)]
async fn challenge(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let c = crate::abuse::new_challenge(&state.settings.abuse, state.cipher.challenge_key())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ChallengeBody {
            algorithm: c.algorithm.to_string(),
            challenge: c.challenge,
            maxnumber: c.maxnumber,
            salt: c.salt,
            signature: c.signature,
        }))
}

/// The request's source fingerprint for the flood guard: the client's network (read through
/// `auth.trusted_proxies`, as sign-in does) and user agent, under a keyed hash.
pub fn source_of(req: &HttpRequest, state: &AppState) -> String {
    let ip = auth::client_ip(req, state).and_then(|ip| ip.parse().ok());
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    state.cipher.source_fingerprint(ip, agent)
}

/// Runs `f` with a pooled connection on the blocking pool (diesel and argon2 block).
pub async fn run<T, E, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
    F: FnOnce(&mut db::AnyConnection, &AppState) -> Result<T, E> + Send + 'static,
{
    let state = web::Data::clone(state);
    let span = tracing::Span::current();
    web::block(move || {
        let _entered = span.enter();
        let mut conn = state
            .pool
            .get()
            .map_err(|e| ApiError::from(db::DbError::from(e)))?;
        f(&mut conn, &state).map_err(Into::into)
    })
    .await?
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process is up and answering.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up.", body = Health))
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseStatus {
    Ok,
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    /// A job worker (this process's or another instance's) was seen within the last minute.
    Ok,
    /// None was: pages and escalations are not going out.
    Missing,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub database: DatabaseStatus,
    /// How many questionnaires are loaded and served.
    #[schema(example = 9)]
    pub questionnaires: usize,
    pub worker: WorkerStatus,
    // Whether mail goes out (every instance's sends): `alarm` when it has failed for longer
    // than `mail.alarm_after`. Detail only: it does not change the status code (a red result
    // is still shown, and pages are retried until mail is back). (A doc comment here would
    // wrap the inline schema in `allOf`.)
    #[schema(inline)]
    pub mail: crate::admin::notifier::MailState,
}

/// Readiness: the database is reachable, questionnaires are loaded, and a job worker was
/// seen within the last minute.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready to take screenings.", body = Readiness),
        (status = 503, description = "The database is unreachable, no questionnaire is loaded, or no job worker was seen for a minute.", body = Readiness),
        (status = 500, description = "Unexpected failure.", body = error::Body),
    )
)]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let alarm_after = state.settings.mail.alarm_after;
    let unknown = crate::admin::notifier::MailState::UNKNOWN;
    let (db_ok, worker_ok, mail) = web::block(move || {
        let Ok(mut c) = pool.get() else {
            return (false, false, unknown);
        };
        if !db::ping(&mut c) {
            return (false, false, unknown);
        }
        let now = chrono::Utc::now().naive_utc();
        let seen = db::jobs::last_worker_seen(&mut c).ok().flatten();
        let fresh = seen.is_some_and(|t| now - t < chrono::Duration::seconds(60));
        let mail = crate::admin::notifier::mail_state(&mut c, alarm_after, now)
            .unwrap_or(crate::admin::notifier::MailState::UNKNOWN);
        (true, fresh, mail)
    })
    .await?;
    let questionnaires = state.catalog.get().len();
    let body = Readiness {
        database: if db_ok {
            DatabaseStatus::Ok
        } else {
            DatabaseStatus::Unreachable
        },
        questionnaires,
        worker: if worker_ok {
            WorkerStatus::Ok
        } else {
            WorkerStatus::Missing
        },
        mail,
    };
    if db_ok && questionnaires > 0 && worker_ok {
        Ok(HttpResponse::Ok().json(body))
    } else {
        Ok(HttpResponse::ServiceUnavailable().json(body))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LocaleQuery {
    /// The language for titles (e.g. `zh-CN`, `zh-TW`, `en`); each questionnaire's default
    /// locale when absent or not offered.
    #[param(example = "zh-CN")]
    locale: Option<String>,
}

/// One questionnaire on offer, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionnaireSummary {
    #[schema(example = "phq9")]
    pub id: String,
    #[schema(example = "1.0.0")]
    pub version: String,
    /// `sha256:<hex>` of the questionnaire file: the identity of this exact version.
    pub content_hash: String,
    /// The title in the requested locale.
    pub title: String,
    pub locales: Vec<String>,
    /// How many items it has.
    pub items: usize,
    pub estimated_minutes: Option<u32>,
}

/// `GET /api/v1/questionnaires`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionnaireList {
    pub questionnaires: Vec<QuestionnaireSummary>,
}

/// The questionnaires on offer.
#[utoipa::path(
    get,
    path = "/api/v1/questionnaires",
    tag = "questionnaires",
    params(LocaleQuery),
    responses((status = 200, description = "Every questionnaire being served.", body = QuestionnaireList))
)]
async fn list_questionnaires(
    state: web::Data<AppState>,
    query: web::Query<LocaleQuery>,
) -> HttpResponse {
    let catalog = state.catalog.get();
    let questionnaires = catalog
        .iter()
        .map(|q| {
            let locale = screening::pick_locale(q, query.locale.as_deref());
            QuestionnaireSummary {
                id: q.id.clone(),
                version: q.version.clone(),
                content_hash: q.content_hash.clone(),
                title: q.title.get(&locale, &q.default_locale).to_string(),
                locales: q.locales.clone(),
                items: q.items.len(),
                estimated_minutes: q.estimated_minutes,
            }
        })
        .collect();
    HttpResponse::Ok().json(QuestionnaireList { questionnaires })
}

/// One questionnaire, in full: items, scales, scores, bands, rules and resources.
#[utoipa::path(
    get,
    path = "/api/v1/questionnaires/{id}",
    tag = "questionnaires",
    params(("id" = String, Path, description = "The questionnaire's id.", example = "phq9")),
    responses(
        (status = 200, description = "The questionnaire version being served.", body = crate::questionnaire::Questionnaire),
        (status = 404, description = "No questionnaire has this id.", body = error::Body),
    )
)]
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

/// Reads a JSON body of at most `limit` bytes as `T`; `what` names it in the 400 message
/// ("the body is not a note: ...").
pub async fn json_as<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<T, ApiError> {
    let body = json_body(req, payload, limit).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not {what}: {e}")))
}

/// The optional request header of `POST /api/v1/screenings` (read in the handler; this
/// describes it in the OpenAPI document).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "describes a header for the OpenAPI document")]
struct IdempotencyKey {
    /// Makes retries safe: 1 to 200 visible ASCII characters, unique per screening.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 200
    )]
    key: String,
}

/// Scores and stores a screening.
///
/// Nothing is stored on any error. With an `Idempotency-Key`, repeating the same request
/// answers the first response again (with `Idempotent-Replayed: true`) without storing a
/// second screening; the same key with another body is refused with 409.
#[utoipa::path(
    post,
    path = "/api/v1/screenings",
    tag = "screenings",
    params(IdempotencyKey),
    request_body(content = screening::SubmitRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored: the outcome, the message and resources for the rider.", body = screening::ScreeningResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers a repeated request."))),
        (status = 400, description = "The body is not JSON, or not a screening request.", body = error::Body),
        (status = 404, description = "Unknown questionnaire.", body = error::Body),
        (status = 409, description = "The Idempotency-Key was used with a different body.", body = error::Body),
        (status = 413, description = "The body is larger than the configured limit.", body = error::Body),
        (status = 415, description = "The body is not sent as application/json.", body = error::Body),
        (status = 422, description = "Invalid answers (one `details` entry per bad item) or fields.", body = error::Body),
        (status = 428, description = "Scored but not stored: this source or site is over its soft limit (`abuse.challenge_per_*`) and the request has no valid solved challenge (`altcha`; from `GET /api/v1/challenge`, each used once). `result` still carries what the rider must be shown.", body = error::NotSavedBody),
        (status = 429, description = "Scored but not stored: too many screenings from this source or site in `abuse.window` (a flood). `Retry-After` says when to try again; `result` still carries what the rider must be shown, crisis lines included.", body = error::NotSavedBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 500, description = "Unexpected failure.", body = error::Body),
        (status = 503, description = "Scored but not stored (the database failed): `result` still carries what the rider must be shown, crisis lines included.", body = error::NotSavedBody),
    )
)]
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
    let submitted = submit(&state, &req, request, key, request_hash).await?;
    let id = submitted.response.id.clone();
    tracing::info!(screening = %id, tier = %submitted.response.outcome.tier, replayed = submitted.replayed, "screening recorded");
    // A replay answers exactly what the first request was answered.
    let mut response = HttpResponse::Created();
    if submitted.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(match submitted.json {
        // The stored copy's text: the same JSON, not serialized twice.
        Some(json) => response
            .insert_header(actix_web::http::header::ContentType::json())
            .body(json),
        None => response.json(submitted.response),
    })
}
