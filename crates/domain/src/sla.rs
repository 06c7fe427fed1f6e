//! SLA policies and the clocks they put on incidents.
//!
//! A clock is a pure function of the incident's history ([`SlaHistory`]:
//! its status changes and when it was first responded to), the policy that
//! matches it now, the policy's business calendar and the current instant.
//! Nothing about a clock is accumulated in place, so a clock can always be
//! recomputed: when the priority, service or category changes, or an admin
//! edits a policy, the new targets are measured over the whole history from
//! the incident's creation, and time spent paused stays paused.
//!
//! Targets: `response` stops at the first response (the first agent
//! assigned, the first public reply by someone other than the requester,
//! work starting, or resolution); `resolution` stops when the incident is
//! resolved and runs again if it is reopened. Both pause while the status
//! is one the policy names (by default `pending`, for every pending reason
//! unless the policy lists the reasons that pause).
//!
//! A clock breaches at the instant its elapsed business time passes the
//! target; breached is sticky. Warnings fire when the elapsed time reaches
//! a percentage of the target. [`SlaClock::timers`] gives the instants at
//! which the next warnings and the breach fall, for the durable timers.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::{BusinessCalendar, CalendarDocument, parse_calendar};
use crate::document::{check_schema, compile_schema};
use crate::error::{DomainError, Violation, Violations};
use crate::incident::{PendingReason, Priority, Status, named_enum};

named_enum! {
    /// What an SLA target measures.
    SlaTarget {
        /// Time to the first response.
        Response = "response",
        /// Time to resolution.
        Resolution = "resolution",
    }
}

named_enum! {
    /// Where a clock stands.
    ClockState {
        /// Counting business time.
        Running = "running",
        /// Not counting: the incident waits in a pausing status.
        Paused = "paused",
        /// Stopped within the target.
        Met = "met",
        /// The elapsed time passed the target (sticky).
        Breached = "breached",
        /// The incident was cancelled before the target was reached.
        Cancelled = "cancelled",
    }
}

/// Parses a duration written like `15m`, `4h`, `1h30m` or `90s`.
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    let mut rest = text;
    let mut total = TimeDelta::zero();
    let mut last_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: i64 = rest[..digits].parse().ok()?;
        let (unit, seconds) = match rest.as_bytes().get(digits)? {
            b'h' => (1, 3600),
            b'm' => (2, 60),
            b's' => (3, 1),
            _ => return None,
        };
        // Units in order, each at most once: `1h30m`, not `30m1h`.
        if unit <= last_unit {
            return None;
        }
        last_unit = unit;
        total += TimeDelta::seconds(value * seconds);
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// Writes a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: TimeDelta) -> String {
    let total = d.num_seconds().max(0);
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Which incidents a policy applies to. Every listed criterion must hold;
/// an empty match applies to every incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMatch {
    /// Any of these priorities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<Priority>,
    /// Any of these categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Any of these services (CI names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// The target durations of a policy, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDurations {
    /// Time to first response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Time to resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

/// When clocks stop counting without stopping for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRule {
    /// Statuses that pause the clocks.
    #[serde(default = "PauseRule::default_statuses")]
    pub statuses: Vec<Status>,
    /// Pending reasons that pause; empty means every reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<PendingReason>,
}

impl PauseRule {
    fn default_statuses() -> Vec<Status> {
        vec![Status::Pending]
    }

    /// Whether an incident in `status` (with `reason`) pauses.
    pub fn pauses(&self, status: Status, reason: Option<PendingReason>) -> bool {
        self.statuses.contains(&status)
            && (status != Status::Pending || self.reasons.is_empty() || reason.is_some_and(|r| self.reasons.contains(&r)))
    }
}

impl Default for PauseRule {
    fn default() -> Self {
        Self { statuses: Self::default_statuses(), reasons: Vec::new() }
    }
}

fn default_warnings() -> Vec<u8> {
    vec![75, 90]
}

