//! The SLA tracker and SLA timers on real databases (a fresh SQLite file
//! and a fresh PostgreSQL schema), with targets of a few seconds on the
//! 24x7 calendar so real time can pass them.

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_domain::history::EventKind;

use chrono::{TimeDelta, Utc};
use serde_json::json;
use switchyard_domain::directory::Role;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, PendingReason, Status};
use switchyard_domain::lifecycle::TransitionRequest;
use switchyard_domain::sla::{ClockState, SlaTarget};
use switchyard_engine::{Engine, EngineConfig};
use switchyard_plugin_host::Registry;
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, CreateIncident, EventRecord, GroupInput, Store, StoredClock, UserInput, both_backends};

async fn start(store: &Store) -> Engine {
    let config = EngineConfig { node: "sla-node".into(), poll: Duration::from_millis(50), ..EngineConfig::default() };
    Engine::start(store.clone(), Arc::new(Registry::new()), config).await.unwrap()
}

async fn seed(store: &Store) {
    store
        .create_user(UserInput { username: "alice".into(), display_name: "Alice".into(), role: Some(Role::Agent), ..Default::default() })
        .await
        .unwrap();
    store.create_user(UserInput { username: "rita".into(), display_name: "Rita".into(), ..Default::default() }).await.unwrap();
    store
        .create_group(GroupInput { name: "service-desk".into(), display_name: "Service desk".into(), ..Default::default() })
        .await
        .unwrap();
    store.add_member("service-desk", "alice").await.unwrap();
    // Resolution targets of 2, 3 and 4 seconds by category, around the clock.
    let policy = |id: &str, resolution: &str, warnings: serde_json::Value| {
        json!({"id": id, "name": id, "match": {"categories": [id]}, "calendar": "24x7",
               "targets": {"resolution": resolution}, "warnings": warnings})
    };
    store
        .set_sla_policies(json!({"policies": [
            policy("two", "2s", json!([50])), policy("three", "3s", json!([])), policy("four", "4s", json!([])),
            {"id": "slow", "name": "slow", "calendar": "24x7", "targets": {"response": "1h", "resolution": "8h"}}
        ]}))
        .await
        .unwrap();
}

fn incident(title: &str, category: &str) -> CreateIncident {
    CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: title.into(),
        requester: "rita".into(),
        channel: Channel::Api,
        category: Some(category.into()),
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::new(2).unwrap(),
        urgency: Level::new(2).unwrap(),
        priority_override: None,
        assignment_group: Some("service-desk".into()),
        assignee: None,
        custom_fields: json!({}),
        actor: Actor::system(),
    }
}

fn to(status: Status, reason: Option<PendingReason>) -> TransitionRequest {
    TransitionRequest { to: Some(status), pending_reason: reason, resolution_code: None, resolution_notes: None, reason: None }
}

async fn resolution(store: &Store, number: IncidentNumber) -> StoredClock {
    store.stored_clocks(number).await.unwrap().into_iter().find(|c| c.target == SlaTarget::Resolution).expect("a resolution clock")
}

/// Every SLA event of these incidents, in log order.
async fn sla_events(store: &Store, numbers: &[IncidentNumber]) -> Vec<EventRecord> {
    let mut events = Vec::new();
    for n in numbers {
        events.extend(store.history(*n, true).await.unwrap().into_iter().filter(|e| e.kind.is_sla()));
    }
    events.sort_by_key(|e| e.seq);
    events
}

