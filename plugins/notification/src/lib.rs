//! Switchyard `notification` plugin (world `pure-step`).
//!
//! Rules per trigger kind produce `notify` actions. Every rule whose `on`
//! list names the current event (and whose optional filters match) sends one
//! message; recipients are resolved from the ticket and deduplicated, and a
//! rule whose recipients resolve to nobody is skipped.
//!
//! Events: `created`; `updated` (any update, narrowed by `fields`);
//! `status_changed`, `assigned`, `escalated`, `priority_changed`,
//! `resolved`, `closed` (derived from an update's changed
//! fields and the ticket's status); `sla_warning`, `sla_breached`;
//! `manual`, `cron`, `inbound`.
//!
//! Recipients: `requester`, `assignee`, `assignment_group` (as
//! `group:<name>`), `watchers`, `ci_owner_group` and `service_owner_group`
//! (read from an earlier `cmdb-lookup` step's output: `ci.owner_group`,
//! `service.owner_group`), `user:<name>`, `group:<name>`, `address:<addr>`
//! or an email address. (`group_manager` needs the directory, which this
//! pure step cannot read; it is rejected here.)
//!
//! Templates use `{{placeholder}}`; see [`PLACEHOLDERS`]. Unknown
//! placeholders are a config error.

mod bindings {
    #![allow(unsafe_code, missing_docs)]
    wit_bindgen::generate!({ path: "../wit", world: "pure-step" });
    use super::Component;
    export!(Component with_types_in crate::bindings);
}

pub use bindings::switchyard::plugin::types::{
    Action, Channel, Json, Notification, SlaEvent, SlaTarget, Status, StepError, StepInput, StepOutput, StepResult, Ticket, Trigger,
};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use switchyard_plugin_kit::{RecipientContext, RecipientSpec, Template, one_line, resolve_recipients};

/// The component: implements the exported `pure-step` functions.
pub struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        parse_config(&config).map(|_| ())
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        notify(&input)
    }
}

/// Event names a rule can react to.
pub const EVENTS: [&str; 13] = [
    "created",
    "updated",
    "status_changed",
    "assigned",
    "escalated",
    "priority_changed",
    "resolved",
    "closed",
    "sla_warning",
    "sla_breached",
    "manual",
    "cron",
    "inbound",
];

/// Placeholders a template may use. Values missing for the event render
/// empty.
pub const PLACEHOLDERS: [&str; 30] = [
    "number",
    "title",
    "description",
    "priority",
    "priority_number",
    "impact",
    "urgency",
    "status",
    "pending_reason",
    "category",
    "subcategory",
    "service",
    "service_name",
    "ci_name",
    "ci_class",
    "assignment_group",
    "assignee",
    "requester",
    "channel",
    "escalation_level",
    "watchers",
    "created_at",
    "updated_at",
    "now",
    "event",
    "changed_fields",
    "sla_target",
    "sla_percent",
    "sla_due_at",
    "workflow_id",
];

fn email() -> String {
    "email".into()
}

/// One notification rule as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Rule name (for the output and errors).
    pub name: String,
    /// Events the rule reacts to.
    pub on: Vec<String>,
    /// For `updated`: only when one of these fields changed.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Only when the ticket's status is one of these.
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    /// Only for this priority and more urgent ones (2: P1 and P2).
    #[serde(default)]
    pub max_priority: Option<u8>,
    /// Who gets the message.
    pub recipients: Vec<String>,
    /// Delivery channel (overrides the config's `channel`).
    #[serde(default)]
    pub channel: Option<String>,
    /// Subject template.
    pub subject: String,
    /// Body template.
    pub body: String,
}

/// The step config (see `config.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigText {
    /// Default delivery channel (`email`).
    #[serde(default = "email")]
    pub channel: String,
    /// The rules; every matching rule sends a message.
    pub rules: Vec<RuleConfig>,
}

