//! Store tests against a real SQLite file and a real PostgreSQL schema.

use serde_json::json;
use switchyard_domain::DomainError;
use switchyard_domain::cmdb::{CiClass, Direction, RelationKind, Relationship};
use switchyard_domain::directory::Role;
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, PendingReason, Priority, ResolutionCode, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::testing::TestDatabase;
use switchyard_store::{
    Actor, CiInput, CreateIncident, GroupInput, IncidentFilter, IncidentUpdate, SortField, SortOrder, Store, StoreError, UserInput,
    Visibility, both_backends,
};

/// Named fixture: a requester, two agents, two groups, a small CMDB.
struct Fixture {
    service_id: i64,
    server_id: i64,
}

async fn fixture(store: &Store) -> Fixture {
    for (username, role) in [("rita", Role::Requester), ("alice", Role::Agent), ("bob", Role::Agent)] {
        store
            .create_user(UserInput {
                username: username.into(),
                display_name: username.to_uppercase(),
                role: Some(role),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for name in ["service-desk", "network-ops"] {
        store.create_group(GroupInput { name: name.into(), display_name: name.into(), ..Default::default() }).await.unwrap();
    }
    store.add_member("service-desk", "alice").await.unwrap();
    store.add_member("network-ops", "bob").await.unwrap();
    let service = store
        .create_ci(CiInput {
            class: CiClass::Service,
            name: "Email".into(),
            status: None,
            owner_group: Some("service-desk".into()),
            attributes: json!({"users": 1200}),
        })
        .await
        .unwrap();
    let server = store
        .create_ci(CiInput { class: CiClass::Server, name: "mx01".into(), status: None, owner_group: None, attributes: json!({}) })
        .await
        .unwrap();
    store.create_relationship(Relationship { source_id: service.id, kind: RelationKind::RunsOn, target_id: server.id }).await.unwrap();
    Fixture { service_id: service.id, server_id: server.id }
}

fn request(title: &str) -> CreateIncident {
    CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: "details".into(),
        requester: "rita".into(),
        channel: Channel::Portal,
        category: Some("email".into()),
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::MEDIUM,
        urgency: Level::MEDIUM,
        priority_override: None,
        assignment_group: None,
        assignee: None,
        custom_fields: json!({}),
        actor: Actor::system(),
    }
}

fn field_rule(e: &StoreError) -> Vec<String> {
    match e {
        StoreError::Domain(d) => d.violations().iter().map(|v| format!("{}/{}", v.field, v.rule)).collect(),
        other => panic!("expected a domain error, got {other:?}"),
    }
}

both_backends!(create_get_and_history, |db: TestDatabase| async move {
    let store = db.store.clone();
    let f = fixture(&store).await;
    let mut r = request("Mail is down");
    r.service_id = Some(f.service_id);
    r.affected_ci_ids = vec![f.server_id];
    r.assignment_group = Some("service-desk".into());
    r.assignee = Some("alice".into());
    r.impact = Level::HIGH;
    let created = store.create_incident(r).await.unwrap();
    assert_eq!(created.incident.number, IncidentNumber(1));
    assert_eq!(created.incident.priority, Priority::P2);
    assert_eq!(created.incident.status, Status::Assigned);
    let got = store.get_incident(IncidentNumber(1)).await.unwrap();
    assert_eq!(got.assignee.as_deref(), Some("alice"));
    assert_eq!(got.incident.affected_ci_ids, vec![f.server_id]);
    let history = store.history(IncidentNumber(1), true).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, EventKind::Created);
    assert_eq!(history[0].actor.name, "switchyard");
});

both_backends!(bad_references_write_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    fixture(&store).await;
    let cases: Vec<(CreateIncident, &str)> = vec![
        (CreateIncident { assignment_group: Some("nope".into()), ..request("a") }, "assignment_group/exists"),
        (
            CreateIncident { assignment_group: Some("network-ops".into()), assignee: Some("alice".into()), ..request("a") },
            "assignee/member",
        ),
        (CreateIncident { assignment_group: Some("service-desk".into()), assignee: Some("rita".into()), ..request("a") }, "assignee/agent"),
        (CreateIncident { requester: "ghost".into(), ..request("a") }, "requester/exists"),
        (CreateIncident { affected_ci_ids: vec![999], ..request("a") }, "affected_cis[0]/exists"),
        (CreateIncident { title: "".into(), ..request("a") }, "title/required"),
    ];
    for (r, expected) in cases {
        let err = store.create_incident(r).await.unwrap_err();
        assert!(field_rule(&err).contains(&expected.to_string()), "{expected}: {err}");
    }
    // A service must be a CI of class service.
    let server = store.list_cis(Some(CiClass::Server), None, None, 10).await.unwrap()[0].id;
    let err = store.create_incident(CreateIncident { service_id: Some(server), ..request("a") }).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["service/class"]);
    // Nothing was written and no number was burnt.
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.create_incident(request("ok")).await.unwrap().incident.number, IncidentNumber(1));
});

