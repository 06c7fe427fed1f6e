//! `/api/v1/users`, `/api/v1/groups`, memberships and API tokens (admin).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_domain::directory::{Group, Role, User};
use switchyard_store::{GroupInput, GroupPatch, GroupRecord, TokenRecord, UserInput, UserPatch, UserRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{double_option, page_limit};
use crate::app::guard::{Admin, Agent};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The directory routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(create_group, list_groups))
        .routes(routes!(get_group, update_group))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: Option<String>,
    /// `requester`, `agent` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Whether the user can sign in and be assigned.
    pub active: bool,
    /// On shift (assignment respects it).
    pub on_shift: bool,
    /// Skills.
    pub skills: Vec<String>,
    /// Group names (on single-user reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl UserDto {
    fn new(u: User, groups: Option<Vec<String>>) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            email: u.email,
            role: u.role,
            active: u.active,
            on_shift: u.on_shift,
            skills: u.skills,
            groups,
        }
    }
}

impl From<UserRecord> for UserDto {
    fn from(r: UserRecord) -> Self {
        Self::new(r.user, Some(r.groups))
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// Login name: 1..64 of a-z 0-9 . _ -.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: Option<String>,
    /// Role, default `requester`.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Password for web login (at least 10 characters).
    pub password: Option<String>,
    /// On shift, default true.
    pub on_shift: Option<bool>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
}

/// A user edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    /// Display name.
    pub display_name: Option<String>,
    /// Email, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Role.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Active.
    pub active: Option<bool>,
    /// On shift.
    pub on_shift: Option<bool>,
    /// Replacement skills.
    pub skills: Option<Vec<String>>,
    /// New password.
    pub password: Option<String>,
}

/// Keyset paging over names.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NameQuery {
    /// Only this role (users).
    pub role: Option<String>,
    /// Names after this one.
    pub after: Option<String>,
    /// Page size, 1..500.
    pub limit: Option<u64>,
}

/// A group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDto {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Mailbox.
    pub email: Option<String>,
    /// Manager's username (single-group reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Member usernames (single-group reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

impl From<Group> for GroupDto {
    fn from(g: Group) -> Self {
        Self { id: g.id, name: g.name, display_name: g.display_name, email: g.email, manager: None, members: None }
    }
}

impl From<GroupRecord> for GroupDto {
    fn from(r: GroupRecord) -> Self {
        Self { manager: r.manager, members: Some(r.members), ..r.group.into() }
    }
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupBody {
    /// Unique name: a-z 0-9 . _ -.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Mailbox.
    pub email: Option<String>,
    /// Manager's username.
    pub manager: Option<String>,
}

/// A group edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupBody {
    /// Display name.
    pub display_name: Option<String>,
    /// Mailbox, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Manager username, or null.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub manager: Option<Option<String>>,
}

/// A new API token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    /// What it is for.
    pub name: String,
    /// When it stops working (RFC 3339); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API token's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    /// Id.
    pub id: i64,
    /// Owner.
    pub username: String,
    /// Purpose.
    pub name: String,
    /// First characters, to recognise it.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<TokenRecord> for TokenDto {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            username: t.username,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            token: None,
        }
    }
}

