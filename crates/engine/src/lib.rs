//! The Switchyard workflow engine: it joins the record store and the plugin
//! host. Administrators publish workflow documents ([`switchyard_workflow`]);
//! the engine turns ticket events, cron schedules and timers into durable
//! runs, runs each step in a sandboxed plugin, and applies the actions the
//! plugins propose, exactly once.
//!
//! - [`dispatch`]: reads the event log (`incident_events`, in `seq` order)
//!   as an outbox. In one transaction it locks its position, reads the next
//!   events, starts a run for each (event, matching workflow) and moves the
//!   position, so every event is handled once, even with several nodes.
//! - [`runner`]: the one step runner. It runs a run's steps back to back
//!   against an in-memory ticket (each step's actions planned by
//!   [`actions::plan`] and applied by the domain's `edit::apply`), for real
//!   runs and dry-runs alike.
//! - [`execute`]: runs leased runs in batches and commits each batch in one
//!   transaction: per run its ticket edit, history, step records, final
//!   state, notifications and kv writes (`kv`: exactly once), all or
//!   nothing. A run whose ticket changed meanwhile runs again with the
//!   other writer's fields protected; the run's version makes a replayed
//!   commit fail instead of applying twice.
//! - `outbox`: the one loop every reader of a persisted log runs in (the
//!   dispatcher, the SLA tracker), woken by commits on any node.
//! - [`schedule`]: cron triggers (with a catch-up window) and due timers.
//! - [`sla`]: the SLA tracker (clocks, service facts and SLA timers kept in
//!   step with each incident's history) and the firing of SLA timers.
//! - [`dry_run`]: runs a draft against recorded tickets with the same runner,
//!   committing nothing.
//! - [`services`]: the plugin host interfaces backed by the store.
//! - [`alerts`]: monitoring payloads to deduplicated incidents.
//! - [`webhooks`]: outbound webhooks (the publisher of ticket events to
//!   subscriptions, and the signed HTTP delivery of webhook and chat
//!   notifications).
//! - [`pager`]: escalation policies over on-call schedules: pages, the
//!   next level's timer, acknowledgement.
//!
//! Loop protection: a workflow is never started by changes its own runs
//! made, and a chain of runs started by other workflows' changes stops at
//! [`EngineConfig::max_depth`].

pub mod actions;
pub mod alerts;
pub mod catalog;
mod delivery;
pub mod dispatch;
pub mod dry_run;
pub mod execute;
pub mod intake;
mod kv;
pub mod mailbox;
pub mod metrics;
mod outbox;
pub mod pager;
pub mod runner;
pub mod schedule;
pub mod services;
pub mod sla;
mod snapshot;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use switchyard_plugin_host::{PluginError, Registry};
use switchyard_store::{Store, StoreError};
use tokio::sync::{mpsc, watch};

pub use catalog::{LoadedWorkflow, Workflows};
pub use delivery::MailSettings;

/// Tuning of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in run leases.
    pub node: String,
    /// How long a leased run is ours before another node may take it over.
    pub lease: Duration,
    /// Most events read per dispatch transaction.
    pub dispatch_batch: u64,
    /// Most runs executed together (one commit per round).
    pub run_batch: usize,
    /// Most plugin steps running at once; must not exceed the plugin
    /// host's `max_concurrent_instances` (pooling slots, 64 by default).
    pub max_parallel_steps: usize,
    /// How often to look for work when nothing wakes us (commits wake this
    /// node at once, and other nodes too on PostgreSQL through
    /// `LISTEN/NOTIFY`; the poll is the fallback).
    pub poll: Duration,
    /// Longest chain of runs started by workflow changes.
    pub max_depth: i16,
    /// Cron firings missed by at most this much (e.g. while stopped) still
    /// fire on start; older ones are skipped and logged.
    pub cron_catch_up: Duration,
    /// Named points where a test can stop the engine (none in production).
    pub hooks: EngineHooks,
    /// Mail delivery of notifications; without it they stay queued.
    pub mail: Option<MailSettings>,
    /// The first wait before a failed delivery (mail, webhook, chat) is
    /// tried again; it doubles per attempt, up to an hour.
    pub retry_base: Duration,
    /// The address people open Switchyard at (links in webhook payloads
    /// and pages).
    pub public_url: String,
}

