//! Shared helpers: locate the built test components, write plugin
//! directories, build hosts and inputs.

#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_plugin_host::model::{StepContext, StepInput, Ticket, Trigger};
use switchyard_plugin_host::{Capabilities, Fixtures, HostConfig, HostServices, Plugin, PluginHost};

/// The guest workspace's release output directory.
pub fn wasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/target/wasm32-wasip2/release")
}

/// Path of a built component; panics (fails the test) if it is missing.
pub fn wasm(name: &str) -> PathBuf {
    let path = wasm_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} is missing: build the plugin components first with scripts/build-plugins.sh \
         (or: cd plugins && cargo build --release --target wasm32-wasip2 -p {name})",
        path.display()
    );
    path
}

/// A plugin directory written into a temp dir.
pub struct PluginDir {
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
}

/// Writes `plugin.toml` (id, world, extra TOML appended), the schema, and a
/// copy of the named component as `<id>.wasm`.
pub fn plugin_dir(id: &str, component: &str, world: &str, extra_toml: &str, schema: Value) -> PluginDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(wasm(component), dir.path().join(format!("{id}.wasm"))).expect("copy wasm");
    std::fs::write(dir.path().join("config.schema.json"), schema.to_string()).expect("write schema");
    let manifest = dir.path().join("plugin.toml");
    let text = format!(
        "id = \"{id}\"\nversion = \"0.1.0\"\nname = \"{id}\"\ndescription = \"test plugin\"\nkinds = [\"custom\"]\n\
         world = \"{world}\"\nconfig_schema = \"config.schema.json\"\n{extra_toml}\n"
    );
    std::fs::write(&manifest, text).expect("write manifest");
    PluginDir { dir, manifest }
}

pub fn open_schema() -> Value {
    json!({ "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object" })
}

pub fn fixtures() -> Fixtures {
    serde_json::from_value(json!({
        "cis": [
            { "id": 1, "class": "service", "name": "Email", "status": "operational", "owner_group": "messaging" },
            { "id": 2, "class": "server", "name": "mx-01", "status": "operational" },
            { "id": 3, "class": "network", "name": "core-switch", "status": "degraded" }
        ],
        "relations": [
            { "from": 1, "to": 2, "relation": "runs-on" },
            { "from": 2, "to": 3, "relation": "depends-on" }
        ],
        "tickets": [ ticket_json() ],
        "groups": [ { "name": "network", "display_name": "Network team" } ],
        "agents": [
            { "username": "alice", "display_name": "Alice", "on_shift": true, "open_tickets": 5 },
            { "username": "bob", "display_name": "Bob", "on_shift": true, "open_tickets": 2 },
            { "username": "carol", "display_name": "Carol", "on_shift": false, "open_tickets": 0 }
        ],
        "members": { "network": ["alice", "bob", "carol"] },
        "secrets": { "api-token": "s3cret", "db-password": "hunter2" }
    }))
    .expect("fixtures")
}

pub fn host() -> PluginHost {
    host_with(HostConfig::default())
}

pub fn host_with(config: HostConfig) -> PluginHost {
    PluginHost::new(config, HostServices::in_memory(fixtures())).expect("host")
}

pub fn everything() -> Capabilities {
    serde_json::from_value(json!({
        "interfaces": ["log", "kv", "http", "cmdb", "tickets", "directory", "secrets"],
        "http_hosts": ["127.0.0.1"],
        "kv_buckets": ["round-robin"],
        "secrets": ["api-token"]
    }))
    .expect("capabilities")
}

/// About 2 KB of ticket JSON.
pub fn ticket_json() -> Value {
    json!({
        "number": "INC-000123",
        "title": "Email delivery delayed for the finance department",
        "description": "Since 09:10 outbound mail from finance queues for 20+ minutes. ".repeat(12),
        "requester": "dave",
        "channel": "portal",
        "category": "email",
        "subcategory": "delivery",
        "service": 1,
        "affected_cis": [1, 2],
        "impact": 2,
        "urgency": 2,
        "priority": 3,
        "status": "new",
        "assignment_group": "network",
        "escalation_level": 0,
        "watchers": ["erin", "frank"],
        "created_at": 1_763_900_000_000i64,
        "updated_at": 1_763_900_100_000i64,
        "custom_fields": { "cost_center": "FIN-001", "vip": false, "location": "HQ-3" }
    })
}

pub fn input(config: Value) -> StepInput {
    let ticket: Ticket = serde_json::from_value(ticket_json()).expect("ticket");
    StepInput {
        context: StepContext {
            workflow_id: "wf".into(),
            workflow_version: 1,
            run_id: "run-1".into(),
            step_id: "step-1".into(),
            attempt: 1,
            deadline: 0,
            now: 0,
        },
        trigger: Trigger::TicketCreated,
        ticket: Some(ticket),
        config,
        previous: Vec::new(),
    }
}

/// Loads the hostile test plugin with these limits (TOML lines) and grants.
pub fn hostile(host: &PluginHost, limits: &str, grants: &Capabilities) -> (PluginDir, Arc<Plugin>) {
    let extra = format!(
        "[capabilities]\ninterfaces = [\"log\", \"kv\", \"http\", \"cmdb\", \"tickets\", \"directory\", \"secrets\"]\n\
         http_hosts = [\"127.0.0.1\", \"example.com\"]\nkv_buckets = [\"round-robin\"]\nsecrets = [\"api-token\", \"db-password\"]\n\
         [limits]\n{limits}\n"
    );
    let dir = plugin_dir("hostile", "test-hostile", "full-step", &extra, open_schema());
    let plugin = host.load(&dir.manifest, grants).expect("load hostile plugin");
    (dir, plugin)
}

/// After a hostile call, the same host (and plugin) still serves a normal call.
pub async fn assert_still_serves(plugin: &Plugin) {
    let outcome = plugin.run(&input(json!({ "mode": "normal" }))).await.expect("normal call after hostile one");
    let result = outcome.result.expect("normal step result");
    assert_eq!(result.output["ticket"], "INC-000123");
    assert_eq!(result.actions.len(), 1);
}
