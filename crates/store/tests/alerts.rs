//! Alert dedup, resolve and flap on real SQLite and PostgreSQL; the
//! acknowledgement that stops an escalation; webhook subscriptions with
//! secret rotation and replays.

use switchyard_domain::history::EventKind;
use switchyard_domain::incident::{Channel, IncidentNumber, Level, Status};
use switchyard_store::testing::TestDatabase;
use switchyard_store::{
    Actor, AlertInput, AlertOutcome, AlertRules, AppliedAlert, CreateIncident, EscalationStatus, GroupInput, NewIntegration,
    NewNotification, NewSubscription, Store, StoreError, UserInput, Visibility, both_backends,
};

fn no_deliveries(_: &AlertInput, _: &AppliedAlert, _: Option<&switchyard_store::IncidentRecord>) -> Vec<NewNotification> {
    Vec::new()
}

fn actor() -> Actor {
    Actor::channel("alert:prometheus", None)
}

fn alert(fingerprint: &str, firing: bool) -> AlertInput {
    AlertInput {
        fingerprint: fingerprint.into(),
        firing,
        title: format!("HighLatency {fingerprint}"),
        severity: Some("critical".into()),
        labels: serde_json::json!({"alertname": "HighLatency", "instance": fingerprint}),
        incident: CreateIncident {
            kind: Default::default(),
            details: Default::default(),
            checklist: Vec::new(),
            title: format!("HighLatency {fingerprint}"),
            description: "from monitoring".into(),
            requester: "monitoring".into(),
            channel: Channel::Alert,
            category: None,
            subcategory: None,
            service_id: None,
            affected_ci_ids: Vec::new(),
            impact: Level::HIGH,
            urgency: Level::HIGH,
            priority_override: None,
            assignment_group: Some("sre".into()),
            assignee: None,
            custom_fields: serde_json::json!({}),
            actor: actor(),
        },
    }
}

async fn setup(store: &Store) -> i64 {
    for (name, role) in [("monitoring", "requester"), ("alice", "agent")] {
        let input = UserInput {
            username: name.into(),
            display_name: name.into(),
            email: Some(format!("{name}@example.org")),
            role: Some(role.parse().unwrap()),
            password: None,
            on_shift: None,
            skills: Vec::new(),
        };
        store.create_user(input).await.unwrap();
    }
    store.create_group(GroupInput { name: "sre".into(), display_name: "SRE".into(), ..Default::default() }).await.unwrap();
    store.add_member("sre", "alice").await.unwrap();
    let (integration, token) = store
        .create_integration(NewIntegration {
            name: "prometheus".into(),
            kind: "alertmanager".into(),
            settings: serde_json::json!({"requester": "monitoring"}),
            secret: None,
        })
        .await
        .unwrap();
    assert_eq!(store.integration_by_token(&token).await.unwrap().map(|i| i.id), Some(integration.id));
    assert!(store.integration_by_token("syi_wrong").await.unwrap().is_none());
    integration.id
}

fn rules() -> AlertRules {
    AlertRules { resolve: true, flap_window: chrono::Duration::minutes(10) }
}

both_backends!(a_storm_of_one_fingerprint_opens_one_incident, |db: TestDatabase| async move {
    let store = db.store.clone();
    let integration = setup(&store).await;
    // 32 concurrent posts of one fingerprint (and, on PostgreSQL, 32
    // concurrent transactions racing for its first row).
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.apply_alerts(integration, &actor(), &[alert("db-1", true)], &rules(), &no_deliveries).await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.unwrap());
    }
    let opened = outcomes.iter().filter(|a| a.outcome == AlertOutcome::Opened).count();
    let attached = outcomes.iter().filter(|a| a.outcome == AlertOutcome::Attached).count();
    assert_eq!((opened, attached), (1, 31), "{outcomes:?}");
    let page = store.list_incidents(&switchyard_store::IncidentFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(page.items.len(), 1, "exactly one incident");
    let number = page.items[0].incident.number;
    let alerts = store.alerts_of(number).await.unwrap();
    assert_eq!((alerts.len(), alerts[0].occurrences, alerts[0].status.as_str()), (1, 32, "firing"));
    // One history entry: the creation; repeats only count.
    let history = store.history(number, true).await.unwrap();
    assert_eq!(history.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventKind::Created], "no entry per repeat");
    assert_eq!(page.items[0].incident.channel, Channel::Alert);
    assert_eq!(history[0].actor.channel_name(), Some("alert:prometheus"));
});

