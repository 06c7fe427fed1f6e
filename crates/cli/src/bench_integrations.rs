//! Integration benchmarks behind `switchyard bench`: monitoring alerts
//! ingested per second with dedup by fingerprint (Alertmanager payloads
//! posted to a running server, which must open exactly one incident per
//! fingerprint however many alerts arrive), and signed webhook deliveries
//! per second from a running server to a receiver this command runs on
//! 127.0.0.1 (which verifies every signature).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use switchyard_store::{NewNotification, NewSubscription, NotificationStatus};
use switchyard_webhooks::signing::{Secret, verify};

use crate::bench::{Target, client, percentile};
use crate::config::Settings;

/// `bench alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Alerts to post in all.
    #[arg(long, default_value_t = 100_000)]
    pub alerts: u64,
    /// Distinct fingerprints they are spread over (the incidents expected).
    #[arg(long, default_value_t = 50)]
    pub fingerprints: u64,
    /// Alerts per Alertmanager payload (a group).
    #[arg(long, default_value_t = 10)]
    pub per_post: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
}

/// An Alertmanager payload of alerts `first..first + n`, each firing for
/// fingerprint `i % fingerprints` of this run.
fn payload(run: &str, first: u64, n: u64, fingerprints: u64) -> Value {
    let alerts: Vec<Value> = (first..first + n)
        .map(|i| {
            let f = i % fingerprints;
            json!({"status": "firing",
                   "labels": {"alertname": "BenchAlert", "instance": format!("host-{f}:9100"), "severity": "warning"},
                   "annotations": {"summary": format!("Bench alert on host-{f}")},
                   "startsAt": "2026-12-04T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                   "generatorURL": "http://prometheus.example.org/graph", "fingerprint": format!("{run}-{f}")})
        })
        .collect();
    json!({"version": "4", "groupKey": format!("{{}}:{{run=\"{run}\"}}"), "truncatedAlerts": 0, "status": "firing",
           "receiver": "switchyard", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
           "externalURL": "http://alertmanager.example.org", "alerts": alerts})
}

/// Creates an integration, posts the alerts, and reports the rate and the
/// incidents opened (one per fingerprint is the only right answer).
pub async fn alerts(a: AlertsArgs) -> anyhow::Result<()> {
    let http = client()?;
    let base = a.target.url.trim_end_matches('/').to_owned();
    let run = format!("bench{}-{}", std::process::id(), chrono::Utc::now().timestamp());
    let created: Value = http
        .post(format!("{base}/api/v1/integrations"))
        .bearer_auth(&a.target.token)
        .json(&json!({"name": run, "kind": "alertmanager", "settings": {"requester": "admin"}}))
        .send()
        .await?
        .error_for_status()
        .context("creating the integration (needs an admin token)")?
        .json()
        .await?;
    let token = created["token"].as_str().context("no token in the answer")?.to_owned();
    let url = format!("{base}/api/v1/alerts/alertmanager/{token}");
    let posts = a.alerts.div_ceil(a.per_post.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (http, url, run, next, errors) = (http.clone(), url.clone(), run.clone(), next.clone(), errors.clone());
        let (per_post, total, fingerprints) = (a.per_post.max(1), a.alerts, a.fingerprints.max(1));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut incidents = BTreeSet::new();
            let mut opened = 0u64;
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= posts {
                    break;
                }
                let first = p * per_post;
                let body = payload(&run, first, per_post.min(total - first), fingerprints).to_string();
                let t = Instant::now();
                match http.post(&url).header("content-type", "application/json").body(body).send().await {
                    Ok(r) if r.status().is_success() => {
                        latencies.push(t.elapsed());
                        let v: Value = r.json().await.unwrap_or_default();
                        for applied in v["alerts"].as_array().into_iter().flatten() {
                            if let Some(n) = applied["incident"].as_str() {
                                incidents.insert(n.to_owned());
                            }
                            opened += u64::from(applied["outcome"] == "opened");
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (latencies, incidents, opened)
        }));
    }
    let (mut latencies, mut incidents, mut opened) = (Vec::new(), BTreeSet::new(), 0);
    for t in tasks {
        let (l, i, o) = t.await?;
        latencies.extend(l);
        incidents.extend(i);
        opened += o;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let accepted = latencies.len() as u64 * a.per_post.max(1);
    println!(
        "{}",
        json!({
            "benchmark": "alerts", "clients": a.clients, "alerts": a.alerts, "per_post": a.per_post, "fingerprints": a.fingerprints,
            "posts": latencies.len(), "errors": errors.load(Ordering::Relaxed), "seconds": elapsed,
            "alerts_per_second": accepted.min(a.alerts) as f64 / elapsed, "posts_per_second": latencies.len() as f64 / elapsed,
            "incidents": incidents.len(), "opened": opened,
            "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1e3, "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        })
    );
    if incidents.len() as u64 != a.fingerprints.min(a.alerts) || opened != incidents.len() as u64 {
        bail!("expected exactly {} incidents, one per fingerprint; got {} ({} opened)", a.fingerprints, incidents.len(), opened);
    }
    Ok(())
}

/// `bench webhooks`.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// Deliveries to queue.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// Starts a verifying receiver, subscribes it in the configured database,
/// queues `count` deliveries there, waits until a running server on that
/// database delivered them all, and reports the rate from the first to the
/// last `sent_at`.
pub async fn webhooks(a: WebhooksArgs, settings: &Settings) -> anyhow::Result<()> {
    let store = crate::open_store(settings).await?;
    let secret = Secret::generate(rand::random::<[u8; 32]>());
    let verified = Arc::new(AtomicU64::new(0));
    let forged = Arc::new(AtomicU64::new(0));
    let (v, f, s) = (verified.clone(), forged.clone(), secret.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (v, f, s) = (v.clone(), f.clone(), s.clone());
            async move {
                let h = |n: &str| headers.get(n).and_then(|x| x.to_str().ok()).unwrap_or_default().to_owned();
                let ok = verify(
                    &s,
                    &h("webhook-id"),
                    &h("webhook-timestamp"),
                    &h("webhook-signature"),
                    &body,
                    chrono::Utc::now().timestamp(),
                    300,
                );
                if ok.is_ok() {
                    v.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                } else {
                    f.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let name = format!("bench-{}-{}", std::process::id(), chrono::Utc::now().timestamp());
    let subscription = store
        .create_subscription(
            NewSubscription {
                name: name.clone(),
                url: format!("http://{addr}/hook"),
                format: "standard".into(),
                events: vec!["ticket.created".into()],
                filter: None,
                timeout_ms: 10_000,
                enabled: true,
            },
            &secret.to_string(),
        )
        .await?;
    let started = Instant::now();
    for chunk in (0..a.count).collect::<Vec<_>>().chunks(1000) {
        let txn = store.begin().await?;
        let body = |i: usize| json!({"type": "ticket.created", "timestamp": chrono::Utc::now().to_rfc3339(), "data": {"summary": format!("bench {i}")}});
        txn.insert_notifications(
            chunk
                .iter()
                .map(|i| NewNotification {
                    incident_id: None,
                    run_id: 0,
                    workflow_id: "bench".into(),
                    step_id: "ticket.created".into(),
                    channel: "webhook".into(),
                    recipients: vec![name.clone()],
                    subject: "ticket.created".into(),
                    body: body(*i).to_string(),
                    subscription_id: Some(subscription.id),
                })
                .collect(),
        )
        .await?;
        txn.commit().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    loop {
        let mut busy = 0;
        for status in [NotificationStatus::Queued, NotificationStatus::Sending, NotificationStatus::Failed] {
            busy += store.subscription_deliveries(subscription.id, Some(status), None, 1).await?.len();
        }
        if busy == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("not delivered within {} s; is a server running on this database?", a.timeout_secs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = started.elapsed().as_secs_f64();
    let mut sent = Vec::new();
    let mut before = None;
    loop {
        let page = store.subscription_deliveries(subscription.id, None, before, 500).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        sent.extend(page.iter().filter_map(|n| n.sent_at));
    }
    sent.sort_unstable();
    let span = match (sent.first(), sent.last()) {
        (Some(first), Some(last)) => (*last - *first).as_seconds_f64(),
        _ => 0.0,
    };
    store.delete_subscription(&name).await?;
    println!(
        "{}",
        json!({
            "benchmark": "webhooks", "queued": a.count, "sent": sent.len(), "verified": verified.load(Ordering::Relaxed),
            "forged": forged.load(Ordering::Relaxed), "drain_seconds": span,
            "delivered_per_second": if span > 0.0 { sent.len() as f64 / span } else { 0.0 },
            "seconds_from_queue_to_drained": waited,
        })
    );
    Ok(())
}
