//! Incident use cases: what a person may do to incidents and how, for the
//! JSON API and the web pages alike.
//!
//! Requesters see and list only their own incidents (anyone else's is
//! "not found", so numbers cannot be probed), may not set the routing
//! fields when they log one, may only confirm, cancel or reopen, and never
//! see internal work notes. Agents work every incident.

use serde_json::Value;
use switchyard_domain::changes::PriorityOverride;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::{
    Actor, CreateIncident, EventRecord, IncidentFilter, IncidentPage, IncidentRecord, IncidentUpdate, Principal, Visibility,
};

use super::guard::{Need, require};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// A new incident as a person asks for it; what they leave out takes the
/// defaults (requester: themselves, channel: the surface's, impact and
/// urgency: low).
#[derive(Debug, Clone, Default)]
pub struct NewIncident {
    /// One-line summary.
    pub title: String,
    /// Full description.
    pub description: String,
    /// On behalf of whom (agents only).
    pub requester: Option<String>,
    /// Intake channel.
    pub channel: Option<Channel>,
    /// Category.
    pub category: Option<String>,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Service CI id.
    pub service_id: Option<i64>,
    /// Affected CI ids.
    pub affected_cis: Vec<i64>,
    /// 1..3.
    pub impact: Option<Level>,
    /// 1..3.
    pub urgency: Option<Level>,
    /// Manual priority (agents only).
    pub priority_override: Option<PriorityOverride>,
    /// Assignment group (agents only).
    pub assignment_group: Option<String>,
    /// Assignee (agents only).
    pub assignee: Option<String>,
    /// Custom fields.
    pub custom_fields: Option<Value>,
    /// Kind of ticket (default: the template's, else incident).
    pub kind: Option<Kind>,
    /// Kind-specific details.
    pub details: Option<Value>,
    /// A template whose fields fill what is left out and whose checklist
    /// the ticket carries.
    pub template: Option<String>,
}

/// Logs a ticket (an incident unless it says otherwise). Requesters log
/// incidents and service requests only.
pub async fn create(state: &AppState, caller: &Principal, mut new: NewIncident, default_channel: Channel) -> ApiResult<IncidentRecord> {
    let mut checklist = Vec::new();
    if let Some(name) = &new.template {
        let templates = state.store.templates().await?;
        let t = templates.get(name)?;
        fill(&mut new.title, &t.title);
        if new.description.is_empty() {
            new.description = t.description.clone().unwrap_or_default();
        }
        new.category = new.category.or_else(|| t.category.clone());
        new.subcategory = new.subcategory.or_else(|| t.subcategory.clone());
        new.impact = new.impact.or(t.impact);
        new.urgency = new.urgency.or(t.urgency);
        new.kind = new.kind.or(Some(t.kind));
        if caller.role.is_agent() {
            new.assignment_group = new.assignment_group.or_else(|| t.assignment_group.clone());
        }
        checklist = t.checklist();
    }
    let kind = new.kind.unwrap_or_default();
    if !caller.role.is_agent() && !matches!(kind, Kind::Incident | Kind::Request) {
        return Err(ApiError::forbidden(format!("requesters log incidents and service requests, not a {}", kind.label())));
    }
    if !caller.role.is_agent() {
        let agent_only = [
            ("requester", new.requester.is_some()),
            ("priority_override", new.priority_override.is_some()),
            ("assignment_group", new.assignment_group.is_some()),
            ("assignee", new.assignee.is_some()),
        ];
        if let Some((field, _)) = agent_only.iter().find(|(_, set)| *set) {
            return Err(ApiError::forbidden(format!("requesters cannot set `{field}`")));
        }
    }
    let request = CreateIncident {
        kind,
        details: new.details.unwrap_or(Value::Null),
        checklist,
        title: new.title,
        description: new.description,
        requester: new.requester.unwrap_or_else(|| caller.username.clone()),
        channel: new.channel.unwrap_or(default_channel),
        category: new.category,
        subcategory: new.subcategory,
        service_id: new.service_id,
        affected_ci_ids: new.affected_cis,
        impact: new.impact.unwrap_or(Level::LOW),
        urgency: new.urgency.unwrap_or(Level::LOW),
        priority_override: new.priority_override,
        assignment_group: new.assignment_group,
        assignee: new.assignee,
        custom_fields: new.custom_fields.unwrap_or_else(|| Value::Object(Default::default())),
        actor: Actor::user(caller),
    };
    Ok(state.store.create_incident(request).await?)
}

/// Fills an empty title from a template.
fn fill(title: &mut String, from: &Option<String>) {
    if title.trim().is_empty()
        && let Some(t) = from
    {
        title.clone_from(t);
    }
}

/// The filter as the caller may ask it: a requester's list is always
/// their own incidents, whatever they asked for.
pub fn scoped(caller: &Principal, mut filter: IncidentFilter) -> IncidentFilter {
    if !caller.role.is_agent() {
        filter.requester = Some(caller.username.clone());
    }
    filter
}

