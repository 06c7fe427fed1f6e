//! End to end through the real binary on port 0: an Alertmanager alert
//! opens an incident, the on-call person is paged through a signed
//! webhook (a real receiver on 127.0.0.1 that fails its first attempt of
//! every delivery, so the page arrives on the retry), the acknowledgement
//! stops the escalation, and the resolved alert resolves the incident.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use switchyard_webhooks::signing::{Secret, verify};

use support::mail::poll_until;
use support::{ADMIN_TOKEN, start_with};

/// Verified deliveries, and how many attempts each webhook-id took.
#[derive(Default)]
struct Received {
    bodies: Vec<Value>,
    attempts: std::collections::HashMap<String, u32>,
    forged: u32,
}

async fn receiver(secret: Arc<Mutex<Option<Secret>>>) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/pager",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            let secret = secret.clone();
            async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let id = h("webhook-id");
                let Some(secret) = secret.lock().unwrap().clone() else { return StatusCode::SERVICE_UNAVAILABLE };
                let mut r = state.lock().unwrap();
                if verify(&secret, &id, &h("webhook-timestamp"), &h("webhook-signature"), &body, chrono::Utc::now().timestamp(), 300)
                    .is_err()
                {
                    r.forged += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let n = r.attempts.entry(id).or_insert(0);
                *n += 1;
                if *n == 1 {
                    return StatusCode::BAD_GATEWAY;
                }
                r.bodies.push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/pager"), received)
}

fn firing(status: &str) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"PostgresDown\"}", "truncatedAlerts": 0, "status": status,
        "receiver": "switchyard", "groupLabels": {"alertname": "PostgresDown"},
        "commonLabels": {"alertname": "PostgresDown", "severity": "critical"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.org:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "PostgresDown", "instance": "db-1:9187", "job": "postgres", "severity": "critical"},
            "annotations": {"summary": "PostgreSQL is down on db-1", "description": "pg_up has been 0 for 1 minute."},
            "startsAt": "2026-12-04T08:00:00Z", "endsAt": if status == "resolved" { "2026-12-04T08:10:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=pg_up+%3D%3D+0", "fingerprint": "c0ffee0123456789"
        }]
    })
}