both_backends!(resolve_flap_and_take_over, |db: TestDatabase| async move {
    let store = db.store.clone();
    let integration = setup(&store).await;
    let apply = |inputs: Vec<AlertInput>, rules: AlertRules| {
        let store = store.clone();
        async move { store.apply_alerts(integration, &actor(), &inputs, &rules, &no_deliveries).await.unwrap() }
    };
    // Fires, then resolves: the incident is resolved by the alert.
    let opened = apply(vec![alert("web-1", true)], rules()).await;
    let number = opened[0].incident.unwrap();
    let resolved = apply(vec![alert("web-1", false)], rules()).await;
    assert_eq!(resolved[0].outcome, AlertOutcome::Resolved);
    assert_eq!(store.get_incident(number).await.unwrap().incident.status, Status::Resolved);
    // A repeated resolve does nothing.
    assert_eq!(apply(vec![alert("web-1", false)], rules()).await[0].outcome, AlertOutcome::Ignored);
    // Firing again within the flap window: no assignee, so back to assigned.
    let again = apply(vec![alert("web-1", true)], rules()).await;
    assert_eq!((again[0].outcome, again[0].incident), (AlertOutcome::Reopened, Some(number)));
    assert_eq!(store.get_incident(number).await.unwrap().incident.status, Status::Assigned);
    // A person takes it over (a comment): the resolved alert only notes.
    let alice = store.get_user("alice").await.unwrap();
    let person = Actor { kind: switchyard_store::ActorKind::User, user_id: Some(alice.user.id), name: "alice".into(), run_id: None };
    store.add_note(number, "looking into it", Visibility::Public, &person).await.unwrap();
    let noted = apply(vec![alert("web-1", false)], rules()).await;
    assert_eq!(noted[0].outcome, AlertOutcome::Noted);
    assert_eq!(store.get_incident(number).await.unwrap().incident.status, Status::Assigned);
    // Outside the flap window (0 minutes here), a closed-out fingerprint opens a new incident.
    let other = apply(vec![alert("web-2", true)], rules()).await[0].incident.unwrap();
    apply(vec![alert("web-2", false)], rules()).await;
    let no_flap = AlertRules { flap_window: chrono::Duration::zero(), ..rules() };
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let fresh = apply(vec![alert("web-2", true)], no_flap).await;
    assert_eq!(fresh[0].outcome, AlertOutcome::Opened);
    assert_ne!(fresh[0].incident, Some(other));
    // Note-only integrations never resolve; a resolve of an unknown fingerprint is ignored.
    let note_only = AlertRules { resolve: false, ..rules() };
    let n3 = apply(vec![alert("web-3", true)], note_only.clone()).await[0].incident.unwrap();
    assert_eq!(apply(vec![alert("web-3", false)], note_only).await[0].outcome, AlertOutcome::Noted);
    assert!(store.get_incident(n3).await.unwrap().incident.status.is_open());
    assert_eq!(apply(vec![alert("nothing", false)], rules()).await[0].outcome, AlertOutcome::Ignored);
    // One payload, two alerts of one fingerprint: one incident, two occurrences.
    let pair = apply(vec![alert("web-4", true), alert("web-4", true)], rules()).await;
    assert_eq!((pair[0].outcome, pair[1].outcome, pair[1].occurrences), (AlertOutcome::Opened, AlertOutcome::Attached, 2));
});

both_backends!(a_bad_alert_writes_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    let integration = setup(&store).await;
    let mut bad = alert("bad", true);
    bad.incident.requester = "nobody".into();
    let err = store.apply_alerts(integration, &actor(), &[alert("good", true), bad], &rules(), &no_deliveries).await.unwrap_err();
    assert!(matches!(err, StoreError::Domain(_)), "{err}");
    assert!(store.list_incidents(&Default::default()).await.unwrap().items.is_empty(), "the good one was rolled back too");
    assert!(store.list_alerts(integration, 10).await.unwrap().is_empty());
});

