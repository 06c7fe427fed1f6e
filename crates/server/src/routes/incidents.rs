//! `/api/v1/incidents`: log, read, list, edit, move through the lifecycle,
//! comment, and read the history of incidents.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::changes::PriorityOverride;
use switchyard_domain::checklist::ChecklistItem;
use switchyard_domain::incident::{Channel, Level, PendingReason, Priority, ResolutionCode, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::{EventRecord, IncidentFilter, IncidentRecord, IncidentUpdate, SortField, SortOrder, Visibility};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{double_option, page_limit};
use crate::app::guard::{Agent, Caller};
use crate::app::incidents::{self, NewIncident};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The incident routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_incident, list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(transition_incident))
        .routes(routes!(add_comment))
        .routes(routes!(add_work_note))
        .routes(routes!(incident_history))
}

/// A ticket: an incident, service request, problem or change.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDto {
    /// `INC-000123`, `REQ-000124`, `PRB-000125` or `CHG-000126`.
    #[schema(example = "INC-000123")]
    pub number: String,
    /// `incident`, `request`, `problem` or `change`.
    #[schema(value_type = String, example = "incident")]
    pub kind: Kind,
    /// Kind-specific details: a change's `justification`, `risk`,
    /// `planned_start`, `planned_end`, `implementation_plan`,
    /// `backout_plan`; a problem's `root_cause`, `workaround`,
    /// `known_error`; a request's `catalog_item` and `answers`.
    #[schema(value_type = Object)]
    pub details: Value,
    /// Processing steps (required ones must be done before resolving).
    #[schema(value_type = Vec<Object>)]
    pub checklist: Vec<ChecklistItem>,
    /// Who watches it (usernames).
    pub watchers: Vec<String>,
    /// Links to other tickets, as this one sees them.
    pub links: Vec<LinkSummaryDto>,
    /// One-line summary.
    pub title: String,
    /// Full description.
    pub description: String,
    /// Requester's username.
    pub requester: String,
    /// Intake channel.
    #[schema(value_type = String, example = "portal")]
    pub channel: Channel,
    /// Category.
    pub category: Option<String>,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Service CI id.
    pub service_id: Option<i64>,
    /// Affected CI ids.
    pub affected_cis: Vec<i64>,
    /// 1 (high) .. 3 (low).
    #[schema(value_type = u8, minimum = 1, maximum = 3)]
    pub impact: Level,
    /// 1 (high) .. 3 (low).
    #[schema(value_type = u8, minimum = 1, maximum = 3)]
    pub urgency: Level,
    /// P1..P5, from the matrix unless overridden.
    #[schema(value_type = String, example = "P2")]
    pub priority: Priority,
    /// Why the priority was overridden, if it was.
    pub priority_override_reason: Option<String>,
    /// Lifecycle status.
    #[schema(value_type = String, example = "in_progress")]
    pub status: Status,
    /// Why it waits.
    #[schema(value_type = Option<String>)]
    pub pending_reason: Option<PendingReason>,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
    /// Escalation level, 0 = none.
    pub escalation_level: u8,
    /// How it was resolved.
    #[schema(value_type = Option<String>)]
    pub resolution_code: Option<ResolutionCode>,
    /// What was done.
    pub resolution_notes: Option<String>,
    /// Custom fields.
    #[schema(value_type = Object)]
    pub custom_fields: Value,
    /// Logged at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
    /// Resolved at.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed at.
    pub closed_at: Option<DateTime<Utc>>,
    /// Version for optimistic concurrency (`expected_version`).
    pub version: i64,
    /// SLA clocks as of now (on `GET /api/v1/incidents/{number}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<Vec<crate::routes::sla::SlaClockDto>>,
}

/// A link in a ticket's own answer (the links endpoint adds titles).
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkSummaryDto {
    /// As written from the link's source: `caused_by`, `resolved_by`,
    /// `created_from`, `parent`.
    #[serde(rename = "type")]
    pub link_type: String,
    /// How it reads from this ticket: "caused by", "parent of"...
    pub label: String,
    /// The other ticket's number.
    pub number: String,
}

impl From<IncidentRecord> for IncidentDto {
    fn from(r: IncidentRecord) -> Self {
        let number = r.number();
        let links = r
            .links
            .iter()
            .map(|l| LinkSummaryDto {
                link_type: l.link_type.to_string(),
                label: l.link_type.label(l.end).into(),
                number: l.other_number.clone(),
            })
            .collect();
        let i = r.incident;
        Self {
            number,
            kind: i.kind,
            details: i.details,
            checklist: i.checklist,
            watchers: r.watchers,
            links,
            title: i.title,
            description: i.description,
            requester: r.requester,
            channel: i.channel,
            category: i.category,
            subcategory: i.subcategory,
            service_id: i.service_id,
            affected_cis: i.affected_ci_ids,
            impact: i.impact,
            urgency: i.urgency,
            priority: i.priority,
            priority_override_reason: i.priority_override_reason,
            status: i.status,
            pending_reason: i.pending_reason,
            assignment_group: r.assignment_group,
            assignee: r.assignee,
            escalation_level: i.escalation_level,
            resolution_code: i.resolution_code,
            resolution_notes: i.resolution_notes,
            custom_fields: i.custom_fields,
            created_at: i.created_at,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
            closed_at: i.closed_at,
            version: i.version,
            sla: None,
        }
    }
}

