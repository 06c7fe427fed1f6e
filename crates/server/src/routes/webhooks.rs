//! `/api/v1/webhooks`: outbound webhook subscriptions (admin). Each has a
//! URL, the event types it wants, an optional filter on the ticket (the
//! workflow condition language), a format (`standard`: signed JSON per
//! Standard Webhooks; `slack` / `mattermost`: their incoming-webhook
//! messages), a timeout, a delivery log and a replay of any delivery. The
//! signing secret is shown when it is made (on create and rotation);
//! during a rotation's overlap deliveries carry both signatures.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_engine::webhooks::{EventType, FORMATS};
use switchyard_store::{NewSubscription, NotificationRecord, NotificationStatus, SubscriptionRecord};
use switchyard_webhooks::signing::Secret;
use switchyard_workflow::condition::ConditionGroup;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_limit;
use crate::app::guard::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(get_subscription, put_subscription, delete_subscription))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay_delivery))
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionDto {
    /// Unique name.
    pub name: String,
    /// Where deliveries are posted.
    pub url: String,
    /// `standard`, `slack` or `mattermost`.
    pub format: String,
    /// Event types it wants.
    pub events: Vec<String>,
    /// Filter on the ticket.
    pub filter: Option<Value>,
    /// Milliseconds a receiver may take.
    pub timeout_ms: i32,
    /// Whether it receives anything.
    pub enabled: bool,
    /// Until when the previous secret still signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<SubscriptionRecord> for SubscriptionDto {
    fn from(s: SubscriptionRecord) -> Self {
        SubscriptionDto {
            name: s.name,
            url: s.url,
            format: s.format,
            events: s.events,
            filter: s.filter,
            timeout_ms: s.timeout_ms,
            enabled: s.enabled,
            previous_secret_until: s.previous_until,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A subscription with its new signing secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionWithSecretDto {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionDto,
    /// `whsec_...`: verify `webhook-signature` with it.
    pub secret: String,
}

/// A subscription to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionBody {
    /// Unique name (on create; letters, digits, `-`, `_`).
    pub name: Option<String>,
    /// `http://` or `https://` URL.
    pub url: String,
    /// `standard` (default), `slack` or `mattermost`.
    pub format: Option<String>,
    /// Event types: `ticket.created`, `ticket.updated`, `ticket.resolved`,
    /// `ticket.closed`, `sla.warning`, `sla.breached`, `alert.received`,
    /// `incident.paged`, `incident.acknowledged`.
    pub events: Vec<String>,
    /// `{all: [...]}` or `{any: [...]}` of ticket field tests or CEL.
    pub filter: Option<Value>,
    /// Milliseconds a receiver may take (100..60000, default 10000).
    pub timeout_ms: Option<i32>,
    /// Default true.
    pub enabled: Option<bool>,
}

fn checked(name: String, body: SubscriptionBody) -> ApiResult<NewSubscription> {
    let url = body.url.trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
        return Err(ApiError::field("url", "format", "must be an http:// or https:// URL of at most 2000 characters"));
    }
    let format = body.format.unwrap_or_else(|| "standard".into());
    if !FORMATS.contains(&format.as_str()) {
        return Err(ApiError::field("format", "one_of", format!("`{format}` is not one of {}", FORMATS.join(", "))));
    }
    if body.events.is_empty() {
        return Err(ApiError::field("events", "required", "name at least one event type"));
    }
    for (i, e) in body.events.iter().enumerate() {
        if EventType::parse(e).is_none() {
            let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(ApiError::field(format!("events[{i}]"), "one_of", format!("`{e}` is not one of {}", names.join(", "))));
        }
    }
    if let Some(filter) = &body.filter {
        serde_json::from_value::<ConditionGroup>(filter.clone()).map_err(|e| ApiError::field("filter", "condition", e.to_string()))?;
    }
    let timeout_ms = body.timeout_ms.unwrap_or(10_000);
    if !(100..=60_000).contains(&timeout_ms) {
        return Err(ApiError::field("timeout_ms", "range", "must be between 100 and 60000"));
    }
    Ok(NewSubscription { name, url, format, events: body.events, filter: body.filter, timeout_ms, enabled: body.enabled.unwrap_or(true) })
}

fn new_secret() -> Secret {
    Secret::generate(rand::random::<[u8; 32]>())
}

/// Subscriptions (admin).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<SubscriptionDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_subscriptions(State(state): State<AppState>, _caller: Admin) -> ApiResult<Json<Vec<SubscriptionDto>>> {
    Ok(Json(state.store.list_subscriptions().await?.into_iter().map(Into::into).collect()))
}

