//! The run state machine: every transition, and properties over random
//! documents and outcome sequences.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard_workflow::run::{Command, FailureKind, MAX_STEPS_PER_RUN, RunState, RunStatus, StepOutcome, advance, start};
use switchyard_workflow::{RetryPolicy, WorkflowDocument};

fn doc(steps: Value) -> WorkflowDocument {
    serde_json::from_value(json!({
        "id": "wf", "name": "W", "version": 1,
        "triggers": [{"manual": {}}],
        "steps": steps
    }))
    .unwrap()
}

/// a: retried 3 times, stops the run; b: one attempt, continues; c: goes to
/// e; d and e: defaults.
fn five_steps() -> WorkflowDocument {
    doc(json!([
        {"id": "a", "plugin": "p"},
        {"id": "b", "plugin": "p", "retry": {"max_attempts": 1}, "on_failure": "continue"},
        {"id": "c", "plugin": "p", "on_failure": {"goto": "e"}},
        {"id": "d", "plugin": "p"},
        {"id": "e", "plugin": "p", "on_failure": "continue"}
    ]))
}

fn at(step: usize, attempt: u32, steps_run: u32) -> RunState {
    RunState { status: RunStatus::Running, step, attempt, steps_run, executions: 0 }
}

fn ok() -> StepOutcome {
    StepOutcome::Succeeded { next_step: None }
}

fn next(id: &str) -> StepOutcome {
    StepOutcome::Succeeded { next_step: Some(id.to_owned()) }
}

fn failed(error: FailureKind) -> StepOutcome {
    StepOutcome::Failed { error, message: "boom".into() }
}

fn run_step(step: usize, attempt: u32) -> Command {
    Command::RunStep { step, attempt }
}

#[test]
fn start_runs_the_first_step() {
    let (state, command) = start(&five_steps());
    assert_eq!(state, at(0, 1, 1));
    assert_eq!(command, run_step(0, 1));
}

#[test]
fn transitions() {
    use FailureKind::*;
    let d = five_steps();
    let retry = |step, attempt, ms| Command::RetryAfter { step, attempt, delay: Duration::from_millis(ms) };
    let waiting = |step, attempt, steps_run| RunState { status: RunStatus::Waiting, step, attempt, steps_run, executions: 0 };
    // (name, state, outcome, expected state, expected command; None = a finish checked below)
    let cases: Vec<(&str, RunState, StepOutcome, RunState, Command)> = vec![
        ("success goes on", at(0, 1, 1), ok(), at(1, 1, 2), run_step(1, 1)),
        ("success after retries goes on", at(0, 3, 1), ok(), at(1, 1, 2), run_step(1, 1)),
        ("skipped goes on", at(0, 1, 1), StepOutcome::Skipped, at(1, 1, 2), run_step(1, 1)),
        ("next_step forward", at(0, 1, 1), next("d"), at(3, 1, 2), run_step(3, 1)),
        ("next_step backward", at(3, 1, 4), next("a"), at(0, 1, 5), run_step(0, 1)),
        ("next_step itself", at(3, 1, 4), next("d"), at(3, 1, 5), run_step(3, 1)),
        ("retryable is retried", at(0, 1, 1), failed(Retryable), waiting(0, 2, 1), retry(0, 2, 1000)),
        ("trap is retried", at(0, 2, 1), failed(Trap), waiting(0, 3, 1), retry(0, 3, 2000)),
        ("timeout is retried", at(0, 1, 1), failed(Timeout), waiting(0, 2, 1), retry(0, 2, 1000)),
        ("a retry from waiting", waiting(0, 2, 1), failed(Retryable), waiting(0, 3, 1), retry(0, 3, 2000)),
        ("success from waiting", waiting(0, 2, 1), ok(), at(1, 1, 2), run_step(1, 1)),
        ("exhausted, continue", at(1, 1, 2), failed(Retryable), at(2, 1, 3), run_step(2, 1)),
        ("fatal, continue", at(1, 1, 2), failed(Fatal), at(2, 1, 3), run_step(2, 1)),
        ("fatal, goto", at(2, 1, 3), failed(Fatal), at(4, 1, 4), run_step(4, 1)),
        ("invalid config, goto", at(2, 1, 3), failed(InvalidConfig), at(4, 1, 4), run_step(4, 1)),
        ("rejected, goto", at(2, 1, 3), failed(Rejected), at(4, 1, 4), run_step(4, 1)),
        ("exhausted, goto", at(2, 3, 3), failed(Timeout), at(4, 1, 4), run_step(4, 1)),
    ];
    for (name, state, outcome, expected_state, expected_command) in cases {
        let (got_state, got_command) = advance(&d, &state, &outcome);
        assert_eq!(got_state.executions, state.executions + 1, "{name}: every ended attempt counts once");
        let got_state = RunState { executions: 0, ..got_state };
        assert_eq!((got_state, got_command), (expected_state, expected_command), "{name}");
    }
}