/// A manual priority.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityOverrideBody {
    /// P1..P5.
    #[schema(value_type = String, example = "P1")]
    pub priority: Priority,
    /// Why the matrix is wrong here.
    pub reason: String,
}

impl From<PriorityOverrideBody> for PriorityOverride {
    fn from(b: PriorityOverrideBody) -> Self {
        Self { priority: b.priority, reason: b.reason }
    }
}

/// Logs an incident. Requesters may not set `requester`, the assignment
/// fields or a priority override.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncidentBody {
    /// One-line summary (1..200 characters; may be left out with a
    /// template that has one).
    #[serde(default)]
    pub title: String,
    /// Full description.
    #[serde(default)]
    pub description: String,
    /// On behalf of whom (agents only; default: the caller).
    pub requester: Option<String>,
    /// Intake channel (default `api`).
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
    /// Category.
    pub category: Option<String>,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Service CI id (class `service`).
    pub service_id: Option<i64>,
    /// Affected CI ids.
    #[serde(default)]
    pub affected_cis: Vec<i64>,
    /// 1..3, default 3.
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 3)]
    pub impact: Option<Level>,
    /// 1..3, default 3.
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 3)]
    pub urgency: Option<Level>,
    /// Manual priority (agents only).
    pub priority_override: Option<PriorityOverrideBody>,
    /// Assignment group name (agents only).
    pub assignment_group: Option<String>,
    /// Assignee username (agents only).
    pub assignee: Option<String>,
    /// Custom fields, validated against the admin schema.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Value>,
    /// `incident` (default), `request`, `problem` or `change` (requesters:
    /// incidents and requests only).
    #[schema(value_type = Option<String>)]
    pub kind: Option<Kind>,
    /// Kind-specific details (see the ticket's `details`).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// A template's name: its fields fill what the body leaves out, and
    /// its checklist comes with the ticket.
    pub template: Option<String>,
}

/// Edits an incident (agents only). Absent fields stay; `null` clears.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateIncidentBody {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Category, or null to clear.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Subcategory, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub subcategory: Option<Option<String>>,
    /// Service CI id, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    /// Replacement affected CIs.
    pub affected_cis: Option<Vec<i64>>,
    /// 1..3.
    #[schema(value_type = Option<u8>)]
    pub impact: Option<Level>,
    /// 1..3.
    #[schema(value_type = Option<u8>)]
    pub urgency: Option<Level>,
    /// Manual priority, or null to return to the matrix.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PriorityOverrideBody>)]
    pub priority_override: Option<Option<PriorityOverrideBody>>,
    /// Group name, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignment_group: Option<Option<String>>,
    /// Assignee username, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    /// 0..9.
    pub escalation_level: Option<u8>,
    /// Replacement custom fields.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Value>,
    /// Replacement kind-specific details.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// Refuse with 409 unless the incident is still at this version.
    pub expected_version: Option<i64>,
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Target status.
    #[schema(value_type = String, example = "resolved")]
    pub to: Status,
    /// For `pending`.
    #[schema(value_type = Option<String>)]
    pub pending_reason: Option<PendingReason>,
    /// For `resolved`.
    #[schema(value_type = Option<String>)]
    pub resolution_code: Option<ResolutionCode>,
    /// For `resolved`.
    pub resolution_notes: Option<String>,
    /// For `cancelled` and reopening.
    pub reason: Option<String>,
}

/// A comment or work note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The text.
    pub body: String,
}

