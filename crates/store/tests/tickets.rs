//! Kinds of ticket, links, watchers, checklists and conversion, against a
//! real SQLite file and a real PostgreSQL schema.

use serde_json::{Value, json};
use switchyard_domain::checklist::ChecklistItem;
use switchyard_domain::directory::Role;
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, ResolutionCode, Status};
use switchyard_domain::kind::Kind;
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_domain::links::{End, LinkType};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, CreateIncident, IncidentFilter, IncidentRecord, Store, StoreError, UserInput, both_backends};

async fn users(store: &Store) {
    for (username, role) in [("rita", Role::Requester), ("alice", Role::Agent), ("bob", Role::Agent)] {
        store
            .create_user(UserInput { username: username.into(), display_name: username.into(), role: Some(role), ..Default::default() })
            .await
            .unwrap();
    }
}

/// A request to log a ticket of `kind` for rita.
fn base(kind: Kind, title: &str, details: Value) -> CreateIncident {
    CreateIncident {
        kind,
        details,
        checklist: Vec::new(),
        title: title.into(),
        description: String::new(),
        requester: "rita".into(),
        channel: Channel::Api,
        category: None,
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::LOW,
        urgency: Level::LOW,
        priority_override: None,
        assignment_group: None,
        assignee: None,
        custom_fields: json!({}),
        actor: Actor::system(),
    }
}

async fn ticket(store: &Store, kind: Kind, title: &str, details: Value) -> IncidentRecord {
    store.create_incident(base(kind, title, details)).await.unwrap()
}

fn rules(e: StoreError) -> Vec<String> {
    match e {
        StoreError::Domain(d) => d.violations().iter().map(|v| format!("{}/{}", v.field, v.rule)).collect(),
        other => vec![format!("{other:?}")],
    }
}

fn resolve() -> TransitionRequest {
    TransitionRequest {
        to: Some(Status::Resolved),
        resolution_code: Some(ResolutionCode::SolvedPermanently),
        resolution_notes: Some("fixed".into()),
        ..Default::default()
    }
}

