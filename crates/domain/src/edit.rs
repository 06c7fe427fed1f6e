//! One way to change an incident.
//!
//! An [`Edit`] is everything one request (an API call, a form, or one
//! workflow step's actions) wants to change: field edits by name, status
//! moves, and comments or work notes. [`apply`] checks it against the rules
//! every change obeys (the references exist, an assignee is an active agent
//! of the group, CIs exist and a service is a service, custom fields match
//! the admin schema, the edit rules of [`crate::changes`] and the
//! lifecycle of [`crate::lifecycle`]) and returns the incident after it
//! with the history entries to record, or the first rule it broke. Nothing
//! is half-applied: an edit applies as a whole or not at all.
//!
//! The store uses it for every human change before it writes, and the
//! workflow engine's step runner uses it to apply a step's actions to the
//! in-memory ticket that later steps see, for real runs and dry-runs alike.
//! The names an edit mentions are resolved through [`References`], which
//! the caller loads (the store from the database, the engine from its
//! per-batch directory snapshot); [`References::wanted`] says what to load.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::changes::{self, FieldChange, IncidentPatch, PriorityOverride};
use crate::cmdb::CiClass;
use crate::custom_fields::CustomFieldSchema;
use crate::directory::Role;
use crate::error::{DomainError, Violations};
use crate::history::{HistoryEntry, Visibility};
use crate::incident::{Incident, Level, Status, TEXT_MAX, check_text};
use crate::lifecycle::{LifecycleFacts, ResolutionChange, TransitionRequest, check_transition};
use crate::priority::PriorityMatrix;

/// A partial edit of an incident's fields. `None` leaves a field alone;
/// `Some(None)` clears an optional one. Users and groups are named, CIs
/// are ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentUpdate {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New or cleared category.
    pub category: Option<Option<String>>,
    /// New or cleared subcategory.
    pub subcategory: Option<Option<String>>,
    /// New or cleared service.
    pub service_id: Option<Option<i64>>,
    /// Replacement affected CIs.
    pub affected_ci_ids: Option<Vec<i64>>,
    /// New impact.
    pub impact: Option<Level>,
    /// New urgency.
    pub urgency: Option<Level>,
    /// Set or clear a manual priority.
    pub priority_override: Option<Option<PriorityOverride>>,
    /// New or cleared group (name).
    pub assignment_group: Option<Option<String>>,
    /// New or cleared assignee (username).
    pub assignee: Option<Option<String>>,
    /// New escalation level.
    pub escalation_level: Option<u8>,
    /// Replacement custom fields.
    pub custom_fields: Option<Value>,
    /// Replacement kind-specific details (see [`crate::kind::check_details`]).
    pub details: Option<Value>,
    /// Refuse the edit unless the incident is still at this version
    /// (checked by the store before it applies the edit).
    pub expected_version: Option<i64>,
}

impl IncidentUpdate {
    /// Whether it edits no field.
    pub fn is_empty(&self) -> bool {
        IncidentUpdate { expected_version: None, ..self.clone() } == IncidentUpdate::default()
    }

