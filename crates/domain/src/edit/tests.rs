use chrono::Utc;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::changes::{NewIncident, create};
use crate::history::EventKind;
use crate::incident::{Channel, IncidentNumber, PendingReason, Priority, ResolutionCode};

const SERVICE_DESK: i64 = 10;
const NETWORK: i64 = 11;
const ALICE: i64 = 1;
const BOB: i64 = 2;
const RITA: i64 = 3;
const OLD_AGENT: i64 = 4;
const EMAIL_SERVICE: i64 = 100;
const MAIL_SERVER: i64 = 101;

/// The directory every test edits against: alice in service-desk, bob in
/// network-ops, rita a requester, an inactive agent; a service and a server.
fn refs() -> References {
    let mut r = References::default();
    for (name, id, role, active) in [
        ("alice", ALICE, Role::Agent, true),
        ("bob", BOB, Role::Agent, true),
        ("rita", RITA, Role::Requester, true),
        ("old", OLD_AGENT, Role::Agent, false),
    ] {
        r.users.insert(name.into(), UserRef { id, role, active });
        r.user_names.insert(id, name.into());
    }
    for (name, id) in [("service-desk", SERVICE_DESK), ("network-ops", NETWORK)] {
        r.groups.insert(name.into(), id);
        r.group_names.insert(id, name.into());
    }
    r.members.extend([(SERVICE_DESK, ALICE), (NETWORK, BOB), (NETWORK, OLD_AGENT)]);
    r.cis.insert(EMAIL_SERVICE, CiClass::Service);
    r.cis.insert(MAIL_SERVER, CiClass::Server);
    r
}

fn incident() -> Incident {
    let new = NewIncident {
        title: "VPN down".into(),
        description: "Nobody can connect".into(),
        requester_id: RITA,
        channel: Channel::Portal,
        category: Some("network".into()),
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::MEDIUM,
        urgency: Level::MEDIUM,
        priority_override: None,
        assignment_group_id: None,
        assignee_id: None,
        custom_fields: json!({}),
        kind: crate::kind::Kind::Incident,
        details: serde_json::Value::Null,
        checklist: Vec::new(),
    };
    create(new, IncidentNumber(7), &PriorityMatrix::default(), Utc::now()).unwrap()
}

fn run(current: &Incident, edit: &Edit) -> Result<Edited, DomainError> {
    let matrix = PriorityMatrix::default();
    let custom = CustomFieldSchema::permissive();
    apply(current, edit, &mut refs(), Rules { matrix: &matrix, custom_fields: &custom }, Utc::now())
}

fn route(group: &str, assignee: Option<&str>) -> Edit {
    Edit::update(IncidentUpdate {
        assignment_group: Some(Some(group.into())),
        assignee: assignee.map(|a| Some(a.to_owned())),
        ..Default::default()
    })
}

fn rules_broken(e: DomainError) -> Vec<String> {
    e.violations().iter().map(|v| format!("{}/{}", v.field, v.rule)).collect()
}

#[test]
fn references_are_resolved_and_checked() {
    let i = incident();
    let table: Vec<(Edit, &str)> = vec![
        (route("nobody", None), "assignment_group/exists"),
        (route("network-ops", Some("ghost")), "assignee/exists"),
        (route("network-ops", Some("rita")), "assignee/agent"),
        (route("network-ops", Some("old")), "assignee/agent"),
        (route("network-ops", Some("alice")), "assignee/member"),
        (Edit::update(IncidentUpdate { service_id: Some(Some(MAIL_SERVER)), ..Default::default() }), "service/class"),
        (Edit::update(IncidentUpdate { service_id: Some(Some(999)), ..Default::default() }), "service/exists"),
        (Edit::update(IncidentUpdate { affected_ci_ids: Some(vec![MAIL_SERVER, 998]), ..Default::default() }), "affected_cis[1]/exists"),
        (Edit::update(IncidentUpdate { assignee: Some(Some("bob".into())), ..Default::default() }), "assignee/requires_group"),
    ];
    for (edit, rule) in table {
        let err = run(&i, &edit).expect_err(rule);
        assert_eq!(rules_broken(err), vec![rule.to_string()]);
    }
}

