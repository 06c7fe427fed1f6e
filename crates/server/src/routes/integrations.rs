//! `/api/v1/integrations`, `/api/v1/alerts/...` and `/api/v1/chat/...`:
//! the systems that talk to Switchyard. Admins create integrations (each
//! alert integration gets its own secret token, shown once); monitoring
//! posts alerts with that token (in the URL or as a bearer token: a wrong
//! or missing one is a 401 and writes nothing); chat systems post slash
//! commands and events, verified by their request signatures.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::alerts::{ALERT_KINDS, AlertError, check_settings};
use switchyard_store::{AlertRecord, AppliedAlert, IntegrationRecord, NewIntegration};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::guard::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The chat integration kinds.
pub const CHAT_KINDS: &[&str] = &["slack", "mattermost"];

/// The integration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_integrations, create_integration))
        .routes(routes!(get_integration, update_integration, delete_integration))
        .routes(routes!(rotate_token))
        .routes(routes!(integration_alerts))
        .routes(routes!(post_alerts))
        .routes(routes!(post_alerts_with_token))
        .routes(routes!(crate::routes::chat::post_chat))
}

/// An integration (never its token or secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationDto {
    /// Unique name.
    pub name: String,
    /// `alertmanager`, `grafana`, `generic`, `slack` or `mattermost`.
    pub kind: String,
    /// Its settings.
    pub settings: Value,
    /// Whether it is accepted.
    pub enabled: bool,
    /// Whether a signing secret is set (chat).
    pub has_secret: bool,
    /// Where the other system posts (the token goes in place of `{token}`
    /// or as a bearer token; chat integrations are verified by signature).
    pub endpoint: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<IntegrationRecord> for IntegrationDto {
    fn from(r: IntegrationRecord) -> Self {
        let endpoint = if CHAT_KINDS.contains(&r.kind.as_str()) {
            format!("/api/v1/chat/{}", r.name)
        } else {
            format!("/api/v1/alerts/{}/{{token}}", r.kind)
        };
        IntegrationDto {
            endpoint,
            name: r.name,
            kind: r.kind,
            settings: r.settings,
            enabled: r.enabled,
            has_secret: r.has_secret,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A created integration, with its token (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedIntegrationDto {
    /// The integration.
    #[serde(flatten)]
    pub integration: IntegrationDto,
    /// The secret token alerts are posted with.
    pub token: String,
}

/// An integration to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationBody {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// `alertmanager`, `grafana`, `generic`, `slack` or `mattermost`.
    pub kind: String,
    /// Settings. Alerts: `requester` (required), `severity` map of
    /// `{impact, urgency}`, `default_levels`, `on_resolve`
    /// (`resolve`|`note`), `flap_window_minutes`, `ci_labels`,
    /// `ci_attribute`, `category`, `assignment_group`, `mapping` (generic).
    /// Chat: `requester` (used when the chat user is not a Switchyard user).
    #[serde(default)]
    pub settings: Value,
    /// Chat: Slack's signing secret, or Mattermost's token.
    pub secret: Option<String>,
}

/// Changes to an integration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// New settings (checked like on create).
    pub settings: Option<Value>,
    /// New signing secret (chat).
    pub secret: Option<String>,
    /// Accept it or not.
    pub enabled: Option<bool>,
}

/// The settings a chat integration takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Who incidents are logged for (and comments written as), unless
    /// `map_users_by_name` maps the chat user.
    pub requester: String,
    /// Act as the Switchyard user whose username is the chat user's name.
    /// Only for chat systems where people cannot choose their name freely
    /// (Slack lets people edit theirs): off by default.
    #[serde(default)]
    pub map_users_by_name: bool,
}

/// Checks an integration's kind, settings and secret.
fn check(kind: &str, settings: &Value, secret: Option<&str>) -> ApiResult<()> {
    if CHAT_KINDS.contains(&kind) {
        serde_json::from_value::<ChatSettings>(settings.clone()).map_err(|e| ApiError::field("settings", "json_schema", e.to_string()))?;
        if secret.is_none_or(|s| s.trim().is_empty()) {
            return Err(ApiError::field("secret", "required", format!("a {kind} integration verifies requests with its secret")));
        }
        return Ok(());
    }
    if !ALERT_KINDS.contains(&kind) {
        let kinds: Vec<&str> = ALERT_KINDS.iter().chain(CHAT_KINDS).copied().collect();
        return Err(ApiError::field("kind", "one_of", format!("`{kind}` is not one of {}", kinds.join(", "))));
    }
    check_settings(kind, settings)?;
    Ok(())
}

/// Integrations (admin).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_integrations(State(state): State<AppState>, _caller: Admin) -> ApiResult<Json<Vec<IntegrationDto>>> {
    Ok(Json(state.store.list_integrations().await?.into_iter().map(Into::into).collect()))
}

