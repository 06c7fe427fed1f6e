//! From the actions a plugin proposes to an edit of the ticket.
//!
//! Plugins propose, the host disposes: [`plan`] turns a step's actions into
//! one [`StepChanges`] (a domain [`Edit`]: one field edit, then status
//! moves and notes; plus notifications) and refuses, naming the action and
//! field, anything it cannot express. What the domain then refuses when the
//! runner applies the edit ([`switchyard_domain::edit::apply`]: an unknown
//! group, an assignee outside the group, an illegal transition) fails the
//! step the same way; either way nothing of the step is applied.

use serde_json::Value;
use switchyard_domain::changes::PriorityOverride;
use switchyard_domain::edit::{Edit, Note};
use switchyard_domain::history::Visibility;
use switchyard_domain::incident::{Level, PendingReason, Priority, ResolutionCode, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_plugin_host::Ticket;
use switchyard_plugin_host::model::{Action, Notification, StatusChange};

/// Why a step's actions were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("actions[{index}] ({action}): {message}")]
pub struct Rejection {
    /// Which action.
    pub index: usize,
    /// Its type, e.g. `set_field`.
    pub action: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Everything one step changes.
#[derive(Debug, Clone, Default)]
pub struct StepChanges {
    /// The ticket edit: every field change, then status moves and notes.
    pub edit: Edit,
    /// Notifications for the outbox.
    pub notifications: Vec<Notification>,
}

fn note(text: &str, visibility: Visibility) -> Note {
    Note { body: text.to_owned(), visibility }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::SetField(_) => "set_field",
        Action::SetPriority(_) => "set_priority",
        Action::SetStatus(_) => "set_status",
        Action::AssignGroup { .. } => "assign_group",
        Action::AssignUser { .. } => "assign_user",
        Action::AddWorkNote { .. } => "add_work_note",
        Action::AddComment { .. } => "add_comment",
        Action::LinkCi { .. } => "link_ci",
        Action::Notify(_) => "notify",
        Action::Escalate(_) => "escalate",
    }
}

fn level(value: &Value) -> Option<Level> {
    value.as_u64().and_then(|v| u8::try_from(v).ok()).and_then(Level::new)
}

fn optional_text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(format!("expected a string or null, got {other}")),
    }
}

/// Turns a step's actions into changes against `ticket` (the snapshot the
/// step saw; custom fields and CI links merge into it).
pub fn plan(actions: &[Action], ticket: Option<&Ticket>) -> Result<StepChanges, Rejection> {
    let mut changes = StepChanges::default();
    let mut custom = ticket.map(|t| t.custom_fields.clone());
    let mut cis: Option<Vec<i64>> = None;
    for (index, action) in actions.iter().enumerate() {
        let reject = |message: String| Rejection { index, action: action_name(action), message };
        if ticket.is_none() && !matches!(action, Action::Notify(_)) {
            return Err(reject("this run is not about a ticket; only notify is possible".into()));
        }
        let u = &mut changes.edit.update;
        match action {
            Action::SetField(f) => {
                let field = f.field.as_str();
                match field {
                    "title" | "description" => {
                        let Some(text) = f.value.as_str() else {
                            return Err(reject(format!("field `{field}` takes a string")));
                        };
                        if field == "title" {
                            u.title = Some(text.to_owned());
                        } else {
                            u.description = Some(text.to_owned());
                        }
                    }
                    "category" => u.category = Some(optional_text(&f.value).map_err(|e| reject(format!("field `category`: {e}")))?),
                    "subcategory" => {
                        u.subcategory = Some(optional_text(&f.value).map_err(|e| reject(format!("field `subcategory`: {e}")))?)
                    }
                    "impact" | "urgency" => {
                        let Some(l) = level(&f.value) else {
                            return Err(reject(format!("field `{field}` takes 1, 2 or 3")));
                        };
                        if field == "impact" {
                            u.impact = Some(l);
                        } else {
                            u.urgency = Some(l);
                        }
                    }
                    "service" => {
                        u.service_id = Some(match &f.value {
                            Value::Null => None,
                            v => Some(v.as_i64().ok_or_else(|| reject("field `service` takes a CI id or null".into()))?),
                        })
                    }
                    _ => {
                        let Some(name) = field.strip_prefix("custom_fields.").filter(|n| !n.is_empty()) else {
                            return Err(reject(format!(
                                "unknown field `{field}` (settable: title, description, category, subcategory, impact, urgency, service, custom_fields.<name>)"
                            )));
                        };
                        let object = custom.get_or_insert_with(|| Value::Object(Default::default()));
                        if let Value::Object(map) = object {
                            map.insert(name.to_owned(), f.value.clone());
                        }
                        u.custom_fields = custom.clone();
                    }
                }
            }
            Action::SetPriority(p) => {
                let priority = Priority::new(p.priority).ok_or_else(|| reject(format!("priority {} is not 1..5", p.priority)))?;
                u.priority_override = Some(Some(PriorityOverride { priority, reason: p.reason.clone() }));
            }
            Action::SetStatus(s) => changes.edit.transitions.push(transition(s).map_err(reject)?),
            Action::AssignGroup { group } => u.assignment_group = Some(Some(group.clone())),
            Action::AssignUser { user } => u.assignee = Some(Some(user.clone())),
            Action::AddWorkNote { text } => changes.edit.notes.push(note(text, Visibility::Internal)),
            Action::AddComment { text } => changes.edit.notes.push(note(text, Visibility::Public)),
            Action::LinkCi { ci } => {
                let id = i64::try_from(*ci).map_err(|_| reject(format!("CI id {ci} is out of range")))?;
                let list =
                    cis.get_or_insert_with(|| ticket.map(|t| t.affected_cis.iter().map(|&c| c as i64).collect()).unwrap_or_default());
                if !list.contains(&id) {
                    list.push(id);
                }
                u.affected_ci_ids = Some(list.clone());
            }
            Action::Notify(n) => {
                if n.recipients.is_empty() {
                    return Err(reject("a notification needs at least one recipient".into()));
                }
                changes.notifications.push(n.clone());
            }
            Action::Escalate(e) => {
                u.escalation_level = Some(e.level);
                if let Some(group) = &e.group {
                    u.assignment_group = Some(Some(group.clone()));
                }
                let handover = e.group.as_deref().map(|g| format!(" and handed to {g}")).unwrap_or_default();
                let text = format!("Escalated to level {}{handover}: {}", e.level, e.reason);
                changes.edit.notes.push(note(&text, Visibility::Internal));
            }
        }
    }
    Ok(changes)
}

