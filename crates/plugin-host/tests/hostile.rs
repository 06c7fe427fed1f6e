//! Hostile plugins: each misbehaviour fails its step with a clear error and
//! the same host keeps serving normal calls.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use switchyard_plugin_host::{Capabilities, PluginError, StepError};

#[tokio::test]
async fn infinite_loop_is_stopped_at_its_deadline() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "timeout_ms = 300", &everything());
    let started = Instant::now();
    let err = plugin.run(&input(json!({ "mode": "loop" }))).await.expect_err("loop must fail");
    let elapsed = started.elapsed();
    assert!(matches!(err, PluginError::Timeout { timeout_ms: 300, .. }), "{err}");
    assert!(elapsed < Duration::from_millis(1500), "stopped after {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(290), "stopped too early: {elapsed:?}");
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn memory_bomb_traps_at_its_cap() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "memory_mb = 16", &everything());
    let err = plugin.run(&input(json!({ "mode": "memory" }))).await.expect_err("memory bomb must fail");
    assert!(matches!(err, PluginError::MemoryLimit { limit_mb: 16, .. }), "{err}");
    assert!(err.to_string().contains("memory limit of 16 MiB"), "{err}");
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn deep_recursion_traps() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "", &everything());
    let err = plugin.run(&input(json!({ "mode": "recursion" }))).await.expect_err("recursion must fail");
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    // Depending on frame sizes a Rust guest exhausts either wasm's own call
    // stack (a stack-overflow trap) or its shadow stack in linear memory,
    // which runs off the bottom of memory (an out-of-bounds trap).
    let text = err.to_string();
    assert!(text.contains("stack overflow") || text.contains("out of bounds memory access"), "{text}");
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn a_million_actions_are_rejected() {
    let host = host();
    // Enough memory for the guest to build the list, so the host's action
    // cap (not the memory cap) is what stops it.
    let (_dir, plugin) = hostile(&host, "memory_mb = 256\ntimeout_ms = 20000", &everything());
    let err = plugin.run(&input(json!({ "mode": "actions" }))).await.expect_err("1M actions must fail");
    assert!(matches!(err, PluginError::InvalidOutput { .. }), "{err}");
    assert!(err.to_string().contains("returned 1000000 actions; the limit is 100"), "{err}");
    // Just over the cap is rejected too, exactly at it is fine.
    let err = plugin.run(&input(json!({ "mode": "actions", "count": 101 }))).await.expect_err("101 actions");
    assert!(err.to_string().contains("returned 101 actions"), "{err}");
    let ok = plugin.run(&input(json!({ "mode": "actions", "count": 100 }))).await.expect("100 actions");
    assert_eq!(ok.result.expect("result").actions.len(), 100);
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn a_100_mb_output_is_rejected() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "memory_mb = 256\ntimeout_ms = 20000", &everything());
    let err = plugin.run(&input(json!({ "mode": "output" }))).await.expect_err("100 MB output must fail");
    assert!(err.to_string().contains("output is 104857602 bytes; the limit is 65536 bytes"), "{err}");
    assert_still_serves(&plugin).await;
    // Under the default 32 MiB cap the guest cannot even build it.
    let (_dir2, small) = hostile(&host, "", &everything());
    let err = small.run(&input(json!({ "mode": "output" }))).await.expect_err("100 MB output must fail");
    assert!(matches!(err, PluginError::MemoryLimit { limit_mb: 32, .. }), "{err}");
    assert_still_serves(&small).await;
}

