//! The Switchyard record store.
//!
//! This crate owns persistence: the sea-orm entities, the connection to an
//! embedded SQLite file or to PostgreSQL, and the repositories that read and
//! write incidents, their event history, the CMDB, the directory,
//! settings, and service levels (SLA documents, clocks, service facts,
//! satisfaction answers). It is the only place that converts database rows to domain
//! types; callers see [`switchyard_domain`] values and the record views
//! defined here, never rows.
//!
//! Two rules shape every write:
//! - every change to an incident appends events to `incident_events` in the
//!   same transaction as the change; the events' `seq` comes from a counter
//!   row updated in that transaction, so it is gap-free and increases in
//!   commit order (the workflow engine reads it as an outbox);
//! - a failed write leaves nothing behind: validation happens before or
//!   inside the transaction, which is rolled back on any error.
//!
//! Incident creation goes through a group-commit queue ([`create_queue`]):
//! one writer task gathers concurrent creates into one transaction and
//! acknowledges each only after that transaction commits.
//!
//! It depends on the domain and the migrations only; it must not depend on
//! axum, the HTTP layer or wasmtime.

mod alerts;
mod batch;
mod cmdb;
pub mod create_queue;
mod directory;
mod entity;
mod error;
mod escalations;
mod history;
mod incidents;
mod intake;
mod kinds;
mod known_errors;
mod links;
mod notifications;
mod plugin_data;
mod positions;
mod references;
mod reports;
mod runs;
pub mod search;
mod settings;
mod sla;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod time;
mod timers;
mod txn;
mod watchers;
mod webhooks;
mod workflow_defs;

pub use alerts::{AlertDeliveries, AlertInput, AlertOutcome, AlertRecord, AlertRules, AppliedAlert, IntegrationRecord, NewIntegration};
pub use cmdb::{CiInput, CiPatch, ImpactEntry, RelationshipRecord};
pub use directory::{GroupInput, GroupPatch, GroupRecord, Principal, TokenRecord, UserInput, UserPatch, UserRecord, hash_token};
pub use error::StoreError;
pub use escalations::{ESCALATION_TIMER, EscalationRecord, EscalationStatus};
pub use history::{Actor, ActorKind, EventRecord};
pub use incidents::{CreateIncident, IncidentFilter, IncidentPage, IncidentRecord, IncidentUpdate, SortField, SortOrder};
pub use intake::{AttachmentRecord, InboundOutcome, InboundRecord, MailAction, NewAttachment, NewInbound, NewRequester};
pub use known_errors::KnownErrorMatch;
pub use links::{LinkedTicket, TicketLink};
pub use notifications::{
    DeliveryOutcome, MAX_ATTEMPTS, NewNotification, NotificationRecord, NotificationStatus, RETRY_BASE, retry_delay, retry_delay_from,
};
pub use plugin_data::{AgentLoad, KvKey, KvOp};
pub use reports::{ReportFilter, ServiceReport, TargetCompliance};
pub use runs::{NewRun, RunCommit, RunFilter, RunProgress, RunRecord, RunVerdict, StepRecord, TicketWrite};
pub use settings::{Category, MAX_SAVED_FILTERS, NamedDocument, SavedFilter, Settings, default_categories};
pub use sla::{SLA_TIMER_KINDS, SlaInput, SlaOutcome, SlaSettings, StoredClock};
pub use store::{Backend, Store, StoreOptions, redact};
pub use switchyard_domain::history::Visibility;
pub use timers::{NewTimer, TimerRecord};
pub use txn::{Topic, WriteTxn};
pub use watchers::MAX_WATCHERS;
pub use webhooks::{NewSubscription, SubscriptionRecord};
pub use workflow_defs::{PublishWorkflow, WorkflowSummary, WorkflowVersion};
