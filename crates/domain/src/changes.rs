//! Creating and editing incidents: the rules every change obeys, and the
//! field-level differences the store records as history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::checklist::{ChecklistItem, check_items};
use crate::error::{DomainError, Violations};
use crate::incident::{
    Channel, Incident, IncidentNumber, LABEL_MAX, Level, Priority, Status, TEXT_MAX, TITLE_MAX, check_label, check_text,
};
use crate::kind::{Kind, check_details};
use crate::lifecycle::status_after_assignment;
use crate::priority::PriorityMatrix;

/// Highest escalation level.
pub const MAX_ESCALATION_LEVEL: u8 = 9;
/// Most affected CIs on one incident.
pub const MAX_AFFECTED_CIS: usize = 100;

/// A manual priority that replaces the matrix's, with the reason recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityOverride {
    /// The priority to use.
    pub priority: Priority,
    /// Why the matrix's priority is wrong for this incident.
    pub reason: String,
}

/// Everything needed to log a new incident, with references already
/// resolved to ids by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// One-line summary.
    pub title: String,
    /// Full description.
    pub description: String,
    /// Reporter.
    pub requester_id: i64,
    /// How it arrived.
    pub channel: Channel,
    /// Category.
    pub category: Option<String>,
    /// Subcategory.
    pub subcategory: Option<String>,
    /// Affected service.
    pub service_id: Option<i64>,
    /// Affected CIs.
    pub affected_ci_ids: Vec<i64>,
    /// Impact, 1..3.
    pub impact: Level,
    /// Urgency, 1..3.
    pub urgency: Level,
    /// Manual priority.
    pub priority_override: Option<PriorityOverride>,
    /// Initial assignment group.
    pub assignment_group_id: Option<i64>,
    /// Initial assignee.
    pub assignee_id: Option<i64>,
    /// Custom fields object (validated separately against the admin schema).
    pub custom_fields: Value,
    /// What kind of ticket it is.
    pub kind: Kind,
    /// Kind-specific details (`null`: none).
    pub details: Value,
    /// Processing steps (from a template or given).
    pub checklist: Vec<ChecklistItem>,
}

/// A partial edit. `None` leaves a field alone; `Some(None)` clears an
/// optional field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncidentPatch {
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
    /// Replacement list of affected CIs.
    pub affected_ci_ids: Option<Vec<i64>>,
    /// New impact.
    pub impact: Option<Level>,
    /// New urgency.
    pub urgency: Option<Level>,
    /// Set or clear a manual priority.
    pub priority_override: Option<Option<PriorityOverride>>,
    /// New or cleared assignment group.
    pub assignment_group_id: Option<Option<i64>>,
    /// New or cleared assignee.
    pub assignee_id: Option<Option<i64>>,
    /// New escalation level.
    pub escalation_level: Option<u8>,
    /// Replacement custom fields object.
    pub custom_fields: Option<Value>,
    /// Replacement kind-specific details.
    pub details: Option<Value>,
}

/// One field's change, as recorded in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's API name.
    pub field: String,
    /// Value before.
    pub old: Value,
    /// Value after.
    pub new: Value,
}

fn check_common(v: &mut Violations, category: Option<&str>, subcategory: Option<&str>, cis: Option<&[i64]>, custom: Option<&Value>) {
    check_label(v, "category", category);
    check_label(v, "subcategory", subcategory);
    if let Some(cis) = cis {
        v.check(cis.len() > MAX_AFFECTED_CIS, "affected_cis", "max_items", || format!("at most {MAX_AFFECTED_CIS} CIs"));
    }
    if let Some(custom) = custom {
        v.check(!custom.is_object(), "custom_fields", "type", || "must be a JSON object".into());
    }
}

fn check_override(v: &mut Violations, o: Option<&PriorityOverride>) {
    if let Some(o) = o {
        check_text(v, "priority_override.reason", &o.reason, LABEL_MAX * 10, true);
    }
}

