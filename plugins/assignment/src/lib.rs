//! Switchyard `assignment` plugin (world `full-step`, imports `kv` and
//! `directory`).
//!
//! Picks an agent in the ticket's assignment group and proposes
//! `assign-user`. The group is the one an earlier step of the same run chose
//! (the latest earlier output with a string `assignment_group`, as written
//! by `routing` and `cmdb-lookup`), else the ticket's own assignment group.
//!
//! Strategies:
//! - `round_robin`: a kv counter per group (`increment` in bucket
//!   `round-robin`, key = group name) indexes the candidates sorted by
//!   username;
//! - `least_loaded`: fewest open tickets, ties broken by username;
//! - `skills`: candidates whose skills cover the skills the config maps the
//!   ticket's category to, then least loaded;
//! - `on_call`: whoever is on call now on the config's `schedule`
//!   (`directory.on-call`), when they are a member of the group.
//!
//! Candidates are the group's on-shift members (`only_on_shift`, default
//! true) or all its members. When nobody fits, the ticket stays unassigned
//! and the step adds a work note saying why.
//!
//! Output: `{"assignee", "assignment_group", "strategy", "candidates",
//! "reason"}`.

mod bindings {
    #![allow(unsafe_code, missing_docs)]
    wit_bindgen::generate!({ path: "../wit", world: "full-step" });
    use super::Component;
    export!(Component with_types_in crate::bindings);
}

pub use bindings::switchyard::plugin::directory::Agent;
pub use bindings::switchyard::plugin::types::{Action, Json, StepError, StepInput, StepOutput, StepResult, Ticket};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
pub use switchyard_plugin_kit::is_handle;

/// The kv bucket holding round-robin counters (requested in the manifest).
pub const BUCKET: &str = "round-robin";

/// The component: implements the exported functions.
pub struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        parse_config(&config).map(|_| ())
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        assign(&input, &WasmHost)
    }
}

/// What the plugin needs from the host; the component uses the real
/// imports, tests use a fake.
pub trait Host {
    /// Every member of a group.
    fn members(&self, group: &str) -> Result<Vec<Agent>, String>;
    /// Members of a group who are on shift now.
    fn on_shift(&self, group: &str) -> Result<Vec<Agent>, String>;
    /// Atomically adds `delta` to a kv counter and returns the new value.
    fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, String>;
    /// Who is on call now on an on-call schedule.
    fn on_call(&self, schedule: &str) -> Result<Option<String>, String>;
}

struct WasmHost;

impl Host for WasmHost {
    fn members(&self, group: &str) -> Result<Vec<Agent>, String> {
        bindings::switchyard::plugin::directory::members(group)
    }
    fn on_shift(&self, group: &str) -> Result<Vec<Agent>, String> {
        bindings::switchyard::plugin::directory::on_shift(group)
    }
    fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, String> {
        bindings::switchyard::plugin::kv::increment(bucket, key, delta)
    }
    fn on_call(&self, schedule: &str) -> Result<Option<String>, String> {
        bindings::switchyard::plugin::directory::on_call(schedule, None)
    }
}

/// How to pick among candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Rotate through candidates with a persistent counter.
    RoundRobin,
    /// Fewest open tickets.
    LeastLoaded,
    /// Required skills first, then fewest open tickets.
    Skills,
    /// Whoever is on call on a schedule.
    OnCall,
}

impl Strategy {
    fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastLoaded => "least_loaded",
            Strategy::Skills => "skills",
            Strategy::OnCall => "on_call",
        }
    }
}

fn yes() -> bool {
    true
}

/// The step config (see `config.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How to pick.
    pub strategy: Strategy,
    /// Only consider agents on shift (default true).
    #[serde(default = "yes")]
    pub only_on_shift: bool,
    /// Category (case-insensitive) -> skills an agent needs, for `skills`.
    #[serde(default)]
    pub skills: BTreeMap<String, Vec<String>>,
    /// Pick a new assignee even when the ticket already has one in the
    /// same group (default false: leave it).
    #[serde(default)]
    pub reassign: bool,
    /// The on-call schedule, for `on_call`.
    #[serde(default)]
    pub schedule: Option<String>,
}