/// One SLA policy as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Which incidents it applies to.
    #[serde(default, rename = "match")]
    pub matches: PolicyMatch,
    /// The business calendar its durations count on.
    pub calendar: String,
    /// Target durations.
    pub targets: TargetDurations,
    /// Warning thresholds, percent of the target.
    #[serde(default = "default_warnings")]
    pub warnings: Vec<u8>,
    /// When the clocks pause.
    #[serde(default)]
    pub pause: PauseRule,
}

/// The facts about an incident that choose its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaSubject<'a> {
    /// Effective priority.
    pub priority: Priority,
    /// Category.
    pub category: Option<&'a str>,
    /// Service CI name.
    pub service: Option<&'a str>,
}

/// A compiled policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    /// The document it came from.
    pub document: PolicyDocument,
    calendar: usize,
    targets: Vec<(SlaTarget, TimeDelta)>,
}

impl SlaPolicy {
    /// Whether the policy applies to `subject`.
    pub fn matches(&self, subject: &SlaSubject<'_>) -> bool {
        let m = &self.document.matches;
        (m.priorities.is_empty() || m.priorities.contains(&subject.priority))
            && (m.categories.is_empty() || subject.category.is_some_and(|c| m.categories.iter().any(|x| x == c)))
            && (m.services.is_empty() || subject.service.is_some_and(|s| m.services.iter().any(|x| x == s)))
    }

    /// The targets with their business durations.
    pub fn targets(&self) -> &[(SlaTarget, TimeDelta)] {
        &self.targets
    }
}

/// One moment of an incident's status history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The status from then on.
    pub status: Status,
    /// The pending reason from then on.
    pub pending_reason: Option<PendingReason>,
}

/// What the clocks read of an incident's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaHistory {
    /// When the incident was logged (the clocks start then).
    pub created_at: DateTime<Utc>,
    /// Status changes, oldest first; the first is the status at creation.
    pub changes: Vec<StatusChange>,
    /// The first response, if any.
    pub responded_at: Option<DateTime<Utc>>,
    /// The thresholds already recorded as fired (`sla_warning` and
    /// `sla_breached` entries), so none fires twice.
    pub fired: Vec<FiredThreshold>,
}

/// A threshold recorded as fired in an incident's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredThreshold {
    /// Which clock.
    pub target: SlaTarget,
    /// The policy the clock came from.
    pub policy: String,
    /// Percent of the target; 100 is the breach.
    pub percent: u8,
}

impl SlaHistory {
    /// A history that starts with the incident logged in `status`.
    pub fn new(created_at: DateTime<Utc>, status: Status) -> Self {
        Self {
            created_at,
            changes: vec![StatusChange { at: created_at, status, pending_reason: None }],
            responded_at: None,
            fired: Vec::new(),
        }
    }

    /// Whether `clock`'s threshold at `percent` has been recorded as fired.
    pub fn has_fired(&self, clock: &SlaClock, percent: u8) -> bool {
        self.fired.iter().any(|f| f.target == clock.target && f.percent == percent && f.policy == clock.policy)
    }

    /// The status and reason in force now.
    pub fn current(&self) -> (Status, Option<PendingReason>) {
        self.changes.last().map_or((Status::New, None), |c| (c.status, c.pending_reason))
    }

    /// Records that the status (or the pending reason) changed at `at`.
    /// A change that repeats what is in force is ignored.
    pub fn status(&mut self, at: DateTime<Utc>, status: Status, pending_reason: Option<PendingReason>) {
        if self.current() != (status, pending_reason) {
            self.changes.push(StatusChange { at, status, pending_reason });
        }
    }

    /// Records a response at `at` (the earliest one counts).
    pub fn responded(&mut self, at: DateTime<Utc>) {
        if self.responded_at.is_none_or(|r| at < r) {
            self.responded_at = Some(at);
        }
    }

