//! sea-orm entities, one per table. Rows stay inside this crate: the
//! repositories convert them to domain types.
//!
//! The derive macros generate public items without docs, hence the allow.
#![allow(missing_docs)]

pub mod alert;
pub mod api_token;
pub mod attachment;
pub mod blob;
pub mod ci;
pub mod ci_relationship;
pub mod cron_mark;
pub mod escalation;
pub mod group;
pub mod group_member;
pub mod inbound_mail;
pub mod incident;
pub mod incident_ci;
pub mod incident_csat;
pub mod incident_event;
pub mod incident_service_fact;
pub mod integration;
pub mod notification;
pub mod plugin_kv;
pub mod plugin_secret;
pub mod setting;
pub mod sla_clock;
pub mod ticket_link;
pub mod ticket_watcher;
pub mod timer;
pub mod user;
pub mod webhook_subscription;
pub mod workflow;
pub mod workflow_run;
pub mod workflow_step;
pub mod workflow_version;