/// A hook: awaited by the engine at a named point, with the ids of the
/// runs concerned.
pub type Hook = Arc<dyn Fn(Vec<i64>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// Named points where tests stop the engine to act in between, so that
/// interleavings (a person editing a ticket while a run is in flight) are
/// tested deterministically rather than by timing.
#[derive(Clone, Default)]
pub struct EngineHooks {
    /// Just before a pass of runs commits.
    pub before_commit: Option<Hook>,
}

impl std::fmt::Debug for EngineHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHooks").field("before_commit", &self.before_commit.is_some()).finish()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node: "switchyard".into(),
            lease: Duration::from_secs(30),
            dispatch_batch: 1000,
            run_batch: 256,
            max_parallel_steps: 8,
            poll: Duration::from_secs(1),
            max_depth: 3,
            cron_catch_up: Duration::from_secs(3600),
            hooks: EngineHooks::default(),
            mail: None,
            retry_base: switchyard_store::RETRY_BASE,
            public_url: "http://localhost:8080".into(),
        }
    }
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin could not be found or run.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A workflow document is invalid.
    #[error("{0}")]
    Workflow(#[from] switchyard_workflow::Problems),
    /// Something asked of the engine does not hold.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Shared state of the engine's tasks.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) registry: Arc<Registry>,
    pub(crate) workflows: Workflows,
    pub(crate) config: EngineConfig,
    pub(crate) runs_tx: mpsc::UnboundedSender<switchyard_store::RunRecord>,
    /// Bounds plugin steps in flight (see [`EngineConfig::max_parallel_steps`]).
    pub(crate) step_slots: Arc<tokio::sync::Semaphore>,
    /// What this node did, for `/metrics`.
    pub(crate) metrics: Arc<metrics::EngineMetrics>,
    /// The kv counters this node hands increments out from.
    pub(crate) kv: Arc<kv::KvReservations>,
    /// Where runs' steps execute (see [`PluginRuntime`]).
    pub(crate) plugins: PluginRuntime,
}

/// A runtime of its own for plugin steps. Steps are CPU-bound between
/// their host calls; on the server's runtime they would keep its worker
/// threads busy and leave the store's transactions (holding the database's
/// write lock) waiting for a turn between polls. On their own threads the
/// operating system shares the cores between both fairly.
pub(crate) struct PluginRuntime(Option<tokio::runtime::Runtime>);

impl PluginRuntime {
    fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).thread_name("switchyard-plugins").enable_all().build().ok();
        if runtime.is_none() {
            tracing::warn!("no separate runtime for plugin steps; they run on the server's");
        }
        PluginRuntime(runtime)
    }

    /// Runs `task` on the plugin threads (or here, without them).
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(rt) => rt.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

impl Drop for PluginRuntime {
    fn drop(&mut self) {
        // Dropped from async code too (tests): do not block on its threads.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Inner {
    fn new(
        store: Store,
        registry: Arc<Registry>,
        workflows: Workflows,
        config: EngineConfig,
        runs_tx: mpsc::UnboundedSender<switchyard_store::RunRecord>,
    ) -> Self {
        let step_slots = Arc::new(tokio::sync::Semaphore::new(config.max_parallel_steps.max(1)));
        let kv = Arc::new(kv::KvReservations::new(store.clone()));
        Inner { store, registry, workflows, config, runs_tx, step_slots, metrics: Arc::default(), kv, plugins: PluginRuntime::new() }
    }

    /// A run of `workflow_id@version`, leased to this node at once: after
    /// committing it, give it to the executor with [`Inner::hand_over`].
    pub(crate) fn leased_run(
        &self,
        workflow_id: &str,
        workflow_version: i32,
        incident_id: Option<i64>,
        origin: String,
        trigger: &switchyard_plugin_host::Trigger,
        depth: i16,
    ) -> switchyard_store::NewRun {
        let until = chrono::Utc::now() + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
        switchyard_store::NewRun {
            workflow_id: workflow_id.to_owned(),
            workflow_version,
            incident_id,
            origin,
            trigger: serde_json::to_value(trigger).unwrap_or(serde_json::Value::Null),
            depth,
            lease: Some((self.config.node.clone(), until)),
        }
    }

    /// Gives committed runs to this node's executor.
    pub(crate) fn hand_over(&self, runs: Vec<switchyard_store::RunRecord>) {
        metrics::EngineMetrics::add(&self.metrics.runs_started, runs.len() as u64);
        for run in runs {
            // A closed channel means the executor stopped; the leases
            // expire and another start picks the runs up.
            let _ = self.runs_tx.send(run);
        }
    }
}

/// A running engine. Dropping every handle does not stop it; call
/// [`Engine::shutdown`].
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
}