both_backends!(updates_record_each_field_with_names, |db: TestDatabase| async move {
    let store = db.store.clone();
    fixture(&store).await;
    let n = store.create_incident(request("VPN flaky")).await.unwrap().incident.number;
    let actor = Actor::system();
    let update = IncidentUpdate { assignment_group: Some(Some("network-ops".into())), urgency: Some(Level::HIGH), ..Default::default() };
    let r = store.update_incident(n, update, &actor).await.unwrap();
    assert_eq!(r.incident.priority, Priority::P2);
    assert_eq!(r.incident.status, Status::Assigned);
    assert_eq!(r.incident.version, 2);
    let history = store.history(n, true).await.unwrap();
    let changes: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> =
        history.iter().skip(1).map(|e| (e.field.clone().unwrap(), e.old_value.clone(), e.new_value.clone())).collect();
    assert_eq!(
        changes,
        vec![
            ("urgency".into(), Some(json!(2)), Some(json!(1))),
            ("priority".into(), Some(json!("P3")), Some(json!("P2"))),
            ("status".into(), Some(json!("new")), Some(json!("assigned"))),
            ("assignment_group".into(), Some(json!(null)), Some(json!("network-ops"))),
        ]
    );
    // An edit that changes nothing writes nothing; a stale version is refused.
    store.update_incident(n, IncidentUpdate { urgency: Some(Level::HIGH), ..Default::default() }, &actor).await.unwrap();
    assert_eq!(store.history(n, true).await.unwrap().len(), history.len());
    let stale = IncidentUpdate { title: Some("x".into()), expected_version: Some(1), ..Default::default() };
    assert!(matches!(store.update_incident(n, stale, &actor).await, Err(StoreError::Conflict { .. })));
});