/// Parses and checks a config text, reporting every problem found.
pub fn parse_config(text: &str) -> Result<Config, Vec<String>> {
    let config: Config = switchyard_plugin_kit::parse_object(text)?;
    let mut errors = Vec::new();
    for (category, skills) in &config.skills {
        if category.trim().is_empty() {
            errors.push("skills: category names must not be blank".to_string());
        }
        if skills.is_empty() {
            errors.push(format!("skills.{category}: list at least one skill"));
        }
        for s in skills {
            if !is_handle(s) {
                errors.push(format!("skills.{category}: `{s}` is not a valid skill name"));
            }
        }
    }
    if config.strategy == Strategy::Skills && config.skills.is_empty() {
        errors.push("skills: the `skills` strategy needs a category -> skills mapping".into());
    }
    if config.strategy == Strategy::OnCall && config.schedule.as_deref().is_none_or(|s| s.trim().is_empty()) {
        errors.push("schedule: the `on_call` strategy needs the name of an on-call schedule".into());
    }
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

/// The group an earlier step of this run chose: the latest earlier output
/// with a string `assignment_group`.
pub fn group_from_previous(previous: &[StepOutput]) -> Option<String> {
    previous.iter().rev().find_map(|p| serde_json::from_str::<Value>(&p.output).ok()?.get("assignment_group")?.as_str().map(str::to_string))
}

/// Skills the ticket needs according to the config (empty: none).
pub fn required_skills(config: &Config, ticket: &Ticket) -> Vec<String> {
    let Some(category) = ticket.category.as_deref() else {
        return Vec::new();
    };
    config.skills.iter().find(|(c, _)| c.eq_ignore_ascii_case(category)).map(|(_, s)| s.clone()).unwrap_or_default()
}

fn least_loaded(candidates: &[Agent]) -> Option<&Agent> {
    candidates.iter().min_by(|a, b| (a.open_tickets, &a.username).cmp(&(b.open_tickets, &b.username)))
}

/// `run`: picks the assignee.
pub fn assign(input: &StepInput, host: &dyn Host) -> Result<StepResult, StepError> {
    let config = parse_config(&input.config).map_err(|e| StepError::InvalidConfig(e.join("; ")))?;
    let ticket = input.ticket.as_ref().ok_or_else(|| StepError::Fatal("assignment needs a ticket; this run has none".into()))?;
    let strategy = config.strategy.as_str();
    let done = |actions: Vec<Action>, assignee: Option<&str>, group: Option<&str>, candidates: usize, reason: &str| {
        Ok(StepResult {
            actions,
            output: json!({
                "assignee": assignee,
                "assignment_group": group,
                "strategy": strategy,
                "candidates": candidates,
                "reason": reason,
            })
            .to_string(),
            next_step: None,
        })
    };
    let from_run = group_from_previous(&input.previous);
    let Some(group) = from_run.clone().or_else(|| ticket.assignment_group.clone()) else {
        let why = "No assignee picked: the ticket has no assignment group.";
        return done(vec![Action::AddWorkNote(why.into())], None, None, 0, why);
    };
    let same_group = ticket.assignment_group.as_deref() == Some(group.as_str());
    if let Some(current) = &ticket.assignee
        && same_group
        && !config.reassign
    {
        return done(vec![], Some(current), Some(&group), 0, "already assigned");
    }
    if config.strategy == Strategy::OnCall {
        let schedule = config.schedule.as_deref().unwrap_or_default();
        let on_call = host.on_call(schedule).map_err(|e| StepError::Retryable(format!("on-call lookup of {schedule} failed: {e}")))?;
        let members = host.members(&group).map_err(|e| StepError::Retryable(format!("directory lookup of group {group} failed: {e}")))?;
        let why = match on_call {
            Some(user) if members.iter().any(|m| m.username == user) => {
                return done(vec![Action::AssignUser(user.clone())], Some(&user), Some(&group), members.len(), "assigned");
            }
            Some(user) => format!("No assignee picked: {user} is on call on {schedule} but not a member of group {group}."),
            None => format!("No assignee picked: nobody is on call on {schedule}."),
        };
        return done(vec![Action::AddWorkNote(why.clone())], None, Some(&group), members.len(), &why);
    }
    let mut candidates = if config.only_on_shift { host.on_shift(&group) } else { host.members(&group) }
        .map_err(|e| StepError::Retryable(format!("directory lookup of group {group} failed: {e}")))?;
    if config.only_on_shift {
        candidates.retain(|a| a.on_shift);
    }
    candidates.sort_by(|a, b| a.username.cmp(&b.username));
    candidates.dedup_by(|a, b| a.username == b.username);
    if candidates.is_empty() {
        let why = if config.only_on_shift {
            format!("No assignee picked: nobody in group {group} is on shift.")
        } else {
            format!("No assignee picked: group {group} has no members.")
        };
        return done(vec![Action::AddWorkNote(why.clone())], None, Some(&group), 0, &why);
    }
    let n = candidates.len();
    let chosen: Option<Agent> = match config.strategy {
        Strategy::LeastLoaded | Strategy::OnCall => least_loaded(&candidates).cloned(),
        Strategy::RoundRobin => {
            let counter =
                host.increment(BUCKET, &group, 1).map_err(|e| StepError::Retryable(format!("round-robin counter for {group}: {e}")))?;
            // The first call returns 1 and picks the first candidate.
            let len = i64::try_from(n).unwrap_or(i64::MAX);
            let index = usize::try_from(counter.wrapping_sub(1).rem_euclid(len)).unwrap_or(0);
            candidates.get(index).cloned()
        }
        Strategy::Skills => {
            let required = required_skills(&config, ticket);
            let skilled: Vec<Agent> = candidates
                .iter()
                .filter(|a| required.iter().all(|r| a.skills.iter().any(|s| s.eq_ignore_ascii_case(r))))
                .cloned()
                .collect();
            match least_loaded(&skilled) {
                Some(a) => Some(a.clone()),
                None => {
                    let why = format!(
                        "No assignee picked: nobody {}in group {group} has the skills {}.",
                        if config.only_on_shift { "on shift " } else { "" },
                        required.join(", ")
                    );
                    return done(vec![Action::AddWorkNote(why.clone())], None, Some(&group), n, &why);
                }
            }
        }
    };
    match chosen {
        Some(agent) => done(vec![Action::AssignUser(agent.username.clone())], Some(&agent.username), Some(&group), n, "assigned"),
        None => {
            let why = format!("No assignee picked in group {group}.");
            done(vec![Action::AddWorkNote(why.clone())], None, Some(&group), n, &why)
        }
    }
}

#[cfg(test)]
mod tests;
