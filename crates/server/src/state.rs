//! Shared state of the HTTP layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_store::{Principal, Store, StoreError, hash_token};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The record store.
    pub store: Store,
    /// Token lookups, cached.
    pub auth: Arc<AuthCache>,
    /// The workflow engine, when this node runs one.
    pub engine: Option<switchyard_engine::Engine>,
    /// Request counters, for `/metrics`.
    pub http: Arc<crate::routes::metrics::HttpMetrics>,
    /// Recent failed sign-ins.
    pub login_throttle: Arc<crate::app::login::LoginThrottle>,
    /// Mail intake (the inbound route; the IMAP loop has its own handle).
    pub intake: switchyard_engine::intake::Intake,
    /// Alert intake.
    pub alerts: switchyard_engine::alerts::AlertIntake,
}

impl AppState {
    /// State over a store.
    pub fn new(store: Store) -> Self {
        Self {
            auth: Arc::new(AuthCache::new(Duration::from_secs(30))),
            engine: None,
            http: Arc::default(),
            login_throttle: Arc::default(),
            intake: switchyard_engine::intake::Intake::new(store.clone(), Default::default()),
            alerts: switchyard_engine::alerts::AlertIntake::new(store.clone()),
            store,
        }
    }

    /// The same state with intake configured.
    pub fn with_intake(self, intake: switchyard_engine::intake::Intake) -> Self {
        Self { intake, ..self }
    }

    /// State over a store and a running workflow engine.
    pub fn with_engine(store: Store, engine: switchyard_engine::Engine) -> Self {
        Self { engine: Some(engine), ..Self::new(store) }
    }
}

/// Caches token -> principal for a short time so a busy client does not
/// cost a database lookup per request. Revoking a token through this node
/// drops it at once; other nodes of a cluster stop accepting it within the
/// TTL (30 s).
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Principal, Instant)>>,
}

/// Most cached tokens; the cache is cleared when it fills.
const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The principal behind a token, from cache or store.
    pub async fn principal(&self, store: &Store, token: &str) -> Result<Option<Principal>, StoreError> {
        let key = hash_token(token);
        if let Some((p, at)) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(p.clone()));
        }
        let found = store.authenticate_token(token).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(p) => {
                if entries.len() >= AUTH_CACHE_MAX {
                    entries.clear();
                }
                entries.insert(key, (p.clone(), Instant::now()));
            }
            None => {
                entries.remove(&key);
            }
        }
        Ok(found)
    }

    /// Forgets a token (by its hash) after revocation.
    pub fn forget(&self, token_hash: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(token_hash);
    }

    /// Forgets every cached token (after a user is deactivated or changes role).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
