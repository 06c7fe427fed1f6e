//! The step runner: the one place a workflow's steps are run, for real
//! runs and dry-runs alike.
//!
//! An `Execution` is a run in memory: the state of the pure run state
//! machine ([`switchyard_workflow::run`]), the ticket as its steps have
//! left it so far, the step records, the notifications it queued and its
//! kv journal. `Runner::run_segment` runs its steps back to back: for
//! each it builds the step input, checks the step's condition, runs the
//! plugin within its limits (under `crate::services::STEP_SCOPE`, so kv
//! and directory calls see the run's journal and the batch's snapshot),
//! classifies what came back into one [`StepOutcome`] (timeout, trap,
//! retryable, invalid config, fatal, condition error, or actions the host
//! refused), and applies the step's actions to the in-memory ticket with
//! [`switchyard_domain::edit::apply`], so the next step sees them without a
//! commit. A refused step changes nothing: its edit, notifications and kv
//! writes are dropped.
//!
//! A segment ends when the run finishes, waits for a retry, or (for real
//! runs) reaches a step whose plugin may call out over HTTP: that step
//! starts only after the run's earlier work is committed, so an external
//! call never follows work that could still be lost. What happens next is
//! the caller's: the executor commits the execution, dry-run reports it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use switchyard_domain::edit::{self, References};
use switchyard_domain::history::{EventKind, HistoryEntry};
use switchyard_plugin_host::model::{Action, Notification, StepContext, StepOutput};
use switchyard_plugin_host::{Interface, PluginError, StepError, StepInput, Ticket, Trigger};
use switchyard_store::{Actor, IncidentRecord, RunRecord, Settings, StepRecord};
use switchyard_workflow::Step as StepSpec;
use switchyard_workflow::run::{self, Command, FailureKind, RunState, RunStatus, StepOutcome, StepStatus};

use crate::Inner;
use crate::actions;
use crate::catalog::LoadedWorkflow;
use crate::kv::KvJournal;
use crate::services::{STEP_SCOPE, StepScope, ticket_from_record};
use crate::snapshot::DirectorySnapshot;

/// What the runner is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A run whose result the executor commits.
    Execute,
    /// A dry-run: nothing is committed, so no step waits for a commit.
    DryRun,
}

/// Why a segment stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegmentEnd {
    /// The next step may call out: commit, then go on with it.
    Commit,
    /// A step failed and is retried after the delay.
    Wait(Duration),
    /// The run is over.
    Finish(RunStatus, Option<String>),
}

/// A ticket as a run's steps have left it.
#[derive(Debug, Clone)]
pub(crate) struct WorkingTicket {
    /// As read when the segment started.
    pub(crate) base: IncidentRecord,
    /// After the steps so far.
    pub(crate) current: IncidentRecord,
    /// What to record, each entry with the step that wrote it.
    pub(crate) entries: Vec<(Actor, HistoryEntry)>,
    /// Whether a field or the status changed.
    pub(crate) fields_changed: bool,
    /// Whether the affected CIs changed.
    pub(crate) cis_changed: bool,
}

impl WorkingTicket {
    pub(crate) fn new(record: IncidentRecord) -> Self {
        WorkingTicket { base: record.clone(), current: record, entries: Vec::new(), fields_changed: false, cis_changed: false }
    }

    /// The fields the steps changed (history names).
    pub(crate) fn touched(&self) -> Vec<String> {
        let mut fields: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.kind, EventKind::FieldChanged | EventKind::StatusChanged))
            .filter_map(|(_, e)| e.field.clone())
            .collect();
        fields.sort();
        fields.dedup();
        fields
    }
}

/// One step attempt, as it ran.
#[derive(Debug, Clone)]
pub(crate) struct ExecutedStep {
    /// Its record.
    pub(crate) record: StepRecord,
    /// The actions the plugin proposed.
    pub(crate) actions: Vec<Action>,
    /// `plugin@version`.
    pub(crate) plugin: String,
}

