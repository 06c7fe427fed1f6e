//! Outbound webhooks and paging on real SQLite and PostgreSQL, against a
//! real HTTP receiver on 127.0.0.1 that verifies every Standard Webhooks
//! signature: retries after failures, a receiver that hangs cut off
//! without holding up the others, filters, replays, secret rotation; an
//! escalation that pages the on-call primary, then the secondary, and
//! stops when someone acknowledges.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};
use switchyard_domain::history::EventKind;
use switchyard_domain::incident::Level;
use switchyard_engine::{Engine, EngineConfig};
use switchyard_plugin_host::Registry;
use switchyard_store::testing::TestDatabase;
use switchyard_store::{Actor, EscalationStatus, NamedDocument, NewSubscription, NotificationStatus, Store, both_backends};
use switchyard_webhooks::signing::{Secret, verify};

/// What the receiver saw: per `webhook-id`, the attempts and the bodies.
#[derive(Default)]
struct Seen {
    attempts: HashMap<String, u32>,
    bodies: Vec<Value>,
    bad_signatures: u32,
}

/// A receiver on 127.0.0.1 that verifies each delivery with `secret` and
/// fails the first `fail_first` attempts of each webhook-id with a 500.
async fn receiver(secrets: Vec<Secret>, fail_first: u32) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let secrets = Arc::new(secrets);
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                let secrets = secrets.clone();
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
                    let now = Utc::now().timestamp();
                    let mut seen = state.lock().unwrap();
                    if !secrets.iter().all(|s| verify(s, &id, &ts, &sig, &body, now, 300).is_ok()) {
                        seen.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    let n = seen.attempts.entry(id).or_insert(0);
                    *n += 1;
                    if *n <= fail_first {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    seen.bodies.push(serde_json::from_slice(&body).unwrap());
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .route("/hang", axum::routing::post(|| async { tokio::time::sleep(Duration::from_secs(30)).await }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn start(store: &Store) -> Engine {
    let config = EngineConfig {
        node: "hooks".into(),
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(100),
        public_url: "https://desk.example.org".into(),
        ..EngineConfig::default()
    };
    Engine::start(store.clone(), Arc::new(Registry::new()), config).await.unwrap()
}

fn subscription(name: &str, url: String, events: &[&str], filter: Option<Value>, timeout_ms: i32) -> NewSubscription {
    NewSubscription {
        name: name.into(),
        url,
        format: "standard".into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        filter,
        timeout_ms,
        enabled: true,
    }
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(signed_deliveries_retry_and_a_hanging_receiver_holds_up_nothing, |db: TestDatabase| async move {
    let store = db.store.clone();
    common::seed_directory(&store).await;
    let secret = Secret::generate([7; 32]);
    let (base, seen) = receiver(vec![secret.clone()], 2).await;
    let hooks = store
        .create_subscription(subscription("ops", format!("{base}/hook"), &["ticket.created"], None, 2000), &secret.to_string())
        .await
        .unwrap();
    let p1_only = json!({"all": [{"field": "priority", "op": "eq", "value": 1}]});
    let p1 = store
        .create_subscription(subscription("p1-only", format!("{base}/hook"), &["ticket.created"], Some(p1_only), 2000), &secret.to_string())
        .await
        .unwrap();
    let hang = store
        .create_subscription(subscription("hangs", format!("{base}/hang"), &["ticket.created"], None, 300), &secret.to_string())
        .await
        .unwrap();
    let engine = start(&store).await;
    let created = store.create_incident(common::new_incident("VPN down", None)).await.unwrap();
    // The good receiver failed twice, then took it: three attempts, one delivery.
    wait_for("the delivery", || async {
        store.subscription_deliveries(hooks.id, Some(NotificationStatus::Sent), None, 10).await.unwrap().len() == 1
    })
    .await;
    let delivered = &store.subscription_deliveries(hooks.id, None, None, 10).await.unwrap()[0];
    assert_eq!(delivered.attempts, 3, "{delivered:?}");
    assert_eq!(delivered.message_id.as_deref(), Some(format!("msg_{}", delivered.id).as_str()));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        assert_eq!(seen.attempts.get(&format!("msg_{}", delivered.id)), Some(&3));
        assert_eq!(seen.bodies.len(), 1);
        let body = &seen.bodies[0];
        assert_eq!(body["type"], "ticket.created");
        assert_eq!(body["data"]["ticket"]["number"], created.incident.number.to_string());
        assert_eq!(body["data"]["link"], format!("https://desk.example.org/console/incidents/{}", created.incident.number));
    }
    // The filter held the P3 back; the hanging receiver was cut off and will be retried.
    assert!(store.subscription_deliveries(p1.id, None, None, 10).await.unwrap().is_empty());
    wait_for("the hanging receiver's failure", || async {
        let log = store.subscription_deliveries(hang.id, None, None, 10).await.unwrap();
        log.first().is_some_and(|d| d.attempts >= 1 && d.last_error.as_deref().is_some_and(|e| e.contains("no answer within 300 ms")))
    })
    .await;
    // A P1 reaches both; a replay delivers again with the same webhook-id.
    let mut urgent = common::new_incident("Payments down", None);
    (urgent.impact, urgent.urgency) = (Level::HIGH, Level::HIGH);
    store.create_incident(urgent).await.unwrap();
    wait_for("the P1 delivery", || async {
        store.subscription_deliveries(p1.id, Some(NotificationStatus::Sent), None, 10).await.unwrap().len() == 1
    })
    .await;
    let replay = store.replay_delivery(hooks.id, delivered.id).await.unwrap();
    wait_for("the replay", || async {
        store.subscription_deliveries(hooks.id, Some(NotificationStatus::Sent), None, 10).await.unwrap().iter().any(|d| d.id == replay.id)
    })
    .await;
    assert_eq!(seen.lock().unwrap().attempts.get(&format!("msg_{}", delivered.id)), Some(&4), "same webhook-id for the replay");
    engine.shutdown();
});

both_backends!(rotated_secrets_sign_twice_during_the_overlap, |db: TestDatabase| async move {
    let store = db.store.clone();
    common::seed_directory(&store).await;
    let (old, new) = (Secret::generate([1; 32]), Secret::generate([2; 32]));
    // The receiver checks the delivery verifies with both secrets.
    let (base, seen) = receiver(vec![old.clone(), new.clone()], 0).await;
    store
        .create_subscription(subscription("both", format!("{base}/hook"), &["ticket.created"], None, 2000), &old.to_string())
        .await
        .unwrap();
    store.rotate_subscription_secret("both", &new.to_string(), Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    let engine = start(&store).await;
    store.create_incident(common::new_incident("Mail slow", None)).await.unwrap();
    wait_for("the delivery", || async { seen.lock().unwrap().bodies.len() == 1 }).await;
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);
    engine.shutdown();
});

fn rotation_schedule(name: &str, participant: &str) -> Value {
    json!({"name": name, "time_zone": "Europe/Berlin", "layers": [
        {"name": "weekly", "participants": [participant], "start": "2026-01-05T09:00", "rotation": {"every": 1, "unit": "weeks"}}
    ]})
}

both_backends!(an_escalation_pages_primary_then_secondary_and_stops_on_acknowledgement, |db: TestDatabase| async move {
    let store = db.store.clone();
    common::seed_directory(&store).await;
    store
        .create_group(switchyard_store::GroupInput {
            name: "sre".into(),
            display_name: "SRE".into(),
            manager: Some("dave".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let secret = Secret::generate([9; 32]);
    let (base, seen) = receiver(vec![secret.clone()], 0).await;
    store
        .create_subscription(subscription("pager", format!("{base}/hook"), &["incident.acknowledged"], None, 2000), &secret.to_string())
        .await
        .unwrap();
    store.put_named_document(NamedDocument::OnCallSchedule, "primary", &rotation_schedule("primary", "alice")).await.unwrap();
    store.put_named_document(NamedDocument::OnCallSchedule, "secondary", &rotation_schedule("secondary", "bob")).await.unwrap();
    let policy = json!({"name": "sre", "groups": ["sre"], "via": ["webhook:pager", "email"], "levels": [
        {"after_minutes": 0, "notify": [{"schedule": "primary"}]},
        {"after_minutes": 5, "notify": [{"schedule": "secondary"}]},
        {"after_minutes": 15, "notify": [{"manager": true}]}
    ]});
    switchyard_engine::pager::parse_policy(&policy).unwrap();
    store.put_named_document(NamedDocument::EscalationPolicy, "sre", &policy).await.unwrap();
    let engine = start(&store).await;
    let mut incident = common::new_incident("Database unreachable", None);
    incident.assignment_group = Some("sre".into());
    let number = store.create_incident(incident).await.unwrap().incident.number;
    let pages_of = |store: Store| async move {
        let history = store.history(number, true).await.unwrap();
        history.into_iter().filter(|e| e.kind == EventKind::Paged).map(|e| e.new_value.unwrap()).collect::<Vec<Value>>()
    };
    // Level 1 at once: the primary's on-call, by webhook and by mail.
    wait_for("the first page", || async { seen.lock().unwrap().bodies.len() == 1 }).await;
    let page = seen.lock().unwrap().bodies[0].clone();
    assert_eq!(
        (page["type"].as_str(), page["data"]["user"].as_str(), page["data"]["level"].as_u64()),
        (Some("incident.paged"), Some("alice"), Some(1))
    );
    assert_eq!(page["data"]["acknowledge_url"], format!("https://desk.example.org/api/v1/incidents/{number}/acknowledge"));
    let pages = pages_of(store.clone()).await;
    assert_eq!(
        pages.iter().map(|p| (p["user"].as_str().unwrap(), p["via"].as_str().unwrap())).collect::<Vec<_>>(),
        [("alice", "webhook:pager"), ("alice", "email")]
    );
    // Five minutes unacknowledged: the secondary.
    engine.fire_timers_at(Utc::now() + chrono::Duration::minutes(6)).await.unwrap();
    wait_for("the second page", || async { seen.lock().unwrap().bodies.len() == 2 }).await;
    assert_eq!(seen.lock().unwrap().bodies[1]["data"]["user"], "bob");
    assert_eq!(store.escalation(number).await.unwrap().unwrap().level, 1);
    // Bob acknowledges: recorded, the manager is never paged.
    let bob = store.get_user("bob").await.unwrap();
    let bob = Actor { kind: switchyard_store::ActorKind::User, user_id: Some(bob.user.id), name: "bob".into(), run_id: None };
    let stopped = store.acknowledge(number, &bob).await.unwrap().unwrap();
    assert_eq!(stopped.status, EscalationStatus::Acknowledged);
    engine.fire_timers_at(Utc::now() + chrono::Duration::minutes(30)).await.unwrap();
    wait_for("the acknowledgement's webhook", || async { seen.lock().unwrap().bodies.len() == 3 }).await;
    assert_eq!(seen.lock().unwrap().bodies[2]["type"], "incident.acknowledged");
    let pages = pages_of(store.clone()).await;
    assert_eq!(pages.len(), 4, "no page after the acknowledgement: {pages:?}");
    assert!(pages.iter().all(|p| p["user"] != "dave"));
    engine.shutdown();
});
