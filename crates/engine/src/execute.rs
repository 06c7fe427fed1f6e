//! The executor: runs leased runs in rounds.
//!
//! A round runs the next step of every run in the batch, each on its own
//! task (plugins are CPU-bound; both cores work), against a fresh snapshot
//! of its ticket. It then commits every step in one transaction, with a
//! savepoint per run holding: the changes the step's actions make, the
//! step's record (`(run, ordinal)` is its idempotency key) and the run's
//! progress (guarded by the run's version). If the store refuses a step's
//! changes (an unknown group, say), that savepoint is rolled back and the
//! step is recorded as failed instead, with the ticket untouched. Runs
//! that go on take part in the next round; runs that wait for a retry are
//! left for [`switchyard_store::Store::claim_runs`] to pick up when due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use switchyard_domain::incident::IncidentNumber;
use switchyard_plugin_host::model::{StepContext, StepOutput};
use switchyard_plugin_host::{PluginError, StepError, StepInput, Ticket, Trigger};
use switchyard_store::{Actor, NewNotification, RunProgress, RunRecord, StepRecord, StoreError, Visibility, WriteTxn, run_status};
use switchyard_workflow::run::{self, Command, FailureKind, RunState, RunStatus, StepOutcome};
use tokio::sync::{mpsc, watch};

use crate::actions::{self, StepChanges};
use crate::catalog::LoadedWorkflow;
use crate::metrics::EngineMetrics;
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

/// A run being executed.
#[derive(Clone)]
struct Active {
    run: RunRecord,
    workflow: Arc<LoadedWorkflow>,
    /// The step and attempt to run next. `steps_run` counts step
    /// executions, retries included: the next record's ordinal is it plus
    /// one (stored in `workflow_runs.steps_run`).
    state: RunState,
    outputs: Vec<StepOutput>,
    trigger: Trigger,
}

/// What one step execution produced, before it is committed.
struct Executed {
    record: StepRecord,
    outcome: StepOutcome,
    changes: Option<StepChanges>,
    actor_name: String,
}

