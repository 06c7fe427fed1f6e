//! Use cases that join or reshape tickets: links between them, watchers,
//! converting an incident to a request and back, the processing
//! checklist, and the templates that prefill new tickets.
//!
//! Agents link, convert and tick; anyone who may see a ticket may read its
//! links and watch it (a requester watches only their own tickets, and
//! only agents may add someone else as a watcher); admins edit templates.

use switchyard_domain::checklist::TemplateDocument;
use switchyard_domain::incident::IncidentNumber;
use switchyard_domain::kind::Kind;
use switchyard_domain::links::LinkType;
use switchyard_store::{Actor, IncidentRecord, KnownErrorMatch, LinkedTicket, Principal};

use super::guard::{Need, require};
use super::incidents::{parse_number, visible};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Parses a ticket number for a link: an unknown or malformed one is a 404
/// that names it.
fn target_number(number: &str) -> ApiResult<IncidentNumber> {
    number.parse().map_err(|_| ApiError::not_found(format_args!("ticket `{number}`")))
}

/// Links `source` to `target` (agents); answers the source's links after.
pub async fn link(state: &AppState, caller: &Principal, source: &str, link_type: LinkType, target: &str) -> ApiResult<Vec<LinkedTicket>> {
    require(caller, Need::Agent)?;
    let from = parse_number(source)?;
    let to = target_number(target)?;
    state.store.link_tickets(from, link_type, to, (source, target), &Actor::user(caller)).await?;
    Ok(state.store.linked_tickets(from).await?)
}

/// Removes a link (agents); 404 when there is none.
pub async fn unlink(state: &AppState, caller: &Principal, source: &str, link_type: LinkType, target: &str) -> ApiResult<Vec<LinkedTicket>> {
    require(caller, Need::Agent)?;
    let from = parse_number(source)?;
    let to = target_number(target)?;
    if !state.store.unlink_tickets(from, link_type, to, (source, target), &Actor::user(caller)).await? {
        return Err(ApiError::not_found(format_args!("link `{source} {link_type} {target}`")));
    }
    Ok(state.store.linked_tickets(from).await?)
}

/// A ticket's links, seen from it. A requester sees only the links of
/// their own tickets.
pub async fn links(state: &AppState, caller: &Principal, number: &str) -> ApiResult<Vec<LinkedTicket>> {
    let record = visible(state, caller, number).await?;
    Ok(state.store.linked_tickets(record.incident.number).await?)
}

/// Adds or removes a watcher. Without a username, the caller watches
/// themselves; naming someone else needs the agent role.
pub async fn watch(state: &AppState, caller: &Principal, number: &str, username: Option<&str>, on: bool) -> ApiResult<Vec<String>> {
    let record = visible(state, caller, number).await?;
    let who = username.unwrap_or(&caller.username);
    if who != caller.username {
        require(caller, Need::Agent)?;
    }
    Ok(state.store.set_watching(record.incident.number, who, on, &Actor::user(caller)).await?)
}

/// Converts a ticket to another kind (agents).
pub async fn convert(state: &AppState, caller: &Principal, number: &str, to: Kind, reason: Option<&str>) -> ApiResult<IncidentRecord> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    Ok(state.store.convert_ticket(number, to, reason, &Actor::user(caller)).await?)
}

/// Ticks or unticks a checklist item (agents; `item` counts from 1, as
/// people do).
pub async fn tick(state: &AppState, caller: &Principal, number: &str, item: usize, done: bool) -> ApiResult<IncidentRecord> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    let index = item.checked_sub(1).ok_or_else(|| ApiError::field("item", "range", "items count from 1"))?;
    Ok(state.store.set_checklist_item(number, index, done, &Actor::user(caller)).await?)
}

/// Adds a checklist item (agents).
pub async fn add_item(state: &AppState, caller: &Principal, number: &str, text: &str, required: bool) -> ApiResult<IncidentRecord> {
    require(caller, Need::Agent)?;
    let number = parse_number(number)?;
    Ok(state.store.add_checklist_item(number, text, required, &Actor::user(caller)).await?)
}

/// The known errors that apply to a ticket the caller may see, best first.
pub async fn known_errors(state: &AppState, caller: &Principal, number: &str) -> ApiResult<Vec<KnownErrorMatch>> {
    let record = visible(state, caller, number).await?;
    Ok(state.store.known_errors_for(record.incident.number).await?)
}

/// Applies a known error to an incident (agents): links the incident as
/// caused by the problem and tells the requester the workaround in a
/// public comment, both in the history.
pub async fn apply_known_error(state: &AppState, caller: &Principal, number: &str, problem: &str) -> ApiResult<IncidentRecord> {
    require(caller, Need::Agent)?;
    let incident = parse_number(number)?;
    let matches = state.store.known_errors_for(incident).await?;
    let wanted = target_number(problem)?;
    let found = matches
        .into_iter()
        .find(|m| m.problem == wanted)
        .ok_or_else(|| ApiError::field("problem", "applies", format!("{problem} is not a known error that applies to {number}")))?;
    let actor = Actor::user(caller);
    state.store.link_tickets(incident, LinkType::CausedBy, found.problem, (number, problem), &actor).await?;
    state.store.add_note(incident, &found.proposal(), switchyard_store::Visibility::Public, &actor).await?;
    Ok(state.store.get_incident(incident).await?)
}

/// The templates (anyone signed in may read them: the portal offers them).
pub async fn templates(state: &AppState) -> ApiResult<TemplateDocument> {
    Ok(state.store.templates().await?)
}

/// Replaces the templates document (admins).
pub async fn set_templates(state: &AppState, caller: &Principal, document: &serde_json::Value) -> ApiResult<TemplateDocument> {
    require(caller, Need::Admin)?;
    Ok(state.store.set_templates(document).await?)
}
