//! What differs between kinds of ticket and what a ticket carries beyond
//! its fields: converting an incident to a request and back (history
//! kept: the id and every entry stay, the prefix changes), ticking the
//! processing checklist, and the templates document that prefills new
//! tickets with their checklist.

use serde_json::{Value, json};
use switchyard_domain::changes::FieldChange;
use switchyard_domain::checklist::{self, ChecklistItem, TemplateDocument};
use switchyard_domain::history::HistoryEntry;
use switchyard_domain::incident::IncidentNumber;
use switchyard_domain::kind::{self, Kind};
use switchyard_domain::{DomainError, Violations};

use crate::entity::setting;
use crate::error::StoreError;
use crate::history::Actor;
use crate::incidents::IncidentRecord;
use crate::store::Store;
use crate::time;
use sea_orm::EntityTrait;

const TEMPLATES: &str = "ticket_templates";

impl Store {
    /// Converts a ticket to another kind (incident and request only; see
    /// [`kind::check_conversion`]). The details the new kind does not know
    /// are dropped; the history records `kind` as a changed field.
    pub async fn convert_ticket(
        &self,
        number: IncidentNumber,
        to: Kind,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        self.change_ticket(number, actor, |incident| {
            kind::check_conversion(incident.kind, to)?;
            if incident.status.is_final() {
                return Err(DomainError::invalid("status", "read_only", format!("a {} ticket cannot be converted", incident.status)));
            }
            let from = incident.kind;
            incident.kind = to;
            incident.details = kind::details_for(to, &incident.details);
            let mut entry = HistoryEntry::change(FieldChange { field: "kind".into(), old: json!(from), new: json!(to) });
            let said = format!("Converted from {} to {}", from.number(incident.number.0), to.number(incident.number.0));
            entry.body = Some(match reason {
                Some(r) if !r.trim().is_empty() => format!("{said}: {}", r.trim()),
                _ => said,
            });
            Ok(vec![entry])
        })
        .await
    }

    /// Ticks or unticks checklist item `index` (0-based).
    pub async fn set_checklist_item(
        &self,
        number: IncidentNumber,
        index: usize,
        done: bool,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        self.change_ticket(number, actor, |incident| {
            editable(incident)?;
            let before = checklist::set_done(&mut incident.checklist, index, done, &actor.name, time::now())?;
            if before.done == done {
                return Ok(Vec::new());
            }
            Ok(vec![checklist_entry(&before.text, before.done, done)])
        })
        .await
    }

    /// Appends an item to a ticket's checklist.
    pub async fn add_checklist_item(
        &self,
        number: IncidentNumber,
        text: &str,
        required: bool,
        actor: &Actor,
    ) -> Result<IncidentRecord, StoreError> {
        self.change_ticket(number, actor, |incident| {
            editable(incident)?;
            let mut v = Violations::default();
            checklist::check_items(
                &mut v,
                "checklist",
                incident.checklist.iter().map(|i| i.text.as_str()).chain([text]).collect::<Vec<_>>().into_iter(),
            );
            v.finish()?;
            incident.checklist.push(ChecklistItem { text: text.trim().to_owned(), required, done: false, done_by: None, done_at: None });
            Ok(vec![HistoryEntry::change(FieldChange {
                field: "checklist".into(),
                old: Value::Null,
                new: json!({"item": text.trim(), "required": required, "done": false}),
            })])
        })
        .await
    }

    /// The templates an admin defined (none by default).
    pub async fn templates(&self) -> Result<TemplateDocument, StoreError> {
        match setting::Entity::find_by_id(TEMPLATES.to_owned()).one(&self.read).await? {
            Some(r) => {
                let doc = crate::error::stored_json("settings.ticket_templates", &r.value)?;
                TemplateDocument::parse(&doc).map_err(|e| StoreError::corrupt("settings.ticket_templates", e))
            }
            None => Ok(TemplateDocument::default()),
        }
    }

    /// Replaces the templates document (checked first; see
    /// [`TemplateDocument::parse`]).
    pub async fn set_templates(&self, document: &Value) -> Result<TemplateDocument, StoreError> {
        let doc = TemplateDocument::parse(document)?;
        let value = serde_json::to_string(&doc).map_err(|e| StoreError::corrupt("ticket_templates", e))?;
        self.put_setting(TEMPLATES, value).await?;
        Ok(doc)
    }
}

/// Refuses to change a closed or cancelled ticket.
fn editable(incident: &switchyard_domain::incident::Incident) -> Result<(), DomainError> {
    if incident.status.is_final() {
        return Err(DomainError::invalid("status", "read_only", format!("a {} ticket cannot be edited", incident.status)));
    }
    Ok(())
}

/// The history entry for an item ticked or unticked.
fn checklist_entry(text: &str, was: bool, now: bool) -> HistoryEntry {
    HistoryEntry::change(FieldChange {
        field: "checklist".into(),
        old: json!({"item": text, "done": was}),
        new: json!({"item": text, "done": now}),
    })
}
