//! Workflow runs and their step executions.
//!
//! A run is started by the dispatcher (one row per workflow and origin: a
//! replayed dispatch cannot start it twice), leased to the node that
//! executes it, and committed by [`WriteTxn::commit_runs`]: the engine runs
//! a run's steps in memory and hands over everything the run did at once,
//! many runs per transaction. The commit checks, under lock, that the run
//! is still the engine's to write (its version), that the ticket is still
//! the version its steps saw, and that every `kv` increment it handed out
//! is what the counter really reaches. Runs that pass are written with
//! multi-row statements whatever their number (an upsert of their tickets,
//! one of their run rows, inserts of their step records, notifications, kv
//! values and history events, and one counter update for the event
//! sequence); runs that fail are written not at all and reported back, so
//! the engine can run them again. Because every check happens under lock
//! before anything is written, a refused run never sinks the others; and
//! if the database still fails a statement, the engine commits the batch's
//! runs one by one.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use switchyard_domain::history::HistoryEntry;
use switchyard_domain::incident::Incident;
use switchyard_workflow::run::{RunStatus, StepStatus};

use crate::entity::{incident, incident_ci, workflow_run, workflow_step};
use crate::error::{StoreError, stored_json};
use crate::history::Actor;
use crate::incidents::incident_to_row;
use crate::notifications::NewNotification;
use crate::plugin_data::{KvKey, KvOp, apply_kv_ops};
use crate::store::{Backend, Store};
use crate::time;
use crate::txn::{Topic, WriteTxn};

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Workflow id.
    pub workflow_id: String,
    /// The version it runs (the latest at dispatch).
    pub workflow_version: i32,
    /// The ticket, if the run is about one.
    pub incident_id: Option<i64>,
    /// What started it, unique per workflow (`event:<seq>`,
    /// `cron:<trigger>:<at>[:<ticket>]`, `manual:<n>`): a second start with
    /// the same origin is ignored.
    pub origin: String,
    /// The trigger as the plugins see it (JSON).
    pub trigger: Value,
    /// How many workflow runs led to this one (loop protection).
    pub depth: i16,
    /// Leased to this node at once (the dispatcher hands it straight to
    /// its executor); `None` leaves it pending for any node.
    pub lease: Option<(String, DateTime<Utc>)>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Run id.
    pub id: i64,
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow version.
    pub workflow_version: i32,
    /// The ticket.
    pub incident_id: Option<i64>,
    /// What started it.
    pub origin: String,
    /// The trigger (JSON).
    pub trigger: Value,
    /// Loop-protection depth.
    pub depth: i16,
    /// Where it stands.
    pub status: RunStatus,
    /// Index of the step to run next (or the last one, when finished).
    pub step: i32,
    /// Attempt of that step, from 1.
    pub attempt: i32,
    /// Steps started (retries do not count), as the run state machine
    /// counts them.
    pub steps_run: i32,
    /// Step attempts ended, retries included: the number of step records.
    pub executions: i32,
    /// Outputs of finished steps: `[{step_id, output}]`.
    pub outputs: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// When it may run (next).
    pub due_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last progress.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Optimistic concurrency version.
    pub version: i32,
}

/// Where a run stands after a commit.
#[derive(Debug, Clone)]
pub struct RunProgress {
    /// Status.
    pub status: RunStatus,
    /// Next step index.
    pub step: i32,
    /// Next attempt.
    pub attempt: i32,
    /// Steps started.
    pub steps_run: i32,
    /// Attempts ended.
    pub executions: i32,
    /// Outputs so far.
    pub outputs: Value,
    /// Failure reason.
    pub error: Option<String>,
    /// When it may run next.
    pub due_at: DateTime<Utc>,
    /// For a run that goes on at once (`running`): the node holding it and
    /// until when. Other statuses end the lease.
    pub lease: Option<(String, DateTime<Utc>)>,
}

