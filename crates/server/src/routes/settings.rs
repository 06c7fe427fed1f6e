//! `/api/v1/settings/*`: the priority matrix and the custom field schema.

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use switchyard_domain::priority::PriorityMatrix;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::guard::{Admin, Agent};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;

/// The settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_priority_matrix, put_priority_matrix)).routes(routes!(get_custom_fields, put_custom_fields))
}

/// The impact x urgency matrix: `{"cells": [[P1,P2,P3],[P2,P3,P4],[P3,P4,P5]]}`,
/// rows impact 1..3, columns urgency 1..3 (agents).
#[utoipa::path(get, path = "/api/v1/settings/priority-matrix", tag = "settings",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_priority_matrix(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<PriorityMatrix>> {
    Ok(Json(state.store.priority_matrix().await?))
}

/// Replace the matrix (admin). It must be monotonic.
#[utoipa::path(put, path = "/api/v1/settings/priority-matrix", tag = "settings", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_priority_matrix(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(matrix): ApiJson<PriorityMatrix>,
) -> ApiResult<Json<PriorityMatrix>> {
    state.store.set_priority_matrix(&matrix).await?;
    Ok(Json(matrix))
}

/// The JSON Schema custom fields must satisfy (agents).
#[utoipa::path(get, path = "/api/v1/settings/custom-fields", tag = "settings",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_custom_fields(State(state): State<AppState>, _caller: Agent) -> ApiResult<Json<Value>> {
    Ok(Json(state.store.custom_field_schema().await?))
}

/// Replace the custom field schema (admin): a JSON Schema with `"type": "object"`.
#[utoipa::path(put, path = "/api/v1/settings/custom-fields", tag = "settings", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_custom_fields(State(state): State<AppState>, _caller: Admin, ApiJson(schema): ApiJson<Value>) -> ApiResult<Json<Value>> {
    state.store.set_custom_field_schema(schema.clone()).await?;
    Ok(Json(schema))
}
