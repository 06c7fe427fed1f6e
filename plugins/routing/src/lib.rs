//! Switchyard `routing` plugin (world `pure-step`).
//!
//! Routes an incident to an assignment group with an ordered rule table: the
//! first rule whose criteria all match wins and the plugin proposes
//! `assign-group`. When no rule matches, `default_group` (if configured) is
//! used; otherwise the step proposes nothing.
//!
//! The rule logic lives in [`route`] and [`check_config`], plain Rust
//! functions tested natively with `cargo test`; the component glue is a thin
//! wrapper around them.
//!
//! # Reading the CI class
//!
//! A `pure-step` plugin cannot read the CMDB, so the `ci_class` criterion
//! reads the class from an earlier step's output (normally `cmdb-lookup`):
//! the latest earlier output that is a JSON object with `ci.class` and/or
//! `service.class` strings. The criterion matches when either class is in
//! the rule's list. The `service` criterion matches the ticket's `service`
//! or, as a fallback, `service.id` from the same earlier output.
//!
//! # Output
//!
//! `{"assignment_group": <group or null>, "matched_rule": <name or null>,
//! "rule_index": <index or null>, "default": <bool>}`. Later steps (e.g.
//! `assignment`) read `assignment_group`.

mod bindings {
    #![allow(unsafe_code, missing_docs)]
    wit_bindgen::generate!({ path: "../wit", world: "pure-step" });
    use super::Component;
    export!(Component with_types_in crate::bindings);
}

pub use bindings::switchyard::plugin::types::{Action, Channel, Json, StepError, StepInput, StepOutput, StepResult, Ticket};

use serde::Deserialize;
use serde_json::json;
pub use switchyard_plugin_kit::is_handle;

/// The component: implements the exported `pure-step` functions.
pub struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        check_config(&config)
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        route(&input)
    }
}

/// The step config (see `config.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rules, tried in order; the first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Group used when no rule matches.
    #[serde(default)]
    pub default_group: Option<String>,
    /// Also add a work note naming the matched rule.
    #[serde(default)]
    pub work_note: bool,
}

/// One routing rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Rule name, reported in the output and the work note.
    pub name: String,
    /// Group to assign when the rule matches.
    pub group: String,
    /// Criteria; all given criteria must match. An empty `match` matches
    /// every ticket (a catch-all rule).
    #[serde(default, rename = "match")]
    pub criteria: Criteria,
}

/// The criteria of a rule; each list is any-of, all given lists must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Category, compared case-insensitively.
    pub category: Option<Vec<String>>,
    /// `true`: only tickets without a category (so keyword rules can route
    /// what the requester did not categorise, while categorised tickets go
    /// by their category); `false`: only tickets with one.
    pub uncategorised: Option<bool>,
    /// Subcategory, compared case-insensitively.
    pub subcategory: Option<Vec<String>>,
    /// Business service CI ids.
    pub service: Option<Vec<u64>>,
    /// CI classes (from an earlier `cmdb-lookup` output), case-insensitive.
    pub ci_class: Option<Vec<String>>,
    /// Words or phrases searched case-insensitively in title and description,
    /// on word boundaries.
    pub keywords: Option<Vec<String>>,
    /// Intake channels (`portal`, `email`, `api`, `alert`, `phone`, `chat`).
    pub channel: Option<Vec<String>>,
    /// Exact priorities (1..5).
    pub priority: Option<Vec<u8>>,
    /// Matches priority numbers `<= max_priority` (1 is most urgent), so
    /// `2` matches P1 and P2.
    pub max_priority: Option<u8>,
}

const CHANNELS: [&str; 6] = ["portal", "email", "api", "alert", "phone", "chat"];

/// The wire name of a channel.
pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Portal => "portal",
        Channel::Email => "email",
        Channel::Api => "api",
        Channel::Alert => "alert",
        Channel::Phone => "phone",
        Channel::Chat => "chat",
    }
}

/// Parses a config text, reporting every problem found.
pub fn parse_config(text: &str) -> Result<Config, Vec<String>> {
    let config: Config = switchyard_plugin_kit::parse_object(text)?;
    let mut errors = Vec::new();
    if config.rules.is_empty() && config.default_group.is_none() {
        errors.push("config: give at least one rule or a default_group".to_string());
    }
    if let Some(g) = &config.default_group
        && !is_handle(g)
    {
        errors.push(format!("default_group: `{g}` is not a valid group name"));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if rule.name.trim().is_empty() {
            errors.push(format!("{at}.name: must not be empty"));
        } else if !names.insert(rule.name.as_str()) {
            errors.push(format!("{at}.name: duplicate rule name `{}`", rule.name));
        }
        if !is_handle(&rule.group) {
            errors.push(format!("{at}.group: `{}` is not a valid group name", rule.group));
        }
        let c = &rule.criteria;
        let lists: [(&str, Option<usize>); 7] = [
            ("category", c.category.as_ref().map(Vec::len)),
            ("subcategory", c.subcategory.as_ref().map(Vec::len)),
            ("service", c.service.as_ref().map(Vec::len)),
            ("ci_class", c.ci_class.as_ref().map(Vec::len)),
            ("keywords", c.keywords.as_ref().map(Vec::len)),
            ("channel", c.channel.as_ref().map(Vec::len)),
            ("priority", c.priority.as_ref().map(Vec::len)),
        ];
        for (field, len) in lists {
            if len == Some(0) {
                errors.push(format!("{at}.match.{field}: must not be an empty list"));
            }
        }
        if c.uncategorised == Some(true) && c.category.is_some() {
            errors.push(format!("{at}.match.uncategorised: a rule cannot require a category and no category at once"));
        }
        for k in c.keywords.iter().flatten() {
            if k.trim().is_empty() {
                errors.push(format!("{at}.match.keywords: keywords must not be blank"));
            }
        }
        for ch in c.channel.iter().flatten() {
            if !CHANNELS.contains(&ch.as_str()) {
                errors.push(format!("{at}.match.channel: `{ch}` is not one of {}", CHANNELS.join(", ")));
            }
        }
        for p in c.priority.iter().flatten().chain(c.max_priority.iter()) {
            if !(1..=5).contains(p) {
                errors.push(format!("{at}.match: priority {p} is not in 1..5"));
            }
        }
    }
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

/// `validate-config`: the config is well-formed and its names are valid.
pub fn check_config(text: &str) -> Result<(), Vec<String>> {
    parse_config(text).map(|_| ())
}

/// What earlier `cmdb-lookup`-like steps said about the ticket's CI.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CmdbFacts {
    /// Class of the resolved CI.
    pub ci_class: Option<String>,
    /// Class of the business service found for it.
    pub service_class: Option<String>,
    /// Id of that business service.
    pub service_id: Option<u64>,
}