/// A checked rule with parsed templates and recipients.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule name.
    pub name: String,
    /// Events.
    pub on: Vec<String>,
    /// Changed-field filter for `updated`.
    pub fields: Option<Vec<String>>,
    /// Status filter (wire names).
    pub statuses: Option<Vec<String>>,
    /// Priority ceiling.
    pub max_priority: Option<u8>,
    /// Recipients.
    pub recipients: Vec<RecipientSpec>,
    /// Channel.
    pub channel: String,
    /// Subject.
    pub subject: Template,
    /// Body.
    pub body: Template,
}

const STATUSES: [&str; 7] = ["new", "assigned", "in_progress", "pending", "resolved", "closed", "cancelled"];

/// Parses and checks a config text, reporting every problem found.
pub fn parse_config(text: &str) -> Result<Vec<Rule>, Vec<String>> {
    let config: ConfigText = switchyard_plugin_kit::parse_object(text)?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    if config.rules.is_empty() {
        errors.push("rules: give at least one rule".to_string());
    }
    let channel_ok = |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !channel_ok(&config.channel) {
        errors.push(format!("channel: `{}` is not a channel name", config.channel));
    }
    for (i, r) in config.rules.into_iter().enumerate() {
        let at = format!("rules[{i}] ({})", r.name);
        if r.name.trim().is_empty() {
            errors.push(format!("rules[{i}].name: must not be empty"));
        }
        if r.on.is_empty() {
            errors.push(format!("{at}.on: name at least one event"));
        }
        for e in &r.on {
            if !EVENTS.contains(&e.as_str()) {
                errors.push(format!("{at}.on: `{e}` is not one of {}", EVENTS.join(", ")));
            }
        }
        if let Some(f) = &r.fields {
            if f.is_empty() {
                errors.push(format!("{at}.fields: must not be an empty list"));
            }
            if !r.on.iter().any(|e| e == "updated") {
                errors.push(format!("{at}.fields: only applies to the `updated` event"));
            }
        }
        for s in r.statuses.iter().flatten() {
            if !STATUSES.contains(&s.as_str()) {
                errors.push(format!("{at}.statuses: `{s}` is not one of {}", STATUSES.join(", ")));
            }
        }
        if let Some(p) = r.max_priority
            && !(1..=5).contains(&p)
        {
            errors.push(format!("{at}.max_priority: {p} is not in 1..5"));
        }
        if r.recipients.is_empty() {
            errors.push(format!("{at}.recipients: name at least one recipient"));
        }
        let mut recipients = Vec::new();
        for s in &r.recipients {
            match RecipientSpec::parse(s) {
                Ok(RecipientSpec::GroupManager) => {
                    errors.push(format!("{at}.recipients: `group_manager` needs the directory; use the escalation plugin"))
                }
                Ok(spec) => recipients.push(spec),
                Err(e) => errors.push(format!("{at}.recipients: {e}")),
            }
        }
        let channel = r.channel.unwrap_or_else(|| config.channel.clone());
        if !channel_ok(&channel) {
            errors.push(format!("{at}.channel: `{channel}` is not a channel name"));
        }
        let subject = Template::parse(&r.subject, &PLACEHOLDERS).map_err(|e| format!("{at}.subject: {e}"));
        let body = Template::parse(&r.body, &PLACEHOLDERS).map_err(|e| format!("{at}.body: {e}"));
        if r.subject.trim().is_empty() {
            errors.push(format!("{at}.subject: must not be empty"));
        }
        match (subject, body) {
            (Ok(subject), Ok(body)) => rules.push(Rule {
                name: r.name,
                on: r.on,
                fields: r.fields,
                statuses: r.statuses,
                max_priority: r.max_priority,
                recipients,
                channel,
                subject,
                body,
            }),
            (s, b) => errors.extend(s.err().into_iter().chain(b.err())),
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(errors) }
}

/// The wire name of a status (`in_progress`...).
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Assigned => "assigned",
        Status::InProgress => "in_progress",
        Status::Pending => "pending",
        Status::Resolved => "resolved",
        Status::Closed => "closed",
        Status::Cancelled => "cancelled",
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Portal => "portal",
        Channel::Email => "email",
        Channel::Api => "api",
        Channel::Alert => "alert",
        Channel::Phone => "phone",
        Channel::Chat => "chat",
    }
}

