//! `/api/v1/mail/...` and attachments: the push path for inbound mail
//! (what `switchyard mail-gate` posts a message to, as an MTA pipe calls
//! it), the record of every message handled, the notification templates
//! admins edit (checked before they are stored), and the files that came
//! with mail, readable with the incident's access rules.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_engine::intake::Received;
use switchyard_mail::template::{TemplateDocument, default_template};
use switchyard_store::{AttachmentRecord, InboundOutcome, InboundRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::page_limit;
use crate::app::attachments;
use crate::app::guard::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Largest message body the inbound route reads; intake's own limit (25 MiB
/// by default) decides below this, and records a larger message as failed.
pub const INBOUND_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The mail routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_mail, list_inbound).layer(DefaultBodyLimit::max(INBOUND_BODY_LIMIT)))
        .routes(routes!(list_templates))
        .routes(routes!(put_template, delete_template))
        .routes(routes!(list_attachments))
        .routes(routes!(download_attachment))
}

/// A handled inbound message.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundDto {
    /// Record id.
    pub id: i64,
    /// When it was handled.
    pub received_at: DateTime<Utc>,
    /// `imap:...`, `mail-gate`, `api`.
    pub source: String,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// The sender's address.
    pub sender: Option<String>,
    /// Subject.
    pub subject: String,
    /// Bytes.
    pub size: i64,
    /// `created`, `commented`, `reopened`, `acknowledged`, `bounced`, `ignored`, `refused` or `failed`.
    pub outcome: String,
    /// Why, in words.
    pub reason: String,
    /// The incident it opened or updated.
    pub incident: Option<String>,
    /// The notification it answered (a bounce) or the reply it queued.
    pub notification_id: Option<i64>,
    /// Handled before: this delivery applied nothing.
    pub duplicate: bool,
}

impl InboundDto {
    fn of(r: InboundRecord, duplicate: bool) -> Self {
        InboundDto {
            id: r.id,
            received_at: r.received_at,
            source: r.mail.source,
            message_id: r.mail.message_id,
            sender: r.mail.sender,
            subject: r.mail.subject,
            size: r.mail.size,
            outcome: r.outcome.as_str().to_owned(),
            reason: r.mail.reason,
            incident: r.incident_id.map(|n| switchyard_domain::incident::IncidentNumber(n).to_string()),
            notification_id: r.notification_id,
            duplicate,
        }
    }
}

impl From<Received> for InboundDto {
    fn from(r: Received) -> Self {
        InboundDto::of(r.record, r.duplicate)
    }
}

/// Where a pushed message came from.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReceiveQuery {
    /// A name for the record (`mail-gate`, a host name) [default: api].
    pub source: Option<String>,
}

/// Hand a raw RFC 5322 message to intake (admin): the body is the message
/// as received. Whatever it is, the answer is its record: created,
/// commented, reopened, acknowledged, bounced, ignored, refused or failed, with the reason.
#[utoipa::path(post, path = "/api/v1/mail/inbound", tag = "mail", params(ReceiveQuery),
    request_body(content = String, content_type = "message/rfc822"),
    responses((status = 200, body = InboundDto), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)), security(("bearer" = [])))]
pub async fn receive_mail(
    State(state): State<AppState>,
    _caller: Admin,
    ApiQuery(q): ApiQuery<ReceiveQuery>,
    body: Bytes,
) -> ApiResult<Json<InboundDto>> {
    let source = q.source.unwrap_or_else(|| "api".into());
    if source.is_empty() || source.len() > 200 {
        return Err(ApiError::field("source", "length", "must be 1 to 200 characters"));
    }
    let received = state.intake.receive(&body, &source).await.map_err(crate::routes::workflows::engine_error)?;
    Ok(Json(received.into()))
}

/// Inbound record filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboundQuery {
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Records before this id (paging, newest first).
    pub before: Option<i64>,
    /// Page size (1..500, default 50).
    pub limit: Option<u64>,
}

