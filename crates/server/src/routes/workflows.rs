//! `/api/v1/workflows`, `/api/v1/runs`, `/api/v1/notifications`,
//! `/api/v1/plugins` and `/api/v1/schemas/workflow.json`: workflow
//! definitions with versions, validation, dry-run and manual runs (admins
//! change; agents read), run history and the notification outbox (agents).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::incident::IncidentNumber;
use switchyard_engine::dry_run::{DryRunReport, DryRunRequest};
use switchyard_engine::{Engine, EngineError, PublishMode};
use switchyard_store::{NotificationRecord, NotificationStatus, RunFilter, RunRecord, StepRecord, WorkflowSummary, WorkflowVersion};
use switchyard_workflow::{Format, Problems, RunStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page_limit;
use crate::app::guard::{Admin, Agent};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ErrorDetail};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The workflow routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workflows, publish_workflow))
        .routes(routes!(validate_workflow))
        .routes(routes!(get_workflow))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(enable_workflow))
        .routes(routes!(disable_workflow))
        .routes(routes!(dry_run))
        .routes(routes!(run_workflow))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(list_notifications))
        .routes(routes!(retry_notification))
        .routes(routes!(list_plugins))
        .routes(routes!(list_secrets))
        .routes(routes!(put_secret, delete_secret))
        .routes(routes!(workflow_schema))
}

/// An incident number given in a body or query field.
fn ticket_number(field: &str, text: &str) -> ApiResult<IncidentNumber> {
    text.parse().map_err(|e: switchyard_domain::DomainError| ApiError::field(field, "pattern", e.to_string()))
}

fn engine(state: &AppState) -> ApiResult<&Engine> {
    state.engine.as_ref().ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "the workflow engine is not running on this node"))
}

fn problems(p: Problems) -> ApiError {
    let details: Vec<ErrorDetail> =
        p.0.iter()
            .map(|p| ErrorDetail {
                field: p.path.clone(),
                rule: p.rule.clone(),
                message: match p.line {
                    Some(line) => format!("line {line}: {}", p.message),
                    None => p.message.clone(),
                },
            })
            .collect();
    ApiError { code: ErrorCode::ValidationFailed, message: format!("the workflow document has {} problem(s)", details.len()), details }
}

pub(crate) fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Workflow(p) => problems(p),
        EngineError::Store(s) => s.into(),
        EngineError::Invalid { field, message } => ApiError::field(field, "invalid", message),
        EngineError::Plugin(p) => ApiError::field("plugin", "plugin", p.to_string()),
    }
}

/// A workflow document: either `document` (JSON) or `source` (YAML or
/// JSON text, with `format`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    /// The document as a JSON object.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    /// The document as text.
    pub source: Option<String>,
    /// `yaml` (default for `source`) or `json`.
    pub format: Option<String>,
}

impl DocumentBody {
    fn text(&self) -> ApiResult<(String, Format)> {
        match (&self.document, &self.source) {
            (Some(d), None) => Ok((serde_json::to_string_pretty(d).unwrap_or_default(), Format::Json)),
            (None, Some(s)) => {
                let format = match self.format.as_deref() {
                    None | Some("yaml") | Some("yml") => Format::Yaml,
                    Some("json") => Format::Json,
                    Some(other) => return Err(ApiError::field("format", "one_of", format!("`{other}` is not one of yaml, json"))),
                };
                Ok((s.clone(), format))
            }
            _ => Err(ApiError::field("document", "required", "give exactly one of `document` (an object) or `source` (text)")),
        }
    }
}

/// A workflow and its latest version.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDto {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether new events start runs.
    pub enabled: bool,
    /// The version new runs use.
    pub latest_version: i32,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<WorkflowSummary> for WorkflowDto {
    fn from(w: WorkflowSummary) -> Self {
        Self { id: w.id, name: w.name, enabled: w.enabled, latest_version: w.latest_version, updated_at: w.updated_at }
    }
}

/// One published version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDto {
    /// Workflow id.
    pub workflow_id: String,
    /// Version.
    pub version: i32,
    /// The document.
    #[schema(value_type = Object)]
    pub document: Value,
    /// The text as published.
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// Publisher.
    pub created_by: String,
    /// Published at.
    pub created_at: DateTime<Utc>,
}