/// A run in memory (see the module docs).
#[derive(Debug)]
pub(crate) struct Execution {
    /// The run as read when the segment started (its version guards the commit).
    pub(crate) run: RunRecord,
    pub(crate) workflow: Arc<LoadedWorkflow>,
    pub(crate) trigger: Trigger,
    pub(crate) state: RunState,
    pub(crate) command: Command,
    pub(crate) outputs: Vec<StepOutput>,
    pub(crate) ticket: Option<WorkingTicket>,
    pub(crate) steps: Vec<ExecutedStep>,
    /// Notifications queued, with the step that queued them.
    pub(crate) notifications: Vec<(String, Notification)>,
    pub(crate) journal: Arc<KvJournal>,
    /// Fields someone else changed while the run was in flight: their
    /// change wins over the run's.
    pub(crate) protected: BTreeSet<String>,
    pub(crate) end: Option<SegmentEnd>,
    /// How many times this segment was run again after a conflict.
    pub(crate) reruns: u32,
}

impl Execution {
    /// A run starting (or going on) from its stored state.
    pub(crate) fn new(run: RunRecord, workflow: Arc<LoadedWorkflow>, ticket: Option<IncidentRecord>, journal: Arc<KvJournal>) -> Self {
        let trigger = serde_json::from_value(run.trigger.clone()).unwrap_or(Trigger::TicketCreated);
        let mut e = Execution {
            trigger,
            state: run::start(&workflow.document).0,
            command: Command::Finish(RunStatus::Failed, None),
            outputs: Vec::new(),
            ticket: None,
            steps: Vec::new(),
            notifications: Vec::new(),
            journal,
            protected: BTreeSet::new(),
            end: None,
            reruns: 0,
            run,
            workflow,
        };
        e.restart(ticket);
        e
    }

    /// Back to the state the run was stored in, against `ticket` (the kv
    /// journal is the caller's to settle first).
    pub(crate) fn restart(&mut self, ticket: Option<IncidentRecord>) {
        let run = &self.run;
        let fresh = run.executions == 0 && run.steps_run == 0;
        (self.state, self.command) = if fresh {
            run::start(&self.workflow.document)
        } else {
            let state = RunState {
                status: RunStatus::Running,
                step: run.step as usize,
                attempt: run.attempt.max(1) as u32,
                steps_run: run.steps_run as u32,
                executions: run.executions as u32,
            };
            let command = Command::RunStep { step: state.step, attempt: state.attempt };
            (state, command)
        };
        self.outputs = serde_json::from_value(run.outputs.clone()).unwrap_or_default();
        self.ticket = ticket.map(WorkingTicket::new);
        self.steps.clear();
        self.notifications.clear();
        self.end = None;
    }

    /// The ticket as plugins see it now.
    pub(crate) fn ticket_model(&self) -> Option<Ticket> {
        self.ticket.as_ref().map(|t| ticket_from_record(&t.current))
    }
}

/// Runs executions' steps (see the module docs).
pub(crate) struct Runner {
    inner: Arc<Inner>,
    snapshot: Arc<DirectorySnapshot>,
    settings: Settings,
    purpose: Purpose,
}

fn failure(error: FailureKind, message: String) -> StepOutcome {
    StepOutcome::Failed { error, message }
}

fn host_log(record: &mut StepRecord, message: String) {
    if let Value::Array(logs) = &mut record.logs {
        logs.push(json!({"level": "info", "message": message, "source": "host"}));
    }
}

impl Runner {
    pub(crate) fn new(inner: Arc<Inner>, snapshot: Arc<DirectorySnapshot>, settings: Settings, purpose: Purpose) -> Self {
        Runner { inner, snapshot, settings, purpose }
    }

    /// The batch's directory snapshot.
    pub(crate) fn snapshot(&self) -> &Arc<DirectorySnapshot> {
        &self.snapshot
    }

    /// Whether the step's plugin may call out over HTTP (so it must not
    /// follow uncommitted work).
    fn calls_out(&self, spec: &StepSpec) -> bool {
        self.inner.registry.get(&spec.plugin, &spec.version).is_ok_and(|p| p.grants().interfaces.contains(&Interface::Http))
    }

