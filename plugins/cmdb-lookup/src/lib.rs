//! Switchyard `cmdb-lookup` plugin (world `full-step`, imports `cmdb`).
//!
//! Enriches an incident from the CMDB:
//!
//! 1. Resolves the ticket's CI: the first of `affected-cis`, else `service`.
//! 2. Finds the business service. Direction convention (from the WIT):
//!    *upstream* of a CI is what it depends on, *downstream* is what depends
//!    on it. A business service depends on its applications and servers, so
//!    it is **downstream** of them: the plugin walks
//!    `related(ci, downstream, max_depth)` and takes the nearest CI of class
//!    `service_class` (ties: lowest id). If the CI is itself a service, it is
//!    the service. When the ticket has no service yet (or
//!    `overwrite_service`), it proposes `set-field service = <id>`.
//! 3. With `assign_owner_group`, proposes `assign-group` to the CI's owner
//!    group (else the service's), only when the ticket has no group unless
//!    `overwrite_group`.
//! 4. Computes impact: the distinct downstream services of the CI (plus the
//!    CI itself when it is a service) and the sum of their `users`
//!    attribute. When the configured thresholds are crossed it proposes
//!    `set-field impact`, only ever raising it (1 is the highest impact).
//!
//! Output, for later steps (`routing` reads `ci.class`, `service.class`,
//! `service.id`; `notification` reads `ci.owner_group` /
//! `service.owner_group`; `assignment` reads `assignment_group`):
//!
//! ```json
//! {"ci": {"id": 7, "class": "server", "name": "db-01", "status": "live",
//!         "owner_group": "dba", "attributes": {}},
//!  "service": {"id": 42, ...} ,
//!  "impact": {"services": 2, "users": 1500, "service_ids": [42, 43],
//!             "computed": 1, "previous": 3, "raised": true},
//!  "assignment_group": "dba"}
//! ```
//!
//! `ci`, `service` and `assignment_group` are `null` when unknown; `impact`
//! is `null` when there is no CI.

mod bindings {
    #![allow(unsafe_code, missing_docs)]
    wit_bindgen::generate!({ path: "../wit", world: "full-step" });
    use super::Component;
    export!(Component with_types_in crate::bindings);
}

pub use bindings::switchyard::plugin::cmdb::{Ci, Direction, RelatedCi};
pub use bindings::switchyard::plugin::types::{Action, FieldValue, Json, StepError, StepInput, StepResult, Ticket};

use serde::Deserialize;
use serde_json::{Value, json};

/// The component: implements the exported functions.
pub struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        parse_config(&config).map(|_| ())
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        lookup(&input, &WasmHost)
    }
}

/// What the plugin needs from the host; the component uses the real
/// imports, tests use a fake.
pub trait Host {
    /// `cmdb.get`.
    fn get(&self, id: u64) -> Result<Option<Ci>, String>;
    /// `cmdb.related`.
    fn related(&self, id: u64, direction: Direction, depth: u32) -> Result<Vec<RelatedCi>, String>;
}

struct WasmHost;

impl Host for WasmHost {
    fn get(&self, id: u64) -> Result<Option<Ci>, String> {
        bindings::switchyard::plugin::cmdb::get(id)
    }
    fn related(&self, id: u64, direction: Direction, depth: u32) -> Result<Vec<RelatedCi>, String> {
        bindings::switchyard::plugin::cmdb::related(id, direction, depth)
    }
}

fn yes() -> bool {
    true
}
fn three() -> u32 {
    3
}
fn service_class() -> String {
    "service".into()
}
fn users_attribute() -> String {
    "users".into()
}

/// When a level of impact is reached: either threshold suffices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Number of impacted services at or above which the level applies.
    pub services: Option<u64>,
    /// Number of impacted users at or above which the level applies.
    pub users: Option<u64>,
}

impl Threshold {
    fn reached(&self, services: u64, users: u64) -> bool {
        self.services.is_some_and(|s| services >= s) || self.users.is_some_and(|u| users >= u)
    }
}

/// Impact thresholds: `high` raises impact to 1, `medium` to 2.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactThresholds {
    /// Raises impact to 1 (high).
    pub high: Option<Threshold>,
    /// Raises impact to 2 (medium).
    pub medium: Option<Threshold>,
}

/// The step config (see `config.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Propose `set-field service` (default true).
    #[serde(default = "yes")]
    pub set_service: bool,
    /// Replace a service the ticket already has (default false).
    #[serde(default)]
    pub overwrite_service: bool,
    /// Propose `assign-group` to the CI owner group (default false).
    #[serde(default)]
    pub assign_owner_group: bool,
    /// Replace the ticket's assignment group if it has one (default false).
    #[serde(default)]
    pub overwrite_group: bool,
    /// How many relationship hops to walk (1..=10, default 3).
    #[serde(default = "three")]
    pub max_depth: u32,
    /// The CI class of business services (default `service`).
    #[serde(default = "service_class")]
    pub service_class: String,
    /// The attribute holding a service's user count (default `users`).
    #[serde(default = "users_attribute")]
    pub users_attribute: String,
    /// Thresholds for raising impact; none: impact is only reported.
    #[serde(default)]
    pub impact: ImpactThresholds,
}