/// One page of the incidents the caller may see.
pub async fn list(state: &AppState, caller: &Principal, filter: IncidentFilter) -> ApiResult<IncidentPage> {
    Ok(state.store.list_incidents(&scoped(caller, filter)).await?)
}

/// How many incidents the caller may see match `filter`, counting at most
/// `cap` (a queue badge says "1000+" rather than scanning a million rows).
pub async fn count(state: &AppState, caller: &Principal, filter: IncidentFilter, cap: u64) -> ApiResult<u64> {
    Ok(state.store.count_incidents(&scoped(caller, filter), cap).await?)
}

/// Parses `INC-000123` (or `123`); anything else is "not found".
pub fn parse_number(number: &str) -> ApiResult<IncidentNumber> {
    number.parse().map_err(|_| ApiError::not_found(format_args!("incident `{number}`")))
}

/// Loads an incident the caller may see: requesters only their own; anyone
/// else's is "not found".
pub async fn visible(state: &AppState, caller: &Principal, number: &str) -> ApiResult<IncidentRecord> {
    let number = parse_number(number)?;
    let record = state.store.get_incident(number).await?;
    if !caller.role.is_agent() && record.incident.requester_id != caller.user_id {
        return Err(ApiError::not_found(format_args!("incident `{number}`")));
    }
    Ok(record)
}

/// Edits fields (agents).
pub async fn update(state: &AppState, caller: &Principal, number: &str, update: IncidentUpdate) -> ApiResult<IncidentRecord> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    Ok(state.store.update_incident(number, update, &Actor::user(caller)).await?)
}

/// The status changes the caller may ask for from `status`: agents every
/// edge of the lifecycle; requesters only to confirm (close), cancel, or
/// reopen a resolved incident.
pub fn transitions_for(caller: &Principal, status: Status) -> Vec<Status> {
    Status::ALL
        .iter()
        .copied()
        .filter(|to| switchyard_domain::lifecycle::is_allowed(status, *to))
        .filter(|to| caller.role.is_agent() || requester_may(status, *to))
        .collect()
}

fn requester_may(from: Status, to: Status) -> bool {
    let reopening = from == Status::Resolved && matches!(to, Status::InProgress | Status::Assigned);
    reopening || matches!(to, Status::Closed | Status::Cancelled)
}

/// Moves an incident through its lifecycle.
pub async fn transition(state: &AppState, caller: &Principal, number: &str, request: TransitionRequest) -> ApiResult<IncidentRecord> {
    let record = visible(state, caller, number).await?;
    if !caller.role.is_agent() && request.to.is_some_and(|to| !requester_may(record.incident.status, to)) {
        return Err(ApiError::forbidden("requesters may only close, cancel or reopen their incidents"));
    }
    Ok(state.store.transition_incident(record.incident.number, &request, &Actor::user(caller)).await?)
}

/// Adds a public comment (the requester sees it).
pub async fn comment(state: &AppState, caller: &Principal, number: &str, body: &str) -> ApiResult<EventRecord> {
    let record = visible(state, caller, number).await?;
    Ok(state.store.add_note(record.incident.number, body, Visibility::Public, &Actor::user(caller)).await?)
}

/// Adds an internal work note (agents).
pub async fn work_note(state: &AppState, caller: &Principal, number: &str, body: &str) -> ApiResult<EventRecord> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    Ok(state.store.add_note(number, body, Visibility::Internal, &Actor::user(caller)).await?)
}

/// An agent acknowledges an open incident: recorded in its history, and
/// its escalation (if it is being paged) stops.
pub async fn acknowledge(state: &AppState, caller: &Principal, number: &str) -> ApiResult<Option<switchyard_store::EscalationRecord>> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    Ok(state.store.acknowledge(number, &Actor::user(caller)).await?)
}

/// The incident's history, oldest first; requesters never see work notes.
pub async fn history(state: &AppState, caller: &Principal, number: &str) -> ApiResult<Vec<EventRecord>> {
    let record = visible(state, caller, number).await?;
    Ok(state.store.history(record.incident.number, caller.role.is_agent()).await?)
}

/// Whether the caller may rate the incident: its requester (or an admin).
pub fn may_rate(caller: &Principal, record: &IncidentRecord) -> bool {
    record.incident.requester_id == caller.user_id || require(caller, Need::Admin).is_ok()
}

/// Rates a resolved or closed incident, once.
pub async fn rate(state: &AppState, caller: &Principal, number: &str, score: u8, comment: Option<String>) -> ApiResult<()> {
    let record = visible(state, caller, number).await?;
    if !may_rate(caller, &record) {
        return Err(ApiError::new(ErrorCode::Forbidden, "only the requester rates an incident"));
    }
    Ok(state.store.rate_incident(record.incident.number, score, comment, &Actor::user(caller)).await?)
}