both_backends!(lifecycle_and_notes, |db: TestDatabase| async move {
    let store = db.store.clone();
    fixture(&store).await;
    let mut r = request("Printer jam");
    r.assignment_group = Some("service-desk".into());
    r.assignee = Some("alice".into());
    let n = store.create_incident(r).await.unwrap().incident.number;
    let actor = Actor::system();
    let to = |status| TransitionRequest { to: Some(status), ..Default::default() };
    store.transition_incident(n, &to(Status::InProgress), &actor).await.unwrap();
    let pending =
        TransitionRequest { to: Some(Status::Pending), pending_reason: Some(PendingReason::AwaitingVendor), ..Default::default() };
    let r = store.transition_incident(n, &pending, &actor).await.unwrap();
    assert_eq!(r.incident.pending_reason, Some(PendingReason::AwaitingVendor));
    let err = store.transition_incident(n, &to(Status::Resolved), &actor).await.unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::TransitionPrecondition { .. })), "{err}");
    let resolve = TransitionRequest {
        to: Some(Status::Resolved),
        resolution_code: Some(ResolutionCode::SolvedWorkaround),
        resolution_notes: Some("cleared the tray".into()),
        ..Default::default()
    };
    let r = store.transition_incident(n, &resolve, &actor).await.unwrap();
    assert!(r.incident.resolved_at.is_some() && r.incident.pending_reason.is_none());
    store.add_note(n, "Fixed, please confirm", Visibility::Public, &actor).await.unwrap();
    store.add_note(n, "vendor ticket 42", Visibility::Internal, &actor).await.unwrap();
    store.transition_incident(n, &to(Status::Closed), &actor).await.unwrap();
    let err = store
        .transition_incident(
            n,
            &TransitionRequest { to: Some(Status::InProgress), reason: Some("again".into()), ..Default::default() },
            &actor,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::TransitionNotAllowed { .. })));
    let public = store.history(n, false).await.unwrap();
    let all = store.history(n, true).await.unwrap();
    assert_eq!(all.len(), public.len() + 1);
    assert!(public.iter().all(|e| e.kind != EventKind::WorkNote));
    let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "status_changed").count(), 4);
    // Sequence numbers are strictly increasing and gap-free.
    let seqs: Vec<i64> = store.events_after(0, 1000).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
});

both_backends!(list_filters_and_cursor_pages, |db: TestDatabase| async move {
    let store = db.store.clone();
    let f = fixture(&store).await;
    for i in 0..25 {
        let mut r = request(&format!("Incident {i}"));
        if i % 5 == 0 {
            r.assignment_group = Some("network-ops".into());
            r.category = Some("network".into());
            r.affected_ci_ids = vec![f.server_id];
        }
        if i == 7 {
            r.description = "The VPN concentrator is DOWN".into();
        }
        r.impact = if i % 2 == 0 { Level::HIGH } else { Level::LOW };
        store.create_incident(r).await.unwrap();
    }
    let base = IncidentFilter { limit: 50, ..Default::default() };
    let count = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.list_incidents(&f).await.unwrap().items.len() }
    };
    assert_eq!(count(base.clone()).await, 25);
    assert_eq!(count(IncidentFilter { assignment_group: Some("network-ops".into()), ..base.clone() }).await, 5);
    assert_eq!(count(IncidentFilter { category: Some("network".into()), ..base.clone() }).await, 5);
    assert_eq!(count(IncidentFilter { ci_id: Some(f.server_id), ..base.clone() }).await, 5);
    assert_eq!(count(IncidentFilter { status: vec![Status::Assigned], ..base.clone() }).await, 5);
    assert_eq!(count(IncidentFilter { priority: vec![Priority::P2], ..base.clone() }).await, 13);
    assert_eq!(count(IncidentFilter { text: Some("vpn concentrator".into()), ..base.clone() }).await, 1);
    assert_eq!(count(IncidentFilter { text: Some("100%".into()), ..base.clone() }).await, 0);
    assert_eq!(count(IncidentFilter { requester: Some("nobody".into()), ..base.clone() }).await, 0);
    // Pages of 10 by priority ascending cover everything once, in order.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                sort: SortField::Priority,
                order: SortOrder::Asc,
                limit: 10,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|r| (r.incident.priority, r.incident.number)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    let bad = store.list_incidents(&IncidentFilter { cursor: Some("!!".into()), limit: 5, ..Default::default() }).await.unwrap_err();
    assert_eq!(field_rule(&bad), vec!["cursor/format"]);
});