/// Parses and checks a config text, reporting every problem found.
pub fn parse_config(text: &str) -> Result<Config, Vec<String>> {
    let config: Config = switchyard_plugin_kit::parse_object(text)?;
    let mut errors = Vec::new();
    if !(1..=10).contains(&config.max_depth) {
        errors.push(format!("max_depth: {} is not in 1..10", config.max_depth));
    }
    if config.service_class.trim().is_empty() {
        errors.push("service_class: must not be empty".into());
    }
    if config.users_attribute.trim().is_empty() {
        errors.push("users_attribute: must not be empty".into());
    }
    for (name, t) in [("high", &config.impact.high), ("medium", &config.impact.medium)] {
        if let Some(t) = t
            && t.services.is_none()
            && t.users.is_none()
        {
            errors.push(format!("impact.{name}: give services and/or users"));
        }
    }
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

fn ci_json(ci: &Ci) -> Value {
    let attributes = serde_json::from_str::<Value>(&ci.attributes).unwrap_or(Value::Null);
    json!({
        "id": ci.id,
        "class": ci.class,
        "name": ci.name,
        "status": ci.status,
        "owner_group": ci.owner_group,
        "attributes": attributes,
    })
}

/// The user count of a service: a non-negative integer (or number, rounded
/// down) attribute; anything else counts as 0.
pub fn users_of(ci: &Ci, attribute: &str) -> u64 {
    let Ok(v) = serde_json::from_str::<Value>(&ci.attributes) else {
        return 0;
    };
    match v.get(attribute) {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)).unwrap_or(0),
        _ => 0,
    }
}

fn retryable(what: &str) -> impl Fn(String) -> StepError + '_ {
    move |e| StepError::Retryable(format!("cmdb {what} failed: {e}"))
}

/// `run`: resolves the CI and its service, computes impact.
pub fn lookup(input: &StepInput, host: &dyn Host) -> Result<StepResult, StepError> {
    let config = parse_config(&input.config).map_err(|e| StepError::InvalidConfig(e.join("; ")))?;
    let ticket = input.ticket.as_ref().ok_or_else(|| StepError::Fatal("cmdb-lookup needs a ticket; this run has none".into()))?;
    let empty = |note: &str| {
        Ok(StepResult {
            actions: vec![],
            output: json!({"ci": null, "service": null, "impact": null, "assignment_group": null, "note": note}).to_string(),
            next_step: None,
        })
    };
    let Some(ci_id) = ticket.affected_cis.first().copied().or(ticket.service) else {
        return empty("the ticket names no CI and no service");
    };
    let Some(ci) = host.get(ci_id).map_err(retryable("get"))? else {
        return empty(&format!("CI {ci_id} not found"));
    };
    let is_service = |c: &Ci| c.class.eq_ignore_ascii_case(&config.service_class);

    // Everything that depends on the CI, nearest first.
    let mut downstream = host.related(ci.id, Direction::Downstream, config.max_depth).map_err(retryable("related"))?;
    downstream.sort_by_key(|r| (r.depth, r.ci.id));
    let mut services: Vec<Ci> = Vec::new();
    if is_service(&ci) {
        services.push(ci.clone());
    }
    for r in downstream {
        if is_service(&r.ci) && r.ci.id != ci.id && !services.iter().any(|s| s.id == r.ci.id) {
            services.push(r.ci);
        }
    }

    // The business service: the ticket's own, else the nearest one found.
    let mut actions = Vec::new();
    let service: Option<Ci> = match ticket.service {
        Some(id) if !config.overwrite_service => match services.iter().find(|s| s.id == id) {
            Some(s) => Some(s.clone()),
            None => host.get(id).map_err(retryable("get"))?,
        },
        _ => services.first().cloned(),
    };
    if config.set_service
        && let Some(s) = &service
        && ticket.service != Some(s.id)
    {
        actions.push(Action::SetField(FieldValue { field: "service".into(), value: s.id.to_string() }));
    }

    let mut assigned = None;
    if config.assign_owner_group && (ticket.assignment_group.is_none() || config.overwrite_group) {
        let owner = ci.owner_group.clone().or_else(|| service.as_ref().and_then(|s| s.owner_group.clone()));
        if let Some(owner) = owner
            && ticket.assignment_group.as_deref() != Some(owner.as_str())
        {
            actions.push(Action::AssignGroup(owner.clone()));
            assigned = Some(owner);
        }
    }

    let count = u64::try_from(services.len()).unwrap_or(u64::MAX);
    let users = services.iter().map(|s| users_of(s, &config.users_attribute)).fold(0u64, u64::saturating_add);
    let computed: Option<u8> = if config.impact.high.as_ref().is_some_and(|t| t.reached(count, users)) {
        Some(1)
    } else if config.impact.medium.as_ref().is_some_and(|t| t.reached(count, users)) {
        Some(2)
    } else {
        None
    };
    let raised = computed.is_some_and(|c| c < ticket.impact);
    if raised && let Some(c) = computed {
        actions.push(Action::SetField(FieldValue { field: "impact".into(), value: c.to_string() }));
    }

    let output = json!({
        "ci": ci_json(&ci),
        "service": service.as_ref().map(ci_json),
        "impact": {
            "services": count,
            "users": users,
            "service_ids": services.iter().map(|s| s.id).collect::<Vec<_>>(),
            "computed": computed,
            "previous": ticket.impact,
            "raised": raised,
        },
        "assignment_group": assigned,
    });
    Ok(StepResult { actions, output: output.to_string(), next_step: None })
}

#[cfg(test)]
mod tests;
