//! The engine end to end on real databases (a fresh SQLite file and a fresh
//! PostgreSQL schema) with the real shipped plugins (wasm components built
//! by scripts/build-plugins.sh into plugins/dist).

use chrono::Utc;
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::IncidentNumber;
use switchyard_engine::PublishMode;
use switchyard_engine::dry_run::DryRunRequest;
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, ActorKind, RunFilter};
use switchyard_workflow::{Format, RunStatus};

mod common;

use common::{new_incident, publish_file, seed_directory, settle, start};

async fn default_workflow_routes_assigns_and_notifies(db: TestDatabase) {
    let store = &db.store;
    seed_directory(store).await;
    let engine = start(store, "node-a").await;
    publish_file(&engine, "default-incident.yaml").await;
    let cases = [
        ("VPN down in Berlin", Some("network"), "network-ops", Some("bob")),
        ("Orders database slow", Some("database"), "dba", Some("carol")),
        ("Printer jam", Some("hardware"), "desk-side", None),
        ("Cannot log in", None, "service-desk", Some("alice")),
    ];
    let mut numbers = Vec::new();
    for (title, category, _, _) in &cases {
        numbers.push(store.create_incident(new_incident(title, *category)).await.unwrap().incident.number);
    }
    settle(store).await;
    for (number, (title, _, group, assignee)) in numbers.iter().zip(cases) {
        let record = store.get_incident(*number).await.unwrap();
        let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 10, ..Default::default() }).await.unwrap();
        let steps = match runs.first() {
            Some(r) => store.run_steps(r.id).await.unwrap(),
            None => vec![],
        };
        let trace = format!("{title}: runs {runs:?} steps {steps:#?}");
        assert_eq!(record.assignment_group.as_deref(), Some(group), "{trace}");
        assert_eq!(record.assignee.as_deref(), assignee, "{trace}");
        let history = store.history(*number, true).await.unwrap();
        let routed = history.iter().find(|e| e.field.as_deref() == Some("assignment_group")).expect("routing event");
        assert_eq!(routed.actor.kind, ActorKind::Workflow);
        assert!(routed.actor.name.starts_with("default-incident@2 step route plugin routing@0.1.0"), "{}", routed.actor.name);
        let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(runs.len(), 1, "exactly one run for {title} (its own changes do not retrigger it)");
        assert_eq!(runs[0].status, RunStatus::Succeeded, "{title}: {:?}", runs[0].error);
        let steps = store.run_steps(runs[0].id).await.unwrap();
        assert_eq!(steps.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(), ["lookup", "route", "assign", "notify"]);
        let notes = store.list_notifications(Some(number.0), None, None, 100).await.unwrap();
        let subjects: Vec<&str> = notes.iter().map(|n| n.notification.subject.as_str()).collect();
        assert!(subjects.iter().any(|s| s.contains("We received your incident")), "{title}: {subjects:?}");
        if assignee.is_none() {
            assert!(history.iter().any(|e| e.kind == EventKind::WorkNote), "{title}: unassigned tickets get a work note");
        }
    }
    engine.shutdown();
}

async fn unknown_group_fails_the_step_and_leaves_the_ticket_alone(db: TestDatabase) {
    let store = &db.store;
    seed_directory(store).await;
    let engine = start(store, "node-a").await;
    let doc = r#"
id: bad-routing
name: Routes to a group that does not exist
version: 1
triggers: [ { ticket_created: {} } ]
steps:
  - id: route
    plugin: routing
    config: { rules: [], default_group: no-such-group }
"#;
    engine.publish(doc, Format::Yaml, "test", PublishMode::Always).await.unwrap();
    let number = store.create_incident(new_incident("Anything", None)).await.unwrap().incident.number;
    settle(store).await;
    let record = store.get_incident(number).await.unwrap();
    assert_eq!(record.assignment_group, None);
    let history = store.history(number, true).await.unwrap();
    assert!(history.iter().all(|e| e.actor.kind != ActorKind::Workflow), "nothing applied: {history:?}");
    let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    let steps = store.run_steps(runs[0].id).await.unwrap();
    assert_eq!(steps.len(), 1, "a refused step is not retried");
    let error = steps[0].error.clone().unwrap_or_default();
    assert!(error.contains("no-such-group"), "{error}");
    engine.shutdown();
}

