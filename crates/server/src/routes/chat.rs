//! `POST /api/v1/chat/{name}`: a chat integration in the formats teams
//! already use. A Slack slash command (form body) or Events API callback
//! (JSON), verified with Slack's request signature (`X-Slack-Signature`,
//! `X-Slack-Request-Timestamp`, at most five minutes old); a Mattermost
//! outgoing webhook or slash command, verified with its token (in the body
//! or `Authorization: Token ...`). A forged request is a 401 and does
//! nothing. `/incident printer on floor 3 is jammed` opens an incident
//! (channel `chat`); `/incident INC-000123 it works again` comments on one.
//! The chat user acts as the integration's `requester`, or, with
//! `map_users_by_name`, as the Switchyard user of the same username.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use switchyard_domain::history::Visibility;
use switchyard_domain::incident::{Channel, IncidentNumber, Level};
use switchyard_store::{Actor, CreateIncident, IncidentRecord, IntegrationRecord, StoreError, UserRecord};
use switchyard_webhooks::chat::{
    ChatRequest, Command, SlackEvent, authorization_token, parse_command, parse_mattermost, parse_slack_command, parse_slack_event,
    verify_slack, verify_token,
};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::routes::integrations::ChatSettings;
use crate::state::AppState;

fn forged(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, format!("the request's signature does not verify: {why}"))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// A chat command or message for an integration (see the module doc).
/// Answers in the chat system's own shape (`{"text": ...}`; a Slack URL
/// verification gets its challenge back).
#[utoipa::path(post, path = "/api/v1/chat/{name}", tag = "chat", params(("name" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Value), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_chat(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let Some((integration, Some(secret))) = state.store.integration_with_secret(&name).await? else {
        return Err(ApiError::not_found(format_args!("chat integration `{name}`")));
    };
    let content_type = header(&headers, "content-type").to_owned();
    let bad = |e: switchyard_webhooks::PayloadError| ApiError::field(e.field, e.rule, e.message);
    let request = match integration.kind.as_str() {
        "slack" => {
            let now = chrono::Utc::now().timestamp();
            verify_slack(&secret, header(&headers, "x-slack-request-timestamp"), header(&headers, "x-slack-signature"), &body, now)
                .map_err(forged)?;
            // Slack retries an event it thinks was not taken; the first
            // delivery was (or is being) handled.
            if content_type.starts_with("application/json") && headers.contains_key("x-slack-retry-num") {
                return Ok(Json(json!({})));
            }
            if content_type.starts_with("application/json") {
                match parse_slack_event(&body).map_err(bad)? {
                    SlackEvent::UrlVerification { challenge } => return Ok(Json(json!({"challenge": challenge}))),
                    SlackEvent::Ignored => return Ok(Json(json!({}))),
                    SlackEvent::Message(request) => request,
                }
            } else {
                parse_slack_command(&body).map_err(bad)?
            }
        }
        "mattermost" => {
            let (request, token) = parse_mattermost(&body, &content_type).map_err(bad)?;
            let given = token.or_else(|| authorization_token(header(&headers, "authorization")).map(str::to_owned)).unwrap_or_default();
            verify_token(&secret, &given).map_err(forged)?;
            request
        }
        _ => return Err(ApiError::not_found(format_args!("chat integration `{name}`"))),
    };
    let text = handle(&state, &integration, &request).await?;
    Ok(Json(json!({"response_type": "in_channel", "text": text})))
}

/// The Switchyard user a chat user is: the active user of the same
/// username, else the integration's requester.
async fn chat_user(state: &AppState, integration: &IntegrationRecord, request: &ChatRequest) -> ApiResult<UserRecord> {
    let settings: ChatSettings = serde_json::from_value(integration.settings.clone())
        .map_err(|e| ApiError::internal(&format_args!("integration `{}`: {e}", integration.name)))?;
    if settings.map_users_by_name {
        let username = request.user_name.to_lowercase();
        match state.store.get_user(&username).await {
            Ok(u) if u.user.active => return Ok(u),
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(state.store.get_user(&settings.requester).await?)
}

async fn handle(state: &AppState, integration: &IntegrationRecord, request: &ChatRequest) -> ApiResult<String> {
    let command = request.command.clone().unwrap_or_else(|| "/incident".into());
    match parse_command(&request.text) {
        Command::Help => Ok(format!("`{command} <what is wrong>` opens an incident; `{command} INC-000123 <text>` adds a comment to one.")),
        Command::Open { text } => {
            let user = chat_user(state, integration, request).await?;
            let channel = format!("chat:{}", integration.name);
            let actor = Actor::channel(&channel, Some((user.user.id, &user.user.username)));
            let title: String = text.lines().next().unwrap_or_default().chars().take(200).collect();
            let place = request.channel_name.as_deref().map(|c| format!(" in #{c}")).unwrap_or_default();
            let record = state
                .store
                .create_incident(CreateIncident {
                    kind: Default::default(),
                    details: Default::default(),
                    checklist: Vec::new(),
                    title,
                    description: format!("{text}\n\nReported in chat by {}{place}.", request.user_name),
                    requester: user.user.username.clone(),
                    channel: Channel::Chat,
                    category: None,
                    subcategory: None,
                    service_id: None,
                    affected_ci_ids: Vec::new(),
                    impact: Level::LOW,
                    urgency: Level::MEDIUM,
                    priority_override: None,
                    assignment_group: None,
                    assignee: None,
                    custom_fields: json!({}),
                    actor,
                })
                .await?;
            Ok(format!("Opened {}: {}", record.incident.number, record.incident.title))
        }
        Command::Comment { number, text } => {
            let user = chat_user(state, integration, request).await?;
            let parsed: IncidentNumber =
                number.parse().map_err(|_| ApiError::field("text", "number", format!("`{number}` is not an incident number")))?;
            let incident: IncidentRecord = match state.store.get_incident(parsed).await {
                Ok(i) => i,
                Err(StoreError::NotFound { .. }) => return Ok(format!("{number} was not found.")),
                Err(e) => return Err(e.into()),
            };
            if !user.user.role.is_agent() && incident.incident.requester_id != user.user.id {
                return Ok(format!("{number} was not found."));
            }
            if text.trim().is_empty() {
                return Ok(format!("{number}: {} ({})", incident.incident.title, incident.incident.status));
            }
            let channel = format!("chat:{}", integration.name);
            let actor = Actor::channel(&channel, Some((user.user.id, &user.user.username)));
            state.store.add_note(parsed, &text, Visibility::Public, &actor).await?;
            Ok(format!("Added your comment to {number}."))
        }
    }
}
