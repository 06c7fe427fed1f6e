//! Paging: escalation policies over on-call schedules.
//!
//! Admins store on-call schedules and escalation policies as documents
//! (`switchyard_domain::oncall`; settings rows, like mail templates). A
//! policy also says how pages go out (`via`: `email`, or
//! `webhook:<subscription>` for a pager, a chat channel or any receiver).
//!
//! The pager reads the event log from its own position (`pager`):
//! when an incident is logged, gets an assignment group, or is reopened,
//! and is open and a policy covers it (its group or service, its
//! priority), its escalation starts: level 1 is paged at once (one
//! notification per person and `via`, one `paged` history entry each, in
//! the transaction that moves the position) and the next level waits in a
//! timer. When the timer fires (`fire`) and nobody has acknowledged and
//! the incident is still open, the next level is paged, and so on through
//! the policy's repeats; then the escalation is exhausted. Acknowledging
//! (`Store::acknowledge`) removes the timer. Who is on call is asked of the
//! schedule at the instant the level is due.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::IncidentNumber;
use switchyard_domain::oncall::{EscalationPolicy, NotifyTarget, Schedule};
use switchyard_domain::{DomainError, Violation};
use switchyard_store::{
    Actor, ESCALATION_TIMER, EscalationStatus, IncidentRecord, NamedDocument, NewNotification, NewTimer, Store, StoreError, TimerRecord,
    Topic, WriteTxn,
};

use crate::outbox::OutboxReader;
use crate::webhooks::{channel_of, ticket_json};
use crate::{EngineError, Inner};

/// A stored policy: the domain's policy and how its pages go out.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerPolicy {
    /// The policy.
    pub policy: EscalationPolicy,
    /// `email`, `webhook:<subscription>`.
    pub via: Vec<String>,
}

/// Reads a stored policy document: the domain's document plus `via`
/// (default `["email"]`).
pub fn parse_policy(value: &Value) -> Result<PagerPolicy, DomainError> {
    let mut doc = value.clone();
    let via = match doc.as_object_mut().and_then(|o| o.remove("via")) {
        None => vec!["email".to_owned()],
        Some(v) => serde_json::from_value::<Vec<String>>(v)
            .map_err(|e| DomainError::Validation(vec![Violation::new("via", "type", format!("a list of strings: {e}"))]))?,
    };
    let mut violations = Vec::new();
    if via.is_empty() {
        violations.push(Violation::new("via", "required", "name at least one way to page (`email`, `webhook:<subscription>`)"));
    }
    for (i, v) in via.iter().enumerate() {
        let ok = v == "email" || v.strip_prefix("webhook:").is_some_and(|s| !s.is_empty());
        if !ok {
            violations.push(Violation::new(
                format!("via[{i}]"),
                "one_of",
                format!("`{v}` is neither `email` nor `webhook:<subscription>`"),
            ));
        }
    }
    let policy = EscalationPolicy::parse_json(&doc);
    match (policy, violations.is_empty()) {
        (Ok(policy), true) => Ok(PagerPolicy { policy, via }),
        (Ok(_), false) => Err(DomainError::Validation(violations)),
        (Err(e), _) => {
            let mut all = e.violations().to_vec();
            all.extend(violations);
            Err(DomainError::Validation(all))
        }
    }
}

/// The stored policies that read (a bad one is logged and skipped).
pub async fn load_policies(store: &Store) -> Result<Vec<(String, PagerPolicy)>, StoreError> {
    let mut out = Vec::new();
    for (name, doc) in store.named_documents(NamedDocument::EscalationPolicy).await? {
        match parse_policy(&doc) {
            Ok(p) => out.push((name, p)),
            Err(e) => tracing::warn!(policy = %name, error = %e, "a stored escalation policy does not read; skipped"),
        }
    }
    Ok(out)
}

