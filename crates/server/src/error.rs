//! API errors: one table of stable codes, each with its HTTP status.
//!
//! Every error body is `{"error": {"code", "message", "details"}}`. Details
//! name the field and the rule that failed. A 5xx never carries internals:
//! the cause is logged with an id, and only the id is returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_domain::{DomainError, Violation};
use switchyard_store::StoreError;
use utoipa::ToSchema;

/// The stable error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not JSON.
    MalformedJson,
    /// A body or query field broke a rule (type, required, unknown, range...).
    ValidationFailed,
    /// The status change is allowed but something it needs is missing.
    TransitionPreconditionFailed,
    /// The lifecycle has no such status change.
    InvalidTransition,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but the role does not allow this.
    Forbidden,
    /// No such resource (or not visible to the caller).
    NotFound,
    /// The method is not supported on this path.
    MethodNotAllowed,
    /// A uniqueness or version conflict.
    Conflict,
    /// Too many attempts (failed sign-ins); try again later.
    TooManyRequests,
    /// A dependency (the database) is not available.
    Unavailable,
    /// A bug or an outage; the response carries an id to find it in the logs.
    Internal,
}

impl ErrorCode {
    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed | ErrorCode::TransitionPreconditionFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidTransition | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One failed rule.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ErrorDetail {
    /// The field, dotted or as a path (`custom_fields/region`).
    pub field: String,
    /// The rule's stable name.
    pub rule: String,
    /// A sentence for people.
    pub message: String,
}

impl From<&Violation> for ErrorDetail {
    fn from(v: &Violation) -> Self {
        Self { field: v.field.clone(), rule: v.rule.clone(), message: v.message.clone() }
    }
}

/// The error object.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// Which fields broke which rules.
    pub details: Vec<ErrorDetail>,
}

/// Every error response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorObject,
}

/// An error an API handler returns.
#[derive(Debug, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// Which fields broke which rules.
    pub details: Vec<ErrorDetail>,
}

impl ApiError {
    /// An error without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Vec::new() }
    }

    /// A validation error on one field.
    pub fn field(field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            code: ErrorCode::ValidationFailed,
            message: format!("{field}: {message}"),
            details: vec![ErrorDetail { field, rule: rule.into(), message }],
        }
    }

    /// A query or path value outside its set of names, from the domain's
    /// parse error (which lists the allowed values).
    pub fn one_of(field: &str, e: &DomainError) -> Self {
        Self::field(field, "one_of", e.violations().first().map_or_else(|| e.to_string(), |v| v.message.clone()))
    }

    /// Not found.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found"))
    }

    /// The role does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// An unexpected failure: logged with an id; the client gets only the id.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = format!("{:016x}", rand::random::<u64>());
        tracing::error!(error_id = %id, error = %cause, "internal error");
        Self::new(ErrorCode::Internal, format!("internal error; reference {id}"))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = match &e {
            DomainError::TransitionNotAllowed { .. } => ErrorCode::InvalidTransition,
            DomainError::TransitionPrecondition { .. } => ErrorCode::TransitionPreconditionFailed,
            _ => ErrorCode::ValidationFailed,
        };
        Self { code, message: e.to_string(), details: e.violations().iter().map(ErrorDetail::from).collect() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, key } => Self::not_found(format_args!("{entity} `{key}`")),
            StoreError::Conflict { field, message } => Self {
                code: ErrorCode::Conflict,
                details: vec![ErrorDetail { field, rule: "conflict".into(), message: message.clone() }],
                message,
            },
            StoreError::Domain(d) => d.into(),
            StoreError::ShuttingDown => Self::new(ErrorCode::Unavailable, "the server is shutting down"),
            other => Self::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = ErrorBody { error: ErrorObject { code: self.code, message: self.message, details: self.details } };
        (status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_stably() {
        assert_eq!(serde_json::to_value(ErrorCode::ValidationFailed).unwrap(), "validation_failed");
        assert_eq!(ErrorCode::InvalidTransition.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn internal_errors_hide_the_cause() {
        let e = ApiError::internal(&"password=hunter2 at db.example");
        assert!(!e.message.contains("hunter2"));
        assert!(e.message.starts_with("internal error; reference "));
    }
}
