//! `/api/v1/auth/login` (password login for the web UI) and `/api/v1/me`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_domain::directory::Role;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::guard::Caller;
use crate::app::login;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::ConnectInfoOpt;
use crate::state::AppState;

/// The auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(me))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A session token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub username: String,
    /// Their role.
    #[schema(value_type = String)]
    pub role: Role,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeDto {
    /// Username.
    pub username: String,
    /// Role.
    #[schema(value_type = String)]
    pub role: Role,
}

/// Exchange a username and password for a session token (12 h).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = SessionDto), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfoOpt(client): ConnectInfoOpt,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Json<SessionDto>> {
    let session = login::login(&state, &b.username, &b.password, client.as_deref()).await?;
    Ok(Json(SessionDto {
        token: session.token,
        expires_at: session.expires_at,
        username: session.principal.username,
        role: session.principal.role,
    }))
}

/// Who am I?
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = MeDto), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<MeDto> {
    Json(MeDto { username: caller.0.username, role: caller.0.role })
}