impl From<WorkflowVersion> for VersionDto {
    fn from(v: WorkflowVersion) -> Self {
        Self {
            workflow_id: v.workflow_id,
            version: v.version,
            document: v.document,
            source: v.source,
            format: v.format,
            created_by: v.created_by,
            created_at: v.created_at,
        }
    }
}

/// Workflows (agents).
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_workflows(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<Vec<WorkflowDto>>> {
    Ok(Json(state.store.list_workflows().await?.into_iter().map(Into::into).collect()))
}

/// Publish a workflow version (admin): validated completely (schema,
/// plugins, each step's config) before anything is stored. The version
/// must be greater than the latest.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", request_body = DocumentBody,
    responses((status = 201, body = VersionDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn publish_workflow(
    State(state): State<AppState>,
    caller: Admin,
    ApiJson(body): ApiJson<DocumentBody>,
) -> ApiResult<(axum::http::StatusCode, Json<VersionDto>)> {
    let (text, format) = body.text()?;
    let published = engine(&state)?.publish(&text, format, &caller.0.username, PublishMode::Always).await.map_err(engine_error)?;
    let published = published.ok_or_else(|| ApiError::new(ErrorCode::Conflict, "this version is already published"))?;
    Ok((axum::http::StatusCode::CREATED, Json(published.into())))
}

/// The result of a validation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationDto {
    /// Always true (problems answer 422).
    pub valid: bool,
    /// The normalised document.
    #[schema(value_type = Object)]
    pub document: Value,
}

/// Validate a document without publishing it (admin).
#[utoipa::path(post, path = "/api/v1/workflows/validate", tag = "workflows", request_body = DocumentBody,
    responses((status = 200, body = ValidationDto), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn validate_workflow(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(body): ApiJson<DocumentBody>,
) -> ApiResult<Json<ValidationDto>> {
    let (text, format) = body.text()?;
    let document = engine(&state)?.validate(&text, format).await.map_err(engine_error)?;
    Ok(Json(ValidationDto { valid: true, document: serde_json::to_value(&document).unwrap_or(Value::Null) }))
}

/// A workflow with its latest version's document (agents).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDetailDto {
    /// The workflow.
    pub workflow: WorkflowDto,
    /// Its latest version.
    pub latest: VersionDto,
}

/// One workflow (agents).
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = WorkflowDetailDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_workflow(State(state): State<AppState>, _caller: Agent, Path(id): Path<String>) -> ApiResult<Json<WorkflowDetailDto>> {
    let workflow = state.store.get_workflow(&id).await?;
    let latest = state.store.workflow_version(&id, workflow.latest_version).await?;
    Ok(Json(WorkflowDetailDto { workflow: workflow.into(), latest: latest.into() }))
}

/// Every version of a workflow, oldest first (agents).
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = Vec<VersionDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_versions(State(state): State<AppState>, _caller: Agent, Path(id): Path<String>) -> ApiResult<Json<Vec<VersionDto>>> {
    Ok(Json(state.store.workflow_versions(&id).await?.into_iter().map(Into::into).collect()))
}

/// One version of a workflow (agents).
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions/{version}", tag = "workflows", params(("id" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = VersionDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_version(
    State(state): State<AppState>,
    _caller: Agent,
    Path((id, version)): Path<(String, i32)>,
) -> ApiResult<Json<VersionDto>> {
    Ok(Json(state.store.workflow_version(&id, version).await?.into()))
}

/// Enable a workflow (admin).
#[utoipa::path(post, path = "/api/v1/workflows/{id}/enable", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = WorkflowDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn enable_workflow(State(state): State<AppState>, _caller: Admin, Path(id): Path<String>) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(engine(&state)?.set_enabled(&id, true).await.map_err(engine_error)?.into()))
}

/// Disable a workflow (admin); runs in flight finish.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/disable", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = WorkflowDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn disable_workflow(State(state): State<AppState>, _caller: Admin, Path(id): Path<String>) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(engine(&state)?.set_enabled(&id, false).await.map_err(engine_error)?.into()))
}

