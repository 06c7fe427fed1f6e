//! Role guards: extractors that prove who is calling and what their role
//! allows, for both surfaces.
//!
//! A handler states what it needs in its signature: [`Caller`] (anyone
//! signed in), [`Agent`] (agents and admins) or [`Admin`]. The type
//! parameter names the surface, which decides where the credentials come
//! from and what a refusal looks like: [`Api`] (the default) reads a
//! bearer token and refuses with a JSON error; the web pages use
//! `crate::web::Web`, which reads the session cookie and redirects to the
//! login page. The role rule itself is [`require`], written once.

use std::future::Future;
use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use switchyard_domain::directory::Role;
use switchyard_store::Principal;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// What a handler needs of its caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone signed in.
    SignedIn,
    /// An agent or an admin.
    Agent,
    /// An admin.
    Admin,
}

/// The one role rule: whether `principal` may do what needs `need`.
pub fn require(principal: &Principal, need: Need) -> Result<(), ApiError> {
    match need {
        Need::SignedIn => Ok(()),
        Need::Agent if principal.role.is_agent() => Ok(()),
        Need::Agent => Err(ApiError::forbidden("this needs the agent role")),
        Need::Admin if principal.role == Role::Admin => Ok(()),
        Need::Admin => Err(ApiError::forbidden("this needs the admin role")),
    }
}

/// Where a request's credentials come from and how a refusal is answered.
pub trait Surface: Send + Sync + 'static {
    /// The response to a request that is not signed in or not allowed.
    type Rejection: IntoResponse;

    /// The principal behind the request's credentials.
    fn authenticate(parts: &mut Parts, state: &AppState) -> impl Future<Output = Result<Principal, ApiError>> + Send;

    /// Turns an authentication or role error into this surface's answer.
    fn refuse(parts: &Parts, error: ApiError) -> Self::Rejection;
}

/// The JSON API: `Authorization: Bearer <token>`, refusals as API errors.
pub struct Api;

impl Surface for Api {
    type Rejection = ApiError;

    async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(ErrorCode::Unauthenticated, "send `Authorization: Bearer <token>`"));
        };
        match state.auth.principal(&state.store, token).await? {
            Some(p) => Ok(p),
            None => Err(ApiError::new(ErrorCode::Unauthenticated, "the token is invalid, expired or revoked")),
        }
    }

    fn refuse(_parts: &Parts, error: ApiError) -> ApiError {
        error
    }
}

async fn guarded<S: Surface>(parts: &mut Parts, state: &AppState, need: Need) -> Result<Principal, S::Rejection> {
    let principal = S::authenticate(parts, state).await.map_err(|e| S::refuse(parts, e))?;
    require(&principal, need).map_err(|e| S::refuse(parts, e))?;
    Ok(principal)
}

macro_rules! guard {
    ($(#[$meta:meta])* $name:ident, $need:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name<S = Api>(pub Principal, PhantomData<fn() -> S>);

        impl<S> $name<S> {
            /// The signed-in principal.
            pub fn principal(&self) -> &Principal {
                &self.0
            }
        }

        impl<S: Surface> FromRequestParts<AppState> for $name<S> {
            type Rejection = S::Rejection;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                guarded::<S>(parts, state, $need).await.map(|p| $name(p, PhantomData))
            }
        }
    };
}

guard!(
    /// Anyone signed in (requester, agent or admin).
    Caller,
    Need::SignedIn
);
guard!(
    /// An agent or admin.
    Agent,
    Need::Agent
);
guard!(
    /// An admin.
    Admin,
    Need::Admin
);

impl<S> Caller<S> {
    /// Whether the caller is an agent or admin.
    pub fn is_agent(&self) -> bool {
        self.0.role.is_agent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal { user_id: 1, username: "u".into(), role }
    }

    #[test]
    fn the_role_rule_table() {
        let table = [
            (Role::Requester, Need::SignedIn, true),
            (Role::Requester, Need::Agent, false),
            (Role::Requester, Need::Admin, false),
            (Role::Agent, Need::SignedIn, true),
            (Role::Agent, Need::Agent, true),
            (Role::Agent, Need::Admin, false),
            (Role::Admin, Need::SignedIn, true),
            (Role::Admin, Need::Agent, true),
            (Role::Admin, Need::Admin, true),
        ];
        for (role, need, allowed) in table {
            let got = require(&principal(role), need);
            assert_eq!(got.is_ok(), allowed, "{role:?} {need:?}");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::Forbidden);
            }
        }
    }
}
