//! Dry-run: a (draft) workflow against recorded tickets, applying nothing.
//!
//! For each ticket the engine rebuilds the ticket as it was just after it
//! was logged (the current state with every later change undone from the
//! history), runs the draft's steps on it in real plugins (reading the
//! real CMDB and directory; `kv` writes go to an in-memory overlay that is
//! thrown away), applies each step's proposed changes to the in-memory
//! ticket so later steps see them, and reports, per ticket, the actions it
//! would take beside what actually happened, with plain-language
//! differences ("would route to network-ops instead of service-desk").
//!
//! Simplification, stated: when a draft changes impact or urgency the
//! simulated priority is not recomputed from the matrix (an explicit
//! `set_priority` is).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_domain::incident::IncidentNumber;
use switchyard_plugin_host::model::{Action, Notification, StepContext, StepOutput};
use switchyard_plugin_host::{MemoryKv, StepInput, Ticket, Trigger};
use switchyard_store::{IncidentFilter, SortField, SortOrder};
use switchyard_workflow::WorkflowDocument;
use switchyard_workflow::run::{self, Command, FailureKind, RunStatus, StepOutcome};

use crate::actions::{self, StepChanges};
use crate::services::ticket_from_record;
use crate::{EngineError, Inner};

tokio::task_local! {
    /// Set while a dry-run executes: the store-backed `kv` reads through it
    /// and writes only to it.
    pub static KV_OVERLAY: Arc<MemoryKv>;
}

/// What to dry-run.
#[derive(Debug, Clone)]
pub struct DryRunRequest {
    /// The draft (already validated).
    pub document: WorkflowDocument,
    /// Tickets logged at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// At most this many tickets, newest first (default 50, at most 1000).
    pub last: Option<u32>,
    /// Exactly these tickets (overrides `since`/`last`).
    pub tickets: Vec<IncidentNumber>,
}

/// One step as it would run.
#[derive(Debug, Clone, Serialize)]
pub struct DryStep {
    /// Step id.
    pub step_id: String,
    /// Plugin id and version.
    pub plugin: String,
    /// `succeeded`, `skipped`, `failed`.
    pub status: String,
    /// The actions it proposed.
    pub actions: Vec<Action>,
    /// Its output.
    pub output: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Plugin time, microseconds.
    pub duration_us: u64,
}

/// A field's recorded value and who set it last.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActualValue {
    /// The value now.
    pub value: Value,
    /// Who set it last (`requester` when it was set at creation).
    pub by: String,
}

/// One ticket's dry-run.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDryRun {
    /// Incident number.
    pub number: String,
    /// Whether the draft would run on it.
    pub triggered: bool,
    /// Why not, or why it stopped.
    pub note: Option<String>,
    /// The steps.
    pub steps: Vec<DryStep>,
    /// Fields the draft would set, with their values.
    pub would: BTreeMap<String, Value>,
    /// The same fields as recorded.
    pub actual: BTreeMap<String, ActualValue>,
    /// Notifications it would queue.
    pub notifications: Vec<Notification>,
    /// Notifications actually queued for the ticket.
    pub actual_notifications: usize,
    /// Plain-language differences.
    pub differences: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunReport {
    /// The draft's id and version.
    pub workflow: String,
    /// Tickets examined.
    pub tickets_examined: usize,
    /// Tickets the draft would run on.
    pub tickets_triggered: usize,
    /// Tickets where it would do something other than what happened.
    pub tickets_different: usize,
    /// Per ticket, newest first.
    pub tickets: Vec<TicketDryRun>,
}

/// A history event's field as the plugin `Ticket` spells it (the names
/// conditions use, plus `custom_fields`); `None` for fields tickets do not
/// carry (resolution, priority override reason...).
fn ticket_field(event_field: &str) -> Option<&'static str> {
    switchyard_workflow::TICKET_FIELDS.iter().chain(&["custom_fields"]).copied().find(|f| *f == event_field)
}

/// History values to ticket JSON (priority is `"P3"` in history, 3 on tickets).
fn ticket_value(field: &str, v: &Value) -> Value {
    if field == "priority"
        && let Some(p) = v.as_str().and_then(|s| s.strip_prefix('P')).and_then(|n| n.parse::<u8>().ok())
    {
        return json!(p);
    }
    v.clone()
}

pub(crate) async fn run(inner: &Inner, request: DryRunRequest) -> Result<DryRunReport, EngineError> {
    let store = &inner.store;
    let numbers: Vec<IncidentNumber> = if request.tickets.is_empty() {
        let filter = IncidentFilter {
            created_from: request.since,
            sort: SortField::Number,
            order: SortOrder::Desc,
            limit: request.last.unwrap_or(50).clamp(1, 1000) as u64,
            ..Default::default()
        };
        store.list_incidents(&filter).await?.items.iter().map(|r| r.incident.number).collect()
    } else {
        request.tickets.clone()
    };
    let overlay = Arc::new(MemoryKv::default());
    let mut tickets = Vec::with_capacity(numbers.len());
    for number in numbers {
        let report = KV_OVERLAY.scope(overlay.clone(), dry_run_ticket(inner, &request.document, number)).await?;
        tickets.push(report);
    }
    Ok(DryRunReport {
        workflow: format!("{}@{}", request.document.id, request.document.version),
        tickets_examined: tickets.len(),
        tickets_triggered: tickets.iter().filter(|t| t.triggered).count(),
        tickets_different: tickets.iter().filter(|t| !t.differences.is_empty()).count(),
        tickets,
    })
}

