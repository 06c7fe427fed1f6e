//! Counters of what this node's engine did since it started, for the
//! Prometheus endpoint. Plain atomics: cheap enough to bump on every step.

use std::sync::atomic::{AtomicU64, Ordering};

/// The engine's counters.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// Runs started (events, cron, timers, manual).
    pub runs_started: AtomicU64,
    /// Runs that finished successfully.
    pub runs_succeeded: AtomicU64,
    /// Runs that failed.
    pub runs_failed: AtomicU64,
    /// Step executions committed (retries included).
    pub steps_executed: AtomicU64,
    /// SLA clocks recomputed by the tracker.
    pub sla_clocks_recomputed: AtomicU64,
    /// SLA warnings fired.
    pub sla_warnings_fired: AtomicU64,
    /// SLA breaches fired.
    pub sla_breaches_fired: AtomicU64,
    /// SLA timers dropped at firing because the clock no longer crossed
    /// their threshold.
    pub sla_timers_dropped: AtomicU64,
    /// Sum of how late timers fired, microseconds (with the count of
    /// fired timers it gives the mean firing lag).
    pub timer_lag_us_total: AtomicU64,
    /// Timers fired.
    pub timers_fired: AtomicU64,
}

impl EngineMetrics {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Every counter as (name, help, value), for rendering.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("switchyard_workflow_runs_started_total", "Workflow runs started.", get(&self.runs_started)),
            ("switchyard_workflow_runs_succeeded_total", "Workflow runs that succeeded.", get(&self.runs_succeeded)),
            ("switchyard_workflow_runs_failed_total", "Workflow runs that failed.", get(&self.runs_failed)),
            ("switchyard_workflow_steps_executed_total", "Workflow step executions committed.", get(&self.steps_executed)),
            ("switchyard_sla_clocks_recomputed_total", "SLA clocks recomputed from incident history.", get(&self.sla_clocks_recomputed)),
            ("switchyard_sla_warnings_fired_total", "SLA warnings fired.", get(&self.sla_warnings_fired)),
            ("switchyard_sla_breaches_fired_total", "SLA breaches fired.", get(&self.sla_breaches_fired)),
            (
                "switchyard_sla_timers_dropped_total",
                "SLA timers dropped because their clock no longer crossed.",
                get(&self.sla_timers_dropped),
            ),
            ("switchyard_timers_fired_total", "Durable timers fired.", get(&self.timers_fired)),
            ("switchyard_timer_lag_microseconds_total", "Sum of how late timers fired, in microseconds.", get(&self.timer_lag_us_total)),
        ]
    }
}
