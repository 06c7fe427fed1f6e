//! Extractors that turn bad input into API errors naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode, ErrorDetail};
use crate::state::AppState;

/// A JSON body, deserialised with the failing field's path in any error.
/// Unknown fields are refused by the body types (`deny_unknown_fields`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than the limit of {} bytes", crate::BODY_LIMIT))
            } else {
                ApiError::new(ErrorCode::MalformedJson, format!("the body could not be read: {e}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, reporting syntax errors as `malformed_json` and data errors
/// as `validation_failed` with the path of the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {inner}"));
        }
        let path = e.path().to_string();
        data_error(if path == "." { String::new() } else { path }, &inner.to_string())
    })?;
    de.end().map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Classifies a serde data error into field + rule.
fn data_error(path: String, message: &str) -> ApiError {
    // serde reports a missing or unknown field at the parent's path; name the field itself.
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_owned);
    let (field, rule) = if message.starts_with("missing field") {
        (join(&path, quoted(message)), "required")
    } else if message.starts_with("unknown field") {
        (join(&path, quoted(message)), "unknown_field")
    } else if message.starts_with("unknown variant") {
        (path, "one_of")
    } else {
        (path, "type")
    };
    let message = message.split(" at line ").next().unwrap_or(message).to_owned();
    let field = if field.is_empty() { "body".to_owned() } else { field };
    ApiError {
        code: ErrorCode::ValidationFailed,
        message: format!("{field}: {message}"),
        details: vec![ErrorDetail { field, rule: rule.into(), message }],
    }
}

fn join(path: &str, leaf: Option<String>) -> String {
    match (path.is_empty(), leaf) {
        (_, None) => path.to_owned(),
        // serde_path_to_error already ends the path with an unknown field's name.
        (false, Some(l)) if path.rsplit('.').next() == Some(l.as_str()) => path.to_owned(),
        (true, Some(l)) => l,
        (false, Some(l)) => format!("{path}.{l}"),
    }
}

/// Query parameters, with errors naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string, with errors naming the parameter and its rule.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        data_error(if path == "." { String::new() } else { path }, &e.inner().to_string())
    })
}

/// The client's address when the server was started with connection info
/// (`switchyard serve` is); `None` in router tests.
pub struct ConnectInfoOpt(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ConnectInfoOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ConnectInfoOpt(info.map(|c| c.0.ip().to_string())))
    }
}
