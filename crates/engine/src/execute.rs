//! The executor: runs leased runs and commits them, many per transaction.
//!
//! A batch takes up to [`crate::EngineConfig::run_batch`] runs. Each run's
//! steps run back to back in memory ([`crate::runner`]), every run on its
//! own task (plugins are CPU-bound; both cores work), sharing the batch's
//! directory snapshot. Then the batch commits in one transaction
//! ([`switchyard_store::WriteTxn::commit_runs`]): per run, its ticket edit
//! (guarded by the version its steps started from), its history events,
//! step records, final state, notifications and kv writes, so a crash
//! loses a whole run or nothing of it.
//!
//! What the commit refuses is run again, at once, in the next pass of the
//! same batch:
//! - the ticket changed while the run was in flight (a person edited it):
//!   the run starts again from the new version, and the fields the other
//!   writer changed are protected: the run's changes to them are dropped
//!   (and noted in the step's log), so the other change is neither lost
//!   nor overwritten;
//! - a kv increment the run was given is not what the counter reached
//!   (see `crate::kv`).
//!
//! Two runs of one ticket never share a pass (the second waits for the
//! first to commit). A run whose next step may call out over HTTP commits
//! first and goes on in the next pass. A run that another node took over
//! meanwhile is dropped (its version moved on).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use switchyard_domain::changes;
use switchyard_domain::incident::IncidentNumber;
use switchyard_store::{IncidentRecord, NewNotification, RunCommit, RunProgress, RunRecord, RunVerdict, StoreError, TicketWrite, Topic};
use switchyard_workflow::run::{Command, RunStatus};
use tokio::sync::{mpsc, watch};

use crate::kv::{KvJournal, KvMode, Settled};
use crate::metrics::EngineMetrics;
use crate::runner::{Execution, Purpose, Runner, SegmentEnd};
use crate::snapshot::DirectorySnapshot;
use crate::{EngineError, Inner};

/// A run refused this many times in one batch fails instead of trying again.
const MAX_RERUNS: u32 = 20;

