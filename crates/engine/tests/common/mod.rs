//! What the engine's test files share: the shipped plugins, an engine on a
//! test database, a starter directory, incidents, and waiting for runs.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_domain::directory::Role;
use switchyard_domain::incident::{Channel, Level};
use switchyard_engine::{Engine, EngineConfig, PublishMode};
use switchyard_plugin_host::{HostConfig, PluginHost, Registry};
use switchyard_store::{Actor, ActorKind, CreateIncident, GroupInput, Store, UserInput};
use switchyard_workflow::{Format, RunStatus};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn plugins_dir() -> PathBuf {
    let dir = root().join("plugins/dist");
    assert!(dir.join("routing/plugin.toml").exists(), "{} is missing: run scripts/build-plugins.sh first", dir.display());
    dir
}

/// An engine with the shipped plugins installed, polling every 50 ms.
pub async fn start(store: &Store, node: &str) -> Engine {
    start_with(store, EngineConfig { node: node.into(), ..EngineConfig::default() }).await
}

/// [`start`] with a configuration of the caller's (hooks, batch sizes).
pub async fn start_with(store: &Store, config: EngineConfig) -> Engine {
    // Compiled components are cached by content and engine hash, so tests
    // can share one cache and compile each plugin once.
    let host_config = HostConfig { cache_dir: Some(std::env::temp_dir().join("switchyard-test-plugin-cache")), ..HostConfig::default() };
    let host = PluginHost::new(host_config, switchyard_engine::services::host_services(store.clone())).unwrap();
    let registry = Arc::new(Registry::new());
    switchyard_engine::catalog::install_directory(&host, &registry, &plugins_dir()).unwrap();
    let config = EngineConfig { poll: Duration::from_millis(50), ..config };
    Engine::start(store.clone(), registry, config).await.unwrap()
}

/// Agents alice, bob, carol (on shift) and dave (off shift), requester
/// rita, and the starter groups.
pub async fn seed_directory(store: &Store) {
    for (name, on_shift) in [("alice", true), ("bob", true), ("carol", true), ("dave", false)] {
        agent(store, name, on_shift).await;
    }
    store.create_user(UserInput { username: "rita".into(), display_name: "Rita".into(), ..Default::default() }).await.unwrap();
    for (group, members) in
        [("service-desk", vec!["alice"]), ("network-ops", vec!["bob", "dave"]), ("dba", vec!["carol"]), ("desk-side", vec![])]
    {
        group_with(store, group, &members).await;
    }
}

pub async fn agent(store: &Store, name: &str, on_shift: bool) {
    store
        .create_user(UserInput {
            username: name.into(),
            display_name: name.into(),
            role: Some(Role::Agent),
            on_shift: Some(on_shift),
            ..Default::default()
        })
        .await
        .unwrap();
}

pub async fn group_with(store: &Store, group: &str, members: &[&str]) {
    store.create_group(GroupInput { name: group.into(), display_name: group.into(), ..Default::default() }).await.unwrap();
    for m in members {
        store.add_member(group, m).await.unwrap();
    }
}

pub fn new_incident(title: &str, category: Option<&str>) -> CreateIncident {
    CreateIncident {
        kind: Default::default(),
        details: Default::default(),
        checklist: Vec::new(),
        title: title.into(),
        description: format!("{title}, reported by phone"),
        requester: "rita".into(),
        channel: Channel::Portal,
        category: category.map(str::to_owned),
        subcategory: None,
        service_id: None,
        affected_ci_ids: vec![],
        impact: Level::new(2).unwrap(),
        urgency: Level::new(2).unwrap(),
        priority_override: None,
        assignment_group: None,
        assignee: None,
        custom_fields: serde_json::json!({}),
        actor: Actor { kind: ActorKind::User, user_id: None, name: "rita".into(), run_id: None },
    }
}

/// Waits until no run is pending, running or waiting.
pub async fn settle(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The dispatcher must have reached the end of the log first: the
        // runs it started are committed with its position, so counting
        // after this sees them.
        let position = store.position("dispatcher").await.unwrap();
        let last = store.events_after(position, 1).await.unwrap();
        let mut busy = 0;
        for s in [RunStatus::Pending, RunStatus::Running, RunStatus::Waiting] {
            busy += store.count_runs(s).await.unwrap();
        }
        if busy == 0 && last.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not settle: {busy} busy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes a shipped workflow file.
pub async fn publish_file(engine: &Engine, name: &str) {
    let text = std::fs::read_to_string(root().join("workflows").join(name)).unwrap();
    engine.publish(&text, Format::Yaml, "test", PublishMode::Always).await.unwrap();
}

/// Publishes a workflow document given as YAML.
pub async fn publish(engine: &Engine, yaml: &str) {
    engine.publish(yaml, Format::Yaml, "test", PublishMode::Always).await.unwrap();
}

/// Installs the test suite's hostile component as plugin `hostile`, granted
/// every interface (http included), with a 1 s deadline.
pub fn install_hostile(engine: &Engine, store: &Store) -> tempfile::TempDir {
    let wasm = root().join("plugins/target/wasm32-wasip2/release/test_hostile.wasm");
    assert!(wasm.exists(), "{} is missing: run scripts/build-plugins.sh first", wasm.display());
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("hostile");
    std::fs::create_dir(&plugin).unwrap();
    std::fs::copy(&wasm, plugin.join("hostile.wasm")).unwrap();
    std::fs::write(plugin.join("config.schema.json"), r#"{"type": "object"}"#).unwrap();
    std::fs::write(
        plugin.join("plugin.toml"),
        "id = \"hostile\"\nversion = \"0.1.0\"\nname = \"Hostile\"\ndescription = \"test\"\nkinds = [\"routing\"]\nworld = \"full-step\"\n\
         component = \"hostile.wasm\"\nconfig_schema = \"config.schema.json\"\n[capabilities]\ninterfaces = [\"log\", \"kv\", \"http\", \"cmdb\", \"tickets\", \"directory\", \"secrets\"]\n\
         kv_buckets = [\"round-robin\"]\n[limits]\ntimeout_ms = 1000\n",
    )
    .unwrap();
    let host = PluginHost::new(HostConfig::default(), switchyard_engine::services::host_services(store.clone())).unwrap();
    switchyard_engine::catalog::install_directory(&host, engine.registry(), dir.path()).unwrap();
    dir
}
