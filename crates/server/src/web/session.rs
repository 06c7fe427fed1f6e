//! Signed-in sessions for the web pages: the session cookie, the form
//! token that guards every state-changing form (CSRF), and the login and
//! logout pages.
//!
//! A session is an API token with an expiry (the same one
//! `/api/v1/auth/login` hands out), kept in an HttpOnly, SameSite=Lax
//! cookie that is also Secure when the request came over HTTPS (as told by
//! a proxy's `X-Forwarded-Proto`). Each form carries a token derived from
//! the session (a hash, so it needs no storage and dies with the session);
//! before sign-in, the login form's token is a random value in a cookie of
//! its own (double submit).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cookie::time::Duration;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchyard_store::{Principal, hash_token};

use super::view::{FormErrors, Layout};
use super::{WebError, render, render_status};
use crate::app::guard::{Caller, Surface};
use crate::app::login;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ConnectInfoOpt;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sy_session";
/// The login form's token cookie.
pub const LOGIN_COOKIE: &str = "sy_login";

/// The web pages: the session cookie, refusals as a redirect to the login
/// page (keeping where the person was going) or an HTML error page.
pub struct Web;

impl Surface for Web {
    type Rejection = WebError;

    async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(ApiError::new(ErrorCode::Unauthenticated, "sign in first"));
        };
        match state.auth.principal(&state.store, &token).await? {
            Some(p) => Ok(p),
            None => Err(ApiError::new(ErrorCode::Unauthenticated, "the session has expired")),
        }
    }

    fn refuse(parts: &Parts, error: ApiError) -> WebError {
        if error.code == ErrorCode::Unauthenticated { WebError::SignIn { next: return_to(parts) } } else { WebError::Failed(error) }
    }
}

/// Where to send a person back after they sign in: the page they asked for,
/// or for a form post, the page the form was on.
fn return_to(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        return parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    }
    let referer = parts.headers.get(axum::http::header::REFERER).and_then(|v| v.to_str().ok());
    let host = parts.headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok());
    if let (Some(r), Some(h)) = (referer, host)
        && let Some(rest) = r.strip_prefix("http://").or_else(|| r.strip_prefix("https://"))
        && let Some(path) = rest.strip_prefix(h)
        && safe_next(path).is_some()
    {
        return path.to_owned();
    }
    let path = parts.uri.path();
    path.rsplit_once('/').map_or("/", |(page, _)| if page.is_empty() { "/" } else { page }).to_owned()
}

/// `next` when it is a path on this site (no open redirect).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && !next.chars().any(char::is_control);
    ok.then_some(next)
}

/// The form token for the request: derived from the session cookie when
/// there is one, else the login cookie's value.
pub fn csrf_token(headers: &HeaderMap) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    match jar.get(SESSION_COOKIE) {
        Some(session) => Some(hash_token(&format!("csrf:{}", session.value()))),
        None => jar.get(LOGIN_COOKIE).map(|c| c.value().to_owned()),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A posted form whose `csrf` field matched the request's form token; the
/// other fields are deserialised into `T`, with errors naming the field.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let expected = csrf_token(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| WebError::Failed(ApiError::new(ErrorCode::PayloadTooLarge, format!("the form could not be read: {e}"))))?;
        let mut sent = None;
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(&bytes) {
            if k == "csrf" {
                sent = Some(v.into_owned());
            } else {
                rest.append_pair(&k, &v);
            }
        }
        match (expected, sent) {
            (Some(e), Some(s)) if same(&e, &s) => {}
            _ => {
                return Err(WebError::Failed(ApiError::forbidden(
                    "this form has expired or did not come from this site; reload the page and send it again",
                )));
            }
        }
        let rest = rest.finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(rest.as_bytes()));
        serde_path_to_error::deserialize(de).map(CsrfForm).map_err(|e| {
            let field = e.path().to_string();
            WebError::Failed(ApiError::field(if field == "." { "form".to_owned() } else { field }, "type", e.inner().to_string()))
        })
    }
}

