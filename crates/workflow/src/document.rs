//! The workflow document: serde types mirroring `schema/workflow.schema.json`.
//!
//! Build a document with [`crate::parse()`], which reports every problem with
//! its path. Deserializing these types directly skips the semantic checks
//! (unique step ids, `goto` targets, known condition fields); run
//! [`crate::validate()`] on such a document before using it.

use std::time::Duration;

use semver::VersionReq;
use serde::{Deserialize, Serialize};

use crate::condition::ConditionGroup;
use crate::trigger::Trigger;

/// A whole workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDocument {
    /// Stable identifier, `^[a-z0-9][a-z0-9-]{0,63}$`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Revision of the document, at least 1.
    pub version: u32,
    /// Optional free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the workflow runs at all (default true). [`WorkflowDocument::matches`]
    /// does not look at it: callers skip disabled workflows themselves.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// What starts a run; at least one.
    pub triggers: Vec<Trigger>,
    /// Condition on the ticket, evaluated before a run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<ConditionGroup>,
    /// The steps, run in order; at least one.
    pub steps: Vec<Step>,
}

fn default_true() -> bool {
    true
}

impl WorkflowDocument {
    /// Index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Whether the document's `conditions` hold for `ticket` (true when there
    /// are none). See [`ConditionGroup::evaluate`].
    pub fn conditions_hold(&self, ticket: &serde_json::Value) -> Result<bool, String> {
        self.conditions.as_ref().map_or(Ok(true), |c| c.evaluate(ticket))
    }
}

/// One step: a plugin run with a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id within the workflow, `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub id: String,
    /// Id of the plugin to run.
    pub plugin: String,
    /// Requirement on the plugin's version (default `*`).
    #[serde(default = "any_version")]
    pub version: VersionReq,
    /// The plugin's config, always a JSON object (default `{}`).
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// When present and false for the ticket, the step is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ConditionGroup>,
    /// How failures are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Time limit of one attempt in milliseconds (1..=60000); `None` means
    /// the host's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// What happens when the step fails for good.
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn any_version() -> VersionReq {
    VersionReq::STAR
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl Step {
    /// Whether the step's `when` holds for `ticket` (true when there is none).
    pub fn applies_to(&self, ticket: &serde_json::Value) -> Result<bool, String> {
        self.when.as_ref().map_or(Ok(true), |c| c.evaluate(ticket))
    }

    /// The attempt time limit, if the step sets one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)))
    }
}

/// What happens when a step fails and is not (or no longer) retried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The run fails.
    #[default]
    Stop,
    /// The run goes on with the next step.
    Continue,
    /// The run goes on at the named step, which must come later.
    Goto(String),
}

/// Retry policy of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1..=20, default 3).
    pub max_attempts: u32,
    /// Delay before the second attempt in milliseconds (default 1000).
    pub initial_backoff_ms: u64,
    /// Factor applied to the delay after each further attempt (1..=10, default 2).
    pub multiplier: f64,
    /// Upper bound of any delay in milliseconds (default 60000).
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, initial_backoff_ms: 1000, multiplier: 2.0, max_backoff_ms: 60_000 }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt` (1-based): zero for the first,
    /// `initial * multiplier^(attempt - 2)` after that, capped at
    /// `max_backoff_ms`. Deterministic (no jitter) and non-decreasing in
    /// `attempt`; a multiplier below 1 is treated as 1.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt < 2 {
            return Duration::ZERO;
        }
        let multiplier = if self.multiplier.is_finite() { self.multiplier.max(1.0) } else { 1.0 };
        let exponent = i32::try_from(attempt - 2).unwrap_or(i32::MAX).min(1024);
        let ms = self.initial_backoff_ms as f64 * multiplier.powi(exponent);
        let capped = if ms.is_finite() { ms.min(self.max_backoff_ms as f64) } else { self.max_backoff_ms as f64 };
        Duration::from_millis(capped as u64)
    }
}