/// One history entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDto {
    /// Global sequence number.
    pub seq: i64,
    /// Incident number.
    pub number: String,
    /// `created`, `field_changed`, `status_changed`, `comment`, `work_note`.
    pub kind: String,
    /// `user`, `system`, `workflow` or `channel`.
    pub actor_kind: String,
    /// Username or description of the actor.
    pub actor: String,
    /// Changed field.
    pub field: Option<String>,
    /// Value before.
    #[schema(value_type = Option<Object>)]
    pub old_value: Option<Value>,
    /// Value after.
    #[schema(value_type = Option<Object>)]
    pub new_value: Option<Value>,
    /// Comment, note or reason.
    pub body: Option<String>,
    /// `public` or `internal`.
    pub visibility: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<EventRecord> for EventDto {
    fn from(e: EventRecord) -> Self {
        Self {
            seq: e.seq,
            number: e.number.to_string(),
            kind: e.kind.to_string(),
            actor_kind: format!("{:?}", e.actor.kind).to_lowercase(),
            actor: e.actor.name,
            field: e.field,
            old_value: e.old_value,
            new_value: e.new_value,
            body: e.body,
            visibility: match e.visibility {
                Visibility::Public => "public".into(),
                Visibility::Internal => "internal".into(),
            },
            created_at: e.created_at,
        }
    }
}

/// A page of incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPageDto {
    /// The incidents.
    pub items: Vec<IncidentDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters, sort and paging for the incident list.
#[derive(Debug, Default, Clone, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated kinds, e.g. `incident,request` (default: every kind).
    pub kind: Option<String>,
    /// Only tickets linked to this one, e.g. `PRB-000004` (either end).
    pub linked_to: Option<String>,
    /// Comma-separated statuses, e.g. `new,assigned`.
    pub status: Option<String>,
    /// Comma-separated priorities, e.g. `P1,P2`.
    pub priority: Option<String>,
    /// Assignment group name.
    pub assignment_group: Option<String>,
    /// Assignee username.
    pub assignee: Option<String>,
    /// Only incidents without an assignee (`true`).
    pub unassigned: Option<bool>,
    /// Requester username.
    pub requester: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Service CI id.
    pub service: Option<i64>,
    /// Affected CI id.
    pub ci: Option<i64>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Updated at or after (RFC 3339).
    pub updated_from: Option<DateTime<Utc>>,
    /// Updated before (RFC 3339).
    pub updated_to: Option<DateTime<Utc>>,
    /// Full-text search in title and description: every word must match,
    /// each also as a prefix; ranked by relevance unless `sort` says
    /// otherwise.
    pub q: Option<String>,
    /// `number` (default; `relevance` with `q`), `created_at`, `updated_at`,
    /// `priority` or `relevance`.
    pub sort: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..500, default 50.
    pub limit: Option<u64>,
}

impl ListQuery {
    /// The store filter the query asks for, or the first parameter that
    /// breaks a rule (the API and the console's filter form share this).
    pub fn into_filter(self) -> ApiResult<IncidentFilter> {
        let text = self.q.filter(|t| !t.trim().is_empty());
        let sort = match self.sort.as_deref() {
            // A text search is ranked unless another order is asked for.
            None if text.is_some() => SortField::Relevance,
            None | Some("number") => SortField::Number,
            Some("created_at") => SortField::CreatedAt,
            Some("updated_at") => SortField::UpdatedAt,
            Some("priority") => SortField::Priority,
            Some("relevance") if text.is_some() => SortField::Relevance,
            Some("relevance") => return Err(ApiError::field("sort", "requires_q", "sorting by relevance needs a text search (`q`)")),
            Some(other) => {
                return Err(ApiError::field(
                    "sort",
                    "one_of",
                    format!("`{other}` is not one of number, created_at, updated_at, priority, relevance"),
                ));
            }
        };
        let order = match self.order.as_deref() {
            None | Some("desc") => SortOrder::Desc,
            Some("asc") => SortOrder::Asc,
            Some(other) => return Err(ApiError::field("order", "one_of", format!("`{other}` is not one of asc, desc"))),
        };
        let linked_to = match self.linked_to.as_deref() {
            None => None,
            Some(n) => Some(
                n.parse().map_err(|_| ApiError::field("linked_to", "format", format!("`{n}` is not a ticket number like PRB-000004")))?,
            ),
        };
        Ok(IncidentFilter {
            kind: parse_list("kind", &self.kind)?,
            linked_to,
            status: parse_list("status", &self.status)?,
            priority: parse_list("priority", &self.priority)?,
            assignment_group: self.assignment_group,
            assignee: self.assignee,
            assignment_groups: Vec::new(),
            unassigned: self.unassigned.unwrap_or(false),
            requester: self.requester,
            category: self.category,
            service_id: self.service,
            ci_id: self.ci,
            created_from: self.created_from,
            created_to: self.created_to,
            updated_from: self.updated_from,
            updated_to: self.updated_to,
            text,
            sla_due_before: None,
            sort,
            order,
            cursor: self.cursor,
            limit: page_limit(self.limit)?,
        })
    }
}

fn parse_list<T: std::str::FromStr<Err = switchyard_domain::DomainError>>(field: &str, value: &Option<String>) -> ApiResult<Vec<T>> {
    let Some(value) = value else { return Ok(Vec::new()) };
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<T>().map_err(|e| ApiError::one_of(field, &e))).collect()
}

