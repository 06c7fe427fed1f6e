//! The run state machine, pure: the engine runs a step, reports its outcome
//! to [`advance`], and carries out the [`Command`] it gets back.
//!
//! Runs move through the steps in order. A plugin may name the next step
//! (even an earlier one); `on_failure: {goto}` may only name a later one.
//! Either way a run starts at most [`MAX_STEPS_PER_RUN`] steps, so it always
//! ends.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::document::{OnFailure, WorkflowDocument};

/// A run starts at most this many steps (retries of a step do not count);
/// one more fails the run.
pub const MAX_STEPS_PER_RUN: u32 = 100;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, no step started yet.
    Pending,
    /// A step attempt is due or under way.
    Running,
    /// Waiting out a retry backoff.
    Waiting,
    /// Finished after the last step.
    Succeeded,
    /// Finished with a failure.
    Failed,
}

impl RunStatus {
    /// Every status.
    pub const ALL: &'static [RunStatus] =
        &[RunStatus::Pending, RunStatus::Running, RunStatus::Waiting, RunStatus::Succeeded, RunStatus::Failed];

    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<RunStatus> {
        RunStatus::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one step attempt ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The plugin ran and its actions were applied.
    Succeeded,
    /// The attempt failed (see its error); nothing of it was applied.
    Failed,
    /// The step's `when` did not hold.
    Skipped,
}

impl StepStatus {
    /// Every status.
    pub const ALL: &'static [StepStatus] = &[StepStatus::Succeeded, StepStatus::Failed, StepStatus::Skipped];

    /// The stable name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<StepStatus> {
        StepStatus::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    /// How an outcome is recorded.
    pub fn of(outcome: &StepOutcome) -> StepStatus {
        match outcome {
            StepOutcome::Succeeded { .. } => StepStatus::Succeeded,
            StepOutcome::Failed { .. } => StepStatus::Failed,
            StepOutcome::Skipped => StepStatus::Skipped,
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one run, small enough to store as a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Where the run stands.
    pub status: RunStatus,
    /// Index into the document's steps of the current (or last) step.
    pub step: usize,
    /// The current attempt of that step, 1-based.
    pub attempt: u32,
    /// How many steps the run has started, the current one included
    /// (retries of a step do not count; this is what
    /// [`MAX_STEPS_PER_RUN`] bounds).
    pub steps_run: u32,
    /// How many step attempts have ended, retries included: the ordinal
    /// of the next attempt's record is this plus one.
    pub executions: u32,
}

/// What one attempt of a step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step succeeded; the plugin may name the step to continue at.
    Succeeded {
        /// Id of the step to continue at instead of the next one.
        next_step: Option<String>,
    },
    /// The step's `when` did not hold.
    Skipped,
    /// The attempt failed.
    Failed {
        /// What kind of failure.
        error: FailureKind,
        /// What happened, for people.
        message: String,
    },
}

/// Kinds of step failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The plugin says trying again may help.
    Retryable,
    /// The plugin says trying again will not help.
    Fatal,
    /// The plugin refused its config.
    InvalidConfig,
    /// The plugin trapped (panic, fuel or memory exhausted).
    Trap,
    /// The attempt ran out of time.
    Timeout,
    /// The host refused the plugin's actions (for example an unknown group).
    Rejected,
    /// The step's `when` condition could not be evaluated on the ticket.
    Condition,
}

impl FailureKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Retryable => "retryable",
            FailureKind::Fatal => "fatal",
            FailureKind::InvalidConfig => "invalid_config",
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Rejected => "rejected",
            FailureKind::Condition => "condition",
        }
    }

    /// Whether another attempt may help: retryable failures, traps and
    /// timeouts.
    pub fn is_retried(self) -> bool {
        matches!(self, FailureKind::Retryable | FailureKind::Trap | FailureKind::Timeout)
    }
}

/// What the engine does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run attempt `attempt` of step `step` now.
    RunStep {
        /// Index into the document's steps.
        step: usize,
        /// 1-based attempt.
        attempt: u32,
    },
    /// Wait `delay`, then run attempt `attempt` of step `step`.
    RetryAfter {
        /// Index into the document's steps.
        step: usize,
        /// 1-based attempt, at least 2.
        attempt: u32,
        /// How long to wait first.
        delay: Duration,
    },
    /// The run is over: [`RunStatus::Succeeded`] or [`RunStatus::Failed`],
    /// with the reason of a failure.
    Finish(RunStatus, Option<String>),
}