/// Create a subscription (admin); the answer holds its signing secret.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = SubscriptionBody,
    responses((status = 201, body = SubscriptionWithSecretDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_subscription(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(body): ApiJson<SubscriptionBody>,
) -> ApiResult<(StatusCode, Json<SubscriptionWithSecretDto>)> {
    let name = body.name.clone().ok_or_else(|| ApiError::field("name", "required", "a subscription needs a name"))?;
    let new = checked(name, body)?;
    let secret = new_secret().to_string();
    let record = state.store.create_subscription(new, &secret).await?;
    Ok((StatusCode::CREATED, Json(SubscriptionWithSecretDto { subscription: record.into(), secret })))
}

/// One subscription (admin).
#[utoipa::path(get, path = "/api/v1/webhooks/{name}", tag = "webhooks", params(("name" = String, Path)),
    responses((status = 200, body = SubscriptionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_subscription(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<Json<SubscriptionDto>> {
    Ok(Json(state.store.subscription(&name).await?.into()))
}

/// Replace a subscription's settings (admin; the secret stays).
#[utoipa::path(put, path = "/api/v1/webhooks/{name}", tag = "webhooks", params(("name" = String, Path)), request_body = SubscriptionBody,
    responses((status = 200, body = SubscriptionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_subscription(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SubscriptionBody>,
) -> ApiResult<Json<SubscriptionDto>> {
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::field("name", "immutable", "the name is the one in the path"));
    }
    let new = checked(name.clone(), body)?;
    Ok(Json(state.store.update_subscription(&name, new).await?.into()))
}

/// Delete a subscription (admin; its delivery log stays).
#[utoipa::path(delete, path = "/api/v1/webhooks/{name}", tag = "webhooks", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_subscription(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    state.store.delete_subscription(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How long the old secret keeps signing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Hours both secrets sign (0..168, default 24).
    pub overlap_hours: Option<u32>,
}

/// Rotate the signing secret (admin): the new one signs from now on; the
/// old one signs too until the overlap ends.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/rotate", tag = "webhooks", params(("name" = String, Path)), request_body = RotateBody,
    responses((status = 200, body = SubscriptionWithSecretDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RotateBody>,
) -> ApiResult<Json<SubscriptionWithSecretDto>> {
    let hours = body.overlap_hours.unwrap_or(24);
    if hours > 168 {
        return Err(ApiError::field("overlap_hours", "range", "must be between 0 and 168"));
    }
    let secret = new_secret().to_string();
    let until = Utc::now() + chrono::Duration::hours(i64::from(hours));
    let record = state.store.rotate_subscription_secret(&name, &secret, until).await?;
    Ok(Json(SubscriptionWithSecretDto { subscription: record.into(), secret }))
}

/// One delivery of a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// Delivery (notification) id.
    pub id: i64,
    /// The event type (or `notification` for a plugin's).
    pub event: String,
    /// The incident.
    pub incident: Option<String>,
    /// `queued`, `sending`, `sent`, `failed` or `dead`.
    pub status: String,
    /// Attempts ended.
    pub attempts: i32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When a failed one is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The `webhook-id` it was delivered with.
    pub webhook_id: Option<String>,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Delivered at.
    pub sent_at: Option<DateTime<Utc>>,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// The payload.
    pub payload: Value,
}

impl From<NotificationRecord> for DeliveryDto {
    fn from(n: NotificationRecord) -> Self {
        DeliveryDto {
            id: n.id,
            event: n.notification.step_id,
            incident: n.notification.incident_id.map(|i| switchyard_domain::incident::IncidentNumber(i).to_string()),
            status: n.status.as_str().to_owned(),
            attempts: n.attempts,
            last_error: n.last_error,
            next_attempt_at: n.next_attempt_at,
            webhook_id: n.message_id,
            created_at: n.created_at,
            sent_at: n.sent_at,
            replay_of: n.replay_of,
            payload: serde_json::from_str(&n.notification.body).unwrap_or(Value::String(n.notification.body)),
        }
    }
}

/// Delivery log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Deliveries before this id (newest first).
    pub before: Option<i64>,
    /// Page size (1..500, default 50).
    pub limit: Option<u64>,
}

/// A subscription's delivery log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/webhooks/{name}/deliveries", tag = "webhooks", params(("name" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Vec<DeliveryDto>>> {
    let subscription = state.store.subscription(&name).await?;
    let status = match &q.status {
        Some(s) => Some(NotificationStatus::parse(s).ok_or_else(|| {
            let names: Vec<&str> = NotificationStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::field("status", "one_of", format!("`{s}` is not one of {}", names.join(", ")))
        })?),
        None => None,
    };
    let rows = state.store.subscription_deliveries(subscription.id, status, q.before, page_limit(q.limit)?).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Deliver one delivery again (admin): a new delivery with the same
/// payload and `webhook-id`, so receivers can tell it is a repeat.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}/deliveries/{id}/replay", tag = "webhooks", params(("name" = String, Path), ("id" = i64, Path)),
    responses((status = 202, body = DeliveryDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn replay_delivery(
    State(state): State<AppState>,
    _caller: Admin,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<(StatusCode, Json<DeliveryDto>)> {
    let subscription = state.store.subscription(&name).await?;
    let replay = state.store.replay_delivery(subscription.id, id).await?;
    Ok((StatusCode::ACCEPTED, Json(replay.into())))
}
