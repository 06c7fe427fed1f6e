//! Dry-run: a (draft) workflow against recorded tickets, applying nothing.
//!
//! For each ticket the engine rebuilds the ticket as it was just after it
//! was logged (the current state with every later change undone from the
//! history) and runs the draft on it with the same step runner real runs
//! use ([`crate::runner`]): real plugins reading the real CMDB and
//! directory, each step's actions applied to the in-memory ticket by the
//! same domain rules, `kv` writes to an overlay that is thrown away, and
//! nothing committed. Tickets are run one after another on one directory
//! snapshot and one overlay, so a draft that assigns round-robin or to the
//! least loaded agent decides as a real run on the same sequence would.
//! The report gives, per ticket, the actions it would take beside what
//! actually happened, with plain-language differences ("would route to
//! network-ops instead of service-desk").

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_domain::edit::Wanted;
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::{Incident, IncidentNumber};
use switchyard_plugin_host::model::{Action, Notification};
use switchyard_plugin_host::{MemoryKv, Trigger};
use switchyard_store::{EventRecord, IncidentFilter, IncidentRecord, RunRecord, SortField, SortOrder};
use switchyard_workflow::WorkflowDocument;
use switchyard_workflow::run::RunStatus;

use crate::catalog::LoadedWorkflow;
use crate::kv::{KvJournal, KvMode};
use crate::runner::{Execution, Purpose, Runner, SegmentEnd};
use crate::services::ticket_from_record;
use crate::snapshot::DirectorySnapshot;
use crate::{EngineError, Inner};

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

/// A history field as the plugin `Ticket` spells it (the names conditions
/// use, plus `custom_fields`); `None` for fields tickets do not carry
/// (resolution, priority override reason...).
fn ticket_field(event_field: &str) -> Option<&'static str> {
    switchyard_workflow::TICKET_FIELDS.iter().chain(&["custom_fields"]).copied().find(|f| *f == event_field)
}

pub(crate) async fn run(inner: &Arc<Inner>, request: DryRunRequest) -> Result<DryRunReport, EngineError> {
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
    let snapshot = Arc::new(DirectorySnapshot::new(store.clone()));
    let runner = Runner::new(inner.clone(), snapshot, store.edit_settings().await?, Purpose::DryRun);
    let workflow = Arc::new(LoadedWorkflow::new(request.document.clone()));
    let overlay = Arc::new(MemoryKv::default());
    // Oldest first, as they happened; reported newest first.
    let mut numbers = numbers;
    numbers.sort();
    numbers.dedup();
    let mut tickets = Vec::with_capacity(numbers.len());
    for number in numbers {
        tickets.push(dry_run_ticket(inner, &runner, &workflow, &overlay, number).await?);
    }
    tickets.reverse();
    Ok(DryRunReport {
        workflow: format!("{}@{}", request.document.id, request.document.version),
        tickets_examined: tickets.len(),
        tickets_triggered: tickets.iter().filter(|t| t.triggered).count(),
        tickets_different: tickets.iter().filter(|t| !t.differences.is_empty()).count(),
        tickets,
    })
}

/// The ticket as it was just after it was logged: the current state with
/// every later field change undone, newest first.
async fn at_creation(runner: &Runner, record: &IncidentRecord, history: &[EventRecord]) -> Result<IncidentRecord, EngineError> {
    let mut incident: Incident = record.incident.clone();
    let mut group = record.assignment_group.clone();
    let mut assignee = record.assignee.clone();
    for e in history.iter().rev() {
        if !matches!(e.kind, EventKind::FieldChanged | EventKind::StatusChanged) {
            continue;
        }
        let (Some(field), Some(old)) = (e.field.as_deref(), e.old_value.clone()) else { continue };
        let i = &mut incident;
        let undone = match field {
            "title" => serde_json::from_value(old).map(|v| i.title = v),
            "description" => serde_json::from_value(old).map(|v| i.description = v),
            "category" => serde_json::from_value(old).map(|v| i.category = v),
            "subcategory" => serde_json::from_value(old).map(|v| i.subcategory = v),
            "service" => serde_json::from_value(old).map(|v| i.service_id = v),
            "affected_cis" => serde_json::from_value(old).map(|v| i.affected_ci_ids = v),
            "impact" => serde_json::from_value(old).map(|v| i.impact = v),
            "urgency" => serde_json::from_value(old).map(|v| i.urgency = v),
            "priority" => serde_json::from_value(old).map(|v| i.priority = v),
            "priority_override_reason" => serde_json::from_value(old).map(|v| i.priority_override_reason = v),
            "status" => serde_json::from_value(old).map(|v| i.status = v),
            "pending_reason" => serde_json::from_value(old).map(|v| i.pending_reason = v),
            "resolution_code" => serde_json::from_value(old).map(|v| i.resolution_code = v),
            "resolution_notes" => serde_json::from_value(old).map(|v| i.resolution_notes = v),
            "escalation_level" => serde_json::from_value(old).map(|v| i.escalation_level = v),
            "custom_fields" => serde_json::from_value(old).map(|v| i.custom_fields = v),
            "assignment_group" => serde_json::from_value(old).map(|v| group = v),
            "assignee" => serde_json::from_value(old).map(|v| assignee = v),
            _ => Ok(()),
        };
        if let Err(err) = undone {
            tracing::debug!(ticket = %record.incident.number, field, %err, "dry-run: a history value could not be undone");
        }
    }
    let mut wanted = Wanted::default();
    wanted.group_names.extend(group.clone());
    wanted.usernames.extend(assignee.clone());
    wanted.user_ids.insert(incident.requester_id);
    let refs = runner.snapshot().references(&wanted).await?;
    incident.assignment_group_id = group.as_ref().and_then(|g| refs.groups.get(g).copied());
    incident.assignee_id = assignee.as_ref().and_then(|a| refs.users.get(a).map(|u| u.id));
    incident.resolved_at = None;
    incident.closed_at = None;
    incident.updated_at = incident.created_at;
    incident.version = 1;
    Ok(IncidentRecord::named(&refs, incident))
}

