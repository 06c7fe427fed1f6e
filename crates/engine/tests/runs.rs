//! How runs execute and commit, on real databases with the real plugins:
//! exactly-once kv under concurrency, the per-batch directory snapshot,
//! dry-run and execution deciding the same, a person's edit during a run,
//! and a step that may call out starting only after a commit.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{agent, group_with, install_hostile, new_incident, publish, settle, start, start_with};
use switchyard_domain::incident::{IncidentNumber, Level};
use switchyard_engine::dry_run::DryRunRequest;
use switchyard_engine::{EngineConfig, EngineHooks, Hook};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, ActorKind, IncidentFilter, IncidentUpdate, RunFilter, Store, UserInput, both_backends};
use switchyard_workflow::{Format, RunStatus};

const ROUND_ROBIN: &str = r#"
id: rr
name: Round robin
version: 1
triggers: [ { ticket_created: {} } ]
steps:
  - id: route
    plugin: routing
    config: { rules: [], default_group: pool }
  - id: assign
    plugin: assignment
    config: { strategy: round_robin, only_on_shift: true }
"#;

async fn requester(store: &Store) {
    store.create_user(UserInput { username: "rita".into(), display_name: "Rita".into(), ..Default::default() }).await.unwrap();
}

/// A group `pool` of `n` agents on shift, `p1`..`pn`.
async fn pool(store: &Store, n: usize) -> Vec<String> {
    let names: Vec<String> = (1..=n).map(|i| format!("p{i}")).collect();
    for name in &names {
        agent(store, name, true).await;
    }
    group_with(store, "pool", &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    names
}

async fn assigned_to(store: &Store, agent: &str) -> usize {
    let filter = IncidentFilter { assignee: Some(agent.into()), limit: 500, ..Default::default() };
    store.list_incidents(&filter).await.unwrap().items.len()
}

/// Creates `clients * each` incidents from `clients` concurrent tasks.
async fn burst(store: &Store, clients: usize, each: usize) -> Vec<IncidentNumber> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..each {
                numbers.push(store.create_incident(new_incident(&format!("burst {c}/{i}"), None)).await.unwrap().incident.number);
            }
            numbers
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.extend(t.await.unwrap());
    }
    numbers
}

/// With 64 concurrent clients and k agents, every agent gets exactly N/k
/// tickets, and the counter equals the number of tickets it assigned.
async fn round_robin_is_exact_under_concurrency(db: TestDatabase) {
    let store = &db.store;
    requester(store).await;
    let agents = pool(store, 4).await;
    let engine = start(store, "node-a").await;
    publish(&engine, ROUND_ROBIN).await;
    let numbers = burst(store, 64, 4).await;
    settle(store).await;
    for a in &agents {
        assert_eq!(assigned_to(store, a).await, numbers.len() / agents.len(), "{a}");
    }
    let counter = store.kv_get("assignment", "round-robin", "pool").await.unwrap().unwrap();
    assert_eq!(String::from_utf8(counter).unwrap(), numbers.len().to_string());
    engine.shutdown();
}

/// A burst for one group is spread over its agents: least-loaded counts
/// the assignments made earlier in the same batch.
async fn least_loaded_spreads_a_burst(db: TestDatabase) {
    let store = &db.store;
    requester(store).await;
    let agents = pool(store, 4).await;
    let engine = start(store, "node-a").await;
    publish(&engine, &ROUND_ROBIN.replace("round_robin", "least_loaded").replace("id: rr", "id: ll")).await;
    let numbers = burst(store, 40, 1).await;
    settle(store).await;
    let mut counts = Vec::new();
    for a in &agents {
        counts.push(assigned_to(store, a).await);
    }
    assert_eq!(counts.iter().sum::<usize>(), numbers.len());
    // Without the snapshot's counting (and the directory turn that keeps
    // two steps from reading the same load) a burst in one batch went
    // almost entirely to one agent: [1, 36, 3, 0].
    let fair = numbers.len() / agents.len();
    assert_eq!(counts, vec![fair; agents.len()]);
    engine.shutdown();
}

const AGREE: &str = r#"
id: agree
name: Dry-run and execution agree
version: 1
triggers: [ { manual: {} } ]
steps:
  - id: route
    plugin: routing
    config:
      rules:
        - { name: net, group: net, match: { category: [network] } }
        - { name: db, group: db, match: { category: [database] } }
      default_group: desk
  - id: assign
    plugin: assignment
    config: { strategy: least_loaded }
  - id: rotate
    plugin: assignment
    config: { strategy: round_robin, reassign: true }
  - id: notify
    plugin: notification
    config:
      channel: email
      rules:
        - { name: ack, on: [manual], recipients: [requester, assignee], subject: "[{{number}}] {{assignee}}", body: "{{assignment_group}}" }