    /// How often the incident was reopened (left resolved for an open status).
    pub fn reopen_count(&self) -> u32 {
        self.changes.windows(2).filter(|w| w[0].status == Status::Resolved && w[1].status.is_open()).count() as u32
    }
}

/// An instant at which a clock crosses a threshold (a warning at
/// `percent` < 100, or the breach at 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedTimer {
    /// Which clock.
    pub target: SlaTarget,
    /// Percent of the target; 100 is the breach.
    pub percent: u8,
    /// When it falls.
    pub at: DateTime<Utc>,
}

/// A clock on one incident, as of an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    /// What it measures.
    pub target: SlaTarget,
    /// The policy it comes from.
    pub policy: String,
    /// The calendar it counts on.
    pub calendar: String,
    /// Where it stands.
    pub state: ClockState,
    /// When it started (the incident's creation).
    pub started_at: DateTime<Utc>,
    /// The target, in business time.
    pub duration: TimeDelta,
    /// Business time elapsed so far (not counting pauses).
    pub elapsed: TimeDelta,
    /// Wall-clock time spent paused.
    pub paused: TimeDelta,
    /// When it breaches (or breached) while it runs; none while paused or
    /// after it stopped.
    pub due_at: Option<DateTime<Utc>>,
    /// When the elapsed time passed the target.
    pub breached_at: Option<DateTime<Utc>>,
    /// When it stopped for good (met, breached and stopped, cancelled).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Warnings still to come: (percent, instant).
    pub next_warnings: Vec<(u8, DateTime<Utc>)>,
}

impl SlaClock {
    /// Business time left; negative once breached.
    pub fn remaining(&self) -> TimeDelta {
        self.duration - self.elapsed
    }

    /// The next threshold the clock will cross while it runs: the earliest
    /// warning still to come, else the breach.
    pub fn next_timer(&self) -> Option<PlannedTimer> {
        self.timers().into_iter().min_by_key(|t| (t.at, t.percent))
    }

    /// The thresholds this clock has passed, lowest first: the policy's
    /// `warnings` its elapsed time reached and the breach once breached.
    /// None once the clock was met or cancelled.
    pub fn passed_thresholds(&self, warnings: &[u8]) -> Vec<u8> {
        if matches!(self.state, ClockState::Met | ClockState::Cancelled) {
            return Vec::new();
        }
        let mut passed: Vec<u8> = warnings.iter().copied().filter(|&w| w < 100 && self.elapsed >= fraction(self.duration, w)).collect();
        passed.sort_unstable();
        passed.dedup();
        if self.breached_at.is_some() {
            passed.push(100);
        }
        passed
    }

    /// The one durable timer this clock needs as of `now`: a threshold it
    /// passed that `history` has not recorded as fired comes first, due at
    /// once (the recompute ran after the instant, or the node was down);
    /// else the next threshold to come while it runs. None when every
    /// threshold is behind it and recorded.
    pub fn timer_to_set(&self, warnings: &[u8], history: &SlaHistory, now: DateTime<Utc>) -> Option<PlannedTimer> {
        if let Some(percent) = self.passed_thresholds(warnings).into_iter().find(|&p| !history.has_fired(self, p)) {
            return Some(PlannedTimer { target: self.target, percent, at: now });
        }
        self.next_timer().filter(|t| !history.has_fired(self, t.percent))
    }

    /// Every threshold still to come while the clock runs: the warnings and
    /// the breach.
    pub fn timers(&self) -> Vec<PlannedTimer> {
        if self.state != ClockState::Running {
            return Vec::new();
        }
        let mut timers: Vec<PlannedTimer> =
            self.next_warnings.iter().map(|&(percent, at)| PlannedTimer { target: self.target, percent, at }).collect();
        if let Some(at) = self.due_at {
            timers.push(PlannedTimer { target: self.target, percent: 100, at });
        }
        timers
    }
}