/// The events the trigger stands for, given the ticket.
pub fn events(trigger: &Trigger, ticket: Option<&Ticket>) -> Vec<&'static str> {
    match trigger {
        Trigger::TicketCreated => vec!["created"],
        Trigger::TicketUpdated(fields) => {
            let changed = |f: &str| fields.iter().any(|x| x == f);
            let mut ev = vec!["updated"];
            let status = ticket.map(|t| t.status);
            if changed("status") {
                ev.push("status_changed");
                match status {
                    Some(Status::Resolved) => ev.push("resolved"),
                    Some(Status::Closed) => ev.push("closed"),
                    _ => {}
                }
            }
            if changed("assignee") || changed("assignment_group") {
                ev.push("assigned");
            }
            if changed("escalation_level") {
                ev.push("escalated");
            }
            if changed("priority") {
                ev.push("priority_changed");
            }
            ev
        }
        Trigger::SlaWarning(_) => vec!["sla_warning"],
        Trigger::SlaBreached(_) => vec!["sla_breached"],
        Trigger::Manual(_) => vec!["manual"],
        Trigger::Cron(_) => vec!["cron"],
        Trigger::InboundChannel(_) => vec!["inbound"],
    }
}

/// Facts from an earlier `cmdb-lookup` output.
#[derive(Debug, Default, Clone)]
pub struct CmdbFacts {
    ci_name: Option<String>,
    ci_class: Option<String>,
    ci_owner_group: Option<String>,
    service_name: Option<String>,
    service_owner_group: Option<String>,
}

/// Reads [`CmdbFacts`] from the latest earlier output with a `ci` or
/// `service` object.
pub fn cmdb_facts(previous: &[StepOutput]) -> CmdbFacts {
    let cmdb = switchyard_plugin_kit::CmdbObjects::latest(previous.iter().map(|p| p.output.as_str()));
    CmdbFacts {
        ci_name: cmdb.ci_str("name"),
        ci_class: cmdb.ci_str("class"),
        ci_owner_group: cmdb.ci_str("owner_group"),
        service_name: cmdb.service_str("name"),
        service_owner_group: cmdb.service_str("owner_group"),
    }
}

/// The template variables for a step.
pub fn variables<'a>(input: &StepInput, facts: &CmdbFacts) -> BTreeMap<&'a str, String> {
    use switchyard_plugin_kit::format_utc;
    let mut v: BTreeMap<&str, String> = BTreeMap::new();
    v.insert("now", format_utc(input.context.now));
    v.insert("workflow_id", input.context.workflow_id.clone());
    v.insert("event", events(&input.trigger, input.ticket.as_ref()).join(", "));
    match &input.trigger {
        Trigger::TicketUpdated(f) => {
            v.insert("changed_fields", f.join(", "));
        }
        Trigger::SlaWarning(e) | Trigger::SlaBreached(e) => {
            let target = match e.target {
                SlaTarget::Response => "response",
                SlaTarget::Resolution => "resolution",
            };
            v.insert("sla_target", target.into());
            v.insert("sla_percent", e.percent.to_string());
            v.insert("sla_due_at", format_utc(e.due_at));
        }
        _ => {}
    }
    let mut opt = |k, val: &Option<String>| {
        if let Some(x) = val {
            v.insert(k, x.clone());
        }
    };
    opt("ci_name", &facts.ci_name);
    opt("ci_class", &facts.ci_class);
    opt("service_name", &facts.service_name);
    if let Some(t) = &input.ticket {
        opt("category", &t.category);
        opt("subcategory", &t.subcategory);
        opt("pending_reason", &t.pending_reason);
        opt("assignment_group", &t.assignment_group);
        opt("assignee", &t.assignee);
        v.insert("number", t.number.clone());
        v.insert("title", t.title.clone());
        v.insert("description", t.description.clone());
        v.insert("priority", format!("P{}", t.priority));
        v.insert("priority_number", t.priority.to_string());
        v.insert("impact", t.impact.to_string());
        v.insert("urgency", t.urgency.to_string());
        v.insert("status", status_name(t.status).replace('_', " "));
        if let Some(s) = t.service {
            v.insert("service", s.to_string());
        }
        v.insert("requester", t.requester.clone());
        v.insert("channel", channel_name(t.channel).into());
        v.insert("escalation_level", t.escalation_level.to_string());
        v.insert("watchers", t.watchers.join(", "));
        v.insert("created_at", format_utc(t.created_at));
        v.insert("updated_at", format_utc(t.updated_at));
    }
    v
}