async fn wait_for_events(store: &Store, numbers: &[IncidentNumber], count: usize) -> Vec<EventRecord> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = sla_events(store, numbers).await;
        if events.len() >= count || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(timers_fire_in_order_after_a_restart, |db: TestDatabase| async move {
    let store = db.store.clone();
    seed(&store).await;
    let engine = start(&store).await;
    let four = store.create_incident(incident("four", "four")).await.unwrap().incident;
    let two = store.create_incident(incident("two", "two")).await.unwrap().incident;
    let three = store.create_incident(incident("three", "three")).await.unwrap().incident;
    let paused = store.create_incident(incident("paused", "two")).await.unwrap().incident;
    engine.track_sla().await.unwrap();

    // Running clocks with their due times, measured from creation.
    for (i, seconds) in [(&four, 4), (&two, 2), (&three, 3)] {
        let clock = resolution(&store, i.number).await;
        assert_eq!(clock.state, ClockState::Running, "{clock:?}");
        assert_eq!(clock.due_at, Some(i.created_at + TimeDelta::seconds(seconds)), "{clock:?}");
    }
    // Pending pauses the clock: no due time.
    store.transition_incident(paused.number, &to(Status::Pending, Some(PendingReason::AwaitingRequester)), &Actor::system()).await.unwrap();
    engine.track_sla().await.unwrap();
    let clock = resolution(&store, paused.number).await;
    assert_eq!((clock.state, clock.due_at), (ClockState::Paused, None));

    // The node stops before anything is due and comes back after all of
    // it is: the timers are in the database and fire, earliest first.
    engine.shutdown();
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let engine = start(&store).await;
    let numbers = [four.number, two.number, three.number, paused.number];
    let events = wait_for_events(&store, &numbers, 4).await;
    let order: Vec<(IncidentNumber, &str)> = events.iter().map(|e| (e.number, e.kind.as_str())).collect();
    assert_eq!(
        order,
        vec![(two.number, "sla_warning"), (two.number, "sla_breached"), (three.number, "sla_breached"), (four.number, "sla_breached")],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e.body.as_deref().is_some_and(|b| b.contains("resolution target"))), "{events:#?}");

    // The tracker turns the events into breached clocks; the paused one is untouched.
    engine.track_sla().await.unwrap();
    for i in [&two, &three, &four] {
        let clock = resolution(&store, i.number).await;
        assert_eq!(clock.state, ClockState::Breached, "{clock:?}");
    }
    assert_eq!(resolution(&store, paused.number).await.state, ClockState::Paused);

    // Resuming reschedules: due = creation + 2 s + the time spent paused.
    store.transition_incident(paused.number, &to(Status::Assigned, None), &Actor::system()).await.unwrap();
    engine.track_sla().await.unwrap();
    let history = store.history(paused.number, true).await.unwrap();
    let pending_for =
        history[history.len() - 1].created_at - history.iter().find(|e| e.kind == EventKind::StatusChanged).unwrap().created_at;
    let clock = resolution(&store, paused.number).await;
    assert_eq!(clock.state, ClockState::Running);
    assert_eq!(clock.due_at, Some(paused.created_at + TimeDelta::seconds(2) + pending_for), "{clock:?}");
    engine.shutdown();
});

