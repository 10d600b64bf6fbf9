//! The API's one error type and its one mapping to HTTP. Unexpected failures are an opaque
//! 500 that is logged with an id, never a 400, and never carries internals to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::screening::{ContactError, SubmitError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Vec<serde_json::Value>,
    },
    #[error("{1}")]
    Conflict(&'static str, String),
    /// An alert not in the state an action needs: `details` holds the alert as it is now.
    #[error("{message}")]
    AlertConflict {
        message: String,
        details: Vec<serde_json::Value>,
    },
    #[error("sign in first: no session, or it has ended")]
    Unauthorized,
    /// A failed sign-in: one message whatever was wrong.
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    /// A known path, another method: the `Allow` header lists the ones it answers.
    #[error("this path answers {0} only")]
    MethodNotAllowed(String),
    #[error("{message}")]
    TooManyRequests { retry_after: u64, message: String },
    /// The database (or another dependency) cannot be reached now: 503 with `Retry-After`.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// Scored but not stored: a 503 that still carries the rider's result.
    #[error("your answers could not be saved; the result below is still valid")]
    NotSaved(Box<crate::screening::ScreeningResponse>),
    /// Over a soft flood limit without a solved challenge: a 428 that still carries the
    /// rider's result.
    #[error(
        "a solved proof-of-work challenge is needed just now ({reason}): fetch one from GET /api/v1/challenge, solve it and send it as `altcha`; the result below is still valid"
    )]
    ChallengeRequired {
        response: Box<crate::screening::ScreeningResponse>,
        reason: &'static str,
    },
    /// Over a flood limit: a 429 with `Retry-After` that still carries the rider's result.
    #[error(
        "too many screenings from this {scope} just now, so your answers were not saved; the result below is still valid"
    )]
    Limited {
        response: Box<crate::screening::ScreeningResponse>,
        scope: &'static str,
        retry_after: u64,
    },
}

/// The body of every error response of the JSON API.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorResponse)]
pub(super) struct Body<'a> {
    error: Inner<'a>,
}

/// A 503 from `POST /api/v1/screenings` when valid answers were scored but could not be
/// stored: `result` is what the rider must still be shown (its `id` is empty).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotSavedResponse)]
pub(super) struct NotSavedBody<'a> {
    error: Inner<'a>,
    #[schema(value_type = crate::screening::ScreeningResponse)]
    result: &'a crate::screening::ScreeningResponse,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorObject)]
pub(super) struct Inner<'a> {
    /// A stable machine-readable code: `bad_request`, `not_found`, `payload_too_large`,
    /// `unsupported_media_type`, `invalid_answers`, `invalid_request`, `consent_required`,
    /// `idempotency_key_reused`, `contact_already_given`, `unauthorized`, `forbidden`,
    /// `bad_credentials`, `method_not_allowed`, `too_many_requests`, `challenge_required`, `conflict`, `unavailable`, `not_saved` or
    /// `internal`.
    #[schema(value_type = String, example = "invalid_answers")]
    code: &'a str,
    /// A sentence for people.
    message: String,
    /// One entry per problem, present only when there are some: an `AnswerError` per bad
    /// answer for `invalid_answers`, a `FieldError` per bad field for `invalid_request`; for
    /// a `conflict` over an alert, the alert as it is now (`AlertSummary`); for
    /// `invalid_questionnaire`, each error as a `path:line:col: message` string.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(schema_with = details_schema)]
    details: &'a [serde_json::Value],
}

