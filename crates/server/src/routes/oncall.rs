//! `/api/v1/oncall/...` and acknowledgement: on-call schedules (layers of
//! rotations with hand-offs in an IANA zone, restrictions, overrides),
//! who is on call at an instant, the rendered timeline; escalation
//! policies (levels of schedules, users and the group's manager, paged by
//! mail or through a webhook subscription); and the acknowledgement that
//! stops an incident's escalation. Admins write, agents read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::oncall::Schedule;
use switchyard_engine::pager::parse_policy;
use switchyard_store::{EscalationRecord, NamedDocument};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::guard::{Admin, Agent};
use crate::app::incidents::parse_number;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The on-call routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(get_schedule, put_schedule, delete_schedule))
        .routes(routes!(who_is_on_call))
        .routes(routes!(schedule_timeline))
        .routes(routes!(list_policies))
        .routes(routes!(get_policy, put_policy, delete_policy))
        .routes(routes!(acknowledge))
        .routes(routes!(get_escalation))
}

/// A stored document with its name.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedDocumentDto {
    /// Its name (the key in the URL).
    pub name: String,
    /// The document.
    pub document: Value,
}

/// Names the document after the URL: a document without `name` gets it,
/// one with another name is refused.
fn named(mut document: Value, name: &str) -> ApiResult<Value> {
    let Some(object) = document.as_object_mut() else {
        return Err(ApiError::field("document", "type", "must be a JSON object"));
    };
    match object.get("name") {
        None => {
            object.insert("name".into(), Value::String(name.to_owned()));
        }
        Some(Value::String(n)) if n == name => {}
        Some(_) => return Err(ApiError::field("name", "immutable", format!("the document's name must be `{name}`, as in the URL"))),
    }
    Ok(document)
}

async fn list(state: &AppState, kind: NamedDocument) -> ApiResult<Json<Vec<NamedDocumentDto>>> {
    let docs = state.store.named_documents(kind).await?;
    Ok(Json(docs.into_iter().map(|(name, document)| NamedDocumentDto { name, document }).collect()))
}

async fn get(state: &AppState, kind: NamedDocument, what: &str, name: &str) -> ApiResult<Json<NamedDocumentDto>> {
    let document = state.store.named_document(kind, name).await?.ok_or_else(|| ApiError::not_found(format_args!("{what} `{name}`")))?;
    Ok(Json(NamedDocumentDto { name: name.to_owned(), document }))
}

async fn delete(state: &AppState, kind: NamedDocument, what: &str, name: &str) -> ApiResult<StatusCode> {
    if state.store.delete_named_document(kind, name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format_args!("{what} `{name}`")))
    }
}