fn rule_applies(rule: &Rule, events: &[&str], input: &StepInput) -> bool {
    let ticket = input.ticket.as_ref();
    let mut hit = rule.on.iter().any(|e| events.contains(&e.as_str()));
    // `fields` narrows the plain `updated` event only.
    if hit && let (Some(fields), Trigger::TicketUpdated(changed)) = (&rule.fields, &input.trigger) {
        let others = rule.on.iter().any(|e| e != "updated" && events.contains(&e.as_str()));
        if !others && !changed.iter().any(|c| fields.contains(c)) {
            hit = false;
        }
    }
    if let Some(statuses) = &rule.statuses {
        hit &= ticket.is_some_and(|t| statuses.iter().any(|s| s == status_name(t.status)));
    }
    if let Some(max) = rule.max_priority {
        hit &= ticket.is_some_and(|t| t.priority <= max);
    }
    hit
}

/// `run`: the messages to send for this event.
pub fn notify(input: &StepInput) -> Result<StepResult, StepError> {
    let rules = parse_config(&input.config).map_err(|e| StepError::InvalidConfig(e.join("; ")))?;
    let events = events(&input.trigger, input.ticket.as_ref());
    let facts = cmdb_facts(&input.previous);
    let vars = variables(input, &facts);
    let no_watchers = Vec::new();
    let cx = match &input.ticket {
        Some(t) => RecipientContext {
            requester: &t.requester,
            assignee: t.assignee.as_deref(),
            assignment_group: t.assignment_group.as_deref(),
            watchers: &t.watchers,
            ci_owner_group: facts.ci_owner_group.as_deref(),
            service_owner_group: facts.service_owner_group.as_deref(),
            group_manager: None,
        },
        None => RecipientContext {
            watchers: &no_watchers,
            ci_owner_group: facts.ci_owner_group.as_deref(),
            service_owner_group: facts.service_owner_group.as_deref(),
            ..RecipientContext::default()
        },
    };
    let mut actions = Vec::new();
    let mut sent = Vec::new();
    let mut skipped = Vec::new();
    for rule in rules.iter().filter(|r| rule_applies(r, &events, input)) {
        let recipients = resolve_recipients(&rule.recipients, &cx);
        if recipients.is_empty() {
            skipped.push(rule.name.clone());
            continue;
        }
        sent.push(json!({"rule": rule.name, "recipients": recipients}));
        actions.push(Action::Notify(Notification {
            channel: rule.channel.clone(),
            recipients,
            subject: one_line(&rule.subject.render(&vars)),
            body: rule.body.render(&vars),
        }));
    }
    Ok(StepResult {
        actions,
        output: json!({"events": events, "sent": sent, "skipped_no_recipients": skipped}).to_string(),
        next_step: None,
    })
}

#[cfg(test)]
mod tests;