/// One execution of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Run id.
    pub run_id: i64,
    /// Execution number in the run, from 1 (the idempotency key with the
    /// run id).
    pub ordinal: i32,
    /// Step id.
    pub step_id: String,
    /// Attempt, from 1.
    pub attempt: i32,
    /// Plugin id.
    pub plugin_id: String,
    /// Plugin version.
    pub plugin_version: String,
    /// Plugin component hash.
    pub plugin_sha256: String,
    /// How it ended.
    pub status: StepStatus,
    /// What the plugin received.
    pub input: Value,
    /// What it returned.
    pub output: Option<Value>,
    /// The actions it proposed (applied when `status` is `succeeded`).
    pub actions: Value,
    /// Its log records, and the host's notes (a change dropped because
    /// someone else changed the field meanwhile).
    pub logs: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long the plugin call took.
    pub duration_us: i64,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow_id: Option<String>,
    /// Only this ticket.
    pub incident_id: Option<i64>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Runs with a smaller id (paging, newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u64,
}

/// A ticket as a run leaves it.
#[derive(Debug, Clone)]
pub struct TicketWrite {
    /// The version the run's steps started from: the write happens only
    /// if the ticket is still at it.
    pub base_version: i64,
    /// The ticket after every step.
    pub incident: Incident,
    /// Whether a field or the status changed (notes alone do not guard).
    pub fields_changed: bool,
    /// Whether the affected CIs changed.
    pub cis_changed: bool,
    /// History entries, each with the step that wrote it as the actor.
    pub entries: Vec<(Actor, HistoryEntry)>,
}

/// Everything one run did since its last commit.
#[derive(Debug, Clone)]
pub struct RunCommit {
    /// The run as the engine read it (id and version guard the write).
    pub run: RunRecord,
    /// Where it stands now.
    pub progress: RunProgress,
    /// Its step executions.
    pub steps: Vec<StepRecord>,
    /// Its ticket changes, if it changed the ticket.
    pub ticket: Option<TicketWrite>,
    /// Notifications it queued.
    pub notifications: Vec<NewNotification>,
    /// Its plugins' kv writes, in order.
    pub kv: Vec<KvOp>,
}

/// What became of one run of a batch commit.
#[derive(Debug, Clone, PartialEq)]
pub enum RunVerdict {
    /// Written; the run's new version.
    Committed(i32),
    /// Another node took the run over or it moved on: nothing written.
    RunMovedOn,
    /// Someone changed the ticket after the run read it: nothing written.
    TicketChanged,
    /// Someone else's increment of this counter came first: nothing written.
    KvConflict(KvKey),
    /// The database refused the run's writes: nothing written.
    Failed(String),
}

/// Runs that may be claimed at `now` (micros): pending or waiting and due,
/// or running under an expired lease (their node died).
fn due(now: i64) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(
            sea_orm::Condition::all()
                .add(workflow_run::Column::Status.is_in([RunStatus::Pending.as_str(), RunStatus::Waiting.as_str()]))
                .add(workflow_run::Column::DueAt.lte(now)),
        )
        .add(
            sea_orm::Condition::all()
                .add(workflow_run::Column::Status.eq(RunStatus::Running.as_str()))
                .add(workflow_run::Column::LeaseUntil.lt(now)),
        )
}

fn run_from_row(row: workflow_run::Model) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        trigger: stored_json("workflow_runs.trigger", &row.trigger)?,
        outputs: stored_json("workflow_runs.outputs", &row.outputs)?,
        status: RunStatus::parse(&row.status).ok_or_else(|| StoreError::corrupt("workflow_runs.status", &row.status))?,
        id: row.id,
        workflow_id: row.workflow_id,
        workflow_version: row.workflow_version,
        incident_id: row.incident_id,
        origin: row.origin,
        depth: row.depth,
        step: row.step,
        attempt: row.attempt,
        steps_run: row.steps_run,
        executions: row.executions,
        error: row.error,
        due_at: time::from_micros(row.due_at),
        created_at: time::from_micros(row.created_at),
        updated_at: time::from_micros(row.updated_at),
        finished_at: row.finished_at.map(time::from_micros),
        version: row.version,
    })
}