/// The stored schedules that read, by name.
pub async fn load_schedules(store: &Store) -> Result<HashMap<String, Schedule>, StoreError> {
    let mut out = HashMap::new();
    for (name, doc) in store.named_documents(NamedDocument::OnCallSchedule).await? {
        match Schedule::parse_json(&doc) {
            Ok(s) => {
                out.insert(name, s);
            }
            Err(e) => tracing::warn!(schedule = %name, error = %e, "a stored on-call schedule does not read; skipped"),
        }
    }
    Ok(out)
}

/// Who is on call on a stored schedule at `at`.
pub async fn on_call(store: &Store, schedule: &str, at: DateTime<Utc>) -> Result<Option<String>, StoreError> {
    match store.named_document(NamedDocument::OnCallSchedule, schedule).await? {
        Some(doc) => Ok(Schedule::parse_json(&doc).ok().and_then(|s| s.on_call(at)).map(|o| o.user)),
        None => Ok(None),
    }
}

/// A group with an on-call schedule of the same name follows it: its
/// on-shift member is whoever is on call now (the others are off shift).
pub async fn follow_schedule(
    store: &Store,
    group: &str,
    mut agents: Vec<switchyard_store::AgentLoad>,
) -> Result<Vec<switchyard_store::AgentLoad>, StoreError> {
    let Some(doc) = store.named_document(NamedDocument::OnCallSchedule, group).await? else {
        return Ok(agents);
    };
    match Schedule::parse_json(&doc) {
        Ok(schedule) => {
            let on_call = schedule.on_call(Utc::now()).map(|o| o.user);
            for a in &mut agents {
                a.on_shift = on_call.as_deref() == Some(a.username.as_str());
            }
        }
        Err(e) => tracing::warn!(schedule = group, error = %e, "a group's on-call schedule does not read; its on-shift flags stay"),
    }
    Ok(agents)
}

fn pager_actor() -> Actor {
    Actor::named_system("switchyard (pager)")
}

/// The pager (event log reader).
pub(crate) struct Pager;

const POSITION: &str = "pager";

/// Whether an event may start paging its incident.
fn starts_paging(kind: EventKind, field: Option<&str>, old: Option<&Value>) -> bool {
    match kind {
        EventKind::Created => true,
        EventKind::FieldChanged => field == Some("assignment_group"),
        EventKind::StatusChanged => old.and_then(Value::as_str) == Some("resolved"),
        _ => false,
    }
}

#[async_trait]
impl OutboxReader for Pager {
    fn name(&self) -> &'static str {
        "pager"
    }

    fn topic(&self) -> Topic {
        Topic::Events
    }

    async fn next_batch(&self, inner: &Inner) -> Result<usize, EngineError> {
        let store = &inner.store;
        let position = store.position(POSITION).await?;
        let events = store.events_after(position, inner.config.dispatch_batch).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let policies = load_policies(store).await?;
        // Each incident to consider, with the last event that may start
        // its paging.
        let mut candidates: HashMap<IncidentNumber, i64> = HashMap::new();
        if !policies.is_empty() {
            for e in events.iter().filter(|e| starts_paging(e.kind, e.field.as_deref(), e.old_value.as_ref())) {
                candidates.insert(e.number, e.seq);
            }
        }
        let numbers: Vec<IncidentNumber> = candidates.keys().copied().collect();
        let records = store.incidents(&numbers).await?;
        let mut starts = Vec::new();
        for record in records.into_iter().filter(|r| r.incident.status.is_open()) {
            let service = match record.incident.service_id {
                Some(id) => store.get_ci(id).await.ok().map(|c| c.name),
                None => None,
            };
            let services: Vec<&str> = service.iter().map(String::as_str).collect();
            let priority = record.incident.priority.to_string();
            if let Some((name, policy)) =
                policies.iter().find(|(_, p)| p.policy.applies_to(record.assignment_group.as_deref(), &services, &priority))
            {
                let seq = candidates.get(&record.incident.number).copied().unwrap_or(0);
                starts.push((record, name.clone(), policy.clone(), seq));
            }
        }
        let schedules = if starts.is_empty() { HashMap::new() } else { load_schedules(store).await? };
        let txn = store.begin().await?;
        if txn.lock_position(POSITION).await? != position {
            txn.rollback().await?;
            return Ok(events.len());
        }
        let now = Utc::now();
        for (record, name, policy, seq) in &starts {
            // Someone acknowledged before the pager got here: no page.
            if txn.acknowledged_after(record.incident.number, *seq).await? {
                continue;
            }
            if txn.start_escalation(record.incident.number, name, now).await? {
                advance(inner, &txn, record, policy, &schedules, now, now).await?;
            }
        }
        txn.set_position(POSITION, last).await?;
        txn.commit().await?;
        Ok(events.len())
    }
}

