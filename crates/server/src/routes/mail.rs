//! `/api/v1/mail/inbound` and attachments: the push path for inbound mail
//! (what `switchyard mail-gate` posts a message to, as an MTA pipe calls
//! it), the record of every message handled, and the files that came with
//! mail, readable with the incident's access rules.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_engine::intake::Received;
use switchyard_store::{AttachmentRecord, InboundOutcome, InboundRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::page_limit;
use crate::app::guard::{Admin, Caller};
use crate::app::incidents;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest message body the inbound route reads; intake's own limit (25 MiB
/// by default) decides below this, and records a larger message as failed.
pub const INBOUND_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The mail routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_mail, list_inbound).layer(DefaultBodyLimit::max(INBOUND_BODY_LIMIT)))
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
    /// `created`, `commented`, `reopened`, `bounced`, `ignored`, `refused` or `failed`.
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
/// commented, reopened, bounced, ignored, refused or failed, with the reason.
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
    let record = incidents::visible(&state, &caller.0, &number).await?;
    let rows = state.store.attachments_of(record.incident.number).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Download an attachment (whoever may see its incident). Always served
/// as a download, never rendered by the browser.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download_attachment(State(state): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    let (attachment, content) = match state.store.attachment(id).await {
        Ok(found) => found,
        Err(switchyard_store::StoreError::NotFound { .. }) => return Err(ApiError::not_found(format_args!("attachment {id}"))),
        Err(e) => return Err(e.into()),
    };
    // The incident's rules: a requester sees only their own.
    let number = switchyard_domain::incident::IncidentNumber(attachment.incident_id).to_string();
    incidents::visible(&state, &caller.0, &number).await.map_err(|_| ApiError::not_found(format_args!("attachment {id}")))?;
    let content_type = HeaderValue::from_str(&attachment.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let ascii: String = attachment.filename.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")).unwrap_or(HeaderValue::from_static("attachment"));
    Ok(([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, disposition)], content).into_response())
}