both_backends!(a_running_node_fires_within_a_second_and_policy_changes_keep_paused_time, |db: TestDatabase| async move {
    let store = db.store.clone();
    seed(&store).await;
    let engine = start(&store).await;
    let due = store.create_incident(incident("due soon", "two")).await.unwrap().incident;
    let waiting = store.create_incident(incident("waits", "slow")).await.unwrap().incident;
    store.transition_incident(waiting.number, &to(Status::Pending, Some(PendingReason::AwaitingVendor)), &Actor::system()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.transition_incident(waiting.number, &to(Status::Assigned, None), &Actor::system()).await.unwrap();

    // The breach fires on its own, less than a second after its instant.
    let events = wait_for_events(&store, &[due.number], 2).await;
    let breach = events.iter().find(|e| e.kind == EventKind::SlaBreached).expect("the breach fired");
    let payload = breach.new_value.clone().unwrap();
    let lag = payload["fired_at"].as_i64().unwrap() - payload["due_at"].as_i64().unwrap();
    assert!((0..1000).contains(&lag), "fired {lag} ms after its instant");
    assert!(engine.metrics().counters().iter().any(|(n, _, v)| *n == "switchyard_sla_breaches_fired_total" && *v >= 1));

    // A new policy for `slow` incidents: the open incident is recomputed
    // from its history; the 300 ms it was pending stay paused.
    engine.track_sla().await.unwrap();
    let before = store.stored_clocks(waiting.number).await.unwrap();
    store
        .set_sla_policies(json!({"policies": [
            {"id": "slow-v2", "name": "slow v2", "calendar": "24x7", "targets": {"resolution": "2h"}}
        ]}))
        .await
        .unwrap();
    engine.track_sla().await.unwrap();
    let after = store.stored_clocks(waiting.number).await.unwrap();
    assert_eq!(after.len(), 1, "only a resolution target now: {after:?}");
    assert_eq!(after[0].policy, "slow-v2");
    let history = store.history(waiting.number, true).await.unwrap();
    let changes: Vec<_> = history.iter().filter(|e| e.kind == EventKind::StatusChanged).map(|e| e.created_at).collect();
    let pending_for = changes[1] - changes[0];
    assert_eq!(after[0].due_at, Some(waiting.created_at + TimeDelta::hours(2) + pending_for), "{before:?} -> {after:?}");
    engine.shutdown();
});

both_backends!(service_report_counts_what_happened, |db: TestDatabase| async move {
    let store = db.store.clone();
    seed(&store).await;
    let engine = start(&store).await;
    let start_at = Utc::now() - TimeDelta::seconds(1);
    let a = store.create_incident(incident("a", "slow")).await.unwrap().incident;
    let b = store.create_incident(CreateIncident { assignment_group: None, ..incident("b", "slow") }).await.unwrap().incident;
    let alice = Actor { user_id: Some(store.get_user("alice").await.unwrap().user.id), ..Actor::system() };
    store.transition_incident(a.number, &to(Status::Pending, Some(PendingReason::AwaitingRequester)), &alice).await.unwrap();
    let resolve = TransitionRequest {
        resolution_code: Some(switchyard_domain::incident::ResolutionCode::SolvedPermanently),
        resolution_notes: Some("rebooted".into()),
        ..to(Status::Resolved, None)
    };
    store.transition_incident(a.number, &resolve, &alice).await.unwrap();
    let rita = Actor { user_id: Some(store.get_user("rita").await.unwrap().user.id), ..Actor::system() };
    store.rate_incident(a.number, 4, Some("quick".into()), &rita).await.unwrap();
    let again = store.rate_incident(a.number, 5, None, &rita).await.unwrap_err();
    assert!(again.to_string().contains("already rated"), "{again}");
    let open = store.rate_incident(b.number, 5, None, &rita).await.unwrap_err();
    assert!(open.to_string().contains("resolved"), "{open}");
    engine.track_sla().await.unwrap();

    let filter = switchyard_store::ReportFilter { from: start_at, to: Utc::now() + TimeDelta::seconds(1), ..Default::default() };
    let report = store.service_report(&filter).await.unwrap();
    assert_eq!((report.opened, report.resolved), (2, 1));
    assert_eq!(report.backlog.iter().map(|(_, n)| n).sum::<u64>(), 1, "{report:?}");
    assert_eq!(report.backlog[0], ("under_1d", 1));
    assert!(report.mtta_seconds.is_some_and(|s| s < 1.0), "a was assigned at creation: {report:?}");
    assert!(report.mttr_seconds.is_some_and(|s| s >= 0.0) && report.mttr_business_seconds.is_some(), "{report:?}");
    assert_eq!((report.csat_average, report.csat_responses), (Some(4.0), 1));
    assert_eq!(report.reopen_rate, Some(0.0));
    let resolution = report.compliance.iter().find(|c| c.target == SlaTarget::Resolution).expect("resolution compliance");
    assert_eq!((resolution.met, resolution.breached, resolution.percent()), (1, 0, Some(100.0)));
    // Filters narrow it down.
    let other_group = switchyard_store::ReportFilter { group: Some("nobody".into()), ..filter.clone() };
    assert_eq!(store.service_report(&other_group).await.unwrap().opened, 0);
    engine.shutdown();
});

both_backends!(two_nodes_fire_each_timer_once, |db: TestDatabase| async move {
    let store = db.store.clone();
    seed(&store).await;
    // Two nodes, each with its own connections to the same database.
    let other = db.reopen().await;
    let config = |node: &str| EngineConfig { node: node.into(), poll: Duration::from_millis(50), ..EngineConfig::default() };
    let a = Engine::start(store.clone(), Arc::new(Registry::new()), config("node-a")).await.unwrap();
    let b = Engine::start(other.clone(), Arc::new(Registry::new()), config("node-b")).await.unwrap();
    let mut numbers = Vec::new();
    for i in 0..20 {
        let target = if i % 2 == 0 { "two" } else { "three" };
        let node = if i % 2 == 0 { &store } else { &other };
        numbers.push(node.create_incident(incident(&format!("incident {i}"), target)).await.unwrap().incident.number);
    }
    // "two" has a 50 % warning and a breach, "three" a breach: 30 events.
    let events = wait_for_events(&store, &numbers, 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_after = sla_events(&store, &numbers).await;
    assert_eq!(events_after.len(), 30, "{events_after:#?}");
    assert_eq!(events.len(), events_after.len());
    for n in &numbers {
        let breaches = events_after.iter().filter(|e| e.number == *n && e.kind == EventKind::SlaBreached).count();
        assert_eq!(breaches, 1, "{n} breached {breaches} times");
    }
    a.shutdown();
    b.shutdown();
});
