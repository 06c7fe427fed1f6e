//! The incident lifecycle: which status changes are allowed, and what each
//! one needs. Every status change in Switchyard goes through
//! [`check_transition`], so the rules live in exactly one place.
//!
//! ```text
//! new ──► assigned ──► in_progress ──► resolved ──► closed
//!  │         ▲  │          ▲ │            │
//!  │         │  ▼          │ ▼            └──► (reopen) assigned / in_progress
//!  └──────► pending ◄──────┘
//! any open status ──► cancelled
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Violations};
use crate::incident::{PendingReason, ResolutionCode, Status, TEXT_MAX, check_text};

/// A requested status change with the data it may need.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransitionRequest {
    /// Target status.
    pub to: Option<Status>,
    /// Required when moving to `pending`.
    pub pending_reason: Option<PendingReason>,
    /// Required when moving to `resolved`.
    pub resolution_code: Option<ResolutionCode>,
    /// Required when moving to `resolved`.
    pub resolution_notes: Option<String>,
    /// Required when cancelling or reopening.
    pub reason: Option<String>,
}

/// What the lifecycle needs to know about the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleFacts {
    /// Current status.
    pub status: Status,
    /// Whether an assignment group is set.
    pub has_group: bool,
    /// Whether an assignee is set.
    pub has_assignee: bool,
}

/// The fields a permitted transition sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionEffect {
    /// New status.
    pub status: Status,
    /// Pending reason after the change (cleared unless pending).
    pub pending_reason: Option<PendingReason>,
    /// Resolution after the change: set on resolve, cleared on reopen,
    /// `None` when untouched.
    pub resolution: ResolutionChange,
    /// Whether this reopens a resolved incident.
    pub reopened: bool,
}

/// How a transition treats the resolution fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionChange {
    /// Leave them as they are.
    Keep,
    /// Record a resolution.
    Set {
        /// How it was resolved.
        code: ResolutionCode,
        /// What was done.
        notes: String,
    },
    /// Clear them (reopen).
    Clear,
}

/// Whether the lifecycle has an edge from `from` to `to` at all.
pub fn is_allowed(from: Status, to: Status) -> bool {
    use Status::*;
    match from {
        New => matches!(to, Assigned | InProgress | Pending | Resolved | Cancelled),
        Assigned => matches!(to, InProgress | Pending | Resolved | Cancelled),
        InProgress => matches!(to, Assigned | Pending | Resolved | Cancelled),
        Pending => matches!(to, Assigned | InProgress | Resolved | Cancelled),
        Resolved => matches!(to, Closed | Assigned | InProgress),
        Closed | Cancelled => false,
    }
}

/// Checks a status change against the lifecycle and returns what it sets.
///
/// Rules: the edge must exist ([`is_allowed`]); `assigned` needs a group;
/// `in_progress` needs an assignee; `pending` needs a pending reason;
/// `resolved` needs a resolution code and notes; `cancelled` and reopening
/// a resolved incident need a reason; data that does not belong to the
/// target status is refused rather than silently dropped.
pub fn check_transition(facts: LifecycleFacts, request: &TransitionRequest) -> Result<TransitionEffect, DomainError> {
    let Some(to) = request.to else {
        return Err(DomainError::invalid("to", "required", "the target status is required"));
    };
    let from = facts.status;
    if !is_allowed(from, to) {
        return Err(DomainError::TransitionNotAllowed { from, to });
    }
    let reopened = from == Status::Resolved && to != Status::Closed;
    let mut v = Violations::default();

    match to {
        Status::Assigned => {
            v.check(!facts.has_group, "assignment_group", "required", || "an incident needs an assignment group to be assigned".into())
        }
        Status::InProgress => {
            v.check(!facts.has_assignee, "assignee", "required", || "an incident needs an assignee to be in progress".into())
        }
        _ => {}
    }

    let pending_reason = if to == Status::Pending {
        v.check(request.pending_reason.is_none(), "pending_reason", "required", || "a pending incident needs a pending reason".into());
        request.pending_reason
    } else {
        v.check(request.pending_reason.is_some(), "pending_reason", "not_applicable", || {
            format!("a pending reason only applies when moving to pending, not {to}")
        });
        None
    };

    let resolution = if to == Status::Resolved {
        v.check(request.resolution_code.is_none(), "resolution_code", "required", || "resolving needs a resolution code".into());
        let notes = request.resolution_notes.clone().unwrap_or_default();
        check_text(&mut v, "resolution_notes", &notes, TEXT_MAX, true);
        match request.resolution_code {
            Some(code) => ResolutionChange::Set { code, notes },
            None => ResolutionChange::Keep,
        }
    } else {
        v.check(request.resolution_code.is_some(), "resolution_code", "not_applicable", || {
            format!("a resolution code only applies when resolving, not when moving to {to}")
        });
        v.check(request.resolution_notes.is_some(), "resolution_notes", "not_applicable", || {
            format!("resolution notes only apply when resolving, not when moving to {to}")
        });
        if reopened { ResolutionChange::Clear } else { ResolutionChange::Keep }
    };

    let needs_reason = to == Status::Cancelled || reopened;
    match &request.reason {
        Some(reason) => check_text(&mut v, "reason", reason, TEXT_MAX, true),
        None => v.check(needs_reason, "reason", "required", || {
            if reopened { "reopening needs a reason".into() } else { "cancelling needs a reason".into() }
        }),
    }

    v.finish().map_err(|e| DomainError::TransitionPrecondition { to, violations: e.violations().to_vec() })?;
    Ok(TransitionEffect { status: to, pending_reason, resolution, reopened })
}

