//! Loading, bad input, host interfaces, registry, cache and tools, all with
//! real components.

mod common;

use std::path::Path;

use common::*;
use semver::VersionReq;
use serde_json::json;
use switchyard_plugin_host::model::{Action, LogLevel, Trigger};
use switchyard_plugin_host::tools::{self, TestStepRequest};
use switchyard_plugin_host::{Capabilities, HostConfig, PluginError, Registry};

fn echo_dir(version: &str) -> PluginDir {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["group"],
        "properties": {
            "group": { "type": "string", "minLength": 1 },
            "weight": { "type": "integer", "minimum": 0 }
        },
        "additionalProperties": false
    });
    let dir = plugin_dir("echo", "test-echo", "pure-step", "", schema);
    let text = std::fs::read_to_string(&dir.manifest).expect("read");
    std::fs::write(&dir.manifest, text.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))).expect("write");
    dir
}

#[tokio::test]
async fn a_pure_plugin_runs_with_no_grants() {
    let host = host();
    let dir = echo_dir("0.1.0");
    let plugin = host.load(&dir.manifest, &Capabilities::default()).expect("load");
    let outcome = plugin.run(&input(json!({ "group": "network" }))).await.expect("run");
    let result = outcome.result.expect("result");
    assert_eq!(result.actions, vec![Action::AssignGroup { group: "network".into() }]);
    assert_eq!(result.output, json!({ "ticket": "INC-000123", "group": "network" }));
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].level, LogLevel::Info);
    assert_eq!(outcome.logs[0].message, "routing INC-000123 to network");
    assert!(plugin.imports().iter().any(|i| i == "switchyard:plugin/log@0.1.0"));
}

#[tokio::test]
async fn config_is_checked_by_schema_then_by_the_plugin() {
    let host = host();
    let dir = echo_dir("0.1.0");
    let plugin = host.load(&dir.manifest, &Capabilities::default()).expect("load");
    plugin.validate_config(&json!({ "group": "network" })).await.expect("valid");
    let err = plugin.validate_config(&json!({ "group": 5, "weight": -1, "colour": "red" })).await.expect_err("schema");
    let PluginError::InvalidConfig { errors, .. } = &err else { panic!("{err}") };
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("/group:")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("/weight:")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("/:") && e.contains("colour")), "{errors:?}");
    // Passes the schema, fails the plugin's own check.
    let (_d, hostile) = hostile(&host, "", &everything());
    let err = hostile.validate_config(&json!({ "reject": true })).await.expect_err("plugin rejects");
    let PluginError::InvalidConfig { errors, .. } = &err else { panic!("{err}") };
    assert_eq!(errors, &vec!["reject: the plugin refuses this config".to_string(), "second problem".to_string()]);
}

#[tokio::test]
async fn kv_directory_cmdb_tickets_and_stdout_work() {
    let host = host();
    let (_dir, plugin) = hostile(&host, "", &everything());
    for expected in 1..=3 {
        let outcome = plugin.run(&input(json!({ "mode": "kv" }))).await.expect("kv");
        let output = outcome.result.expect("kv result").output;
        assert_eq!(output["count"], expected);
        assert_eq!(output["last"], expected.to_string());
    }
    let outcome = plugin.run(&input(json!({ "mode": "kv", "bucket": "secret-bucket" }))).await.expect("kv");
    assert!(
        matches!(&outcome.result, Err(switchyard_plugin_host::StepError::Fatal(m)) if m.contains("not granted")),
        "{:?}",
        outcome.result
    );
    let outcome = plugin.run(&input(json!({ "mode": "directory" }))).await.expect("directory");
    assert_eq!(outcome.result.expect("dir").actions, vec![Action::AssignUser { user: "bob".into() }]);
    let outcome = plugin.run(&input(json!({ "mode": "cmdb" }))).await.expect("cmdb");
    assert_eq!(outcome.result.expect("cmdb").output, json!({ "name": "Email", "related": ["mx-01", "core-switch"] }));
    let outcome = plugin.run(&input(json!({ "mode": "tickets" }))).await.expect("tickets");
    assert_eq!(outcome.result.expect("tickets").output, json!({ "found": ["INC-000123"] }));
    let outcome = plugin.run(&input(json!({ "mode": "stdout" }))).await.expect("stdout");
    assert!(outcome.logs.iter().any(|l| l.level == LogLevel::Info && l.message == "hello from stdout"));
    assert!(outcome.logs.iter().any(|l| l.level == LogLevel::Warn && l.message == "hello from stderr"));
}