/// What to dry-run: a draft (or the latest published version when no
/// document is given) against recorded tickets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunBody {
    /// The draft as a JSON object.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    /// The draft as text.
    pub source: Option<String>,
    /// `yaml` or `json`.
    pub format: Option<String>,
    /// Tickets logged since.
    pub since: Option<DateTime<Utc>>,
    /// The newest N tickets (default 50, at most 1000).
    pub last: Option<u32>,
    /// Exactly these tickets.
    #[serde(default)]
    pub tickets: Vec<String>,
}

/// Dry-run a (draft) workflow against recorded tickets (admin): per
/// ticket, the actions it would take beside what actually happened.
/// Nothing is applied.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/dry-run", tag = "workflows", params(("id" = String, Path)), request_body = DryRunBody,
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn dry_run(
    State(state): State<AppState>,
    _caller: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DryRunBody>,
) -> ApiResult<Json<DryRunReport>> {
    let engine = engine(&state)?;
    let (text, format) = if body.document.is_none() && body.source.is_none() {
        let workflow = state.store.get_workflow(&id).await?;
        let version = state.store.workflow_version(&id, workflow.latest_version).await?;
        (version.document.to_string(), Format::Json)
    } else {
        DocumentBody { document: body.document, source: body.source, format: body.format }.text()?
    };
    let document = engine.validate(&text, format).await.map_err(engine_error)?;
    if document.id != id {
        return Err(ApiError::field("document.id", "match", format!("the document's id `{}` is not `{id}`", document.id)));
    }
    let mut tickets = Vec::with_capacity(body.tickets.len());
    for (i, t) in body.tickets.iter().enumerate() {
        tickets.push(ticket_number(&format!("tickets[{i}]"), t)?);
    }
    let report = engine.dry_run(DryRunRequest { document, since: body.since, last: body.last, tickets }).await.map_err(engine_error)?;
    Ok(Json(report))
}

/// A manual run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The ticket, e.g. `INC-000042`.
    pub ticket: String,
}

/// Run a workflow on a ticket now (agents).
#[utoipa::path(post, path = "/api/v1/workflows/{id}/run", tag = "workflows", params(("id" = String, Path)), request_body = RunBody,
    responses((status = 202, body = RunDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn run_workflow(
    State(state): State<AppState>,
    caller: Agent,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RunBody>,
) -> ApiResult<(axum::http::StatusCode, Json<RunDto>)> {
    let number = ticket_number("ticket", &body.ticket)?;
    let run = engine(&state)?.run_manual(&id, number, &caller.0.username).await.map_err(engine_error)?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(run.into())))
}

/// A run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    /// Id.
    pub id: i64,
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow version.
    pub workflow_version: i32,
    /// The ticket.
    pub ticket: Option<String>,
    /// What started it.
    pub origin: String,
    /// The trigger.
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// `pending`, `running`, `waiting`, `succeeded`, `failed`.
    pub status: String,
    /// Next step index.
    pub step: i32,
    /// Attempt of that step.
    pub attempt: i32,
    /// Why it failed.
    pub error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RunRecord> for RunDto {
    fn from(r: RunRecord) -> Self {
        Self {
            id: r.id,
            workflow_id: r.workflow_id,
            workflow_version: r.workflow_version,
            ticket: r.incident_id.map(|i| IncidentNumber(i).to_string()),
            origin: r.origin,
            trigger: r.trigger,
            status: r.status.to_string(),
            step: r.step,
            attempt: r.attempt,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// Run filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Workflow id.
    pub workflow: Option<String>,
    /// Ticket number.
    pub ticket: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Runs older than this id (paging).
    pub before: Option<i64>,
    /// Page size (1..500, default 50).
    pub limit: Option<u64>,
}

/// Runs, newest first (agents).
#[utoipa::path(get, path = "/api/v1/runs", tag = "workflows", params(RunQuery),
    responses((status = 200, body = Vec<RunDto>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_runs(State(state): State<AppState>, _caller: Agent, ApiQuery(q): ApiQuery<RunQuery>) -> ApiResult<Json<Vec<RunDto>>> {
    let incident_id = q.ticket.as_deref().map(|t| ticket_number("ticket", t).map(|n| n.0)).transpose()?;
    let status = match &q.status {
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            let names: Vec<&str> = RunStatus::ALL.iter().map(|r| r.as_str()).collect();
            ApiError::field("status", "one_of", format!("`{s}` is not one of {}", names.join(", ")))
        })?),
        None => None,
    };
    let filter = RunFilter { workflow_id: q.workflow, incident_id, status, before_id: q.before, limit: page_limit(q.limit)? };
    Ok(Json(state.store.list_runs(&filter).await?.into_iter().map(Into::into).collect()))
}

/// One step execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDto {
    /// Execution number in the run.
    pub ordinal: i32,
    /// Step id.
    pub step_id: String,
    /// Attempt.
    pub attempt: i32,
    /// Plugin id, version and hash.
    pub plugin: String,
    /// `succeeded`, `failed`, `skipped`.
    pub status: String,
    /// What the plugin received.
    #[schema(value_type = Object)]
    pub input: Value,
    /// What it returned.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// The actions it proposed.
    #[schema(value_type = Object)]
    pub actions: Value,
    /// Its logs.
    #[schema(value_type = Object)]
    pub logs: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Plugin time in microseconds.
    pub duration_us: i64,
}