fn stops(target: SlaTarget, status: Status, at: DateTime<Utc>, responded_at: Option<DateTime<Utc>>) -> bool {
    matches!(status, Status::Resolved | Status::Closed | Status::Cancelled)
        || (target == SlaTarget::Response && responded_at.is_some_and(|r| at >= r))
}

fn fraction(duration: TimeDelta, percent: u8) -> TimeDelta {
    TimeDelta::microseconds(duration.num_microseconds().unwrap_or(i64::MAX) / 100 * i64::from(percent))
}

/// Computes one clock of `policy` over `history` as of `now`.
pub fn evaluate(
    target: SlaTarget,
    duration: TimeDelta,
    policy: &SlaPolicy,
    calendar: &BusinessCalendar,
    history: &SlaHistory,
    now: DateTime<Utc>,
) -> SlaClock {
    let responded_at = if target == SlaTarget::Response { history.responded_at.filter(|r| *r <= now) } else { None };
    // The status changes up to now, plus the response as a boundary of its own.
    let mut points: Vec<StatusChange> = history.changes.iter().filter(|c| c.at <= now).copied().collect();
    if let Some(r) = responded_at {
        let in_force = points.iter().rev().find(|c| c.at <= r).copied();
        if let Some(c) = in_force {
            let position = points.iter().position(|p| p.at > r).unwrap_or(points.len());
            points.insert(position, StatusChange { at: r, ..c });
        }
    }
    let pause = &policy.document.pause;
    let mut elapsed = TimeDelta::zero();
    let mut paused = TimeDelta::zero();
    let mut breached_at = None;
    let mut stopped_since = None;
    for (i, point) in points.iter().enumerate() {
        let start = point.at.max(history.created_at);
        let end = points.get(i + 1).map_or(now, |next| next.at).max(start);
        if stops(target, point.status, point.at, responded_at) {
            stopped_since.get_or_insert(start);
            continue;
        }
        stopped_since = None;
        if pause.pauses(point.status, point.pending_reason) {
            paused += end - start;
            continue;
        }
        let worked = calendar.business_time(start, end);
        if breached_at.is_none() && elapsed + worked > duration {
            breached_at = calendar.add_business_time(start, duration - elapsed);
        }
        elapsed += worked;
    }
    let (status, reason) = points.last().map_or((Status::New, None), |c| (c.status, c.pending_reason));
    let mut clock = SlaClock {
        target,
        policy: policy.document.id.clone(),
        calendar: calendar.id().to_owned(),
        state: ClockState::Running,
        started_at: history.created_at,
        duration,
        elapsed,
        paused,
        due_at: None,
        breached_at,
        stopped_at: None,
        next_warnings: Vec::new(),
    };
    if let Some(since) = stopped_since {
        clock.stopped_at = Some(since);
        clock.state = if breached_at.is_some() {
            ClockState::Breached
        } else if status == Status::Cancelled && responded_at.is_none() {
            ClockState::Cancelled
        } else {
            ClockState::Met
        };
    } else if breached_at.is_some() {
        clock.state = ClockState::Breached;
        clock.due_at = breached_at;
    } else if pause.pauses(status, reason) {
        clock.state = ClockState::Paused;
    } else {
        clock.due_at = calendar.add_business_time(now, duration - elapsed);
        for &percent in &policy.document.warnings {
            let threshold = fraction(duration, percent);
            if elapsed < threshold
                && let Some(at) = calendar.add_business_time(now, threshold - elapsed)
            {
                clock.next_warnings.push((percent, at));
            }
        }
    }
    clock
}

/// The published JSON Schema of the policies document.
pub fn policies_schema() -> &'static Value {
    &policies_validator().0
}

fn policies_validator() -> &'static (Value, jsonschema::Validator) {
    static SCHEMA: OnceLock<(Value, jsonschema::Validator)> = OnceLock::new();
    SCHEMA.get_or_init(|| compile_schema(include_str!("../schema/sla-policies.schema.json")))
}