fn finish_of(d: &WorkflowDocument, state: &RunState, outcome: &StepOutcome) -> (RunState, RunStatus, Option<String>) {
    match advance(d, state, outcome) {
        (state, Command::Finish(status, reason)) => {
            assert_eq!(state.status, status);
            (state, status, reason)
        }
        other => panic!("expected a finish, got {other:?}"),
    }
}

#[test]
fn finishes() {
    use FailureKind::*;
    let d = five_steps();
    // (name, state, outcome, status, a word the reason must contain)
    let cases: Vec<(&str, RunState, StepOutcome, RunStatus, Option<&str>)> = vec![
        ("success of the last step", at(4, 1, 5), ok(), RunStatus::Succeeded, None),
        ("last step skipped", at(4, 1, 5), StepOutcome::Skipped, RunStatus::Succeeded, None),
        ("last step fails, continue", at(4, 1, 5), failed(Fatal), RunStatus::Succeeded, None),
        ("fatal, stop", at(0, 1, 1), failed(Fatal), RunStatus::Failed, Some("step `a` failed (fatal) after 1 attempt: boom")),
        ("invalid config, stop", at(0, 1, 1), failed(InvalidConfig), RunStatus::Failed, Some("invalid_config")),
        ("rejected, stop", at(0, 1, 1), failed(Rejected), RunStatus::Failed, Some("rejected")),
        ("retries exhausted, stop", at(0, 3, 1), failed(Retryable), RunStatus::Failed, Some("after 3 attempts")),
        ("trap exhausted, stop", at(0, 3, 1), failed(Trap), RunStatus::Failed, Some("trap")),
        ("unknown next_step", at(1, 1, 2), next("zzz"), RunStatus::Failed, Some("`zzz`")),
        ("too many steps", at(3, 1, MAX_STEPS_PER_RUN), next("a"), RunStatus::Failed, Some("100 steps")),
        ("too many steps, going on", at(0, 1, MAX_STEPS_PER_RUN), ok(), RunStatus::Failed, Some("100 steps")),
        ("a state past the steps", at(9, 1, 1), ok(), RunStatus::Failed, Some("step 9 of 5")),
    ];
    for (name, state, outcome, status, reason) in cases {
        let (got_state, got_status, got_reason) = finish_of(&d, &state, &outcome);
        assert_eq!(got_status, status, "{name}");
        assert_eq!(got_state.step, state.step, "{name}: a finish stays at its step");
        match reason {
            None => assert_eq!(got_reason, None, "{name}"),
            Some(word) => {
                let got = got_reason.unwrap_or_else(|| panic!("{name}: no reason"));
                assert!(got.contains(word), "{name}: `{got}` lacks `{word}`");
            }
        }
    }
}

#[test]
fn a_finished_run_stays_finished() {
    let d = five_steps();
    for status in [RunStatus::Succeeded, RunStatus::Failed] {
        let state = RunState { status, step: 2, attempt: 1, steps_run: 3, executions: 4 };
        assert_eq!(advance(&d, &state, &ok()), (state.clone(), Command::Finish(status, None)));
    }
}

#[test]
fn a_document_without_steps_fails_at_once() {
    let mut d = five_steps();
    d.steps.clear();
    let (state, command) = start(&d);
    assert_eq!(state.status, RunStatus::Failed);
    assert!(matches!(command, Command::Finish(RunStatus::Failed, Some(_))));
}

#[test]
fn a_looping_plugin_is_stopped() {
    let d = five_steps();
    let (mut state, mut command) = start(&d);
    let mut commands = 1;
    while !matches!(command, Command::Finish(..)) {
        (state, command) = advance(&d, &state, &next("a"));
        commands += 1;
    }
    assert_eq!(state.steps_run, MAX_STEPS_PER_RUN);
    assert_eq!(commands, MAX_STEPS_PER_RUN + 1);
    assert!(matches!(command, Command::Finish(RunStatus::Failed, Some(r)) if r.contains("100 steps")));
}