#[tokio::test]
async fn output_must_be_json() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "", &everything());
    let err = plugin.run(&input(json!({ "mode": "bad-json" }))).await.expect_err("bad JSON must fail");
    assert!(err.to_string().contains("output is not valid JSON"), "{err}");
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn importing_an_ungranted_interface_is_refused_at_install() {
    let host = host();
    let mut grants = everything();
    grants.interfaces.remove(&switchyard_plugin_host::Interface::Http);
    let dir = plugin_dir(
        "hostile",
        "test-hostile",
        "full-step",
        "[capabilities]\ninterfaces = [\"kv\", \"http\", \"cmdb\", \"tickets\", \"directory\", \"secrets\"]\n",
        open_schema(),
    );
    let err = host.load(&dir.manifest, &grants).expect_err("http not granted");
    assert!(matches!(err, PluginError::NotGranted { .. }), "{err}");
    assert_eq!(err.to_string(), "switchyard:plugin/http@0.1.0 is imported but not granted to plugin `hostile`");
    // Granted by the administrator but not requested in the manifest: also refused.
    let dir = plugin_dir("hostile", "test-hostile", "full-step", "", open_schema());
    let err = host.load(&dir.manifest, &everything()).expect_err("nothing requested");
    assert!(matches!(err, PluginError::NotGranted { .. }), "{err}");
    // And the host still serves a properly granted plugin.
    let (_dir, plugin) = hostile(&host, "", &everything());
    assert_still_serves(&plugin).await;
}

/// A one-shot HTTP server on 127.0.0.1 that counts connections.
fn spawn_server(listener: TcpListener) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut served = 0;
        listener.set_nonblocking(false).expect("blocking");
        if let Ok((mut stream, _)) = listener.accept() {
            served += 1;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong");
        }
        served
    })
}

#[tokio::test]
async fn http_to_a_host_not_allowed_is_denied_without_a_connection() {
    let host = host();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    // The manifest asks for 127.0.0.1, but the administrator only grants example.com.
    let mut grants = everything();
    grants.http_hosts = ["example.com".to_string()].into();
    let (_dir, plugin) = hostile(&host, "", &grants);
    let url = format!("http://127.0.0.1:{port}/ping");
    let outcome = plugin.run(&input(json!({ "mode": "http", "url": url }))).await.expect("step runs");
    match outcome.result {
        Err(StepError::Retryable(message)) => {
            assert!(message.contains("host `127.0.0.1` is not in this plugin's http allow-list"), "{message}")
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(100));
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the denied host saw a connection: {other:?}"),
    }
    // Other schemes and credentials are refused too.
    for bad in ["file:///etc/passwd", "http://user:pw@example.com/"] {
        let outcome = plugin.run(&input(json!({ "mode": "http", "url": bad }))).await.expect("step runs");
        assert!(matches!(outcome.result, Err(StepError::Retryable(_))), "{bad}: {:?}", outcome.result);
    }
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn http_to_an_allowed_host_reaches_it() {
    let host = host();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = spawn_server(listener);
    let (_dir, plugin) = hostile(&host, "", &everything());
    let url = format!("http://127.0.0.1:{port}/ping");
    let outcome = plugin.run(&input(json!({ "mode": "http", "url": url }))).await.expect("step runs");
    let result = outcome.result.expect("http call succeeds");
    assert_eq!(result.output["status"], 200);
    assert_eq!(result.output["body"], "pong");
    assert_eq!(server.join().expect("server"), 1);
}

#[tokio::test]
async fn http_calls_are_capped_per_step() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "max_http_calls = 0", &everything());
    let outcome = plugin.run(&input(json!({ "mode": "http", "url": "http://127.0.0.1:9/" }))).await.expect("step runs");
    match outcome.result {
        Err(StepError::Retryable(m)) => assert!(m.contains("http call limit of 0"), "{m}"),
        other => panic!("expected the call cap, got {other:?}"),
    }
}

#[tokio::test]
async fn a_secret_not_granted_is_unreadable() {
    let host = host();
    // The manifest requests api-token and db-password; only api-token is granted.
    let (_dir, plugin) = hostile(&host, "", &everything());
    let outcome = plugin.run(&input(json!({ "mode": "secret", "name": "db-password" }))).await.expect("runs");
    assert_eq!(outcome.result, Err(StepError::Fatal("secret `db-password` is not granted to this plugin".into())));
    let outcome = plugin.run(&input(json!({ "mode": "secret", "name": "api-token" }))).await.expect("runs");
    assert_eq!(outcome.result.expect("granted secret").output["length"], 6);
    assert!(plugin.grants().secrets.iter().all(|s| s == "api-token"));
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn log_volume_is_capped() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "max_log_bytes = 4096", &everything());
    let outcome = plugin.run(&input(json!({ "mode": "logs", "count": 1000 }))).await.expect("runs");
    assert!(outcome.logs_truncated);
    let total: usize = outcome.logs.iter().map(|l| l.message.len()).sum();
    assert!(total <= 4096, "{total}");
    assert!(outcome.result.is_ok());
}