    /// Runs steps until the run finishes, waits, or must commit.
    pub(crate) async fn run_segment(&self, exec: &mut Execution) {
        let mut first = true;
        loop {
            match exec.command.clone() {
                Command::RunStep { step, attempt } => {
                    if !first && self.purpose == Purpose::Execute && self.calls_out(&exec.workflow.document.steps[step]) {
                        exec.end = Some(SegmentEnd::Commit);
                        return;
                    }
                    first = false;
                    let outcome = self.run_step(exec, step, attempt).await;
                    let (state, command) = run::advance(&exec.workflow.document, &exec.state, &outcome);
                    exec.state = state;
                    exec.command = command;
                }
                Command::RetryAfter { delay, .. } => {
                    exec.end = Some(SegmentEnd::Wait(delay));
                    return;
                }
                Command::Finish(status, reason) => {
                    exec.end = Some(SegmentEnd::Finish(status, reason));
                    return;
                }
            }
        }
    }

    /// One step attempt: records it and returns how it ended.
    async fn run_step(&self, exec: &mut Execution, index: usize, attempt: u32) -> StepOutcome {
        let spec = exec.workflow.document.steps[index].clone();
        let mut step = ExecutedStep {
            record: StepRecord {
                run_id: exec.run.id,
                ordinal: exec.state.executions as i32 + 1,
                step_id: spec.id.clone(),
                attempt: attempt as i32,
                plugin_id: spec.plugin.clone(),
                plugin_version: String::new(),
                plugin_sha256: String::new(),
                status: StepStatus::Succeeded,
                input: Value::Null,
                output: None,
                actions: json!([]),
                logs: json!([]),
                error: None,
                started_at: Utc::now(),
                duration_us: 0,
            },
            actions: Vec::new(),
            plugin: spec.plugin.clone(),
        };
        let outcome = self.attempt(exec, &spec, attempt, &mut step).await;
        match &outcome {
            StepOutcome::Succeeded { .. } => {
                exec.journal.keep_step();
                let output = step.record.output.clone().unwrap_or(Value::Null);
                exec.outputs.push(StepOutput { step_id: spec.id.clone(), output });
            }
            StepOutcome::Failed { message, .. } => {
                exec.journal.drop_step().await;
                step.record.error = Some(message.clone());
            }
            StepOutcome::Skipped => {}
        }
        step.record.status = StepStatus::of(&outcome);
        exec.steps.push(step);
        outcome
    }