async fn dry_run_ticket(inner: &Inner, doc: &WorkflowDocument, number: IncidentNumber) -> Result<TicketDryRun, EngineError> {
    let store = &inner.store;
    let record = store.get_incident(number).await?;
    let current = ticket_from_record(&record);
    let current_json = serde_json::to_value(&current).unwrap_or(Value::Null);
    let history = store.history(number, true).await?;
    // Undo every change after creation, newest first.
    let mut at_creation = current_json.clone();
    let mut last_setter: BTreeMap<&'static str, String> = BTreeMap::new();
    for e in history.iter().rev() {
        let Some(field) = e.field.as_deref().and_then(ticket_field) else { continue };
        if e.kind != "field_changed" && e.kind != "status_changed" {
            continue;
        }
        last_setter.entry(field).or_insert_with(|| e.actor.name.clone());
        if let (Some(old), Value::Object(map)) = (&e.old_value, &mut at_creation) {
            map.insert(field.to_owned(), ticket_value(field, old));
        }
    }
    let mut report = TicketDryRun {
        number: number.to_string(),
        triggered: false,
        note: None,
        steps: Vec::new(),
        would: BTreeMap::new(),
        actual: BTreeMap::new(),
        notifications: Vec::new(),
        actual_notifications: store.list_notifications(Some(number.0), None, None, 1000).await?.len(),
        differences: Vec::new(),
    };
    let trigger = if doc.matches(&switchyard_workflow::TriggerEvent::Created) {
        Trigger::TicketCreated
    } else if doc.matches(&switchyard_workflow::TriggerEvent::Manual) {
        Trigger::Manual("dry-run".into())
    } else {
        report.note = Some("the draft is not triggered by ticket creation or by hand".into());
        return Ok(report);
    };
    match doc.conditions_hold(&at_creation) {
        Ok(true) => {}
        Ok(false) => {
            report.note = Some("the draft's conditions do not hold for this ticket".into());
            return Ok(report);
        }
        Err(e) => {
            report.note = Some(format!("conditions: {e}"));
            return Ok(report);
        }
    }
    report.triggered = true;
    let mut ticket: Ticket = serde_json::from_value(at_creation.clone()).unwrap_or(current.clone());
    let (mut state, mut command) = run::start(doc);
    let mut previous: Vec<StepOutput> = Vec::new();
    let mut touched: Vec<&'static str> = Vec::new();
    while let Command::RunStep { step, attempt } = command {
        let spec = &doc.steps[step];
        let mut dry = DryStep {
            step_id: spec.id.clone(),
            plugin: spec.plugin.clone(),
            status: "succeeded".into(),
            actions: Vec::new(),
            output: None,
            error: None,
            duration_us: 0,
        };
        let ticket_json = serde_json::to_value(&ticket).unwrap_or(Value::Null);
        let outcome = if !spec.applies_to(&ticket_json).unwrap_or(false) {
            dry.status = "skipped".into();
            StepOutcome::Skipped
        } else {
            match inner.registry.get(&spec.plugin, &spec.version) {
                Err(e) => StepOutcome::Failed { error: FailureKind::Fatal, message: e.to_string() },
                Ok(plugin) => {
                    dry.plugin = format!("{}@{}", plugin.id(), plugin.version());
                    let input = StepInput {
                        context: StepContext {
                            workflow_id: doc.id.clone(),
                            workflow_version: doc.version,
                            run_id: "dry-run".into(),
                            step_id: spec.id.clone(),
                            attempt,
                            deadline: 0,
                            now: Utc::now().timestamp_millis(),
                        },
                        trigger: trigger.clone(),
                        ticket: Some(ticket.clone()),
                        config: spec.config.clone(),
                        previous: previous.clone(),
                    };
                    let _slot = inner.step_slots.clone().acquire_owned().await;
                    let clock = Instant::now();
                    let result = plugin.run_within(&input, spec.timeout()).await;
                    dry.duration_us = clock.elapsed().as_micros() as u64;
                    match result {
                        Err(e) => StepOutcome::Failed { error: FailureKind::Trap, message: e.to_string() },
                        Ok(o) => match o.result {
                            Err(e) => StepOutcome::Failed { error: FailureKind::Fatal, message: e.to_string() },
                            Ok(result) => {
                                dry.actions = result.actions.clone();
                                dry.output = Some(result.output.clone());
                                match actions::plan(&result.actions, Some(&ticket)) {
                                    Err(r) => StepOutcome::Failed { error: FailureKind::Rejected, message: r.to_string() },
                                    Ok(changes) => {
                                        touched.extend(simulate(&mut ticket, &changes));
                                        report.notifications.extend(changes.notifications.iter().cloned());
                                        previous.push(StepOutput { step_id: spec.id.clone(), output: result.output.clone() });
                                        StepOutcome::Succeeded { next_step: result.next_step.clone() }
                                    }
                                }
                            }
                        },
                    }
                }
            }
        };
        if let StepOutcome::Failed { message, .. } = &outcome {
            dry.status = "failed".into();
            dry.error = Some(message.clone());
        }
        report.steps.push(dry);
        let (next_state, next) = run::advance(doc, &state, &outcome);
        state = next_state;
        command = next;
    }
    match &command {
        Command::RetryAfter { delay, .. } => {
            report.note = Some(format!("a step failed and would be retried after {} ms", delay.as_millis()))
        }
        Command::Finish(RunStatus::Failed, reason) => report.note = reason.clone().or(Some("the run would fail".into())),
        _ => {}
    }
    let simulated = serde_json::to_value(&ticket).unwrap_or(Value::Null);
    touched.sort_unstable();
    touched.dedup();
    for field in touched {
        let would = simulated.get(field).cloned().unwrap_or(Value::Null);
        let actual = current_json.get(field).cloned().unwrap_or(Value::Null);
        let by = last_setter.get(field).cloned().unwrap_or_else(|| "requester".into());
        if would != actual {
            report.differences.push(describe(field, &would, &actual));
        }
        report.would.insert(field.to_owned(), would);
        report.actual.insert(field.to_owned(), ActualValue { value: actual, by });
    }
    if report.notifications.len() != report.actual_notifications {
        report.differences.push(format!(
            "would queue {} notification(s); {} were queued",
            report.notifications.len(),
            report.actual_notifications
        ));
    }
    Ok(report)
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "nobody".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn describe(field: &str, would: &Value, actual: &Value) -> String {
    match field {
        "assignment_group" => format!("would route to {} instead of {}", show(would), show(actual)),
        "assignee" => format!("would assign to {} instead of {}", show(would), show(actual)),
        "priority" => format!("would set priority P{} instead of P{}", show(would), show(actual)),
        "status" => format!("would leave it {} instead of {}", show(would), show(actual)),
        _ => format!("would set {field} to {} instead of {}", show(would), show(actual)),
    }
}

/// Applies a step's changes to the in-memory ticket; returns the fields set.
fn simulate(ticket: &mut Ticket, changes: &StepChanges) -> Vec<&'static str> {
    let u = &changes.update;
    let mut touched = Vec::new();
    if let Some(t) = &u.title {
        ticket.title = t.clone();
        touched.push("title");
    }
    if let Some(d) = &u.description {
        ticket.description = d.clone();
        touched.push("description");
    }
    if let Some(c) = &u.category {
        ticket.category = c.clone();
        touched.push("category");
    }
    if let Some(c) = &u.subcategory {
        ticket.subcategory = c.clone();
        touched.push("subcategory");
    }
    if let Some(s) = u.service_id {
        ticket.service = s.map(|s| s as u64);
        touched.push("service");
    }
    if let Some(cis) = &u.affected_ci_ids {
        ticket.affected_cis = cis.iter().map(|&c| c as u64).collect();
        touched.push("affected_cis");
    }
    if let Some(l) = u.impact {
        ticket.impact = l.get();
        touched.push("impact");
    }
    if let Some(l) = u.urgency {
        ticket.urgency = l.get();
        touched.push("urgency");
    }
    if let Some(Some(p)) = &u.priority_override {
        ticket.priority = p.priority.get();
        touched.push("priority");
    }
    if let Some(level) = u.escalation_level {
        ticket.escalation_level = level;
        touched.push("escalation_level");
    }
    if let Some(c) = &u.custom_fields {
        ticket.custom_fields = c.clone();
        touched.push("custom_fields");
    }
    if let Some(g) = &u.assignment_group {
        if *g != ticket.assignment_group && u.assignee.is_none() {
            ticket.assignee = None;
        }
        ticket.assignment_group = g.clone();
        touched.push("assignment_group");
    }
    if let Some(a) = &u.assignee {
        ticket.assignee = a.clone();
        touched.push("assignee");
    }
    // The lifecycle rule `lifecycle::status_after_assignment`, on the plugin model.
    if ticket.status == switchyard_plugin_host::model::Status::New && ticket.assignment_group.is_some() {
        ticket.status = switchyard_plugin_host::model::Status::Assigned;
        touched.push("status");
    }
    for t in &changes.transitions {
        if let Some(to) = t.to
            && let Ok(s) = serde_json::from_value(json!(to.as_str()))
        {
            ticket.status = s;
            touched.push("status");
        }
    }
    touched
}
