//! The SLA tracker: keeps every incident's SLA clocks, service facts and
//! SLA timers in step with its history.
//!
//! It reads the event log as an outbox, like the dispatcher, with its own
//! position (`sla`): in one transaction it locks the position, reads the
//! next events, recomputes the clocks of every incident they touch from
//! that incident's whole history ([`switchyard_domain::sla`]), replaces the
//! stored clocks and future SLA timers, and moves the position. A crash
//! before the commit leaves everything as it was; the recompute is a pure
//! function of the history, so doing it again is harmless.
//!
//! When an admin changes the calendars or policies, the tracker recomputes
//! every open incident (resolved and closed ones keep the verdict they
//! had) and then records the configuration stamp it applied
//! (`sla_config`), so a restart in the middle starts that pass again.
//!
//! Timers: each running clock has one durable timer, for its next
//! threshold (a warning, else the breach). Firing: the scheduler takes due
//! SLA timers (`fire`). It checks each against the clock recomputed at that
//! moment (a timer whose threshold is no longer crossed, because the
//! incident was paused or resolved in between, is dropped), appends
//! `sla_warning` / `sla_breached` to the incident's history for it and for
//! any later threshold that has passed as well (a node that was down fires
//! them late, in order, never not at all), and starts the workflows with
//! matching SLA triggers, all in one transaction; recording those events
//! makes the tracker set the clock's next timer.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use switchyard_domain::incident::{IncidentNumber, Status};
use switchyard_domain::sla::{SlaConfig, SlaTarget, format_duration};
use switchyard_plugin_host::Trigger;
use switchyard_plugin_host::model::SlaEvent;
use switchyard_store::{SlaInput, SlaOutcome, TimerRecord, Topic, WriteTxn};
use switchyard_workflow::TriggerEvent;

use crate::metrics::EngineMetrics;
use crate::outbox::OutboxReader;
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

const POSITION: &str = "sla";
const CONFIG_POSITION: &str = "sla_config";
/// Open incidents recomputed per transaction after a policy change.
const RECOMPUTE_PAGE: u64 = 500;

/// The SLA tracker, as a reader of the event log (see [`crate::outbox`]).
pub(crate) struct Tracker;

#[async_trait::async_trait]
impl OutboxReader for Tracker {
    fn name(&self) -> &'static str {
        "sla tracker"
    }

    fn topic(&self) -> Topic {
        Topic::Events
    }

    // A new incident's creation and its workflow's first changes follow
    // within milliseconds; recomputing once for both halves the tracker's
    // writes. Clocks lag the history by at most this much; timers are not
    // affected (they fire from the timers table).
    fn gather(&self) -> std::time::Duration {
        std::time::Duration::from_millis(250)
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        track_once(inner).await
    }

    async fn idle(&self, inner: &Inner) -> Result<(), EngineError> {
        apply_config_change(inner).await.map(|_| ())
    }
}

/// Computes what the store keeps about each incident's service levels.
pub fn compute(config: &SlaConfig, inputs: &[SlaInput], now: DateTime<Utc>) -> Vec<SlaOutcome> {
    inputs
        .iter()
        .map(|input| {
            let subject = input.subject();
            let clocks = config.clocks(&subject, &input.history, now);
            let resolved = matches!(input.status, Status::Resolved | Status::Closed);
            // Business time to resolution: the resolution clock's (pauses
            // excluded) when there is one, else on the policy's calendar.
            let resolution_business = resolved.then(|| {
                clocks
                    .iter()
                    .find(|c| c.target == SlaTarget::Resolution && c.stopped_at.is_some())
                    .map(|c| c.elapsed)
                    .unwrap_or_else(|| config.business_time(&subject, input.history.created_at, input.resolved_at.unwrap_or(now)))
            });
            let timers = clocks
                .iter()
                .filter_map(|c| {
                    let warnings = config.policy(&c.policy).map_or(&[][..], |p| p.document.warnings.as_slice());
                    c.timer_to_set(warnings, &input.history, now).map(|t| (c.policy.clone(), t))
                })
                .collect();
            SlaOutcome {
                number: input.number,
                timers,
                first_assigned_at: input.first_assigned_at,
                responded_at: input.history.responded_at,
                reopen_count: input.history.reopen_count(),
                resolution_business,
                clocks,
            }
        })
        .collect()
}