/// Inbound messages handled, newest first (admin): every one, ignored and
/// failed ones included, with the reason.
#[utoipa::path(get, path = "/api/v1/mail/inbound", tag = "mail", params(InboundQuery),
    responses((status = 200, body = Vec<InboundDto>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_inbound(
    State(state): State<AppState>,
    _caller: Admin,
    ApiQuery(q): ApiQuery<InboundQuery>,
) -> ApiResult<Json<Vec<InboundDto>>> {
    let outcome = match &q.outcome {
        Some(o) => Some(InboundOutcome::parse(o).ok_or_else(|| {
            let names: Vec<&str> = InboundOutcome::ALL.iter().map(|o| o.as_str()).collect();
            ApiError::field("outcome", "one_of", format!("`{o}` is not one of {}", names.join(", ")))
        })?),
        None => None,
    };
    let rows = state.store.list_inbound(outcome, q.before, page_limit(q.limit)?).await?;
    Ok(Json(rows.into_iter().map(|r| InboundDto::of(r, false)).collect()))
}

/// A file attached to an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentDto {
    /// Attachment id.
    pub id: i64,
    /// Its incident.
    pub incident: String,
    /// File name.
    pub filename: String,
    /// Content type, sniffed from the bytes where they tell.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Shown inline in the mail it came with.
    pub inline: bool,
    /// The inbound message it came with.
    pub inbound_id: Option<i64>,
    /// Stored at.
    pub created_at: DateTime<Utc>,
    /// Where to download it.
    pub url: String,
}

impl From<AttachmentRecord> for AttachmentDto {
    fn from(a: AttachmentRecord) -> Self {
        AttachmentDto {
            url: format!("/api/v1/attachments/{}", a.id),
            id: a.id,
            incident: switchyard_domain::incident::IncidentNumber(a.incident_id).to_string(),
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
            inline: a.inline,
            inbound_id: a.inbound_id,
            created_at: a.created_at,
        }
    }
}

/// An incident's attachments (whoever may see the incident).
#[utoipa::path(get, path = "/api/v1/incidents/{number}/attachments", tag = "incidents", params(("number" = String, Path)),
    responses((status = 200, body = Vec<AttachmentDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_attachments(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> ApiResult<Json<Vec<AttachmentDto>>> {
    let rows = attachments::of_incident(&state, &caller.0, &number).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Download an attachment (whoever may see its incident). Always served
/// as a download, never rendered by the browser.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download_attachment(State(state): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    attachments::download(&state, &caller.0, id).await
}

/// A notification template: minijinja, the HTML part autoescaped. It sees
/// `subject` and `body` (what the workflow step wrote), `ticket.*` and
/// `links.portal` / `links.console`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The subject line (the ticket number is added when it is missing).
    pub subject: String,
    /// The plain text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// A stored template.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDto {
    /// `default`, or `<workflow>.<step>` for one workflow step's notifications.
    pub name: String,
    /// Whether it is the built-in one (nothing stored under this name).
    pub built_in: bool,
    /// The parts.
    #[serde(flatten)]
    pub body: TemplateBody,
}

fn dto(t: TemplateDocument, built_in: bool) -> TemplateDto {
    TemplateDto { name: t.name, built_in, body: TemplateBody { subject: t.subject, text: t.text, html: t.html } }
}

/// The notification templates (admin): the stored ones, and the built-in
/// `default` when none replaces it. A notification uses the template named
/// after its `<workflow>.<step>`, else `default`.
#[utoipa::path(get, path = "/api/v1/mail/templates", tag = "mail",
    responses((status = 200, body = Vec<TemplateDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_templates(State(state): State<AppState>, _caller: Admin) -> ApiResult<Json<Vec<TemplateDto>>> {
    let mut out = Vec::new();
    for (name, doc) in state.store.mail_templates().await? {
        let t: TemplateDocument = serde_json::from_value(doc)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the stored mail template `{name}` does not read: {e}")))?;
        out.push(dto(t, false));
    }
    if !out.iter().any(|t| t.name == "default") {
        out.insert(0, dto(default_template(), true));
    }
    Ok(Json(out))
}

/// Store a template (admin). A part that does not compile is refused with
/// its part, line and column, and nothing is stored.
#[utoipa::path(put, path = "/api/v1/mail/templates/{name}", tag = "mail", params(("name" = String, Path)), request_body = TemplateBody,
    responses((status = 200, body = TemplateDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_template(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<Json<TemplateDto>> {
    let document = TemplateDocument { name: name.clone(), subject: body.subject, text: body.text, html: body.html };
    if let Err(e) = document.check() {
        return Err(ApiError::field(e.part, "template", format!("line {}, column {}: {}", e.line, e.column, e.message)));
    }
    let value = serde_json::to_value(&document).map_err(|e| ApiError::field("template", "serialise", e.to_string()))?;
    state.store.put_mail_template(&name, &value).await?;
    Ok(Json(dto(document, false)))
}

/// Remove a stored template (admin); its notifications fall back to `default`.
#[utoipa::path(delete, path = "/api/v1/mail/templates/{name}", tag = "mail", params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_template(State(state): State<AppState>, _caller: Admin, Path(name): Path<String>) -> ApiResult<axum::http::StatusCode> {
    if state.store.delete_mail_template(&name).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format_args!("mail template `{name}`")))
    }
}
