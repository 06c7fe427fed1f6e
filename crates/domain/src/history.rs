//! The vocabulary of an incident's history: what kinds of entries it holds
//! and who may read them. The store writes these as `incident_events`; the
//! workflow engine reads them back as triggers.

use serde_json::Value;

use crate::changes::FieldChange;
use crate::incident::named_enum;

named_enum! {
    /// What a history entry records.
    EventKind {
        /// The incident was logged.
        Created = "created",
        /// A field changed (field, old and new value).
        FieldChanged = "field_changed",
        /// The status changed; the reason, if any, is the body.
        StatusChanged = "status_changed",
        /// A public comment (the requester sees it).
        Comment = "comment",
        /// An internal work note (agents only).
        WorkNote = "work_note",
        /// An SLA warning threshold passed.
        SlaWarning = "sla_warning",
        /// An SLA target was breached.
        SlaBreached = "sla_breached",
        /// Someone was paged about the incident (an escalation level).
        Paged = "paged",
        /// A person acknowledged the incident (stops its escalation).
        Acknowledged = "acknowledged",
        /// A link to another ticket was added (field `links`; the new
        /// value names the type, this ticket's end and the other number).
        Linked = "linked",
        /// A link to another ticket was removed (the old value says which).
        Unlinked = "unlinked",
    }
}

impl EventKind {
    /// Whether the entry records service-level tracking rather than a
    /// change anyone made (workflows do not treat it as a ticket update).
    pub fn is_sla(self) -> bool {
        matches!(self, EventKind::SlaWarning | EventKind::SlaBreached)
    }

    /// Whether the entry records tracking rather than a change to the
    /// ticket (SLA thresholds, pages): workflows do not start on it.
    pub fn is_tracking(self) -> bool {
        self.is_sla() || matches!(self, EventKind::Paged)
    }
}

named_enum! {
    /// Who may read a history entry.
    Visibility {
        /// Requesters see it too.
        Public = "public",
        /// Agents only (work notes, SLA tracking).
        Internal = "internal",
    }
}

/// One history entry about to be written (the store adds the incident,
/// the actor, the instant and the sequence number).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// What it records.
    pub kind: EventKind,
    /// Which field, for changes.
    pub field: Option<String>,
    /// Value before.
    pub old_value: Option<Value>,
    /// Value after.
    pub new_value: Option<Value>,
    /// Text: a comment, a note, or the reason for a change.
    pub body: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
}

impl HistoryEntry {
    /// The entry for one field's change: `status_changed` for the status,
    /// `field_changed` for anything else. Both are public.
    pub fn change(change: FieldChange) -> Self {
        let kind = if change.field == "status" { EventKind::StatusChanged } else { EventKind::FieldChanged };
        HistoryEntry {
            kind,
            field: Some(change.field),
            old_value: Some(change.old),
            new_value: Some(change.new),
            body: None,
            visibility: Visibility::Public,
        }
    }

    /// A comment (public) or a work note (internal).
    pub fn note(body: String, visibility: Visibility) -> Self {
        let kind = match visibility {
            Visibility::Public => EventKind::Comment,
            Visibility::Internal => EventKind::WorkNote,
        };
        HistoryEntry { kind, field: None, old_value: None, new_value: None, body: Some(body), visibility }
    }
}
