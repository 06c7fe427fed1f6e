//! Signing in with a username and password, for the API's login endpoint
//! and the web login form alike: the password check, the session token it
//! issues, and the limit on failed attempts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchyard_store::Principal;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// How long a session lives.
pub const SESSION_HOURS: i64 = 12;
/// Failed attempts allowed per username (and per client address) within
/// [`FAILURE_WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: usize = 5;
/// The window over which failures count.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret (a bearer token; the web keeps it in a cookie).
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub principal: Principal,
}

/// Signs in, or says why not. `client` is the caller's address, so one
/// client cannot lock out everyone and many clients cannot guess one
/// password unchecked: failures count against both the username and the
/// client.
pub async fn login(state: &AppState, username: &str, password: &str, client: Option<&str>) -> ApiResult<Session> {
    let keys = throttle_keys(username, client);
    if let Some(wait) = keys.iter().filter_map(|k| state.login_throttle.blocked_for(k)).max() {
        return Err(ApiError::new(
            ErrorCode::TooManyRequests,
            format!("too many failed sign-ins; try again in {} seconds", wait.as_secs().max(1)),
        ));
    }
    let Some(principal) = state.store.verify_password(username, password).await? else {
        keys.iter().for_each(|k| state.login_throttle.fail(k));
        return Err(ApiError::new(ErrorCode::Unauthenticated, "unknown username or wrong password"));
    };
    let expires_at = Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    let (_, token) = state.store.create_token(&principal.username, "web session", Some(expires_at)).await?;
    Ok(Session { token, expires_at, principal })
}

/// Ends a session: the token stops working at once on this node.
pub async fn logout(state: &AppState, token: &str) -> ApiResult<()> {
    if let Some(hash) = state.store.revoke_token_secret(token).await? {
        state.auth.forget(&hash);
    }
    Ok(())
}

fn throttle_keys(username: &str, client: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("user:{}", username.trim().to_lowercase())];
    if let Some(c) = client {
        keys.push(format!("client:{c}"));
    }
    keys
}

/// Recent failed sign-ins per key, in memory (a restart forgets them; each
/// node of a cluster counts its own).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Most keys remembered; the oldest are dropped beyond this.
const THROTTLE_KEYS_MAX: usize = 100_000;

impl LoginThrottle {
    /// How long `key` must wait, if it is over the limit.
    pub fn blocked_for(&self, key: &str) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let list = failures.get_mut(key)?;
        prune(list);
        if list.len() < MAX_FAILURES {
            return None;
        }
        list.front().map(|first| FAILURE_WINDOW.saturating_sub(first.elapsed()))
    }

    /// Records a failure against `key`.
    pub fn fail(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= THROTTLE_KEYS_MAX {
            failures.retain(|_, l| {
                prune(l);
                !l.is_empty()
            });
        }
        let list = failures.entry(key.to_owned()).or_default();
        prune(list);
        list.push_back(Instant::now());
    }
}

fn prune(list: &mut VecDeque<Instant>) {
    while list.front().is_some_and(|t| t.elapsed() >= FAILURE_WINDOW) {
        list.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_failure_within_the_window_is_blocked() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            t.fail("user:a");
            assert!(t.blocked_for("user:a").is_none());
        }
        t.fail("user:a");
        let wait = t.blocked_for("user:a").expect("blocked after the limit");
        assert!(wait <= FAILURE_WINDOW && wait > Duration::from_secs(290));
        assert!(t.blocked_for("user:b").is_none(), "other keys are not affected");
    }
}
