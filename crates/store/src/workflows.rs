//! What the workflow engine persists: workflow definitions and their
//! versions, the dispatcher's position in the event log, runs and their
//! step executions, timers, cron marks and the notification outbox.
//!
//! The engine composes several of these writes (and incident changes made
//! on behalf of a run) into one transaction through [`WriteTxn`], so that
//! a step's actions, its record and the run's progress commit together or
//! not at all.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::Value;
use switchyard_domain::incident::IncidentNumber;
use switchyard_domain::lifecycle::TransitionRequest;
use tokio::sync::Notify;

use crate::entity::{cron_mark, incident_event, notification, timer, workflow, workflow_run, workflow_step, workflow_version};
use crate::error::StoreError;
use crate::incidents::{Actor, EventRecord, IncidentRecord, IncidentUpdate, Visibility, event_from_row};
use crate::store::{Backend, Store};
use crate::time;

/// A write transaction the engine composes several writes in. Dropping it
/// without [`WriteTxn::commit`] rolls everything back.
pub struct WriteTxn {
    pub(crate) txn: DatabaseTransaction,
    events_written: Arc<crate::store::EventSignal>,
}

impl WriteTxn {
    /// Commits, and wakes the dispatcher in case events were written.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().await?;
        self.events_written.notify_readers();
        Ok(())
    }

    /// A nested transaction (a savepoint): rolling it back undoes only what
    /// was written through it.
    pub async fn savepoint(&self) -> Result<WriteTxn, StoreError> {
        Ok(WriteTxn { txn: self.txn.begin().await?, events_written: self.events_written.clone() })
    }

    /// Rolls back (the same as dropping it, but waits for the database).
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.txn.rollback().await?;
        Ok(())
    }
}

/// A workflow as listed: its latest version and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSummary {
    /// Workflow id.
    pub id: String,
    /// Display name (of the latest version).
    pub name: String,
    /// Whether new runs start.
    pub enabled: bool,
    /// The version new runs use.
    pub latest_version: i32,
    /// Last publish or enable/disable.
    pub updated_at: DateTime<Utc>,
}

/// One published version of a workflow document.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersion {
    /// Workflow id.
    pub workflow_id: String,
    /// Version number.
    pub version: i32,
    /// The parsed document, as JSON.
    pub document: Value,
    /// The text as published (YAML or JSON).
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// Who published it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A version to publish.
#[derive(Debug, Clone)]
pub struct PublishWorkflow {
    /// Workflow id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Must be greater than the latest published version.
    pub version: i32,
    /// Whether the workflow runs after publishing.
    pub enabled: bool,
    /// The parsed document, as JSON.
    pub document: Value,
    /// The text as submitted.
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// Who publishes.
    pub created_by: String,
}

/// Run statuses as stored.
pub mod run_status {
    /// Waiting to be picked up.
    pub const PENDING: &str = "pending";
    /// Leased by a node that is executing it.
    pub const RUNNING: &str = "running";
    /// Waiting for a retry backoff or timer.
    pub const WAITING: &str = "waiting";
    /// Finished, every step done or skipped.
    pub const SUCCEEDED: &str = "succeeded";
    /// Finished with a failed step.
    pub const FAILED: &str = "failed";
}

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
    /// See [`run_status`].
    pub status: String,
    /// Index of the step to run next.
    pub step: i32,
    /// Attempt of that step, from 1.
    pub attempt: i32,
    /// Step executions so far.
    pub steps_run: i32,
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

/// A run's progress, written with the step it follows.
#[derive(Debug, Clone)]
pub struct RunProgress {
    /// See [`run_status`].
    pub status: &'static str,
    /// Next step index.
    pub step: i32,
    /// Next attempt.
    pub attempt: i32,
    /// Executions so far.
    pub steps_run: i32,
    /// Outputs so far.
    pub outputs: Value,
    /// Failure reason.
    pub error: Option<String>,
    /// When it may run next.
    pub due_at: DateTime<Utc>,
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
    /// `succeeded`, `failed`, `skipped`.
    pub status: String,
    /// What the plugin received.
    pub input: Value,
    /// What it returned.
    pub output: Option<Value>,
    /// The actions it proposed (applied when `status` is `succeeded`).
    pub actions: Value,
    /// Its log records.
    pub logs: Value,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long the plugin call took.
    pub duration_us: i64,
}

