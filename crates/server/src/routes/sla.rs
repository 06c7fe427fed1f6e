//! Service levels over HTTP: the calendars and policies documents (agents
//! read, admins replace; validated by their published JSON Schemas and
//! checked against each other, nothing written on any error), an
//! incident's SLA clocks computed live from its history, satisfaction
//! answers, and the service report.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::incident::{IncidentNumber, Priority};
use switchyard_domain::sla::{CalendarsDocument, PoliciesDocument, SlaClock};
use switchyard_store::ReportFilter;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::guard::{Admin, Agent, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The SLA routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_calendars, put_calendars))
        .routes(routes!(get_policies, put_policies))
        .routes(routes!(incident_sla))
        .routes(routes!(rate_incident))
        .routes(routes!(service_report))
        .routes(routes!(calendar_schema))
        .routes(routes!(policies_schema))
}

/// A warning still to come.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningDto {
    /// Percent of the target.
    pub percent: u8,
    /// When it falls.
    pub at: DateTime<Utc>,
}

/// An SLA clock on an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaClockDto {
    /// `response` or `resolution`.
    pub target: String,
    /// The policy it comes from.
    pub policy: String,
    /// The business calendar it counts on.
    pub calendar: String,
    /// `running`, `paused`, `met`, `breached` or `cancelled`.
    pub state: String,
    /// When it started (the incident's creation).
    pub started_at: DateTime<Utc>,
    /// The target, business seconds.
    pub target_seconds: i64,
    /// Business seconds elapsed (pauses excluded).
    pub elapsed_seconds: i64,
    /// Business seconds left; negative once breached.
    pub remaining_seconds: i64,
    /// Wall-clock seconds spent paused.
    pub paused_seconds: i64,
    /// When it breaches (or breached), while it runs.
    pub due_at: Option<DateTime<Utc>>,
    /// When it breached.
    pub breached_at: Option<DateTime<Utc>>,
    /// When it stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Warnings still to come.
    pub next_warnings: Vec<WarningDto>,
}

impl From<SlaClock> for SlaClockDto {
    fn from(c: SlaClock) -> Self {
        SlaClockDto {
            target: c.target.as_str().to_owned(),
            policy: c.policy.clone(),
            calendar: c.calendar.clone(),
            state: c.state.as_str().to_owned(),
            started_at: c.started_at,
            target_seconds: c.duration.num_seconds(),
            elapsed_seconds: c.elapsed.num_seconds(),
            remaining_seconds: c.remaining().num_seconds(),
            paused_seconds: c.paused.num_seconds(),
            due_at: c.due_at,
            breached_at: c.breached_at,
            stopped_at: c.stopped_at,
            next_warnings: c.next_warnings.iter().map(|&(percent, at)| WarningDto { percent, at }).collect(),
        }
    }
}

/// An incident's clocks as of now, computed from its history with the
/// policies in force.
pub(crate) async fn clocks_of(state: &AppState, number: IncidentNumber) -> ApiResult<Vec<SlaClockDto>> {
    let settings = state.store.sla_settings().await?;
    let inputs = state.store.sla_inputs(&[number]).await?;
    let now = Utc::now();
    Ok(inputs
        .first()
        .map(|input| settings.config.clocks(&input.subject(), &input.history, now).into_iter().map(SlaClockDto::from).collect())
        .unwrap_or_default())
}

/// The calendars document: `{"calendars": [...]}` (agents).
#[utoipa::path(get, path = "/api/v1/sla/calendars", tag = "sla",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_calendars(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<CalendarsDocument>> {
    Ok(Json(state.store.sla_settings().await?.config.calendar_documents().clone()))
}

/// Replace the calendars (admin). Every calendar is checked (time zone,
/// hours that are well formed, not inverted and not overlapping,
/// holidays), and a calendar a policy uses cannot be removed.
#[utoipa::path(put, path = "/api/v1/sla/calendars", tag = "sla", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_calendars(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Json<CalendarsDocument>> {
    Ok(Json(state.store.set_sla_calendars(document).await?.config.calendar_documents().clone()))
}

/// The policies document: `{"policies": [...]}`, first match wins (agents).
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "sla",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_policies(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<PoliciesDocument>> {
    Ok(Json(state.store.sla_settings().await?.config.policy_documents()))
}

/// Replace the policies (admin). Open incidents are recomputed against
/// the new policies in the background, keeping their paused time.
#[utoipa::path(put, path = "/api/v1/sla/policies", tag = "sla", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_policies(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Json<PoliciesDocument>> {
    Ok(Json(state.store.set_sla_policies(document).await?.config.policy_documents()))
}