/// Whether the request came over HTTPS (directly or through a proxy).
fn over_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn cookie(name: &'static str, value: String, headers: &HeaderMap, max_age: Duration) -> Cookie<'static> {
    Cookie::build((name, value)).path("/").http_only(true).same_site(SameSite::Lax).secure(over_https(headers)).max_age(max_age).build()
}

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    next: String,
    username: String,
    errors: FormErrors,
}

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where a person goes after signing in when nothing else was asked.
pub fn home_of(p: &Principal) -> &'static str {
    if p.role.is_agent() { "/console" } else { "/portal" }
}

/// `GET /`: the person's home, or the login page.
pub async fn home(caller: Caller<Web>) -> Redirect {
    Redirect::to(home_of(&caller.0))
}

/// `GET /login`.
pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let next = q.next.as_deref().and_then(safe_next).unwrap_or("/").to_owned();
    let sent = CookieJar::from_headers(&headers);
    if let Some(session) = sent.get(SESSION_COOKIE)
        && let Ok(Some(p)) = state.auth.principal(&state.store, session.value()).await
    {
        let to = if next == "/" { home_of(&p).to_owned() } else { next };
        return Redirect::to(&to).into_response();
    }
    // Signed out (or expired): the form's token is a fresh random value in
    // a cookie, and a stale session cookie goes (it would make the form
    // token the session's).
    let token = format!("{:032x}", rand::random::<u128>());
    let mut jar = CookieJar::new().add(cookie(LOGIN_COOKIE, token.clone(), &headers, Duration::hours(1)));
    if sent.get(SESSION_COOKIE).is_some() {
        jar = jar.add(expired(SESSION_COOKIE));
    }
    let page = LoginPage { l: Layout::new(None, token, "login", "Sign in"), next, username: String::new(), errors: FormErrors::default() };
    (jar, render(&page)).into_response()
}

fn expired(name: &'static str) -> Cookie<'static> {
    Cookie::build((name, "")).path("/").max_age(Duration::ZERO).build()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfoOpt(client): ConnectInfoOpt,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let next = form.next.as_deref().and_then(safe_next).unwrap_or("/").to_owned();
    let token = csrf_token(&headers).unwrap_or_default();
    let failed = |status: StatusCode, error: ApiError, username: String| {
        let page = LoginPage {
            l: Layout::new(None, token.clone(), "login", "Sign in"),
            next: next.clone(),
            username,
            errors: FormErrors::of("login", &error),
        };
        render_status(status, &page)
    };
    let mut missing = Vec::new();
    if form.username.trim().is_empty() {
        missing.push(crate::error::ErrorDetail {
            field: "username".into(),
            rule: "required".into(),
            message: "enter your username".into(),
        });
    }
    if form.password.is_empty() {
        missing.push(crate::error::ErrorDetail {
            field: "password".into(),
            rule: "required".into(),
            message: "enter your password".into(),
        });
    }
    if !missing.is_empty() {
        let error = ApiError { code: ErrorCode::ValidationFailed, message: "fill in both fields".into(), details: missing };
        return failed(StatusCode::UNPROCESSABLE_ENTITY, error, form.username);
    }
    match login::login(&state, form.username.trim(), &form.password, client.as_deref()).await {
        Ok(session) => {
            let to = if next == "/" { home_of(&session.principal).to_owned() } else { next };
            let hours = Duration::hours(login::SESSION_HOURS);
            let jar = CookieJar::new().add(cookie(SESSION_COOKIE, session.token, &headers, hours)).add(expired(LOGIN_COOKIE));
            (jar, Redirect::to(&to)).into_response()
        }
        Err(e) => {
            let status = e.code.status();
            failed(status, e, form.username)
        }
    }
}

/// `POST /logout`: ends the session everywhere it was used.
pub async fn logout(
    State(state): State<AppState>,
    _caller: Caller<Web>,
    headers: HeaderMap,
    CsrfForm(()): CsrfForm<()>,
) -> Result<Response, WebError> {
    if let Some(session) = CookieJar::from_headers(&headers).get(SESSION_COOKIE) {
        login::logout(&state, session.value()).await.map_err(WebError::Failed)?;
    }
    let jar = CookieJar::new().add(expired(SESSION_COOKIE));
    Ok((jar, Redirect::to("/login")).into_response())
}