"#;

/// The same recorded tickets through dry-run and through real runs, one
/// after another: every step proposes the same actions and every ticket
/// ends the same.
async fn dry_run_and_execution_decide_the_same(db: TestDatabase) {
    let store = &db.store;
    requester(store).await;
    for (group, members) in [("net", vec!["n1", "n2", "n3"]), ("db", vec!["d1", "d2"]), ("desk", vec!["s1"])] {
        for m in &members {
            agent(store, m, true).await;
        }
        group_with(store, group, &members).await;
    }
    let engine = start(store, "node-a").await;
    publish(&engine, AGREE).await;
    let mut numbers = Vec::new();
    for (i, category) in ["network", "database", "network", "other", "network", "database", "network", "network"].iter().enumerate() {
        numbers.push(store.create_incident(new_incident(&format!("ticket {i}"), Some(category))).await.unwrap().incident.number);
    }
    let draft = engine.validate(AGREE, Format::Yaml).await.unwrap();
    let report = engine.dry_run(DryRunRequest { document: draft, since: None, last: None, tickets: numbers.clone() }).await.unwrap();
    let dry: HashMap<String, _> = report.tickets.iter().map(|t| (t.number.clone(), t)).collect();
    for number in &numbers {
        engine.run_manual("agree", *number, "tester").await.unwrap();
        settle(store).await;
    }
    for number in &numbers {
        let planned = dry[&number.to_string()];
        let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 5, ..Default::default() }).await.unwrap();
        assert_eq!(runs[0].status, RunStatus::Succeeded, "{number}: {:?}", runs[0].error);
        let steps = store.run_steps(runs[0].id).await.unwrap();
        let real: Vec<(String, serde_json::Value)> = steps.iter().map(|s| (s.step_id.clone(), s.actions.clone())).collect();
        let would: Vec<(String, serde_json::Value)> =
            planned.steps.iter().map(|s| (s.step_id.clone(), serde_json::to_value(&s.actions).unwrap())).collect();
        assert_eq!(real, would, "{number}: the same actions, step by step");
        let record = store.get_incident(*number).await.unwrap();
        assert_eq!(planned.would.get("assignee").and_then(|v| v.as_str()), record.assignee.as_deref(), "{number}");
        assert_eq!(planned.would.get("assignment_group").and_then(|v| v.as_str()), record.assignment_group.as_deref(), "{number}");
        let queued = store.list_notifications(Some(number.0), None, None, 10).await.unwrap();
        let subjects: Vec<&str> = queued.iter().map(|n| n.notification.subject.as_str()).collect();
        let planned_subjects: Vec<&str> = planned.notifications.iter().map(|n| n.subject.as_str()).collect();
        assert_eq!(subjects, planned_subjects, "{number}");
    }
    engine.shutdown();
}

const ROUTE_AND_NOTE: &str = r#"
id: route-and-note
name: Route and note
version: 1
triggers: [ { ticket_created: {} } ]
steps:
  - id: route
    plugin: routing
    config: { rules: [ { name: net, group: network-ops, match: { category: [network] } } ], default_group: service-desk, work_note: true }
"#;