    /// The history names of the fields it edits.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                fields.push(name);
            }
        };
        add(self.title.is_some(), "title");
        add(self.description.is_some(), "description");
        add(self.category.is_some(), "category");
        add(self.subcategory.is_some(), "subcategory");
        add(self.service_id.is_some(), "service");
        add(self.affected_ci_ids.is_some(), "affected_cis");
        add(self.impact.is_some(), "impact");
        add(self.urgency.is_some(), "urgency");
        add(self.priority_override.is_some(), "priority");
        add(self.assignment_group.is_some(), "assignment_group");
        add(self.assignee.is_some(), "assignee");
        add(self.escalation_level.is_some(), "escalation_level");
        add(self.custom_fields.is_some(), "custom_fields");
        add(self.details.is_some(), "details");
        fields
    }

    /// Stops editing a field (by its history name); `true` if it was edited.
    pub fn drop_field(&mut self, field: &str) -> bool {
        fn take<T>(slot: &mut Option<T>) -> bool {
            slot.take().is_some()
        }
        match field {
            "title" => take(&mut self.title),
            "description" => take(&mut self.description),
            "category" => take(&mut self.category),
            "subcategory" => take(&mut self.subcategory),
            "service" => take(&mut self.service_id),
            "affected_cis" => take(&mut self.affected_ci_ids),
            "impact" => take(&mut self.impact),
            "urgency" => take(&mut self.urgency),
            "priority" | "priority_override_reason" => take(&mut self.priority_override),
            "assignment_group" => take(&mut self.assignment_group),
            "assignee" => take(&mut self.assignee),
            "escalation_level" => take(&mut self.escalation_level),
            "custom_fields" => take(&mut self.custom_fields),
            "details" => take(&mut self.details),
            _ => false,
        }
    }
}

/// A comment or work note to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text.
    pub body: String,
    /// Public (a comment) or internal (a work note).
    pub visibility: Visibility,
}

/// Everything one request changes, applied in this order: the field edit,
/// then each status move, then the notes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edit {
    /// Field edits.
    pub update: IncidentUpdate,
    /// Status moves, in order.
    pub transitions: Vec<TransitionRequest>,
    /// Comments and work notes.
    pub notes: Vec<Note>,
}

impl Edit {
    /// An edit of fields only.
    pub fn update(update: IncidentUpdate) -> Self {
        Edit { update, ..Edit::default() }
    }

    /// One status move.
    pub fn transition(request: TransitionRequest) -> Self {
        Edit { transitions: vec![request], ..Edit::default() }
    }

    /// One comment or work note.
    pub fn note(body: impl Into<String>, visibility: Visibility) -> Self {
        Edit { notes: vec![Note { body: body.into(), visibility }], ..Edit::default() }
    }

    /// Whether it changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.update.is_empty() && self.transitions.is_empty() && self.notes.is_empty()
    }

    /// Removes what it would change of `fields` (history names; `status`
    /// covers every status move) and returns the fields it dropped, so a
    /// change someone else committed meanwhile wins over this one.
    pub fn drop_fields<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut dropped = Vec::new();
        for field in fields {
            let hit = if field == "status" {
                let moved = !self.transitions.is_empty();
                self.transitions.clear();
                moved
            } else {
                self.update.drop_field(field)
            };
            if hit && !dropped.iter().any(|d| d == field) {
                dropped.push(field.to_owned());
            }
        }
        dropped
    }
}

/// A user an edit names, as far as edits care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// Id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Whether the account is active.
    pub active: bool,
}

/// What the names and ids in an edit refer to, loaded by the caller.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Users by username.
    pub users: HashMap<String, UserRef>,
    /// Group ids by name.
    pub groups: HashMap<String, i64>,
    /// Usernames by id (for history entries and records).
    pub user_names: HashMap<i64, String>,
    /// Group names by id.
    pub group_names: HashMap<i64, String>,
    /// Group memberships, `(group id, user id)`.
    pub members: HashSet<(i64, i64)>,
    /// Classes of the CIs an edit names, by id.
    pub cis: HashMap<i64, CiClass>,
}

/// What [`References`] must hold for one edit of one incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Users by username.
    pub usernames: BTreeSet<String>,
    /// Groups by name.
    pub group_names: BTreeSet<String>,
    /// Names of users by id.
    pub user_ids: BTreeSet<i64>,
    /// Names of groups by id.
    pub group_ids: BTreeSet<i64>,
    /// CIs by id.
    pub ci_ids: BTreeSet<i64>,
}

impl Wanted {
    /// Whether it wants nothing.
    pub fn is_empty(&self) -> bool {
        self.usernames.is_empty()
            && self.group_names.is_empty()
            && self.user_ids.is_empty()
            && self.group_ids.is_empty()
            && self.ci_ids.is_empty()
    }

