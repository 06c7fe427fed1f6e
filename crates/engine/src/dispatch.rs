//! The dispatcher: the event log as an outbox.
//!
//! One transaction per batch locks the `dispatcher` position, reads the
//! events after it, starts the runs they trigger and moves the position
//! past them. A crash before the commit leaves the position where it was,
//! so the events are read again; the unique (workflow, origin) key of runs
//! makes a second start of the same run impossible anyway. Several nodes
//! may run the dispatcher: the position row's lock serialises them.
//!
//! The events of one change (one transaction writes one event per changed
//! field, with consecutive `seq` and the same actor and instant) are
//! grouped, so an edit of three fields starts one run with all three
//! fields, not three runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use switchyard_domain::incident::IncidentNumber;
use switchyard_plugin_host::Trigger;
use switchyard_store::{EventRecord, IncidentRecord, RunRecord};
use switchyard_workflow::TriggerEvent;
use tokio::sync::watch;

use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

const POSITION: &str = "dispatcher";

/// The dispatcher task.
pub(crate) async fn run(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    let signal = inner.store.events_written();
    let mut last_refresh = tokio::time::Instant::now();
    loop {
        if *stopped.borrow() {
            return;
        }
        if last_refresh.elapsed() >= Duration::from_secs(2) {
            if let Err(e) = inner.workflows.refresh().await {
                tracing::warn!(error = %e, "reloading workflows failed");
            }
            last_refresh = tokio::time::Instant::now();
        }
        match dispatch_once(&inner).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, "dispatching events failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(inner.config.poll) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One change: consecutive events of one transaction on one incident.
struct Change<'a> {
    events: &'a [EventRecord],
}

impl Change<'_> {
    fn first(&self) -> &EventRecord {
        &self.events[0]
    }

    fn fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        for e in self.events {
            let name = match e.kind.as_str() {
                "comment" => Some("comment".to_owned()),
                "work_note" => Some("work_note".to_owned()),
                _ => e.field.clone(),
            };
            if let Some(n) = name
                && !fields.contains(&n)
            {
                fields.push(n);
            }
        }
        fields
    }

    fn status_move(&self) -> (Option<String>, Option<String>) {
        let text = |v: &Option<Value>| v.as_ref().and_then(|v| v.as_str().map(str::to_owned));
        self.events.iter().find(|e| e.kind == "status_changed").map(|e| (text(&e.old_value), text(&e.new_value))).unwrap_or((None, None))
    }
}

fn same_change(a: &EventRecord, b: &EventRecord) -> bool {
    a.number == b.number && a.created_at == b.created_at && a.actor == b.actor && b.kind != "created"
}

fn group(events: &[EventRecord]) -> Vec<Change<'_>> {
    let mut changes = Vec::new();
    let mut start = 0;
    for i in 1..=events.len() {
        if i == events.len() || !same_change(&events[i - 1], &events[i]) {
            changes.push(Change { events: &events[start..i] });
            start = i;
        }
    }
    changes
}

/// Dispatches one batch; returns how many events it consumed.
pub(crate) async fn dispatch_once(inner: &Inner) -> Result<usize, EngineError> {
    let store = &inner.store;
    let txn = store.begin().await?;
    let position = store.lock_position(&txn, POSITION).await?;
    let events = store.events_after_in(&txn, position, inner.config.dispatch_batch).await?;
    if events.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let mut changes = group(&events);
    // A full batch may end in the middle of a change: leave that change
    // for the next batch (unless it is all there is).
    if events.len() as u64 == inner.config.dispatch_batch && changes.len() > 1 {
        changes.pop();
    }
    let consumed: usize = changes.iter().map(|c| c.events.len()).sum();
    let last_seq = changes.last().map(|c| c.events[c.events.len() - 1].seq).unwrap_or(position);

    let workflows = inner.workflows.active();
    let mut runs = Vec::new();
    if !workflows.is_empty() {
        // Which runs wrote these events (loop protection).
        let parent_ids: HashSet<i64> = changes.iter().filter_map(|c| c.first().actor.run_id).collect();
        let parents: HashMap<i64, RunRecord> =
            store.runs_in(&txn, parent_ids.into_iter().collect()).await?.into_iter().map(|r| (r.id, r)).collect();
        let numbers: Vec<IncidentNumber> = changes.iter().map(|c| c.first().number).collect::<HashSet<_>>().into_iter().collect();
        let tickets: HashMap<IncidentNumber, Value> = store
            .incidents_in(&txn, &numbers)
            .await?
            .iter()
            .map(|r: &IncidentRecord| (r.incident.number, serde_json::to_value(ticket_from_record(r)).unwrap_or(Value::Null)))
            .collect();
        for change in &changes {
            let first = change.first();
            // SLA events start the workflows with SLA triggers when their
            // timer fires (crate::sla::fire), not as ticket updates.
            if first.kind.starts_with("sla_") {
                continue;
            }
            let fields = change.fields();
            let (from, to) = change.status_move();
            let (event, trigger) = if first.kind == "created" {
                (TriggerEvent::Created, Trigger::TicketCreated)
            } else {
                (
                    TriggerEvent::Updated { fields: &fields, status_from: from.as_deref(), status_to: to.as_deref() },
                    Trigger::TicketUpdated(fields.clone()),
                )
            };
            let parent = first.actor.run_id.and_then(|id| parents.get(&id));
            let depth = parent.map_or(0, |p| p.depth + 1);
            let Some(ticket) = tickets.get(&first.number) else { continue };
            for w in workflows.iter() {
                let own_change = parent.is_some_and(|p| p.workflow_id == w.id);
                if own_change || depth > inner.config.max_depth || !w.triggered_by(&event, ticket) {
                    continue;
                }
                runs.push(inner.leased_run(&w.id, w.version, Some(first.number.0), format!("event:{}", first.seq), &trigger, depth));
            }
        }
    }
    let created = store.insert_runs(&txn, runs).await?;
    store.set_position(&txn, POSITION, last_seq).await?;
    txn.commit().await?;
    inner.hand_over(created);
    Ok(consumed)
}

/// Starts a manual run.
pub(crate) async fn start_manual(
    inner: &Inner,
    workflow_id: &str,
    number: IncidentNumber,
    username: &str,
) -> Result<RunRecord, EngineError> {
    let summary = inner.store.get_workflow(workflow_id).await?;
    // The ticket must exist.
    inner.store.get_incident(number).await?;
    let txn = inner.store.begin().await?;
    let origin = format!("manual:{}:{}", username, Utc::now().timestamp_micros());
    let run = inner.leased_run(&summary.id, summary.latest_version, Some(number.0), origin, &Trigger::Manual(username.to_owned()), 0);
    let mut created = inner.store.insert_runs(&txn, vec![run]).await?;
    txn.commit().await?;
    let run = created
        .pop()
        .ok_or_else(|| EngineError::Invalid { field: "origin".into(), message: "a manual run with this origin exists".into() })?;
    inner.hand_over(vec![run.clone()]);
    Ok(run)
}
