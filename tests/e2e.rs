//! End-to-end: start the real `switchyard` binary on port 0 with a fresh
//! data directory and drive it over HTTP.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// A running server process, killed on drop.
struct Server {
    child: Child,
    base: String,
    /// Everything printed before the server started listening.
    banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

fn start(data_dir: &Path, admin_token: Option<&str>) -> Server {
    start_with(data_dir, admin_token, &[])
}

fn start_with(data_dir: &Path, admin_token: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir).env("SWITCHYARD_LOG", "warn").stdout(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    match admin_token {
        Some(t) => command.env("SWITCHYARD_ADMIN_TOKEN", t),
        None => command.env_remove("SWITCHYARD_ADMIN_TOKEN"),
    };
    let mut child = command.spawn().expect("start switchyard");
    let mut lines: Lines<BufReader<ChildStdout>> = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        if let Some(url) = line.strip_prefix("Switchyard listening on ") {
            base = Some(url.trim().to_owned());
        }
        let done = line.starts_with("API description");
        banner.push(line);
        if done {
            break;
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base: base.expect("switchyard exited before listening"), banner }
}

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
        .json(&json!({"name": "service-desk", "display_name": "Service Desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(admin(http.put(format!("{base}/api/v1/groups/service-desk/members/alice"))).send().await.unwrap().status(), 200);
    let created: Value = admin(http.post(format!("{base}/api/v1/incidents")))
        .json(&json!({"title": "Email down", "impact": 1, "urgency": 1, "assignment_group": "service-desk", "assignee": "alice"}))
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