async fn recompute(inner: &Inner, txn: &WriteTxn, numbers: &[IncidentNumber], now: DateTime<Utc>) -> Result<(), EngineError> {
    let settings = txn.sla_settings().await?;
    let inputs = txn.sla_inputs(numbers).await?;
    let outcomes = compute(&settings.config, &inputs, now);
    txn.replace_sla(&outcomes).await?;
    let clocks: usize = outcomes.iter().map(|o| o.clocks.len()).sum();
    EngineMetrics::add(&inner.metrics.sla_clocks_recomputed, clocks as u64);
    Ok(())
}

/// Recomputes the incidents touched by the next batch of events; returns
/// how many events it consumed.
///
/// The histories are read and the clocks computed outside the write lock;
/// the write transaction then checks that neither the position nor the SLA
/// documents moved meanwhile (another node, or a policy change: then the
/// batch is done again) and replaces what is stored.
pub(crate) async fn track_once(inner: &Inner) -> Result<usize, EngineError> {
    let store = &inner.store;
    let position = store.position(POSITION).await?;
    let events = store.events_after(position, inner.config.dispatch_batch).await?;
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(0);
    };
    let mut seen = HashSet::new();
    let numbers: Vec<IncidentNumber> = events.iter().map(|e| e.number).filter(|n| seen.insert(*n)).collect();
    let settings = store.sla_settings().await?;
    let inputs = store.sla_inputs(&numbers).await?;
    // "Now" is read after the histories: nothing they hold lies in the future.
    let outcomes = compute(&settings.config, &inputs, Utc::now());
    let txn = store.begin().await?;
    if txn.lock_position(POSITION).await? != position || txn.sla_settings().await?.stamp != settings.stamp {
        txn.rollback().await?;
        return Ok(1);
    }
    txn.replace_sla(&outcomes).await?;
    txn.set_position(POSITION, last).await?;
    txn.commit().await?;
    let clocks: usize = outcomes.iter().map(|o| o.clocks.len()).sum();
    EngineMetrics::add(&inner.metrics.sla_clocks_recomputed, clocks as u64);
    Ok(events.len())
}

/// After a change of calendars or policies, recomputes every open
/// incident; returns how many were recomputed.
pub(crate) async fn apply_config_change(inner: &Inner) -> Result<usize, EngineError> {
    let store = &inner.store;
    let settings = store.sla_settings().await?;
    if store.position(CONFIG_POSITION).await? == settings.stamp {
        return Ok(0);
    }
    let mut after = 0;
    let mut total = 0;
    loop {
        let numbers = store.open_incident_numbers(after, RECOMPUTE_PAGE).await?;
        let Some(last) = numbers.last() else { break };
        after = last.0;
        let txn = store.begin().await?;
        // Every writer of clocks holds the tracker's position row, so the
        // event tracker and this pass (on any node) never replace the same
        // incident's clocks at once; another node may have finished the pass.
        txn.lock_position(POSITION).await?;
        if txn.lock_position(CONFIG_POSITION).await? == settings.stamp {
            txn.rollback().await?;
            return Ok(total);
        }
        recompute(inner, &txn, &numbers, Utc::now()).await?;
        txn.commit().await?;
        total += numbers.len();
    }
    let txn = store.begin().await?;
    txn.lock_position(POSITION).await?;
    txn.lock_position(CONFIG_POSITION).await?;
    txn.set_position(CONFIG_POSITION, settings.stamp).await?;
    txn.commit().await?;
    tracing::info!(incidents = total, stamp = settings.stamp, "SLA policies changed; open incidents recomputed");
    Ok(total)
}

/// An SLA timer's payload, as the tracker wrote it.
struct SlaTimer {
    target: SlaTarget,
    percent: u8,
    policy: String,
}

fn sla_timer(timer: &TimerRecord) -> Option<SlaTimer> {
    let p = &timer.timer.payload;
    Some(SlaTimer {
        target: p.get("target")?.as_str()?.parse().ok()?,
        percent: u8::try_from(p.get("percent")?.as_u64()?).ok()?,
        policy: p.get("policy").and_then(Value::as_str).unwrap_or_default().to_owned(),
    })
}

