//! What joins or reshapes tickets, under `/api/v1/incidents/{number}`
//! (every kind of ticket lives there; the number's prefix names its kind):
//! links, watchers, conversion and the checklist; and `/api/v1/templates`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::checklist::TemplateDocument;
use switchyard_domain::kind::Kind;
use switchyard_domain::links::LinkType;
use switchyard_store::LinkedTicket;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::incidents::IncidentDto;
use crate::app::guard::{Admin, Agent, Caller};
use crate::app::tickets;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The ticket routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_links, add_link))
        .routes(routes!(remove_link))
        .routes(routes!(list_watchers, add_watcher))
        .routes(routes!(remove_watcher))
        .routes(routes!(convert))
        .routes(routes!(add_checklist_item))
        .routes(routes!(tick_checklist_item))
        .routes(routes!(get_templates, put_templates))
        .routes(routes!(list_known_errors))
        .routes(routes!(apply_known_error))
}

/// A known error that applies to a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct KnownErrorDto {
    /// The problem, e.g. `PRB-000004`.
    pub number: String,
    /// Its title.
    pub title: String,
    /// The workaround it publishes.
    pub workaround: String,
    /// How strongly it matches (CI 3, service 2, text 2, category 1).
    pub score: u32,
    /// What the two share: `ci`, `service`, `text`, `category`.
    pub reasons: Vec<String>,
    /// The proposal as a sentence.
    pub proposal: String,
}

/// The known errors (open problems published with a workaround) that apply
/// to a ticket, best first.
#[utoipa::path(get, path = "/api/v1/incidents/{number}/known-errors", tag = "tickets", params(("number" = String, Path)),
    responses((status = 200, body = Vec<KnownErrorDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_known_errors(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> ApiResult<Json<Vec<KnownErrorDto>>> {
    let found = tickets::known_errors(&state, &caller.0, &number).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|m| KnownErrorDto {
                proposal: m.proposal(),
                reasons: m.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
                number: m.number,
                title: m.title,
                workaround: m.workaround,
                score: m.score,
            })
            .collect(),
    ))
}

/// Apply a known error (agents): the incident is linked as caused by the
/// problem and the requester gets the workaround as a comment.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/known-errors/{problem}/apply", tag = "tickets",
    params(("number" = String, Path), ("problem" = String, Path)),
    responses((status = 200, body = IncidentDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn apply_known_error(
    State(state): State<AppState>,
    caller: Agent,
    Path((number, problem)): Path<(String, String)>,
) -> ApiResult<Json<IncidentDto>> {
    Ok(Json(tickets::apply_known_error(&state, &caller.0, &number, &problem).await?.into()))
}

/// A link as the ticket it is read from sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkDto {
    /// `caused_by`, `resolved_by`, `created_from` or `parent` (as written
    /// from the link's source).
    #[serde(rename = "type")]
    pub link_type: String,
    /// `source` when this ticket wrote the link, `target` when it points here.
    pub end: String,
    /// How it reads from here: "caused by", "causes", "child of", "parent of"...
    pub label: String,
    /// The other ticket's number, e.g. `PRB-000004`.
    pub number: String,
    /// Its kind.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
}

impl From<LinkedTicket> for LinkDto {
    fn from(l: LinkedTicket) -> Self {
        LinkDto {
            link_type: l.link.link_type.to_string(),
            end: l.link.end.as_str().into(),
            label: l.link.link_type.label(l.link.end).into(),
            number: l.link.other_number,
            kind: l.link.other_kind.to_string(),
            title: l.title,
            status: l.status.to_string(),
        }
    }
}

fn dtos(links: Vec<LinkedTicket>) -> Json<Vec<LinkDto>> {
    Json(links.into_iter().map(Into::into).collect())
}

/// A new link from this ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `caused_by` (incident to problem or change), `resolved_by` (incident
    /// or problem to change), `created_from` (request, problem or change to
    /// the incident it came from), `parent` (incident to its parent incident).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "caused_by")]
    pub link_type: LinkType,
    /// The other ticket, e.g. `PRB-000004`.
    pub target: String,
}

