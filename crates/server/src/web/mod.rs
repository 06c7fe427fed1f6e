//! The web UI: the agent console (`/console`) and the requester portal
//! (`/portal`), server-rendered with compile-checked askama templates and
//! enhanced with htmx where a partial update helps (live queue refresh,
//! the agent list of a group). Every flow works without JavaScript.
//!
//! Page handlers only translate HTTP to the use cases of [`crate::app`]
//! and back; the role guards are the same extractors the API uses, on the
//! [`Web`] surface (session cookie, redirect to sign-in). Form errors come
//! from the API's error table and are shown next to their fields.

mod assets;
mod console;
mod portal;
mod session;
mod view;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use session::{CsrfForm, Web, csrf_token, safe_next};
pub use view::Layout;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// The web routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(session::home))
        .route("/login", get(session::login_page).post(session::login_submit))
        .route("/logout", post(session::logout))
        .route("/assets/{file}", get(assets::serve))
        .route("/attachments/{id}", get(attachment))
        .merge(console::router())
        .merge(portal::router())
}

/// `GET /attachments/{id}`: a file on an incident the signed-in person
/// may see (agents any, requesters their own), as a download.
async fn attachment(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: crate::app::guard::Caller<session::Web>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, WebError> {
    Ok(crate::app::attachments::download(&state, caller.principal(), id).await?)
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session expired): go to the login page and
    /// come back to `next` afterwards.
    SignIn {
        /// Where to return.
        next: String,
    },
    /// Anything else, shown as an error page with the API's code and text.
    Failed(ApiError),
}

impl From<switchyard_store::StoreError> for WebError {
    fn from(e: switchyard_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        if e.code == ErrorCode::Unauthenticated { WebError::SignIn { next: "/".into() } } else { WebError::Failed(e) }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
                Redirect::to(&format!("/login?{query}")).into_response()
            }
            WebError::Failed(e) => {
                let status = e.code.status();
                let heading = match e.code {
                    ErrorCode::NotFound => "Not found",
                    ErrorCode::Forbidden => "Not allowed",
                    ErrorCode::TooManyRequests => "Too many attempts",
                    ErrorCode::Internal | ErrorCode::Unavailable => "Something went wrong",
                    _ => "That did not work",
                };
                let page = ErrorPage {
                    l: Layout::new(None, String::new(), "error", heading),
                    status: status.as_u16(),
                    heading,
                    message: e.message,
                };
                render_status(status, &page)
            }
        }
    }
}

/// What a posted form answers: on success a redirect to `done`; on an
/// error that belongs next to the form's fields (a rule the input broke),
/// the page again from `again` with those errors and the error's status;
/// anything else (not found, not allowed, an outage) as the error page.
pub(crate) async fn form_outcome<T: Template>(
    result: ApiResult<String>,
    form: &str,
    again: impl AsyncFnOnce(view::FormErrors) -> ApiResult<T>,
) -> Result<Response, WebError> {
    match result {
        Ok(done) => Ok(Redirect::to(&done).into_response()),
        Err(e) if e.code.status().is_client_error() && !matches!(e.code, ErrorCode::NotFound | ErrorCode::Forbidden) => {
            let status = e.code.status();
            let page = again(view::FormErrors::of(form, &e)).await?;
            Ok(render_status(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// A page's HTML, or a logged 500 when a template fails.
pub(crate) fn render<T: Template>(page: &T) -> Response {
    render_status(StatusCode::OK, page)
}

/// A page's HTML with a status.
pub(crate) fn render_status<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// The security headers of every response: a CSP without inline script or
/// style, no framing, no MIME sniffing, no referrer sent to other sites.
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
               form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if h.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