/// The executor task.
pub(crate) async fn run(inner: Arc<Inner>, mut runs: mpsc::UnboundedReceiver<RunRecord>, mut stopped: watch::Receiver<bool>) {
    let wake = inner.store.subscribe(Topic::Runs);
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
            // Sleep until the next retry is due, a wake-up, or the poll.
            let next = inner.store.next_run_due().await.ok().flatten();
            let pause =
                next.map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO)).unwrap_or(inner.config.poll).min(inner.config.poll);
            tokio::select! {
                r = runs.recv() => match r {
                    Some(r) => batch.push(r),
                    None => return,
                },
                _ = wake.notified() => continue,
                _ = tokio::time::sleep(pause) => continue,
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

/// Executes runs until each finishes or waits.
pub(crate) async fn execute_batch(inner: &Arc<Inner>, runs: Vec<RunRecord>) -> Result<(), EngineError> {
    let store = &inner.store;
    let snapshot = Arc::new(DirectorySnapshot::new(store.clone()));
    let runner = Arc::new(Runner::new(inner.clone(), snapshot, store.edit_settings().await?, Purpose::Execute));
    let numbers: Vec<IncidentNumber> = runs.iter().filter_map(|r| r.incident_id.map(IncidentNumber)).collect();
    let tickets: HashMap<i64, IncidentRecord> = store.incidents(&numbers).await?.into_iter().map(|r| (r.incident.number.0, r)).collect();
    let mut pending = Vec::with_capacity(runs.len());
    for run in runs {
        match inner.workflows.version(&run.workflow_id, run.workflow_version).await {
            Ok(workflow) => {
                let ticket = run.incident_id.and_then(|id| tickets.get(&id).cloned());
                let journal = Arc::new(KvJournal::new(KvMode::Run(inner.kv.clone())));
                pending.push(Execution::new(run, workflow, ticket, journal));
            }
            Err(e) => {
                let reason = format!("workflow {}@{} cannot be loaded: {e}", run.workflow_id, run.workflow_version);
                fail_run(inner, &run, reason).await?;
            }
        }
    }
    // A ticket taken by an earlier run of the batch is read again for the next one.
    let mut needs_reload: HashSet<i64> = HashSet::new();
    while !pending.is_empty() {
        // One run per ticket per pass.
        let mut tickets_in_pass = HashSet::new();
        let (pass, deferred): (Vec<Execution>, Vec<Execution>) =
            pending.into_iter().partition(|e| e.run.incident_id.is_none_or(|id| tickets_in_pass.insert(id)));
        let mut pass = pass;
        let reload: Vec<IncidentNumber> =
            pass.iter().filter_map(|e| e.run.incident_id).filter(|id| needs_reload.remove(id)).map(IncidentNumber).collect();
        if !reload.is_empty() {
            let fresh: HashMap<i64, IncidentRecord> =
                store.incidents(&reload).await?.into_iter().map(|r| (r.incident.number.0, r)).collect();
            for e in pass.iter_mut().filter(|e| e.run.incident_id.is_some_and(|id| fresh.contains_key(&id))) {
                let record = e.run.incident_id.and_then(|id| fresh.get(&id).cloned());
                e.restart(record);
            }
        }
        let started = Instant::now();
        let mut handles = Vec::with_capacity(pass.len());
        for mut exec in pass {
            let runner = runner.clone();
            handles.push(inner.plugins.spawn(async move {
                runner.run_segment(&mut exec).await;
                exec
            }));
        }
        let mut executed = Vec::with_capacity(handles.len());
        for h in handles {
            executed
                .push(h.await.map_err(|e| EngineError::Invalid { field: "executor".into(), message: format!("run task failed: {e}") })?);
        }
        let plugins_done = started.elapsed();
        // Increments commit in the order they were handed out.
        executed.sort_by_key(|e| e.journal.first_reservation());
        let commits: Vec<RunCommit> = executed.iter().map(|e| commit_of(inner, e)).collect();
        if let Some(hook) = &inner.config.hooks.before_commit {
            hook(executed.iter().map(|e| e.run.id).collect()).await;
        }
        let verdicts = commit(inner, commits).await?;
        tracing::debug!(
            runs = executed.len(),
            plugins_ms = plugins_done.as_millis() as u64,
            commit_ms = (started.elapsed() - plugins_done).as_millis() as u64,
            "executed a pass"
        );
        let mut next = Vec::new();
        for (mut exec, verdict) in executed.into_iter().zip(verdicts) {
            match verdict {
                RunVerdict::Committed(version) => {
                    exec.journal.finish(Settled::Kept).await;
                    count(inner, &exec);
                    if exec.end == Some(SegmentEnd::Commit) {
                        continue_after_commit(inner, &mut exec, version);
                        next.push(exec);
                    } else if let Some(id) = exec.run.incident_id {
                        needs_reload.insert(id);
                    }
                }
                RunVerdict::TicketChanged | RunVerdict::KvConflict(_) => {
                    let conflict = !matches!(verdict, RunVerdict::TicketChanged);
                    exec.journal.finish(if conflict { Settled::Conflict } else { Settled::GivenBack }).await;
                    exec.reruns += 1;
                    if exec.reruns > MAX_RERUNS {
                        fail_run(inner, &exec.run, format!("the run was refused {MAX_RERUNS} times in a row ({verdict:?}); giving up"))
                            .await?;
                        continue;
                    }
                    let fresh = match exec.run.incident_id {
                        Some(id) => store.incidents(&[IncidentNumber(id)]).await?.pop(),
                        None => None,
                    };
                    if let (Some(t), Some(f)) = (&exec.ticket, &fresh) {
                        // Whatever changed under the run is someone else's and wins.
                        let changed: BTreeSet<String> = changes::diff(&t.base.incident, &f.incident).into_iter().map(|c| c.field).collect();
                        exec.protected.extend(changed);
                    }
                    tracing::debug!(run = exec.run.id, ?verdict, protected = ?exec.protected, "run refused at commit; running it again");
                    exec.restart(fresh);
                    next.push(exec);
                }
                RunVerdict::RunMovedOn => {
                    exec.journal.finish(Settled::GivenBack).await;
                    tracing::warn!(run = exec.run.id, "run moved on (another node took it over); dropping this result");
                }
                RunVerdict::Failed(message) => {
                    exec.journal.finish(Settled::GivenBack).await;
                    fail_run(inner, &exec.run, format!("the store refused the run's changes: {message}")).await?;
                }
            }
        }
        next.extend(deferred);
        pending = next;
    }
    Ok(())
}

/// After a commit, the run goes on from where it stopped, against the
/// ticket as it committed it.
fn continue_after_commit(inner: &Inner, exec: &mut Execution, version: i32) {
    let progress = progress_of(inner, exec);
    let run = &mut exec.run;
    run.version = version;
    run.status = progress.status;
    run.step = progress.step;
    run.attempt = progress.attempt;
    run.steps_run = progress.steps_run;
    run.executions = progress.executions;
    run.outputs = progress.outputs;
    let ticket = exec.ticket.take().map(|t| t.current);
    exec.restart(ticket);
}

fn count(inner: &Inner, exec: &Execution) {
    let metrics = &inner.metrics;
    EngineMetrics::add(&metrics.steps_executed, exec.steps.len() as u64);
    match exec.end {
        Some(SegmentEnd::Finish(RunStatus::Succeeded, _)) => EngineMetrics::add(&metrics.runs_succeeded, 1),
        Some(SegmentEnd::Finish(_, _)) => EngineMetrics::add(&metrics.runs_failed, 1),
        _ => {}
    }
}

/// Where a run stands after its segment.
fn progress_of(inner: &Inner, exec: &Execution) -> RunProgress {
    let now = Utc::now();
    let last_error = exec.steps.last().and_then(|s| s.record.error.clone());
    let state = &exec.state;
    let mut progress = RunProgress {
        status: RunStatus::Running,
        step: state.step as i32,
        attempt: state.attempt as i32,
        steps_run: state.steps_run as i32,
        executions: state.executions as i32,
        outputs: serde_json::to_value(&exec.outputs).unwrap_or(Value::Null),
        error: None,
        due_at: now,
        lease: None,
    };
    match (&exec.end, &exec.command) {
        (Some(SegmentEnd::Commit), Command::RunStep { step, attempt }) => {
            progress.step = *step as i32;
            progress.attempt = *attempt as i32;
            let until = now + chrono::Duration::from_std(inner.config.lease).unwrap_or_default();
            progress.lease = Some((inner.config.node.clone(), until));
        }
        (Some(SegmentEnd::Wait(delay)), Command::RetryAfter { step, attempt, .. }) => {
            progress.status = RunStatus::Waiting;
            progress.step = *step as i32;
            progress.attempt = *attempt as i32;
            progress.due_at = now + chrono::Duration::from_std(*delay).unwrap_or_default();
            progress.error = last_error;
        }
        (Some(SegmentEnd::Finish(status, reason)), _) => {
            progress.status = *status;
            if *status == RunStatus::Failed {
                progress.error = reason.clone().or(last_error);
            }
        }
        // A segment always ends one of the ways above.
        (end, command) => {
            progress.status = RunStatus::Failed;
            progress.error = Some(format!("the run stopped in an unexpected state ({end:?}, {command:?})"));
        }
    }
    progress
}

/// What the store writes for an execution.
fn commit_of(inner: &Inner, exec: &Execution) -> RunCommit {
    let ticket = exec.ticket.as_ref().filter(|t| !t.entries.is_empty()).map(|t| TicketWrite {
        base_version: t.base.incident.version,
        incident: t.current.incident.clone(),
        fields_changed: t.fields_changed,
        cis_changed: t.cis_changed,
        entries: t.entries.clone(),
    });
    RunCommit {
        run: exec.run.clone(),
        progress: progress_of(inner, exec),
        steps: exec.steps.iter().map(|s| s.record.clone()).collect(),
        ticket,
        notifications: exec
            .notifications
            .iter()
            .map(|(step_id, n)| NewNotification {
                incident_id: exec.run.incident_id,
                run_id: exec.run.id,
                workflow_id: exec.run.workflow_id.clone(),
                step_id: step_id.clone(),
                channel: n.channel.clone(),
                recipients: n.recipients.clone(),
                subject: n.subject.clone(),
                body: n.body.clone(),
                subscription_id: None,
            })
            .collect(),
        kv: exec.journal.ops(),
    }
}

/// Commits a batch in one transaction; if the transaction itself fails,
/// each run is committed alone so one cannot sink the others.
async fn commit(inner: &Inner, commits: Vec<RunCommit>) -> Result<Vec<RunVerdict>, EngineError> {
    let attempt = async {
        let txn = inner.store.begin().await?;
        let verdicts = txn.commit_runs(commits.clone()).await?;
        txn.commit().await?;
        Ok::<_, StoreError>(verdicts)
    };
    match attempt.await {
        Ok(v) => Ok(v),
        Err(e) if commits.len() == 1 => Ok(vec![RunVerdict::Failed(e.to_string())]),
        Err(e) => {
            tracing::warn!(error = %e, runs = commits.len(), "committing a batch of runs failed; committing them one by one");
            let mut verdicts = Vec::with_capacity(commits.len());
            for c in commits {
                let one = async {
                    let txn = inner.store.begin().await?;
                    let mut v = txn.commit_runs(vec![c]).await?;
                    txn.commit().await?;
                    Ok::<_, StoreError>(v.pop().unwrap_or(RunVerdict::RunMovedOn))
                };
                verdicts.push(one.await.unwrap_or_else(|e| RunVerdict::Failed(e.to_string())));
            }
            Ok(verdicts)
        }
    }
}

/// Ends a run as failed without running anything.
pub(crate) async fn fail_run(inner: &Inner, run: &RunRecord, reason: String) -> Result<(), EngineError> {
    tracing::error!(run = run.id, "{reason}");
    let progress = RunProgress {
        status: RunStatus::Failed,
        step: run.step,
        attempt: run.attempt,
        steps_run: run.steps_run,
        executions: run.executions,
        outputs: run.outputs.clone(),
        error: Some(reason),
        due_at: Utc::now(),
        lease: None,
    };
    let commit_one = RunCommit { run: run.clone(), progress, steps: Vec::new(), ticket: None, notifications: Vec::new(), kv: Vec::new() };
    commit(inner, vec![commit_one]).await?;
    EngineMetrics::add(&inner.metrics.runs_failed, 1);
    Ok(())
}
