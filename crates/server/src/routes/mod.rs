//! Route handlers, one module per resource.

pub mod auth;
pub mod chat;
pub mod cmdb;
pub mod directory;
pub mod health;
pub mod incidents;
pub mod integrations;
pub mod mail;
pub mod metrics;
pub mod oncall;
pub mod settings;
pub mod sla;
pub mod tickets;
pub mod webhooks;
pub mod workflows;

use serde::{Deserialize, Deserializer};

/// Deserialises a field that distinguishes "absent" (`None`), `null`
/// (`Some(None)`) and a value (`Some(Some(v))`), for partial updates.
pub(crate) fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Default page size of list endpoints.
pub(crate) const DEFAULT_LIMIT: u64 = 50;
/// Largest page size of list endpoints.
pub(crate) const MAX_LIMIT: u64 = 500;

/// Checks a `limit` query parameter.
pub(crate) fn page_limit(limit: Option<u64>) -> Result<u64, crate::error::ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(crate::error::ApiError::field("limit", "range", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}
