//! The host-side model of the plugin contract: plain serde types mirroring
//! the WIT records, used by the engine and for persistence. Conversions to
//! and from the `bindgen!` types live in the private `bindings` module.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lifecycle status, intake channel and SLA target are the domain's own
/// types (their serde names are the contract's spelling), so the vocabulary
/// exists once.
pub use switchyard_domain::incident::{Channel, Status};
pub use switchyard_domain::sla::SlaTarget;

/// A snapshot of an incident as a plugin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Human number, e.g. `INC-000123`.
    pub number: String,
    /// Short title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Username of the requester.
    pub requester: String,
    /// Intake channel.
    pub channel: Channel,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Subcategory.
    #[serde(default)]
    pub subcategory: Option<String>,
    /// Business service CI id.
    #[serde(default)]
    pub service: Option<u64>,
    /// Affected CI ids.
    #[serde(default)]
    pub affected_cis: Vec<u64>,
    /// 1 (high) .. 3 (low).
    pub impact: u8,
    /// 1 (high) .. 3 (low).
    pub urgency: u8,
    /// 1 (P1) .. 5 (P5).
    pub priority: u8,
    /// Lifecycle status.
    pub status: Status,
    /// Why the incident is pending.
    #[serde(default)]
    pub pending_reason: Option<String>,
    /// Assignment group name.
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// Assignee username.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Escalation level, 0 when not escalated.
    #[serde(default)]
    pub escalation_level: u8,
    /// Watcher usernames.
    #[serde(default)]
    pub watchers: Vec<String>,
    /// Creation instant, Unix epoch milliseconds.
    pub created_at: i64,
    /// Last update instant, Unix epoch milliseconds.
    pub updated_at: i64,
    /// Custom fields, a JSON object.
    #[serde(default = "empty_object")]
    pub custom_fields: Value,
    /// `incident`, `request`, `problem` or `change`. Not part of the WIT
    /// `ticket` record (widening it would break the 0.1 contract): plugins
    /// read the kind from the number's prefix; workflow conditions test it.
    #[serde(default = "incident_kind")]
    pub kind: String,
    /// Links to other tickets as this one sees them (conditions test them;
    /// plugins call `tickets.links`).
    #[serde(default)]
    pub links: Vec<TicketLink>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn incident_kind() -> String {
    "incident".into()
}

/// A link from a ticket to another, as the first sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLink {
    /// `caused_by`, `resolved_by`, `created_from` or `parent`, as written
    /// from the link's source.
    #[serde(rename = "type")]
    pub link_type: String,
    /// `source` when this ticket wrote the link, `target` when it points here.
    pub end: String,
    /// The other ticket's number, e.g. `PRB-000004`.
    pub number: String,
    /// The other ticket's kind.
    pub kind: String,
}

/// An SLA warning or breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEvent {
    /// The target concerned.
    pub target: SlaTarget,
    /// Share of business time elapsed, in percent.
    pub percent: u16,
    /// Due instant, Unix epoch milliseconds.
    pub due_at: i64,
}

/// A cron schedule firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronTick {
    /// The cron expression.
    pub schedule: String,
    /// The scheduled instant, Unix epoch milliseconds.
    pub scheduled_at: i64,
}

/// Why a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Trigger {
    /// A ticket was created.
    TicketCreated,
    /// A ticket was updated; the changed field names.
    TicketUpdated(Vec<String>),
    /// An SLA warning threshold passed.
    SlaWarning(SlaEvent),
    /// An SLA target was breached.
    SlaBreached(SlaEvent),
    /// A cron schedule fired.
    Cron(CronTick),
    /// Started by hand by this username.
    Manual(String),
    /// Started by this inbound channel.
    InboundChannel(String),
}

impl Trigger {
    /// Parses a trigger given on a command line: a JSON document
    /// (`{"type":"manual","value":"alice"}`) or a short form:
    /// `ticket-created`, `ticket-updated:status,priority`, `manual:alice`,
    /// `inbound-channel:support@example.com`.
    pub fn parse_cli(text: &str) -> Result<Trigger, String> {
        let text = text.trim();
        if text.starts_with('{') {
            return serde_json::from_str(text).map_err(|e| format!("trigger: {e}"));
        }
        let (name, arg) = text.split_once(':').unwrap_or((text, ""));
        match name {
            "ticket-created" | "ticket_created" => Ok(Trigger::TicketCreated),
            "ticket-updated" | "ticket_updated" => {
                Ok(Trigger::TicketUpdated(arg.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect()))
            }
            "manual" => Ok(Trigger::Manual(arg.to_string())),
            "inbound-channel" | "inbound_channel" => Ok(Trigger::InboundChannel(arg.to_string())),
            other => Err(format!(
                "trigger: unknown `{other}` (use ticket-created, ticket-updated:<fields>, manual:<user>, inbound-channel:<name> or JSON)"
            )),
        }
    }
}