/// Create an integration (admin); the answer holds its token, shown once.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = IntegrationBody,
    responses((status = 201, body = CreatedIntegrationDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_integration(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(body): ApiJson<IntegrationBody>,
) -> ApiResult<(StatusCode, Json<CreatedIntegrationDto>)> {
    check(&body.kind, &body.settings, body.secret.as_deref())?;
    let (record, token) = state
        .store
        .create_integration(NewIntegration { name: body.name, kind: body.kind, settings: body.settings, secret: body.secret })
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedIntegrationDto { integration: record.into(), token })))
}

/// One integration (admin).
#[utoipa::path(get, path = "/api/v1/integrations/{name}", tag = "integrations", params(("name" = String, Path)),
    responses((status = 200, body = IntegrationDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_integration(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<Json<IntegrationDto>> {
    Ok(Json(state.store.integration(&name).await?.into()))
}

/// Change an integration's settings, secret or enabled flag (admin).
#[utoipa::path(patch, path = "/api/v1/integrations/{name}", tag = "integrations", params(("name" = String, Path)), request_body = IntegrationPatch,
    responses((status = 200, body = IntegrationDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_integration(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<IntegrationPatch>,
) -> ApiResult<Json<IntegrationDto>> {
    let current = state.store.integration(&name).await?;
    let settings = patch.settings.clone().unwrap_or_else(|| current.settings.clone());
    let secret_given = patch.secret.as_deref().or(current.has_secret.then_some("(kept)"));
    check(&current.kind, &settings, secret_given)?;
    let record = state.store.update_integration(&name, patch.settings, patch.secret.map(Some), patch.enabled).await?;
    Ok(Json(record.into()))
}

/// Delete an integration (admin); its incidents stay.
#[utoipa::path(delete, path = "/api/v1/integrations/{name}", tag = "integrations", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_integration(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    state.store.delete_integration(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    /// The new secret token (the old one stops working now).
    pub token: String,
}

/// Give an integration a new token (admin); the old one stops working.
#[utoipa::path(post, path = "/api/v1/integrations/{name}/token", tag = "integrations", params(("name" = String, Path)),
    responses((status = 200, body = TokenDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_token(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<Json<TokenDto>> {
    Ok(Json(TokenDto { token: state.store.rotate_integration_token(&name).await? }))
}

/// A fingerprint's dedup record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDto {
    /// Fingerprint.
    pub fingerprint: String,
    /// The incident it feeds.
    pub incident: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Times it fired for this incident.
    pub occurrences: i64,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// When it last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Option<String>,
    /// Labels.
    pub labels: Value,
}

impl From<AlertRecord> for AlertDto {
    fn from(a: AlertRecord) -> Self {
        AlertDto {
            incident: switchyard_domain::incident::IncidentNumber(a.incident_id).to_string(),
            fingerprint: a.fingerprint,
            status: a.status,
            occurrences: a.occurrences,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            resolved_at: a.resolved_at,
            title: a.title,
            severity: a.severity,
            labels: a.labels,
        }
    }
}

/// An integration's alerts, most recently seen first (admin).
#[utoipa::path(get, path = "/api/v1/integrations/{name}/alerts", tag = "integrations", params(("name" = String, Path)),
    responses((status = 200, body = Vec<AlertDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn integration_alerts(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<Json<Vec<AlertDto>>> {
    let integration = state.store.integration(&name).await?;
    Ok(Json(state.store.list_alerts(integration.id, 200).await?.into_iter().map(Into::into).collect()))
}

/// What came of one alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedAlertDto {
    /// Fingerprint.
    pub fingerprint: String,
    /// `opened`, `attached`, `reopened`, `resolved`, `noted` or `ignored`.
    pub outcome: String,
    /// The incident it feeds.
    pub incident: Option<String>,
    /// Times it fired for this incident.
    pub occurrences: i64,
}

/// What came of a payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsReceivedDto {
    /// One entry per alert, in payload order.
    pub alerts: Vec<AppliedAlertDto>,
}

impl From<Vec<AppliedAlert>> for AlertsReceivedDto {
    fn from(applied: Vec<AppliedAlert>) -> Self {
        AlertsReceivedDto {
            alerts: applied
                .into_iter()
                .map(|a| AppliedAlertDto {
                    fingerprint: a.fingerprint,
                    outcome: a.outcome.as_str().to_owned(),
                    incident: a.incident.map(|n| n.to_string()),
                    occurrences: a.occurrences,
                })
                .collect(),
        }
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, "a valid integration token is required (in the URL or as a bearer token)")
}

async fn receive(state: &AppState, kind: &str, token: Option<&str>, body: &[u8]) -> ApiResult<Json<AlertsReceivedDto>> {
    if !ALERT_KINDS.contains(&kind) {
        return Err(ApiError::not_found(format_args!("alert endpoint `{kind}` (one of {})", ALERT_KINDS.join(", "))));
    }
    let token = token.filter(|t| !t.is_empty()).ok_or_else(unauthenticated)?;
    let integration = state.store.integration_by_token(token).await?.ok_or_else(unauthenticated)?;
    if integration.kind != kind {
        return Err(ApiError::field(
            "kind",
            "one_of",
            format!("this token belongs to a {} integration; post to /api/v1/alerts/{}", integration.kind, integration.kind),
        ));
    }
    match state.alerts.receive(&integration, body).await {
        Ok(applied) => Ok(Json(applied.into())),
        Err(AlertError::Payload(e)) => {
            let mut error = ApiError::field(e.field, e.rule, e.message);
            if e.rule == "json" {
                error.code = ErrorCode::MalformedJson;
            }
            Err(error)
        }
        Err(AlertError::Settings(e)) => Err(ApiError::internal(&format_args!("integration `{}`: {e}", integration.name))),
        Err(AlertError::Store(e)) => Err(e.into()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Post alerts with the integration's token as a bearer token: `kind` is
/// `alertmanager` (webhook payload version 4; each alert of a group is
/// handled on its own), `grafana` (Grafana alerting's webhook contact
/// point) or `generic` (any JSON, read through the integration's mapping).
/// Alerts are deduplicated by fingerprint into incidents.
#[utoipa::path(post, path = "/api/v1/alerts/{kind}", tag = "alerts", params(("kind" = String, Path)),
    request_body(content = Value, content_type = "application/json"),
    responses((status = 200, body = AlertsReceivedDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("integration" = [])))]
pub async fn post_alerts(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<AlertsReceivedDto>> {
    receive(&state, &kind, bearer(&headers), &body).await
}

/// Post alerts with the integration's token in the URL (for senders that
/// cannot set headers, like Alertmanager's plain `url`).
#[utoipa::path(post, path = "/api/v1/alerts/{kind}/{token}", tag = "alerts", params(("kind" = String, Path), ("token" = String, Path)),
    request_body(content = Value, content_type = "application/json"),
    responses((status = 200, body = AlertsReceivedDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_alerts_with_token(
    State(state): State<AppState>,
    Path((kind, token)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<AlertsReceivedDto>> {
    receive(&state, &kind, Some(&token), &body).await
}