/// Reads [`CmdbFacts`] from the latest earlier output that has a `ci` or
/// `service` object. Outputs that are not JSON objects are ignored.
pub fn cmdb_facts(previous: &[StepOutput]) -> CmdbFacts {
    let cmdb = switchyard_plugin_kit::CmdbObjects::latest(previous.iter().map(|p| p.output.as_str()));
    CmdbFacts {
        ci_class: cmdb.ci_str("class"),
        service_class: cmdb.service_str("class"),
        service_id: cmdb.service.as_ref().and_then(|s| s.get("id")).and_then(serde_json::Value::as_u64),
    }
}

/// True when `needle` occurs in `haystack` (both already lower-case) with no
/// letter or digit immediately before or after it.
pub fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut start = 0;
    while let Some(pos) = haystack[start..].find(needle) {
        let at = start + pos;
        let end = at + needle.len();
        let before_ok = haystack[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = haystack[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        // Advance by one character (not byte) to stay on a char boundary.
        start = at + haystack[at..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

fn any_eq_ci(list: &[String], value: Option<&str>) -> bool {
    value.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
}

/// True when every criterion given in `c` matches the ticket.
pub fn matches(c: &Criteria, ticket: &Ticket, facts: &CmdbFacts) -> bool {
    if let Some(l) = &c.category
        && !any_eq_ci(l, ticket.category.as_deref())
    {
        return false;
    }
    if let Some(wanted) = c.uncategorised
        && wanted != ticket.category.as_deref().is_none_or(|c| c.trim().is_empty())
    {
        return false;
    }
    if let Some(l) = &c.subcategory
        && !any_eq_ci(l, ticket.subcategory.as_deref())
    {
        return false;
    }
    if let Some(l) = &c.service {
        let ids = [ticket.service, facts.service_id];
        if !ids.iter().flatten().any(|id| l.contains(id)) {
            return false;
        }
    }
    if let Some(l) = &c.ci_class
        && !any_eq_ci(l, facts.ci_class.as_deref())
        && !any_eq_ci(l, facts.service_class.as_deref())
    {
        return false;
    }
    if let Some(l) = &c.keywords {
        let title = ticket.title.to_lowercase();
        let description = ticket.description.to_lowercase();
        let hit = l.iter().any(|k| {
            let k = k.trim().to_lowercase();
            contains_word(&title, &k) || contains_word(&description, &k)
        });
        if !hit {
            return false;
        }
    }
    if let Some(l) = &c.channel
        && !l.iter().any(|x| x == channel_name(ticket.channel))
    {
        return false;
    }
    if let Some(l) = &c.priority
        && !l.contains(&ticket.priority)
    {
        return false;
    }
    if let Some(max) = c.max_priority
        && ticket.priority > max
    {
        return false;
    }
    true
}

/// `run`: picks the group for the ticket.
pub fn route(input: &StepInput) -> Result<StepResult, StepError> {
    let config = parse_config(&input.config).map_err(|e| StepError::InvalidConfig(e.join("; ")))?;
    let ticket = input.ticket.as_ref().ok_or_else(|| StepError::Fatal("routing needs a ticket; this run has none".into()))?;
    let facts = cmdb_facts(&input.previous);
    let hit = config.rules.iter().enumerate().find(|(_, r)| matches(&r.criteria, ticket, &facts));
    let mut actions = Vec::new();
    let output = match (hit, &config.default_group) {
        (Some((i, rule)), _) => {
            actions.push(Action::AssignGroup(rule.group.clone()));
            if config.work_note {
                actions.push(Action::AddWorkNote(format!("Routed to {} by rule '{}'.", rule.group, rule.name)));
            }
            json!({"assignment_group": rule.group, "matched_rule": rule.name, "rule_index": i, "default": false})
        }
        (None, Some(group)) => {
            actions.push(Action::AssignGroup(group.clone()));
            if config.work_note {
                actions.push(Action::AddWorkNote(format!("Routed to {group}: no rule matched, using the default group.")));
            }
            json!({"assignment_group": group, "matched_rule": null, "rule_index": null, "default": true})
        }
        (None, None) => {
            json!({"assignment_group": null, "matched_rule": null, "rule_index": null, "default": false})
        }
    };
    Ok(StepResult { actions, output: output.to_string(), next_step: None })
}

#[cfg(test)]
mod tests;