fn transition(s: &StatusChange) -> Result<TransitionRequest, String> {
    let to: Status = s.status;
    let mut request = TransitionRequest { to: Some(to), pending_reason: None, resolution_code: None, resolution_notes: None, reason: None };
    match to {
        Status::Pending => {
            let reason = s.reason.as_deref().ok_or("moving to pending needs a reason (a pending reason such as awaiting_vendor)")?;
            request.pending_reason = Some(reason.parse::<PendingReason>().map_err(|e| format!("reason: {e}"))?);
        }
        Status::Resolved => {
            let (code, notes) =
                s.reason.as_deref().and_then(|r| r.split_once(':')).unwrap_or(("solved_workaround", s.reason.as_deref().unwrap_or("")));
            request.resolution_code = Some(code.trim().parse::<ResolutionCode>().map_err(|e| format!("reason: {e}"))?);
            request.resolution_notes =
                Some(if notes.trim().is_empty() { "Resolved by a workflow".to_owned() } else { notes.trim().to_owned() });
        }
        _ => request.reason = s.reason.clone(),
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_host::model::{Escalation, FieldValue, PriorityChange};

    fn ticket() -> Ticket {
        serde_json::from_value(serde_json::json!({
            "number": "INC-000001", "title": "t", "description": "d", "requester": "rita", "channel": "portal",
            "impact": 2, "urgency": 2, "priority": 3, "status": "new", "created_at": 0, "updated_at": 0,
            "affected_cis": [7], "custom_fields": {"site": "berlin"}
        }))
        .unwrap()
    }

    #[test]
    fn one_update_per_step_and_merged_custom_fields() {
        let actions = vec![
            Action::AssignGroup { group: "network".into() },
            Action::SetField(FieldValue { field: "custom_fields.floor".into(), value: serde_json::json!(3) }),
            Action::LinkCi { ci: 9 },
            Action::SetPriority(PriorityChange { priority: 1, reason: "VIP".into() }),
            Action::AddWorkNote { text: "routed".into() },
        ];
        let c = plan(&actions, Some(&ticket())).unwrap();
        let u = &c.edit.update;
        assert!(!u.is_empty());
        assert_eq!(u.assignment_group, Some(Some("network".into())));
        assert_eq!(u.custom_fields, Some(serde_json::json!({"site": "berlin", "floor": 3})));
        assert_eq!(u.affected_ci_ids, Some(vec![7, 9]));
        assert_eq!(c.edit.notes, vec![note("routed", Visibility::Internal)]);
    }

    #[test]
    fn refusals_name_the_action_and_field() {
        let table: Vec<(Action, &str)> = vec![
            (
                Action::SetField(FieldValue { field: "priority".into(), value: serde_json::json!(1) }),
                "actions[0] (set_field): unknown field `priority`",
            ),
            (
                Action::SetField(FieldValue { field: "impact".into(), value: serde_json::json!(7) }),
                "actions[0] (set_field): field `impact` takes 1, 2 or 3",
            ),
            (Action::SetPriority(PriorityChange { priority: 9, reason: "x".into() }), "actions[0] (set_priority): priority 9 is not 1..5"),
            (
                Action::SetStatus(StatusChange { status: switchyard_plugin_host::model::Status::Pending, reason: None }),
                "actions[0] (set_status): moving to pending needs a reason",
            ),
        ];
        for (action, expected) in table {
            let err = plan(&[action], Some(&ticket())).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err} should start with {expected}");
        }
    }

    #[test]
    fn escalation_sets_level_group_and_note() {
        let c =
            plan(&[Action::Escalate(Escalation { level: 2, group: Some("l2".into()), reason: "breach".into() })], Some(&ticket())).unwrap();
        assert_eq!(c.edit.update.escalation_level, Some(2));
        assert_eq!(c.edit.update.assignment_group, Some(Some("l2".into())));
        assert_eq!(c.edit.notes[0].body, "Escalated to level 2 and handed to l2: breach");
    }

    #[test]
    fn ticketless_runs_may_only_notify() {
        let err = plan(&[Action::AssignGroup { group: "x".into() }], None).unwrap_err();
        assert_eq!(err.action, "assign_group");
    }
}