/// On-call schedules (agent).
#[utoipa::path(get, path = "/api/v1/oncall/schedules", tag = "oncall",
    responses((status = 200, body = Vec<NamedDocumentDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_schedules(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<Vec<NamedDocumentDto>>> {
    list(&state, NamedDocument::OnCallSchedule).await
}

/// One on-call schedule (agent).
#[utoipa::path(get, path = "/api/v1/oncall/schedules/{name}", tag = "oncall", params(("name" = String, Path)),
    responses((status = 200, body = NamedDocumentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_schedule(State(state): State<AppState>, _caller: Agent, Path(name): Path<String>) -> ApiResult<Json<NamedDocumentDto>> {
    get(&state, NamedDocument::OnCallSchedule, "schedule", &name).await
}

/// Store an on-call schedule (admin): `{time_zone, layers: [{name,
/// participants, start (local), rotation: {every, unit: hours|days|weeks},
/// restrictions}], overrides: [{user, start, end}]}`. Checked first;
/// every problem is named by its path, and nothing is stored.
#[utoipa::path(put, path = "/api/v1/oncall/schedules/{name}", tag = "oncall", params(("name" = String, Path)), request_body = Value,
    responses((status = 200, body = NamedDocumentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_schedule(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Json<NamedDocumentDto>> {
    let document = named(document, &name)?;
    Schedule::parse_json(&document)?;
    state.store.put_named_document(NamedDocument::OnCallSchedule, &name, &document).await?;
    Ok(Json(NamedDocumentDto { name, document }))
}

/// Remove an on-call schedule (admin).
#[utoipa::path(delete, path = "/api/v1/oncall/schedules/{name}", tag = "oncall", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_schedule(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    delete(&state, NamedDocument::OnCallSchedule, "schedule", &name).await
}

/// An instant to ask about.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// RFC 3339 instant [default: now].
    pub at: Option<DateTime<Utc>>,
}

/// Who is on call.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallDto {
    /// The instant asked about.
    pub at: DateTime<Utc>,
    /// The person on call (absent: nobody).
    pub user: Option<String>,
    /// The layer they are on call from (absent for an override).
    pub layer: Option<String>,
    /// Since when they are on call.
    pub since: Option<DateTime<Utc>>,
    /// Until when (absent: no change ahead).
    pub until: Option<DateTime<Utc>>,
}

async fn schedule(state: &AppState, name: &str) -> ApiResult<Schedule> {
    let doc = state
        .store
        .named_document(NamedDocument::OnCallSchedule, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("schedule `{name}`")))?;
    Ok(Schedule::parse_json(&doc)?)
}

/// Who is on call on a schedule at an instant (agent).
#[utoipa::path(get, path = "/api/v1/oncall/schedules/{name}/on-call", tag = "oncall", params(("name" = String, Path), AtQuery),
    responses((status = 200, body = OnCallDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn who_is_on_call(
    State(state): State<AppState>,
    _caller: Agent,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> ApiResult<Json<OnCallDto>> {
    let at = q.at.unwrap_or_else(Utc::now);
    let on_call = schedule(&state, &name).await?.on_call(at);
    Ok(Json(match on_call {
        Some(o) => OnCallDto { at, user: Some(o.user), layer: o.layer, since: Some(o.since), until: o.until },
        None => OnCallDto { at, user: None, layer: None, since: None, until: None },
    }))
}

/// A stretch of the rendered schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftDto {
    /// Who (absent: nobody).
    pub user: Option<String>,
    /// The layer (absent for an override or nobody).
    pub layer: Option<String>,
    /// From.
    pub start: DateTime<Utc>,
    /// Until.
    pub end: DateTime<Utc>,
}

/// A window of the schedule.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// RFC 3339 start [default: now].
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339 end [default: 14 days after `from`; at most 92 days after].
    pub to: Option<DateTime<Utc>>,
}

/// The final schedule over a window, layers and overrides applied (agent).
#[utoipa::path(get, path = "/api/v1/oncall/schedules/{name}/timeline", tag = "oncall", params(("name" = String, Path), TimelineQuery),
    responses((status = 200, body = Vec<ShiftDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn schedule_timeline(
    State(state): State<AppState>,
    _caller: Agent,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<Vec<ShiftDto>>> {
    let from = q.from.unwrap_or_else(Utc::now);
    let to = q.to.unwrap_or(from + chrono::Duration::days(14));
    if to <= from {
        return Err(ApiError::field("to", "order", "must be after `from`"));
    }
    if to - from > chrono::Duration::days(92) {
        return Err(ApiError::field("to", "range", "the window is at most 92 days"));
    }
    let shifts = schedule(&state, &name).await?.timeline(from, to);
    Ok(Json(shifts.into_iter().map(|s| ShiftDto { user: s.user, layer: s.layer, start: s.start, end: s.end }).collect()))
}

/// Escalation policies (agent).
#[utoipa::path(get, path = "/api/v1/oncall/policies", tag = "oncall",
    responses((status = 200, body = Vec<NamedDocumentDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_policies(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<Vec<NamedDocumentDto>>> {
    list(&state, NamedDocument::EscalationPolicy).await
}

/// One escalation policy (agent).
#[utoipa::path(get, path = "/api/v1/oncall/policies/{name}", tag = "oncall", params(("name" = String, Path)),
    responses((status = 200, body = NamedDocumentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_policy(State(state): State<AppState>, _caller: Agent, Path(name): Path<String>) -> ApiResult<Json<NamedDocumentDto>> {
    get(&state, NamedDocument::EscalationPolicy, "escalation policy", &name).await
}

/// Store an escalation policy (admin): `{groups, services, priorities,
/// levels: [{after_minutes, notify: [{schedule}|{user}|{manager: true}]}],
/// repeat, repeat_after_minutes, via: ["email", "webhook:<subscription>"]}`.
/// Checked first; every problem is named by its path, and nothing is stored.
#[utoipa::path(put, path = "/api/v1/oncall/policies/{name}", tag = "oncall", params(("name" = String, Path)), request_body = Value,
    responses((status = 200, body = NamedDocumentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Json<NamedDocumentDto>> {
    let document = named(document, &name)?;
    parse_policy(&document)?;
    state.store.put_named_document(NamedDocument::EscalationPolicy, &name, &document).await?;
    Ok(Json(NamedDocumentDto { name, document }))
}

/// Remove an escalation policy (admin); running escalations under it stop.
#[utoipa::path(delete, path = "/api/v1/oncall/policies/{name}", tag = "oncall", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_policy(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<StatusCode> {
    delete(&state, NamedDocument::EscalationPolicy, "escalation policy", &name).await
}

/// An incident's escalation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationDto {
    /// The incident.
    pub incident: String,
    /// The policy.
    pub policy: String,
    /// `active`, `acknowledged`, `exhausted` or `stopped`.
    pub status: String,
    /// When paging started.
    pub started_at: DateTime<Utc>,
    /// The last level paged (1-based; 0 before the first page).
    pub level: i32,
    /// The pass through the levels (0, then repeats).
    pub pass: i32,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<EscalationRecord> for EscalationDto {
    fn from(e: EscalationRecord) -> Self {
        EscalationDto {
            incident: switchyard_domain::incident::IncidentNumber(e.incident_id).to_string(),
            policy: e.policy,
            status: e.status.as_str().to_owned(),
            started_at: e.started_at,
            level: e.level + 1,
            pass: e.pass,
            acknowledged_at: e.acknowledged_at,
        }
    }
}

/// What an acknowledgement did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcknowledgedDto {
    /// The incident.
    pub incident: String,
    /// Who.
    pub acknowledged_by: String,
    /// Its escalation, stopped (absent when it was not paged).
    pub escalation: Option<EscalationDto>,
}

/// Acknowledge an open incident (agent): recorded in its history (MTTA
/// counts from it), and its escalation stops paging. A second
/// acknowledgement is a conflict.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/acknowledge", tag = "oncall", params(("number" = String, Path)),
    responses((status = 200, body = AcknowledgedDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn acknowledge(State(state): State<AppState>, caller: Agent, Path(number): Path<String>) -> ApiResult<Json<AcknowledgedDto>> {
    let escalation = crate::app::incidents::acknowledge(&state, &caller.0, &number).await?;
    Ok(Json(AcknowledgedDto {
        incident: parse_number(&number)?.to_string(),
        acknowledged_by: caller.0.username.clone(),
        escalation: escalation.map(Into::into),
    }))
}

/// An incident's escalation (agent).
#[utoipa::path(get, path = "/api/v1/incidents/{number}/escalation", tag = "oncall", params(("number" = String, Path)),
    responses((status = 200, body = EscalationDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_escalation(State(state): State<AppState>, _caller: Agent, Path(number): Path<String>) -> ApiResult<Json<EscalationDto>> {
    let number = parse_number(&number)?;
    let escalation = state.store.escalation(number).await?.ok_or_else(|| ApiError::not_found(format_args!("an escalation of {number}")))?;
    Ok(Json(escalation.into()))
}