#[tokio::test]
async fn an_alert_pages_the_on_call_person_who_acknowledges_and_the_resolved_alert_resolves() {
    let secret = Arc::new(Mutex::new(None));
    let (hook_url, received) = receiver(secret.clone()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (plugins, workflows) = (root.join("plugins/dist"), root.join("workflows"));
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        dir.path(),
        Some(ADMIN_TOKEN),
        &[
            ("SWITCHYARD_PLUGINS_DIR", plugins.to_str().unwrap()),
            ("SWITCHYARD_WORKFLOWS_DIR", workflows.to_str().unwrap()),
            ("SWITCHYARD_RETRY_BASE_MS", "200"),
            ("SWITCHYARD_PUBLIC_URL", "https://desk.example.org"),
        ],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str| http.request(method, format!("{base}{path}")).bearer_auth(ADMIN_TOKEN);
    for user in ["alice", "bob"] {
        let body = json!({"username": user, "display_name": user, "role": "agent", "email": format!("{user}@example.org")});
        assert_eq!(admin(reqwest::Method::POST, "/api/v1/users").json(&body).send().await.unwrap().status(), 201);
    }
    let group = json!({"name": "sre", "display_name": "SRE", "manager": "admin"});
    assert_eq!(admin(reqwest::Method::POST, "/api/v1/groups").json(&group).send().await.unwrap().status(), 201);
    for user in ["alice", "bob"] {
        admin(reqwest::Method::PUT, &format!("/api/v1/groups/sre/members/{user}")).send().await.unwrap();
    }
    let alice_token: Value = admin(reqwest::Method::POST, "/api/v1/users/alice/tokens")
        .json(&json!({"name": "pager"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice_token = alice_token["token"].as_str().unwrap().to_owned();
    // The pager's webhook, signed.
    let sub = json!({"name": "pager", "url": hook_url, "events": ["incident.acknowledged", "ticket.resolved"]});
    let r: Value = admin(reqwest::Method::POST, "/api/v1/webhooks").json(&sub).send().await.unwrap().json().await.unwrap();
    *secret.lock().unwrap() = Some(Secret::parse(r["secret"].as_str().unwrap()).unwrap());
    // alice is on call; unacknowledged after 5 minutes, bob.
    let schedule = json!({"time_zone": "Europe/Berlin", "layers": [
        {"name": "weekly", "participants": ["alice"], "start": "2026-01-05T09:00", "rotation": {"every": 1, "unit": "weeks"}}]});
    assert_eq!(admin(reqwest::Method::PUT, "/api/v1/oncall/schedules/sre-primary").json(&schedule).send().await.unwrap().status(), 200);
    let policy = json!({"groups": ["sre"], "via": ["webhook:pager"], "levels": [
        {"after_minutes": 0, "notify": [{"schedule": "sre-primary"}]}, {"after_minutes": 5, "notify": [{"user": "bob"}]}]});
    assert_eq!(admin(reqwest::Method::PUT, "/api/v1/oncall/policies/sre").json(&policy).send().await.unwrap().status(), 200);
    let integration = json!({"name": "prometheus", "kind": "alertmanager", "settings": {"requester": "admin", "assignment_group": "sre"}});
    let r: Value = admin(reqwest::Method::POST, "/api/v1/integrations").json(&integration).send().await.unwrap().json().await.unwrap();
    let token = r["token"].as_str().unwrap().to_owned();

    // The alert: a wrong token writes nothing, the right one opens an incident.
    let post = |token: String, body: Value| http.post(format!("{base}/api/v1/alerts/alertmanager/{token}")).json(&body).send();
    assert_eq!(post("syi_forged".into(), firing("firing")).await.unwrap().status(), 401);
    let r: Value = post(token.clone(), firing("firing")).await.unwrap().json().await.unwrap();
    assert_eq!(r["alerts"][0]["outcome"], "opened", "{r}");
    let number = r["alerts"][0]["incident"].as_str().unwrap().to_owned();
    let r: Value = post(token.clone(), firing("firing")).await.unwrap().json().await.unwrap();
    assert_eq!((r["alerts"][0]["outcome"].as_str(), r["alerts"][0]["incident"].as_str()), (Some("attached"), Some(number.as_str())));

    // alice is paged through the webhook (on its second attempt).
    let page =
        poll_until("the page", async || received.lock().unwrap().bodies.iter().find(|b| b["type"] == "incident.paged").cloned()).await;
    assert_eq!((page["data"]["user"].as_str(), page["data"]["level"].as_u64()), (Some("alice"), Some(1)), "{page}");
    assert_eq!(page["data"]["ticket"]["number"], number);
    let ack_url = page["data"]["acknowledge_url"].as_str().unwrap().replace("https://desk.example.org", &base);
    // She acknowledges with the link from the page.
    let r = http.post(ack_url).bearer_auth(&alice_token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let escalation: Value =
        admin(reqwest::Method::GET, &format!("/api/v1/incidents/{number}/escalation")).send().await.unwrap().json().await.unwrap();
    assert_eq!((escalation["status"].as_str(), escalation["level"].as_i64()), (Some("acknowledged"), Some(1)), "{escalation}");
    poll_until("the acknowledgement's webhook", async || {
        received.lock().unwrap().bodies.iter().find(|b| b["type"] == "incident.acknowledged").cloned()
    })
    .await;

    // The resolved alert resolves the incident (an acknowledgement is not a take-over).
    let r: Value = post(token.clone(), firing("resolved")).await.unwrap().json().await.unwrap();
    assert_eq!(r["alerts"][0]["outcome"], "resolved", "{r}");
    let incident: Value = admin(reqwest::Method::GET, &format!("/api/v1/incidents/{number}")).send().await.unwrap().json().await.unwrap();
    assert_eq!((incident["status"].as_str(), incident["channel"].as_str()), (Some("resolved"), Some("alert")));
    let resolved = poll_until("the resolution's webhook", async || {
        received.lock().unwrap().bodies.iter().find(|b| b["type"] == "ticket.resolved").cloned()
    })
    .await;
    assert_eq!(resolved["data"]["ticket"]["number"], number);
    // Every delivery verified; every one needed the retry.
    {
        let r = received.lock().unwrap();
        assert_eq!(r.forged, 0);
        assert!(r.attempts.values().all(|n| *n == 2), "{:?}", r.attempts);
    }
    let history: Value =
        admin(reqwest::Method::GET, &format!("/api/v1/incidents/{number}/history")).send().await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "paged").count(), 1, "only alice was paged: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "acknowledged").count(), 1);
}