/// Fires one due SLA timer inside `txn` (which has taken it): checks it
/// against the clock as of now under `config` (the SLA configuration the
/// batch read in `txn`), records the event and starts the workflows.
/// Returns the runs to hand over after the commit.
pub(crate) async fn fire(
    inner: &Inner,
    txn: &WriteTxn,
    config: &SlaConfig,
    timer: &TimerRecord,
    now: DateTime<Utc>,
) -> Result<Vec<switchyard_store::NewRun>, EngineError> {
    let (Some(sla), Some(incident)) = (sla_timer(timer), timer.timer.incident_id) else {
        tracing::warn!(timer = timer.id, "SLA timer without a ticket or a readable payload dropped");
        return Ok(Vec::new());
    };
    let number = IncidentNumber(incident);
    // Is the threshold still crossed? The clock is recomputed from history
    // as of now: a pause, a resolution or a new policy in between can have
    // moved or removed it.
    let inputs = txn.sla_inputs(&[number]).await?;
    // The thresholds to fire: this timer's, if the clock still passes it
    // and it is not recorded yet, and every later one the clock passed too
    // (a node that was down fires them late, in order; the tracker then
    // sets the clock's next timer from the events recorded here).
    let due = inputs.first().and_then(|input| {
        let clocks = config.clocks(&input.subject(), &input.history, now);
        let clock = clocks.into_iter().find(|c| c.target == sla.target && c.policy == sla.policy)?;
        let warnings = config.policy(&clock.policy).map_or(&[][..], |p| p.document.warnings.as_slice());
        let passed = clock.passed_thresholds(warnings);
        if !passed.contains(&sla.percent) || input.history.has_fired(&clock, sla.percent) {
            return None;
        }
        let thresholds: Vec<u8> = passed.into_iter().filter(|&p| p >= sla.percent && !input.history.has_fired(&clock, p)).collect();
        Some((clock, thresholds))
    });
    let Some((clock, thresholds)) = due else {
        EngineMetrics::add(&inner.metrics.sla_timers_dropped, 1);
        tracing::debug!(timer = timer.id, ticket = %number, "SLA timer no longer due (threshold not passed or already fired); dropped");
        return Ok(Vec::new());
    };
    let lag = (now - timer.timer.due_at).max(TimeDelta::zero());
    EngineMetrics::add(&inner.metrics.timer_lag_us_total, lag.num_microseconds().unwrap_or(0) as u64);
    let records = txn.incidents(&[number]).await?;
    let Some(record) = records.first() else { return Ok(Vec::new()) };
    let ticket = serde_json::to_value(ticket_from_record(record)).unwrap_or(Value::Null);
    let mut runs = Vec::new();
    for percent in thresholds {
        let breach = percent >= 100;
        let kind = if breach { "sla_breached" } else { "sla_warning" };
        let text = if breach {
            format!("{} target of {} breached (policy {})", sla.target, format_duration(clock.duration), clock.policy)
        } else {
            format!("{} target of {} at {}% (policy {})", sla.target, format_duration(clock.duration), percent, clock.policy)
        };
        let payload = serde_json::json!({
            "target": sla.target, "percent": percent, "policy": sla.policy,
            "due_at": timer.timer.due_at.timestamp_millis(), "fired_at": now.timestamp_millis(),
        });
        txn.record_sla_event(number, kind, &payload, text).await?;
        EngineMetrics::add(if breach { &inner.metrics.sla_breaches_fired } else { &inner.metrics.sla_warnings_fired }, 1);
        let event = SlaEvent {
            target: sla.target,
            percent: u16::from(percent),
            due_at: clock.due_at.or(clock.breached_at).map_or(0, |d| d.timestamp_millis()),
        };
        let target = sla.target.as_str();
        let trigger_event = if breach { TriggerEvent::SlaBreached { target } } else { TriggerEvent::SlaWarning { target } };
        let trigger = if breach { Trigger::SlaBreached(event) } else { Trigger::SlaWarning(event) };
        // The first threshold keeps the timer's origin (`timer:<id>`), so
        // a replay of this firing cannot start its runs twice.
        let origin = if percent == sla.percent { format!("timer:{}", timer.id) } else { format!("timer:{}:{percent}", timer.id) };
        runs.extend(
            inner
                .workflows
                .active()
                .iter()
                .filter(|w| w.triggered_by(&trigger_event, &ticket))
                .map(|w| inner.leased_run(&w.id, w.version, Some(incident), origin.clone(), &trigger, 0)),
        );
    }
    Ok(runs)
}