/// The calendars document: `{"calendars": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarsDocument {
    /// The calendars.
    pub calendars: Vec<CalendarDocument>,
}

/// The policies document: `{"policies": [...]}`, first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliciesDocument {
    /// The policies, in order.
    pub policies: Vec<PolicyDocument>,
}

/// Calendars and policies, compiled and checked against each other.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaConfig {
    calendars: Vec<BusinessCalendar>,
    calendar_documents: CalendarsDocument,
    policies: Vec<SlaPolicy>,
}

fn serde_violation(path: &str, e: &serde_json::Error) -> DomainError {
    DomainError::Validation(vec![Violation::new(path, "json_schema", e.to_string())])
}

/// Most calendars in one document.
pub const MAX_CALENDARS: usize = 100;

impl SlaConfig {
    /// Compiles the two documents, reporting every problem of both with
    /// its path (`calendars[1].time_zone`, `policies[0].calendar`).
    pub fn compile(calendars: &Value, policies: &Value) -> Result<SlaConfig, DomainError> {
        let mut v = Violations::default();
        let mut compiled_calendars = Vec::new();
        let mut calendar_documents = Vec::new();
        match calendars {
            Value::Object(map) => {
                for key in map.keys().filter(|k| *k != "calendars") {
                    v.push(key.clone(), "unknown_field", format!("`{key}` is not a known field"));
                }
                match map.get("calendars") {
                    Some(Value::Array(items)) => {
                        v.check(items.len() > MAX_CALENDARS, "calendars", "max_items", || format!("at most {MAX_CALENDARS} calendars"));
                        let mut ids = HashSet::new();
                        for (i, item) in items.iter().enumerate() {
                            let path = format!("calendars[{i}]");
                            match parse_calendar(item, &path) {
                                Ok(calendar) => {
                                    if !ids.insert(calendar.id().to_owned()) {
                                        v.push(
                                            format!("{path}.id"),
                                            "unique",
                                            format!("`{}` is used by an earlier calendar", calendar.id()),
                                        );
                                    }
                                    match serde_json::from_value::<CalendarDocument>(item.clone()) {
                                        Ok(doc) => calendar_documents.push(doc),
                                        Err(e) => v.absorb(Err(serde_violation(&path, &e))),
                                    }
                                    compiled_calendars.push(calendar);
                                }
                                Err(e) => v.absorb(Err(e)),
                            }
                        }
                    }
                    _ => v.push("calendars", "required", "must be a list of calendars"),
                }
            }
            _ => v.push("calendars", "type", "the calendars document must be an object with a `calendars` list"),
        }
        let mut compiled_policies = Vec::new();
        match check_schema(&policies_validator().1, policies, "", "must match exactly one of the allowed forms") {
            Err(e) => v.absorb(Err(e)),
            Ok(()) => match serde_json::from_value::<PoliciesDocument>(policies.clone()) {
                Err(e) => v.absorb(Err(serde_violation("policies", &e))),
                Ok(doc) => {
                    let mut ids = HashSet::new();
                    for (i, policy) in doc.policies.into_iter().enumerate() {
                        if let Some(p) = compile_policy(&mut v, i, policy, &compiled_calendars, &mut ids) {
                            compiled_policies.push(p);
                        }
                    }
                }
            },
        }
        v.finish()?;
        Ok(SlaConfig {
            calendars: compiled_calendars,
            calendar_documents: CalendarsDocument { calendars: calendar_documents },
            policies: compiled_policies,
        })
    }

    /// The calendars and policies Switchyard ships with, used until an
    /// admin sets their own: 24x7, office hours in Berlin and New York, and
    /// one policy per priority.
    pub fn shipped_documents() -> (Value, Value) {
        let calendars = serde_json::from_str(include_str!("../defaults/sla-calendars.json")).expect("the shipped calendars are JSON");
        let policies = serde_json::from_str(include_str!("../defaults/sla-policies.json")).expect("the shipped policies are JSON");
        (calendars, policies)
    }

