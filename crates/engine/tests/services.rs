//! The plugin host interfaces backed by the store, called through
//! `HostServices` against a real SQLite file and a real PostgreSQL schema.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use switchyard_domain::changes::PriorityOverride;
use switchyard_domain::cmdb::{CiClass, CiStatus, RelationKind, Relationship};
use switchyard_domain::directory::Role;
use switchyard_domain::incident::{self as domain, IncidentNumber, Level, PendingReason, Priority, ResolutionCode};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_engine::services::{host_services, ticket_from_record};
use switchyard_plugin_host::HostServices;
use switchyard_plugin_host::model::{Agent, Channel, CiDirection, Group, Status, Ticket, TicketQuery};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, CiInput, CreateIncident, GroupInput, IncidentRecord, IncidentUpdate, Store, UserInput, both_backends};

/// Ids of the fixture CMDB: `email` (service) depends on `mail` (app), which
/// runs on `mx01` (server) and depends on `db01` (database).
struct Cmdb {
    email: i64,
    mail: i64,
    mx01: i64,
    db01: i64,
}

/// Users, groups and a small CMDB.
async fn fixture(store: &Store) -> Cmdb {
    let users = [
        ("rita", Role::Requester, true, vec![]),
        ("alice", Role::Agent, true, vec!["exchange".to_string()]),
        ("bob", Role::Agent, false, vec![]),
        ("carol", Role::Admin, true, vec![]),
    ];
    for (username, role, on_shift, skills) in users {
        store
            .create_user(UserInput {
                username: username.into(),
                display_name: format!("{username} example"),
                email: Some(format!("{username}@example.com")),
                role: Some(role),
                on_shift: Some(on_shift),
                skills,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store
        .create_group(GroupInput {
            name: "messaging".into(),
            display_name: "Messaging".into(),
            email: Some("messaging@example.com".into()),
            manager: Some("carol".into()),
        })
        .await
        .unwrap();
    store.create_group(GroupInput { name: "dba".into(), display_name: "DBA".into(), ..Default::default() }).await.unwrap();
    for member in ["rita", "alice", "bob", "carol"] {
        store.add_member("messaging", member).await.unwrap();
    }
    let ci = |class, name: &str, owner: Option<&str>, attributes| CiInput {
        class,
        name: name.into(),
        status: None,
        owner_group: owner.map(Into::into),
        attributes,
    };
    let email = store.create_ci(ci(CiClass::Service, "Email", Some("messaging"), json!({"users": 1200}))).await.unwrap().id;
    let mail = store.create_ci(ci(CiClass::Application, "Mail server", Some("messaging"), json!({}))).await.unwrap().id;
    let mx01 = store.create_ci(ci(CiClass::Server, "mx01", None, json!({"os": "linux"}))).await.unwrap().id;
    let mut db = ci(CiClass::Database, "maildb", Some("dba"), json!({}));
    db.status = Some(CiStatus::Degraded);
    let db01 = store.create_ci(db).await.unwrap().id;
    for (source_id, kind, target_id) in
        [(email, RelationKind::DependsOn, mail), (mail, RelationKind::RunsOn, mx01), (mail, RelationKind::DependsOn, db01)]
    {
        store.create_relationship(Relationship { source_id, kind, target_id }).await.unwrap();
    }
    Cmdb { email, mail, mx01, db01 }
}

fn request(title: &str) -> CreateIncident {
    CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: "details".into(),
        requester: "rita".into(),
        channel: domain::Channel::Email,
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

/// The domain channel for a contract channel (tests only).
trait IntoDomain {
    fn into_domain(self) -> domain::Channel;
}

impl IntoDomain for Channel {
    fn into_domain(self) -> domain::Channel {
        match self {
            Channel::Portal => domain::Channel::Portal,
            Channel::Email => domain::Channel::Email,
            Channel::Api => domain::Channel::Api,
            Channel::Alert => domain::Channel::Alert,
            Channel::Phone => domain::Channel::Phone,
            Channel::Chat => domain::Channel::Chat,
        }
    }
}

fn services(db: &TestDatabase) -> HostServices {
    host_services(db.store.clone())
}

#[test]
fn ticket_from_record_maps_every_field() {
    let created = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(678_901);
    let record = IncidentRecord {
        incident: domain::Incident {
            number: IncidentNumber(123),
            title: "Mail is down".into(),
            description: "No mail since 9".into(),
            requester_id: 7,
            channel: domain::Channel::Alert,
            category: Some("email".into()),
            subcategory: Some("delivery".into()),
            service_id: Some(11),
            affected_ci_ids: vec![12, 13],
            impact: Level::HIGH,
            urgency: Level::MEDIUM,
            priority: Priority::P1,
            priority_override_reason: Some("CEO".into()),
            status: domain::Status::Pending,
            pending_reason: Some(PendingReason::AwaitingVendor),
            assignment_group_id: Some(3),
            assignee_id: Some(4),
            escalation_level: 2,
            resolution_code: Some(ResolutionCode::Duplicate),
            resolution_notes: Some("n/a".into()),
            custom_fields: json!({"region": "emea"}),
            created_at: created,
            updated_at: created + chrono::Duration::milliseconds(1500),
            resolved_at: None,
            closed_at: None,
            version: 5,
            kind: switchyard_domain::kind::Kind::Problem,
            details: json!({}),
            checklist: vec![],
        },
        requester: "rita".into(),
        assignment_group: Some("messaging".into()),
        assignee: Some("alice".into()),
        watchers: vec!["bob".into()],
        links: vec![switchyard_store::TicketLink {
            link_type: switchyard_domain::links::LinkType::CausedBy,
            end: switchyard_domain::links::End::Target,
            other: IncidentNumber(9),
            other_number: "INC-000009".into(),
            other_kind: switchyard_domain::kind::Kind::Incident,
        }],
    };
    let expected = Ticket {
        number: "PRB-000123".into(),
        title: "Mail is down".into(),
        description: "No mail since 9".into(),
        requester: "rita".into(),
        channel: Channel::Alert,
        category: Some("email".into()),
        subcategory: Some("delivery".into()),
        service: Some(11),
        affected_cis: vec![12, 13],
        impact: 1,
        urgency: 2,
        priority: 1,
        status: Status::Pending,
        pending_reason: Some("awaiting_vendor".into()),
        assignment_group: Some("messaging".into()),
        assignee: Some("alice".into()),
        escalation_level: 2,
        watchers: vec!["bob".into()],
        created_at: created.timestamp_millis(),
        updated_at: created.timestamp_millis() + 1500,
        custom_fields: json!({"region": "emea"}),
        kind: "problem".into(),
        links: vec![switchyard_plugin_host::model::TicketLink {
            link_type: "caused_by".into(),
            end: "target".into(),
            number: "INC-000009".into(),
            kind: "incident".into(),
        }],
    };
    assert_eq!(ticket_from_record(&record), expected);
    assert_eq!(expected.created_at, 1_767_323_045_678);

    // Every status and channel has its counterpart.
    let statuses = [
        (domain::Status::New, Status::New),
        (domain::Status::Assigned, Status::Assigned),
        (domain::Status::InProgress, Status::InProgress),
        (domain::Status::Pending, Status::Pending),
        (domain::Status::Resolved, Status::Resolved),
        (domain::Status::Closed, Status::Closed),
        (domain::Status::Cancelled, Status::Cancelled),
    ];
    for (from, to) in statuses {
        let mut r = record.clone();
        r.incident.status = from;
        assert_eq!(ticket_from_record(&r).status, to);
    }
    for channel in [Channel::Portal, Channel::Email, Channel::Api, Channel::Alert, Channel::Phone, Channel::Chat] {
        let mut r = record.clone();
        r.incident.channel = channel.into_domain();
        assert_eq!(ticket_from_record(&r).channel, channel);
    }
    // Absent references stay absent.
    let mut bare = record;
    bare.incident.service_id = None;
    bare.incident.affected_ci_ids = vec![];
    bare.incident.pending_reason = None;
    bare.assignment_group = None;
    bare.assignee = None;
    let t = ticket_from_record(&bare);
    assert!(t.service.is_none() && t.affected_cis.is_empty() && t.pending_reason.is_none());
    assert!(t.assignment_group.is_none() && t.assignee.is_none());
}

both_backends!(kv_and_secrets, |db: TestDatabase| async move {
    let s = services(&db);
    assert_eq!(s.kv.get("plug", "b", "k").await.unwrap(), None);
    s.kv.set("plug", "b", "k", b"v1".to_vec(), None).await.unwrap();
    assert_eq!(s.kv.get("plug", "b", "k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(s.kv.get("other", "b", "k").await.unwrap(), None);
    s.kv.delete("plug", "b", "k").await.unwrap();
    s.kv.delete("plug", "b", "k").await.unwrap();
    assert_eq!(s.kv.get("plug", "b", "k").await.unwrap(), None);
    s.kv.set("plug", "b", "ttl", b"x".to_vec(), Some(Duration::from_millis(1))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(s.kv.get("plug", "b", "ttl").await.unwrap(), None);
    assert_eq!(s.kv.increment("plug", "b", "n", 2).await.unwrap(), 2);
    assert_eq!(s.kv.increment("plug", "b", "n", -5).await.unwrap(), -3);
    // The store backs it: another node sees the same counter.
    let other = host_services(db.reopen().await);
    assert_eq!(other.kv.increment("plug", "b", "n", 3).await.unwrap(), 0);
    s.kv.set("plug", "b", "word", b"hello".to_vec(), None).await.unwrap();
    let err = s.kv.increment("plug", "b", "word", 1).await.unwrap_err();
    assert!(err.0.contains("b/word") && err.0.contains("integer"), "{}", err.0);
    let err = s.kv.set("plug", "b", &"k".repeat(300), vec![], None).await.unwrap_err();
    assert!(err.0.starts_with("kv set: ") && err.0.contains("key"), "{}", err.0);

    db.store.set_secret("plug", "api-token", "s3cret").await.unwrap();
    assert_eq!(s.secrets.get("plug", "api-token").await.unwrap().as_deref(), Some("s3cret"));
    assert_eq!(s.secrets.get("plug", "missing").await.unwrap(), None);
    assert_eq!(s.secrets.get("other", "api-token").await.unwrap(), None);
});

both_backends!(cmdb, |db: TestDatabase| async move {
    let c = fixture(&db.store).await;
    let s = services(&db);
    let email = s.cmdb.get(c.email as u64).await.unwrap().expect("email exists");
    assert_eq!(email.id, c.email as u64);
    assert_eq!(email.class, "service");
    assert_eq!(email.name, "Email");
    assert_eq!(email.status, "operational");
    assert_eq!(email.owner_group.as_deref(), Some("messaging"));
    assert_eq!(email.attributes, json!({"users": 1200}));
    let db01 = s.cmdb.get(c.db01 as u64).await.unwrap().unwrap();
    assert_eq!((db01.status.as_str(), db01.owner_group.as_deref()), ("degraded", Some("dba")));
    assert_eq!(s.cmdb.get(c.mx01 as u64).await.unwrap().unwrap().owner_group, None);
    assert_eq!(s.cmdb.get(9999).await.unwrap(), None);
    assert_eq!(s.cmdb.get(u64::MAX).await.unwrap(), None);

    let names = |cis: Vec<switchyard_plugin_host::model::Ci>| cis.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(s.cmdb.find(None, None, 10).await.unwrap()), vec!["Email", "Mail server", "mx01", "maildb"]);
    assert_eq!(names(s.cmdb.find(None, None, 2).await.unwrap()), vec!["Email", "Mail server"]);
    assert_eq!(names(s.cmdb.find(Some("server"), None, 10).await.unwrap()), vec!["mx01"]);
    // Names match ignoring case, the same on both databases.
    assert_eq!(names(s.cmdb.find(None, Some("mail"), 10).await.unwrap()), vec!["Email", "Mail server", "maildb"]);
    assert_eq!(names(s.cmdb.find(None, Some("MX0"), 10).await.unwrap()), vec!["mx01"]);
    assert_eq!(names(s.cmdb.find(Some("application"), Some("server"), 10).await.unwrap()), vec!["Mail server"]);
    let found = s.cmdb.find(Some("database"), None, 10).await.unwrap();
    assert_eq!(found[0].owner_group.as_deref(), Some("dba"));
    assert!(s.cmdb.find(Some("spaceship"), None, 10).await.unwrap().is_empty());
    assert!(s.cmdb.find(None, None, 0).await.unwrap().is_empty());

    let related = |id: i64, direction, depth| {
        let s = s.clone();
        async move {
            s.cmdb
                .related(id as u64, direction, depth)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.ci.name, r.relation, r.depth))
                .collect::<Vec<_>>()
        }
    };
    let t = |name: &str, relation: &str, depth: u32| (name.to_string(), relation.to_string(), depth);
    // Upstream: what the CI depends on.
    assert_eq!(
        related(c.email, CiDirection::Upstream, 5).await,
        vec![t("Mail server", "depends-on", 1), t("mx01", "runs-on", 2), t("maildb", "depends-on", 2)]
    );
    assert_eq!(related(c.email, CiDirection::Upstream, 1).await, vec![t("Mail server", "depends-on", 1)]);
    // Downstream: what depends on it.
    assert_eq!(related(c.db01, CiDirection::Downstream, 5).await, vec![t("Mail server", "depends-on", 1), t("Email", "depends-on", 2)]);
    assert!(related(c.mx01, CiDirection::Upstream, 5).await.is_empty());
    assert!(related(9999, CiDirection::Downstream, 5).await.is_empty());
    let walked = s.cmdb.related(c.mx01 as u64, CiDirection::Downstream, 1).await.unwrap();
    assert_eq!(walked[0].ci.id, c.mail as u64);
    assert_eq!(walked[0].ci.owner_group.as_deref(), Some("messaging"));
});

both_backends!(tickets, |db: TestDatabase| async move {
    let c = fixture(&db.store).await;
    let store = db.store.clone();
    store
        .set_custom_field_schema(json!({"type": "object", "properties": {"region": {"type": "string"}}, "additionalProperties": false}))
        .await
        .unwrap();
    let actor = Actor::system();
    let mut full = request("Mail is down");
    full.channel = domain::Channel::Phone;
    full.category = Some("email".into());
    full.subcategory = Some("delivery".into());
    full.service_id = Some(c.email);
    full.affected_ci_ids = vec![c.db01, c.mx01];
    full.impact = Level::HIGH;
    full.urgency = Level::MEDIUM;
    full.priority_override = Some(PriorityOverride { priority: Priority::P1, reason: "board meeting".into() });
    full.assignment_group = Some("messaging".into());
    full.assignee = Some("alice".into());
    full.custom_fields = json!({"region": "emea"});
    let n = store.create_incident(full).await.unwrap().incident.number;
    let pending =
        TransitionRequest { to: Some(domain::Status::Pending), pending_reason: Some(PendingReason::AwaitingVendor), ..Default::default() };
    store.transition_incident(n, &pending, &actor).await.unwrap();
    store.update_incident(n, IncidentUpdate { escalation_level: Some(2), ..Default::default() }, &actor).await.unwrap();
    let record = store.get_incident(n).await.unwrap();

    let s = services(&db);
    let ticket = s.tickets.get("INC-000001").await.unwrap().expect("the incident exists");
    assert_eq!(ticket, ticket_from_record(&record));
    assert_eq!(ticket.number, "INC-000001");
    assert_eq!(ticket.title, "Mail is down");
    assert_eq!(ticket.requester, "rita");
    assert_eq!(ticket.channel, Channel::Phone);
    assert_eq!((ticket.category.as_deref(), ticket.subcategory.as_deref()), (Some("email"), Some("delivery")));
    assert_eq!(ticket.service, Some(c.email as u64));
    let mut cis = vec![c.db01 as u64, c.mx01 as u64];
    cis.sort_unstable();
    assert_eq!(ticket.affected_cis, cis);
    assert_eq!((ticket.impact, ticket.urgency, ticket.priority), (1, 2, 1));
    assert_eq!(ticket.status, Status::Pending);
    assert_eq!(ticket.pending_reason.as_deref(), Some("awaiting_vendor"));
    assert_eq!(ticket.assignment_group.as_deref(), Some("messaging"));
    assert_eq!(ticket.assignee.as_deref(), Some("alice"));
    assert_eq!(ticket.escalation_level, 2);
    assert!(ticket.watchers.is_empty());
    assert_eq!(ticket.custom_fields, json!({"region": "emea"}));
    assert_eq!(ticket.created_at, record.incident.created_at.timestamp_millis());
    assert_eq!(ticket.updated_at, record.incident.updated_at.timestamp_millis());
    assert!(ticket.updated_at >= ticket.created_at);
    for absent in ["INC-000002", "INC-000000", "inc-000001", "1", "", "INC-99999999999999999999"] {
        assert_eq!(s.tickets.get(absent).await.unwrap(), None, "{absent}");
    }

    // Search: 2 for carol in messaging (assigned), 1 by carol as requester, plus many unassigned.
    for i in 0..2 {
        let mut r = request(&format!("carol's {i}"));
        r.assignment_group = Some("messaging".into());
        r.assignee = Some("carol".into());
        store.create_incident(r).await.unwrap();
    }
    store.create_incident(CreateIncident { requester: "carol".into(), ..request("carol asks") }).await.unwrap();
    let mut creates = Vec::new();
    for i in 0..105 {
        let store = store.clone();
        creates.push(tokio::spawn(async move { store.create_incident(request(&format!("bulk {i}"))).await.unwrap() }));
    }
    for t in creates {
        t.await.unwrap();
    }
    let titles = |tickets: Vec<Ticket>| tickets.into_iter().map(|t| t.title).collect::<Vec<_>>();
    let q = |f: fn(&mut TicketQuery)| {
        let mut q = TicketQuery { limit: 10, ..Default::default() };
        f(&mut q);
        q
    };
    assert_eq!(titles(s.tickets.search(&q(|q| q.status = Some(Status::Pending))).await.unwrap()), vec!["Mail is down"]);
    assert_eq!(titles(s.tickets.search(&q(|q| q.assignee = Some("carol".into()))).await.unwrap()), vec!["carol's 1", "carol's 0"]);
    assert_eq!(
        titles(s.tickets.search(&q(|q| q.assignment_group = Some("messaging".into()))).await.unwrap()),
        vec!["carol's 1", "carol's 0", "Mail is down"]
    );
    assert_eq!(
        titles(
            s.tickets
                .search(&q(|q| {
                    q.assignment_group = Some("messaging".into());
                    q.status = Some(Status::Assigned);
                }))
                .await
                .unwrap()
        ),
        vec!["carol's 1", "carol's 0"]
    );
    assert_eq!(titles(s.tickets.search(&q(|q| q.requester = Some("carol".into()))).await.unwrap()), vec!["carol asks"]);
    assert!(s.tickets.search(&q(|q| q.assignee = Some("nobody".into()))).await.unwrap().is_empty());
    assert!(s.tickets.search(&q(|q| q.status = Some(Status::Closed))).await.unwrap().is_empty());
    assert_eq!(s.tickets.search(&q(|q| q.limit = 3)).await.unwrap().len(), 3);
    assert!(s.tickets.search(&q(|q| q.limit = 0)).await.unwrap().is_empty());
    let capped = s.tickets.search(&q(|q| q.limit = 1000)).await.unwrap();
    assert_eq!(capped.len(), 100);
    // Newest first, each converted like `get`.
    assert_eq!(capped[0].number, "INC-000109");
    let last = s.tickets.get(&capped[99].number).await.unwrap().unwrap();
    assert_eq!(capped[99], last);
});

both_backends!(directory, |db: TestDatabase| async move {
    fixture(&db.store).await;
    let store = db.store.clone();
    for (title, assignee) in [("a", "alice"), ("b", "alice"), ("c", "bob")] {
        let mut r = request(title);
        r.assignment_group = Some("messaging".into());
        r.assignee = Some(assignee.into());
        store.create_incident(r).await.unwrap();
    }
    let resolve = TransitionRequest {
        to: Some(domain::Status::Resolved),
        resolution_code: Some(ResolutionCode::SolvedPermanently),
        resolution_notes: Some("done".into()),
        ..Default::default()
    };
    store.transition_incident(IncidentNumber(2), &resolve, &Actor::system()).await.unwrap();

    let s = services(&db);
    assert_eq!(
        s.directory.get_group("messaging").await.unwrap(),
        Some(Group {
            name: "messaging".into(),
            display_name: "Messaging".into(),
            email: Some("messaging@example.com".into()),
            manager: Some("carol".into()),
        })
    );
    let dba = s.directory.get_group("dba").await.unwrap().unwrap();
    assert_eq!((dba.email, dba.manager), (None, None));
    assert_eq!(s.directory.get_group("nope").await.unwrap(), None);

    let agent = |name: &str, on_shift: bool, open_tickets: u32, skills: &[&str]| Agent {
        username: name.into(),
        display_name: format!("{name} example"),
        email: Some(format!("{name}@example.com")),
        on_shift,
        open_tickets,
        skills: skills.iter().map(|s| s.to_string()).collect(),
    };
    // Requesters are not agents; admins are.
    assert_eq!(
        s.directory.members("messaging").await.unwrap(),
        vec![agent("alice", true, 1, &["exchange"]), agent("bob", false, 1, &[]), agent("carol", true, 0, &[])]
    );
    assert_eq!(
        s.directory.on_shift("messaging").await.unwrap(),
        vec![agent("alice", true, 1, &["exchange"]), agent("carol", true, 0, &[])]
    );
    assert!(s.directory.members("dba").await.unwrap().is_empty());
    assert!(s.directory.members("nope").await.unwrap().is_empty());
    assert!(s.directory.on_shift("nope").await.unwrap().is_empty());
});
