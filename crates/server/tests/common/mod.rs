//! What the API test files share: fixture users with tokens, and calls
//! through the real router.
#![allow(dead_code, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchyard_domain::directory::Role;
use switchyard_store::{Store, UserInput};
use tower::ServiceExt;

/// Tokens of the named fixture users.
pub struct Tokens {
    pub admin: String,
    pub agent: String,
    pub rita: String,
    pub otto: String,
}

pub async fn setup(store: &Store) -> Tokens {
    let mut tokens = Vec::new();
    for (name, role) in [("ada", Role::Admin), ("alice", Role::Agent), ("rita", Role::Requester), ("otto", Role::Requester)] {
        store
            .create_user(UserInput { username: name.into(), display_name: name.into(), role: Some(role), ..Default::default() })
            .await
            .unwrap();
        tokens.push(store.create_token(name, "test", None).await.unwrap().1);
    }
    let mut t = tokens.into_iter();
    Tokens { admin: t.next().unwrap(), agent: t.next().unwrap(), rita: t.next().unwrap(), otto: t.next().unwrap() }
}

pub async fn call(app: &Router, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    raw(app, req).await
}

pub async fn raw(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub fn detail(body: &Value) -> (String, String) {
    let d = &body["error"]["details"][0];
    (d["field"].as_str().unwrap_or("").to_owned(), d["rule"].as_str().unwrap_or("").to_owned())
}