fn step_from_row(row: workflow_step::Model) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        input: stored_json("workflow_steps.input", &row.input)?,
        output: row.output.as_deref().map(|o| stored_json("workflow_steps.output", o)).transpose()?,
        actions: stored_json("workflow_steps.actions", &row.actions)?,
        logs: stored_json("workflow_steps.logs", &row.logs)?,
        status: StepStatus::parse(&row.status).ok_or_else(|| StoreError::corrupt("workflow_steps.status", &row.status))?,
        run_id: row.run_id,
        ordinal: row.ordinal,
        step_id: row.step_id,
        attempt: row.attempt,
        plugin_id: row.plugin_id,
        plugin_version: row.plugin_version,
        plugin_sha256: row.plugin_sha256,
        error: row.error,
        started_at: time::from_micros(row.started_at),
        duration_us: row.duration_us,
    })
}

fn step_to_row(step: StepRecord) -> workflow_step::ActiveModel {
    workflow_step::ActiveModel {
        run_id: Set(step.run_id),
        ordinal: Set(step.ordinal),
        step_id: Set(step.step_id),
        attempt: Set(step.attempt),
        plugin_id: Set(step.plugin_id),
        plugin_version: Set(step.plugin_version),
        plugin_sha256: Set(step.plugin_sha256),
        status: Set(step.status.as_str().to_owned()),
        input: Set(step.input.to_string()),
        output: Set(step.output.map(|o| o.to_string())),
        actions: Set(step.actions.to_string()),
        logs: Set(step.logs.to_string()),
        error: Set(step.error),
        started_at: Set(time::to_micros(step.started_at)),
        duration_us: Set(step.duration_us),
    }
}

/// `(id, version)` of rows, locked until commit on PostgreSQL, in id order
/// (so two nodes lock overlapping rows in the same order).
async fn versions<E, C>(txn: &WriteTxn, table: E, id: C, version: C, ids: Vec<i64>) -> Result<HashMap<i64, i64>, StoreError>
where
    E: sea_orm::sea_query::Iden + Copy + 'static,
    C: sea_orm::sea_query::Iden + Copy + 'static,
{
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in crate::batch::shaped(&ids) {
        let mut q = Query::select();
        q.column(id).column(version).from(table).and_where(Expr::col(id).is_in(chunk.iter().copied())).order_by(id, Order::Asc);
        if txn.backend() == Backend::Postgres {
            q.lock(LockType::Update);
        }
        for row in txn.txn.query_all(&q).await? {
            let (i, v): (i64, i64) =
                (row.try_get_by_index(0)?, row.try_get_by_index::<i64>(1).or_else(|_| row.try_get_by_index::<i32>(1).map(i64::from))?);
            out.insert(i, v);
        }
    }
    Ok(out)
}