/// Starts a run at the first step.
pub fn start(doc: &WorkflowDocument) -> (RunState, Command) {
    let state = RunState { status: RunStatus::Pending, step: 0, attempt: 0, steps_run: 0, executions: 0 };
    if doc.steps.is_empty() {
        return finish(&state, RunStatus::Failed, Some("the workflow has no steps".to_owned()));
    }
    enter(&state, 0)
}

/// The next state and command after an attempt of the current step ended
/// with `outcome`.
///
/// - Success continues at the step the plugin named, else the next one;
///   after the last step the run succeeds. A named step that does not exist
///   fails the run.
/// - A skipped step continues with the next one.
/// - A retryable failure, trap or timeout is retried, after
///   [`crate::RetryPolicy::delay_before`], until `max_attempts`; any other
///   failure is not. Then `on_failure` decides: `stop` fails the run,
///   `continue` goes on with the next step, `goto` at the named step.
/// - Starting more than [`MAX_STEPS_PER_RUN`] steps fails the run.
///
/// On a finished run it changes nothing and repeats the finish.
pub fn advance(doc: &WorkflowDocument, state: &RunState, outcome: &StepOutcome) -> (RunState, Command) {
    if state.status.is_terminal() {
        return (state.clone(), Command::Finish(state.status, None));
    }
    let state = &RunState { executions: state.executions + 1, ..state.clone() };
    let Some(step) = doc.steps.get(state.step) else {
        return finish(state, RunStatus::Failed, Some(format!("the run is at step {} of {}", state.step, doc.steps.len())));
    };
    match outcome {
        StepOutcome::Skipped | StepOutcome::Succeeded { next_step: None } => next(doc, state, state.step + 1),
        StepOutcome::Succeeded { next_step: Some(id) } => match doc.step_index(id) {
            Some(target) => enter(state, target),
            None => finish(
                state,
                RunStatus::Failed,
                Some(format!("step `{}` asked to continue at `{id}`, which is not a step of this workflow", step.id)),
            ),
        },
        StepOutcome::Failed { error, message } => {
            if error.is_retried() && state.attempt < step.retry.max_attempts {
                let attempt = state.attempt + 1;
                let delay = step.retry.delay_before(attempt);
                let waiting = RunState { status: RunStatus::Waiting, attempt, ..state.clone() };
                return (waiting, Command::RetryAfter { step: state.step, attempt, delay });
            }
            let attempts = if state.attempt == 1 { "1 attempt".to_owned() } else { format!("{} attempts", state.attempt) };
            let reason = format!("step `{}` failed ({}) after {attempts}: {message}", step.id, error.as_str());
            match &step.on_failure {
                OnFailure::Stop => finish(state, RunStatus::Failed, Some(reason)),
                OnFailure::Continue => next(doc, state, state.step + 1),
                OnFailure::Goto(id) => match doc.step_index(id) {
                    Some(target) => enter(state, target),
                    None => finish(
                        state,
                        RunStatus::Failed,
                        Some(format!("{reason}; its on_failure goto `{id}` is not a step of this workflow")),
                    ),
                },
            }
        }
    }
}

/// Continue at `index`, or succeed when it is past the last step.
fn next(doc: &WorkflowDocument, state: &RunState, index: usize) -> (RunState, Command) {
    if index >= doc.steps.len() { finish(state, RunStatus::Succeeded, None) } else { enter(state, index) }
}

fn enter(state: &RunState, index: usize) -> (RunState, Command) {
    if state.steps_run >= MAX_STEPS_PER_RUN {
        return finish(
            state,
            RunStatus::Failed,
            Some(format!("the run would start more than {MAX_STEPS_PER_RUN} steps; a plugin's next_step may loop")),
        );
    }
    let state =
        RunState { status: RunStatus::Running, step: index, attempt: 1, steps_run: state.steps_run + 1, executions: state.executions };
    (state, Command::RunStep { step: index, attempt: 1 })
}

fn finish(state: &RunState, status: RunStatus, reason: Option<String>) -> (RunState, Command) {
    (RunState { status, ..state.clone() }, Command::Finish(status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
        }
        assert_eq!(RunStatus::parse("done"), None);
    }
}