/// A notification to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The ticket.
    pub incident_id: Option<i64>,
    /// The run that proposed it.
    pub run_id: i64,
    /// Its workflow.
    pub workflow_id: String,
    /// Its step.
    pub step_id: String,
    /// `email`, `webhook`...
    pub channel: String,
    /// Usernames, `group:<name>` or addresses.
    pub recipients: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Outbox id.
    pub id: i64,
    /// What it says.
    pub notification: NewNotification,
    /// `queued` until a channel delivers it.
    pub status: String,
    /// Queued at.
    pub created_at: DateTime<Utc>,
}

/// A timer to set.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    /// What fires (`run_retry`, `sla_warning`...).
    pub kind: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// The run it wakes.
    pub run_id: Option<i64>,
    /// The ticket it concerns.
    pub incident_id: Option<i64>,
    /// Anything else (JSON).
    pub payload: Value,
}

/// A set timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRecord {
    /// Timer id.
    pub id: i64,
    /// The timer.
    pub timer: NewTimer,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow_id: Option<String>,
    /// Only this ticket.
    pub incident_id: Option<i64>,
    /// Only this status.
    pub status: Option<String>,
    /// Runs with a smaller id (paging, newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u64,
}

/// Runs that may be claimed at `now` (micros): pending or waiting and due,
/// or running under an expired lease (their node died).
fn due(now: i64) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(
            sea_orm::Condition::all()
                .add(workflow_run::Column::Status.is_in([run_status::PENDING, run_status::WAITING]))
                .add(workflow_run::Column::DueAt.lte(now)),
        )
        .add(
            sea_orm::Condition::all()
                .add(workflow_run::Column::Status.eq(run_status::RUNNING))
                .add(workflow_run::Column::LeaseUntil.lt(now)),
        )
}

fn json_column(what: &'static str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, e))
}

fn version_from_row(row: workflow_version::Model) -> Result<WorkflowVersion, StoreError> {
    Ok(WorkflowVersion {
        document: json_column("workflow_versions.document", &row.document)?,
        workflow_id: row.workflow_id,
        version: row.version,
        source: row.source,
        format: row.format,
        created_by: row.created_by,
        created_at: time::from_micros(row.created_at),
    })
}

fn summary_from_row(row: workflow::Model) -> WorkflowSummary {
    WorkflowSummary {
        id: row.id,
        name: row.name,
        enabled: row.enabled,
        latest_version: row.latest_version,
        updated_at: time::from_micros(row.updated_at),
    }
}

fn run_from_row(row: workflow_run::Model) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        trigger: json_column("workflow_runs.trigger", &row.trigger)?,
        outputs: json_column("workflow_runs.outputs", &row.outputs)?,
        id: row.id,
        workflow_id: row.workflow_id,
        workflow_version: row.workflow_version,
        incident_id: row.incident_id,
        origin: row.origin,
        depth: row.depth,
        status: row.status,
        step: row.step,
        attempt: row.attempt,
        steps_run: row.steps_run,
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
        input: json_column("workflow_steps.input", &row.input)?,
        output: row.output.as_deref().map(|o| json_column("workflow_steps.output", o)).transpose()?,
        actions: json_column("workflow_steps.actions", &row.actions)?,
        logs: json_column("workflow_steps.logs", &row.logs)?,
        run_id: row.run_id,
        ordinal: row.ordinal,
        step_id: row.step_id,
        attempt: row.attempt,
        plugin_id: row.plugin_id,
        plugin_version: row.plugin_version,
        plugin_sha256: row.plugin_sha256,
        status: row.status,
        error: row.error,
        started_at: time::from_micros(row.started_at),
        duration_us: row.duration_us,
    })
}

