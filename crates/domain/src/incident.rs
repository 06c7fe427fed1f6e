//! Incidents: numbers, impact, urgency, priority, status and the fields an
//! incident carries.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Violations};

/// Longest accepted title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest accepted description, comment or note, in characters.
pub const TEXT_MAX: usize = 20_000;
/// Longest accepted category, subcategory or reason, in characters.
pub const LABEL_MAX: usize = 100;

/// The number of a ticket: its primary key, allocated gap-free by the
/// store from one sequence for every kind. Displayed on its own it reads
/// `INC-000123`; a ticket's own number carries its kind's prefix
/// ([`Incident::display_number`]). Any kind's prefix parses, so
/// `REQ-000123` and `INC-000123` name the same ticket (a link written
/// before a conversion still finds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentNumber(pub i64);

impl IncidentNumber {
    /// Prefix of every incident number.
    pub const PREFIX: &'static str = "INC-";
}

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:06}", Self::PREFIX, self.0)
    }
}

impl FromStr for IncidentNumber {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::invalid("number", "format", format!("`{s}` is not a ticket number like INC-000123 or REQ-000045"));
        let (_, digits) = crate::kind::Kind::split_number(s).ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 18 {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        if n < 1 {
            return Err(bad());
        }
        Ok(Self(n))
    }
}

impl Serialize for IncidentNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IncidentNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Defines a string-backed enum with stable snake_case names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name used in the API and the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::error::DomainError::invalid(
                        stringify!($name),
                        "one_of",
                        format!("`{s}` is not one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// Where the status of an incident stands in its lifecycle.
    Status {
        /// Logged, not yet with a group.
        New = "new",
        /// With an assignment group (and maybe an agent), not yet worked.
        Assigned = "assigned",
        /// An agent is working it.
        InProgress = "in_progress",
        /// Waiting on someone else; needs a pending reason.
        Pending = "pending",
        /// A fix was applied; waits for confirmation or auto-close.
        Resolved = "resolved",
        /// Final.
        Closed = "closed",
        /// Withdrawn or logged in error. Final.
        Cancelled = "cancelled",
    }
}

impl Status {
    /// Whether the incident still needs work (counts towards backlog and load).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed | Status::Cancelled)
    }

    /// Whether no transition leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }
}

named_enum! {
    /// Why an incident waits. Every reason pauses SLA clocks unless an SLA
    /// policy says otherwise.
    PendingReason {
        /// Waiting for the requester to answer.
        AwaitingRequester = "awaiting_requester",
        /// Waiting for a third-party vendor.
        AwaitingVendor = "awaiting_vendor",
        /// Waiting for a scheduled change.
        AwaitingChange = "awaiting_change",
        /// Waiting for a problem investigation.
        AwaitingProblem = "awaiting_problem",
        /// Work is scheduled for an agreed time.
        Scheduled = "scheduled",
    }
}

named_enum! {
    /// How an incident was resolved.
    ResolutionCode {
        /// Root cause fixed.
        SolvedPermanently = "solved_permanently",
        /// Service restored with a workaround.
        SolvedWorkaround = "solved_workaround",
        /// Resolved with a known error's documented workaround.
        KnownError = "known_error",
        /// Could not be reproduced.
        NotReproducible = "not_reproducible",
        /// Duplicate of another incident.
        Duplicate = "duplicate",
        /// The requester withdrew or fixed it themselves.
        ResolvedByRequester = "resolved_by_requester",
    }
}

named_enum! {
    /// How an incident reached the service desk.
    Channel {
        /// The self-service portal.
        Portal = "portal",
        /// An inbound email.
        Email = "email",
        /// The REST API.
        Api = "api",
        /// A monitoring alert.
        Alert = "alert",
        /// A phone call logged by an agent.
        Phone = "phone",
        /// Chat.
        Chat = "chat",
    }
}

/// Impact or urgency: 1 (high), 2 (medium), 3 (low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    /// High.
    pub const HIGH: Level = Level(1);
    /// Medium.
    pub const MEDIUM: Level = Level(2);
    /// Low.
    pub const LOW: Level = Level(3);
    /// Every level, highest first.
    pub const ALL: [Level; 3] = [Level::HIGH, Level::MEDIUM, Level::LOW];

    /// A level from its number, 1..=3.
    pub fn new(value: u8) -> Option<Self> {
        (1..=3).contains(&value).then_some(Self(value))
    }

    /// The number, 1..=3.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Index 0..=2, for tables.
    pub fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl TryFrom<u8> for Level {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Level::new(value).ok_or_else(|| format!("{value} is out of range 1 (high) ..= 3 (low)"))
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.0
    }
}

