//! End-to-end: start the real `switchyard` binary on port 0 with a fresh
//! data directory and drive it over HTTP.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

mod support;

use support::{ADMIN_TOKEN, Server, start, start_with};

#[tokio::test]
async fn serve_create_and_restart_on_a_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(ADMIN_TOKEN));
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(ADMIN_TOKEN);

    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let me: Value = admin(http.get(format!("{base}/api/v1/me"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(http.get(format!("{base}/api/v1/me")).send().await.unwrap().status(), 401);

    // Set up a group with an agent, then log an incident routed to them.
    let r = admin(http.post(format!("{base}/api/v1/users")))
        .json(&json!({"username": "alice", "display_name": "Alice", "role": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = admin(http.post(format!("{base}/api/v1/groups")))
        .json(&json!({"name": "email-team", "display_name": "Email team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(admin(http.put(format!("{base}/api/v1/groups/email-team/members/alice"))).send().await.unwrap().status(), 200);
    let created: Value = admin(http.post(format!("{base}/api/v1/incidents")))
        .json(&json!({"title": "Email down", "impact": 1, "urgency": 1, "assignment_group": "email-team", "assignee": "alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["number"], "INC-000001");
    assert_eq!(created["priority"], "P1");
    assert_eq!(created["status"], "assigned");
    let bad = admin(http.post(format!("{base}/api/v1/incidents"))).json(&json!({"title": "x", "colour": "red"})).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["code"], "validation_failed");
    assert_eq!(bad["error"]["details"][0]["field"], "colour");

    // A restart keeps everything and does not create a second admin.
    drop(server);
    let server = start(dir.path(), None);
    assert!(!server.banner.iter().any(|l| l.contains("shown only now")), "a second admin token was generated: {:?}", server.banner);
    let base = server.base.clone();
    let got: Value = admin(http.get(format!("{base}/api/v1/incidents/INC-000001"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["assignee"], "alice");
    let next: Value =
        admin(http.post(format!("{base}/api/v1/incidents"))).json(&json!({"title": "Second"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(next["number"], "INC-000002");
    let history: Value = admin(http.get(format!("{base}/api/v1/incidents/INC-000001/history"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(history[0]["kind"], "created");
    assert_eq!(history[0]["actor"], "admin");
}

#[tokio::test]
async fn first_start_without_a_token_prints_one_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None);
    let token = server.banner.iter().map(|l| l.trim()).find(|l| l.starts_with("sy_")).expect("a generated token in the banner").to_owned();
    let r = reqwest::Client::new().get(format!("{}/api/v1/me", server.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn first_start_prints_the_web_address_and_an_admin_password_that_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None);
    let open = format!("Open {}/ in a browser", server.base);
    assert!(server.banner.iter().any(|l| l.starts_with(&open)), "{:?}", server.banner);
    let prefix = "Sign in as `admin` with the password ";
    let line = server.banner.iter().find(|l| l.starts_with(prefix)).expect("the password in the banner");
    let password = line[prefix.len()..].split(' ').next().unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login?next=%2F"));
    let r = http.get(format!("{}/login", server.base)).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("Sign in to Switchyard"));
}

#[test]
fn migrate_command_and_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard")).args(["migrate", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("switchyard.db").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard")).args(["migrate", "--database-url", "mysql://x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must start with sqlite: or postgres://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two real server processes on one PostgreSQL, eight clients creating
/// incidents through both at once: numbers are unique and gap-free.
#[tokio::test]
async fn two_servers_on_one_postgres_number_gap_free() {
    let url = std::env::var("SWITCHYARD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "PostgreSQL is required in CI");
        eprintln!("skipping: PostgreSQL unreachable");
        return;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("e2e_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHYARD_DATABASE_URL", url.as_str()), ("SWITCHYARD_DATABASE_SCHEMA", schema.as_str())];
    let first = start_with(dir.path(), Some(ADMIN_TOKEN), &env);
    let second = start_with(dir.path(), Some(ADMIN_TOKEN), &env);
    let bases = [first.base.clone(), second.base.clone()];
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for client in 0..8 {
        let (http, base) = (http.clone(), bases[client % 2].clone());
        clients.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..25 {
                let r = http
                    .post(format!("{base}/api/v1/incidents"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"title": format!("client {client} #{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let body: Value = r.json().await.unwrap();
                numbers.push(body["number"].as_str().unwrap().trim_start_matches("INC-").parse::<u32>().unwrap());
            }
            numbers
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u32>>());
}

/// The integrator tools on a real shipped component (built by
/// scripts/build-plugins.sh, which the test command runs first).
#[test]
fn plugin_inspect_and_test_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = root.join("plugins/target/wasm32-wasip2/release/routing.wasm");
    assert!(wasm.exists(), "{} is missing: run scripts/build-plugins.sh first", wasm.display());
    let manifest = root.join("plugins/routing/plugin.toml");
    let run = |args: &[&std::ffi::OsStr]| Command::new(env!("CARGO_BIN_EXE_switchyard")).args(args).output().unwrap();

    let out = run(&["plugin".as_ref(), "inspect".as_ref(), wasm.as_os_str(), manifest.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["manifest"]["id"], "routing");
    assert_eq!(report["world"], "pure-step");
    assert!(report["exports"].as_array().unwrap().iter().any(|e| e == "run"), "{report}");

    let config = root.join("plugins/routing/example-config.json");
    let ticket = root.join("plugins/examples/ticket.json");
    let args = [
        "plugin".as_ref(),
        "test".as_ref(),
        wasm.as_os_str(),
        manifest.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--ticket".as_ref(),
        ticket.as_os_str(),
        "--json".as_ref(),
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["actions"][0], json!({"type": "assign_group", "group": "network-ops"}));
    assert_eq!(report["output"]["matched_rule"], "network-connectivity");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rules": "x"}"#).unwrap();
    let mut bad_args = args.to_vec();
    bad_args[5] = bad.as_os_str();
    let out = run(&bad_args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/rules"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The shipped plugins and workflows, for servers that run the engine.
fn engine_env() -> Vec<(&'static str, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugins = root.join("plugins/dist");
    assert!(plugins.join("routing/plugin.toml").exists(), "{} is missing: run scripts/build-plugins.sh first", plugins.display());
    vec![
        ("SWITCHYARD_PLUGINS_DIR", plugins.display().to_string()),
        ("SWITCHYARD_WORKFLOWS_DIR", root.join("workflows").display().to_string()),
        ("SWITCHYARD_RUN_LEASE_SECS", "2".to_owned()),
    ]
}

fn start_engine(data_dir: &Path) -> Server {
    let env = engine_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    start_with(data_dir, Some(ADMIN_TOKEN), &env)
}

/// Agents for the starter groups: bob in network-ops, carol in dba, alice
/// in the service desk (besides admin, who is on shift there too).
async fn seed_agents(http: &reqwest::Client, base: &str) {
    for (user, group) in [("alice", "service-desk"), ("bob", "network-ops"), ("carol", "dba")] {
        let r = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"username": user, "display_name": user, "role": "agent", "on_shift": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = http.put(format!("{base}/api/v1/groups/{group}/members/{user}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let r = http.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

/// Polls until `done` holds for the incident, or fails after 20 s.
async fn wait_for(http: &reqwest::Client, base: &str, number: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = get_json(http, format!("{base}/api/v1/incidents/{number}")).await;
        if done(&got) {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "{number} never got there: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A server with the shipped plugins and workflows and the seeded agents:
/// its data directory (kept alive with it), the server, a client and its URL.
async fn engine_with_agents() -> (tempfile::TempDir, Server, reqwest::Client, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_engine(dir.path());
    let http = reqwest::Client::new();
    let base = server.base.clone();
    seed_agents(&http, &base).await;
    (dir, server, http, base)
}

/// Logs an incident as the admin; returns the created incident.
async fn post_incident(http: &reqwest::Client, base: &str, body: Value) -> Value {
    http.post(format!("{base}/api/v1/incidents")).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn shipped_workflow_routes_assigns_and_queues_notifications() {
    let (dir, _server, http, base) = engine_with_agents().await;
    let schema = http.get(format!("{base}/api/v1/schemas/workflow.json")).send().await.unwrap();
    assert_eq!(schema.status(), 200);
    let workflows = get_json(&http, format!("{base}/api/v1/workflows")).await;
    assert!(workflows.as_array().unwrap().iter().any(|w| w["id"] == "default-incident" && w["enabled"] == true), "{workflows}");

    let cases = [
        ("VPN tunnel drops", Some("network"), "network-ops", "bob"),
        ("Orders DB is slow", Some("database"), "dba", "carol"),
        ("Cannot log in", None, "service-desk", ""),
    ];
    for (title, category, group, assignee) in cases {
        let created = post_incident(&http, &base, json!({"title": title, "category": category})).await;
        let number = created["number"].as_str().unwrap().to_owned();
        let started = std::time::Instant::now();
        let got = wait_for(&http, &base, &number, |i| !i["assignee"].is_null()).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{number} took {:?}", started.elapsed());
        assert_eq!(got["assignment_group"], group, "{title}");
        if !assignee.is_empty() {
            assert_eq!(got["assignee"], assignee, "{title}");
        }
        let history = get_json(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
        let routed = history.as_array().unwrap().iter().find(|e| e["field"] == "assignment_group").expect("a routing entry");
        let actor = routed["actor"].as_str().unwrap();
        assert!(actor.contains("default-incident@2") && actor.contains("plugin routing@0.1.0"), "{actor}");
        // Notification is the step after assignment: wait for the run to end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let runs = loop {
            let runs = get_json(&http, format!("{base}/api/v1/runs?ticket={number}")).await;
            if runs[0]["status"] == "succeeded" || std::time::Instant::now() > deadline {
                break runs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(runs[0]["status"], "succeeded", "{runs}");
        let notes = get_json(&http, format!("{base}/api/v1/notifications?ticket={number}")).await;
        assert_eq!(notes.as_array().unwrap().len(), 2, "{notes}");
        let run = get_json(&http, format!("{base}/api/v1/runs/{}", runs[0]["id"])).await;
        assert_eq!(run["steps"].as_array().unwrap().len(), 4, "{run}");
    }

    // The integrator tools on the same data: a bad document is refused with
    // its path and line; a draft dry-runs against the recorded tickets.
    let env = engine_env();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "id: bad\nname: Bad\nversion: 1\ntriggers:\n  - cron: { schedule: \"not cron\" }\nsteps:\n  - id: r\n    plugin: routing\n    colour: red\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["workflow", "validate"])
        .arg(&bad)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SWITCHYARD_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("triggers[0].cron.schedule"), "{stdout}");
    assert!(stdout.contains("steps[0].colour") && stdout.contains(":9:"), "{stdout}");
    let draft = dir.path().join("draft.yaml");
    std::fs::write(&draft, "id: draft\nname: Draft\nversion: 1\ntriggers: [ { ticket_created: {} } ]\nsteps:\n  - id: route\n    plugin: routing\n    config: { rules: [], default_group: desk-side }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["workflow", "dry-run", "--last", "3"])
        .arg(&draft)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SWITCHYARD_DATA_DIR", dir.path())
        .env("SWITCHYARD_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 ticket(s) examined, 3 triggered, 3 would differ"), "{stdout}");
    assert!(stdout.contains("would route to desk-side instead of network-ops"), "{stdout}");
}

#[tokio::test]
async fn sla_breach_fires_the_shipped_escalation_workflow() {
    let (_dir, _server, http, base) = engine_with_agents().await;
    // A policy short enough to breach during the test: resolution in 2 s.
    let r = http
        .put(format!("{base}/api/v1/sla/policies"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"policies": [{"id": "fast", "name": "Fast", "calendar": "24x7", "targets": {"response": "1h", "resolution": "2s"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let created = post_incident(&http, &base, json!({"title": "VPN tunnel drops", "category": "network", "impact": 2, "urgency": 2})).await;
    let number = created["number"].as_str().unwrap().to_owned();
    assert_eq!(created["priority"], "P3", "{created}");
    // Routed and assigned by the default workflow: the response clock is met.
    let got = wait_for(&http, &base, &number, |i| !i["assignee"].is_null()).await;
    let response = got["sla"].as_array().unwrap().iter().find(|c| c["target"] == "response").cloned().unwrap();
    assert_eq!(response["state"], "met", "{got}");
    // The breach fires, the shipped sla-escalation workflow raises the
    // escalation level (P3 ladder: level 1 on breach).
    let got = wait_for(&http, &base, &number, |i| i["escalation_level"] == 1).await;
    let resolution = got["sla"].as_array().unwrap().iter().find(|c| c["target"] == "resolution").cloned().unwrap();
    assert_eq!(resolution["state"], "breached", "{got}");
    assert!(resolution["remaining_seconds"].as_i64().unwrap() <= 0, "{resolution}");
    let history = get_json(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
    let breach = history.as_array().unwrap().iter().find(|e| e["kind"] == "sla_breached").cloned().expect("an sla_breached entry");
    assert!(breach["body"].as_str().unwrap().contains("resolution target of 2s breached"), "{breach}");
    let runs = get_json(&http, format!("{base}/api/v1/runs?ticket={number}&workflow=sla-escalation")).await;
    assert!(runs.as_array().unwrap().iter().any(|r| r["trigger"]["type"] == "sla_breached"), "{runs}");
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for line in
        ["switchyard_sla_breaches_fired_total 1", "switchyard_workflow_runs_started_total", "switchyard_sla_clocks{state=\"breached\"}"]
    {
        assert!(metrics.contains(line), "{line} missing from /metrics:\n{metrics}");
    }
}

#[test]
fn sla_validate_command_names_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let calendars = dir.path().join("calendars.json");
    std::fs::write(
        &calendars,
        r#"{"calendars": [{"id": "office", "name": "Office", "time_zone": "Europe/Atlantis", "hours": {"mon": ["17:00-09:00"]}}]}"#,
    )
    .unwrap();
    let policies = dir.path().join("policies.json");
    std::fs::write(&policies, r#"{"policies": [{"id": "p", "name": "P", "calendar": "office", "targets": {"resolution": "4h"}}]}"#)
        .unwrap();
    let run = |args: &[&std::path::Path]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command.args(["sla", "validate"]);
        for (flag, file) in ["--calendars", "--policies"].iter().zip(args) {
            command.arg(flag).arg(file);
        }
        command.output().unwrap()
    };
    let out = run(&[&calendars, &policies]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("calendars[0].time_zone") && stdout.contains("(time_zone)"), "{stdout}");
    assert!(stdout.contains("calendars[0].hours.mon[0]") && stdout.contains("(inverted)"), "{stdout}");
    std::fs::write(
        &calendars,
        r#"{"calendars": [{"id": "office", "name": "Office", "time_zone": "Europe/Berlin", "hours": {"mon": ["09:00-17:00"]}}]}"#,
    )
    .unwrap();
    let out = run(&[&calendars, &policies]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid: 1 calendar(s), 1 policy(ies)"));
}

/// Creates incidents from 8 clients and kills the server (SIGKILL) while
/// the engine is busy with them; returns the numbers acknowledged.
async fn create_and_kill(server: &mut Server, http: &reqwest::Client) -> Vec<String> {
    let base = server.base.clone();
    const N: usize = 800;
    let mut clients = Vec::new();
    for c in 0..8 {
        let http = http.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for i in 0..N / 8 {
                let category = ["network", "database", "software"][(c + i) % 3];
                let r = http
                    .post(format!("{base}/api/v1/incidents"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"title": format!("crash test {c}/{i}"), "category": category}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => numbers.push(r.json::<Value>().await.unwrap()["number"].as_str().unwrap().to_owned()),
                    _ => break,
                }
            }
            numbers
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut numbers = Vec::new();
    for c in clients {
        numbers.extend(c.await.unwrap());
    }
    assert!(!numbers.is_empty(), "no incident was created before the kill");
    assert!(numbers.len() < N, "every create finished before the kill: the crash did not come mid-flight");
    numbers
}

/// Every incident of the server, page by page.
async fn all_incidents(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/incidents?limit=500&cursor={c}"),
            None => format!("{base}/api/v1/incidents?limit=500"),
        };
        let page: Value = get_json(http, url).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    all
}

/// Waits until every incident has an assignee and no run is unfinished.
async fn wait_until_processed(http: &reqwest::Client, base: &str, incidents: &[Value]) {
    for incident in incidents {
        let number = incident["number"].as_str().unwrap();
        wait_for(http, base, number, |i| !i["assignee"].is_null()).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let busy: usize = futures_count(http, base).await;
        if busy == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{busy} runs never finished");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigkill_mid_flight_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_engine(dir.path());
    let http = reqwest::Client::new();
    seed_agents(&http, &server.base).await;
    let numbers = create_and_kill(&mut server, &http).await;

    let server = start_engine(dir.path());
    let base = server.base.clone();
    // Every incident acknowledged before the kill (and any committed after
    // its answer was lost) ends routed, assigned once and notified once
    // per rule.
    let all = all_incidents(&http, &base).await;
    assert!(all.len() >= numbers.len());
    wait_until_processed(&http, &base, &all).await;
    for incident in &all {
        let number = incident["number"].as_str().unwrap();
        let runs = get_json(&http, format!("{base}/api/v1/runs?ticket={number}&workflow=default-incident")).await;
        assert_eq!(runs.as_array().unwrap().len(), 1, "{number}: exactly one run: {runs}");
        assert_eq!(runs[0]["status"], "succeeded", "{number}: {runs}");
        let history = get_json(&http, format!("{base}/api/v1/incidents/{number}/history")).await;
        let assignments = history.as_array().unwrap().iter().filter(|e| e["field"] == "assignee").count();
        assert_eq!(assignments, 1, "{number}: exactly one assignment: {history}");
        let notes = get_json(&http, format!("{base}/api/v1/notifications?ticket={number}")).await;
        let mut subjects: Vec<String> = notes.as_array().unwrap().iter().map(|n| n["subject"].as_str().unwrap().to_owned()).collect();
        assert_eq!(subjects.len(), 2, "{number}: one notification per rule: {subjects:?}");
        subjects.dedup();
        assert_eq!(subjects.len(), 2, "{number}: {subjects:?}");
    }
}

/// kv writes commit with their run: after a SIGKILL in the middle of a
/// burst and a restart, the round-robin counter equals the number of
/// tickets it assigned (before, a replayed step incremented it again and
/// the rotation skipped an agent).
#[tokio::test]
async fn sigkill_mid_flight_keeps_kv_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_engine(dir.path());
    let http = reqwest::Client::new();
    let base = server.base.clone();
    seed_agents(&http, &base).await;
    let r = http.post(format!("{base}/api/v1/workflows/default-incident/disable")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let rotate = "id: rotate\nname: Rotate\nversion: 1\ntriggers: [ { ticket_created: {} } ]\nsteps:\n  - id: route\n    plugin: routing\n    \
                  config: { rules: [], default_group: service-desk }\n  - id: assign\n    plugin: assignment\n    config: { strategy: round_robin }\n";
    let r = http.post(format!("{base}/api/v1/workflows")).bearer_auth(ADMIN_TOKEN).json(&json!({"source": rotate})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    create_and_kill(&mut server, &http).await;

    let mut server = start_engine(dir.path());
    let base = server.base.clone();
    let all = all_incidents(&http, &base).await;
    wait_until_processed(&http, &base, &all).await;
    let all = all_incidents(&http, &base).await;
    let mut per_agent = std::collections::BTreeMap::<String, usize>::new();
    for incident in &all {
        *per_agent.entry(incident["assignee"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let options = switchyard_store::StoreOptions::new(format!("sqlite://{}?mode=rw", dir.path().join("switchyard.db").display()));
    let store = switchyard_store::Store::connect(options).await.unwrap();
    let counter = store.kv_get("assignment", "round-robin", "service-desk").await.unwrap().unwrap();
    assert_eq!(String::from_utf8(counter).unwrap(), all.len().to_string(), "one increment per assigned ticket: {per_agent:?}");
    // service-desk has two agents on shift (admin and alice): the rotation alternates.
    let counts: Vec<usize> = per_agent.values().copied().collect();
    assert_eq!(counts.len(), 2, "{per_agent:?}");
    assert!(counts[0].abs_diff(counts[1]) <= 1, "{per_agent:?}");
}

/// Runs not yet finished.
async fn futures_count(http: &reqwest::Client, base: &str) -> usize {
    let mut busy = 0;
    for status in ["pending", "running", "waiting"] {
        busy += get_json(http, format!("{base}/api/v1/runs?status={status}")).await.as_array().unwrap().len();
    }
    busy
}
