//! What the templates show: records turned into display strings (labels,
//! times, badges), so templates hold no logic beyond loops and ifs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard_domain::incident::{PendingReason, ResolutionCode, Status};
use switchyard_domain::sla::ClockState;
use switchyard_store::{ActorKind, EventRecord, IncidentRecord, Principal, StoredClock, Visibility};

use super::assets;
use crate::error::{ApiError, ErrorDetail};

/// What every page's frame needs: who is signed in, the form token, the
/// asset URLs and where the person is.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The signed-in person, if any.
    pub user: Option<Principal>,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// Stylesheet URL.
    pub css: String,
    /// Our script's URL.
    pub js: String,
    /// htmx's URL.
    pub htmx: String,
    /// Which section the page belongs to (`console`, `portal`, `login`).
    pub section: &'static str,
    /// The page title.
    pub title: String,
    /// The search text, echoed into the header's search box.
    pub search: String,
}

impl Layout {
    /// A frame for a page.
    pub fn new(user: Option<Principal>, csrf: String, section: &'static str, title: impl Into<String>) -> Self {
        Self {
            user,
            csrf,
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            htmx: assets::url("htmx.min.js"),
            section,
            title: title.into(),
            search: String::new(),
        }
    }

    /// A frame for a signed-in person's page; the form token comes from the
    /// request's session.
    pub fn signed_in(user: &Principal, headers: &axum::http::HeaderMap, section: &'static str, title: impl Into<String>) -> Self {
        Self::new(Some(user.clone()), super::csrf_token(headers).unwrap_or_default(), section, title)
    }

    /// Whether the signed-in person works tickets.
    pub fn is_agent(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.is_agent())
    }

    /// The signed-in username, or "".
    pub fn username(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.username.as_str())
    }
}

/// Field errors of a failed form, by field, with the API's rule names.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    /// The error's sentence (shown at the top of the form).
    pub summary: Option<String>,
    /// Which fields broke which rules.
    pub details: Vec<ErrorDetail>,
    /// Which form on the page failed (a page may have several).
    pub form: String,
}

impl FormErrors {
    /// The errors of `error` for the form named `form`.
    pub fn of(form: &str, error: &ApiError) -> Self {
        Self { summary: Some(error.message.clone()), details: error.details.clone(), form: form.to_owned() }
    }

    /// The message for `field` in form `form`, if it failed.
    pub fn get(&self, form: &str, field: &str) -> Option<String> {
        if self.form != form {
            return None;
        }
        self.details.iter().find(|d| d.field == field).map(|d| format!("{} ({})", d.message, d.rule))
    }

    /// The summary, when `form` failed.
    pub fn summary_for(&self, form: &str) -> Option<&str> {
        if self.form == form { self.summary.as_deref() } else { None }
    }
}

/// A status as people read it.
pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::New => "New",
        Status::Assigned => "Assigned",
        Status::InProgress => "In progress",
        Status::Pending => "Pending",
        Status::Resolved => "Resolved",
        Status::Closed => "Closed",
        Status::Cancelled => "Cancelled",
    }
}

/// What a transition button says.
pub fn transition_label(from: Status, to: Status) -> &'static str {
    match to {
        Status::Assigned if from == Status::Resolved => "Reopen (to the group)",
        Status::InProgress if from == Status::Resolved => "Reopen",
        Status::Assigned => "Back to assigned",
        Status::InProgress => "Start work",
        Status::Pending => "Put on hold",
        Status::Resolved => "Resolve",
        Status::Closed => "Close",
        Status::Cancelled => "Cancel",
        Status::New => "New",
    }
}

/// A pending reason as people read it.
pub fn pending_label(reason: PendingReason) -> &'static str {
    match reason {
        PendingReason::AwaitingRequester => "Awaiting requester",
        PendingReason::AwaitingVendor => "Awaiting vendor",
        PendingReason::AwaitingChange => "Awaiting change",
        PendingReason::AwaitingProblem => "Awaiting problem",
        PendingReason::Scheduled => "Scheduled",
    }
}