/// Pages every level of the escalation due by `now` that was not paged yet
/// (normally one), then sets the timer of the next, or ends the escalation.
async fn advance(
    inner: &Inner,
    txn: &WriteTxn,
    record: &IncidentRecord,
    policy: &PagerPolicy,
    schedules: &HashMap<String, Schedule>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let number = record.incident.number;
    let escalation = txn.escalation(number).await?.ok_or_else(|| StoreError::not_found("escalation", number))?;
    let done = (escalation.pass, escalation.level);
    let due: Vec<(u32, usize, DateTime<Utc>)> = policy
        .policy
        .due_levels(started, now)
        .into_iter()
        .filter(|(p, l, _)| (i32::try_from(*p).unwrap_or(i32::MAX), i32::try_from(*l).unwrap_or(i32::MAX)) > done)
        .collect();
    // Only the latest level due is paged: levels missed while every node
    // was down are not paged one after another.
    if let Some((pass, level, at)) = due.last().copied() {
        page(inner, txn, record, policy, schedules, pass, level, at).await?;
    }
    let after = due.last().map_or(now, |d| d.2.max(now));
    match policy.policy.next_due(started, after) {
        Some((pass, level, at)) => {
            txn.insert_timer(NewTimer {
                kind: ESCALATION_TIMER.into(),
                due_at: at,
                run_id: None,
                incident_id: Some(number.0),
                payload: json!({"pass": pass, "level": level}),
            })
            .await?;
        }
        None => txn.end_escalation(number, EscalationStatus::Exhausted).await?,
    }
    Ok(())
}