#[test]
fn routing_and_assignment_record_names_and_move_to_assigned() {
    let i = incident();
    let done = run(&i, &route("network-ops", Some("bob"))).unwrap();
    assert_eq!(done.incident.assignment_group_id, Some(NETWORK));
    assert_eq!(done.incident.assignee_id, Some(BOB));
    assert_eq!(done.incident.status, Status::Assigned);
    assert_eq!(done.incident.version, i.version + 1);
    let named: Vec<(EventKind, String, Value)> =
        done.entries.iter().map(|e| (e.kind, e.field.clone().unwrap(), e.new_value.clone().unwrap())).collect();
    assert_eq!(
        named,
        vec![
            (EventKind::StatusChanged, "status".into(), json!("assigned")),
            (EventKind::FieldChanged, "assignment_group".into(), json!("network-ops")),
            (EventKind::FieldChanged, "assignee".into(), json!("bob")),
        ]
    );
}

#[test]
fn one_edit_is_one_version_with_entries_in_order() {
    let i = incident();
    let edit = Edit {
        update: IncidentUpdate {
            assignment_group: Some(Some("service-desk".into())),
            assignee: Some(Some("alice".into())),
            ..Default::default()
        },
        transitions: vec![
            TransitionRequest { to: Some(Status::InProgress), ..Default::default() },
            TransitionRequest { to: Some(Status::Pending), pending_reason: Some(PendingReason::AwaitingVendor), ..Default::default() },
        ],
        notes: vec![Note { body: "waiting for the ISP".into(), visibility: Visibility::Internal }],
    };
    let done = run(&i, &edit).unwrap();
    assert_eq!(done.incident.version, i.version + 1, "one version however many parts");
    assert_eq!(done.incident.status, Status::Pending);
    let kinds: Vec<String> = done.entries.iter().map(|e| format!("{}:{}", e.kind, e.field.as_deref().unwrap_or("-"))).collect();
    assert_eq!(
        kinds,
        [
            "status_changed:status",
            "field_changed:assignment_group",
            "field_changed:assignee",
            "status_changed:status",
            "status_changed:status",
            "field_changed:pending_reason",
            "work_note:-"
        ]
    );
    assert_eq!(done.entries.last().unwrap().visibility, Visibility::Internal);
}

#[test]
fn a_failing_part_applies_nothing() {
    let i = incident();
    // The move to in progress needs an assignee the edit does not give.
    let edit = Edit {
        update: IncidentUpdate { title: Some("VPN down in Berlin".into()), ..Default::default() },
        transitions: vec![TransitionRequest { to: Some(Status::InProgress), ..Default::default() }],
        notes: vec![],
    };
    let err = run(&i, &edit).unwrap_err();
    assert!(matches!(err, DomainError::TransitionPrecondition { .. }), "{err}");
    // Resolving records the resolution and a bad note is refused by name.
    let resolve = Edit {
        transitions: vec![TransitionRequest {
            to: Some(Status::Resolved),
            resolution_code: Some(ResolutionCode::SolvedWorkaround),
            resolution_notes: Some("restarted the concentrator".into()),
            ..Default::default()
        }],
        notes: vec![Note { body: "  ".into(), visibility: Visibility::Public }],
        ..Default::default()
    };
    assert_eq!(rules_broken(run(&i, &resolve).unwrap_err()), vec!["body/required"]);
}

#[test]
fn a_note_alone_keeps_the_version() {
    let i = incident();
    let done = run(&i, &Edit::note("Called the requester", Visibility::Public)).unwrap();
    assert_eq!(done.incident.version, i.version);
    assert!(!done.fields_changed);
    assert_eq!(done.entries[0].kind, EventKind::Comment);
}

#[test]
fn dropping_fields_lets_a_concurrent_change_win() {
    let mut edit = route("network-ops", Some("bob"));
    edit.update.title = Some("x".into());
    edit.transitions.push(TransitionRequest { to: Some(Status::InProgress), ..Default::default() });
    let dropped = edit.drop_fields(["assignment_group", "status", "urgency"]);
    assert_eq!(dropped, vec!["assignment_group", "status"]);
    assert_eq!(edit.update.assignment_group, None);
    assert!(edit.transitions.is_empty());
    assert_eq!(edit.update.fields(), vec!["title", "assignee"]);
}