/// `details`: an array of answer or field errors, or the alert of a conflict (all listed in
/// the document's components).
fn details_schema() -> utoipa::openapi::Array {
    use utoipa::ToSchema;
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            AnyOfBuilder::new()
                .item(Ref::from_schema_name(crate::scoring::AnswerError::name()))
                .item(Ref::from_schema_name(crate::screening::FieldError::name()))
                .item(Ref::from_schema_name(crate::alerts::AlertSummary::name()))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some("`path:line:col: message` (invalid_questionnaire)")),
                ),
        )
        .build()
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Conflict(code, _) => code,
            ApiError::AlertConflict { .. } => "conflict",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadCredentials(_) => "bad_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::NotSaved(_) => "not_saved",
            ApiError::Limited { .. } => "too_many_requests",
            ApiError::ChallengeRequired { .. } => "challenge_required",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(..) | ApiError::AlertConflict { .. } => StatusCode::CONFLICT,
            ApiError::Unauthorized | ApiError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotSaved(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ChallengeRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                let reference = uuid::Uuid::new_v4();
                tracing::error!(%reference, error = %detail, "internal error");
                format!("something went wrong on our side (reference {reference})")
            }
            other => other.to_string(),
        };
        let details: &[serde_json::Value] = match self {
            ApiError::Unprocessable { details, .. } | ApiError::AlertConflict { details, .. } => {
                details
            }
            _ => &[],
        };
        let not_saved = match self {
            ApiError::NotSaved(result) => Some((result, RETRY_AFTER_SECONDS)),
            ApiError::Limited {
                response,
                retry_after,
                ..
            } => Some((response, *retry_after)),
            ApiError::ChallengeRequired { response, .. } => Some((response, 0)),
            _ => None,
        };
        if let Some((result, retry_after)) = not_saved {
            // Whatever failed, the rider still gets the result: crisis lines first on red.
            let mut response = HttpResponse::build(self.status_code());
            if retry_after > 0 {
                response.insert_header(("Retry-After", retry_after.to_string()));
            }
            return response.json(NotSavedBody {
                error: Inner {
                    code: self.code(),
                    message,
                    details,
                },
                result,
            });
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer realm=\"careline\""));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                response.insert_header(("Retry-After", retry_after.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
            }
            ApiError::MethodNotAllowed(allow) => {
                response.insert_header(("Allow", allow.as_str()));
            }
            _ => {}
        }
        response.json(Body {
            error: Inner {
                code: self.code(),
                message,
                details,
            },
        })
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::UnknownQuestionnaire(id) => {
                ApiError::NotFound(format!("unknown questionnaire `{id}`"))
            }
            SubmitError::InvalidAnswers(errors) => ApiError::Unprocessable {
                code: "invalid_answers",
                message: format!("{} answer(s) are invalid", errors.len()),
                details: errors
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect(),
            },
            SubmitError::InvalidFields(errors) => ApiError::Unprocessable {
                code: "invalid_request",
                message: format!("{} field(s) are invalid", errors.len()),
                details: errors
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect(),
            },
            SubmitError::IdempotencyConflict => ApiError::Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request".into(),
            ),
            SubmitError::NotSaved(response, e) => {
                tracing::error!(error = %e, tier = %response.outcome.tier, "a screening could not be saved");
                ApiError::NotSaved(response)
            }
            SubmitError::ChallengeRequired { response, reason } => {
                tracing::info!(reason, tier = %response.outcome.tier, "a screening was refused: a proof-of-work challenge was needed");
                ApiError::ChallengeRequired { response, reason }
            }
            SubmitError::Limited {
                response,
                scope,
                retry_after,
            } => {
                tracing::warn!(scope, tier = %response.outcome.tier, "a screening was refused: over the flood limit");
                ApiError::Limited {
                    response,
                    scope,
                    retry_after,
                }
            }
            SubmitError::Db(e) => e.into(),
        }
    }
}

impl From<ContactError> for ApiError {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::NotFound => ApiError::NotFound(e.to_string()),
            ContactError::Invalid(field, message) => ApiError::Unprocessable {
                code: "invalid_request",
                message: message.to_string(),
                details: vec![
                    serde_json::json!({ "field": format!("contact.{field}"), "message": message }),
                ],
            },
            ContactError::NoConsent => ApiError::Unprocessable {
                code: "consent_required",
                message: e.to_string(),
                details: vec![],
            },
            ContactError::AlreadyGiven => {
                ApiError::Conflict("contact_already_given", e.to_string())
            }
            ContactError::Db(e) => e.into(),
        }
    }
}

impl From<crate::accounts::AuthError> for ApiError {
    fn from(e: crate::accounts::AuthError) -> Self {
        use crate::accounts::AuthError;
        match e {
            AuthError::BadCredentials => ApiError::BadCredentials(e.to_string()),
            AuthError::Throttled(wait) => ApiError::TooManyRequests {
                retry_after: wait.as_secs().max(1),
                message: e.to_string(),
            },
            AuthError::Unauthenticated => ApiError::Unauthorized,
            AuthError::Db(e) => e.into(),
        }
    }
}

impl From<crate::alerts::AlertError> for ApiError {
    fn from(e: crate::alerts::AlertError) -> Self {
        use crate::alerts::AlertError;
        match e {
            AlertError::NotFound | AlertError::Denied(_) => ApiError::NotFound(e.to_string()),
            AlertError::Forbidden => ApiError::Forbidden(e.to_string()),
            AlertError::Conflict { message, alert } => ApiError::AlertConflict {
                message,
                details: (*alert)
                    .iter()
                    .filter_map(|a| serde_json::to_value(a).ok())
                    .collect(),
            },
            AlertError::Invalid { field, message } => ApiError::Unprocessable {
                code: "invalid_request",
                message: format!("{field}: {message}"),
                details: vec![serde_json::json!({"field": field, "message": message})],
            },
            AlertError::Db(e) => e.into(),
        }
    }
}

impl From<crate::accounts::AdminError> for ApiError {
    fn from(e: crate::accounts::AdminError) -> Self {
        use crate::accounts::AdminError;
        match e {
            AdminError::Invalid { field, message } => ApiError::Unprocessable {
                code: "invalid_request",
                message: format!("{field}: {message}"),
                details: vec![serde_json::json!({"field": field, "message": message})],
            },
            AdminError::Conflict(m) => ApiError::Conflict("conflict", m),
            AdminError::NotFound => ApiError::NotFound("no such record".into()),
            AdminError::Db(e) => e.into(),
        }
    }
}

/// What a 503 asks the client to wait before trying again, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// The one place database errors become HTTP: unreachable (pool timeout, connection refused
/// or lost) is a 503 to retry; anything else an opaque, logged 500.
impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "the database is unavailable");
            ApiError::Unavailable(
                "the service cannot reach its database just now; try again in a few seconds".into(),
            )
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}