    /// What of this is not in `known`.
    pub fn minus(&self, known: &Wanted) -> Wanted {
        Wanted {
            usernames: self.usernames.difference(&known.usernames).cloned().collect(),
            group_names: self.group_names.difference(&known.group_names).cloned().collect(),
            user_ids: self.user_ids.difference(&known.user_ids).copied().collect(),
            group_ids: self.group_ids.difference(&known.group_ids).copied().collect(),
            ci_ids: self.ci_ids.difference(&known.ci_ids).copied().collect(),
        }
    }

    /// Adds another edit's wants.
    pub fn extend(&mut self, other: Wanted) {
        self.usernames.extend(other.usernames);
        self.group_names.extend(other.group_names);
        self.user_ids.extend(other.user_ids);
        self.group_ids.extend(other.group_ids);
        self.ci_ids.extend(other.ci_ids);
    }
}

impl References {
    /// Adds what another load found.
    pub fn merge(&mut self, other: References) {
        self.users.extend(other.users);
        self.groups.extend(other.groups);
        self.user_names.extend(other.user_names);
        self.group_names.extend(other.group_names);
        self.members.extend(other.members);
        self.cis.extend(other.cis);
    }

    /// What applying `edit` to `current` reads. Memberships must include
    /// those of the wanted (and current) groups.
    pub fn wanted(current: &Incident, edit: &Edit) -> Wanted {
        let u = &edit.update;
        let mut w = Wanted::default();
        w.usernames.extend(u.assignee.clone().flatten());
        w.group_names.extend(u.assignment_group.clone().flatten());
        w.user_ids.extend([Some(current.requester_id), current.assignee_id].into_iter().flatten());
        w.group_ids.extend(current.assignment_group_id);
        w.ci_ids.extend(u.service_id.flatten());
        w.ci_ids.extend(u.affected_ci_ids.iter().flatten().copied());
        w
    }

    /// A user by name; a name that was looked up and is absent is unknown.
    pub fn user(&self, field: &str, name: &str) -> Result<&UserRef, DomainError> {
        self.users.get(name).ok_or_else(|| DomainError::invalid(field, "exists", format!("user `{name}` does not exist")))
    }

    /// A group's id by name.
    pub fn group(&self, field: &str, name: &str) -> Result<i64, DomainError> {
        self.groups.get(name).copied().ok_or_else(|| DomainError::invalid(field, "exists", format!("group `{name}` does not exist")))
    }

    /// Whether the user is a member of the group.
    pub fn is_member(&self, group_id: i64, user_id: i64) -> bool {
        self.members.contains(&(group_id, user_id))
    }

    /// The assignee's id after checking they are an active agent in the group.
    pub fn assignee(&self, name: &str, group_id: Option<i64>) -> Result<i64, DomainError> {
        let u = self.user("assignee", name)?;
        if !u.active || !u.role.is_agent() {
            return Err(DomainError::invalid("assignee", "agent", format!("`{name}` is not an active agent")));
        }
        if let Some(g) = group_id
            && !self.is_member(g, u.id)
        {
            return Err(DomainError::invalid("assignee", "member", format!("`{name}` is not a member of the assignment group")));
        }
        Ok(u.id)
    }

    /// Checks that a service is a CI of class service and that every
    /// affected CI exists.
    pub fn check_cis(&self, v: &mut Violations, service_id: Option<i64>, affected: &[i64]) {
        if let Some(id) = service_id {
            match self.cis.get(&id) {
                None => v.push("service", "exists", format!("CI {id} does not exist")),
                Some(class) if *class != CiClass::Service => v.push("service", "class", format!("CI {id} is a {class}, not a service")),
                Some(_) => {}
            }
        }
        for (i, id) in affected.iter().enumerate() {
            v.check(!self.cis.contains_key(id), &format!("affected_cis[{i}]"), "exists", || format!("CI {id} does not exist"));
        }
    }

