//! A well-behaved pure-step plugin used by the plugin-host tests and bench:
//! assigns the group named in its config and echoes the ticket number.

#![allow(missing_docs)]

mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "pure-step" });
}

use bindings::switchyard::plugin::log;
use bindings::switchyard::plugin::types::*;
use serde_json::{Value, json};

struct Component;

impl bindings::Guest for Component {
    fn validate_config(config: Json) -> Result<(), Vec<String>> {
        let value: Value = serde_json::from_str(&config).map_err(|e| vec![e.to_string()])?;
        match value.get("group") {
            Some(Value::String(g)) if !g.is_empty() => Ok(()),
            _ => Err(vec!["/group: must be a non-empty string".into()]),
        }
    }

    fn run(input: StepInput) -> Result<StepResult, StepError> {
        let value: Value = serde_json::from_str(&input.config).map_err(|e| StepError::InvalidConfig(e.to_string()))?;
        let group = value.get("group").and_then(Value::as_str).unwrap_or("service-desk");
        let number = input.ticket.as_ref().map(|t| t.number.clone()).unwrap_or_default();
        log::log(log::Level::Info, &format!("routing {number} to {group}"));
        Ok(StepResult {
            actions: vec![Action::AssignGroup(group.into())],
            output: json!({ "ticket": number, "group": group }).to_string(),
            next_step: None,
        })
    }
}

bindings::export!(Component with_types_in bindings);
