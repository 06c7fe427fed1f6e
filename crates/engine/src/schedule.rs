//! Cron triggers and due timers.
//!
//! Cron: each cron trigger has a mark (the last instant it fired) in
//! `cron_marks`. Once a second, in one transaction per trigger, the
//! scheduler reads the mark (locking it), starts a run for each firing
//! time in `(mark, now]` and moves the mark to `now`. A trigger seen for
//! the first time starts from now (it does not fire for the past). Firing
//! times older than [`crate::EngineConfig::cron_catch_up`] (missed while
//! every node was down longer than that) are skipped and logged. Run
//! origins `cron:<trigger>:<instant>[:<ticket>]` are unique per workflow,
//! so two nodes cannot fire the same instant twice.
//!
//! Timers: rows of `timers` whose time has come are taken (deleted) in the
//! transaction that acts on them (up to 100 timers per transaction), so
//! each fires once, earliest first. The scheduler sleeps until the next
//! timer is due (at most a second), so a timer fires within milliseconds of
//! its instant. Kinds `sla_warning` and
//! `sla_breached` (payload `{target, percent, policy, due_at}`) are fired
//! by `sla::fire`; kind `escalation` (payload `{pass, level}`) by
//! `pager::fire`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard_domain::incident::Status;
use switchyard_plugin_host::Trigger;
use switchyard_plugin_host::model::CronTick;
use switchyard_store::{ESCALATION_TIMER, IncidentFilter, SLA_TIMER_KINDS, SortField, SortOrder, Topic};
use tokio::sync::watch;

use crate::metrics::EngineMetrics;
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

/// Most due timers fired in one transaction.
const TIMER_BATCH: usize = 100;

/// Longest sleep of the scheduler between two looks.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The scheduler task.
pub(crate) async fn run(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    let timers_changed = inner.store.subscribe(Topic::Timers);
    loop {
        if *stopped.borrow() {
            return;
        }
        if let Err(e) = fire_cron(&inner, Utc::now()).await {
            tracing::error!(error = %e, "cron scheduling failed");
        }
        if let Err(e) = fire_timers(&inner, Utc::now()).await {
            tracing::error!(error = %e, "firing timers failed");
        }
        // Sleep until the next timer is due (so timers fire within
        // milliseconds of their instant), at most a second (cron and other
        // nodes' timers), and wake early when the SLA tracker sets timers.
        let next = inner.store.next_timer_due().await.ok().flatten();
        let pause = next.map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO)).unwrap_or(MAX_SLEEP).min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = timers_changed.notified() => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Fires every cron trigger due at `now`; returns the runs started.
pub async fn fire_cron_at(engine: &crate::Engine, now: DateTime<Utc>) -> Result<usize, EngineError> {
    fire_cron(&engine.inner, now).await
}

pub(crate) async fn fire_cron(inner: &Inner, now: DateTime<Utc>) -> Result<usize, EngineError> {
    let store = &inner.store;
    let mut started = 0;
    let catch_up = chrono::Duration::from_std(inner.config.cron_catch_up).unwrap_or_default();
    for w in inner.workflows.active().iter() {
        for (index, trigger) in w.document.cron_triggers() {
            let index = index as i32;
            let txn = store.begin().await?;
            let Some(mark) = txn.cron_mark(&w.id, index).await? else {
                txn.set_cron_mark(&w.id, index, now).await?;
                txn.commit().await?;
                continue;
            };
            let due = trigger.due_between(mark, now, 100);
            if due.is_empty() {
                txn.rollback().await?;
                continue;
            }
            let mut runs = Vec::new();
            for at in due {
                if at < now - catch_up {
                    tracing::warn!(workflow = %w.id, trigger = index, at = %at, "cron firing missed by more than the catch-up window; skipped");
                    continue;
                }
                let tick = Trigger::Cron(CronTick { schedule: trigger.schedule().to_owned(), scheduled_at: at.timestamp_millis() });
                match trigger.tickets() {
                    None => runs.push(inner.leased_run(&w.id, w.version, None, format!("cron:{index}:{}", at.timestamp()), &tick, 0)),
                    Some(selector) => {
                        let statuses: Vec<Status> = selector.status.iter().filter_map(|s| s.parse().ok()).collect();
                        let filter = IncidentFilter {
                            status: statuses,
                            updated_to: selector.idle_minutes.map(|m| at - chrono::Duration::minutes(m as i64)),
                            sort: SortField::Number,
                            order: SortOrder::Asc,
                            limit: selector.limit as u64,
                            ..Default::default()
                        };
                        let page = store.list_incidents(&filter).await?;
                        for record in page.items {
                            let ticket = serde_json::to_value(ticket_from_record(&record)).unwrap_or(Value::Null);
                            if !w.conditions_hold(&ticket) {
                                continue;
                            }
                            let number = record.incident.number.0;
                            let origin = format!("cron:{index}:{}:{number}", at.timestamp());
                            runs.push(inner.leased_run(&w.id, w.version, Some(number), origin, &tick, 0));
                        }
                    }
                }
            }
            let created = txn.insert_runs(runs).await?;
            txn.set_cron_mark(&w.id, index, now).await?;
            txn.commit().await?;
            started += created.len();
            inner.hand_over(created);
        }
    }
    Ok(started)
}

/// Fires due timers; returns how many were taken.
pub(crate) async fn fire_timers(inner: &Inner, now: DateTime<Utc>) -> Result<usize, EngineError> {
    let store = &inner.store;
    let timers = store.due_timers(now, 500).await?;
    let mut fired = 0;
    // A batch of timers shares one transaction (one commit, one fsync on
    // SQLite); within it they are taken and fired earliest first.
    for batch in timers.chunks(TIMER_BATCH) {
        let txn = store.begin().await?;
        // One read of the SLA configuration for the whole batch.
        let sla = if batch.iter().any(|t| SLA_TIMER_KINDS.contains(&t.timer.kind.as_str())) {
            Some(txn.sla_settings().await?.config)
        } else {
            None
        };
        let mut runs = Vec::new();
        for timer in batch {
            // Another node took it first: it fires there, once.
            if !txn.take_timer(timer.id).await? {
                continue;
            }
            fired += 1;
            EngineMetrics::add(&inner.metrics.timers_fired, 1);
            match &sla {
                Some(config) if SLA_TIMER_KINDS.contains(&timer.timer.kind.as_str()) => {
                    runs.extend(crate::sla::fire(inner, &txn, config, timer, Utc::now()).await?);
                }
                _ if timer.timer.kind == ESCALATION_TIMER => crate::pager::fire(inner, &txn, timer).await?,
                _ => tracing::warn!(timer = timer.id, kind = %timer.timer.kind, "timer of an unknown kind dropped"),
            }
        }
        let created = txn.insert_runs(runs).await?;
        txn.commit().await?;
        inner.hand_over(created);
    }
    Ok(fired)
}