impl From<StepRecord> for StepDto {
    fn from(s: StepRecord) -> Self {
        Self {
            ordinal: s.ordinal,
            step_id: s.step_id,
            attempt: s.attempt,
            plugin: format!("{}@{} ({})", s.plugin_id, s.plugin_version, s.plugin_sha256),
            status: s.status.to_string(),
            input: s.input,
            output: s.output,
            actions: s.actions,
            logs: s.logs,
            error: s.error,
            started_at: s.started_at,
            duration_us: s.duration_us,
        }
    }
}

/// A run with its steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetailDto {
    /// The run.
    pub run: RunDto,
    /// Its step executions in order.
    pub steps: Vec<StepDto>,
}

/// One run with every step's input, output, logs, actions and error (agents).
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = RunDetailDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_run(State(state): State<AppState>, _caller: Agent, Path(id): Path<i64>) -> ApiResult<Json<RunDetailDto>> {
    let run = state.store.get_run(id).await?;
    let mut steps = state.store.run_steps(id).await?;
    if let Some(engine) = &state.engine {
        steps = engine.explain_steps(&run, steps).await;
    }
    Ok(Json(RunDetailDto { run: run.into(), steps: steps.into_iter().map(Into::into).collect() }))
}

/// A queued notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    /// Outbox id.
    pub id: i64,
    /// The ticket.
    pub ticket: Option<String>,
    /// The run that queued it.
    pub run_id: i64,
    /// Its workflow.
    pub workflow_id: String,
    /// Its step.
    pub step_id: String,
    /// Channel.
    pub channel: String,
    /// Recipients.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// `queued`, `sending`, `sent`, `failed` (tried again at
    /// `next_attempt_at`) or `dead`.
    pub status: String,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When a failed one is tried again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// The Message-ID it was sent with.
    pub message_id: Option<String>,
}

impl From<NotificationRecord> for NotificationDto {
    fn from(n: NotificationRecord) -> Self {
        let x = n.notification;
        Self {
            id: n.id,
            ticket: x.incident_id.map(|i| IncidentNumber(i).to_string()),
            run_id: x.run_id,
            workflow_id: x.workflow_id,
            step_id: x.step_id,
            channel: x.channel,
            recipients: x.recipients,
            subject: x.subject,
            body: x.body,
            status: n.status.as_str().to_owned(),
            created_at: n.created_at,
            attempts: n.attempts,
            next_attempt_at: n.next_attempt_at,
            last_error: n.last_error,
            sent_at: n.sent_at,
            message_id: n.message_id,
        }
    }
}

/// Outbox filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Ticket number.
    pub ticket: Option<String>,
    /// Status: `queued`, `sending`, `sent`, `failed` or `dead`.
    pub status: Option<String>,
    /// Entries after this id (paging).
    pub after: Option<i64>,
    /// Page size (1..500, default 50).
    pub limit: Option<u64>,
}