/// Where in a workflow run the step is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepContext {
    /// Workflow id.
    pub workflow_id: String,
    /// Workflow version.
    pub workflow_version: u32,
    /// Run id.
    pub run_id: String,
    /// Step id.
    pub step_id: String,
    /// Attempt number, 1 for the first.
    pub attempt: u32,
    /// Deadline instant, Unix epoch milliseconds (the host fills it in).
    pub deadline: i64,
    /// Host clock at step start, Unix epoch milliseconds.
    pub now: i64,
}

/// The output of an earlier step of the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// The earlier step's id.
    pub step_id: String,
    /// Its output JSON.
    pub output: Value,
}

/// Everything a step receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    /// Run and step coordinates.
    pub context: StepContext,
    /// Why the step runs.
    pub trigger: Trigger,
    /// The ticket, absent for cron runs that are not about one ticket.
    pub ticket: Option<Ticket>,
    /// The step's (validated) config.
    pub config: Value,
    /// Outputs of earlier steps, in execution order.
    #[serde(default)]
    pub previous: Vec<StepOutput>,
}

/// Set a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    /// Field name (custom field or `category`, `subcategory`, `title`,
    /// `impact`, `urgency`, `service`).
    pub field: String,
    /// The new value.
    pub value: Value,
}

/// Override the matrix priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityChange {
    /// 1 .. 5.
    pub priority: u8,
    /// Why, recorded in the history.
    pub reason: String,
}

/// Move the incident to another status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Target status.
    pub status: Status,
    /// Pending reason or resolution code.
    pub reason: Option<String>,
}

/// A message for the notification outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// `email`, `webhook`...
    pub channel: String,
    /// Usernames, `group:<name>` or channel addresses.
    pub recipients: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
}

/// Raise the escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// New escalation level.
    pub level: u8,
    /// Group to hand over to.
    pub group: Option<String>,
    /// Why.
    pub reason: String,
}

/// A change a plugin proposes; the engine decides whether to apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Set a field.
    SetField(FieldValue),
    /// Override the priority.
    SetPriority(PriorityChange),
    /// Change the status.
    SetStatus(StatusChange),
    /// Assign a group.
    AssignGroup {
        /// Group name.
        group: String,
    },
    /// Assign an agent.
    AssignUser {
        /// Username.
        user: String,
    },
    /// Add an internal work note.
    AddWorkNote {
        /// Note text.
        text: String,
    },
    /// Add a comment visible to the requester.
    AddComment {
        /// Comment text.
        text: String,
    },
    /// Link a configuration item.
    LinkCi {
        /// CI id.
        ci: u64,
    },
    /// Queue a notification.
    Notify(Notification),
    /// Escalate.
    Escalate(Escalation),
}

/// What a successful step returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Proposed actions.
    pub actions: Vec<Action>,
    /// JSON passed to later steps.
    pub output: Value,
    /// Step to run next; `None` means the following one.
    pub next_step: Option<String>,
}

/// Why a step failed, as reported by the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum StepError {
    /// The config is wrong; retrying will not help.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// Transient; retry per the step's policy.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Permanent for this input.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// A configuration item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    /// CI id.
    pub id: u64,
    /// Class (`service`, `server`...).
    pub class: String,
    /// Name.
    pub name: String,
    /// Operational status.
    pub status: String,
    /// Owning group.
    #[serde(default)]
    pub owner_group: Option<String>,
    /// Further attributes.
    #[serde(default = "empty_object")]
    pub attributes: Value,
}

/// Direction of a CI relationship walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiDirection {
    /// What the CI depends on.
    Upstream,
    /// What depends on the CI.
    Downstream,
}

/// A CI reached by a relationship walk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedCi {
    /// The CI.
    pub ci: Ci,
    /// Relationship kind.
    pub relation: String,
    /// 1 for a direct neighbour.
    pub depth: u32,
}

/// A ticket search.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketQuery {
    /// Status filter.
    pub status: Option<Status>,
    /// Group filter.
    pub assignment_group: Option<String>,
    /// Assignee filter.
    pub assignee: Option<String>,
    /// Requester filter.
    pub requester: Option<String>,
    /// Maximum results.
    pub limit: u32,
}

/// An assignment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Group email.
    #[serde(default)]
    pub email: Option<String>,
    /// Manager username.
    #[serde(default)]
    pub manager: Option<String>,
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// On shift now.
    #[serde(default)]
    pub on_shift: bool,
    /// Open incidents assigned.
    #[serde(default)]
    pub open_tickets: u32,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
}

/// Log level of a plugin log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// One captured log record of a step (log interface or stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Level (`info` for stdout, `warn` for stderr).
    pub level: LogLevel,
    /// The message.
    pub message: String,
}