impl Engine {
    /// Loads the active workflows and starts the dispatcher, the executor
    /// and the scheduler on the current tokio runtime. Runs this node left
    /// leased when it last stopped are taken back at once.
    pub async fn start(store: Store, registry: Arc<Registry>, config: EngineConfig) -> Result<Engine, EngineError> {
        let workflows = Workflows::new(store.clone());
        workflows.refresh().await?;
        store.release_runs(&config.node).await?;
        store.release_notifications(&config.node).await?;
        let (runs_tx, runs_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner::new(store, registry, workflows, config, runs_tx));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(outbox::run(inner.clone(), dispatch::Dispatcher::new(), stopped.clone()));
        tokio::spawn(outbox::run(inner.clone(), sla::Tracker, stopped.clone()));
        if let Some(mail) = inner.config.mail.clone() {
            tokio::spawn(outbox::run(inner.clone(), delivery::Delivery { settings: Arc::new(mail) }, stopped.clone()));
        }
        let public_url = inner.config.public_url.clone();
        tokio::spawn(outbox::run(inner.clone(), webhooks::Publisher { public_url: public_url.clone() }, stopped.clone()));
        tokio::spawn(outbox::run(inner.clone(), webhooks::WebhookDelivery::new(), stopped.clone()));
        tokio::spawn(outbox::run(inner.clone(), pager::Pager, stopped.clone()));
        tokio::spawn(execute::run(inner.clone(), runs_rx, stopped.clone()));
        tokio::spawn(schedule::run(inner.clone(), stopped));
        Ok(Engine { inner, stop })
    }

    /// An engine that runs nothing in the background: for validating and
    /// dry-running workflows against a database another process serves
    /// (`switchyard workflow dry-run`).
    pub async fn offline(store: Store, registry: Arc<Registry>, config: EngineConfig) -> Result<Engine, EngineError> {
        let workflows = Workflows::new(store.clone());
        let (runs_tx, _) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner::new(store, registry, workflows, config, runs_tx));
        let (stop, _) = watch::channel(true);
        Ok(Engine { inner, stop })
    }

    /// Stops the background tasks after their current batch.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// The workflow catalog (reload it after publishing).
    pub fn workflows(&self) -> &Workflows {
        &self.inner.workflows
    }

    /// The installed plugins.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This node's engine counters.
    pub fn metrics(&self) -> &Arc<metrics::EngineMetrics> {
        &self.inner.metrics
    }

    /// Fires the timers due at `now` now, without waiting for the scheduler
    /// (`switchyard bench sla` measures the sweep with it).
    pub async fn fire_timers_at(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize, EngineError> {
        schedule::fire_timers(&self.inner, now).await
    }

    /// Brings the SLA clocks up to date with the event log now (the
    /// tracker does this in the background; tests and tools call it to
    /// wait for it). Returns the events consumed.
    pub async fn track_sla(&self) -> Result<usize, EngineError> {
        let mut consumed = 0;
        loop {
            match sla::track_once(&self.inner).await? {
                0 => break,
                n => consumed += n,
            }
        }
        sla::apply_config_change(&self.inner).await?;
        Ok(consumed)
    }

    /// Starts a run of `workflow_id` (its latest version, enabled or not)
    /// on a ticket by hand.
    pub async fn run_manual(
        &self,
        workflow_id: &str,
        number: switchyard_domain::incident::IncidentNumber,
        username: &str,
    ) -> Result<switchyard_store::RunRecord, EngineError> {
        dispatch::start_manual(&self.inner, workflow_id, number, username).await
    }

    /// Runs a draft workflow against recorded tickets (see [`dry_run`]).
    pub async fn dry_run(&self, request: dry_run::DryRunRequest) -> Result<dry_run::DryRunReport, EngineError> {
        dry_run::run(&self.inner, request).await
    }

    /// A run's step records with each step's whole input rebuilt (see
    /// [`runner::stored_input`]).
    pub async fn explain_steps(
        &self,
        run: &switchyard_store::RunRecord,
        mut steps: Vec<switchyard_store::StepRecord>,
    ) -> Vec<switchyard_store::StepRecord> {
        if let Ok(workflow) = self.inner.workflows.version(&run.workflow_id, run.workflow_version).await {
            let inputs: Vec<serde_json::Value> = (0..steps.len()).map(|i| runner::stored_input(&workflow, run, &steps, i)).collect();
            for (step, input) in steps.iter_mut().zip(inputs) {
                step.input = input;
            }
        }
        steps
    }

    /// Stops the background tasks and hands this node's leases back, so
    /// another node takes its unfinished runs at once.
    pub async fn shutdown_and_release(&self) -> Result<(), EngineError> {
        self.shutdown();
        // Let a batch in flight finish its commit first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.inner.store.release_runs(&self.inner.config.node).await?;
        self.inner.store.release_notifications(&self.inner.config.node).await?;
        Ok(())
    }
}