both_backends!(kinds_have_their_prefix_and_details, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let inc = ticket(&store, Kind::Incident, "Printer jammed", Value::Null).await;
    let chg = ticket(
        &store,
        Kind::Change,
        "Replace the core switch",
        json!({"risk": "high", "planned_start": "2026-12-12T22:00:00Z", "planned_end": "2026-12-13T02:00:00Z"}),
    )
    .await;
    assert_eq!(inc.number(), "INC-000001");
    assert_eq!(chg.number(), "CHG-000002");
    let got = store.get_incident(IncidentNumber(2)).await.unwrap();
    assert_eq!(got.incident.kind, Kind::Change);
    assert_eq!(got.incident.details["risk"], "high");
    // Bad details are refused by name and write nothing.
    let bad = store.create_incident(base(Kind::Change, &inc.incident.title, json!({"risk": "extreme"}))).await.unwrap_err();
    assert_eq!(rules(bad), vec!["details.risk/one_of"]);
    // Lists filter by kind.
    let changes = store.list_incidents(&IncidentFilter { kind: vec![Kind::Change], limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(changes.items.iter().map(|r| r.number()).collect::<Vec<_>>(), vec!["CHG-000002"]);
});

both_backends!(links_show_on_both_sides_and_in_both_histories, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let inc = ticket(&store, Kind::Incident, "Mail bounces", Value::Null).await.incident.number;
    let prb = ticket(&store, Kind::Problem, "Mail relay drops TLS", Value::Null).await.incident.number;
    let other = ticket(&store, Kind::Incident, "Unrelated", Value::Null).await.incident.number;
    store.link_tickets(inc, LinkType::CausedBy, prb, ("INC-000001", "PRB-000002"), &Actor::system()).await.unwrap();

    let from_incident = store.get_incident(inc).await.unwrap();
    assert_eq!(from_incident.links.len(), 1);
    assert_eq!(from_incident.links[0].describe(), "caused by PRB-000002");
    let from_problem = store.get_incident(prb).await.unwrap();
    assert_eq!((from_problem.links[0].end, from_problem.links[0].describe()), (End::Target, "causes INC-000001".to_owned()));
    for n in [inc, prb] {
        let h = store.history(n, true).await.unwrap();
        assert!(h.iter().any(|e| e.kind == EventKind::Linked && e.field.as_deref() == Some("links")), "{n:?}: {h:?}");
    }
    // Filterable: the problem's incidents.
    let linked = store.list_incidents(&IncidentFilter { linked_to: Some(prb), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(linked.items.iter().map(|r| r.incident.number).collect::<Vec<_>>(), vec![inc]);

    // Wrong kinds, unknown numbers, self links and duplicates are refused.
    let e = store.link_tickets(inc, LinkType::CausedBy, other, ("INC-000001", "INC-000003"), &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["target/target_kind"]);
    let e =
        store.link_tickets(inc, LinkType::CausedBy, IncidentNumber(99), ("INC-000001", "PRB-000099"), &Actor::system()).await.unwrap_err();
    assert!(matches!(&e, StoreError::NotFound { key, .. } if key == "PRB-000099"), "{e:?}");
    let e = store.link_tickets(inc, LinkType::CausedBy, prb, ("INC-000001", "PRB-000002"), &Actor::system()).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");

    // Unlinking removes it from both sides and records it.
    assert!(store.unlink_tickets(inc, LinkType::CausedBy, prb, ("INC-000001", "PRB-000002"), &Actor::system()).await.unwrap());
    assert!(store.get_incident(prb).await.unwrap().links.is_empty());
    assert!(store.history(prb, true).await.unwrap().iter().any(|e| e.kind == EventKind::Unlinked));
    assert!(!store.unlink_tickets(inc, LinkType::CausedBy, prb, ("INC-000001", "PRB-000002"), &Actor::system()).await.unwrap());
});

both_backends!(parent_links_cannot_loop, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let a = ticket(&store, Kind::Incident, "a", Value::Null).await.incident.number;
    let b = ticket(&store, Kind::Incident, "b", Value::Null).await.incident.number;
    let c = ticket(&store, Kind::Incident, "c", Value::Null).await.incident.number;
    let w = ("x", "y");
    store.link_tickets(b, LinkType::Parent, a, w, &Actor::system()).await.unwrap();
    store.link_tickets(c, LinkType::Parent, b, w, &Actor::system()).await.unwrap();
    assert_eq!(store.children_of(a).await.unwrap(), vec![b]);
    // a under c would close a -> c -> b -> a.
    let e = store.link_tickets(a, LinkType::Parent, c, w, &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["target/circular"]);
    let e = store.link_tickets(a, LinkType::Parent, a, w, &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["target/self"]);
    // One parent at a time.
    let e = store.link_tickets(c, LinkType::Parent, a, w, &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["target/one_parent"]);
});

both_backends!(watchers_are_real_and_recorded, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let n = ticket(&store, Kind::Incident, "VPN slow", Value::Null).await.incident.number;
    assert_eq!(store.set_watching(n, "bob", true, &Actor::system()).await.unwrap(), vec!["bob"]);
    assert_eq!(store.set_watching(n, "alice", true, &Actor::system()).await.unwrap(), vec!["alice", "bob"]);
    // Watching twice changes nothing and writes nothing.
    let before = store.history(n, true).await.unwrap().len();
    store.set_watching(n, "alice", true, &Actor::system()).await.unwrap();
    assert_eq!(store.history(n, true).await.unwrap().len(), before);
    assert_eq!(store.get_incident(n).await.unwrap().watchers, vec!["alice", "bob"]);
    let listed = store.list_incidents(&IncidentFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed.items[0].watchers, vec!["alice", "bob"]);
    store.set_watching(n, "bob", false, &Actor::system()).await.unwrap();
    assert_eq!(store.watchers(n).await.unwrap(), vec!["alice"]);
    let h = store.history(n, true).await.unwrap();
    assert_eq!(h.iter().filter(|e| e.field.as_deref() == Some("watchers")).count(), 3);
    assert!(matches!(store.set_watching(n, "ghost", true, &Actor::system()).await, Err(StoreError::NotFound { .. })));
});

both_backends!(required_checklist_items_gate_resolving, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let item = |text: &str, required: bool| ChecklistItem { text: text.into(), required, done: false, done_by: None, done_at: None };
    let r = store
        .create_incident(CreateIncident {
            checklist: vec![item("collect the logs", false), item("tell the requester", true)],
            ..base(Kind::Incident, "Printer offline", Value::Null)
        })
        .await
        .unwrap();
    let n = r.incident.number;
    let e = store.transition_incident(n, &resolve(), &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["checklist/2/required_open"]);
    assert_eq!(store.get_incident(n).await.unwrap().incident.status, Status::New, "the refusal wrote nothing");
    let done = store.set_checklist_item(n, 1, true, &Actor::system()).await.unwrap();
    assert!(done.incident.checklist[1].done);
    assert_eq!(done.incident.checklist[1].done_by.as_deref(), Some("switchyard"));
    let h = store.history(n, true).await.unwrap();
    assert!(
        h.iter()
            .any(|e| e.field.as_deref() == Some("checklist") && e.new_value == Some(json!({"item": "tell the requester", "done": true})))
    );
    assert_eq!(store.transition_incident(n, &resolve(), &Actor::system()).await.unwrap().incident.status, Status::Resolved);
    assert_eq!(rules(store.set_checklist_item(n, 7, true, &Actor::system()).await.unwrap_err()), vec!["item/range"]);
});