#[test]
fn delays() {
    let policy = RetryPolicy { max_attempts: 10, initial_backoff_ms: 1000, multiplier: 2.0, max_backoff_ms: 10_000 };
    let delays: Vec<u64> = (1..=8).map(|n| policy.delay_before(n).as_millis() as u64).collect();
    assert_eq!(delays, [0, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    let flat = RetryPolicy { multiplier: 1.0, ..policy.clone() };
    assert_eq!(flat.delay_before(7), Duration::from_secs(1));
    let shrinking = RetryPolicy { multiplier: 0.5, ..policy.clone() };
    assert_eq!(shrinking.delay_before(5), Duration::from_secs(1), "a multiplier below 1 counts as 1");
    let huge = RetryPolicy { multiplier: 10.0, max_backoff_ms: 86_400_000, ..policy };
    assert_eq!(huge.delay_before(u32::MAX), Duration::from_millis(86_400_000));
    assert_eq!(RetryPolicy::default().delay_before(2), Duration::from_secs(1));
}

// ---------------------------------------------------------------------------
// Properties

#[derive(Debug, Clone)]
enum Pick {
    Ok,
    Next(usize),
    Unknown,
    Skip,
    Fail(FailureKind),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => Just(Pick::Ok),
        2 => (0usize..8).prop_map(Pick::Next),
        1 => Just(Pick::Unknown),
        1 => Just(Pick::Skip),
        6 => prop::sample::select(vec![
            FailureKind::Retryable,
            FailureKind::Fatal,
            FailureKind::InvalidConfig,
            FailureKind::Trap,
            FailureKind::Timeout,
            FailureKind::Rejected,
        ])
        .prop_map(Pick::Fail),
    ]
}

/// A random valid document: 1..8 steps, random retry policies, and
/// on_failure stop, continue or a goto to a later step.
fn document() -> impl Strategy<Value = WorkflowDocument> {
    let step = (1u32..=6, 0u64..5000, 1.0f64..4.0, 0u64..100_000, 0u8..3, 0usize..8);
    prop::collection::vec(step, 1..8).prop_map(|steps| {
        let n = steps.len();
        let steps: Vec<Value> = steps
            .into_iter()
            .enumerate()
            .map(|(i, (max_attempts, initial, multiplier, max, failure, target))| {
                let on_failure = match failure {
                    0 => json!("stop"),
                    1 => json!("continue"),
                    _ if i + 1 < n => json!({"goto": format!("s{}", i + 1 + target % (n - i - 1))}),
                    _ => json!("continue"),
                };
                json!({
                    "id": format!("s{i}"), "plugin": "p",
                    "retry": {"max_attempts": max_attempts, "initial_backoff_ms": initial,
                              "multiplier": multiplier, "max_backoff_ms": max},
                    "on_failure": on_failure
                })
            })
            .collect();
        doc(Value::Array(steps))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn runs_always_end_within_bounds(d in document(), picks in prop::collection::vec(pick(), 1..40)) {
        let max_attempts = d.steps.iter().map(|s| s.retry.max_attempts).max().unwrap();
        let bound = MAX_STEPS_PER_RUN * max_attempts;
        let (mut state, mut command) = start(&d);
        let mut advances = 0u32;
        let mut last_delay: Option<(usize, Duration)> = None;
        loop {
            prop_assert!(state.steps_run <= MAX_STEPS_PER_RUN);
            match &command {
                Command::Finish(status, reason) => {
                    prop_assert!(status.is_terminal());
                    prop_assert_eq!(state.status, *status);
                    prop_assert_eq!(*status == RunStatus::Failed, reason.is_some());
                    break;
                }
                Command::RunStep { step, attempt } => {
                    prop_assert_eq!(*attempt, 1);
                    prop_assert_eq!((state.status, state.step, state.attempt), (RunStatus::Running, *step, 1));
                    last_delay = None;
                }
                Command::RetryAfter { step, attempt, delay } => {
                    let policy = &d.steps[*step].retry;
                    prop_assert!(*attempt >= 2 && *attempt <= policy.max_attempts);
                    prop_assert_eq!((state.status, state.step, state.attempt), (RunStatus::Waiting, *step, *attempt));
                    prop_assert_eq!(*delay, policy.delay_before(*attempt));
                    prop_assert!(*delay <= Duration::from_millis(policy.max_backoff_ms));
                    if let Some((previous_step, previous)) = last_delay {
                        prop_assert_eq!(previous_step, *step);
                        prop_assert!(*delay >= previous, "delays shrank: {:?} then {:?}", previous, delay);
                    }
                    last_delay = Some((*step, *delay));
                }
            }
            let outcome = match &picks[advances as usize % picks.len()] {
                Pick::Ok => ok(),
                Pick::Next(i) => next(&format!("s{}", i % d.steps.len())),
                Pick::Unknown => next("nowhere"),
                Pick::Skip => StepOutcome::Skipped,
                Pick::Fail(kind) => failed(*kind),
            };
            (state, command) = advance(&d, &state, &outcome);
            advances += 1;
            prop_assert!(advances <= bound, "{} advances, bound {}", advances, bound);
        }
    }

    #[test]
    fn delays_grow_and_are_capped(
        initial in 0u64..3_600_000,
        multiplier in 1.0f64..10.0,
        max in 0u64..86_400_000,
    ) {
        let policy = RetryPolicy { max_attempts: 20, initial_backoff_ms: initial, multiplier, max_backoff_ms: max };
        prop_assert_eq!(policy.delay_before(1), Duration::ZERO);
        let mut previous = Duration::ZERO;
        for attempt in 2..=40 {
            let delay = policy.delay_before(attempt);
            prop_assert!(delay >= previous);
            prop_assert!(delay <= Duration::from_millis(max));
            prop_assert_eq!(delay, policy.delay_before(attempt), "deterministic");
            previous = delay;
        }
    }
}