/// Where a published version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// Publish even if it is not newer (fails with a version conflict).
    Always,
    /// Skip quietly when the stored latest version is the same or newer
    /// (loading the shipped workflows at every start).
    IfNewer,
}

impl Engine {
    /// Validates a document fully (see [`catalog::validate_document`]).
    pub async fn validate(
        &self,
        text: &str,
        format: switchyard_workflow::Format,
    ) -> Result<switchyard_workflow::WorkflowDocument, EngineError> {
        Ok(catalog::validate_document(&self.inner.registry, text, format).await?)
    }

    /// Validates and publishes a workflow version; new events use it at
    /// once, runs in flight keep theirs. Returns `None` when `mode` is
    /// [`PublishMode::IfNewer`] and the store already has this version.
    pub async fn publish(
        &self,
        text: &str,
        format: switchyard_workflow::Format,
        created_by: &str,
        mode: PublishMode,
    ) -> Result<Option<switchyard_store::WorkflowVersion>, EngineError> {
        let document = self.validate(text, format).await?;
        if mode == PublishMode::IfNewer
            && let Ok(existing) = self.inner.store.get_workflow(&document.id).await
            && existing.latest_version >= document.version as i32
        {
            return Ok(None);
        }
        let published = self
            .inner
            .store
            .publish_workflow(switchyard_store::PublishWorkflow {
                id: document.id.clone(),
                name: document.name.clone(),
                version: document.version as i32,
                enabled: document.enabled,
                document: serde_json::to_value(&document)
                    .map_err(|e| EngineError::Invalid { field: "document".into(), message: e.to_string() })?,
                source: text.to_owned(),
                format: match format {
                    switchyard_workflow::Format::Json => "json",
                    switchyard_workflow::Format::Yaml => "yaml",
                }
                .into(),
                created_by: created_by.to_owned(),
            })
            .await?;
        self.inner.workflows.refresh().await?;
        Ok(Some(published))
    }

    /// Enables or disables a workflow.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<switchyard_store::WorkflowSummary, EngineError> {
        let summary = self.inner.store.set_workflow_enabled(id, enabled).await?;
        self.inner.workflows.refresh().await?;
        Ok(summary)
    }

    /// Publishes every `*.yaml`, `*.yml` and `*.json` workflow in `dir`
    /// that is newer than what the store has (the shipped workflows, at
    /// start). Returns the ids published.
    pub async fn load_directory(&self, dir: &std::path::Path) -> Result<Vec<String>, EngineError> {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| EngineError::Invalid { field: dir.display().to_string(), message: e.to_string() })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
            .collect();
        files.sort();
        let mut published = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| EngineError::Invalid { field: file.display().to_string(), message: e.to_string() })?;
            let format = switchyard_workflow::Format::from_path(&file).unwrap_or(switchyard_workflow::Format::Yaml);
            match self.publish(&text, format, "switchyard (shipped)", PublishMode::IfNewer).await {
                Ok(Some(v)) => published.push(format!("{}@{}", v.workflow_id, v.version)),
                Ok(None) => {}
                Err(e) => return Err(EngineError::Invalid { field: file.display().to_string(), message: e.to_string() }),
            }
        }
        Ok(published)
    }
}
