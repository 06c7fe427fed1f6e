//! The requester portal: report an incident, follow my incidents, reply,
//! confirm or reject a resolution, and rate the service. Requesters see
//! only their own incidents and never a work note (the use cases enforce
//! both; the portal only shows what they return).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use switchyard_domain::cmdb::CiClass;
use switchyard_domain::incident::{Channel, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::{Category, IncidentFilter, SortField, SortOrder};

use super::console::TransitionFormBody;
use super::session::CsrfForm;
use super::view::{self, EventView, FormErrors, IncidentView, Layout};
use super::{Web, WebError, form_outcome, render};
use crate::app::attachments;
use crate::app::guard::Caller;
use crate::app::incidents::{self, NewIncident};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The portal routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(my_incidents))
        .route("/portal/new", get(new_page).post(new_submit))
        .route("/portal/incidents/{number}", get(incident_page))
        .route("/portal/incidents/{number}/reply", post(reply))
        .route("/portal/incidents/{number}/transition", post(transition))
        .route("/portal/incidents/{number}/rating", post(rate))
}

#[derive(Template)]
#[template(path = "portal/list.html")]
struct ListPage {
    l: Layout,
    items: Vec<IncidentView>,
    next_href: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    cursor: Option<String>,
}

/// `GET /portal`: my incidents, newest first.
async fn my_incidents(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    Query(q): Query<ListParams>,
) -> Result<Response, WebError> {
    let me = caller.principal();
    // Everyone's portal is their own incidents, agents' included, newest
    // first (by number: the requester index serves it at any size).
    let filter = IncidentFilter {
        requester: Some(me.username.clone()),
        sort: SortField::Number,
        order: SortOrder::Desc,
        cursor: q.cursor,
        limit: 25,
        ..Default::default()
    };
    let page = incidents::list(&state, me, filter).await?;
    let next_href =
        page.next_cursor.map(|c| format!("/portal?{}", form_urlencoded::Serializer::new(String::new()).append_pair("cursor", &c).finish()));
    let l = Layout::signed_in(me, &headers, "portal", "My incidents");
    Ok(render(&ListPage { l, items: page.items.iter().map(IncidentView::from).collect(), next_href }))
}

/// What the report form was sent with (to show it again on an error).
#[derive(Debug, Default, Deserialize)]
struct NewForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    category: Option<String>,
    service: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/new.html")]
struct NewPage {
    l: Layout,
    form: NewForm,
    categories: Vec<Category>,
    services: Vec<(i64, String)>,
    errors: FormErrors,
}

async fn new_view(state: &AppState, caller: &Caller<Web>, headers: &HeaderMap, form: NewForm, errors: FormErrors) -> ApiResult<NewPage> {
    let categories = state.store.categories().await?;
    let services = state.store.list_cis(Some(CiClass::Service), None, None, 200).await?.into_iter().map(|c| (c.id, c.name)).collect();
    let l = Layout::signed_in(caller.principal(), headers, "portal", "Report an incident");
    Ok(NewPage { l, form, categories, services, errors })
}

/// `GET /portal/new`.
async fn new_page(State(state): State<AppState>, caller: Caller<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    Ok(render(&new_view(&state, &caller, &headers, NewForm::default(), FormErrors::default()).await?))
}

/// `POST /portal/new`: logs the incident from the portal channel.
async fn new_submit(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<NewForm>,
) -> Result<Response, WebError> {
    let result = async {
        let category = form.category.clone().filter(|c| !c.is_empty());
        if let Some(c) = &category
            && !state.store.categories().await?.iter().any(|k| &k.id == c)
        {
            return Err(ApiError::field("category", "one_of", format!("`{c}` is not one of the offered categories")));
        }
        let service_id = match form.service.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<i64>().map_err(|_| ApiError::field("service", "type", "pick a service from the list"))?),
            None => None,
        };
        let new = NewIncident {
            title: form.title.trim().to_owned(),
            description: form.description.clone(),
            category,
            service_id,
            ..Default::default()
        };
        incidents::create(&state, caller.principal(), new, Channel::Portal).await
    }
    .await;
    let done = result.map(|record| format!("/portal/incidents/{}", record.incident.number));
    form_outcome(done, "new", async |errors| new_view(&state, &caller, &headers, form, errors).await).await
}

