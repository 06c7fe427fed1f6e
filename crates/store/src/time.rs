//! Timestamps are stored as microseconds since the Unix epoch.

use chrono::{DateTime, Utc};

/// Now, truncated to what the store keeps.
pub(crate) fn now() -> DateTime<Utc> {
    from_micros(Utc::now().timestamp_micros())
}

pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}
