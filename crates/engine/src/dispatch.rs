//! The dispatcher: the event log as an outbox.
//!
//! Per batch it reads the events after the `dispatcher` position (and what
//! their triggers need) from the read pool, then in one short write
//! transaction locks the position, checks it has not moved, starts the runs
//! and moves the position past the batch. A crash before the commit leaves
//! the position where it was, so the events are read again; the unique
//! (workflow, origin) key of runs makes a second start of the same run
//! impossible anyway. Several nodes may run the dispatcher: the position
//! row's lock and the check serialise them.
//!
//! The events of one change (one transaction writes one event per changed
//! field, with consecutive `seq` and the same actor and instant) are
//! grouped, so an edit of three fields starts one run with all three
//! fields, not three runs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::IncidentNumber;
use switchyard_plugin_host::Trigger;
use switchyard_store::{EventRecord, IncidentRecord, RunRecord, Topic};
use switchyard_workflow::TriggerEvent;

use crate::outbox::OutboxReader;
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

const POSITION: &str = "dispatcher";

/// The dispatcher, as a reader of the event log (see [`crate::outbox`]).
pub(crate) struct Dispatcher {
    last_refresh: std::sync::Mutex<tokio::time::Instant>,
}

impl Dispatcher {
    pub(crate) fn new() -> Self {
        Dispatcher { last_refresh: std::sync::Mutex::new(tokio::time::Instant::now()) }
    }

    /// Reloads the workflows when the last reload is older than 2 s (other
    /// nodes may have published).
    async fn refresh(&self, inner: &Inner) -> Result<(), EngineError> {
        let due = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= Duration::from_secs(2);
        if due {
            inner.workflows.refresh().await?;
            *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutboxReader for Dispatcher {
    fn name(&self) -> &'static str {
        "dispatcher"
    }

    fn topic(&self) -> Topic {
        Topic::Events
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        self.refresh(inner).await?;
        dispatch_once(inner).await
    }

    async fn idle(&self, inner: &Inner) -> Result<(), EngineError> {
        self.refresh(inner).await
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
            let name = match e.kind {
                EventKind::Comment | EventKind::WorkNote => Some(e.kind.as_str().to_owned()),
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
        self.events
            .iter()
            .find(|e| e.kind == EventKind::StatusChanged)
            .map(|e| (text(&e.old_value), text(&e.new_value)))
            .unwrap_or((None, None))
    }
}

fn same_change(a: &EventRecord, b: &EventRecord) -> bool {
    a.number == b.number && a.created_at == b.created_at && a.actor == b.actor && b.kind != EventKind::Created
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
///
/// Everything is read first, outside the write lock (events, the runs that
/// wrote them, the tickets a candidate workflow's conditions need); the
/// write transaction then only checks the position is where the batch
/// started (another node may have moved it: then the batch is read again),
/// inserts the runs and moves the position.
pub(crate) async fn dispatch_once(inner: &Inner) -> Result<usize, EngineError> {
    let store = &inner.store;
    let position = store.position(POSITION).await?;
    let events = store.events_after(position, inner.config.dispatch_batch).await?;
    if events.is_empty() {
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
    let runs = runs_for(inner, &changes).await?;
    let txn = store.begin().await?;
    if txn.lock_position(POSITION).await? != position {
        // Another node dispatched these events meanwhile.
        txn.rollback().await?;
        return Ok(consumed);
    }
    let created = txn.insert_runs(runs).await?;
    txn.set_position(POSITION, last_seq).await?;
    txn.commit().await?;
    inner.hand_over(created);
    Ok(consumed)
}

/// The runs a batch of changes starts.
async fn runs_for(inner: &Inner, changes: &[Change<'_>]) -> Result<Vec<switchyard_store::NewRun>, EngineError> {
    let workflows = inner.workflows.active();
    if workflows.is_empty() {
        return Ok(Vec::new());
    }
    // Which workflows each change may start, by trigger alone; tickets are
    // read only for changes some workflow listens to.
    let mut candidates = Vec::new();
    for change in changes {
        let first = change.first();
        // SLA events start the workflows with SLA triggers when their timer
        // fires (crate::sla::fire), not as ticket updates; pages are
        // tracking too.
        if first.kind.is_tracking() {
            continue;
        }
        let fields = change.fields();
        let (from, to) = change.status_move();
        let (event, trigger) = if first.kind == EventKind::Created {
            (TriggerEvent::Created, Trigger::TicketCreated)
        } else {
            (
                TriggerEvent::Updated { fields: &fields, status_from: from.as_deref(), status_to: to.as_deref() },
                Trigger::TicketUpdated(fields.clone()),
            )
        };
        // A change that came in through a channel (a mail) also fires the
        // workflows listening to that channel.
        let via = first.actor.channel_name();
        let channel_event = via.map(|channel| TriggerEvent::InboundChannel { channel });
        let listening: Vec<_> = workflows
            .iter()
            .filter_map(|w| {
                if w.document.matches(&event) {
                    Some((w.clone(), trigger.clone()))
                } else {
                    let by_channel = channel_event.as_ref().is_some_and(|e| w.document.matches(e));
                    by_channel.then(|| (w.clone(), Trigger::InboundChannel(via.unwrap_or_default().to_owned())))
                }
            })
            .collect();
        if !listening.is_empty() {
            candidates.push((first, listening));
        }
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let store = &inner.store;
    // Which runs wrote these events (loop protection).
    let parent_ids: HashSet<i64> = candidates.iter().filter_map(|(first, _)| first.actor.run_id).collect();
    let parents: HashMap<i64, RunRecord> = store.runs(parent_ids.into_iter().collect()).await?.into_iter().map(|r| (r.id, r)).collect();
    let numbers: Vec<IncidentNumber> = candidates.iter().map(|(first, _)| first.number).collect::<HashSet<_>>().into_iter().collect();
    let tickets: HashMap<IncidentNumber, Value> = store
        .incidents(&numbers)
        .await?
        .iter()
        .map(|r: &IncidentRecord| (r.incident.number, serde_json::to_value(ticket_from_record(r)).unwrap_or(Value::Null)))
        .collect();
    let mut runs = Vec::new();
    for (first, listening) in candidates {
        let parent = first.actor.run_id.and_then(|id| parents.get(&id));
        let depth = parent.map_or(0, |p| p.depth + 1);
        let Some(ticket) = tickets.get(&first.number) else { continue };
        for (w, trigger) in listening {
            let own_change = parent.is_some_and(|p| p.workflow_id == w.id);
            if own_change || depth > inner.config.max_depth || !w.conditions_hold(ticket) {
                continue;
            }
            runs.push(inner.leased_run(&w.id, w.version, Some(first.number.0), format!("event:{}", first.seq), &trigger, depth));
        }
    }
    Ok(runs)
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
    let mut created = txn.insert_runs(vec![run]).await?;
    txn.commit().await?;
    let run = created
        .pop()
        .ok_or_else(|| EngineError::Invalid { field: "origin".into(), message: "a manual run with this origin exists".into() })?;
    inner.hand_over(vec![run.clone()]);
    Ok(run)
}