    /// Rewrites id-valued changes of references into names for the history.
    pub fn name_change(&self, mut change: FieldChange) -> FieldChange {
        let map = |v: &Value, table: &HashMap<i64, String>| v.as_i64().and_then(|id| table.get(&id)).map_or(Value::Null, |n| json!(n));
        match change.field.as_str() {
            "assignment_group" => {
                change.old = map(&change.old, &self.group_names);
                change.new = map(&change.new, &self.group_names);
            }
            "assignee" => {
                change.old = map(&change.old, &self.user_names);
                change.new = map(&change.new, &self.user_names);
            }
            _ => {}
        }
        change
    }

    /// Remembers the names of the ids an applied edit introduced, so the
    /// record of the result can be named without another lookup.
    fn learn_names(&mut self) {
        for (name, user) in &self.users {
            self.user_names.entry(user.id).or_insert_with(|| name.clone());
        }
        for (name, id) in &self.groups {
            self.group_names.entry(*id).or_insert_with(|| name.clone());
        }
    }
}

/// The settings every edit is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The impact x urgency matrix.
    pub matrix: &'a PriorityMatrix,
    /// The admin's custom field schema.
    pub custom_fields: &'a CustomFieldSchema,
}

/// An incident after an edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    /// The incident as it is after the edit.
    pub incident: Incident,
    /// What to record, in order.
    pub entries: Vec<HistoryEntry>,
    /// Whether its affected CIs changed.
    pub cis_changed: bool,
    /// Whether a field or the status changed (a note alone changes
    /// neither, nor the version).
    pub fields_changed: bool,
}

impl Edited {
    /// An edit that changed nothing.
    pub fn unchanged(incident: &Incident) -> Self {
        Edited { incident: incident.clone(), entries: Vec::new(), cis_changed: false, fields_changed: false }
    }

    /// Folds a later edit into this one (a run's steps, one after another).
    pub fn then(mut self, later: Edited) -> Self {
        self.entries.extend(later.entries);
        self.cis_changed |= later.cis_changed;
        self.fields_changed |= later.fields_changed;
        self.incident = later.incident;
        self
    }
}

/// Applies `edit` to `current` (see the module docs). Names must be in
/// `refs` (load [`References::wanted`]); `refs` learns the names of the
/// result so [`References::user_names`] and [`References::group_names`]
/// cover it.
pub fn apply(current: &Incident, edit: &Edit, refs: &mut References, rules: Rules<'_>, now: DateTime<Utc>) -> Result<Edited, DomainError> {
    let mut next = current.clone();
    let mut entries = Vec::new();
    let mut cis_changed = false;
    let mut fields_changed = false;
    if !edit.update.is_empty() {
        let patch = resolve(current, &edit.update, refs, rules)?;
        let (patched, changes) = changes::apply_patch(current, &patch, rules.matrix, now)?;
        cis_changed = changes.iter().any(|c| c.field == "affected_cis");
        fields_changed = !changes.is_empty();
        entries.extend(changes.into_iter().map(|c| HistoryEntry::change(refs.name_change(c))));
        next = patched;
    }
    for request in &edit.transitions {
        entries.extend(transition(&mut next, request, now)?);
        fields_changed = true;
    }
    for note in &edit.notes {
        let mut v = Violations::default();
        check_text(&mut v, "body", &note.body, TEXT_MAX, true);
        v.finish()?;
        entries.push(HistoryEntry::note(note.body.clone(), note.visibility));
        next.updated_at = now;
    }
    // One edit is one new version, however many parts it has.
    next.version = current.version + i64::from(fields_changed);
    if fields_changed {
        next.updated_at = now;
    }
    refs.learn_names();
    Ok(Edited { incident: next, entries, cis_changed, fields_changed })
}