/// A ticket's links, both ends.
#[utoipa::path(get, path = "/api/v1/incidents/{number}/links", tag = "tickets", params(("number" = String, Path)),
    responses((status = 200, body = Vec<LinkDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_links(State(state): State<AppState>, caller: Caller, Path(number): Path<String>) -> ApiResult<Json<Vec<LinkDto>>> {
    Ok(dtos(tickets::links(&state, &caller.0, &number).await?))
}

/// Link this ticket to another (agents). Recorded in both histories.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/links", tag = "tickets", params(("number" = String, Path)), request_body = LinkBody,
    responses((status = 201, body = Vec<LinkDto>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_link(
    State(state): State<AppState>,
    caller: Agent,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<(StatusCode, Json<Vec<LinkDto>>)> {
    let links = tickets::link(&state, &caller.0, &number, body.link_type, &body.target).await?;
    Ok((StatusCode::CREATED, dtos(links)))
}

/// Remove a link written from this ticket (agents).
#[utoipa::path(delete, path = "/api/v1/incidents/{number}/links/{type}/{target}", tag = "tickets",
    params(("number" = String, Path), ("type" = String, Path), ("target" = String, Path)),
    responses((status = 200, body = Vec<LinkDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_link(
    State(state): State<AppState>,
    caller: Agent,
    Path((number, link_type, target)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<LinkDto>>> {
    let link_type: LinkType = link_type.parse().map_err(|e| ApiError::one_of("type", &e))?;
    Ok(dtos(tickets::unlink(&state, &caller.0, &number, link_type, &target).await?))
}

/// Who watches a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchersDto {
    /// Usernames, sorted.
    pub watchers: Vec<String>,
}

/// A watcher to add.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatcherBody {
    /// Username (default: the caller; someone else: agents only).
    pub username: Option<String>,
}

/// A ticket's watchers.
#[utoipa::path(get, path = "/api/v1/incidents/{number}/watchers", tag = "tickets", params(("number" = String, Path)),
    responses((status = 200, body = WatchersDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_watchers(State(state): State<AppState>, caller: Caller, Path(number): Path<String>) -> ApiResult<Json<WatchersDto>> {
    let record = crate::app::incidents::visible(&state, &caller.0, &number).await?;
    Ok(Json(WatchersDto { watchers: record.watchers }))
}

/// Watch a ticket (yourself, or someone else if you are an agent).
#[utoipa::path(post, path = "/api/v1/incidents/{number}/watchers", tag = "tickets", params(("number" = String, Path)), request_body = WatcherBody,
    responses((status = 200, body = WatchersDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_watcher(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<WatcherBody>,
) -> ApiResult<Json<WatchersDto>> {
    let watchers = tickets::watch(&state, &caller.0, &number, body.username.as_deref(), true).await?;
    Ok(Json(WatchersDto { watchers }))
}

/// Stop watching (yourself, or remove someone if you are an agent).
#[utoipa::path(delete, path = "/api/v1/incidents/{number}/watchers/{username}", tag = "tickets",
    params(("number" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = WatchersDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_watcher(
    State(state): State<AppState>,
    caller: Caller,
    Path((number, username)): Path<(String, String)>,
) -> ApiResult<Json<WatchersDto>> {
    let watchers = tickets::watch(&state, &caller.0, &number, Some(&username), false).await?;
    Ok(Json(WatchersDto { watchers }))
}

/// A conversion to another kind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertBody {
    /// `incident` or `request`.
    #[schema(value_type = String, example = "request")]
    pub kind: Kind,
    /// Why (recorded in the history).
    pub reason: Option<String>,
}

/// Convert a misfiled incident to a service request, or back (agents).
/// The digits of the number and the whole history stay.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/convert", tag = "tickets", params(("number" = String, Path)), request_body = ConvertBody,
    responses((status = 200, body = IncidentDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn convert(
    State(state): State<AppState>,
    caller: Agent,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<ConvertBody>,
) -> ApiResult<Json<IncidentDto>> {
    Ok(Json(tickets::convert(&state, &caller.0, &number, body.kind, body.reason.as_deref()).await?.into()))
}

/// A checklist item to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItemBody {
    /// What to do (1..200 characters).
    pub text: String,
    /// Whether resolving waits for it.
    #[serde(default)]
    pub required: bool,
}

/// Add a checklist item (agents).
#[utoipa::path(post, path = "/api/v1/incidents/{number}/checklist", tag = "tickets", params(("number" = String, Path)), request_body = ChecklistItemBody,
    responses((status = 201, body = IncidentDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_checklist_item(
    State(state): State<AppState>,
    caller: Agent,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<ChecklistItemBody>,
) -> ApiResult<(StatusCode, Json<IncidentDto>)> {
    let record = tickets::add_item(&state, &caller.0, &number, &body.text, body.required).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Whether an item is done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TickBody {
    /// Done (`true`) or not yet (`false`).
    pub done: bool,
}

/// Tick or untick checklist item `item` (counting from 1; agents).
#[utoipa::path(put, path = "/api/v1/incidents/{number}/checklist/{item}", tag = "tickets",
    params(("number" = String, Path), ("item" = usize, Path)), request_body = TickBody,
    responses((status = 200, body = IncidentDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn tick_checklist_item(
    State(state): State<AppState>,
    caller: Agent,
    Path((number, item)): Path<(String, usize)>,
    ApiJson(body): ApiJson<TickBody>,
) -> ApiResult<Json<IncidentDto>> {
    Ok(Json(tickets::tick(&state, &caller.0, &number, item, body.done).await?.into()))
}

/// The templates document.
#[utoipa::path(get, path = "/api/v1/templates", tag = "tickets",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_templates(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<TemplateDocument>> {
    Ok(Json(tickets::templates(&state).await?))
}

/// Replace the templates document (admins): `{"templates": [{"name",
/// "kind", "title", "description", "category", "subcategory", "impact",
/// "urgency", "assignment_group", "checklist": [{"text", "required"}]}]}`.
#[utoipa::path(put, path = "/api/v1/templates", tag = "tickets", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_templates(
    State(state): State<AppState>,
    caller: Admin,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<TemplateDocument>> {
    Ok(Json(tickets::set_templates(&state, &caller.0, &body).await?))
}
