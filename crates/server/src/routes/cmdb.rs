//! `/api/v1/cis` and `/api/v1/relationships`: the CMDB and impact analysis.
//! Agents read; admins change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_domain::cmdb::{CiClass, CiStatus, ConfigurationItem, Direction, RelationKind, Relationship};
use switchyard_store::{CiInput, CiPatch, RelationshipRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{double_option, page_limit};
use crate::app::guard::{Admin, Agent};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The CMDB routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ci, list_cis))
        .routes(routes!(get_ci, update_ci, delete_ci))
        .routes(routes!(ci_relationships))
        .routes(routes!(ci_impact))
        .routes(routes!(create_relationship))
        .routes(routes!(delete_relationship))
}

/// A configuration item.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiDto {
    /// Id.
    pub id: i64,
    /// `service`, `application`, `server`, `database`, `network`, `storage`, `workstation`, `other`.
    #[schema(value_type = String)]
    pub class: CiClass,
    /// Name.
    pub name: String,
    /// `operational`, `degraded`, `maintenance`, `down`, `retired`.
    #[schema(value_type = String)]
    pub status: CiStatus,
    /// Owning group id.
    pub owner_group_id: Option<i64>,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: Value,
}

impl From<ConfigurationItem> for CiDto {
    fn from(c: ConfigurationItem) -> Self {
        Self { id: c.id, class: c.class, name: c.name, status: c.status, owner_group_id: c.owner_group_id, attributes: c.attributes }
    }
}

/// A new CI.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCiBody {
    /// Class.
    #[schema(value_type = String)]
    pub class: CiClass,
    /// Name.
    pub name: String,
    /// Status, default `operational`.
    #[schema(value_type = Option<String>)]
    pub status: Option<CiStatus>,
    /// Owning group name.
    pub owner_group: Option<String>,
    /// Attributes object.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// A CI edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCiBody {
    /// Class.
    #[schema(value_type = Option<String>)]
    pub class: Option<CiClass>,
    /// Name.
    pub name: Option<String>,
    /// Status.
    #[schema(value_type = Option<String>)]
    pub status: Option<CiStatus>,
    /// Owning group name, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub owner_group: Option<Option<String>>,
    /// Replacement attributes.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// CI list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CiQuery {
    /// Class.
    pub class: Option<String>,
    /// Name contains.
    pub q: Option<String>,
    /// Ids greater than this (keyset paging).
    pub after: Option<i64>,
    /// Page size, 1..500.
    pub limit: Option<u64>,
}

/// A relationship: source KIND target.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RelationshipDto {
    /// Id.
    pub id: i64,
    /// The dependent CI.
    pub source_id: i64,
    /// `depends_on`, `runs_on`, `connected_to`, `uses`, `part_of`.
    #[schema(value_type = String)]
    pub kind: RelationKind,
    /// The CI depended upon.
    pub target_id: i64,
}

impl From<RelationshipRecord> for RelationshipDto {
    fn from(r: RelationshipRecord) -> Self {
        Self { id: r.id, source_id: r.relationship.source_id, kind: r.relationship.kind, target_id: r.relationship.target_id }
    }
}

/// A new relationship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRelationshipBody {
    /// The dependent CI.
    pub source_id: i64,
    /// Kind.
    #[schema(value_type = String)]
    pub kind: RelationKind,
    /// The CI depended upon.
    pub target_id: i64,
}

/// Impact walk parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImpactQuery {
    /// `downstream` (default: what depends on the CI) or `upstream`.
    pub direction: Option<String>,
    /// Hops, 1..10, default 5.
    pub depth: Option<u32>,
}

/// One CI hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactEntryDto {
    /// The CI.
    pub ci: CiDto,
    /// Hops away.
    pub depth: u32,
    /// Relationship kind it was reached through.
    #[schema(value_type = String)]
    pub via: RelationKind,
    /// The CI it was reached from.
    pub from_id: i64,
}

/// What an outage of a CI touches.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactDto {
    /// The CI analysed.
    pub ci_id: i64,
    /// Direction walked.
    pub direction: String,
    /// Depth walked.
    pub depth: u32,
    /// Everything reached, nearest first.
    pub items: Vec<ImpactEntryDto>,
    /// Services among them.
    pub services: usize,
    /// Sum of the `users` attribute of those services.
    pub users: i64,
}

