//! The store's error type.

use switchyard_domain::DomainError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{entity} `{key}` was not found")]
    NotFound {
        /// Kind of thing, e.g. `incident`.
        entity: &'static str,
        /// How it was named.
        key: String,
    },
    /// A uniqueness or state conflict, e.g. a username already taken.
    #[error("{message}")]
    Conflict {
        /// Which field conflicts.
        field: String,
        /// What conflicts.
        message: String,
    },
    /// The input broke a domain rule (including unknown references).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed. Never shown to API clients.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A stored document could not be decoded (a bug or manual tampering).
    #[error("corrupt stored data in {what}: {message}")]
    Corrupt {
        /// Where.
        what: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The store is shutting down.
    #[error("the store is shutting down")]
    ShuttingDown,
}

impl StoreError {
    /// Nothing of `entity` is named `key`.
    pub fn not_found(entity: &'static str, key: impl ToString) -> Self {
        Self::NotFound { entity, key: key.to_string() }
    }

    pub(crate) fn corrupt(what: &'static str, message: impl ToString) -> Self {
        Self::Corrupt { what, message: message.to_string() }
    }

    /// An unknown reference, reported as a validation error on `field`.
    pub(crate) fn unknown(field: &str, what: &str, key: impl std::fmt::Display) -> Self {
        Self::Domain(DomainError::invalid(field, "exists", format!("{what} `{key}` does not exist")))
    }
}

/// A unique-index violation as a conflict on `field`; other errors as they are.
pub(crate) fn unique_as_conflict(e: sea_orm::DbErr, field: &str, message: &str) -> StoreError {
    if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
        StoreError::Conflict { field: field.into(), message: message.into() }
    } else {
        StoreError::Database(e)
    }
}

/// Decodes a JSON document the store wrote; a failure means the row was
/// damaged (a bug or manual tampering), reported as [`StoreError::Corrupt`].
pub(crate) fn stored_json(what: &'static str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, e))
}