/// Log an incident.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = CreateIncidentBody,
    responses((status = 201, body = IncidentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateIncidentBody>,
) -> ApiResult<(StatusCode, Json<IncidentDto>)> {
    let new = NewIncident {
        title: body.title,
        description: body.description,
        requester: body.requester,
        channel: body.channel,
        category: body.category,
        subcategory: body.subcategory,
        service_id: body.service_id,
        affected_cis: body.affected_cis,
        impact: body.impact,
        urgency: body.urgency,
        priority_override: body.priority_override.map(Into::into),
        assignment_group: body.assignment_group,
        assignee: body.assignee,
        custom_fields: body.custom_fields,
        kind: body.kind,
        details: body.details,
        template: body.template,
    };
    let record = incidents::create(&state, &caller.0, new, Channel::Api).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// List incidents. Requesters see only their own.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, body = IncidentPageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<IncidentPageDto>> {
    let filter = q.into_filter()?;
    let page = incidents::list(&state, &caller.0, filter).await?;
    Ok(Json(IncidentPageDto { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Get an incident by number.
#[utoipa::path(get, path = "/api/v1/incidents/{number}", tag = "incidents", params(("number" = String, Path, example = "INC-000001")),
    responses((status = 200, body = IncidentDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_incident(State(state): State<AppState>, caller: Caller, Path(number): Path<String>) -> ApiResult<Json<IncidentDto>> {
    let record = incidents::visible(&state, &caller.0, &number).await?;
    let sla = crate::routes::sla::clocks_of(&state, record.incident.number).await?;
    Ok(Json(IncidentDto { sla: Some(sla), ..record.into() }))
}

/// Edit fields (agents).
#[utoipa::path(patch, path = "/api/v1/incidents/{number}", tag = "incidents", params(("number" = String, Path)), request_body = UpdateIncidentBody,
    responses((status = 200, body = IncidentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_incident(
    State(state): State<AppState>,
    caller: Agent,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<UpdateIncidentBody>,
) -> ApiResult<Json<IncidentDto>> {
    let update = IncidentUpdate {
        title: body.title,
        description: body.description,
        category: body.category,
        subcategory: body.subcategory,
        service_id: body.service_id,
        affected_ci_ids: body.affected_cis,
        impact: body.impact,
        urgency: body.urgency,
        priority_override: body.priority_override.map(|o| o.map(Into::into)),
        assignment_group: body.assignment_group,
        assignee: body.assignee,
        escalation_level: body.escalation_level,
        custom_fields: body.custom_fields,
        details: body.details,
        expected_version: body.expected_version,
    };
    Ok(Json(incidents::update(&state, &caller.0, &number, update).await?.into()))
}

/// Move an incident through its lifecycle. Requesters may only confirm
/// (close), cancel or reopen their own incidents.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/transitions", tag = "incidents", params(("number" = String, Path)), request_body = TransitionBody,
    responses((status = 200, body = IncidentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn transition_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<TransitionBody>,
) -> ApiResult<Json<IncidentDto>> {
    let request = TransitionRequest {
        to: Some(body.to),
        pending_reason: body.pending_reason,
        resolution_code: body.resolution_code,
        resolution_notes: body.resolution_notes,
        reason: body.reason,
    };
    Ok(Json(incidents::transition(&state, &caller.0, &number, request).await?.into()))
}

/// Add a comment the requester sees.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/comments", tag = "incidents", params(("number" = String, Path)), request_body = NoteBody,
    responses((status = 201, body = EventDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_comment(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<(StatusCode, Json<EventDto>)> {
    let event = incidents::comment(&state, &caller.0, &number, &body.body).await?;
    Ok((StatusCode::CREATED, Json(event.into())))
}

/// Add an internal work note (agents).
#[utoipa::path(post, path = "/api/v1/incidents/{number}/work-notes", tag = "incidents", params(("number" = String, Path)), request_body = NoteBody,
    responses((status = 201, body = EventDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_work_note(
    State(state): State<AppState>,
    caller: Agent,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<(StatusCode, Json<EventDto>)> {
    let event = incidents::work_note(&state, &caller.0, &number, &body.body).await?;
    Ok((StatusCode::CREATED, Json(event.into())))
}

/// The incident's history, oldest first (requesters: without work notes).
#[utoipa::path(get, path = "/api/v1/incidents/{number}/history", tag = "incidents", params(("number" = String, Path)),
    responses((status = 200, body = Vec<EventDto>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn incident_history(State(state): State<AppState>, caller: Caller, Path(number): Path<String>) -> ApiResult<Json<Vec<EventDto>>> {
    let events = incidents::history(&state, &caller.0, &number).await?;
    Ok(Json(events.into_iter().map(Into::into).collect()))
}