impl WriteTxn {
    /// Starts runs, ignoring any whose (workflow, origin) already exists;
    /// returns the runs created.
    pub async fn insert_runs(&self, runs: Vec<NewRun>) -> Result<Vec<RunRecord>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let now = time::to_micros(time::now());
        let mut pending = false;
        let rows: Vec<workflow_run::ActiveModel> = runs
            .into_iter()
            .map(|r| {
                let (status, owner, until) = match r.lease {
                    Some((owner, until)) => (RunStatus::Running, Some(owner), Some(time::to_micros(until))),
                    None => {
                        pending = true;
                        (RunStatus::Pending, None, None)
                    }
                };
                workflow_run::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    workflow_id: Set(r.workflow_id),
                    workflow_version: Set(r.workflow_version),
                    incident_id: Set(r.incident_id),
                    origin: Set(r.origin),
                    trigger: Set(r.trigger.to_string()),
                    depth: Set(r.depth),
                    status: Set(status.as_str().into()),
                    step: Set(0),
                    attempt: Set(1),
                    steps_run: Set(0),
                    executions: Set(0),
                    outputs: Set("[]".into()),
                    error: Set(None),
                    due_at: Set(now),
                    lease_owner: Set(owner),
                    lease_until: Set(until),
                    created_at: Set(now),
                    updated_at: Set(now),
                    finished_at: Set(None),
                    version: Set(1),
                }
            })
            .collect();
        let mut created = Vec::with_capacity(rows.len());
        for chunk in crate::batch::shaped(&rows) {
            let inserted = workflow_run::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([workflow_run::Column::WorkflowId, workflow_run::Column::Origin])
                .exec_with_returning_many(&self.txn)
                .await?;
            if let sea_orm::TryInsertResult::Inserted(models) = inserted {
                for m in models {
                    created.push(run_from_row(m)?);
                }
            }
        }
        if pending {
            self.wrote(Topic::Runs);
        }
        Ok(created)
    }

    /// Runs by id, read inside this transaction.
    pub async fn runs(&self, ids: Vec<i64>) -> Result<Vec<RunRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        workflow_run::Entity::find()
            .filter(workflow_run::Column::Id.is_in(ids))
            .all(&self.txn)
            .await?
            .into_iter()
            .map(run_from_row)
            .collect()
    }

    /// Commits what a batch of runs did (see the module docs). Commits are
    /// checked in the order given: for runs that incremented the same
    /// counter that must be the order their increments were handed out.
    /// Returns one verdict per commit, in order.
    pub async fn commit_runs(&self, commits: Vec<RunCommit>) -> Result<Vec<RunVerdict>, StoreError> {
        if commits.is_empty() {
            return Ok(Vec::new());
        }
        let now = time::now();
        let micros = time::to_micros(now);
        // 1. What the checks need, read and locked in three queries.
        let run_versions = versions(
            self,
            workflow_run::Entity,
            workflow_run::Column::Id,
            workflow_run::Column::Version,
            commits.iter().map(|c| c.run.id).collect(),
        )
        .await?;
        let guarded: Vec<i64> = commits
            .iter()
            .filter(|c| c.ticket.as_ref().is_some_and(|t| t.fields_changed))
            .map(|c| c.ticket.as_ref().unwrap().incident.number.0)
            .collect();
        let mut ticket_versions = versions(self, incident::Entity, incident::Column::Id, incident::Column::Version, guarded).await?;
        let kv_keys: Vec<KvKey> = commits.iter().flat_map(|c| c.kv.iter().map(|op| op.key().clone())).collect();
        let mut kv = if kv_keys.is_empty() { HashMap::new() } else { self.lock_kv(&kv_keys, micros).await? };
        let kv_before = kv.clone();

        // 2. The verdicts, in order, against what earlier commits of the batch left.
        let mut verdicts = Vec::with_capacity(commits.len());
        for c in &commits {
            let verdict = if run_versions.get(&c.run.id).copied() != Some(i64::from(c.run.version)) {
                RunVerdict::RunMovedOn
            } else if let Some(t) = c.ticket.as_ref().filter(|t| t.fields_changed)
                && ticket_versions.get(&t.incident.number.0).copied() != Some(t.base_version)
            {
                RunVerdict::TicketChanged
            } else if let Err(key) = apply_kv_ops(&mut kv, &c.kv, micros) {
                RunVerdict::KvConflict(key)
            } else {
                if let Some(t) = c.ticket.as_ref().filter(|t| t.fields_changed) {
                    ticket_versions.insert(t.incident.number.0, t.incident.version);
                }
                RunVerdict::Committed(c.run.version + 1)
            };
            verdicts.push(verdict);
        }

        // 3. The committed runs' rows, in multi-row upserts: every check
        // passed under lock above, so these cannot conflict; if the database
        // still refuses one, the whole transaction fails and the engine
        // commits the runs one by one, so one refused run never sinks the
        // others.
        let committed: Vec<&RunCommit> =
            commits.iter().zip(&verdicts).filter(|(_, v)| matches!(v, RunVerdict::Committed(_))).map(|(c, _)| c).collect();
        self.write_tickets(committed.iter().filter_map(|c| c.ticket.as_ref()), now).await?;
        self.write_runs(&committed, now).await?;

        // 4. Everything else in multi-row inserts, the event counter last.
        let mut steps = Vec::new();
        let mut notifications = Vec::new();
        let mut entries = Vec::new();
        let mut continuing = false;
        for (c, verdict) in commits.into_iter().zip(&verdicts) {
            if !matches!(verdict, RunVerdict::Committed(_)) {
                continue;
            }
            continuing |= c.progress.status != RunStatus::Running && !c.progress.status.is_terminal();
            steps.extend(c.steps.into_iter().map(step_to_row));
            notifications.extend(c.notifications);
            if let Some(t) = c.ticket {
                let number = t.incident.number;
                entries.extend(t.entries.into_iter().map(move |(actor, e)| (actor, number, e)));
            }
        }
        for chunk in crate::batch::shaped(&steps) {
            workflow_step::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.txn).await?;
        }
        self.insert_notifications(notifications).await?;
        let changed: HashMap<KvKey, _> = kv.into_iter().filter(|(k, v)| kv_before.get(k) != Some(v)).collect();
        if !changed.is_empty() {
            self.write_kv(changed).await?;
        }
        self.append_events(now, entries.iter().map(|(a, n, e)| (a, *n, e.clone()))).await?;
        if continuing {
            self.wrote(Topic::Runs);
        }
        Ok(verdicts)
    }

    /// Writes the tickets committed runs changed: fields in one multi-row
    /// upsert, affected CIs replaced, and `updated_at` for notes alone.
    async fn write_tickets<'a>(&self, tickets: impl Iterator<Item = &'a TicketWrite>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let tickets: Vec<&TicketWrite> = tickets.filter(|t| !t.entries.is_empty()).collect();
        let changed: Vec<incident::ActiveModel> =
            tickets.iter().filter(|t| t.fields_changed).map(|t| incident_to_row(&t.incident)).collect();
        let update = OnConflict::column(incident::Column::Id)
            .update_columns(incident::Column::iter().filter(|c| !matches!(c, incident::Column::Id)))
            .to_owned();
        for chunk in crate::batch::shaped(&changed) {
            incident::Entity::insert_many(chunk.to_vec()).on_conflict(update.clone()).exec_without_returning(&self.txn).await?;
        }
        let noted: Vec<i64> = tickets.iter().filter(|t| !t.fields_changed).map(|t| t.incident.number.0).collect();
        if !noted.is_empty() {
            incident::Entity::update_many()
                .col_expr(incident::Column::UpdatedAt, Expr::value(time::to_micros(now)))
                .filter(incident::Column::Id.is_in(noted))
                .exec(&self.txn)
                .await?;
        }
        let recis: Vec<&Incident> = tickets.iter().filter(|t| t.cis_changed).map(|t| &t.incident).collect();
        if !recis.is_empty() {
            incident_ci::Entity::delete_many()
                .filter(incident_ci::Column::IncidentId.is_in(recis.iter().map(|i| i.number.0)))
                .exec(&self.txn)
                .await?;
            let links: Vec<incident_ci::ActiveModel> = recis
                .iter()
                .flat_map(|i| i.affected_ci_ids.iter().map(|c| incident_ci::ActiveModel { incident_id: Set(i.number.0), ci_id: Set(*c) }))
                .collect();
            for chunk in crate::batch::shaped(&links) {
                incident_ci::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.txn).await?;
            }
        }
        Ok(())
    }

    /// Writes committed runs' progress in one multi-row upsert.
    async fn write_runs(&self, commits: &[&RunCommit], now: DateTime<Utc>) -> Result<(), StoreError> {
        let rows: Vec<workflow_run::ActiveModel> = commits.iter().map(|c| run_to_row(&c.run, &c.progress, now)).collect();
        let update = OnConflict::column(workflow_run::Column::Id)
            .update_columns([
                workflow_run::Column::Status,
                workflow_run::Column::Step,
                workflow_run::Column::Attempt,
                workflow_run::Column::StepsRun,
                workflow_run::Column::Executions,
                workflow_run::Column::Outputs,
                workflow_run::Column::Error,
                workflow_run::Column::DueAt,
                workflow_run::Column::UpdatedAt,
                workflow_run::Column::FinishedAt,
                workflow_run::Column::LeaseOwner,
                workflow_run::Column::LeaseUntil,
                workflow_run::Column::Version,
            ])
            .to_owned();
        for chunk in crate::batch::shaped(&rows) {
            workflow_run::Entity::insert_many(chunk.to_vec()).on_conflict(update.clone()).exec_without_returning(&self.txn).await?;
        }
        Ok(())
    }
}