#[derive(Template)]
#[template(path = "portal/incident.html")]
struct IncidentPage {
    l: Layout,
    i: IncidentView,
    events: Vec<EventView>,
    can_confirm: bool,
    can_reopen: bool,
    can_cancel: bool,
    can_rate: bool,
    attachments: Vec<view::AttachmentView>,
    errors: FormErrors,
}

async fn incident_view(
    state: &AppState,
    caller: &Caller<Web>,
    headers: &HeaderMap,
    number: &str,
    errors: FormErrors,
) -> ApiResult<IncidentPage> {
    let me = caller.principal();
    let record = incidents::visible(state, me, number).await?;
    // The portal shows what the requester sees, whoever opens it.
    let history = incidents::history(state, me, number).await?;
    let events: Vec<EventView> = history.iter().map(EventView::from).filter(|e| !e.internal).collect();
    let status = record.incident.status;
    let allowed = incidents::transitions_for(me, status);
    let rated = history.iter().any(|e| e.field.as_deref() == Some("csat"));
    let l = Layout::signed_in(me, headers, "portal", format!("{} {}", record.incident.number, record.incident.title));
    Ok(IncidentPage {
        l,
        i: IncidentView::from(&record),
        events,
        can_confirm: status == Status::Resolved && allowed.contains(&Status::Closed),
        can_reopen: status == Status::Resolved && allowed.contains(&Status::InProgress),
        can_cancel: status.is_open() && allowed.contains(&Status::Cancelled),
        can_rate: matches!(status, Status::Resolved | Status::Closed) && !rated && incidents::may_rate(me, &record),
        attachments: attachments::of_incident(state, me, number).await?.iter().map(view::AttachmentView::from).collect(),
        errors,
    })
}

/// `GET /portal/incidents/{number}`.
async fn incident_page(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    Ok(render(&incident_view(&state, &caller, &headers, &number, FormErrors::default()).await?))
}

/// After a form: back to the incident page, or the page again with the
/// form's errors next to its fields.
async fn after(
    state: &AppState,
    caller: &Caller<Web>,
    headers: &HeaderMap,
    number: &str,
    form: &str,
    result: ApiResult<()>,
) -> Result<Response, WebError> {
    let done = result.map(|()| format!("/portal/incidents/{number}"));
    form_outcome(done, form, async |errors| incident_view(state, caller, headers, number, errors).await).await
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
}

/// `POST .../reply`: a comment the service desk sees.
async fn reply(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<ReplyForm>,
) -> Result<Response, WebError> {
    let result = incidents::comment(&state, caller.principal(), &number, &f.body).await.map(drop);
    after(&state, &caller, &headers, &number, "reply", result).await
}

/// `POST .../transition`: confirm (close), reopen with a reason, or cancel.
async fn transition(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<TransitionFormBody>,
) -> Result<Response, WebError> {
    let form = format!("transition-{}", f.to);
    let result = async {
        let request: TransitionRequest = f.request()?;
        incidents::transition(&state, caller.principal(), &number, request).await.map(drop)
    }
    .await;
    after(&state, &caller, &headers, &number, &form, result).await
}

#[derive(Debug, Deserialize)]
struct RatingForm {
    score: Option<String>,
    comment: Option<String>,
}

/// `POST .../rating`: 1..5 and an optional comment, once.
async fn rate(
    State(state): State<AppState>,
    caller: Caller<Web>,
    headers: HeaderMap,
    Path(number): Path<String>,
    CsrfForm(f): CsrfForm<RatingForm>,
) -> Result<Response, WebError> {
    let result = async {
        let score = f
            .score
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::field("score", "required", "pick a rating from 1 to 5"))?
            .parse::<u8>()
            .map_err(|_| ApiError::field("score", "range", "pick a rating from 1 to 5"))?;
        let comment = f.comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        incidents::rate(&state, caller.principal(), &number, score, comment).await
    }
    .await;
    after(&state, &caller, &headers, &number, "rating", result).await
}