#[test]
fn bad_components_are_refused_with_clear_errors() {
    let host = host();
    let dir = tempfile::tempdir().expect("dir");
    let check = |bytes: &[u8], name: &str, expected: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = host.compile(bytes, &path).map(|_| ()).expect_err(name);
        let text = err.to_string();
        assert!(text.contains(name) && text.contains(expected), "{text}");
    };
    check(b"this is not wasm at all", "garbage.wasm", "not a WebAssembly file");
    check(b"\0asm\x01\0\0\0", "core.wasm", "is a core WebAssembly module, not a component");
    let mut truncated = std::fs::read(wasm("test-echo")).expect("read");
    truncated.truncate(truncated.len() / 2);
    check(&truncated, "truncated.wasm", "not a valid WebAssembly component");
}

#[test]
fn components_for_another_contract_are_refused() {
    let host = host();
    let dir = plugin_dir("future", "test-wrong-version", "pure-step", "", open_schema());
    let err = host.load(&dir.manifest, &Capabilities::default()).expect_err("0.2.0");
    assert!(matches!(err, PluginError::UnsupportedContract { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("future.wasm") && text.contains("switchyard:plugin/log@0.2.0"), "{text}");
    assert!(text.contains("0.1.x"), "{text}");

    let dir = plugin_dir("norun", "test-no-run", "pure-step", "", open_schema());
    let err = host.load(&dir.manifest, &Capabilities::default()).expect_err("no run");
    assert!(matches!(err, PluginError::MissingExport { .. }), "{err}");
    assert!(err.to_string().contains("does not export `run`"), "{err}");
}

#[test]
fn bad_manifests_and_schemas_are_refused() {
    let host = host();
    let dir = echo_dir("0.1.0");
    let manifest = std::fs::read_to_string(&dir.manifest).expect("read");
    let write = |text: &str| std::fs::write(&dir.manifest, text).expect("write");
    let load_err = || host.load(&dir.manifest, &Capabilities::default()).expect_err("must fail").to_string();

    write(&format!("{manifest}colour = \"blue\"\n"));
    let e = load_err();
    assert!(e.contains("plugin.toml") && e.contains("unknown field `colour`"), "{e}");

    write(&manifest.replace("id = \"echo\"", "id = \"Echo Plugin\""));
    let e = load_err();
    assert!(e.contains("plugin.toml") && e.contains("id:"), "{e}");

    write(&manifest.replace("version = \"0.1.0\"", "version = \"one\""));
    let e = load_err();
    assert!(e.contains("plugin.toml") && e.contains("version"), "{e}");

    write(&format!("{manifest}[limits]\ntimeout = 5\n"));
    let e = load_err();
    assert!(e.contains("unknown field `timeout`"), "{e}");

    write(&format!("{manifest}[capabilities]\ninterfaces = [\"kv\"]\n"));
    let e = load_err();
    assert!(e.contains("capabilities.interfaces") && e.contains("pure-step"), "{e}");

    write(&manifest);
    std::fs::write(dir.dir.path().join("config.schema.json"), r#"{"type": 12}"#).expect("write");
    let e = load_err();
    assert!(e.contains("config.schema.json") && e.contains("invalid JSON Schema"), "{e}");
    std::fs::write(dir.dir.path().join("config.schema.json"), "{ nope").expect("write");
    let e = load_err();
    assert!(e.contains("config.schema.json") && e.contains("not valid JSON"), "{e}");
}

#[tokio::test]
async fn registry_hot_reload_keeps_in_flight_calls_on_the_old_version() {
    let host = host();
    let registry = Registry::new();
    let v1 = echo_dir("0.1.0");
    registry.install(host.load(&v1.manifest, &Capabilities::default()).expect("v1"));
    let any = VersionReq::parse("^0.1").expect("req");
    let in_flight = registry.get("echo", &any).expect("get v1");
    assert_eq!(in_flight.version().to_string(), "0.1.0");

    let v2 = echo_dir("0.1.1");
    registry.install(host.load(&v2.manifest, &Capabilities::default()).expect("v2"));
    assert_eq!(registry.get("echo", &any).expect("get").version().to_string(), "0.1.1");
    assert_eq!(registry.get("echo", &VersionReq::parse("=0.1.0").expect("req")).expect("pinned").version().to_string(), "0.1.0");
    // The holder of the old Arc still runs the old version.
    let outcome = in_flight.run(&input(json!({ "group": "dba" }))).await.expect("old runs");
    assert!(outcome.result.is_ok());
    assert_eq!(in_flight.version().to_string(), "0.1.0");

    let err = registry.get("echo", &VersionReq::parse("^1").expect("req")).expect_err("none");
    assert_eq!(err.to_string(), "no installed plugin `echo` matches version `^1`");
    assert!(registry.get("nope", &any).is_err());
    assert_eq!(registry.list().len(), 2);
}

#[tokio::test]
async fn precompiled_components_are_cached_on_disk() {
    let cache = tempfile::tempdir().expect("cache");
    let config = HostConfig { cache_dir: Some(cache.path().to_path_buf()), ..HostConfig::default() };
    let dir = echo_dir("0.1.0");
    let host = host_with(config.clone());
    let first = host.load(&dir.manifest, &Capabilities::default()).expect("first");
    assert!(!first.from_cache());
    let files: Vec<_> = std::fs::read_dir(cache.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
    let fingerprint = host.engine_fingerprint();
    assert!(files.iter().any(|f| f.to_string_lossy() == format!("{}-{fingerprint}.cwasm", first.sha256())), "{files:?}");
    // A new host (a restart) loads the precompiled file instead of compiling.
    let host2 = host_with(config);
    let second = host2.load(&dir.manifest, &Capabilities::default()).expect("second");
    assert!(second.from_cache());
    assert!(second.load_time() < first.load_time(), "{:?} vs {:?}", second.load_time(), first.load_time());
    assert!(second.run(&input(json!({ "group": "x" }))).await.expect("run").result.is_ok());
    // A damaged artifact is detected and replaced.
    for entry in std::fs::read_dir(cache.path()).expect("ls").flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            std::fs::write(entry.path(), b"garbage").expect("damage");
        }
    }
    let third = host2.load(&dir.manifest, &Capabilities::default()).expect("third");
    assert!(!third.from_cache());
    assert!(third.run(&input(json!({ "group": "x" }))).await.expect("run").result.is_ok());
}

#[tokio::test]
async fn inspect_and_test_step_report_text_and_json() {
    let dir = echo_dir("0.1.0");
    let wasm = dir.dir.path().join("echo.wasm");
    let report = tools::inspect(&wasm, &dir.manifest).expect("inspect");
    assert_eq!(report.package.as_deref(), Some("switchyard:plugin@0.1.0"));
    assert_eq!(report.world, "pure-step");
    assert!(report.exports.iter().any(|e| e == "run"));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let text = report.render_text();
    assert!(text.contains("contract    switchyard:plugin@0.1.0"), "{text}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["manifest"]["id"], "echo");

    let write = |name: &str, value: serde_json::Value| {
        let path = dir.dir.path().join(name);
        std::fs::write(&path, value.to_string()).expect("write");
        path
    };
    let request = TestStepRequest {
        wasm: wasm.clone(),
        manifest: dir.manifest.clone(),
        config: write("config.json", json!({ "group": "network" })),
        ticket: Some(write("ticket.json", ticket_json())),
        trigger: Trigger::parse_cli("ticket-updated:status,priority").expect("trigger"),
        fixtures: Some(write("fixtures.json", json!({ "secrets": { "k": "v" } }))),
    };
    let report = tools::test_step(&request).await.expect("test step");
    assert_eq!(report.actions, vec![Action::AssignGroup { group: "network".into() }]);
    assert!(report.render_text().contains("routing INC-000123 to network"));
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["actions"][0]["type"], "assign_group");

    let bad = TestStepRequest { config: write("bad.json", json!({ "group": "" })), ..request.clone() };
    let err = tools::test_step(&bad).await.expect_err("bad config");
    assert!(err.to_string().contains("/group"), "{err}");
    assert!(Path::new(&request.wasm).exists());
}

#[test]
fn http_allow_list_matching() {
    use switchyard_plugin_host::check_http_url;
    let allowed = ["api.example.com".to_string(), "127.0.0.1:8080".to_string()].into();
    assert!(check_http_url("https://API.example.com/v1", &allowed).is_ok());
    assert!(check_http_url("http://127.0.0.1:8080/x", &allowed).is_ok());
    assert!(check_http_url("http://127.0.0.1:8081/x", &allowed).is_err());
    assert!(check_http_url("https://api.example.com.evil.net/", &allowed).is_err());
    assert!(check_http_url("ftp://api.example.com/", &allowed).is_err());
}