/// Resolves names to ids and checks references and custom fields.
fn resolve(current: &Incident, update: &IncidentUpdate, refs: &References, rules: Rules<'_>) -> Result<IncidentPatch, DomainError> {
    let group_id = match &update.assignment_group {
        Some(Some(g)) => Some(Some(refs.group("assignment_group", g)?)),
        Some(None) => Some(None),
        None => None,
    };
    let effective_group = group_id.unwrap_or(current.assignment_group_id);
    let assignee_id = match &update.assignee {
        Some(Some(a)) => Some(Some(refs.assignee(a, effective_group)?)),
        Some(None) => Some(None),
        None => None,
    };
    // A kept assignee must belong to a newly chosen group: that is enforced
    // by `apply_patch` clearing the assignee on a group change.
    let mut v = Violations::default();
    refs.check_cis(&mut v, update.service_id.flatten(), update.affected_ci_ids.as_deref().unwrap_or(&[]));
    if let Some(custom) = &update.custom_fields {
        v.absorb(rules.custom_fields.validate(custom));
    }
    v.finish()?;
    Ok(IncidentPatch {
        title: update.title.clone(),
        description: update.description.clone(),
        category: update.category.clone(),
        subcategory: update.subcategory.clone(),
        service_id: update.service_id,
        affected_ci_ids: update.affected_ci_ids.clone(),
        impact: update.impact,
        urgency: update.urgency,
        priority_override: update.priority_override.clone(),
        assignment_group_id: group_id,
        assignee_id,
        escalation_level: update.escalation_level,
        custom_fields: update.custom_fields.clone(),
        details: update.details.clone(),
    })
}

/// Moves `incident` through its lifecycle; returns the history entries:
/// `status_changed` with the reason, plus changes to the pending reason and
/// resolution fields.
fn transition(incident: &mut Incident, request: &TransitionRequest, now: DateTime<Utc>) -> Result<Vec<HistoryEntry>, DomainError> {
    let facts = LifecycleFacts {
        status: incident.status,
        has_group: incident.assignment_group_id.is_some(),
        has_assignee: incident.assignee_id.is_some(),
    };
    let effect = check_transition(facts, request)?;
    if effect.status == Status::Resolved
        && let Some(item) = crate::checklist::first_required_open(&incident.checklist)
    {
        let index = incident.checklist.iter().position(|i| i == item).unwrap_or_default();
        return Err(DomainError::TransitionPrecondition {
            to: Status::Resolved,
            violations: vec![crate::error::Violation::new(
                format!("checklist/{}", index + 1),
                "required_open",
                format!("checklist item {} `{}` is required and not done", index + 1, item.text),
            )],
        });
    }
    let before = incident.clone();
    incident.status = effect.status;
    incident.pending_reason = effect.pending_reason;
    match effect.resolution {
        ResolutionChange::Keep => {}
        ResolutionChange::Set { code, notes } => {
            incident.resolution_code = Some(code);
            incident.resolution_notes = Some(notes);
            incident.resolved_at = Some(now);
        }
        ResolutionChange::Clear => {
            incident.resolution_code = None;
            incident.resolution_notes = None;
            incident.resolved_at = None;
        }
    }
    if effect.status == Status::Closed {
        incident.closed_at = Some(now);
    }
    let mut status = HistoryEntry::change(FieldChange { field: "status".into(), old: json!(before.status), new: json!(incident.status) });
    status.body = request.reason.clone();
    let mut entries = vec![status];
    let extra = [
        ("pending_reason", json!(before.pending_reason), json!(incident.pending_reason)),
        ("resolution_code", json!(before.resolution_code), json!(incident.resolution_code)),
        ("resolution_notes", json!(before.resolution_notes), json!(incident.resolution_notes)),
    ];
    for (field, old, new) in extra {
        if old != new {
            entries.push(HistoryEntry::change(FieldChange { field: field.into(), old, new }));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests;
