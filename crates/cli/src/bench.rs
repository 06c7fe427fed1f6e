//! The load generator behind `switchyard bench`: HTTP create throughput and
//! latency, list-page latency, and seeding a database with many incidents.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_domain::incident::{Channel, Level};
use switchyard_store::{Actor, CreateIncident};

use crate::config::Settings;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Create incidents over HTTP with N concurrent clients.
    Creates(CreatesArgs),
    /// Fetch one filtered list page repeatedly and report latency.
    List(ListArgs),
    /// Fetch web pages (console, portal) as a signed-in person and report
    /// latency and size.
    Pages(PagesArgs),
    /// Insert many incidents straight into the configured database.
    Seed(SeedArgs),
    /// Create incidents over HTTP and measure how fast the workflow engine
    /// processes them (created -> routed -> assigned -> notification
    /// queued), reading the outcome from the configured database.
    Workflow(WorkflowArgs),
    /// Queue notifications in the configured database and time a running
    /// server (with SMTP) delivering them.
    Delivery(crate::bench_mail::DeliveryArgs),
    /// Post generated mail to `/api/v1/mail/inbound` with N concurrent clients.
    MailIn(crate::bench_mail::MailInArgs),
    /// Post Alertmanager payloads with N concurrent clients; exactly one
    /// incident per fingerprint must come of them.
    Alerts(crate::bench_integrations::AlertsArgs),
    /// Queue signed webhook deliveries in the configured database and time
    /// a running server delivering them to a verifying receiver on 127.0.0.1.
    Webhooks(crate::bench_integrations::WebhooksArgs),
    /// On the configured database (seed it first): SLA clocks recomputed
    /// per second (pure and with the database), and the timer sweep with
    /// however many open incidents it holds and `--due` due timers.
    Sla(SlaArgs),
}

/// `bench sla`.
#[derive(Debug, Args)]
pub struct SlaArgs {
    /// Open incidents to recompute.
    #[arg(long, default_value_t = 20_000)]
    recompute: u64,
    /// Due timers to sweep.
    #[arg(long, default_value_t = 100)]
    due: u64,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

/// `bench workflow`.
#[derive(Debug, Args)]
pub struct WorkflowArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds to create incidents for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Creates per second over all clients; 0 means as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The workflow whose runs count as "processed".
    #[arg(long, default_value = "default-incident")]
    workflow: String,
    /// Incidents sampled for latency percentiles.
    #[arg(long, default_value_t = 2000)]
    sample: usize,
}

/// Target server.
#[derive(Debug, Args)]
pub struct Target {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API token (an agent or admin).
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// `bench creates`.
#[derive(Debug, Args)]
pub struct CreatesArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// `bench list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Query string of the list, e.g. `status=new&priority=P3&limit=50`.
    #[arg(long, default_value = "status=new&priority=P3&limit=50")]
    query: String,
    /// Requests to time (one client, sequential).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
}

/// `bench pages`.
#[derive(Debug, Args)]
pub struct PagesArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Who signs in (over `POST /api/v1/auth/login`).
    #[arg(long, default_value = "admin")]
    username: String,
    /// Their password.
    #[arg(long, env = "SWITCHYARD_BENCH_PASSWORD", hide_env_values = true)]
    password: String,
    /// Page paths, e.g. `/console?queue=open`; each is timed on its own.
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// Requests per page (one client, sequential).
    #[arg(long, default_value_t = 500)]
    requests: usize,
}

/// `bench seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Incidents to insert.
    #[arg(long)]
    count: u64,
    /// Requester username (must exist).
    #[arg(long, default_value = "admin")]
    requester: String,
}

