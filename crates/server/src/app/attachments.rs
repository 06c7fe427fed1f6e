//! Attachments: files that came with mail, read with their incident's
//! rules (a requester only their own; anyone else's is "not found"), for
//! the JSON API and the web pages alike. Always served as a download with
//! the type sniffed at intake, never rendered inline by the browser.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use switchyard_domain::incident::IncidentNumber;
use switchyard_store::{AttachmentRecord, Principal, StoreError};

use super::incidents;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// An incident's attachments, oldest first.
pub async fn of_incident(state: &AppState, caller: &Principal, number: &str) -> ApiResult<Vec<AttachmentRecord>> {
    let record = incidents::visible(state, caller, number).await?;
    Ok(state.store.attachments_of(record.incident.number).await?)
}

/// One attachment as a download response.
pub async fn download(state: &AppState, caller: &Principal, id: i64) -> ApiResult<Response> {
    let not_found = || ApiError::not_found(format_args!("attachment {id}"));
    let (attachment, content) = match state.store.attachment(id).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    let number = IncidentNumber(attachment.incident_id).to_string();
    incidents::visible(state, caller, &number).await.map_err(|_| not_found())?;
    let content_type = HeaderValue::from_str(&attachment.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let ascii: String = attachment.filename.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")).unwrap_or(HeaderValue::from_static("attachment"));
    Ok(([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, disposition)], content).into_response())
}

/// A size for people: `532 B`, `14 KB`, `3.2 MB`.
pub fn size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{} KB", b / 1024),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}