/// Priority P1 (critical) .. P5 (planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// P1, critical.
    pub const P1: Priority = Priority(1);
    /// P2, high.
    pub const P2: Priority = Priority(2);
    /// P3, moderate.
    pub const P3: Priority = Priority(3);
    /// P4, low.
    pub const P4: Priority = Priority(4);
    /// P5, planning.
    pub const P5: Priority = Priority(5);
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 5] = [Self::P1, Self::P2, Self::P3, Self::P4, Self::P5];

    /// A priority from its number, 1..=5.
    pub fn new(value: u8) -> Option<Self> {
        (1..=5).contains(&value).then_some(Self(value))
    }

    /// The number, 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}

impl FromStr for Priority {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('P')
            .and_then(|d| d.parse::<u8>().ok())
            .and_then(Priority::new)
            .ok_or_else(|| DomainError::invalid("priority", "one_of", format!("`{s}` is not one of P1, P2, P3, P4, P5")))
    }
}

impl Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incident as stored. References are ids; the store resolves names.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Gap-free number; also the primary key.
    pub number: IncidentNumber,
    /// One-line summary.
    pub title: String,
    /// Full description.
    pub description: String,
    /// Who reported it (user id).
    pub requester_id: i64,
    /// How it arrived.
    pub channel: Channel,
    /// Category, e.g. `network`.
    pub category: Option<String>,
    /// Subcategory, e.g. `vpn`.
    pub subcategory: Option<String>,
    /// The affected business service (a CI of class `service`).
    pub service_id: Option<i64>,
    /// Affected configuration items.
    pub affected_ci_ids: Vec<i64>,
    /// How widely it hurts.
    pub impact: Level,
    /// How soon it must be fixed.
    pub urgency: Level,
    /// Effective priority: the matrix's, unless overridden.
    pub priority: Priority,
    /// Set when an agent overrode the matrix priority.
    pub priority_override_reason: Option<String>,
    /// Lifecycle status.
    pub status: Status,
    /// Why it waits, when pending.
    pub pending_reason: Option<PendingReason>,
    /// Assignment group id.
    pub assignment_group_id: Option<i64>,
    /// Assigned agent id.
    pub assignee_id: Option<i64>,
    /// Functional/hierarchical escalation level, 0 = none.
    pub escalation_level: u8,
    /// How it was resolved.
    pub resolution_code: Option<ResolutionCode>,
    /// What was done.
    pub resolution_notes: Option<String>,
    /// Admin-defined fields, a JSON object.
    pub custom_fields: serde_json::Value,
    /// When it was logged.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was (last) resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Bumped on every change, for optimistic concurrency.
    pub version: i64,
    /// What kind of ticket it is.
    pub kind: crate::kind::Kind,
    /// Kind-specific details (see [`crate::kind::check_details`]), a JSON
    /// object.
    pub details: serde_json::Value,
    /// Processing steps; required ones gate resolving.
    pub checklist: Vec<crate::checklist::ChecklistItem>,
}

impl Incident {
    /// The ticket's own number with its kind's prefix: `REQ-000045`.
    pub fn display_number(&self) -> String {
        self.kind.number(self.number.0)
    }
}

/// Checks a required free-text field.
pub fn check_text(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) {
    if required && value.trim().is_empty() {
        v.push(field, "required", "must not be empty");
    }
    let len = value.chars().count();
    v.check(len > max, field, "max_length", || format!("is {len} characters long; the limit is {max}"));
}

/// Checks an optional label (category, reason...).
pub fn check_label(v: &mut Violations, field: &str, value: Option<&str>) {
    if let Some(value) = value {
        check_text(v, field, value, LABEL_MAX, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_and_parse() {
        for (n, text) in [(1, "INC-000001"), (123, "INC-000123"), (1_234_567, "INC-1234567")] {
            assert_eq!(IncidentNumber(n).to_string(), text);
            assert_eq!(text.parse::<IncidentNumber>().unwrap(), IncidentNumber(n));
        }
        assert_eq!("REQ-000042".parse::<IncidentNumber>().unwrap(), IncidentNumber(42));
        for bad in ["", "INC-", "inc-000001", "INC-00x1", "INC-000000", "INC--1", "XYZ-000001", "CHG-"] {
            assert!(bad.parse::<IncidentNumber>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn priorities_and_levels() {
        assert_eq!("P3".parse::<Priority>().unwrap(), Priority::P3);
        assert!("P0".parse::<Priority>().is_err());
        assert!("P6".parse::<Priority>().is_err());
        assert!(Level::new(0).is_none() && Level::new(4).is_none());
        assert_eq!(serde_json::to_string(&Priority::P1).unwrap(), "\"P1\"");
        assert!(serde_json::from_str::<Level>("4").is_err());
    }

    #[test]
    fn named_enums_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let err = "open".parse::<Status>().unwrap_err();
        assert!(err.to_string().contains("in_progress"), "{err}");
    }
}