/// The executor task.
pub(crate) async fn run(inner: Arc<Inner>, mut runs: mpsc::UnboundedReceiver<RunRecord>, mut stopped: watch::Receiver<bool>) {
    loop {
        if *stopped.borrow() {
            return;
        }
        let mut batch: Vec<RunRecord> = Vec::new();
        while batch.len() < inner.config.run_batch {
            match runs.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            match inner.store.has_due_runs().await {
                Ok(true) => match inner.store.claim_runs(&inner.config.node, inner.config.lease, inner.config.run_batch as u64).await {
                    Ok(claimed) => batch = claimed,
                    Err(e) => tracing::error!(error = %e, "claiming runs failed"),
                },
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "looking for due runs failed"),
            }
        }
        if batch.is_empty() {
            tokio::select! {
                r = runs.recv() => match r {
                    Some(r) => batch.push(r),
                    None => return,
                },
                _ = tokio::time::sleep(inner.config.poll) => continue,
                _ = stopped.changed() => continue,
            }
        }
        if let Err(e) = execute_batch(&inner, batch).await {
            // The runs stay leased; they are taken over when the lease ends.
            tracing::error!(error = %e, "executing a batch of runs failed; its runs resume when their leases expire");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn trigger_of(run: &RunRecord) -> Trigger {
    serde_json::from_value(run.trigger.clone()).unwrap_or(Trigger::TicketCreated)
}

/// Executes runs until each finishes or waits.
pub(crate) async fn execute_batch(inner: &Arc<Inner>, runs: Vec<RunRecord>) -> Result<(), EngineError> {
    let mut active = Vec::with_capacity(runs.len());
    for run in runs {
        let workflow = match inner.workflows.version(&run.workflow_id, run.workflow_version).await {
            Ok(w) => w,
            Err(e) => {
                fail_run(inner, &run, &format!("workflow {}@{} cannot be loaded: {e}", run.workflow_id, run.workflow_version)).await?;
                continue;
            }
        };
        let outputs: Vec<StepOutput> = serde_json::from_value(run.outputs.clone()).unwrap_or_default();
        let state =
            RunState { status: RunStatus::Running, step: run.step as usize, attempt: run.attempt as u32, steps_run: run.steps_run as u32 };
        active.push(Active { trigger: trigger_of(&run), state, outputs, workflow, run });
    }
    while !active.is_empty() {
        let numbers: Vec<IncidentNumber> = active.iter().filter_map(|a| a.run.incident_id.map(IncidentNumber)).collect();
        let tickets: HashMap<i64, Ticket> =
            inner.store.incidents(&numbers).await?.iter().map(|r| (r.incident.number.0, ticket_from_record(r))).collect();
        let mut handles = Vec::with_capacity(active.len());
        for a in &active {
            let ticket = a.run.incident_id.and_then(|id| tickets.get(&id).cloned());
            handles.push(tokio::spawn(execute_step(inner.clone(), a.clone(), ticket)));
        }
        let round = Instant::now();
        let mut executed = Vec::with_capacity(handles.len());
        for h in handles {
            executed
                .push(h.await.map_err(|e| EngineError::Invalid { field: "executor".into(), message: format!("step task failed: {e}") })?);
        }
        let steps_done = round.elapsed();
        let runs = active.len();
        let txn = inner.store.begin().await?;
        let mut next = Vec::with_capacity(active.len());
        for (a, e) in active.into_iter().zip(executed) {
            if let Some(a) = commit_step(inner, &txn, a, e).await? {
                next.push(a);
            }
        }
        txn.commit().await?;
        tracing::debug!(
            runs,
            steps_ms = steps_done.as_millis() as u64,
            commit_ms = (round.elapsed() - steps_done).as_millis() as u64,
            "round"
        );
        active = next;
    }
    Ok(())
}

async fn fail_run(inner: &Inner, run: &RunRecord, reason: &str) -> Result<(), EngineError> {
    tracing::error!(run = run.id, "{reason}");
    let txn = inner.store.begin().await?;
    let progress = RunProgress {
        status: run_status::FAILED,
        step: run.step,
        attempt: run.attempt,
        steps_run: run.steps_run,
        outputs: run.outputs.clone(),
        error: Some(reason.to_owned()),
        due_at: Utc::now(),
    };
    match inner.store.save_run_progress(&txn, run, progress).await {
        Ok(_) => txn.commit().await?,
        Err(StoreError::Conflict { .. }) => txn.rollback().await?,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn failure(kind: FailureKind, message: String) -> StepOutcome {
    StepOutcome::Failed { error: kind, message }
}

/// Runs one step of a run against its ticket snapshot.
async fn execute_step(inner: Arc<Inner>, a: Active, ticket: Option<Ticket>) -> Executed {
    let spec = &a.workflow.document.steps[a.state.step];
    let mut e = Executed {
        record: StepRecord {
            run_id: a.run.id,
            ordinal: a.state.steps_run as i32 + 1,
            step_id: spec.id.clone(),
            attempt: a.state.attempt as i32,
            plugin_id: spec.plugin.clone(),
            plugin_version: String::new(),
            plugin_sha256: String::new(),
            status: "succeeded".into(),
            input: Value::Null,
            output: None,
            actions: json!([]),
            logs: json!([]),
            error: None,
            started_at: Utc::now(),
            duration_us: 0,
        },
        outcome: StepOutcome::Skipped,
        changes: None,
        actor_name: String::new(),
    };
    e.outcome = attempt_step(&inner, &a, ticket, &mut e).await;
    match &e.outcome {
        StepOutcome::Failed { message, .. } => {
            e.record.status = "failed".into();
            e.record.error = Some(message.clone());
        }
        StepOutcome::Skipped => e.record.status = "skipped".into(),
        StepOutcome::Succeeded { .. } => {}
    }
    e
}

/// Checks the step's condition, runs its plugin and plans its actions,
/// filling in `e`; returns how the attempt ended.
async fn attempt_step(inner: &Inner, a: &Active, ticket: Option<Ticket>, e: &mut Executed) -> StepOutcome {
    let workflow = &a.workflow;
    let spec = &workflow.document.steps[a.state.step];
    if a.run.incident_id.is_some() && ticket.is_none() {
        return failure(FailureKind::Fatal, "the ticket no longer exists".into());
    }
    match spec.applies_to(&serde_json::to_value(&ticket).unwrap_or(Value::Null)) {
        Ok(true) => {}
        Ok(false) => return StepOutcome::Skipped,
        Err(err) => return failure(FailureKind::Fatal, format!("condition: {err}")),
    }
    let plugin = match inner.registry.get(&spec.plugin, &spec.version) {
        Ok(p) => p,
        Err(err) => return failure(FailureKind::Fatal, err.to_string()),
    };
    let record = &mut e.record;
    record.plugin_version = plugin.version().to_string();
    record.plugin_sha256 = plugin.sha256().to_owned();
    let sha = &record.plugin_sha256;
    e.actor_name = format!(
        "{}@{} step {} plugin {}@{} ({})",
        workflow.id,
        workflow.version,
        spec.id,
        spec.plugin,
        record.plugin_version,
        &sha[..sha.len().min(12)]
    );
    let input = StepInput {
        context: StepContext {
            workflow_id: workflow.id.clone(),
            workflow_version: workflow.version as u32,
            run_id: a.run.id.to_string(),
            step_id: spec.id.clone(),
            attempt: a.state.attempt,
            deadline: 0,
            now: record.started_at.timestamp_millis(),
        },
        trigger: a.trigger.clone(),
        ticket,
        config: spec.config.clone(),
        previous: a.outputs.clone(),
    };
    record.input = json!({"trigger": input.trigger, "config": input.config, "previous": input.previous, "ticket_version": input.ticket.as_ref().map(|t| t.updated_at)});
    // Wait for a slot: the plugin host has a fixed number of instance
    // slots, and the deadline should measure the plugin, not the queue.
    let _slot = inner.step_slots.clone().acquire_owned().await;
    let clock = Instant::now();
    let result = plugin.run_within(&input, spec.timeout()).await;
    record.duration_us = clock.elapsed().as_micros() as i64;
    match result {
        Ok(outcome) => {
            record.logs = serde_json::to_value(&outcome.logs).unwrap_or(Value::Null);
            match outcome.result {
                Ok(result) => {
                    record.output = Some(result.output.clone());
                    record.actions = serde_json::to_value(&result.actions).unwrap_or(Value::Null);
                    match actions::plan(&result.actions, input.ticket.as_ref()) {
                        Ok(changes) => {
                            e.changes = Some(changes);
                            StepOutcome::Succeeded { next_step: result.next_step }
                        }
                        Err(rejection) => failure(FailureKind::Rejected, rejection.to_string()),
                    }
                }
                Err(StepError::Retryable(m)) => failure(FailureKind::Retryable, m),
                Err(StepError::Fatal(m)) => failure(FailureKind::Fatal, m),
                Err(StepError::InvalidConfig(m)) => failure(FailureKind::InvalidConfig, m),
            }
        }
        Err(err @ PluginError::Timeout { .. }) => failure(FailureKind::Timeout, err.to_string()),
        Err(err @ (PluginError::Trap { .. } | PluginError::MemoryLimit { .. })) => failure(FailureKind::Trap, err.to_string()),
        Err(err) => failure(FailureKind::Fatal, err.to_string()),
    }
}

/// Applies a step's changes through `txn` (a savepoint).
async fn apply(inner: &Inner, txn: &WriteTxn, a: &Active, changes: StepChanges, actor: &Actor, step_id: &str) -> Result<(), StoreError> {
    if let Some(id) = a.run.incident_id {
        let number = IncidentNumber(id);
        if changes.has_update() {
            inner.store.apply_update(txn, number, changes.update, actor).await?;
        }
        for t in &changes.transitions {
            inner.store.apply_transition(txn, number, t, actor).await?;
        }
        for (text, internal) in &changes.notes {
            let visibility = if *internal { Visibility::Internal } else { Visibility::Public };
            inner.store.apply_note(txn, number, text, visibility, actor).await?;
        }
    }
    let notifications = changes
        .notifications
        .into_iter()
        .map(|n| NewNotification {
            incident_id: a.run.incident_id,
            run_id: a.run.id,
            workflow_id: a.run.workflow_id.clone(),
            step_id: step_id.to_owned(),
            channel: n.channel,
            recipients: n.recipients,
            subject: n.subject,
            body: n.body,
        })
        .collect();
    inner.store.insert_notifications(txn, notifications).await
}

/// Commits one executed step; returns the run if it goes on this batch.
async fn commit_step(inner: &Inner, txn: &WriteTxn, mut a: Active, mut e: Executed) -> Result<Option<Active>, EngineError> {
    let actor = Actor::workflow(a.run.id, e.actor_name.clone());
    let mut savepoint = txn.savepoint().await?;
    if let Some(changes) = e.changes.take() {
        match apply(inner, &savepoint, &a, changes, &actor, &e.record.step_id).await {
            Ok(()) => {}
            Err(err @ (StoreError::Domain(_) | StoreError::NotFound { .. } | StoreError::Conflict { .. })) => {
                savepoint.rollback().await?;
                savepoint = txn.savepoint().await?;
                let message = format!("the host refused the step's actions: {err}");
                e.record.status = "failed".into();
                e.record.error = Some(message.clone());
                let kind = if matches!(err, StoreError::Conflict { .. }) { FailureKind::Retryable } else { FailureKind::Rejected };
                e.outcome = failure(kind, message);
            }
            Err(err) => return Err(err.into()),
        }
    }
    if let StepOutcome::Succeeded { .. } = &e.outcome {
        a.outputs.push(StepOutput { step_id: e.record.step_id.clone(), output: e.record.output.clone().unwrap_or(Value::Null) });
    }
    // The state machine bounds a run by the steps it started; counting
    // every execution (retries too) bounds it a little sooner and keeps one
    // counter, which is also the ordinal of each step record.
    let executions = a.state.steps_run + 1;
    let counted = RunState { steps_run: executions, ..a.state.clone() };
    let (mut state, command) = run::advance(&a.workflow.document, &counted, &e.outcome);
    state.steps_run = executions;
    let now = Utc::now();
    let outputs = serde_json::to_value(&a.outputs).unwrap_or(Value::Null);
    let base = |status, step: usize, attempt: u32, error: Option<String>, due_at| RunProgress {
        status,
        step: step as i32,
        attempt: attempt as i32,
        steps_run: executions as i32,
        outputs: outputs.clone(),
        error,
        due_at,
    };
    let progress = match &command {
        Command::RunStep { step, attempt } => base(run_status::RUNNING, *step, *attempt, None, now),
        Command::RetryAfter { step, attempt, delay } => {
            let due = now + chrono::Duration::from_std(*delay).unwrap_or_default();
            base(run_status::WAITING, *step, *attempt, e.record.error.clone(), due)
        }
        Command::Finish(RunStatus::Succeeded, _) => base(run_status::SUCCEEDED, a.state.step, a.state.attempt, None, now),
        Command::Finish(_, reason) => {
            base(run_status::FAILED, a.state.step, a.state.attempt, reason.clone().or(e.record.error.clone()), now)
        }
    };
    if let Err(err) = inner.store.insert_step(&savepoint, e.record).await {
        // The step was committed before (a replay after a takeover): drop ours.
        tracing::warn!(run = a.run.id, error = %err, "step already recorded; dropping the replay");
        savepoint.rollback().await?;
        return Ok(None);
    }
    match inner.store.save_run_progress(&savepoint, &a.run, progress.clone()).await {
        Ok(version) => {
            savepoint.commit().await?;
            a.run.version = version;
            a.run.status = progress.status.to_owned();
            let metrics = &inner.metrics;
            EngineMetrics::add(&metrics.steps_executed, 1);
            match progress.status {
                run_status::SUCCEEDED => EngineMetrics::add(&metrics.runs_succeeded, 1),
                run_status::FAILED => EngineMetrics::add(&metrics.runs_failed, 1),
                _ => {}
            }
        }
        Err(StoreError::Conflict { message, .. }) => {
            tracing::warn!(run = a.run.id, "{message}");
            savepoint.rollback().await?;
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    }
    // After `RunStep`, the state names the step and attempt to run next.
    a.state = state;
    Ok(matches!(command, Command::RunStep { .. }).then_some(a))
}