/// Runs a benchmark command.
pub async fn run(command: BenchCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        BenchCommand::Creates(a) => creates(a).await,
        BenchCommand::List(a) => list(a).await,
        BenchCommand::Pages(a) => pages(a).await,
        BenchCommand::Seed(a) => seed(a, settings).await,
        BenchCommand::Workflow(a) => workflow(a, settings).await,
        BenchCommand::Sla(a) => sla(a, settings).await,
        BenchCommand::Delivery(a) => crate::bench_mail::delivery(a, settings).await,
        BenchCommand::MailIn(a) => crate::bench_mail::mail_in(a).await,
        BenchCommand::Alerts(a) => crate::bench_integrations::alerts(a).await,
        BenchCommand::Webhooks(a) => crate::bench_integrations::webhooks(a, settings).await,
    }
}

pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1024).build()?)
}

/// Percentile of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn body(i: u64) -> serde_json::Value {
    let categories = ["network", "email", "hardware", "software", "access"];
    json!({
        "title": format!("Benchmark incident {i}"),
        "description": "Generated by switchyard bench: users report intermittent failures when connecting.",
        "category": categories[(i % 5) as usize],
        "impact": 1 + (i % 3),
        "urgency": 1 + ((i / 3) % 3),
        "channel": "api",
    })
}