both_backends!(acknowledging_stops_the_escalation_once, |db: TestDatabase| async move {
    let store = db.store.clone();
    let integration = setup(&store).await;
    let number: IncidentNumber =
        store.apply_alerts(integration, &actor(), &[alert("ack-1", true)], &rules(), &no_deliveries).await.unwrap()[0].incident.unwrap();
    let txn = store.begin().await.unwrap();
    assert!(txn.start_escalation(number, "sre", chrono::Utc::now()).await.unwrap());
    assert!(!txn.start_escalation(number, "sre", chrono::Utc::now()).await.unwrap(), "one active escalation per incident");
    txn.record_page(number, 0, 0, &[("alice".into(), "email".into())], EscalationStatus::Active, &Actor::named_system("pager"))
        .await
        .unwrap();
    txn.insert_timer(switchyard_store::NewTimer {
        kind: switchyard_store::ESCALATION_TIMER.into(),
        due_at: chrono::Utc::now() + chrono::Duration::minutes(5),
        run_id: None,
        incident_id: Some(number.0),
        payload: serde_json::json!({"pass": 0, "level": 1}),
    })
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let alice = store.get_user("alice").await.unwrap();
    let person = Actor { kind: switchyard_store::ActorKind::User, user_id: Some(alice.user.id), name: "alice".into(), run_id: None };
    let after = store.acknowledge(number, &person).await.unwrap().unwrap();
    assert_eq!((after.status, after.acknowledged_by), (EscalationStatus::Acknowledged, Some(alice.user.id)));
    assert!(store.due_timers(chrono::Utc::now() + chrono::Duration::hours(1), 10).await.unwrap().is_empty(), "the next level is gone");
    let again = store.acknowledge(number, &person).await.unwrap_err();
    assert!(matches!(&again, StoreError::Conflict { field, .. } if field == "acknowledged"), "{again}");
    let kinds: Vec<EventKind> = store.history(number, true).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == EventKind::Paged).count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == EventKind::Acknowledged).count(), 1);
    // Paging restarted (the incident was reopened): it can be acknowledged again.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let txn = store.begin().await.unwrap();
    assert!(txn.start_escalation(number, "sre", chrono::Utc::now()).await.unwrap(), "an ended escalation restarts");
    txn.commit().await.unwrap();
    let again = store.acknowledge(number, &person).await.unwrap().unwrap();
    assert_eq!(again.status, EscalationStatus::Acknowledged);
    // Concurrent acknowledgements: exactly one wins.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let txn = store.begin().await.unwrap();
    txn.start_escalation(number, "sre", chrono::Utc::now()).await.unwrap();
    txn.commit().await.unwrap();
    let (a, b) = tokio::join!(store.acknowledge(number, &person), store.acknowledge(number, &person));
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    // A resolved incident cannot be acknowledged.
    store.apply_alerts(integration, &actor(), &[alert("ack-1", false)], &rules(), &no_deliveries).await.unwrap();
    let n2 =
        store.apply_alerts(integration, &actor(), &[alert("ack-2", true)], &rules(), &no_deliveries).await.unwrap()[0].incident.unwrap();
    store.apply_alerts(integration, &actor(), &[alert("ack-2", false)], &rules(), &no_deliveries).await.unwrap();
    assert!(matches!(store.acknowledge(n2, &person).await, Err(StoreError::Conflict { .. })));
});

both_backends!(subscriptions_rotate_and_replay, |db: TestDatabase| async move {
    let store = db.store.clone();
    let new = NewSubscription {
        name: "pager".into(),
        url: "http://127.0.0.1:9/hook".into(),
        format: "standard".into(),
        events: vec!["ticket.created".into()],
        filter: None,
        timeout_ms: 1000,
        enabled: true,
    };
    let created = store.create_subscription(new.clone(), "whsec_first").await.unwrap();
    assert!(matches!(store.create_subscription(new.clone(), "whsec_x").await, Err(StoreError::Conflict { .. })));
    let (_, secrets) = store.subscription_secrets(created.id).await.unwrap();
    assert_eq!(secrets, vec!["whsec_first".to_owned()]);
    store.rotate_subscription_secret("pager", "whsec_second", chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    let (_, secrets) = store.subscription_secrets(created.id).await.unwrap();
    assert_eq!(secrets, vec!["whsec_second".to_owned(), "whsec_first".to_owned()], "both sign during the overlap");
    store.rotate_subscription_secret("pager", "whsec_third", chrono::Utc::now() - chrono::Duration::seconds(1)).await.unwrap();
    let (_, secrets) = store.subscription_secrets(created.id).await.unwrap();
    assert_eq!(secrets, vec!["whsec_third".to_owned()], "no overlap left");
    // A delivery, its log and a replay that names it.
    let txn = store.begin().await.unwrap();
    txn.insert_notifications(vec![NewNotification {
        incident_id: None,
        run_id: 0,
        workflow_id: "webhooks".into(),
        step_id: "ticket.created".into(),
        channel: "webhook".into(),
        recipients: vec!["pager".into()],
        subject: "ticket.created".into(),
        body: "{\"type\":\"ticket.created\"}".into(),
        subscription_id: Some(created.id),
    }])
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let log = store.subscription_deliveries(created.id, None, None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    let replay = store.replay_delivery(created.id, log[0].id).await.unwrap();
    assert_eq!((replay.replay_of, replay.notification.body.as_str()), (Some(log[0].id), "{\"type\":\"ticket.created\"}"));
    let replay_of_replay = store.replay_delivery(created.id, replay.id).await.unwrap();
    assert_eq!(replay_of_replay.replay_of, Some(log[0].id), "a replay of a replay names the original");
    assert!(matches!(store.replay_delivery(created.id + 1, log[0].id).await, Err(StoreError::NotFound { .. })));
    // The email worker does not claim webhook deliveries.
    assert!(store.claim_notifications_of("n", std::time::Duration::from_secs(5), 10, &["email"]).await.unwrap().is_empty());
    assert_eq!(store.claim_notifications_of("n", std::time::Duration::from_secs(5), 10, &["webhook", "chat"]).await.unwrap().len(), 3);
});