both_backends!(converting_keeps_the_history, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let n = ticket(&store, Kind::Incident, "Need a second monitor", Value::Null).await.incident.number;
    store.add_note(n, "asked on the phone", switchyard_store::Visibility::Public, &Actor::system()).await.unwrap();
    let before = store.history(n, true).await.unwrap();
    let converted = store.convert_ticket(n, Kind::Request, Some("not a fault"), &Actor::system()).await.unwrap();
    assert_eq!(converted.number(), "REQ-000001");
    let after = store.history(n, true).await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(&after[..before.len()], &before[..], "the earlier history is untouched");
    let last = after.last().unwrap();
    assert_eq!((last.field.as_deref(), last.new_value.clone()), (Some("kind"), Some(json!("request"))));
    assert!(last.body.as_deref().unwrap().contains("INC-000001 to REQ-000001"));
    // The old number still finds it; converting back works; problems do not convert.
    assert_eq!("INC-000001".parse::<IncidentNumber>().unwrap(), n);
    assert_eq!(store.convert_ticket(n, Kind::Incident, None, &Actor::system()).await.unwrap().number(), "INC-000001");
    let e = store.convert_ticket(n, Kind::Problem, None, &Actor::system()).await.unwrap_err();
    assert_eq!(rules(e), vec!["kind/conversion"]);
});

both_backends!(known_errors_are_proposed_on_matching_incidents_only, |db: TestDatabase| async move {
    let store = db.store.clone();
    users(&store).await;
    let relay = store
        .create_ci(switchyard_store::CiInput {
            class: switchyard_domain::cmdb::CiClass::Server,
            name: "relay-a".into(),
            status: None,
            owner_group: None,
            attributes: json!({}),
        })
        .await
        .unwrap();
    let known = json!({"root_cause": "expired intermediate certificate", "workaround": "send through relay-b", "known_error": true});
    let prb = store
        .create_incident(CreateIncident {
            affected_ci_ids: vec![relay.id],
            category: Some("email".into()),
            ..base(Kind::Problem, "Mail relay rejects TLS connections", known)
        })
        .await
        .unwrap();
    // An unpublished problem on the same CI is not a known error.
    store
        .create_incident(CreateIncident { affected_ci_ids: vec![relay.id], ..base(Kind::Problem, "Relay disk filling", Value::Null) })
        .await
        .unwrap();
    let on_ci = store
        .create_incident(CreateIncident { affected_ci_ids: vec![relay.id], ..base(Kind::Incident, "Cannot send", Value::Null) })
        .await
        .unwrap();
    let by_text = ticket(&store, Kind::Incident, "Outlook says the relay rejects my TLS connection", Value::Null).await;
    let unrelated = store
        .create_incident(CreateIncident {
            category: Some("email".into()),
            ..base(Kind::Incident, "Printer on floor 3 jammed", Value::Null)
        })
        .await
        .unwrap();

    let found = store.known_errors_for(on_ci.incident.number).await.unwrap();
    assert_eq!(found.iter().map(|m| m.number.as_str()).collect::<Vec<_>>(), vec![prb.number().as_str()]);
    assert_eq!(found[0].reasons, vec![switchyard_domain::known_errors::Reason::Ci]);
    assert!(found[0].proposal().contains("send through relay-b"));
    let found = store.known_errors_for(by_text.incident.number).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(store.known_errors_for(unrelated.incident.number).await.unwrap().is_empty(), "the category alone proposes nothing");
    // Closing the problem withdraws the known error.
    store
        .transition_incident(
            prb.incident.number,
            &TransitionRequest { to: Some(Status::Cancelled), reason: Some("fixed for good".into()), ..Default::default() },
            &Actor::system(),
        )
        .await
        .unwrap();
    assert!(store.known_errors_for(on_ci.incident.number).await.unwrap().is_empty());
});
