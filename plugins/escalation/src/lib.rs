//! Switchyard `escalation` plugin (world `full-step`, imports `directory`
//! to find group managers).
//!
//! A ladder of levels per priority (`P1`..`P5`). A level is due when the
//! ticket has been open for `after_minutes` (measured from `created-at` to
//! the step's `context.now`), or when the step runs on an SLA event the
//! level names in `on_sla` (`warning`: on a warning or a breach;
//! `breached`: on a breach). The plugin takes the highest due level; when it
//! is above the ticket's `escalation-level` it proposes:
//!
//! - `escalate { level, group, reason }` (the level's `group`, if any, takes
//!   the ticket over: functional escalation);
//! - `set-priority` one step more urgent, when `raise_priority` is set and
//!   the ticket is not P1 already;
//! - `notify` the level's recipients (including `group_manager`, the
//!   manager of the level's group or else the ticket's group, read from the
//!   directory: hierarchical escalation) and `ci_owner_group` /
//!   `service_owner_group` (from an earlier `cmdb-lookup` output), skipped
//!   when nobody resolves.
//!
//! Nothing happens when the ticket is already at or above the due level,
//! for resolved/closed/cancelled tickets, and (unless `include_pending`)
//! for pending ones. Run it on `sla_warning`/`sla_breached` triggers and on
//! a cron schedule (every few minutes) for the time-based levels.
//!
//! Output: `{"escalated": bool, "level": n|null, "previous_level": n,
//! "elapsed_minutes": n, "reason": "..."}`, plus `"group"` and
//! `"assignment_group"` (the level's hand-over group or null) when it
//! escalated, so a following `assignment` step picks an agent there.

mod bindings {
    #![allow(unsafe_code, missing_docs)]
    wit_bindgen::generate!({ path: "../wit", world: "full-step" });
    use super::Component;
    export!(Component with_types_in crate::bindings);
}

pub use bindings::switchyard::plugin::directory::Group;
pub use bindings::switchyard::plugin::types::{
    Action, Escalation, Json, Notification, PriorityChange, SlaEvent, SlaTarget, Status, StepError, StepInput, StepOutput, StepResult,
    Ticket, Trigger,
};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use switchyard_plugin_kit::{
    RecipientContext, RecipientSpec, Template, format_minutes, format_utc, is_handle, one_line, resolve_recipients,
};

/// The component: implements the exported functions.
pub struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        parse_config(&config).map(|_| ())
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        escalate(&input, &WasmHost)
    }
}

/// What the plugin needs from the host; the component uses the real
/// imports, tests use a fake.
pub trait Host {
    /// `directory.get-group`.
    fn get_group(&self, name: &str) -> Result<Option<Group>, String>;
}

struct WasmHost;

impl Host for WasmHost {
    fn get_group(&self, name: &str) -> Result<Option<Group>, String> {
        bindings::switchyard::plugin::directory::get_group(name)
    }
}

/// Which SLA events make a level due at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSla {
    /// A warning or a breach.
    Warning,
    /// A breach.
    Breached,
}

/// One level of a ladder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// The escalation level (1..=255), increasing along the ladder.
    pub level: u8,
    /// Due when the ticket has been open this long.
    #[serde(default)]
    pub after_minutes: Option<u32>,
    /// Due at once on these SLA events.
    #[serde(default)]
    pub on_sla: Option<OnSla>,
    /// Group that takes the ticket over at this level.
    #[serde(default)]
    pub group: Option<String>,
    /// Who to notify (see the README's recipient list; `group_manager` is
    /// allowed).
    #[serde(default)]
    pub notify: Vec<String>,
}

fn default_subject() -> String {
    "[{{number}}] escalated to level {{level}}: {{title}}".into()
}
fn default_body() -> String {
    "{{number}} ({{priority}}, {{status}}) was escalated to level {{level}}{{group_note}}.\nReason: {{reason}}\nAssignment group: {{assignment_group}}; assignee: {{assignee}}.\n".into()
}
fn email() -> String {
    "email".into()
}

/// The step config (see `config.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ladders keyed `P1`..`P5`; a priority without a ladder never escalates.
    pub ladders: BTreeMap<String, Vec<Level>>,
    /// Also raise the priority one step per escalation.
    #[serde(default)]
    pub raise_priority: bool,
    /// Escalate pending tickets too.
    #[serde(default)]
    pub include_pending: bool,
    /// Notification channel.
    #[serde(default = "email")]
    pub channel: String,
    /// Notification subject template.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// Notification body template.
    #[serde(default = "default_body")]
    pub body: String,
}

/// Placeholders the escalation templates may use.
pub const PLACEHOLDERS: [&str; 14] = [
    "number",
    "title",
    "priority",
    "status",
    "level",
    "previous_level",
    "group",
    "group_note",
    "assignment_group",
    "assignee",
    "requester",
    "elapsed",
    "reason",
    "now",
];