/// A run's row after a commit: its progress, the next version, and the
/// lease only while it goes on at once.
fn run_to_row(run: &RunRecord, progress: &RunProgress, now: DateTime<Utc>) -> workflow_run::ActiveModel {
    let now = time::to_micros(now);
    let (owner, until) = match (&progress.lease, progress.status) {
        (Some((owner, until)), RunStatus::Running) => (Some(owner.clone()), Some(time::to_micros(*until))),
        _ => (None, None),
    };
    workflow_run::ActiveModel {
        id: Set(run.id),
        workflow_id: Set(run.workflow_id.clone()),
        workflow_version: Set(run.workflow_version),
        incident_id: Set(run.incident_id),
        origin: Set(run.origin.clone()),
        trigger: Set(run.trigger.to_string()),
        depth: Set(run.depth),
        status: Set(progress.status.as_str().to_owned()),
        step: Set(progress.step),
        attempt: Set(progress.attempt),
        steps_run: Set(progress.steps_run),
        executions: Set(progress.executions),
        outputs: Set(progress.outputs.to_string()),
        error: Set(progress.error.clone()),
        due_at: Set(time::to_micros(progress.due_at)),
        lease_owner: Set(owner),
        lease_until: Set(until),
        created_at: Set(time::to_micros(run.created_at)),
        updated_at: Set(now),
        finished_at: Set(progress.status.is_terminal().then_some(now)),
        version: Set(run.version + 1),
    }
}