/// Create a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "directory", request_body = CreateUserBody,
    responses((status = 201, body = UserDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(b): ApiJson<CreateUserBody>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let input = UserInput {
        username: b.username,
        display_name: b.display_name,
        email: b.email,
        role: b.role,
        password: b.password,
        on_shift: b.on_shift,
        skills: b.skills,
    };
    Ok((StatusCode::CREATED, Json(state.store.create_user(input).await?.into())))
}

/// List users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "directory", params(NameQuery),
    responses((status = 200, body = Vec<UserDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_users(State(state): State<AppState>, _caller: Admin, ApiQuery(q): ApiQuery<NameQuery>) -> ApiResult<Json<Vec<UserDto>>> {
    let role = q.role.as_deref().map(str::parse::<Role>).transpose().map_err(|e| crate::error::ApiError::one_of("role", &e))?;
    let users = state.store.list_users(role, q.after.as_deref(), page_limit(q.limit)?).await?;
    Ok(Json(users.into_iter().map(|u| UserDto::new(u, None)).collect()))
}

/// Get a user (admin).
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "directory", params(("username" = String, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_user(State(state): State<AppState>, _caller: Admin, Path(username): Path<String>) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.store.get_user(&username).await?.into()))
}

/// Edit a user (admin). Deactivating or changing a role takes effect on
/// this node at once and on others within the token cache's 30 s.
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "directory", params(("username" = String, Path)), request_body = UpdateUserBody,
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    _caller: Admin,
    Path(username): Path<String>,
    ApiJson(b): ApiJson<UpdateUserBody>,
) -> ApiResult<Json<UserDto>> {
    let patch = UserPatch {
        display_name: b.display_name,
        email: b.email,
        role: b.role,
        active: b.active,
        on_shift: b.on_shift,
        skills: b.skills,
        password: b.password,
    };
    let record = state.store.update_user(&username, patch).await?;
    state.auth.clear();
    Ok(Json(record.into()))
}

/// Create a group (admin).
#[utoipa::path(post, path = "/api/v1/groups", tag = "directory", request_body = CreateGroupBody,
    responses((status = 201, body = GroupDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_group(
    State(state): State<AppState>,
    _caller: Admin,
    ApiJson(b): ApiJson<CreateGroupBody>,
) -> ApiResult<(StatusCode, Json<GroupDto>)> {
    let input = GroupInput { name: b.name, display_name: b.display_name, email: b.email, manager: b.manager };
    Ok((StatusCode::CREATED, Json(state.store.create_group(input).await?.into())))
}

/// List groups (agents).
#[utoipa::path(get, path = "/api/v1/groups", tag = "directory", params(NameQuery),
    responses((status = 200, body = Vec<GroupDto>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    _caller: Agent,
    ApiQuery(q): ApiQuery<NameQuery>,
) -> ApiResult<Json<Vec<GroupDto>>> {
    let groups = state.store.list_groups(q.after.as_deref(), page_limit(q.limit)?).await?;
    Ok(Json(groups.into_iter().map(Into::into).collect()))
}

/// Get a group with members (agents).
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "directory", params(("name" = String, Path)),
    responses((status = 200, body = GroupDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_group(State(state): State<AppState>, _caller: Agent, Path(name): Path<String>) -> ApiResult<Json<GroupDto>> {
    Ok(Json(state.store.get_group(&name).await?.into()))
}

/// Edit a group (admin).
#[utoipa::path(patch, path = "/api/v1/groups/{name}", tag = "directory", params(("name" = String, Path)), request_body = UpdateGroupBody,
    responses((status = 200, body = GroupDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update_group(
    State(state): State<AppState>,
    _caller: Admin,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<UpdateGroupBody>,
) -> ApiResult<Json<GroupDto>> {
    let patch = GroupPatch { display_name: b.display_name, email: b.email, manager: b.manager };
    Ok(Json(state.store.update_group(&name, patch).await?.into()))
}

/// Add a member (admin; idempotent).
#[utoipa::path(put, path = "/api/v1/groups/{name}/members/{username}", tag = "directory", params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = GroupDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    _caller: Admin,
    Path((name, username)): Path<(String, String)>,
) -> ApiResult<Json<GroupDto>> {
    Ok(Json(state.store.add_member(&name, &username).await?.into()))
}

/// Remove a member (admin).
#[utoipa::path(delete, path = "/api/v1/groups/{name}/members/{username}", tag = "directory", params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = GroupDto), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    _caller: Admin,
    Path((name, username)): Path<(String, String)>,
) -> ApiResult<Json<GroupDto>> {
    Ok(Json(state.store.remove_member(&name, &username).await?.into()))
}

/// Issue an API token for a user (admin). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/users/{username}/tokens", tag = "directory", params(("username" = String, Path)), request_body = CreateTokenBody,
    responses((status = 201, body = TokenDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    _caller: Admin,
    Path(username): Path<String>,
    ApiJson(b): ApiJson<CreateTokenBody>,
) -> ApiResult<(StatusCode, Json<TokenDto>)> {
    let (record, secret) = state.store.create_token(&username, &b.name, b.expires_at).await?;
    Ok((StatusCode::CREATED, Json(TokenDto { token: Some(secret), ..record.into() })))
}

/// A user's tokens (admin), without secrets.
#[utoipa::path(get, path = "/api/v1/users/{username}/tokens", tag = "directory", params(("username" = String, Path)),
    responses((status = 200, body = Vec<TokenDto>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_tokens(State(state): State<AppState>, _caller: Admin, Path(username): Path<String>) -> ApiResult<Json<Vec<TokenDto>>> {
    Ok(Json(state.store.list_tokens(&username).await?.into_iter().map(Into::into).collect()))
}

/// Revoke a token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "directory", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_token(State(state): State<AppState>, _caller: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    let hash = state.store.revoke_token(id).await?;
    state.auth.forget(&hash);
    Ok(StatusCode::NO_CONTENT)
}