/// A checked config.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Raw config.
    pub config: Config,
    /// Parsed recipients per ladder key and level index.
    pub recipients: BTreeMap<(String, usize), Vec<RecipientSpec>>,
    /// Subject template.
    pub subject: Template,
    /// Body template.
    pub body: Template,
}

/// Parses and checks a config text, reporting every problem found.
pub fn parse_config(text: &str) -> Result<Checked, Vec<String>> {
    let config: Config = switchyard_plugin_kit::parse_object(text)?;
    let mut errors = Vec::new();
    let mut recipients = BTreeMap::new();
    if config.ladders.is_empty() {
        errors.push("ladders: give a ladder for at least one priority".to_string());
    }
    for (key, ladder) in &config.ladders {
        if !matches!(key.as_str(), "P1" | "P2" | "P3" | "P4" | "P5") {
            errors.push(format!("ladders: `{key}` is not one of P1..P5"));
        }
        if ladder.is_empty() {
            errors.push(format!("ladders.{key}: give at least one level"));
        }
        let mut last: Option<&Level> = None;
        for (i, l) in ladder.iter().enumerate() {
            let at = format!("ladders.{key}[{i}]");
            if l.level == 0 {
                errors.push(format!("{at}.level: must be at least 1"));
            }
            if l.after_minutes.is_none() && l.on_sla.is_none() {
                errors.push(format!("{at}: give after_minutes and/or on_sla"));
            }
            if let Some(prev) = last {
                if l.level <= prev.level {
                    errors.push(format!("{at}.level: levels must increase along the ladder"));
                }
                if let (Some(a), Some(b)) = (prev.after_minutes, l.after_minutes)
                    && b < a
                {
                    errors.push(format!("{at}.after_minutes: must not be less than the previous level's"));
                }
            }
            if let Some(g) = &l.group
                && !is_handle(g)
            {
                errors.push(format!("{at}.group: `{g}` is not a valid group name"));
            }
            let mut specs = Vec::new();
            for r in &l.notify {
                match RecipientSpec::parse(r) {
                    Ok(s) => specs.push(s),
                    Err(e) => errors.push(format!("{at}.notify: {e}")),
                }
            }
            recipients.insert((key.clone(), i), specs);
            last = Some(l);
        }
    }
    let channel_ok =
        !config.channel.is_empty() && config.channel.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !channel_ok {
        errors.push(format!("channel: `{}` is not a channel name", config.channel));
    }
    let subject = Template::parse(&config.subject, &PLACEHOLDERS).map_err(|e| format!("subject: {e}"));
    let body = Template::parse(&config.body, &PLACEHOLDERS).map_err(|e| format!("body: {e}"));
    match (subject, body) {
        (Ok(subject), Ok(body)) if errors.is_empty() => Ok(Checked { config, recipients, subject, body }),
        (s, b) => {
            errors.extend(s.err().into_iter().chain(b.err()));
            Err(errors)
        }
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Assigned => "assigned",
        Status::InProgress => "in progress",
        Status::Pending => "pending",
        Status::Resolved => "resolved",
        Status::Closed => "closed",
        Status::Cancelled => "cancelled",
    }
}

fn sla_due(on: Option<OnSla>, trigger: &Trigger) -> bool {
    matches!(
        (on, trigger),
        (Some(OnSla::Warning), Trigger::SlaWarning(_) | Trigger::SlaBreached(_)) | (Some(OnSla::Breached), Trigger::SlaBreached(_))
    )
}

fn target_name(e: &SlaEvent) -> &'static str {
    match e.target {
        SlaTarget::Response => "response",
        SlaTarget::Resolution => "resolution",
    }
}

/// The owner groups of the CI and of the service from the latest earlier
/// output with a `ci` or `service` object (normally `cmdb-lookup`'s).
pub fn owner_groups(previous: &[StepOutput]) -> (Option<String>, Option<String>) {
    let cmdb = switchyard_plugin_kit::CmdbObjects::latest(previous.iter().map(|p| p.output.as_str()));
    (cmdb.ci_str("owner_group"), cmdb.service_str("owner_group"))
}