impl Store {
    /// Leases up to `limit` runs that are due (pending, waiting past their
    /// time, or running under an expired lease, i.e. abandoned by a node
    /// that died) to `owner` until `now + lease`.
    pub async fn claim_runs(&self, owner: &str, lease: Duration, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        let now = time::to_micros(time::now());
        let until = now + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
        let mut pick = Query::select();
        pick.column(workflow_run::Column::Id)
            .from(workflow_run::Entity)
            .cond_where(due(now))
            .order_by(workflow_run::Column::DueAt, Order::Asc)
            .order_by(workflow_run::Column::Id, Order::Asc)
            .limit(limit);
        if self.backend == Backend::Postgres {
            // Nodes claiming at once skip each other's rows instead of waiting.
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let claim = Query::update()
            .table(workflow_run::Entity)
            .value(workflow_run::Column::Status, RunStatus::Running.as_str())
            .value(workflow_run::Column::LeaseOwner, owner)
            .value(workflow_run::Column::LeaseUntil, until)
            .value(workflow_run::Column::UpdatedAt, now)
            .value(workflow_run::Column::Version, Expr::col(workflow_run::Column::Version).add(1))
            .and_where(Expr::col(workflow_run::Column::Id).in_subquery(pick))
            .returning_all()
            .to_owned();
        let txn = self.begin().await?;
        let stmt = txn.get_database_backend().build(&claim);
        let rows = workflow_run::Entity::find().from_raw_sql(stmt).all(&*txn).await?;
        txn.commit().await?;
        let mut runs: Vec<RunRecord> = rows.into_iter().map(run_from_row).collect::<Result<_, _>>()?;
        runs.sort_by_key(|r| r.id);
        Ok(runs)
    }

    /// Ends this node's leases so its unfinished runs are picked up at
    /// once rather than when the leases expire: on start (nothing of ours
    /// is in flight) and on a graceful shutdown. Version guards keep this
    /// safe even if another live node shares the name.
    pub async fn release_runs(&self, owner: &str) -> Result<u64, StoreError> {
        let txn = self.begin().await?;
        let res = workflow_run::Entity::update_many()
            .col_expr(workflow_run::Column::LeaseUntil, Expr::value(0i64))
            .filter(workflow_run::Column::Status.eq(RunStatus::Running.as_str()))
            .filter(workflow_run::Column::LeaseOwner.eq(owner))
            .exec(&*txn)
            .await?;
        if res.rows_affected > 0 {
            txn.wrote(Topic::Runs);
        }
        txn.commit().await?;
        Ok(res.rows_affected)
    }

    /// Runs by id, from the read pool.
    pub async fn runs(&self, ids: Vec<i64>) -> Result<Vec<RunRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        workflow_run::Entity::find()
            .filter(workflow_run::Column::Id.is_in(ids))
            .all(&self.read)
            .await?
            .into_iter()
            .map(run_from_row)
            .collect()
    }

