//! The Switchyard incident domain, as pure Rust.
//!
//! This crate owns the vocabulary every other crate speaks: incidents and
//! their numbers, the kinds of ticket (incidents, service requests,
//! problems and changes) with their details, links between tickets,
//! processing checklists and the templates that carry them, the impact x urgency priority matrix, the incident
//! lifecycle (which status changes are allowed and what each one needs),
//! configuration items with their typed relationships and the impact walk
//! over them, users, roles and groups, and validation of admin-defined custom
//! fields, business calendars, SLA policies with the clocks computed
//! from an incident's history, and on-call schedules with the escalation
//! policies that page them.
//!
//! It does no I/O and must not depend on tokio, sea-orm, axum or wasmtime:
//! everything here is plain data and plain functions, so it can be tested
//! with table and property tests and reused by the store, the workflow
//! engine and the HTTP layer alike.

pub mod calendar;
pub mod changes;
pub mod checklist;
pub mod cmdb;
pub mod custom_fields;
pub mod directory;
pub mod document;
pub mod edit;
pub mod error;
pub mod history;
pub mod incident;
pub mod kind;
pub mod known_errors;
pub mod lifecycle;
pub mod links;
pub mod oncall;
pub mod priority;
pub mod sla;

pub use error::{DomainError, Violation, Violations};