/// `run`: proposes the escalation that is due, if any.
pub fn escalate(input: &StepInput, host: &dyn Host) -> Result<StepResult, StepError> {
    let checked = parse_config(&input.config).map_err(|e| StepError::InvalidConfig(e.join("; ")))?;
    let config = &checked.config;
    let quiet = |reason: &str, previous: Option<u8>, elapsed: Option<i64>| {
        Ok(StepResult {
            actions: vec![],
            output: json!({"escalated": false, "level": null, "previous_level": previous,
                           "elapsed_minutes": elapsed, "reason": reason})
            .to_string(),
            next_step: None,
        })
    };
    let Some(ticket) = &input.ticket else {
        return quiet("no ticket", None, None);
    };
    let previous = ticket.escalation_level;
    let elapsed = (input.context.now.saturating_sub(ticket.created_at) / 60_000).max(0);
    match ticket.status {
        Status::Resolved | Status::Closed | Status::Cancelled => {
            return quiet("ticket is no longer open", Some(previous), Some(elapsed));
        }
        Status::Pending if !config.include_pending => {
            return quiet("ticket is pending", Some(previous), Some(elapsed));
        }
        _ => {}
    }
    let key = format!("P{}", ticket.priority);
    let Some(ladder) = config.ladders.get(&key) else {
        return quiet(&format!("no ladder for {key}"), Some(previous), Some(elapsed));
    };
    let due = ladder
        .iter()
        .enumerate()
        .filter(|(_, l)| l.after_minutes.is_some_and(|m| elapsed >= i64::from(m)) || sla_due(l.on_sla, &input.trigger))
        .max_by_key(|(_, l)| l.level);
    let Some((index, level)) = due else {
        return quiet("no level is due yet", Some(previous), Some(elapsed));
    };
    if level.level <= previous {
        return quiet(&format!("already at level {previous}"), Some(previous), Some(elapsed));
    }

    let reason = match &input.trigger {
        Trigger::SlaBreached(e) if sla_due(level.on_sla, &input.trigger) => {
            format!("{key} {} SLA target breached ({}%)", target_name(e), e.percent)
        }
        Trigger::SlaWarning(e) if sla_due(level.on_sla, &input.trigger) => {
            format!("{key} {} SLA target at {}%", target_name(e), e.percent)
        }
        _ => format!(
            "{key} incident open for {} (level {} is due after {})",
            format_minutes(elapsed),
            level.level,
            format_minutes(i64::from(level.after_minutes.unwrap_or(0)))
        ),
    };
    let mut actions = vec![Action::Escalate(Escalation { level: level.level, group: level.group.clone(), reason: reason.clone() })];
    let mut new_priority = ticket.priority;
    if config.raise_priority && ticket.priority > 1 {
        new_priority = ticket.priority - 1;
        actions.push(Action::SetPriority(PriorityChange {
            priority: new_priority,
            reason: format!("Escalated to level {}: {reason}", level.level),
        }));
    }

    let specs = checked.recipients.get(&(key.clone(), index)).cloned().unwrap_or_default();
    let responsible = level.group.clone().or_else(|| ticket.assignment_group.clone());
    let manager = match (&responsible, specs.contains(&RecipientSpec::GroupManager)) {
        (Some(g), true) => host
            .get_group(g)
            .map_err(|e| StepError::Retryable(format!("directory lookup of group {g} failed: {e}")))?
            .and_then(|g| g.manager),
        _ => None,
    };
    let owners = owner_groups(&input.previous);
    let cx = RecipientContext {
        requester: &ticket.requester,
        assignee: ticket.assignee.as_deref(),
        assignment_group: responsible.as_deref(),
        watchers: &ticket.watchers,
        ci_owner_group: owners.0.as_deref(),
        service_owner_group: owners.1.as_deref(),
        group_manager: manager.as_deref(),
    };
    let recipients = resolve_recipients(&specs, &cx);
    if !recipients.is_empty() {
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("number", ticket.number.clone());
        vars.insert("title", ticket.title.clone());
        vars.insert("priority", format!("P{new_priority}"));
        vars.insert("status", status_name(ticket.status).into());
        vars.insert("level", level.level.to_string());
        vars.insert("previous_level", previous.to_string());
        if let Some(g) = &level.group {
            vars.insert("group", g.clone());
            vars.insert("group_note", format!(" and handed over to {g}"));
        }
        if let Some(g) = &responsible {
            vars.insert("assignment_group", g.clone());
        }
        if let Some(a) = &ticket.assignee {
            vars.insert("assignee", a.clone());
        }
        vars.insert("requester", ticket.requester.clone());
        vars.insert("elapsed", format_minutes(elapsed));
        vars.insert("reason", reason.clone());
        vars.insert("now", format_utc(input.context.now));
        actions.push(Action::Notify(Notification {
            channel: config.channel.clone(),
            recipients,
            subject: one_line(&checked.subject.render(&vars)),
            body: checked.body.render(&vars),
        }));
    }
    Ok(StepResult {
        actions,
        output: json!({
            "escalated": true,
            "level": level.level,
            "previous_level": previous,
            "elapsed_minutes": elapsed,
            "group": level.group,
            "assignment_group": level.group,
            "reason": reason,
        })
        .to_string(),
        next_step: None,
    })
}

#[cfg(test)]
mod tests;