fn notification_from_row(row: notification::Model) -> Result<NotificationRecord, StoreError> {
    let recipients = serde_json::from_str(&row.recipients).map_err(|e| StoreError::corrupt("notifications.recipients", e))?;
    Ok(NotificationRecord {
        id: row.id,
        notification: NewNotification {
            incident_id: row.incident_id,
            run_id: row.run_id,
            workflow_id: row.workflow_id,
            step_id: row.step_id,
            channel: row.channel,
            recipients,
            subject: row.subject,
            body: row.body,
        },
        status: row.status,
        created_at: time::from_micros(row.created_at),
    })
}

fn timer_from_row(row: timer::Model) -> Result<TimerRecord, StoreError> {
    Ok(TimerRecord {
        id: row.id,
        timer: NewTimer {
            payload: json_column("timers.payload", &row.payload)?,
            kind: row.kind,
            due_at: time::from_micros(row.due_at),
            run_id: row.run_id,
            incident_id: row.incident_id,
        },
    })
}

impl Store {
    /// Starts a write transaction for the engine to compose writes in.
    pub async fn begin(&self) -> Result<WriteTxn, StoreError> {
        Ok(WriteTxn { txn: self.begin_write().await?, events_written: self.events_written.clone() })
    }

    /// A new wake-up, notified after every commit that may have appended
    /// events; each reader of the log (the dispatcher, the SLA tracker)
    /// takes its own once and waits on it (and also polls, for other
    /// nodes' writes).
    pub fn events_written(&self) -> Arc<Notify> {
        self.events_written.subscribe()
    }

    // --- definitions --------------------------------------------------