    async fn attempt(&self, exec: &mut Execution, spec: &StepSpec, attempt: u32, step: &mut ExecutedStep) -> StepOutcome {
        let workflow = exec.workflow.clone();
        if exec.run.incident_id.is_some() && exec.ticket.is_none() {
            return failure(FailureKind::Fatal, "the ticket no longer exists".into());
        }
        let ticket = exec.ticket_model();
        match spec.applies_to(&serde_json::to_value(&ticket).unwrap_or(Value::Null)) {
            Ok(true) => {}
            Ok(false) => return StepOutcome::Skipped,
            Err(err) => return failure(FailureKind::Condition, format!("condition: {err}")),
        }
        let plugin = match self.inner.registry.get(&spec.plugin, &spec.version) {
            Ok(p) => p,
            Err(err) => return failure(FailureKind::Fatal, err.to_string()),
        };
        let record = &mut step.record;
        record.plugin_version = plugin.version().to_string();
        record.plugin_sha256 = plugin.sha256().to_owned();
        step.plugin = format!("{}@{}", plugin.id(), plugin.version());
        let sha = &record.plugin_sha256;
        let actor_name = format!(
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
                run_id: exec.run.id.to_string(),
                step_id: spec.id.clone(),
                attempt,
                deadline: 0,
                now: record.started_at.timestamp_millis(),
            },
            trigger: exec.trigger.clone(),
            ticket,
            config: spec.config.clone(),
            previous: exec.outputs.clone(),
        };
        // Only what cannot be rebuilt is stored: the trigger is the run's,
        // the config the workflow version's and `previous` the earlier
        // steps' outputs (see `stored_input`).
        record.input = json!({"ticket_version": exec.ticket.as_ref().map(|t| t.current.incident.version)});
        // Wait for a slot: the plugin host has a fixed number of instance
        // slots, and the deadline should measure the plugin, not the queue.
        let _slot = self.inner.step_slots.clone().acquire_owned().await;
        let scope = Arc::new(StepScope { journal: exec.journal.clone(), snapshot: self.snapshot.clone(), turn: Default::default() });
        let clock = Instant::now();
        let result = STEP_SCOPE.scope(scope.clone(), plugin.run_within(&input, spec.timeout())).await;
        record.duration_us = clock.elapsed().as_micros() as i64;
        drop(_slot);
        let outcome = self.outcome(exec, spec, step, result, actor_name).await;
        // The step's actions are applied (or refused): the next step may read
        // the agents' load.
        scope.turn.give_back().await;
        outcome
    }

    /// Classifies what the plugin returned and applies its actions.
    async fn outcome(
        &self,
        exec: &mut Execution,
        spec: &StepSpec,
        step: &mut ExecutedStep,
        result: Result<switchyard_plugin_host::StepOutcome, PluginError>,
        actor_name: String,
    ) -> StepOutcome {
        let record = &mut step.record;
        match result {
            Ok(outcome) => {
                record.logs = serde_json::to_value(&outcome.logs).unwrap_or(json!([]));
                match outcome.result {
                    Ok(result) => {
                        record.output = Some(result.output.clone());
                        record.actions = serde_json::to_value(&result.actions).unwrap_or(Value::Null);
                        step.actions = result.actions.clone();
                        let actor = Actor::workflow(exec.run.id, actor_name);
                        match self.apply(exec, &spec.id, &result.actions, actor, &mut step.record).await {
                            Ok(()) => StepOutcome::Succeeded { next_step: result.next_step },
                            Err(message) => failure(FailureKind::Rejected, message),
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

    /// Applies a step's actions to the in-memory ticket and queues its
    /// notifications; on a refusal changes nothing and says why.
    async fn apply(
        &self,
        exec: &mut Execution,
        step_id: &str,
        proposed: &[Action],
        actor: Actor,
        record: &mut StepRecord,
    ) -> Result<(), String> {
        let ticket = exec.ticket_model();
        let changes = actions::plan(proposed, ticket.as_ref()).map_err(|r| format!("the host refused the step's actions: {r}"))?;
        let mut edit = changes.edit;
        let dropped = edit.drop_fields(exec.protected.iter().map(String::as_str));
        if !dropped.is_empty() {
            host_log(record, format!("kept the change someone else made meanwhile to {} instead of this step's", dropped.join(", ")));
        }
        if let Some(t) = exec.ticket.as_mut()
            && !edit.is_empty()
        {
            let current = &t.current.incident;
            let mut refs: References = self
                .snapshot
                .references(&References::wanted(current, &edit))
                .await
                .map_err(|e| format!("the host could not read the directory: {e}"))?;
            let edited = edit::apply(current, &edit, &mut refs, self.settings.rules(), Utc::now())
                .map_err(|e| format!("the host refused the step's actions: {e}"))?;
            let before = t.current.assignee.clone();
            let mut next = IncidentRecord::named(&refs, edited.incident);
            next.watchers = std::mem::take(&mut t.current.watchers);
            next.links = std::mem::take(&mut t.current.links);
            t.current = next;
            self.snapshot.reassigned(before.as_deref(), t.current.assignee.as_deref());
            t.fields_changed |= edited.fields_changed;
            t.cis_changed |= edited.cis_changed;
            t.entries.extend(edited.entries.into_iter().map(|e| (actor.clone(), e)));
        }
        exec.notifications.extend(changes.notifications.into_iter().map(|n| (step_id.to_owned(), n)));
        Ok(())
    }
}

/// The whole input a recorded step received, rebuilt from what is stored:
/// the run's trigger, the step's config in the run's workflow version, the
/// outputs of the run's earlier successful steps, and the ticket version
/// kept with the step.
pub fn stored_input(workflow: &LoadedWorkflow, run: &RunRecord, steps: &[StepRecord], index: usize) -> Value {
    let step = &steps[index];
    let config = workflow.document.steps.iter().find(|s| s.id == step.step_id).map(|s| s.config.clone()).unwrap_or(Value::Null);
    let previous: Vec<StepOutput> = steps[..index]
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .map(|s| StepOutput { step_id: s.step_id.clone(), output: s.output.clone().unwrap_or(Value::Null) })
        .collect();
    json!({"trigger": run.trigger, "config": config, "previous": previous, "ticket_version": step.input.get("ticket_version")})
}