/// An incident's SLA clocks, computed now from its history.
#[utoipa::path(get, path = "/api/v1/incidents/{number}/sla", tag = "sla", params(("number" = String, Path)),
    responses((status = 200, body = [SlaClockDto]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn incident_sla(State(state): State<AppState>, caller: Caller, Path(number): Path<String>) -> ApiResult<Json<Vec<SlaClockDto>>> {
    let record = crate::app::incidents::visible(&state, &caller.0, &number).await?;
    Ok(Json(clocks_of(&state, record.incident.number).await?))
}

/// A satisfaction answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 1 (very unhappy) .. 5 (very happy).
    pub score: u8,
    /// Anything the requester wants to say.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Rate a resolved or closed incident (its requester, or an admin), once.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/csat", tag = "sla", params(("number" = String, Path)), request_body = RatingBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn rate_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<RatingBody>,
) -> ApiResult<StatusCode> {
    crate::app::incidents::rate(&state, &caller.0, &number, body.score, body.comment).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which incidents a report covers.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start of the range (RFC 3339, inclusive); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339, exclusive); default now.
    pub to: Option<DateTime<Utc>>,
    /// Assignment group name.
    pub group: Option<String>,
    /// Assignee username.
    pub agent: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// P1..P5.
    pub priority: Option<String>,
    /// Service CI id.
    pub service: Option<i64>,
}

/// SLA compliance with one target.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceDto {
    /// `response` or `resolution`.
    pub target: String,
    /// Clocks met in the range.
    pub met: u64,
    /// Clocks breached in the range.
    pub breached: u64,
    /// Met as a share of the decided clocks, percent.
    pub percent: Option<f64>,
}

/// Open incidents of one age.
#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogBucketDto {
    /// `under_1d`, `1d_3d`, `3d_7d`, `7d_30d` or `over_30d`.
    pub age: String,
    /// How many.
    pub count: u64,
}

/// A service report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceReportDto {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Incidents created in the range.
    pub opened: u64,
    /// Incidents resolved in the range.
    pub resolved: u64,
    /// Open incidents created before `to`, by age at `to`.
    pub backlog: Vec<BacklogBucketDto>,
    /// Mean time to first assignment of the incidents opened, seconds.
    pub mtta_seconds: Option<f64>,
    /// Mean wall time to resolution of the incidents resolved, seconds.
    pub mttr_seconds: Option<f64>,
    /// Mean business time to resolution (pauses excluded), seconds.
    pub mttr_business_seconds: Option<f64>,
    /// SLA compliance per target.
    pub sla_compliance: Vec<ComplianceDto>,
    /// Share of the incidents resolved that were reopened, percent.
    pub reopen_rate: Option<f64>,
    /// Mean satisfaction (1..5) of the incidents resolved.
    pub csat_average: Option<f64>,
    /// How many of them were rated.
    pub csat_responses: u64,
}

/// Service metrics over a time range (agents): volumes, backlog, MTTA,
/// MTTR, SLA compliance, reopen rate and satisfaction.
#[utoipa::path(get, path = "/api/v1/reports/service", tag = "sla", params(ReportQuery),
    responses((status = 200, body = ServiceReportDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn service_report(
    State(state): State<AppState>,
    _caller: Agent,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<ServiceReportDto>> {
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        return Err(ApiError::field("from", "range", "must be before `to`"));
    }
    let priority = q.priority.as_deref().map(|p| p.parse::<Priority>().map_err(|e| ApiError::one_of("priority", &e))).transpose()?;
    let filter = ReportFilter { from, to, group: q.group, agent: q.agent, category: q.category, priority, service_id: q.service };
    let report = state.store.service_report(&filter).await?;
    Ok(Json(ServiceReportDto {
        from,
        to,
        opened: report.opened,
        resolved: report.resolved,
        backlog: report.backlog.iter().map(|(age, count)| BacklogBucketDto { age: (*age).to_owned(), count: *count }).collect(),
        mtta_seconds: report.mtta_seconds,
        mttr_seconds: report.mttr_seconds,
        mttr_business_seconds: report.mttr_business_seconds,
        sla_compliance: report
            .compliance
            .iter()
            .map(|c| ComplianceDto { target: c.target.as_str().to_owned(), met: c.met, breached: c.breached, percent: c.percent() })
            .collect(),
        reopen_rate: report.reopen_rate,
        csat_average: report.csat_average,
        csat_responses: report.csat_responses,
    }))
}

/// The JSON Schema of one calendar in the calendars document.
#[utoipa::path(get, path = "/api/v1/schemas/sla-calendar.json", tag = "sla", responses((status = 200, body = Object)))]
pub async fn calendar_schema() -> Json<Value> {
    Json(switchyard_domain::calendar::calendar_schema().clone())
}

/// The JSON Schema of the policies document.
#[utoipa::path(get, path = "/api/v1/schemas/sla-policies.json", tag = "sla", responses((status = 200, body = Object)))]
pub async fn policies_schema() -> Json<Value> {
    Json(switchyard_domain::sla::policies_schema().clone())
}