    /// Publishes a new version; the first publish creates the workflow.
    pub async fn publish_workflow(&self, p: PublishWorkflow) -> Result<WorkflowVersion, StoreError> {
        let txn = self.begin_write().await?;
        let existing = workflow::Entity::find_by_id(p.id.clone()).one(&txn).await?;
        if let Some(w) = &existing
            && p.version <= w.latest_version
        {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!(
                    "workflow `{}` is at version {}; publish version {} or higher",
                    p.id,
                    w.latest_version,
                    w.latest_version + 1
                ),
            });
        }
        let now = time::to_micros(time::now());
        let row = workflow_version::ActiveModel {
            workflow_id: Set(p.id.clone()),
            version: Set(p.version),
            document: Set(p.document.to_string()),
            source: Set(p.source),
            format: Set(p.format),
            created_by: Set(p.created_by),
            created_at: Set(now),
        };
        workflow_version::Entity::insert(row).exec_without_returning(&txn).await?;
        let summary = workflow::ActiveModel {
            id: Set(p.id.clone()),
            name: Set(p.name),
            enabled: Set(p.enabled),
            latest_version: Set(p.version),
            updated_at: Set(now),
        };
        workflow::Entity::insert(summary)
            .on_conflict(
                OnConflict::column(workflow::Column::Id)
                    .update_columns([
                        workflow::Column::Name,
                        workflow::Column::Enabled,
                        workflow::Column::LatestVersion,
                        workflow::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let version = self.workflow_version_in(&txn, &p.id, p.version).await?;
        txn.commit().await?;
        Ok(version)
    }

    /// Turns a workflow on or off (runs in flight finish either way).
    pub async fn set_workflow_enabled(&self, id: &str, enabled: bool) -> Result<WorkflowSummary, StoreError> {
        let res = workflow::Entity::update_many()
            .col_expr(workflow::Column::Enabled, Expr::value(enabled))
            .col_expr(workflow::Column::UpdatedAt, Expr::value(time::to_micros(time::now())))
            .filter(workflow::Column::Id.eq(id))
            .exec(&self.write)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("workflow", id));
        }
        self.get_workflow(id).await
    }

    /// A workflow by id.
    pub async fn get_workflow(&self, id: &str) -> Result<WorkflowSummary, StoreError> {
        let row =
            workflow::Entity::find_by_id(id.to_owned()).one(&self.write).await?.ok_or_else(|| StoreError::not_found("workflow", id))?;
        Ok(summary_from_row(row))
    }

    /// Every workflow, by id.
    pub async fn list_workflows(&self) -> Result<Vec<WorkflowSummary>, StoreError> {
        Ok(workflow::Entity::find().order_by_asc(workflow::Column::Id).all(&self.read).await?.into_iter().map(summary_from_row).collect())
    }

    /// Every version of a workflow, oldest first.
    pub async fn workflow_versions(&self, id: &str) -> Result<Vec<WorkflowVersion>, StoreError> {
        let rows = workflow_version::Entity::find()
            .filter(workflow_version::Column::WorkflowId.eq(id))
            .order_by_asc(workflow_version::Column::Version)
            .all(&self.read)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::not_found("workflow", id));
        }
        rows.into_iter().map(version_from_row).collect()
    }

    /// One version of a workflow.
    pub async fn workflow_version(&self, id: &str, version: i32) -> Result<WorkflowVersion, StoreError> {
        self.workflow_version_in(&self.read, id, version).await
    }

    async fn workflow_version_in(&self, conn: &impl ConnectionTrait, id: &str, version: i32) -> Result<WorkflowVersion, StoreError> {
        let row = workflow_version::Entity::find_by_id((id.to_owned(), version))
            .one(conn)
            .await?
            .ok_or_else(|| StoreError::not_found("workflow version", format!("{id}@{version}")))?;
        version_from_row(row)
    }

    /// The latest version of every enabled workflow: what new events run.
    pub async fn active_workflows(&self) -> Result<Vec<WorkflowVersion>, StoreError> {
        let enabled = workflow::Entity::find().filter(workflow::Column::Enabled.eq(true)).all(&self.write).await?;
        let mut out = Vec::with_capacity(enabled.len());
        for w in enabled {
            out.push(self.workflow_version_in(&self.write, &w.id, w.latest_version).await?);
        }
        Ok(out)
    }

    // --- dispatcher -----------------------------------------------------

    /// Reads a named position inside `txn`, locking its row until commit
    /// (on PostgreSQL a second node's dispatcher waits here, then reads the
    /// advanced value).
    pub async fn lock_position(&self, txn: &WriteTxn, name: &str) -> Result<i64, StoreError> {
        let stmt = Query::update()
            .table("engine_positions")
            .value("value", Expr::col("value"))
            .and_where(Expr::col("name").eq(name))
            .returning_col("value")
            .to_owned();
        let row = txn
            .txn
            .query_one(&stmt)
            .await?
            .ok_or_else(|| StoreError::corrupt("engine_positions", format!("position `{name}` is missing")))?;
        Ok(row.try_get("", "value")?)
    }

    /// Moves a named position.
    pub async fn set_position(&self, txn: &WriteTxn, name: &str, value: i64) -> Result<(), StoreError> {
        let stmt = Query::update().table("engine_positions").value("value", value).and_where(Expr::col("name").eq(name)).to_owned();
        txn.txn.execute(&stmt).await?;
        Ok(())
    }

    /// A named position, without locking.
    pub async fn position(&self, name: &str) -> Result<i64, StoreError> {
        let stmt = Query::select().column("value").from("engine_positions").and_where(Expr::col("name").eq(name)).to_owned();
        let row = self
            .read
            .query_one(&stmt)
            .await?
            .ok_or_else(|| StoreError::corrupt("engine_positions", format!("position `{name}` is missing")))?;
        Ok(row.try_get("", "value")?)
    }

    /// Events after `seq` in order, read inside `txn`.
    pub async fn events_after_in(&self, txn: &WriteTxn, seq: i64, limit: u64) -> Result<Vec<EventRecord>, StoreError> {
        incident_event::Entity::find()
            .filter(incident_event::Column::Seq.gt(seq))
            .order_by_asc(incident_event::Column::Seq)
            .limit(limit)
            .all(&txn.txn)
            .await?
            .into_iter()
            .map(event_from_row)
            .collect()
    }

    /// Incidents by number, read inside `txn`, in one query per table.
    pub async fn incidents_in(&self, txn: &WriteTxn, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
        self.load_incidents(&txn.txn, numbers).await
    }

    /// Incidents by number from the read pool, in one query per table.
    pub async fn incidents(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRecord>, StoreError> {
        self.load_incidents(&self.read, numbers).await
    }

    /// Starts runs, ignoring any whose (workflow, origin) already exists;
    /// returns the runs created.
    pub async fn insert_runs(&self, txn: &WriteTxn, runs: Vec<NewRun>) -> Result<Vec<RunRecord>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let now = time::to_micros(time::now());
        let rows: Vec<workflow_run::ActiveModel> = runs
            .into_iter()
            .map(|r| {
                let (status, owner, until) = match r.lease {
                    Some((owner, until)) => (run_status::RUNNING, Some(owner), Some(time::to_micros(until))),
                    None => (run_status::PENDING, None, None),
                };
                workflow_run::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    workflow_id: Set(r.workflow_id),
                    workflow_version: Set(r.workflow_version),
                    incident_id: Set(r.incident_id),
                    origin: Set(r.origin),
                    trigger: Set(r.trigger.to_string()),
                    depth: Set(r.depth),
                    status: Set(status.into()),
                    step: Set(0),
                    attempt: Set(1),
                    steps_run: Set(0),
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
        for chunk in rows.chunks(500) {
            let inserted = workflow_run::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([workflow_run::Column::WorkflowId, workflow_run::Column::Origin])
                .exec_with_returning_many(&txn.txn)
                .await?;
            if let sea_orm::TryInsertResult::Inserted(models) = inserted {
                for m in models {
                    created.push(run_from_row(m)?);
                }
            }
        }
        Ok(created)
    }

    // --- executor -------------------------------------------------------

    /// Leases up to `limit` runs that are due (pending, waiting past their
    /// time, or running under an expired lease, i.e. abandoned by a node
    /// that died) to `owner` until `now + lease`.
    pub async fn claim_runs(&self, owner: &str, lease: Duration, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        use sea_orm::sea_query::{LockBehavior, LockType, Order};
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
            .value(workflow_run::Column::Status, run_status::RUNNING)
            .value(workflow_run::Column::LeaseOwner, owner)
            .value(workflow_run::Column::LeaseUntil, until)
            .value(workflow_run::Column::UpdatedAt, now)
            .value(workflow_run::Column::Version, Expr::col(workflow_run::Column::Version).add(1))
            .and_where(Expr::col(workflow_run::Column::Id).in_subquery(pick))
            .returning_all()
            .to_owned();
        let txn = self.begin_write().await?;
        let stmt = txn.get_database_backend().build(&claim);
        let rows = workflow_run::Entity::find().from_raw_sql(stmt).all(&txn).await?;
        txn.commit().await?;
        let mut runs: Vec<RunRecord> = rows.into_iter().map(run_from_row).collect::<Result<_, _>>()?;
        runs.sort_by_key(|r| r.id);
        Ok(runs)
    }

    /// Ends this node's leases (on start: nothing of ours is in flight),
    /// so its unfinished runs are picked up at once rather than when the
    /// leases expire. Version guards keep this safe even if another live
    /// node shares the name.
    pub async fn release_runs(&self, owner: &str) -> Result<u64, StoreError> {
        let res = workflow_run::Entity::update_many()
            .col_expr(workflow_run::Column::LeaseUntil, Expr::value(0i64))
            .filter(workflow_run::Column::Status.eq(run_status::RUNNING))
            .filter(workflow_run::Column::LeaseOwner.eq(owner))
            .exec(&self.write)
            .await?;
        Ok(res.rows_affected)
    }

    /// Runs by id, read inside `txn`.
    pub async fn runs_in(&self, txn: &WriteTxn, ids: Vec<i64>) -> Result<Vec<RunRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        workflow_run::Entity::find()
            .filter(workflow_run::Column::Id.is_in(ids))
            .all(&txn.txn)
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

    /// Records a run's progress, guarded by the version the caller read:
    /// a node whose lease was taken over cannot overwrite the new owner's
    /// work (it gets a conflict and its transaction is rolled back).
    pub async fn save_run_progress(&self, txn: &WriteTxn, run: &RunRecord, progress: RunProgress) -> Result<i32, StoreError> {
        let now = time::to_micros(time::now());
        let finished = matches!(progress.status, run_status::SUCCEEDED | run_status::FAILED);
        let leased = progress.status == run_status::RUNNING;
        let mut update = workflow_run::Entity::update_many()
            .col_expr(workflow_run::Column::Status, Expr::value(progress.status))
            .col_expr(workflow_run::Column::Step, Expr::value(progress.step))
            .col_expr(workflow_run::Column::Attempt, Expr::value(progress.attempt))
            .col_expr(workflow_run::Column::StepsRun, Expr::value(progress.steps_run))
            .col_expr(workflow_run::Column::Outputs, Expr::value(progress.outputs.to_string()))
            .col_expr(workflow_run::Column::Error, Expr::value(progress.error))
            .col_expr(workflow_run::Column::DueAt, Expr::value(time::to_micros(progress.due_at)))
            .col_expr(workflow_run::Column::UpdatedAt, Expr::value(now))
            .col_expr(workflow_run::Column::FinishedAt, Expr::value(finished.then_some(now)))
            .col_expr(workflow_run::Column::Version, Expr::value(run.version + 1));
        if !leased {
            update = update
                .col_expr(workflow_run::Column::LeaseOwner, Expr::value(Option::<String>::None))
                .col_expr(workflow_run::Column::LeaseUntil, Expr::value(Option::<i64>::None));
        }
        let res =
            update.filter(workflow_run::Column::Id.eq(run.id)).filter(workflow_run::Column::Version.eq(run.version)).exec(&txn.txn).await?;
        if res.rows_affected != 1 {
            return Err(StoreError::Conflict {
                field: "version".into(),
                message: format!("run {} moved on (another node took it over); dropping this result", run.id),
            });
        }
        Ok(run.version + 1)
    }

    /// Records a step execution. The primary key (run, ordinal) makes a
    /// replayed commit fail instead of applying twice.
    pub async fn insert_step(&self, txn: &WriteTxn, step: StepRecord) -> Result<(), StoreError> {
        let row = workflow_step::ActiveModel {
            run_id: Set(step.run_id),
            ordinal: Set(step.ordinal),
            step_id: Set(step.step_id),
            attempt: Set(step.attempt),
            plugin_id: Set(step.plugin_id),
            plugin_version: Set(step.plugin_version),
            plugin_sha256: Set(step.plugin_sha256),
            status: Set(step.status),
            input: Set(step.input.to_string()),
            output: Set(step.output.map(|o| o.to_string())),
            actions: Set(step.actions.to_string()),
            logs: Set(step.logs.to_string()),
            error: Set(step.error),
            started_at: Set(time::to_micros(step.started_at)),
            duration_us: Set(step.duration_us),
        };
        workflow_step::Entity::insert(row).exec_without_returning(&txn.txn).await?;
        Ok(())
    }

    /// Applies an incident edit on behalf of a run (see
    /// [`Store::update_incident`]); `None` when it changed nothing.
    pub async fn apply_update(
        &self,
        txn: &WriteTxn,
        number: IncidentNumber,
        update: IncidentUpdate,
        actor: &Actor,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        self.update_in(&txn.txn, number, update, actor).await
    }

    /// Applies a lifecycle transition on behalf of a run.
    pub async fn apply_transition(
        &self,
        txn: &WriteTxn,
        number: IncidentNumber,
        request: &TransitionRequest,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        self.transition_in(&txn.txn, number, request, actor).await
    }

    /// Adds a comment or work note on behalf of a run.
    pub async fn apply_note(
        &self,
        txn: &WriteTxn,
        number: IncidentNumber,
        body: &str,
        visibility: Visibility,
        actor: &Actor,
    ) -> Result<EventRecord, StoreError> {
        self.note_in(&txn.txn, number, body, visibility, actor).await
    }

    /// Queues notifications in the outbox.
    pub async fn insert_notifications(&self, txn: &WriteTxn, notifications: Vec<NewNotification>) -> Result<(), StoreError> {
        if notifications.is_empty() {
            return Ok(());
        }
        let now = time::to_micros(time::now());
        let rows: Vec<notification::ActiveModel> = notifications
            .into_iter()
            .map(|n| notification::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                incident_id: Set(n.incident_id),
                run_id: Set(n.run_id),
                workflow_id: Set(n.workflow_id),
                step_id: Set(n.step_id),
                channel: Set(n.channel),
                recipients: Set(serde_json::to_string(&n.recipients).unwrap_or_else(|_| "[]".into())),
                subject: Set(n.subject),
                body: Set(n.body),
                status: Set("queued".into()),
                created_at: Set(now),
            })
            .collect();
        notification::Entity::insert_many(rows).exec_without_returning(&txn.txn).await?;
        Ok(())
    }

    // --- reading runs -----------------------------------------------------

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
        if let Some(s) = &filter.status {
            q = q.filter(workflow_run::Column::Status.eq(s.as_str()));
        }
        if let Some(b) = filter.before_id {
            q = q.filter(workflow_run::Column::Id.lt(b));
        }
        q.all(&self.read).await?.into_iter().map(run_from_row).collect()
    }

    /// Counts runs by status (for health and tests).
    pub async fn count_runs(&self, status: &str) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(workflow_run::Entity::find().filter(workflow_run::Column::Status.eq(status)).count(&self.read).await?)
    }

    /// Queued notifications, oldest first.
    pub async fn list_notifications(
        &self,
        incident_id: Option<i64>,
        status: Option<&str>,
        after_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut q = notification::Entity::find().order_by_asc(notification::Column::Id).limit(limit.clamp(1, 1000));
        if let Some(i) = incident_id {
            q = q.filter(notification::Column::IncidentId.eq(i));
        }
        if let Some(s) = status {
            q = q.filter(notification::Column::Status.eq(s));
        }
        if let Some(a) = after_id {
            q = q.filter(notification::Column::Id.gt(a));
        }
        q.all(&self.read).await?.into_iter().map(notification_from_row).collect()
    }

    // --- timers and cron ----------------------------------------------------

    /// Sets a timer.
    pub async fn insert_timer(&self, txn: &WriteTxn, timer: NewTimer) -> Result<i64, StoreError> {
        let row = timer::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            kind: Set(timer.kind),
            due_at: Set(time::to_micros(timer.due_at)),
            run_id: Set(timer.run_id),
            incident_id: Set(timer.incident_id),
            payload: Set(timer.payload.to_string()),
            created_at: Set(time::to_micros(time::now())),
        };
        Ok(timer::Entity::insert(row).exec(&txn.txn).await?.last_insert_id)
    }

    /// Timers due at `now`, earliest first.
    pub async fn due_timers(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<TimerRecord>, StoreError> {
        timer::Entity::find()
            .filter(timer::Column::DueAt.lte(time::to_micros(now)))
            .order_by_asc(timer::Column::DueAt)
            .order_by_asc(timer::Column::Id)
            .limit(limit)
            .all(&self.read)
            .await?
            .into_iter()
            .map(timer_from_row)
            .collect()
    }

    /// Removes a timer inside `txn`; `false` if another node already did
    /// (so it fires once).
    pub async fn take_timer(&self, txn: &WriteTxn, id: i64) -> Result<bool, StoreError> {
        Ok(timer::Entity::delete_by_id(id).exec(&txn.txn).await?.rows_affected == 1)
    }

    /// When a cron trigger last fired.
    pub async fn cron_mark(&self, txn: &WriteTxn, workflow_id: &str, trigger: i32) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(cron_mark::Entity::find_by_id((workflow_id.to_owned(), trigger))
            .one(&txn.txn)
            .await?
            .map(|m| time::from_micros(m.last_fired_at)))
    }

    /// Records a cron firing.
    pub async fn set_cron_mark(&self, txn: &WriteTxn, workflow_id: &str, trigger: i32, at: DateTime<Utc>) -> Result<(), StoreError> {
        let row = cron_mark::ActiveModel {
            workflow_id: Set(workflow_id.to_owned()),
            trigger_index: Set(trigger),
            last_fired_at: Set(time::to_micros(at)),
        };
        cron_mark::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([cron_mark::Column::WorkflowId, cron_mark::Column::TriggerIndex])
                    .update_column(cron_mark::Column::LastFiredAt)
                    .to_owned(),
            )
            .exec_without_returning(&txn.txn)
            .await?;
        Ok(())
    }
}