/// Create a CI (admin).
#[utoipa::path(post, path = "/api/v1/cis", tag = "cmdb", request_body = CreateCiBody,
    responses((status = 201, body = CiDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_ci(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(body): ApiJson<CreateCiBody>,
) -> ApiResult<(StatusCode, Json<CiDto>)> {
    let input = CiInput {
        class: body.class,
        name: body.name,
        status: body.status,
        owner_group: body.owner_group,
        attributes: body.attributes.unwrap_or_else(|| Value::Object(Default::default())),
    };
    Ok((StatusCode::CREATED, Json(state.store.create_ci(input).await?.into())))
}

/// List CIs (agents).
#[utoipa::path(get, path = "/api/v1/cis", tag = "cmdb", params(CiQuery),
    responses((status = 200, body = Vec<CiDto>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_cis(State(state): State<AppState>, _caller: Agent, ApiQuery(q): ApiQuery<CiQuery>) -> ApiResult<Json<Vec<CiDto>>> {
    let class = q.class.as_deref().map(str::parse::<CiClass>).transpose().map_err(|e| crate::error::ApiError::one_of("class", &e))?;
    let cis = state.store.list_cis(class, q.q.as_deref(), q.after, page_limit(q.limit)?).await?;
    Ok(Json(cis.into_iter().map(Into::into).collect()))
}

/// Get a CI (agents).
#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = CiDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_ci(State(state): State<AppState>, _caller: Agent, Path(id): Path<i64>) -> ApiResult<Json<CiDto>> {
    Ok(Json(state.store.get_ci(id).await?.into()))
}

/// Edit a CI (admin).
#[utoipa::path(patch, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path)), request_body = UpdateCiBody,
    responses((status = 200, body = CiDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_ci(
    State(state): State<AppState>,
    _caller: Admin,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<UpdateCiBody>,
) -> ApiResult<Json<CiDto>> {
    let patch =
        CiPatch { class: body.class, name: body.name, status: body.status, owner_group: body.owner_group, attributes: body.attributes };
    Ok(Json(state.store.update_ci(id, patch).await?.into()))
}

/// Delete a CI and its relationships (admin); refused while incidents reference it.
#[utoipa::path(delete, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_ci(State(state): State<AppState>, _caller: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.store.delete_ci(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Relationships touching a CI (agents).
#[utoipa::path(get, path = "/api/v1/cis/{id}/relationships", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RelationshipDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn ci_relationships(State(state): State<AppState>, _caller: Agent, Path(id): Path<i64>) -> ApiResult<Json<Vec<RelationshipDto>>> {
    Ok(Json(state.store.list_relationships(id).await?.into_iter().map(Into::into).collect()))
}

/// What depends on a CI (downstream, default) or what it depends on (agents).
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "cmdb", params(("id" = i64, Path), ImpactQuery),
    responses((status = 200, body = ImpactDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn ci_impact(
    State(state): State<AppState>,
    _caller: Agent,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<ImpactQuery>,
) -> ApiResult<Json<ImpactDto>> {
    let direction = match q.direction.as_deref() {
        None | Some("downstream") => Direction::Downstream,
        Some("upstream") => Direction::Upstream,
        Some(other) => {
            return Err(crate::error::ApiError::field("direction", "one_of", format!("`{other}` is not one of downstream, upstream")));
        }
    };
    let depth = q.depth.unwrap_or(5);
    if !(1..=switchyard_domain::cmdb::MAX_WALK_DEPTH).contains(&depth) {
        return Err(crate::error::ApiError::field("depth", "range", format!("must be 1..={}", switchyard_domain::cmdb::MAX_WALK_DEPTH)));
    }
    Ok(Json(impact_of(&state, id, direction, depth).await?))
}

/// What depends on a CI (or what it depends on), with the services and users
/// affected: the API's impact endpoint and the console's incident page.
pub(crate) async fn impact_of(state: &AppState, id: i64, direction: Direction, depth: u32) -> ApiResult<ImpactDto> {
    let entries = state.store.walk(id, direction, depth).await?;
    let services: Vec<&ConfigurationItem> = entries.iter().map(|e| &e.ci).filter(|c| c.class == CiClass::Service).collect();
    let users = services.iter().filter_map(|c| c.attributes.get("users").and_then(Value::as_i64)).sum();
    let service_count = services.len();
    Ok(ImpactDto {
        ci_id: id,
        direction: direction.as_str().to_owned(),
        depth,
        services: service_count,
        users,
        items: entries.into_iter().map(|e| ImpactEntryDto { ci: e.ci.into(), depth: e.depth, via: e.via, from_id: e.from_id }).collect(),
    })
}

/// Relate two CIs (admin).
#[utoipa::path(post, path = "/api/v1/relationships", tag = "cmdb", request_body = CreateRelationshipBody,
    responses((status = 201, body = RelationshipDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_relationship(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(body): ApiJson<CreateRelationshipBody>,
) -> ApiResult<(StatusCode, Json<RelationshipDto>)> {
    let r = state.store.create_relationship(Relationship { source_id: body.source_id, kind: body.kind, target_id: body.target_id }).await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// Remove a relationship (admin).
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", tag = "cmdb", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_relationship(State(state): State<AppState>, _caller: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    state.store.delete_relationship(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