/// Builds a new incident from validated input. A group given at creation
/// makes it `assigned`; an assignee needs a group.
pub fn create(new: NewIncident, number: IncidentNumber, matrix: &PriorityMatrix, now: DateTime<Utc>) -> Result<Incident, DomainError> {
    let mut v = Violations::default();
    check_text(&mut v, "title", &new.title, TITLE_MAX, true);
    check_text(&mut v, "description", &new.description, TEXT_MAX, false);
    check_common(&mut v, new.category.as_deref(), new.subcategory.as_deref(), Some(&new.affected_ci_ids), Some(&new.custom_fields));
    check_override(&mut v, new.priority_override.as_ref());
    v.check(new.assignee_id.is_some() && new.assignment_group_id.is_none(), "assignee", "requires_group", || {
        "an assignee needs an assignment group".into()
    });
    check_items(&mut v, "checklist", new.checklist.iter().map(|i| i.text.as_str()));
    let details = match check_details(new.kind, &new.details) {
        Ok(d) => d,
        Err(e) => {
            v.absorb(Err(e));
            Value::Null
        }
    };
    v.finish()?;
    let priority = new.priority_override.as_ref().map_or_else(|| matrix.priority(new.impact, new.urgency), |o| o.priority);
    let status = if new.assignment_group_id.is_some() { status_after_assignment(Status::New) } else { Status::New };
    let mut affected = new.affected_ci_ids;
    affected.sort_unstable();
    affected.dedup();
    Ok(Incident {
        number,
        title: new.title.trim().to_string(),
        description: new.description,
        requester_id: new.requester_id,
        channel: new.channel,
        category: new.category,
        subcategory: new.subcategory,
        service_id: new.service_id,
        affected_ci_ids: affected,
        impact: new.impact,
        urgency: new.urgency,
        priority,
        priority_override_reason: new.priority_override.map(|o| o.reason),
        status,
        pending_reason: None,
        assignment_group_id: new.assignment_group_id,
        assignee_id: new.assignee_id,
        escalation_level: 0,
        resolution_code: None,
        resolution_notes: None,
        custom_fields: new.custom_fields,
        created_at: now,
        updated_at: now,
        resolved_at: None,
        closed_at: None,
        version: 1,
        kind: new.kind,
        details,
        checklist: new.checklist,
    })
}

/// Applies a patch, returning the new incident and what changed. Rules:
/// final incidents are read-only; priority follows the matrix unless
/// overridden; a new incident that gets a group becomes `assigned`; an
/// assigned or in-progress incident keeps a group, an in-progress one keeps
/// an assignee; an assignee needs a group.
pub fn apply_patch(
    current: &Incident,
    patch: &IncidentPatch,
    matrix: &PriorityMatrix,
    now: DateTime<Utc>,
) -> Result<(Incident, Vec<FieldChange>), DomainError> {
    if current.status.is_final() {
        return Err(DomainError::invalid("status", "read_only", format!("a {} incident cannot be edited", current.status)));
    }
    let mut v = Violations::default();
    if let Some(title) = &patch.title {
        check_text(&mut v, "title", title, TITLE_MAX, true);
    }
    if let Some(description) = &patch.description {
        check_text(&mut v, "description", description, TEXT_MAX, false);
    }
    check_common(
        &mut v,
        patch.category.as_ref().and_then(|c| c.as_deref()),
        patch.subcategory.as_ref().and_then(|c| c.as_deref()),
        patch.affected_ci_ids.as_deref(),
        patch.custom_fields.as_ref(),
    );
    check_override(&mut v, patch.priority_override.as_ref().and_then(|o| o.as_ref()));
    if let Some(level) = patch.escalation_level {
        v.check(level > MAX_ESCALATION_LEVEL, "escalation_level", "range", || format!("must be 0..={MAX_ESCALATION_LEVEL}"));
    }

    let mut next = current.clone();
    if let Some(t) = &patch.title {
        next.title = t.trim().to_string();
    }
    if let Some(d) = &patch.description {
        next.description.clone_from(d);
    }
    if let Some(c) = &patch.category {
        next.category.clone_from(c);
    }
    if let Some(c) = &patch.subcategory {
        next.subcategory.clone_from(c);
    }
    if let Some(s) = patch.service_id {
        next.service_id = s;
    }
    if let Some(cis) = &patch.affected_ci_ids {
        let mut cis = cis.clone();
        cis.sort_unstable();
        cis.dedup();
        next.affected_ci_ids = cis;
    }
    if let Some(i) = patch.impact {
        next.impact = i;
    }
    if let Some(u) = patch.urgency {
        next.urgency = u;
    }
    if let Some(o) = &patch.priority_override {
        next.priority_override_reason = o.as_ref().map(|o| o.reason.clone());
        if let Some(o) = o {
            next.priority = o.priority;
        }
    }
    if next.priority_override_reason.is_none() {
        next.priority = matrix.priority(next.impact, next.urgency);
    }
    if let Some(g) = patch.assignment_group_id {
        next.assignment_group_id = g;
        // Moving to another group hands the incident over: the old group's
        // agent is no longer responsible unless the patch names one.
        if g != current.assignment_group_id && patch.assignee_id.is_none() {
            next.assignee_id = None;
        }
    }
    if let Some(a) = patch.assignee_id {
        next.assignee_id = a;
    }
    if let Some(level) = patch.escalation_level {
        next.escalation_level = level;
    }
    if let Some(c) = &patch.custom_fields {
        next.custom_fields = c.clone();
    }
    if let Some(d) = &patch.details {
        match check_details(current.kind, d) {
            Ok(d) => next.details = d,
            Err(e) => v.absorb(Err(e)),
        }
    }
    if next.assignment_group_id.is_some() {
        next.status = status_after_assignment(next.status);
    }
    v.check(next.assignee_id.is_some() && next.assignment_group_id.is_none(), "assignee", "requires_group", || {
        "an assignee needs an assignment group".into()
    });
    v.check(
        next.assignment_group_id.is_none() && matches!(next.status, Status::Assigned | Status::InProgress),
        "assignment_group",
        "required",
        || format!("a {} incident must keep an assignment group", next.status),
    );
    v.check(next.assignee_id.is_none() && next.status == Status::InProgress, "assignee", "required", || {
        "an in-progress incident must keep an assignee".into()
    });
    v.finish()?;

    let changes = diff(current, &next);
    if !changes.is_empty() {
        next.updated_at = now;
        next.version = current.version + 1;
    }
    Ok((next, changes))
}