async fn dry_run_ticket(
    inner: &Inner,
    runner: &Runner,
    workflow: &Arc<LoadedWorkflow>,
    overlay: &Arc<MemoryKv>,
    number: IncidentNumber,
) -> Result<TicketDryRun, EngineError> {
    let store = &inner.store;
    let doc: &WorkflowDocument = &workflow.document;
    let record = store.get_incident(number).await?;
    let current_json = serde_json::to_value(ticket_from_record(&record)).unwrap_or(Value::Null);
    let history = store.history(number, true).await?;
    let mut last_setter: BTreeMap<String, String> = BTreeMap::new();
    for e in history.iter().rev() {
        if let Some(field) = e.field.as_deref()
            && matches!(e.kind, EventKind::FieldChanged | EventKind::StatusChanged)
        {
            last_setter.entry(field.to_owned()).or_insert_with(|| e.actor.name.clone());
        }
    }
    let start = at_creation(runner, &record, &history).await?;
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
    let start_json = serde_json::to_value(ticket_from_record(&start)).unwrap_or(Value::Null);
    match doc.conditions_hold(&start_json) {
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
    let now = Utc::now();
    let run = RunRecord {
        id: 0,
        workflow_id: doc.id.clone(),
        workflow_version: doc.version as i32,
        incident_id: Some(number.0),
        origin: "dry-run".into(),
        trigger: serde_json::to_value(&trigger).unwrap_or(Value::Null),
        depth: 0,
        status: RunStatus::Pending,
        step: 0,
        attempt: 1,
        steps_run: 0,
        executions: 0,
        outputs: json!([]),
        error: None,
        due_at: now,
        created_at: now,
        updated_at: now,
        finished_at: None,
        version: 1,
    };
    let journal = Arc::new(KvJournal::new(KvMode::Overlay(overlay.clone())));
    let mut exec = Execution::new(run, workflow.clone(), Some(start), journal);
    runner.run_segment(&mut exec).await;
    report.steps = exec
        .steps
        .iter()
        .map(|s| DryStep {
            step_id: s.record.step_id.clone(),
            plugin: s.plugin.clone(),
            status: s.record.status.as_str().to_owned(),
            actions: s.actions.clone(),
            output: s.record.output.clone(),
            error: s.record.error.clone(),
            duration_us: s.record.duration_us.max(0) as u64,
        })
        .collect();
    match &exec.end {
        Some(SegmentEnd::Wait(delay)) => report.note = Some(format!("a step failed and would be retried after {} ms", delay.as_millis())),
        Some(SegmentEnd::Finish(RunStatus::Failed, reason)) => report.note = reason.clone().or(Some("the run would fail".into())),
        _ => {}
    }
    report.notifications = exec.notifications.iter().map(|(_, n)| n.clone()).collect();
    if let Some(t) = &exec.ticket {
        let simulated = serde_json::to_value(ticket_from_record(&t.current)).unwrap_or(Value::Null);
        for field in t.touched().iter().filter_map(|f| ticket_field(f)) {
            let would = simulated.get(field).cloned().unwrap_or(Value::Null);
            let actual = current_json.get(field).cloned().unwrap_or(Value::Null);
            let by = last_setter.get(field).cloned().unwrap_or_else(|| "requester".into());
            if would != actual {
                report.differences.push(describe(field, &would, &actual));
            }
            report.would.insert(field.to_owned(), would);
            report.actual.insert(field.to_owned(), ActualValue { value: actual, by });
        }
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