    /// Whether any run is due (cheap check before claiming).
    pub async fn has_due_runs(&self) -> Result<bool, StoreError> {
        let due = workflow_run::Entity::find().filter(due(time::to_micros(time::now()))).limit(1).one(&self.read).await?;
        Ok(due.is_some())
    }

    /// When the next waiting run is due, if any is.
    pub async fn next_run_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = workflow_run::Entity::find()
            .select_only()
            .column(workflow_run::Column::DueAt)
            .filter(workflow_run::Column::Status.eq(RunStatus::Waiting.as_str()))
            .order_by_asc(workflow_run::Column::DueAt)
            .limit(1)
            .into_tuple()
            .one(&self.read)
            .await?;
        Ok(next.map(time::from_micros))
    }

    /// A run by id.
    pub async fn get_run(&self, id: i64) -> Result<RunRecord, StoreError> {
        let row = workflow_run::Entity::find_by_id(id).one(&self.read).await?.ok_or_else(|| StoreError::not_found("run", id))?;
        run_from_row(row)
    }

    /// A run's step executions in order.
    pub async fn run_steps(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        workflow_step::Entity::find()
            .filter(workflow_step::Column::RunId.eq(run_id))
            .order_by_asc(workflow_step::Column::Ordinal)
            .all(&self.read)
            .await?
            .into_iter()
            .map(step_from_row)
            .collect()
    }

    /// Runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut q = workflow_run::Entity::find().order_by_desc(workflow_run::Column::Id).limit(filter.limit.clamp(1, 500));
        if let Some(w) = &filter.workflow_id {
            q = q.filter(workflow_run::Column::WorkflowId.eq(w.as_str()));
        }
        if let Some(i) = filter.incident_id {
            q = q.filter(workflow_run::Column::IncidentId.eq(i));
        }
        if let Some(s) = filter.status {
            q = q.filter(workflow_run::Column::Status.eq(s.as_str()));
        }
        if let Some(b) = filter.before_id {
            q = q.filter(workflow_run::Column::Id.lt(b));
        }
        q.all(&self.read).await?.into_iter().map(run_from_row).collect()
    }

    /// Counts runs by status (for health and tests).
    pub async fn count_runs(&self, status: RunStatus) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(workflow_run::Entity::find().filter(workflow_run::Column::Status.eq(status.as_str())).count(&self.read).await?)
    }
}