both_backends!(cmdb_impact_walk, |db: TestDatabase| async move {
    let store = db.store.clone();
    let f = fixture(&store).await;
    let db_ci = store
        .create_ci(CiInput { class: CiClass::Database, name: "pg01".into(), status: None, owner_group: None, attributes: json!({}) })
        .await
        .unwrap();
    store.create_relationship(Relationship { source_id: f.server_id, kind: RelationKind::DependsOn, target_id: db_ci.id }).await.unwrap();
    let down: Vec<(i64, u32)> = store.walk(db_ci.id, Direction::Downstream, 5).await.unwrap().iter().map(|e| (e.ci.id, e.depth)).collect();
    assert_eq!(down, vec![(f.server_id, 1), (f.service_id, 2)]);
    let up: Vec<i64> = store.walk(f.service_id, Direction::Upstream, 1).await.unwrap().iter().map(|e| e.ci.id).collect();
    assert_eq!(up, vec![f.server_id]);
    let dup = store.create_relationship(Relationship { source_id: f.server_id, kind: RelationKind::DependsOn, target_id: db_ci.id }).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })));
    let missing = store
        .create_relationship(Relationship { source_id: f.server_id, kind: RelationKind::DependsOn, target_id: 9999 })
        .await
        .unwrap_err();
    assert_eq!(field_rule(&missing), vec!["target_id/exists"]);
    // A CI referenced by an incident cannot be deleted.
    store.create_incident(CreateIncident { affected_ci_ids: vec![db_ci.id], ..request("db slow") }).await.unwrap();
    assert!(matches!(store.delete_ci(db_ci.id).await, Err(StoreError::Conflict { .. })));
});

both_backends!(tokens_and_passwords, |db: TestDatabase| async move {
    let store = db.store.clone();
    store
        .create_user(UserInput {
            username: "ada".into(),
            display_name: "Ada".into(),
            role: Some(Role::Admin),
            password: Some("correct horse battery".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (record, secret) = store.create_token("ada", "laptop", None).await.unwrap();
    assert!(secret.starts_with("sy_"));
    assert_eq!(store.authenticate_token(&secret).await.unwrap().unwrap().role, Role::Admin);
    assert!(store.authenticate_token("sy_wrong").await.unwrap().is_none());
    assert!(store.verify_password("ada", "correct horse battery").await.unwrap().is_some());
    assert!(store.verify_password("ada", "wrong password").await.unwrap().is_none());
    assert!(store.verify_password("nobody", "correct horse battery").await.unwrap().is_none());
    store.revoke_token(record.id).await.unwrap();
    assert!(store.authenticate_token(&secret).await.unwrap().is_none());
    let dup = store.create_user(UserInput { username: "ada".into(), display_name: "Ada".into(), ..Default::default() }).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })));
    let short = store
        .create_user(UserInput { username: "bo".into(), display_name: "Bo".into(), password: Some("short".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(field_rule(&short), vec!["password/min_length"]);
});

both_backends!(settings_documents, |db: TestDatabase| async move {
    let store = db.store.clone();
    fixture(&store).await;
    store
        .set_custom_field_schema(
            json!({"type": "object", "properties": {"region": {"enum": ["emea", "amer"]}}, "additionalProperties": false}),
        )
        .await
        .unwrap();
    let err = store.create_incident(CreateIncident { custom_fields: json!({"region": "mars"}), ..request("x") }).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["custom_fields/region/json_schema"]);
    store.create_incident(CreateIncident { custom_fields: json!({"region": "emea"}), ..request("x") }).await.unwrap();
    let mut matrix = store.priority_matrix().await.unwrap();
    matrix.cells[1][1] = Priority::P2;
    store.set_priority_matrix(&matrix).await.unwrap();
    let r = store.create_incident(request("y")).await.unwrap();
    assert_eq!(r.incident.priority, Priority::P2);
});

// Two store instances (two server processes) and eight concurrent clients:
// numbers and event sequence stay unique and gap-free.
both_backends!(concurrent_creates_are_gap_free, |db: TestDatabase| async move {
    fixture(&db.store).await;
    let other = db.reopen().await;
    let mut tasks = Vec::new();
    for client in 0..8 {
        let store = if client % 2 == 0 { db.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..25 {
                numbers.push(store.create_incident(request(&format!("c{client} #{i}"))).await.unwrap().incident.number.0);
            }
            numbers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<i64>>());
    let seqs: Vec<i64> = db.store.events_after(0, 1000).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
});