/// A person's edit that lands while a run is in flight is neither lost nor
/// overwritten: the run is refused at commit, runs again on the new
/// version, and keeps its hands off the fields the person changed.
async fn a_human_edit_during_a_run_is_kept(db: TestDatabase) {
    let store = &db.store;
    common::seed_directory(store).await;
    let pending: Arc<Mutex<Option<(IncidentNumber, IncidentUpdate)>>> = Arc::default();
    let hook = {
        let (store, pending) = (store.clone(), pending.clone());
        Arc::new(move |_runs: Vec<i64>| {
            let (store, pending) = (store.clone(), pending.clone());
            Box::pin(async move {
                let edit = pending.lock().unwrap().take();
                if let Some((number, update)) = edit {
                    let person = Actor { kind: ActorKind::User, user_id: None, name: "alice".into(), run_id: None };
                    store.update_incident(number, update, &person).await.unwrap();
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        }) as Hook
    };
    let engine = start_with(
        store,
        EngineConfig { node: "node-a".into(), hooks: EngineHooks { before_commit: Some(hook) }, ..EngineConfig::default() },
    )
    .await;
    publish(&engine, ROUTE_AND_NOTE).await;
    // A field the run does not touch: both changes stay. (Numbers are
    // gap-free, so the edit is armed before the incident exists.)
    let first = IncidentNumber(1);
    let urgent = IncidentUpdate { title: Some("VPN down for the whole floor".into()), urgency: Level::new(1), ..Default::default() };
    *pending.lock().unwrap() = Some((first, urgent));
    assert_eq!(store.create_incident(new_incident("VPN down", Some("network"))).await.unwrap().incident.number, first);
    settle(store).await;
    let record = store.get_incident(first).await.unwrap();
    assert_eq!(record.incident.title, "VPN down for the whole floor");
    assert_eq!(record.incident.urgency, Level::new(1).unwrap());
    assert_eq!(record.assignment_group.as_deref(), Some("network-ops"), "the run's routing is applied on top");

    // The field the run changes: the person's value wins.
    let second = IncidentNumber(2);
    *pending.lock().unwrap() = Some((second, IncidentUpdate { assignment_group: Some(Some("dba".into())), ..Default::default() }));
    assert_eq!(store.create_incident(new_incident("VPN down again", Some("network"))).await.unwrap().incident.number, second);
    settle(store).await;
    let record = store.get_incident(second).await.unwrap();
    assert_eq!(record.assignment_group.as_deref(), Some("dba"), "the person's group is kept");
    let history = store.history(second, true).await.unwrap();
    let by_workflow: Vec<_> =
        history.iter().filter(|e| e.actor.kind == ActorKind::Workflow && e.field.as_deref() == Some("assignment_group")).collect();
    assert!(by_workflow.is_empty(), "the run did not overwrite it: {by_workflow:?}");
    let runs = store.list_runs(&RunFilter { incident_id: Some(second.0), limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    let steps = store.run_steps(runs[0].id).await.unwrap();
    assert_eq!(steps.len(), 1, "the refused attempt left no record: {steps:?}");
    assert!(steps[0].logs.to_string().contains("kept the change someone else made meanwhile to assignment_group"), "{}", steps[0].logs);
    engine.shutdown();
}

/// A step whose plugin may call out over HTTP starts only after the run's
/// earlier work is committed.
async fn a_step_that_calls_out_starts_after_a_commit(db: TestDatabase) {
    let store = &db.store;
    common::seed_directory(store).await;
    let passes: Arc<Mutex<BTreeMap<i64, usize>>> = Arc::default();
    let seen_steps = Arc::new(AtomicUsize::new(usize::MAX));
    let hook: Hook = {
        let (store, passes, seen_steps) = (store.clone(), passes.clone(), seen_steps.clone());
        Arc::new(move |runs: Vec<i64>| {
            let (store, passes, seen_steps) = (store.clone(), passes.clone(), seen_steps.clone());
            Box::pin(async move {
                for run in runs {
                    let n = {
                        let mut p = passes.lock().unwrap();
                        let n = p.entry(run).or_default();
                        *n += 1;
                        *n
                    };
                    if n == 2 {
                        // The second pass runs the calling step: the first is already stored.
                        seen_steps.store(store.run_steps(run).await.unwrap().len(), Ordering::SeqCst);
                    }
                }
            })
        })
    };
    let engine = start_with(
        store,
        EngineConfig { node: "node-a".into(), hooks: EngineHooks { before_commit: Some(hook) }, ..EngineConfig::default() },
    )
    .await;
    let _plugins = install_hostile(&engine, store);
    publish(
        &engine,
        "id: call-out\nname: Call out\nversion: 1\ntriggers: [ { ticket_created: {} } ]\nsteps:\n  - id: route\n    plugin: routing\n    \
         config: { rules: [], default_group: service-desk }\n  - id: count\n    plugin: hostile\n    config: { mode: kv }\n",
    )
    .await;
    let number = store.create_incident(new_incident("Call out", None)).await.unwrap().incident.number;
    settle(store).await;
    let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
    assert_eq!(passes.lock().unwrap().get(&runs[0].id), Some(&2), "two commits: before and after the calling step");
    assert_eq!(seen_steps.load(Ordering::SeqCst), 1, "the routing step was committed before the calling step ran");
    let steps = store.run_steps(runs[0].id).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(), ["route", "count"]);
    assert_eq!(steps[1].output.as_ref().unwrap()["count"], 1);
    engine.shutdown();
}

both_backends!(round_robin_exact, round_robin_is_exact_under_concurrency);
both_backends!(least_loaded_burst, least_loaded_spreads_a_burst);
both_backends!(dry_run_agrees, dry_run_and_execution_decide_the_same);
both_backends!(human_edit_kept, a_human_edit_during_a_run_is_kept);
both_backends!(call_out_after_commit, a_step_that_calls_out_starts_after_a_commit);
