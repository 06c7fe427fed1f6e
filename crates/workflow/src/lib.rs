//! Switchyard's workflow documents, as pure Rust.
//!
//! A workflow says when it starts (triggers), on which tickets (conditions)
//! and which WebAssembly plugin steps it runs, in order. This crate parses
//! and validates the YAML or JSON document (every problem reported with its
//! path and line), evaluates conditions on a ticket, matches triggers against
//! ticket events and cron schedules, and holds the run state machine that
//! decides, step outcome by step outcome, what the engine does next.
//!
//! It does no I/O and runs no plugins: the engine feeds it outcomes and
//! carries out the [`run::Command`]s it returns.

pub mod condition;
pub mod document;
pub mod run;
pub mod trigger;
pub mod validate;
mod yaml;

pub use condition::{CelExpression, Condition, ConditionGroup, ExprCondition, FieldTest, Op, TICKET_FIELDS};
pub use document::{OnFailure, RetryPolicy, Step, WorkflowDocument};
pub use run::{Command, FailureKind, MAX_STEPS_PER_RUN, RunState, RunStatus, StepOutcome, advance, start};
pub use trigger::{
    ChannelTrigger, CronSpec, CronTrigger, NoOptions, SlaTarget, SlaTrigger, TicketQuery, Trigger, TriggerEvent, UpdateTrigger,
};
pub use validate::{CatalogProblem, Format, PluginCatalog, Problem, Problems, parse, parse_and_validate, validate};

/// The published JSON Schema (draft 2020-12) of workflow documents.
pub const WORKFLOW_SCHEMA: &str = include_str!("../schema/workflow.schema.json");

/// [`WORKFLOW_SCHEMA`] as a JSON value.
pub fn workflow_schema() -> serde_json::Value {
    serde_json::from_str(WORKFLOW_SCHEMA).expect("the workflow schema is valid JSON")
}