/// The notification outbox, oldest first (agents).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "workflows", params(NotificationQuery),
    responses((status = 200, body = Vec<NotificationDto>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_notifications(
    State(state): State<AppState>,
    _caller: Agent,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<Vec<NotificationDto>>> {
    let incident_id = q.ticket.as_deref().map(|t| ticket_number("ticket", t).map(|n| n.0)).transpose()?;
    let status = match &q.status {
        Some(s) => Some(NotificationStatus::parse(s).ok_or_else(|| {
            let names: Vec<&str> = NotificationStatus::ALL.iter().map(|n| n.as_str()).collect();
            ApiError::field("status", "one_of", format!("`{s}` is not one of {}", names.join(", ")))
        })?),
        None => None,
    };
    let rows = state.store.list_notifications(incident_id, status, q.after, page_limit(q.limit)?).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Queue a dead or failed notification again, now (admin).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/retry", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = NotificationDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn retry_notification(State(state): State<AppState>, _caller: Admin, Path(id): Path<i64>) -> ApiResult<Json<NotificationDto>> {
    Ok(Json(state.store.retry_notification(id).await?.into()))
}

/// An installed plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginDto {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Component hash.
    pub sha256: String,
    /// Name.
    pub name: String,
    /// Config JSON Schema (for the designer's forms).
    #[schema(value_type = Object)]
    pub config_schema: Value,
}

/// Installed plugins (agents).
#[utoipa::path(get, path = "/api/v1/plugins", tag = "workflows",
    responses((status = 200, body = Vec<PluginDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_plugins(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<Vec<PluginDto>>> {
    let engine = engine(&state)?;
    Ok(Json(
        engine
            .registry()
            .list()
            .iter()
            .map(|p| PluginDto {
                id: p.id().to_owned(),
                version: p.version().to_string(),
                sha256: p.sha256().to_owned(),
                name: p.manifest().name.clone(),
                config_schema: p.config_schema().document().clone(),
            })
            .collect(),
    ))
}

/// A secret's name (values are never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretDto {
    /// Secret name.
    pub name: String,
    /// Last set.
    pub updated_at: DateTime<Utc>,
}

/// The names of a plugin's secrets (admin).
#[utoipa::path(get, path = "/api/v1/plugins/{id}/secrets", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = Vec<SecretDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_secrets(State(state): State<AppState>, _caller: Admin, Path(id): Path<String>) -> ApiResult<Json<Vec<SecretDto>>> {
    let names = state.store.list_secret_names(Some(&id)).await?;
    Ok(Json(names.into_iter().map(|(_, name, updated_at)| SecretDto { name, updated_at }).collect()))
}

/// A secret value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The value; readable only by the plugin, and only if its manifest
    /// requests this secret.
    pub value: String,
}

/// Set a plugin's secret (admin).
#[utoipa::path(put, path = "/api/v1/plugins/{id}/secrets/{name}", tag = "workflows", params(("id" = String, Path), ("name" = String, Path)),
    request_body = SecretBody, responses((status = 204), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_secret(
    State(state): State<AppState>,
    caller: Admin,
    Path((id, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<SecretBody>,
) -> ApiResult<axum::http::StatusCode> {
    state.store.set_secret(&id, &name, &body.value).await?;
    tracing::info!(plugin = %id, secret = %name, by = %caller.0.username, "plugin secret set");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Delete a plugin's secret (admin).
#[utoipa::path(delete, path = "/api/v1/plugins/{id}/secrets/{name}", tag = "workflows", params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_secret(
    State(state): State<AppState>,
    _caller: Admin,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    if state.store.delete_secret(&id, &name).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format_args!("secret `{name}` of plugin `{id}`")))
    }
}

/// The JSON Schema of workflow documents (public: editors fetch it).
#[utoipa::path(get, path = "/api/v1/schemas/workflow.json", tag = "workflows", responses((status = 200, body = Object)))]
pub async fn workflow_schema() -> Json<Value> {
    Json(switchyard_workflow::workflow_schema())
}
