//! Plugin data (kv, secrets, agent load) against a real SQLite file and a
//! real PostgreSQL schema.

use std::time::Duration;

use serde_json::json;
use switchyard_domain::cmdb::CiClass;
use switchyard_domain::directory::Role;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, PendingReason, ResolutionCode, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, CiInput, CreateIncident, GroupInput, Store, StoreError, UserInput, UserPatch, both_backends};

fn field_rule(e: &StoreError) -> Vec<String> {
    match e {
        StoreError::Domain(d) => d.violations().iter().map(|v| format!("{}/{}", v.field, v.rule)).collect(),
        other => panic!("expected a domain error, got {other:?}"),
    }
}

both_backends!(kv_round_trip, |db: TestDatabase| async move {
    let store = db.store.clone();
    assert_eq!(store.kv_get("p1", "b", "k").await.unwrap(), None);
    store.kv_set("p1", "b", "k", b"hello".to_vec(), None).await.unwrap();
    assert_eq!(store.kv_get("p1", "b", "k").await.unwrap().as_deref(), Some(&b"hello"[..]));
    // Upsert replaces the value; binary values survive as they are.
    let binary = vec![0u8, 255, 10, 13, 0];
    store.kv_set("p1", "b", "k", binary.clone(), None).await.unwrap();
    assert_eq!(store.kv_get("p1", "b", "k").await.unwrap(), Some(binary));
    // Entries are scoped by plugin and bucket.
    assert_eq!(store.kv_get("p2", "b", "k").await.unwrap(), None);
    assert_eq!(store.kv_get("p1", "other", "k").await.unwrap(), None);
    store.kv_set("p2", "b", "k", b"theirs".to_vec(), None).await.unwrap();
    store.kv_delete("p1", "b", "k").await.unwrap();
    assert_eq!(store.kv_get("p1", "b", "k").await.unwrap(), None);
    assert_eq!(store.kv_get("p2", "b", "k").await.unwrap().as_deref(), Some(&b"theirs"[..]));
    // Deleting what is absent is fine.
    store.kv_delete("p1", "b", "k").await.unwrap();
    // A second store on the same database sees the same data.
    let other = db.reopen().await;
    assert_eq!(other.kv_get("p2", "b", "k").await.unwrap().as_deref(), Some(&b"theirs"[..]));
    // Oversized coordinates are refused before they reach the database.
    let err = store.kv_set("p1", "b", &"k".repeat(256), vec![], None).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["key/max_length"]);
    let err = store.kv_get("", &"b".repeat(65), "k").await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["bucket/max_length", "plugin/required"]);
});