    /// The shipped configuration, compiled.
    pub fn shipped() -> SlaConfig {
        let (calendars, policies) = Self::shipped_documents();
        Self::compile(&calendars, &policies).expect("the shipped SLA documents are valid")
    }

    /// The calendars, as documents.
    pub fn calendar_documents(&self) -> &CalendarsDocument {
        &self.calendar_documents
    }

    /// The policies, as documents, in order.
    pub fn policy_documents(&self) -> PoliciesDocument {
        PoliciesDocument { policies: self.policies.iter().map(|p| p.document.clone()).collect() }
    }

    /// A policy by id.
    pub fn policy(&self, id: &str) -> Option<&SlaPolicy> {
        self.policies.iter().find(|p| p.document.id == id)
    }

    /// A calendar by id.
    pub fn calendar(&self, id: &str) -> Option<&BusinessCalendar> {
        self.calendars.iter().find(|c| c.id() == id)
    }

    /// The first policy that applies to `subject`.
    pub fn policy_for(&self, subject: &SlaSubject<'_>) -> Option<&SlaPolicy> {
        self.policies.iter().find(|p| p.matches(subject))
    }

    /// The clocks of an incident as of `now`: one per target of the policy
    /// that applies to it now, measured over its whole history.
    pub fn clocks(&self, subject: &SlaSubject<'_>, history: &SlaHistory, now: DateTime<Utc>) -> Vec<SlaClock> {
        let Some(policy) = self.policy_for(subject) else { return Vec::new() };
        let calendar = &self.calendars[policy.calendar];
        policy.targets.iter().map(|&(target, duration)| evaluate(target, duration, policy, calendar, history, now)).collect()
    }

    /// The business time from `from` to `to` on the calendar of the policy
    /// that applies to `subject` (wall time when none applies).
    pub fn business_time(&self, subject: &SlaSubject<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        match self.policy_for(subject) {
            Some(p) => self.calendars[p.calendar].business_time(from, to),
            None => (to - from).max(TimeDelta::zero()),
        }
    }
}

fn compile_policy(
    v: &mut Violations,
    index: usize,
    document: PolicyDocument,
    calendars: &[BusinessCalendar],
    ids: &mut HashSet<String>,
) -> Option<SlaPolicy> {
    let path = format!("policies[{index}]");
    let before = v.len();
    if !ids.insert(document.id.clone()) {
        v.push(format!("{path}.id"), "unique", format!("`{}` is used by an earlier policy", document.id));
    }
    let calendar = calendars.iter().position(|c| c.id() == document.calendar);
    if calendar.is_none() {
        v.push(format!("{path}.calendar"), "exists", format!("there is no calendar `{}`", document.calendar));
    }
    let mut targets = Vec::new();
    for (target, text) in [(SlaTarget::Response, &document.targets.response), (SlaTarget::Resolution, &document.targets.resolution)] {
        let Some(text) = text else { continue };
        match parse_duration(text) {
            Some(d) if d > TimeDelta::zero() => targets.push((target, d)),
            _ => v.push(format!("{path}.targets.{target}"), "format", format!("`{text}` is not a positive duration like 15m, 4h or 1h30m")),
        }
    }
    if document.targets.response.is_none() && document.targets.resolution.is_none() {
        v.push(format!("{path}.targets"), "required", "a policy needs a response or a resolution target");
    }
    if document.warnings.windows(2).any(|w| w[0] >= w[1]) {
        v.push(format!("{path}.warnings"), "order", "warning thresholds must increase");
    }
    if document.pause.statuses.iter().any(|s| !s.is_open()) {
        v.push(format!("{path}.pause.statuses"), "one_of", "only open statuses can pause a clock");
    }
    if v.len() > before {
        return None;
    }
    Some(SlaPolicy { document, calendar: calendar?, targets })
}

#[cfg(test)]
mod tests;