/// The status an incident takes when it gets an assignment group: a new
/// incident becomes `assigned`; anything else keeps its status.
pub fn status_after_assignment(status: Status) -> Status {
    if status == Status::New { Status::Assigned } else { status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{PendingReason as PR, ResolutionCode as RC};
    use Status::*;
    use proptest::prelude::*;

    fn facts(status: Status, has_group: bool, has_assignee: bool) -> LifecycleFacts {
        LifecycleFacts { status, has_group, has_assignee }
    }

    fn to(status: Status) -> TransitionRequest {
        TransitionRequest { to: Some(status), ..Default::default() }
    }

    fn resolve() -> TransitionRequest {
        TransitionRequest {
            to: Some(Resolved),
            resolution_code: Some(RC::SolvedPermanently),
            resolution_notes: Some("replaced the switch".into()),
            ..Default::default()
        }
    }

    /// (from, request, group?, assignee?, expected: Ok(status) or Err(rule or "not_allowed"))
    type Case = (Status, TransitionRequest, bool, bool, Result<Status, &'static str>);

    #[test]
    fn transition_table() {
        let pending = TransitionRequest { to: Some(Pending), pending_reason: Some(PR::AwaitingVendor), ..Default::default() };
        let cancel = TransitionRequest { to: Some(Cancelled), reason: Some("duplicate call".into()), ..Default::default() };
        let reopen = TransitionRequest { to: Some(InProgress), reason: Some("still broken".into()), ..Default::default() };
        let cases: Vec<Case> = vec![
            (New, to(Assigned), true, false, Ok(Assigned)),
            (New, to(Assigned), false, false, Err("assignment_group/required")),
            (New, to(InProgress), true, true, Ok(InProgress)),
            (New, to(InProgress), true, false, Err("assignee/required")),
            (New, pending.clone(), false, false, Ok(Pending)),
            (New, to(Pending), false, false, Err("pending_reason/required")),
            (New, resolve(), false, false, Ok(Resolved)),
            (New, to(Resolved), false, false, Err("resolution_code/required")),
            (New, to(Closed), true, true, Err("not_allowed")),
            (New, cancel.clone(), false, false, Ok(Cancelled)),
            (New, to(Cancelled), false, false, Err("reason/required")),
            (Assigned, to(InProgress), true, true, Ok(InProgress)),
            (Assigned, to(New), true, false, Err("not_allowed")),
            (InProgress, pending.clone(), true, true, Ok(Pending)),
            (Pending, to(InProgress), true, true, Ok(InProgress)),
            (Pending, resolve(), true, true, Ok(Resolved)),
            (Resolved, to(Closed), true, true, Ok(Closed)),
            (Resolved, reopen.clone(), true, true, Ok(InProgress)),
            (Resolved, to(InProgress), true, true, Err("reason/required")),
            (Resolved, pending.clone(), true, true, Err("not_allowed")),
            (Closed, reopen.clone(), true, true, Err("not_allowed")),
            (Closed, cancel.clone(), true, true, Err("not_allowed")),
            (Cancelled, to(New), true, true, Err("not_allowed")),
            (
                InProgress,
                TransitionRequest { pending_reason: Some(PR::Scheduled), ..resolve() },
                true,
                true,
                Err("pending_reason/not_applicable"),
            ),
            (
                InProgress,
                TransitionRequest { resolution_notes: Some("  ".into()), ..resolve() },
                true,
                true,
                Err("resolution_notes/required"),
            ),
            (InProgress, to(InProgress), true, true, Err("not_allowed")),
        ];
        for (from, request, group, assignee, expected) in cases {
            let got = check_transition(facts(from, group, assignee), &request);
            match (expected, got) {
                (Ok(status), Ok(effect)) => assert_eq!(effect.status, status, "{from} -> {request:?}"),
                (Err("not_allowed"), Err(DomainError::TransitionNotAllowed { .. })) => {}
                (Err(rule), Err(DomainError::TransitionPrecondition { violations, .. })) => {
                    let found: Vec<String> = violations.iter().map(|v| format!("{}/{}", v.field, v.rule)).collect();
                    assert!(found.iter().any(|f| f == rule), "{from} -> {request:?}: expected {rule}, got {found:?}");
                }
                (expected, got) => panic!("{from} -> {request:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn reopen_clears_resolution_and_resolve_sets_it() {
        let effect = check_transition(facts(InProgress, true, true), &resolve()).unwrap();
        assert!(matches!(effect.resolution, ResolutionChange::Set { code: RC::SolvedPermanently, .. }));
        let reopen = TransitionRequest { to: Some(Assigned), reason: Some("again".into()), ..Default::default() };
        let effect = check_transition(facts(Resolved, true, false), &reopen).unwrap();
        assert!(effect.reopened);
        assert_eq!(effect.resolution, ResolutionChange::Clear);
    }

    #[test]
    fn assignment_moves_new_to_assigned_only() {
        assert_eq!(status_after_assignment(New), Assigned);
        for s in [Assigned, InProgress, Pending, Resolved] {
            assert_eq!(status_after_assignment(s), s);
        }
    }

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    fn any_request() -> impl Strategy<Value = TransitionRequest> {
        (
            proptest::option::of(any_status()),
            proptest::option::of(proptest::sample::select(PR::ALL.to_vec())),
            proptest::option::of(proptest::sample::select(RC::ALL.to_vec())),
            proptest::option::of(proptest::sample::select(vec!["", " ", "done"])),
            proptest::option::of(proptest::sample::select(vec!["", "because"])),
        )
            .prop_map(|(to, pending_reason, resolution_code, notes, reason)| TransitionRequest {
                to,
                pending_reason,
                resolution_code,
                resolution_notes: notes.map(String::from),
                reason: reason.map(String::from),
            })
    }

    proptest! {
        /// Whatever sequence of requests arrives, the incident only ever takes
        /// edges of the lifecycle, satisfies the target's preconditions, and
        /// never leaves a final status.
        #[test]
        fn random_walks_respect_the_lifecycle(
            requests in proptest::collection::vec((any_request(), any::<bool>(), any::<bool>()), 1..40)
        ) {
            let mut status = New;
            let mut pending_reason = None;
            for (request, has_group, has_assignee) in requests {
                let f = facts(status, has_group, has_assignee);
                match check_transition(f, &request) {
                    Ok(effect) => {
                        prop_assert!(is_allowed(status, effect.status));
                        prop_assert!(!status.is_final());
                        match effect.status {
                            Pending => prop_assert!(effect.pending_reason.is_some()),
                            Assigned => prop_assert!(has_group),
                            InProgress => prop_assert!(has_assignee),
                            Resolved => {
                                let has_notes = matches!(effect.resolution, ResolutionChange::Set { ref notes, .. } if !notes.trim().is_empty());
                                prop_assert!(has_notes);
                            }
                            Cancelled => prop_assert!(request.reason.as_deref().is_some_and(|r| !r.trim().is_empty())),
                            _ => {}
                        }
                        if effect.status != Pending { prop_assert!(effect.pending_reason.is_none()); }
                        status = effect.status;
                        pending_reason = effect.pending_reason;
                    }
                    Err(DomainError::TransitionNotAllowed { from, to }) => {
                        prop_assert_eq!(from, status);
                        prop_assert!(!is_allowed(from, to));
                    }
                    Err(DomainError::TransitionPrecondition { violations, .. }) => prop_assert!(!violations.is_empty()),
                    Err(DomainError::Validation(v)) => prop_assert_eq!(v[0].field.as_str(), "to"),
                }
                prop_assert_eq!(status == Pending, pending_reason.is_some());
            }
        }

        /// Final statuses have no way out.
        #[test]
        fn final_statuses_are_absorbing(request in any_request()) {
            for status in [Closed, Cancelled] {
                prop_assert!(check_transition(facts(status, true, true), &request).is_err());
            }
        }
    }
}