both_backends!(kv_ttl_expiry, |db: TestDatabase| async move {
    let store = db.store.clone();
    store.kv_set("p", "b", "short", b"x".to_vec(), Some(Duration::from_millis(1))).await.unwrap();
    store.kv_set("p", "b", "long", b"y".to_vec(), Some(Duration::from_secs(3600))).await.unwrap();
    store.kv_set("p", "b", "forever", b"z".to_vec(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.kv_get("p", "b", "short").await.unwrap(), None);
    assert_eq!(store.kv_get("p", "b", "long").await.unwrap().as_deref(), Some(&b"y"[..]));
    // An expired counter restarts from 0 and no longer expires.
    store.kv_set("p", "b", "n", b"41".to_vec(), Some(Duration::from_millis(1))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.kv_increment("p", "b", "n", 5).await.unwrap(), 5);
    // A live counter keeps its expiry.
    store.kv_set("p", "b", "m", b"1".to_vec(), Some(Duration::from_millis(1500))).await.unwrap();
    assert_eq!(store.kv_increment("p", "b", "m", 1).await.unwrap(), 2);
    // Re-setting without a TTL removes the expiry.
    store.kv_set("p", "b", "again", b"1".to_vec(), Some(Duration::from_millis(1))).await.unwrap();
    store.kv_set("p", "b", "again", b"2".to_vec(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(store.kv_get("p", "b", "m").await.unwrap(), None);
    assert_eq!(store.kv_get("p", "b", "again").await.unwrap().as_deref(), Some(&b"2"[..]));
    // Housekeeping removes the expired rows (short, m) and nothing else.
    assert_eq!(store.kv_purge_expired(chrono::Utc::now()).await.unwrap(), 2);
    assert_eq!(store.kv_purge_expired(chrono::Utc::now()).await.unwrap(), 0);
    for (key, value) in [("long", &b"y"[..]), ("forever", b"z"), ("n", b"5"), ("again", b"2")] {
        assert_eq!(store.kv_get("p", "b", key).await.unwrap().as_deref(), Some(value), "{key}");
    }
});

both_backends!(kv_increment_is_atomic_across_stores, |db: TestDatabase| async move {
    let other = db.reopen().await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store: Store = if task % 2 == 0 { db.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..10 {
                seen.push(store.kv_increment("counter-plugin", "stats", "hits", 1).await.unwrap());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    // Every increment saw a distinct value: none was lost or doubled.
    assert_eq!(all, (1..=160).collect::<Vec<i64>>());
    assert_eq!(db.store.kv_get("counter-plugin", "stats", "hits").await.unwrap().as_deref(), Some(&b"160"[..]));
    assert_eq!(other.kv_increment("counter-plugin", "stats", "hits", -60).await.unwrap(), 100);
});

both_backends!(kv_increment_refuses_non_integers_and_overflow, |db: TestDatabase| async move {
    let store = db.store.clone();
    store.kv_set("p", "bucket-a", "name", b"alice".to_vec(), None).await.unwrap();
    let err = store.kv_increment("p", "bucket-a", "name", 1).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["value/integer"]);
    assert!(err.to_string().contains("bucket-a/name"), "{err}");
    // The failed increment changed nothing.
    assert_eq!(store.kv_get("p", "bucket-a", "name").await.unwrap().as_deref(), Some(&b"alice"[..]));
    store.kv_set("p", "bucket-a", "big", i64::MAX.to_string().into_bytes(), None).await.unwrap();
    let err = store.kv_increment("p", "bucket-a", "big", 1).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["delta/overflow"]);
    assert!(err.to_string().contains("bucket-a/big"), "{err}");
    assert_eq!(store.kv_increment("p", "bucket-a", "big", -1).await.unwrap(), i64::MAX - 1);
    // Whitespace around a number is tolerated (a plugin may `set` " 7\n").
    store.kv_set("p", "bucket-a", "padded", b" 7\n".to_vec(), None).await.unwrap();
    assert_eq!(store.kv_increment("p", "bucket-a", "padded", 3).await.unwrap(), 10);
    assert_eq!(store.kv_get("p", "bucket-a", "padded").await.unwrap().as_deref(), Some(&b"10"[..]));
});

both_backends!(secrets_set_get_list_delete, |db: TestDatabase| async move {
    let store = db.store.clone();
    assert_eq!(store.secret("pager", "api-token").await.unwrap(), None);
    store.set_secret("pager", "api-token", "s3cret").await.unwrap();
    store.set_secret("pager", "webhook.url", "https://x").await.unwrap();
    store.set_secret("chat", "bot_token", "b0t").await.unwrap();
    assert_eq!(store.secret("pager", "api-token").await.unwrap().as_deref(), Some("s3cret"));
    // Secrets are per plugin.
    assert_eq!(store.secret("chat", "api-token").await.unwrap(), None);
    let before = store.list_secret_names(Some("pager")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.set_secret("pager", "api-token", "rotated").await.unwrap();
    assert_eq!(store.secret("pager", "api-token").await.unwrap().as_deref(), Some("rotated"));
    let all = store.list_secret_names(None).await.unwrap();
    let names: Vec<(&str, &str)> = all.iter().map(|(p, n, _)| (p.as_str(), n.as_str())).collect();
    assert_eq!(names, vec![("chat", "bot_token"), ("pager", "api-token"), ("pager", "webhook.url")]);
    let pager = store.list_secret_names(Some("pager")).await.unwrap();
    assert_eq!(pager.len(), 2);
    assert!(pager[0].2 > before[0].2, "updated_at moves on replace");
    assert_eq!(pager[1].2, before[1].2);
    assert!(store.delete_secret("pager", "api-token").await.unwrap());
    assert!(!store.delete_secret("pager", "api-token").await.unwrap());
    assert_eq!(store.secret("pager", "api-token").await.unwrap(), None);
    assert_eq!(store.list_secret_names(Some("pager")).await.unwrap().len(), 1);
    assert!(store.list_secret_names(Some("nobody")).await.unwrap().is_empty());
    // Bad names name their field.
    let long_plugin = "p".repeat(65);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("", "x".into(), vec!["plugin/length"]),
        ("Pager", "x".into(), vec!["plugin/pattern"]),
        (&long_plugin, "x".into(), vec!["plugin/length"]),
        ("pager", "".into(), vec!["name/length"]),
        ("pager", "API token".into(), vec!["name/pattern"]),
        ("pager", "n".repeat(129), vec!["name/length"]),
        ("bad plugin", "Bad/Name".into(), vec!["plugin/pattern", "name/pattern"]),
    ];
    for (plugin, name, expected) in cases {
        let err = store.set_secret(plugin, &name, "v").await.unwrap_err();
        assert_eq!(field_rule(&err), expected, "{plugin:?} {name:?}");
    }
    assert!(store.set_secret("pager", &"n".repeat(128), "v").await.is_ok());
    let err = store.set_secret("pager", "huge", &"v".repeat(64 * 1024 + 1)).await.unwrap_err();
    assert_eq!(field_rule(&err), vec!["value/max_length"]);
    assert_eq!(field_rule(&store.secret("pager", "No Such").await.unwrap_err()), vec!["name/pattern"]);
});

fn request(title: &str, assignee: Option<&str>) -> CreateIncident {
    CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: "details".into(),
        requester: "rita".into(),
        channel: Channel::Phone,
        category: None,
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::LOW,
        urgency: Level::LOW,
        priority_override: None,
        assignment_group: assignee.map(|_| "desk".into()),
        assignee: assignee.map(Into::into),
        custom_fields: json!({}),
        actor: Actor::system(),
    }
}

both_backends!(group_agents_count_open_work_of_active_agents, |db: TestDatabase| async move {
    let store = db.store.clone();
    let users = [
        ("rita", Role::Requester, true, vec![]),
        ("alice", Role::Agent, true, vec!["network".to_string(), "vpn".to_string()]),
        ("bob", Role::Agent, false, vec![]),
        ("carol", Role::Admin, true, vec![]),
        ("dave", Role::Agent, true, vec![]),
        ("erin", Role::Agent, true, vec![]),
    ];
    for (username, role, on_shift, skills) in users {
        store
            .create_user(UserInput {
                username: username.into(),
                display_name: username.to_uppercase(),
                email: Some(format!("{username}@example.com")),
                role: Some(role),
                on_shift: Some(on_shift),
                skills,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store.create_group(GroupInput { name: "desk".into(), display_name: "Desk".into(), ..Default::default() }).await.unwrap();
    store.create_group(GroupInput { name: "empty".into(), display_name: "Empty".into(), ..Default::default() }).await.unwrap();
    for member in ["rita", "alice", "bob", "carol", "dave"] {
        store.add_member("desk", member).await.unwrap();
    }
    let actor = Actor::system();
    let mut alice = Vec::new();
    for i in 0..6 {
        alice.push(store.create_incident(request(&format!("a{i}"), Some("alice"))).await.unwrap().incident.number);
    }
    // alice: 0 assigned, 1 in progress, 2 pending: open. 3 resolved, 4 closed, 5 cancelled: not.
    let to = |status| TransitionRequest { to: Some(status), ..Default::default() };
    store.transition_incident(alice[1], &to(Status::InProgress), &actor).await.unwrap();
    let pending =
        TransitionRequest { to: Some(Status::Pending), pending_reason: Some(PendingReason::AwaitingVendor), ..Default::default() };
    store.transition_incident(alice[2], &pending, &actor).await.unwrap();
    let resolve = TransitionRequest {
        to: Some(Status::Resolved),
        resolution_code: Some(ResolutionCode::SolvedPermanently),
        resolution_notes: Some("done".into()),
        ..Default::default()
    };
    let resolve_one = |n: IncidentNumber| {
        let store = store.clone();
        let resolve = resolve.clone();
        let actor = actor.clone();
        async move { store.transition_incident(n, &resolve, &actor).await.unwrap() }
    };
    resolve_one(alice[3]).await;
    resolve_one(alice[4]).await;
    store.transition_incident(alice[4], &to(Status::Closed), &actor).await.unwrap();
    let cancel = TransitionRequest { to: Some(Status::Cancelled), reason: Some("duplicate".into()), ..Default::default() };
    store.transition_incident(alice[5], &cancel, &actor).await.unwrap();
    // carol: 2 open; dave: none; bob's work does not matter once he is inactive.
    for i in 0..2 {
        store.create_incident(request(&format!("c{i}"), Some("carol"))).await.unwrap();
    }
    store.create_incident(request("b", Some("bob"))).await.unwrap();
    store.create_incident(request("unassigned", None)).await.unwrap();
    store.update_user("bob", UserPatch { active: Some(false), ..Default::default() }).await.unwrap();

    let agents = store.group_agents("desk").await.unwrap().expect("the group exists");
    let summary: Vec<(&str, u64)> = agents.iter().map(|a| (a.username.as_str(), a.open_tickets)).collect();
    assert_eq!(summary, vec![("alice", 3), ("carol", 2), ("dave", 0)]);
    let a = &agents[0];
    assert_eq!(a.display_name, "ALICE");
    assert_eq!(a.email.as_deref(), Some("alice@example.com"));
    assert!(a.on_shift);
    assert_eq!(a.skills, vec!["network", "vpn"]);
    // A second store sees the same.
    let other = db.reopen().await;
    assert_eq!(other.group_agents("desk").await.unwrap(), Some(agents));
    assert_eq!(store.group_agents("empty").await.unwrap(), Some(vec![]));
    assert_eq!(store.group_agents("nope").await.unwrap(), None);
    // Bulk group names.
    let desk = store.get_group("desk").await.unwrap().group.id;
    let empty = store.get_group("empty").await.unwrap().group.id;
    let names = store.group_names(&[desk, empty, desk, 9999]).await.unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names[&desk], "desk");
    assert_eq!(names[&empty], "empty");
    assert!(store.group_names(&[]).await.unwrap().is_empty());
});

both_backends!(find_cis_ignores_case_and_escapes_wildcards, |db: TestDatabase| async move {
    let store = db.store.clone();
    for (class, name) in
        [(CiClass::Service, "Email"), (CiClass::Application, "Mail server"), (CiClass::Server, "mx_01"), (CiClass::Server, "mx101")]
    {
        store.create_ci(CiInput { class, name: name.into(), status: None, owner_group: None, attributes: json!({}) }).await.unwrap();
    }
    let names = |cis: Vec<switchyard_domain::cmdb::ConfigurationItem>| cis.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(store.find_cis(None, Some("MAIL"), 10).await.unwrap()), vec!["Email", "Mail server"]);
    assert_eq!(names(store.find_cis(None, Some("mail"), 1).await.unwrap()), vec!["Email"]);
    assert_eq!(names(store.find_cis(Some(CiClass::Application), Some("mail"), 10).await.unwrap()), vec!["Mail server"]);
    // `_` and `%` are literal characters, not wildcards.
    assert_eq!(names(store.find_cis(None, Some("mx_"), 10).await.unwrap()), vec!["mx_01"]);
    assert!(store.find_cis(None, Some("%"), 10).await.unwrap().is_empty());
    assert_eq!(names(store.find_cis(Some(CiClass::Server), None, 10).await.unwrap()), vec!["mx_01", "mx101"]);
    assert_eq!(store.find_cis(None, Some(""), 10).await.unwrap().len(), 4);
});
