//! The shipped plugins (plugins/dist, built by scripts/build-plugins.sh)
//! install with the capabilities they request, accept their example
//! configs and run a step.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use switchyard_plugin_host::Manifest;

fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

async fn check_shipped(id: &str) {
    let manifest_path = plugins_dir().join("dist").join(id).join("plugin.toml");
    assert!(manifest_path.exists(), "{} is missing: build the plugins first with scripts/build-plugins.sh", manifest_path.display());
    let manifest = Manifest::from_file(&manifest_path).expect("manifest");
    // Cached across test runs: the Python component takes tens of seconds
    // to compile in a debug build, and loads in milliseconds when cached.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    let host = host_with(switchyard_plugin_host::HostConfig { cache_dir: Some(cache), ..Default::default() });
    let plugin = host.load(&manifest_path, &manifest.capabilities).unwrap_or_else(|e| panic!("{id}: {e}"));
    let example = plugins_dir().join(id).join("example-config.json");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(&example).expect("example config")).expect("json");
    plugin.validate_config(&config).await.unwrap_or_else(|e| panic!("{id}: {e}"));
    let outcome = plugin.run(&input(config)).await.unwrap_or_else(|e| panic!("{id}: {e}"));
    assert!(outcome.result.is_ok(), "{id}: {:?}", outcome.result);
}

#[tokio::test]
async fn shipped_rust_plugins_install_and_run() {
    for id in ["routing", "assignment", "notification", "escalation", "cmdb-lookup"] {
        check_shipped(id).await;
    }
}

#[tokio::test]
async fn shipped_python_plugin_installs_and_runs() {
    check_shipped("routing-py").await;
}