/// A resolution code as people read it.
pub fn resolution_label(code: ResolutionCode) -> String {
    let s = code.as_str().replace('_', " ");
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A time as people read it (UTC).
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration as people read it: `3d 4h`, `2h 5m`, `12m`, `40s`.
pub fn span(seconds: i64) -> String {
    let s = seconds.abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// An incident for display.
#[derive(Debug, Clone)]
pub struct IncidentView {
    /// `INC-000123`.
    pub number: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Requester username.
    pub requester: String,
    /// Intake channel.
    pub channel: String,
    /// Category or "".
    pub category: String,
    /// Subcategory or "".
    pub subcategory: String,
    /// Service CI id.
    pub service_id: Option<i64>,
    /// Affected CI ids.
    pub affected_cis: Vec<i64>,
    /// 1..3.
    pub impact: u8,
    /// 1..3.
    pub urgency: u8,
    /// `P2`.
    pub priority: String,
    /// Why overridden, or "".
    pub override_reason: String,
    /// Status name (`in_progress`), for CSS.
    pub status_name: &'static str,
    /// Status label.
    pub status_label: &'static str,
    /// Pending reason label or "".
    pub pending_reason: String,
    /// Group name or "".
    pub group: String,
    /// Assignee username or "".
    pub assignee: String,
    /// Escalation level.
    pub escalation_level: u8,
    /// Resolution code label or "".
    pub resolution_code: String,
    /// Resolution notes or "".
    pub resolution_notes: String,
    /// Custom fields (pretty JSON) or "".
    pub custom_fields: String,
    /// Created.
    pub created_at: String,
    /// Created (RFC 3339, for `<time>`).
    pub created_iso: String,
    /// Updated.
    pub updated_at: String,
    /// Updated (RFC 3339).
    pub updated_iso: String,
    /// Resolved or "".
    pub resolved_at: String,
    /// Closed or "".
    pub closed_at: String,
    /// Version.
    pub version: i64,
}

impl From<&IncidentRecord> for IncidentView {
    fn from(r: &IncidentRecord) -> Self {
        let i = &r.incident;
        let custom = match &i.custom_fields {
            Value::Object(m) if m.is_empty() => String::new(),
            v => serde_json::to_string_pretty(v).unwrap_or_default(),
        };
        Self {
            number: i.display_number(),
            title: i.title.clone(),
            description: i.description.clone(),
            requester: r.requester.clone(),
            channel: i.channel.as_str().to_owned(),
            category: i.category.clone().unwrap_or_default(),
            subcategory: i.subcategory.clone().unwrap_or_default(),
            service_id: i.service_id,
            affected_cis: i.affected_ci_ids.clone(),
            impact: i.impact.get(),
            urgency: i.urgency.get(),
            priority: i.priority.to_string(),
            override_reason: i.priority_override_reason.clone().unwrap_or_default(),
            status_name: i.status.as_str(),
            status_label: status_label(i.status),
            pending_reason: i.pending_reason.map(|p| pending_label(p).to_owned()).unwrap_or_default(),
            group: r.assignment_group.clone().unwrap_or_default(),
            assignee: r.assignee.clone().unwrap_or_default(),
            escalation_level: i.escalation_level,
            resolution_code: i.resolution_code.map(resolution_label).unwrap_or_default(),
            resolution_notes: i.resolution_notes.clone().unwrap_or_default(),
            custom_fields: custom,
            created_at: when(i.created_at),
            created_iso: i.created_at.to_rfc3339(),
            updated_at: when(i.updated_at),
            updated_iso: i.updated_at.to_rfc3339(),
            resolved_at: i.resolved_at.map(when).unwrap_or_default(),
            closed_at: i.closed_at.map(when).unwrap_or_default(),
            version: i.version,
        }
    }
}

/// An SLA badge: text and a state class (`ok`, `warn`, `breached`, `paused`).
#[derive(Debug, Clone)]
pub struct Badge {
    /// What it says.
    pub text: String,
    /// CSS state.
    pub class: &'static str,
}

/// The most urgent clock of an incident as a badge; none when every clock
/// is met or cancelled.
pub fn sla_badge(clocks: &[&StoredClock], now: DateTime<Utc>) -> Option<Badge> {
    if let Some(c) = clocks.iter().find(|c| c.state == ClockState::Breached) {
        return Some(Badge { text: format!("{} breached", c.target.as_str()), class: "breached" });
    }
    let running = clocks.iter().filter(|c| c.state == ClockState::Running).filter_map(|c| c.due_at.map(|d| (c, d))).min_by_key(|(_, d)| *d);
    if let Some((c, due)) = running {
        let left = (due - now).num_seconds();
        if left <= 0 {
            return Some(Badge { text: format!("{} overdue", c.target.as_str()), class: "breached" });
        }
        let used = if c.duration.num_seconds() > 0 { c.elapsed.num_seconds() * 100 / c.duration.num_seconds() } else { 0 };
        let class = if used >= 75 { "warn" } else { "ok" };
        return Some(Badge { text: format!("{} in {}", c.target.as_str(), span(left)), class });
    }
    clocks.iter().find(|c| c.state == ClockState::Paused).map(|c| Badge { text: format!("{} paused", c.target.as_str()), class: "paused" })
}

/// A file on an incident, as its pages list it.
#[derive(Debug, Clone)]
pub struct AttachmentView {
    /// Where to download it.
    pub href: String,
    /// File name.
    pub filename: String,
    /// Type and size, for people.
    pub about: String,
}

impl From<&switchyard_store::AttachmentRecord> for AttachmentView {
    fn from(a: &switchyard_store::AttachmentRecord) -> Self {
        AttachmentView {
            href: format!("/attachments/{}", a.id),
            filename: a.filename.clone(),
            about: format!("{}, {}", a.content_type, crate::app::attachments::size(a.size)),
        }
    }
}

/// One entry of the history timeline.
#[derive(Debug, Clone)]
pub struct EventView {
    /// When.
    pub at: String,
    /// When (RFC 3339).
    pub iso: String,
    /// Who, as people read it.
    pub who: String,
    /// `person`, `workflow`, `system`, `channel` or `sla`.
    pub who_kind: &'static str,
    /// What happened, one line.
    pub what: String,
    /// A comment, note or reason, if any.
    pub body: String,
    /// An internal work note (never shown to requesters).
    pub internal: bool,
    /// A comment or work note (shown as a message).
    pub is_note: bool,
}

fn show(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        let who_kind = match e.actor.kind {
            ActorKind::User => "person",
            ActorKind::Workflow => "workflow",
            ActorKind::Channel => "channel",
            ActorKind::System if e.actor.name.contains("sla") => "sla",
            ActorKind::System => "system",
        };
        let kind = e.kind.to_string();
        let what = match kind.as_str() {
            "created" => "logged the incident".to_owned(),
            "comment" => "commented".to_owned(),
            "work_note" => "added a work note".to_owned(),
            "status_changed" => format!("changed the status from {} to {}", show(&e.old_value), show(&e.new_value)),
            "field_changed" => format!(
                "changed {} from {} to {}",
                e.field.as_deref().unwrap_or("a field").replace('_', " "),
                show(&e.old_value),
                show(&e.new_value)
            ),
            "paged" => e.body.as_deref().map_or_else(|| "paged someone".to_owned(), |b| b.replacen("Paged", "paged", 1)),
            "acknowledged" => "acknowledged the incident".to_owned(),
            other => other.replace('_', " "),
        };
        Self {
            at: when(e.created_at),
            iso: e.created_at.to_rfc3339(),
            who: e.actor.name.clone(),
            who_kind,
            what,
            body: e.body.clone().unwrap_or_default(),
            internal: e.visibility == Visibility::Internal,
            is_note: matches!(kind.as_str(), "comment" | "work_note"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        for (secs, text) in [(40, "40s"), (60, "1m"), (3_900, "1h 5m"), (90_000, "1d 1h"), (-120, "2m")] {
            assert_eq!(span(secs), text);
        }
    }
}