async fn creates(a: CreatesArgs) -> anyhow::Result<()> {
    let client = client()?;
    let url = format!("{}/api/v1/incidents", a.target.url.trim_end_matches('/'));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (client, url, token, stop, counter, errors) =
            (client.clone(), url.clone(), a.target.token.clone(), stop.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let ok = client.post(&url).bearer_auth(&token).json(&body(i)).send().await.is_ok_and(|r| r.status() == 201);
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({
            "benchmark": "creates", "clients": a.clients, "seconds": elapsed, "created": latencies.len(), "errors": errors,
            "creates_per_second": latencies.len() as f64 / elapsed,
            "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        })
    );
    if latencies.is_empty() {
        bail!("no incident was created; is the server up and the token valid?");
    }
    Ok(())
}

async fn workflow(a: WorkflowArgs, settings: &Settings) -> anyhow::Result<()> {
    use switchyard_domain::incident::IncidentNumber;
    use switchyard_store::RunFilter;
    use switchyard_workflow::RunStatus;
    let store = crate::open_store(settings).await?;
    let client = client()?;
    let url = format!("{}/api/v1/incidents", a.target.url.trim_end_matches('/'));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let per_client = if a.rate == 0 { None } else { Some(Duration::from_secs_f64(a.clients as f64 / a.rate as f64)) };
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (client, url, token, stop, counter) = (client.clone(), url.clone(), a.target.token.clone(), stop.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            let mut pace = per_client.map(tokio::time::interval);
            while !stop.load(Ordering::Relaxed) {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if let Ok(r) = client.post(&url).bearer_auth(&token).json(&body(i)).send().await
                    && r.status() == 201
                    && let Ok(v) = r.json::<serde_json::Value>().await
                    && let Some(n) = v["number"].as_str().and_then(|n| n.parse::<IncidentNumber>().ok())
                {
                    numbers.push(n);
                }
            }
            numbers
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.extend(t.await?);
    }
    let create_seconds = started.elapsed().as_secs_f64();
    if numbers.is_empty() {
        bail!("no incident was created; is the server up and the token valid?");
    }
    // Wait for the engine to finish.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // Position first: runs are committed with it, so the count sees them.
        let position = store.position("dispatcher").await?;
        let caught_up = store.events_after(position, 1).await?.is_empty();
        let mut busy = 0;
        for s in [RunStatus::Pending, RunStatus::Running, RunStatus::Waiting] {
            busy += store.count_runs(s).await?;
        }
        if busy == 0 && caught_up {
            break;
        }
        if Instant::now() > deadline {
            bail!("the engine did not finish within 300 s ({busy} runs busy)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    numbers.sort_unstable();
    let mut last_finished = None;
    let mut processed = 0u64;
    let mut failed = 0u64;
    let mut before = None;
    let min = numbers[0].0;
    'pages: loop {
        let page = store
            .list_runs(&RunFilter { workflow_id: Some(a.workflow.clone()), before_id: before, limit: 500, ..Default::default() })
            .await?;
        if page.is_empty() {
            break;
        }
        for run in &page {
            before = Some(run.id);
            let Some(incident) = run.incident_id else { continue };
            if incident < min {
                break 'pages;
            }
            if run.status == RunStatus::Succeeded {
                processed += 1;
                if let Some(f) = run.finished_at {
                    last_finished = Some(last_finished.map_or(f, |l: chrono::DateTime<chrono::Utc>| l.max(f)));
                }
            } else {
                failed += 1;
            }
        }
    }
    let step = (numbers.len() / a.sample.max(1)).max(1);
    let mut assigned = Vec::new();
    let mut done = Vec::new();
    for number in numbers.iter().step_by(step) {
        let record = store.get_incident(*number).await?;
        let created = record.incident.created_at;
        let history = store.history(*number, true).await?;
        if let Some(e) = history.iter().find(|e| e.field.as_deref() == Some("assignee")) {
            assigned.push((e.created_at - created).to_std().unwrap_or_default());
        }
        let runs = store
            .list_runs(&RunFilter { incident_id: Some(number.0), workflow_id: Some(a.workflow.clone()), limit: 1, ..Default::default() })
            .await?;
        if let Some(f) = runs.first().and_then(|r| r.finished_at) {
            done.push((f - created).to_std().unwrap_or_default());
        }
    }
    let first = store.get_incident(numbers[0]).await?.incident.created_at;
    let window = last_finished.map(|l| (l - first).to_std().unwrap_or_default().as_secs_f64()).unwrap_or(f64::NAN);
    assigned.sort_unstable();
    done.sort_unstable();
    println!(
        "{}",
        json!({
            "benchmark": "workflow", "backend": format!("{:?}", store.backend()), "clients": a.clients, "rate": a.rate,
            "created": numbers.len(), "creates_per_second": numbers.len() as f64 / create_seconds,
            "processed": processed, "failed_runs": failed,
            "processed_per_second": processed as f64 / window,
            "sampled": done.len(),
            "create_to_assigned_p50_ms": percentile(&assigned, 0.50).as_secs_f64() * 1e3,
            "create_to_assigned_p99_ms": percentile(&assigned, 0.99).as_secs_f64() * 1e3,
            "create_to_processed_p50_ms": percentile(&done, 0.50).as_secs_f64() * 1e3,
            "create_to_processed_p99_ms": percentile(&done, 0.99).as_secs_f64() * 1e3,
        })
    );
    Ok(())
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let client = client()?;
    let url = format!("{}/api/v1/incidents?{}", a.target.url.trim_end_matches('/'), a.query);
    let mut latencies = Vec::with_capacity(a.requests);
    let mut items = 0;
    for _ in 0..a.requests {
        let t = Instant::now();
        let response = client.get(&url).bearer_auth(&a.target.token).send().await?;
        if !response.status().is_success() {
            bail!("{url} answered {}: {}", response.status(), response.text().await.unwrap_or_default());
        }
        let page: serde_json::Value = response.json().await?;
        latencies.push(t.elapsed());
        items = page["items"].as_array().map_or(0, Vec::len);
    }
    latencies.sort_unstable();
    println!(
        "{}",
        json!({
            "benchmark": "list", "query": a.query, "requests": a.requests, "items_per_page": items,
            "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        })
    );
    Ok(())
}

async fn pages(a: PagesArgs) -> anyhow::Result<()> {
    let client = client()?;
    let base = a.url.trim_end_matches('/');
    let login = json!({"username": a.username, "password": a.password});
    let session: serde_json::Value =
        client.post(format!("{base}/api/v1/auth/login")).json(&login).send().await?.error_for_status()?.json().await?;
    let cookie = format!("sy_session={}", session["token"].as_str().unwrap_or_default());
    for path in &a.paths {
        let url = format!("{base}{path}");
        let mut latencies = Vec::with_capacity(a.requests);
        let mut bytes = 0;
        for _ in 0..a.requests {
            let t = Instant::now();
            let response = client.get(&url).header(reqwest::header::COOKIE, &cookie).send().await?;
            if response.status() != reqwest::StatusCode::OK {
                bail!("{url} answered {}", response.status());
            }
            bytes = response.bytes().await?.len();
            latencies.push(t.elapsed());
        }
        latencies.sort_unstable();
        println!(
            "{}",
            json!({
                "benchmark": "page", "path": path, "requests": a.requests, "html_bytes": bytes,
                "p50_ms": percentile(&latencies, 0.50).as_secs_f64() * 1e3,
                "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            })
        );
    }
    Ok(())
}

async fn seed(a: SeedArgs, settings: &Settings) -> anyhow::Result<()> {
    let store = crate::open_store(settings).await?;
    let requester = store.get_user(&a.requester).await.with_context(|| format!("requester `{}`", a.requester))?;
    let actor = Actor { kind: switchyard_store::ActorKind::System, user_id: None, name: "bench seed".into(), run_id: None };
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..512 {
        let (store, next, actor, requester) = (store.clone(), next.clone(), actor.clone(), requester.user.username.clone());
        let count = a.count;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                let categories = ["network", "email", "hardware", "software", "access"];
                let (title, description) = seeded_text(i);
                let request = CreateIncident {
                    kind: Default::default(),
                    details: Default::default(),
                    checklist: Vec::new(),
                    title,
                    description,
                    requester: requester.clone(),
                    channel: Channel::Api,
                    category: Some(categories[(i % 5) as usize].into()),
                    subcategory: None,
                    service_id: None,
                    affected_ci_ids: vec![],
                    impact: Level::new(1 + (i % 3) as u8).unwrap_or(Level::LOW),
                    urgency: Level::new(1 + ((i / 3) % 3) as u8).unwrap_or(Level::LOW),
                    priority_override: None,
                    assignment_group: None,
                    assignee: None,
                    custom_fields: json!({}),
                    actor: actor.clone(),
                };
                store.create_incident(request).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{}", json!({"benchmark": "seed", "count": a.count, "seconds": elapsed, "per_second": a.count as f64 / elapsed}));
    Ok(())
}

/// Varied, realistic incident text for seeded incidents (deterministic in
/// `i`), so text search is measured against something like a service
/// desk's vocabulary rather than one repeated sentence.
fn seeded_text(i: u64) -> (String, String) {
    const SYSTEMS: [&str; 24] = [
        "VPN",
        "Outlook",
        "email",
        "printer",
        "laptop",
        "wifi",
        "Teams",
        "SAP",
        "payroll",
        "badge reader",
        "monitor",
        "keyboard",
        "database",
        "CRM",
        "intranet",
        "file share",
        "phone",
        "docking station",
        "password reset",
        "Jira",
        "Confluence",
        "SharePoint",
        "scanner",
        "projector",
    ];
    const PROBLEMS: [&str; 16] = [
        "is down",
        "is very slow",
        "does not start",
        "keeps crashing",
        "shows error 500",
        "cannot connect",
        "asks for the password again",
        "lost all settings",
        "freezes every hour",
        "prints blank pages",
        "will not sync",
        "is jammed",
        "has no sound",
        "times out",
        "is locked",
        "flickers",
    ];
    const PLACES: [&str; 12] = [
        "in Berlin",
        "in Munich",
        "on floor 3",
        "in the warehouse",
        "for the sales team",
        "at home",
        "in Hamburg",
        "in meeting room B",
        "for finance",
        "since the update",
        "in New York",
        "for the whole department",
    ];
    const DETAILS: [&str; 10] = [
        "Restarting did not help.",
        "It started this morning after the Windows update.",
        "Several colleagues have the same problem.",
        "Urgent: the quarterly report is due today.",
        "The error message says access denied.",
        "It worked fine yesterday.",
        "I already cleared the cache and rebooted twice.",
        "Only happens on the guest network.",
        "The helpdesk chat did not answer.",
        "Please call me back on my mobile.",
    ];
    // A multiplicative hash spreads consecutive numbers over the vocabulary.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let pick = |n: usize, shift: u32| ((h >> shift) as usize) % n;
    let system = SYSTEMS[pick(SYSTEMS.len(), 7)];
    let title = format!("{system} {} {}", PROBLEMS[pick(PROBLEMS.len(), 17)], PLACES[pick(PLACES.len(), 27)]);
    let description = format!("{} {} Ticket reference {i}.", DETAILS[pick(DETAILS.len(), 37)], DETAILS[pick(DETAILS.len(), 47)]);
    (title, description)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

async fn sla(a: SlaArgs, settings: &Settings) -> anyhow::Result<()> {
    use switchyard_engine::{Engine, EngineConfig};
    let store = crate::open_store(settings).await?;
    let open_total = store.count_open_incidents().await?;
    let numbers = store.open_incident_numbers(0, a.recompute).await?;
    if numbers.is_empty() {
        bail!("no open incidents: run `switchyard bench seed --count N` first");
    }
    let config = store.sla_settings().await?.config;

    // Pure: the clocks from inputs already in memory.
    let inputs = store.sla_inputs(&numbers).await?;
    let mut pure = Vec::new();
    for _ in 0..a.repeat {
        let started = Instant::now();
        let outcomes = switchyard_engine::sla::compute(&config, &inputs, chrono::Utc::now());
        let clocks: usize = outcomes.iter().map(|o| o.clocks.len()).sum();
        pure.push(clocks as f64 / started.elapsed().as_secs_f64());
    }
    // With the database: read histories, compute, replace clocks, facts and
    // timers, 500 incidents per transaction (what the tracker does).
    let mut stored = Vec::new();
    for _ in 0..a.repeat {
        let started = Instant::now();
        let mut clocks = 0;
        for chunk in numbers.chunks(500) {
            let txn = store.begin().await?;
            let inputs = txn.sla_inputs(chunk).await?;
            let outcomes = switchyard_engine::sla::compute(&config, &inputs, chrono::Utc::now());
            clocks += outcomes.iter().map(|o| o.clocks.len()).sum::<usize>();
            txn.replace_sla(&outcomes).await?;
            txn.commit().await?;
        }
        stored.push(clocks as f64 / started.elapsed().as_secs_f64());
    }

    // The timer sweep: `due` SLA timers already due on the first open
    // incidents, taken and checked by the scheduler of an engine that
    // runs no background task.
    let engine = Engine::offline(store.clone(), Arc::new(switchyard_plugin_host::Registry::new()), EngineConfig::default()).await?;
    let mut query_ms = Vec::new();
    let mut sweep_ms = Vec::new();
    for _ in 0..a.repeat {
        let due_at = chrono::Utc::now() - chrono::Duration::seconds(1);
        let txn = store.begin().await?;
        for n in numbers.iter().cycle().take(a.due as usize) {
            txn.insert_timer(switchyard_store::NewTimer {
                kind: "sla_breached".into(),
                due_at,
                run_id: None,
                incident_id: Some(n.0),
                payload: json!({"target": "resolution", "percent": 100, "policy": "bench", "due_at": due_at.timestamp_millis()}),
            })
            .await?;
        }
        txn.commit().await?;
        let started = Instant::now();
        let found = store.due_timers(chrono::Utc::now(), 500).await?;
        query_ms.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(found.len() as u64 >= a.due, "expected {} due timers, found {}", a.due, found.len());
        let started = Instant::now();
        let fired = engine.fire_timers_at(chrono::Utc::now()).await?;
        sweep_ms.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(fired as u64 >= a.due, "fired {fired} of {} timers", a.due);
    }
    println!(
        "{}",
        json!({
            "benchmark": "sla", "backend": format!("{:?}", store.backend()), "open_incidents": open_total,
            "recomputed_incidents": numbers.len(),
            "clocks_per_second_pure_median": median(pure), "clocks_per_second_with_database_median": median(stored),
            "due_timers": a.due, "due_query_ms_median": median(query_ms), "sweep_ms_median": median(sweep_ms),
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