#[tokio::test]
async fn a_stdout_flood_is_cut_off_not_fatal() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "max_log_bytes = 8192", &everything());
    let outcome = plugin.run(&input(json!({ "mode": "stdout", "count": 10000 }))).await.expect("runs");
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let total: usize = outcome.logs.iter().map(|l| l.message.len()).sum();
    assert!(total <= 8192, "{total}");
    assert!(outcome.logs.iter().any(|l| l.message == "hello from stdout"));
    assert_still_serves(&plugin).await;
}

#[tokio::test]
async fn a_plugin_error_is_returned_as_a_step_error() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "", &everything());
    let outcome = plugin.run(&input(json!({ "mode": "fatal" }))).await.expect("runs");
    assert_eq!(outcome.result, Err(StepError::Fatal("the plugin gave up".into())));
}

#[tokio::test]
async fn hostile_calls_in_parallel_do_not_disturb_normal_ones() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "timeout_ms = 300\nmemory_mb = 16", &everything());
    let mut tasks = Vec::new();
    for mode in ["loop", "memory", "recursion", "normal", "normal", "normal"] {
        let plugin = plugin.clone();
        tasks.push(tokio::spawn(async move { (mode, plugin.run(&input(json!({ "mode": mode }))).await) }));
    }
    for task in tasks {
        let (mode, result) = task.await.expect("task");
        match mode {
            "normal" => assert!(result.expect("normal").result.is_ok()),
            _ => assert!(result.is_err(), "{mode} should fail"),
        }
    }
    assert_still_serves(&plugin).await;
}

#[test]
fn capabilities_intersect() {
    let requested: Capabilities = serde_json::from_value(json!({
        "interfaces": ["kv", "http"], "http_hosts": ["API.example.com", "other.example"], "kv_buckets": ["a"]
    }))
    .expect("caps");
    let granted: Capabilities = serde_json::from_value(json!({
        "interfaces": ["http", "secrets"], "http_hosts": ["api.example.com"], "kv_buckets": ["a", "b"]
    }))
    .expect("caps");
    let effective = requested.intersect(&granted);
    assert_eq!(effective.interfaces.len(), 1);
    assert_eq!(effective.http_hosts.iter().collect::<Vec<_>>(), ["api.example.com"]);
    assert_eq!(effective.kv_buckets.iter().collect::<Vec<_>>(), ["a"]);
}

/// A directory whose every call hangs, to prove the deadline covers time
/// spent in host calls, not only guest compute.
struct HangingDirectory;

#[async_trait::async_trait]
impl switchyard_plugin_host::DirectorySource for HangingDirectory {
    async fn get_group(&self, _name: &str) -> Result<Option<switchyard_plugin_host::model::Group>, switchyard_plugin_host::ServiceError> {
        std::future::pending().await
    }
    async fn members(&self, _group: &str) -> Result<Vec<switchyard_plugin_host::model::Agent>, switchyard_plugin_host::ServiceError> {
        std::future::pending().await
    }
    async fn on_shift(&self, _group: &str) -> Result<Vec<switchyard_plugin_host::model::Agent>, switchyard_plugin_host::ServiceError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Vec::new())
    }
    async fn on_call(&self, _schedule: &str, _at_ms: Option<i64>) -> Result<Option<String>, switchyard_plugin_host::ServiceError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_hanging_host_call_is_cut_off_at_the_deadline() {
    let mut services = switchyard_plugin_host::HostServices::in_memory(fixtures());
    services.directory = std::sync::Arc::new(HangingDirectory);
    let host = switchyard_plugin_host::PluginHost::new(switchyard_plugin_host::HostConfig::default(), services).expect("host");
    let (_dir, plugin) = hostile(&host, "timeout_ms = 300", &everything());
    let started = Instant::now();
    let err = plugin.run(&input(json!({ "mode": "directory" }))).await.expect_err("must time out");
    assert!(matches!(err, PluginError::Timeout { timeout_ms: 300, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_still_serves(&plugin).await;
}