/// The fields that differ between two versions of an incident, with ids for
/// references (the store turns them into names for the history).
pub fn diff(old: &Incident, new: &Incident) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut push = |field: &str, a: Value, b: Value| {
        if a != b {
            changes.push(FieldChange { field: field.to_string(), old: a, new: b });
        }
    };
    push("title", json!(old.title), json!(new.title));
    push("description", json!(old.description), json!(new.description));
    push("category", json!(old.category), json!(new.category));
    push("subcategory", json!(old.subcategory), json!(new.subcategory));
    push("service", json!(old.service_id), json!(new.service_id));
    push("affected_cis", json!(old.affected_ci_ids), json!(new.affected_ci_ids));
    push("impact", json!(old.impact), json!(new.impact));
    push("urgency", json!(old.urgency), json!(new.urgency));
    push("priority", json!(old.priority), json!(new.priority));
    push("priority_override_reason", json!(old.priority_override_reason), json!(new.priority_override_reason));
    push("status", json!(old.status), json!(new.status));
    push("assignment_group", json!(old.assignment_group_id), json!(new.assignment_group_id));
    push("assignee", json!(old.assignee_id), json!(new.assignee_id));
    push("escalation_level", json!(old.escalation_level), json!(new.escalation_level));
    push("custom_fields", old.custom_fields.clone(), new.custom_fields.clone());
    push("details", old.details.clone(), new.details.clone());
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn new_incident() -> NewIncident {
        NewIncident {
            title: "VPN down".into(),
            description: "Nobody in Berlin can connect".into(),
            requester_id: 7,
            channel: Channel::Portal,
            category: Some("network".into()),
            subcategory: None,
            service_id: None,
            affected_ci_ids: vec![3, 1, 3],
            impact: Level::MEDIUM,
            urgency: Level::HIGH,
            priority_override: None,
            assignment_group_id: None,
            assignee_id: None,
            custom_fields: json!({}),
            kind: Kind::Incident,
            details: Value::Null,
            checklist: Vec::new(),
        }
    }

    fn incident() -> Incident {
        create(new_incident(), IncidentNumber(1), &PriorityMatrix::default(), Utc::now()).unwrap()
    }

    #[test]
    fn create_computes_priority_and_status() {
        let i = incident();
        assert_eq!(i.priority, Priority::P2);
        assert_eq!(i.status, Status::New);
        assert_eq!(i.affected_ci_ids, vec![1, 3]);
        let with_group = create(
            NewIncident { assignment_group_id: Some(2), ..new_incident() },
            IncidentNumber(2),
            &PriorityMatrix::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(with_group.status, Status::Assigned);
    }

    #[test]
    fn create_rejects_bad_input_naming_fields() {
        let bad = NewIncident { title: " ".into(), assignee_id: Some(1), custom_fields: json!([1]), ..new_incident() };
        let err = create(bad, IncidentNumber(1), &PriorityMatrix::default(), Utc::now()).unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| format!("{}/{}", v.field, v.rule)).collect();
        assert_eq!(fields, vec!["title/required", "custom_fields/type", "assignee/requires_group"]);
    }

    #[test]
    fn override_and_matrix() {
        let i = incident();
        let patch = IncidentPatch {
            priority_override: Some(Some(PriorityOverride { priority: Priority::P1, reason: "CEO".into() })),
            ..Default::default()
        };
        let (next, changes) = apply_patch(&i, &patch, &PriorityMatrix::default(), Utc::now()).unwrap();
        assert_eq!(next.priority, Priority::P1);
        assert_eq!(changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["priority", "priority_override_reason"]);
        // Impact changes do not move an overridden priority...
        let (next, _) =
            apply_patch(&next, &IncidentPatch { impact: Some(Level::LOW), ..Default::default() }, &PriorityMatrix::default(), Utc::now())
                .unwrap();
        assert_eq!(next.priority, Priority::P1);
        // ...until the override is cleared.
        let (next, _) = apply_patch(
            &next,
            &IncidentPatch { priority_override: Some(None), ..Default::default() },
            &PriorityMatrix::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(next.priority, Priority::P3);
    }

    #[test]
    fn group_changes_hand_over() {
        let i = incident();
        let m = PriorityMatrix::default();
        let p = IncidentPatch { assignment_group_id: Some(Some(5)), assignee_id: Some(Some(9)), ..Default::default() };
        let (assigned, _) = apply_patch(&i, &p, &m, Utc::now()).unwrap();
        assert_eq!((assigned.status, assigned.assignee_id), (Status::Assigned, Some(9)));
        let (moved, changes) =
            apply_patch(&assigned, &IncidentPatch { assignment_group_id: Some(Some(6)), ..Default::default() }, &m, Utc::now()).unwrap();
        assert_eq!(moved.assignee_id, None);
        assert_eq!(changes.len(), 2);
        let err =
            apply_patch(&assigned, &IncidentPatch { assignment_group_id: Some(None), ..Default::default() }, &m, Utc::now()).unwrap_err();
        assert_eq!(err.violations()[0].field, "assignment_group");
    }

    #[test]
    fn final_incidents_are_read_only_and_empty_patches_change_nothing() {
        let mut i = incident();
        let (same, changes) = apply_patch(&i, &IncidentPatch::default(), &PriorityMatrix::default(), Utc::now()).unwrap();
        assert!(changes.is_empty());
        assert_eq!(same.version, i.version);
        i.status = Status::Closed;
        assert!(
            apply_patch(&i, &IncidentPatch { title: Some("x".into()), ..Default::default() }, &PriorityMatrix::default(), Utc::now())
                .is_err()
        );
    }

    proptest! {
        /// Without an override, priority always equals the matrix cell, and
        /// the recorded changes are exactly the fields that differ.
        #[test]
        fn priority_tracks_matrix(i in 1u8..=3, u in 1u8..=3, title in "[a-z ]{1,20}") {
            let base = incident();
            let patch = IncidentPatch { impact: Level::new(i), urgency: Level::new(u), title: Some(title.clone()), ..Default::default() };
            match apply_patch(&base, &patch, &PriorityMatrix::default(), Utc::now()) {
                Ok((next, changes)) => {
                    prop_assert_eq!(next.priority.get(), i + u - 1);
                    prop_assert_eq!(changes, diff(&base, &next));
                }
                Err(e) => prop_assert!(title.trim().is_empty(), "{e}"),
            }
        }
    }
}