/// Pages one level: resolves its targets to people (the schedule's on-call
/// at `at`, a user, the group's manager), queues a notification per person
/// and `via`, and records the pages.
#[allow(clippy::too_many_arguments)]
async fn page(
    inner: &Inner,
    txn: &WriteTxn,
    record: &IncidentRecord,
    policy: &PagerPolicy,
    schedules: &HashMap<String, Schedule>,
    pass: u32,
    level: usize,
    at: DateTime<Utc>,
) -> Result<(), EngineError> {
    let store = &inner.store;
    let number = record.incident.number;
    let mut people: Vec<String> = Vec::new();
    for target in &policy.policy.levels()[level].notify {
        let person = match target {
            NotifyTarget::Schedule(name) => schedules.get(name).and_then(|s| s.on_call(at)).map(|o| o.user),
            NotifyTarget::User(user) => Some(user.clone()),
            NotifyTarget::Manager => match &record.assignment_group {
                Some(group) => match store.get_group(group).await {
                    Ok(g) => g.manager,
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            },
        };
        match person {
            Some(p) if !people.contains(&p) => people.push(p),
            Some(_) => {}
            None => tracing::warn!(incident = %number, ?target, "nobody to page for this target"),
        }
    }
    let base = inner.config.public_url.trim_end_matches('/');
    let link = format!("{base}/console/incidents/{number}");
    let ticket = ticket_json(record);
    let subject = format!("[PAGE] {number}: {} ({})", record.incident.title, record.incident.priority);
    let mut notifications = Vec::new();
    let mut paged = Vec::new();
    for person in &people {
        for via in &policy.via {
            let body = format!(
                "You are paged (level {} of escalation policy {}).\n\n{}\n\nAcknowledge: {link}",
                level + 1,
                policy.policy.name(),
                record.incident.title
            );
            let notification = match via.strip_prefix("webhook:") {
                None => NewNotification {
                    incident_id: Some(number.0),
                    run_id: 0,
                    workflow_id: "pager".into(),
                    step_id: "page".into(),
                    channel: "email".into(),
                    recipients: vec![person.clone()],
                    subject: subject.clone(),
                    body,
                    subscription_id: None,
                },
                Some(name) => {
                    let subscription = match store.subscription(name).await {
                        Ok(s) => s,
                        Err(StoreError::NotFound { .. }) => {
                            tracing::warn!(incident = %number, subscription = name, "a policy pages through a subscription that does not exist");
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let payload = json!({"type": "incident.paged", "timestamp": Utc::now().to_rfc3339(), "data": {
                        "summary": format!("{subject} - paging {person}"),
                        "link": link,
                        "acknowledge_url": format!("{base}/api/v1/incidents/{number}/acknowledge"),
                        "user": person,
                        "level": level + 1,
                        "pass": pass,
                        "policy": policy.policy.name(),
                        "ticket": ticket,
                    }});
                    NewNotification {
                        incident_id: Some(number.0),
                        run_id: 0,
                        workflow_id: "pager".into(),
                        step_id: "page".into(),
                        channel: channel_of(&subscription.format).into(),
                        recipients: vec![subscription.name.clone()],
                        subject: subject.clone(),
                        body: payload.to_string(),
                        subscription_id: Some(subscription.id),
                    }
                }
            };
            notifications.push(notification);
            paged.push((person.clone(), via.clone()));
        }
    }
    txn.insert_notifications(notifications).await?;
    let pass = i32::try_from(pass).unwrap_or(i32::MAX);
    let level = i32::try_from(level).unwrap_or(i32::MAX);
    txn.record_page(number, pass, level, &paged, EscalationStatus::Active, &pager_actor()).await?;
    Ok(())
}

/// Fires an escalation timer inside the scheduler's transaction: pages the
/// next level unless the incident was acknowledged, resolved or closed.
pub(crate) async fn fire(inner: &Inner, txn: &WriteTxn, timer: &TimerRecord) -> Result<(), EngineError> {
    let Some(id) = timer.timer.incident_id else { return Ok(()) };
    let number = IncidentNumber(id);
    let Some(escalation) = txn.escalation(number).await? else { return Ok(()) };
    if escalation.status != EscalationStatus::Active {
        return Ok(());
    }
    let Some(record) = txn.incidents(&[number]).await?.pop() else { return Ok(()) };
    if !record.incident.status.is_open() {
        txn.end_escalation(number, EscalationStatus::Stopped).await?;
        return Ok(());
    }
    let Some(doc) = inner.store.named_document(NamedDocument::EscalationPolicy, &escalation.policy).await? else {
        tracing::warn!(incident = %number, policy = %escalation.policy, "the escalation's policy was removed; stopping");
        txn.end_escalation(number, EscalationStatus::Stopped).await?;
        return Ok(());
    };
    let policy = match parse_policy(&doc) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(incident = %number, policy = %escalation.policy, error = %e, "the escalation's policy does not read; stopping");
            txn.end_escalation(number, EscalationStatus::Stopped).await?;
            return Ok(());
        }
    };
    let schedules = load_schedules(&inner.store).await?;
    // A timer fired late (every node was down) pages only the latest level
    // due by now; one fired early (a test's clock) pages its own level.
    advance(inner, txn, &record, &policy, &schedules, escalation.started_at, timer.timer.due_at.max(Utc::now())).await
}