#[test]
fn wanted_names_cover_the_edit_and_the_current_references() {
    let mut i = incident();
    i.assignment_group_id = Some(SERVICE_DESK);
    i.assignee_id = Some(ALICE);
    let mut edit = route("network-ops", Some("bob"));
    edit.update.affected_ci_ids = Some(vec![MAIL_SERVER]);
    let w = References::wanted(&i, &edit);
    assert_eq!(w.usernames.into_iter().collect::<Vec<_>>(), ["bob"]);
    assert_eq!(w.group_names.into_iter().collect::<Vec<_>>(), ["network-ops"]);
    assert_eq!(w.user_ids.into_iter().collect::<Vec<_>>(), [ALICE, RITA]);
    assert_eq!(w.group_ids.into_iter().collect::<Vec<_>>(), [SERVICE_DESK]);
    assert_eq!(w.ci_ids.into_iter().collect::<Vec<_>>(), [MAIL_SERVER]);
}

proptest! {
    /// Applying field edits one after another gives the same incident as
    /// applying them as one edit, and the priority always follows the
    /// matrix unless overridden.
    #[test]
    fn edits_compose(impact in 1u8..=3, urgency in 1u8..=3, escalation in 0u8..=9, with_group in any::<bool>()) {
        let i = incident();
        let first = IncidentUpdate { impact: Level::new(impact), urgency: Level::new(urgency), ..Default::default() };
        let second = IncidentUpdate {
            escalation_level: Some(escalation),
            assignment_group: with_group.then(|| Some("service-desk".to_owned())),
            ..Default::default()
        };
        let both = IncidentUpdate { escalation_level: second.escalation_level, assignment_group: second.assignment_group.clone(), ..first.clone() };
        let stepwise = run(&run(&i, &Edit::update(first)).unwrap().incident, &Edit::update(second)).unwrap().incident;
        let at_once = run(&i, &Edit::update(both)).unwrap().incident;
        prop_assert_eq!(stepwise.priority, at_once.priority);
        prop_assert_eq!(stepwise.priority, Priority::new(impact + urgency - 1).unwrap());
        prop_assert_eq!(stepwise.status, at_once.status);
        prop_assert_eq!(stepwise.escalation_level, escalation);
        prop_assert_eq!(stepwise.assignment_group_id, at_once.assignment_group_id);
    }
}

#[test]
fn a_required_checklist_item_gates_resolving_by_name() {
    use crate::checklist::ChecklistItem;
    let item = |text: &str, required: bool, done: bool| ChecklistItem { text: text.into(), required, done, done_by: None, done_at: None };
    let mut i = incident();
    i.checklist = vec![item("check the cable", false, false), item("notify the floor", true, false)];
    let resolve = Edit {
        transitions: vec![TransitionRequest {
            to: Some(Status::Resolved),
            resolution_code: Some(ResolutionCode::SolvedPermanently),
            resolution_notes: Some("replaced the cable".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let err = run(&i, &resolve).unwrap_err();
    assert_eq!(rules_broken(err.clone()), vec!["checklist/2/required_open"]);
    assert!(err.to_string().contains("notify the floor"), "{err}");
    // Optional items do not gate; done required ones do not either.
    i.checklist[1].done = true;
    assert_eq!(run(&i, &resolve).unwrap().incident.status, Status::Resolved);
}

#[test]
fn details_are_checked_against_the_kind() {
    let mut i = incident();
    let edit = |d: serde_json::Value| Edit::update(IncidentUpdate { details: Some(d), ..Default::default() });
    assert_eq!(rules_broken(run(&i, &edit(json!({"risk": "low"}))).unwrap_err()), vec!["details.risk/unknown"]);
    i.kind = crate::kind::Kind::Change;
    let edited = run(&i, &edit(json!({"risk": "high"}))).unwrap();
    assert_eq!(edited.incident.details, json!({"risk": "high"}));
    assert_eq!(edited.entries[0].field.as_deref(), Some("details"));
}
