//! Installed plugins, looked up by id and semver requirement, with hot reload.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use semver::{Version, VersionReq};

use crate::engine::Plugin;
use crate::error::PluginError;

/// The installed plugins. Installing a version makes later lookups see it
/// at once; calls already running keep their `Arc<Plugin>` to whatever
/// version they looked up, so a reload never disturbs them.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: RwLock<HashMap<String, BTreeMap<Version, Arc<Plugin>>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, BTreeMap<Version, Arc<Plugin>>>> {
        // Writers only insert or remove whole entries, so a poisoned lock
        // still guards a consistent map.
        self.plugins.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, BTreeMap<Version, Arc<Plugin>>>> {
        self.plugins.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Installs a loaded plugin (see [`crate::PluginHost::load`]); returns
    /// the plugin it replaced if the same id and version was installed.
    pub fn install(&self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        let id = plugin.id().to_string();
        let version = plugin.version().clone();
        tracing::info!(plugin = %id, version = %version, sha256 = plugin.sha256(), "plugin installed");
        self.write().entry(id).or_default().insert(version, plugin)
    }

    /// Removes one version; returns it if it was installed.
    pub fn uninstall(&self, id: &str, version: &Version) -> Option<Arc<Plugin>> {
        let mut plugins = self.write();
        let versions = plugins.get_mut(id)?;
        let removed = versions.remove(version);
        if versions.is_empty() {
            plugins.remove(id);
        }
        removed
    }

    /// The highest installed version of `id` matching `requirement`.
    pub fn get(&self, id: &str, requirement: &VersionReq) -> Result<Arc<Plugin>, PluginError> {
        self.read()
            .get(id)
            .and_then(|versions| versions.iter().rev().find(|(v, _)| requirement.matches(v)).map(|(_, p)| p.clone()))
            .ok_or_else(|| PluginError::NotFound { id: id.to_string(), requirement: requirement.to_string() })
    }

    /// Every installed plugin version, ordered by id then version.
    pub fn list(&self) -> Vec<Arc<Plugin>> {
        let plugins = self.read();
        let mut ids: Vec<&String> = plugins.keys().collect();
        ids.sort();
        ids.into_iter().flat_map(|id| plugins[id].values().cloned()).collect()
    }
}
