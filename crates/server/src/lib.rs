//! The Switchyard HTTP surface.
//!
//! This crate owns the axum router: the web UI (agent console and
//! requester portal, [`web`]), the JSON API under `/api/v1`,
//! authentication (bearer tokens, password login) and the role checks
//! (requesters see their own incidents, agents work all incidents, admins
//! configure), the error code table, the OpenAPI document generated from
//! the handlers (`/api/v1/openapi.json`), and the operational endpoints
//! `/healthz`, `/readyz` and `/metrics` (Prometheus).
//!
//! Both surfaces call one application layer ([`app`]): the role guards and
//! the incident use cases exist once. It talks to the database only
//! through [`switchyard_store`], and holds no business rule of its own
//! beyond who may call what: validation and the lifecycle live in the
//! domain crate. It must not depend on the CLI.

pub mod app;
pub mod error;
pub mod extract;
pub mod routes;
pub mod state;
pub mod web;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ErrorCode};
pub use state::AppState;

/// Largest accepted request body, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard API", description = "Incident management with workflow plugins. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."),
    modifiers(&BearerAuth),
    tags((name = "incidents"), (name = "cmdb"), (name = "directory"), (name = "settings"), (name = "sla"), (name = "workflows"), (name = "mail"), (name = "integrations"), (name = "alerts"), (name = "chat"), (name = "webhooks"), (name = "oncall"), (name = "auth"), (name = "operations"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        // An integration's own token (not a user's), as a bearer token.
        components.add_security_scheme("integration", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The router and the OpenAPI document describing it.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::incidents::router())
        .merge(routes::tickets::router())
        .merge(routes::cmdb::router())
        .merge(routes::directory::router())
        .merge(routes::settings::router())
        .merge(routes::sla::router())
        .merge(routes::workflows::router())
        .merge(routes::mail::router())
        .merge(routes::integrations::router())
        .merge(routes::webhooks::router())
        .merge(routes::oncall::router())
        .merge(routes::auth::router())
        .merge(routes::health::router())
        .merge(routes::metrics::router())
        .split_for_parts()
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Unknown paths: a JSON error under `/api`, an HTML page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error = ApiError::new(ErrorCode::NotFound, "no such endpoint");
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        web::WebError::Failed(ApiError::not_found("this page")).into_response()
    }
}

/// A request path as logs show it: an alert integration's token in the URL
/// is a secret, so it is left out.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/api/v1/alerts/").and_then(|rest| rest.split_once('/')) {
        Some((kind, _token)) => std::borrow::Cow::Owned(format!("/api/v1/alerts/{kind}/<token>")),
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// Builds the full application: API, OpenAPI document, JSON fallbacks,
/// body limit, request ids and a tracing span per request.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = std::sync::Arc::new(doc);
    let http = state.http.clone();
    api.route("/api/v1/openapi.json", axum::routing::get(move || async move { axum::Json((*doc).clone()) }))
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed, "this method is not supported here") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(axum::middleware::from_fn(move |req, next| routes::metrics::count_request(http.clone(), req, next)))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