async fn versions_loops_cron_and_dry_run(db: TestDatabase) {
    let store = &db.store;
    seed_directory(store).await;
    let engine = start(store, "node-a").await;
    // A workflow triggered by updates that itself updates the ticket: its
    // own change must not start it again.
    let doc = |version: u32, group: &str| {
        format!(
            "id: reroute\nname: Reroute\nversion: {version}\ntriggers: [ {{ ticket_updated: {{ fields: [category] }} }} ]\n\
             steps:\n  - id: route\n    plugin: routing\n    config: {{ rules: [], default_group: {group} }}\n"
        )
    };
    engine.publish(&doc(1, "dba"), Format::Yaml, "test", PublishMode::Always).await.unwrap();
    let number = store.create_incident(new_incident("Thing", None)).await.unwrap().incident.number;
    settle(store).await;
    let user = Actor { kind: ActorKind::User, user_id: None, name: "alice".into(), run_id: None };
    let update = switchyard_store::IncidentUpdate { category: Some(Some("software".into())), ..Default::default() };
    store.update_incident(number, update, &user).await.unwrap();
    settle(store).await;
    let runs = store.list_runs(&RunFilter { workflow_id: Some("reroute".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for the user's edit, none for the workflow's own");
    let steps = store.run_steps(runs[0].id).await.unwrap();
    assert_eq!(store.get_incident(number).await.unwrap().assignment_group.as_deref(), Some("dba"), "{runs:?} {steps:?}");

    // A new version is used by new runs; the old one stays readable.
    let err = engine.publish(&doc(1, "dba"), Format::Yaml, "test", PublishMode::Always).await.unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
    engine.publish(&doc(2, "network-ops"), Format::Yaml, "test", PublishMode::Always).await.unwrap();
    let update = switchyard_store::IncidentUpdate { category: Some(Some("network".into())), ..Default::default() };
    store.update_incident(number, update, &user).await.unwrap();
    settle(store).await;
    let runs = store.list_runs(&RunFilter { workflow_id: Some("reroute".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.workflow_version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(store.workflow_version("reroute", 1).await.unwrap().version, 1);

    // Cron: the same instant fires once, however often the scheduler looks.
    let cron = "id: tick\nname: Tick\nversion: 1\ntriggers: [ { cron: { schedule: \"* * * * * *\", timezone: UTC } } ]\n\
                steps:\n  - id: say\n    plugin: notification\n    config: { channel: email, rules: [ { name: t, on: [cron], recipients: [\"group:noc\"], subject: tick, body: tick } ] }\n";
    engine.publish(cron, Format::Yaml, "test", PublishMode::Always).await.unwrap();
    let t0 = Utc::now() + chrono::Duration::seconds(5);
    switchyard_engine::schedule::fire_cron_at(&engine, t0).await.unwrap();
    let t1 = t0 + chrono::Duration::seconds(3);
    let first = switchyard_engine::schedule::fire_cron_at(&engine, t1).await.unwrap();
    let again = switchyard_engine::schedule::fire_cron_at(&engine, t1).await.unwrap();
    assert!(first >= 3, "three firings in three seconds, got {first}");
    assert_eq!(again, 0, "no double firing");
    engine.set_enabled("tick", false).await.unwrap();

    // Dry-run: a draft routing everything to network-ops, against the
    // recorded ticket now with network-ops... and a fresh one.
    let other = store.create_incident(new_incident("Another", None)).await.unwrap().incident.number;
    settle(store).await;
    let draft = engine
        .validate(
            "id: draft\nname: Draft\nversion: 1\ntriggers: [ { ticket_created: {} } ]\nsteps:\n  - id: route\n    plugin: routing\n    config: { rules: [], default_group: desk-side }\n",
            Format::Yaml,
        )
        .await
        .unwrap();
    let before = store.history(other, true).await.unwrap().len();
    let report = engine
        .dry_run(DryRunRequest { document: draft, since: None, last: None, tickets: vec![other, IncidentNumber(number.0)] })
        .await
        .unwrap();
    assert_eq!(report.tickets_examined, 2);
    let first = &report.tickets[0];
    assert!(first.triggered);
    assert!(first.differences.iter().any(|d| d == "would route to desk-side instead of nobody"), "{:?}", first.differences);
    let second = &report.tickets[1];
    assert!(second.differences.iter().any(|d| d == "would route to desk-side instead of network-ops"), "{:?}", second.differences);
    assert_eq!(store.history(other, true).await.unwrap().len(), before, "a dry-run applies nothing");
    engine.shutdown();
}

/// A failing plugin (the test suite's hostile component, looping until its
/// deadline) is retried per the step's policy, each attempt recorded with
/// its own ordinal, and the ticket is left untouched.
async fn failing_step_is_retried_then_fails_cleanly(db: TestDatabase) {
    let store = &db.store;
    seed_directory(store).await;
    let engine = start(store, "node-a").await;
    let _plugins = common::install_hostile(&engine, store);
    let doc = "id: spin\nname: Spin\nversion: 1\ntriggers: [ { ticket_created: {} } ]\nsteps:\n  - id: spin\n    plugin: hostile\n    \
               config: { mode: loop }\n    timeout_ms: 50\n    retry: { max_attempts: 2, initial_backoff_ms: 10 }\n";
    engine.publish(doc, Format::Yaml, "test", PublishMode::Always).await.unwrap();
    let number = store.create_incident(new_incident("Spin", None)).await.unwrap().incident.number;
    settle(store).await;
    let runs = store.list_runs(&RunFilter { incident_id: Some(number.0), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed, "{runs:?}");
    let steps = store.run_steps(runs[0].id).await.unwrap();
    assert_eq!(steps.iter().map(|s| (s.ordinal, s.attempt, s.status.as_str())).collect::<Vec<_>>(), [(1, 1, "failed"), (2, 2, "failed")]);
    assert!(steps[1].error.as_deref().unwrap_or_default().contains("exceeded its 50 ms deadline"), "{:?}", steps[1].error);
    let history = store.history(number, true).await.unwrap();
    assert!(history.iter().all(|e| e.actor.kind != ActorKind::Workflow), "ticket untouched: {history:?}");
    engine.shutdown();
}

switchyard_store::both_backends!(default_workflow, default_workflow_routes_assigns_and_notifies);
switchyard_store::both_backends!(failing_step_retried, failing_step_is_retried_then_fails_cleanly);
switchyard_store::both_backends!(unknown_group, unknown_group_fails_the_step_and_leaves_the_ticket_alone);
switchyard_store::both_backends!(versions_loops_cron_dry_run, versions_loops_cron_and_dry_run);
