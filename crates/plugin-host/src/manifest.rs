//! The plugin manifest (`plugin.toml`), capabilities, grants and limits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::PluginError;

/// What a plugin is for; the workflow designer filters plugins by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Picks an assignment group.
    Routing,
    /// Picks an assignee.
    Assignment,
    /// Sends notifications.
    Notification,
    /// Raises escalation levels.
    Escalation,
    /// Enriches tickets from the CMDB.
    CmdbLookup,
    /// Anything else an integrator invents.
    Custom,
}

/// Which WIT world the component targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorldName {
    /// `pure-step`: log only.
    PureStep,
    /// `full-step`: every host interface (subject to grants).
    FullStep,
}

impl WorldName {
    /// The WIT name of the world.
    pub fn as_str(self) -> &'static str {
        match self {
            WorldName::PureStep => "pure-step",
            WorldName::FullStep => "full-step",
        }
    }
}

/// A host interface a plugin may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// `switchyard:plugin/log`.
    Log,
    /// `switchyard:plugin/kv`.
    Kv,
    /// `switchyard:plugin/http`.
    Http,
    /// `switchyard:plugin/cmdb`.
    Cmdb,
    /// `switchyard:plugin/tickets`.
    Tickets,
    /// `switchyard:plugin/directory`.
    Directory,
    /// `switchyard:plugin/secrets`.
    Secrets,
}

impl Interface {
    /// Every host interface.
    pub const ALL: [Interface; 7] =
        [Interface::Log, Interface::Kv, Interface::Http, Interface::Cmdb, Interface::Tickets, Interface::Directory, Interface::Secrets];

    /// The WIT interface name (`log`, `kv`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Log => "log",
            Interface::Kv => "kv",
            Interface::Http => "http",
            Interface::Cmdb => "cmdb",
            Interface::Tickets => "tickets",
            Interface::Directory => "directory",
            Interface::Secrets => "secrets",
        }
    }

    /// Parses a WIT interface name.
    pub fn from_wit_name(name: &str) -> Option<Interface> {
        Interface::ALL.into_iter().find(|i| i.as_str() == name)
    }
}

/// Capabilities: what a manifest requests, what an administrator grants, and
/// (as their intersection) what a plugin gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Host interfaces the plugin may import.
    #[serde(default)]
    pub interfaces: BTreeSet<Interface>,
    /// Host names (optionally `host:port`) allowed for `http.send`.
    #[serde(default)]
    pub http_hosts: BTreeSet<String>,
    /// kv buckets the plugin may use.
    #[serde(default)]
    pub kv_buckets: BTreeSet<String>,
    /// Secret names the plugin may read.
    #[serde(default)]
    pub secrets: BTreeSet<String>,
}

impl Capabilities {
    /// What a plugin gets: the capabilities both requested and granted.
    /// Host names compare case-insensitively.
    pub fn intersect(&self, granted: &Capabilities) -> Capabilities {
        let lower = |set: &BTreeSet<String>| -> BTreeSet<String> { set.iter().map(|h| h.to_ascii_lowercase()).collect() };
        Capabilities {
            interfaces: self.interfaces.intersection(&granted.interfaces).copied().collect(),
            http_hosts: lower(&self.http_hosts).intersection(&lower(&granted.http_hosts)).cloned().collect(),
            kv_buckets: self.kv_buckets.intersection(&granted.kv_buckets).cloned().collect(),
            secrets: self.secrets.intersection(&granted.secrets).cloned().collect(),
        }
    }

    /// Whether these capabilities include `interface` (`log` always is).
    pub fn allows(&self, interface: Interface) -> bool {
        interface == Interface::Log || self.interfaces.contains(&interface)
    }
}

/// Limits a manifest asks for; unset fields take the host's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Wall-clock deadline of one step, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear memory cap, in MiB.
    pub memory_mb: Option<u64>,
    /// Maximum number of actions one step may return.
    pub max_actions: Option<u64>,
    /// Maximum size of the step's output JSON, in bytes; the actions,
    /// serialized as JSON, are held to the same cap separately.
    pub max_output_bytes: Option<u64>,
    /// Maximum log volume of one step (log interface plus stdout/stderr), in bytes.
    pub max_log_bytes: Option<u64>,
    /// Maximum number of `http.send` calls in one step.
    pub max_http_calls: Option<u64>,
    /// Maximum size of one HTTP response body, in bytes.
    pub max_http_response_bytes: Option<u64>,
    /// Maximum size of one kv value, in bytes.
    pub max_kv_value_bytes: Option<u64>,
}

/// The resolved limits a plugin runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock deadline of one step, in milliseconds.
    pub timeout_ms: u64,
    /// Linear memory cap, in MiB.
    pub memory_mb: u64,
    /// Maximum number of actions one step may return.
    pub max_actions: u64,
    /// Maximum size of the step's output JSON, in bytes; the actions,
    /// serialized as JSON, are held to the same cap separately.
    pub max_output_bytes: u64,
    /// Maximum log volume of one step, in bytes.
    pub max_log_bytes: u64,
    /// Maximum number of `http.send` calls in one step.
    pub max_http_calls: u64,
    /// Maximum size of one HTTP response body, in bytes.
    pub max_http_response_bytes: u64,
    /// Maximum size of one kv value, in bytes.
    pub max_kv_value_bytes: u64,
}

impl Limits {
    /// The host's defaults for a manifest that sets nothing.
    pub const DEFAULTS: Limits = Limits {
        timeout_ms: 2_000,
        memory_mb: 32,
        max_actions: 100,
        max_output_bytes: 64 * 1024,
        max_log_bytes: 64 * 1024,
        max_http_calls: 4,
        max_http_response_bytes: 1024 * 1024,
        max_kv_value_bytes: 64 * 1024,
    };

    /// The host's maxima: a manifest asking for more gets these.
    pub const MAXIMA: Limits = Limits {
        timeout_ms: 30_000,
        memory_mb: 256,
        max_actions: 1_000,
        max_output_bytes: 1024 * 1024,
        max_log_bytes: 1024 * 1024,
        max_http_calls: 32,
        max_http_response_bytes: 8 * 1024 * 1024,
        max_kv_value_bytes: 1024 * 1024,
    };

    /// Resolves requested limits: defaults for unset fields, capped by `maxima`.
    pub fn resolve(requested: &RequestedLimits, defaults: &Limits, maxima: &Limits) -> Limits {
        let pick = |asked: Option<u64>, default: u64, max: u64| asked.unwrap_or(default).min(max);
        Limits {
            timeout_ms: pick(requested.timeout_ms, defaults.timeout_ms, maxima.timeout_ms),
            memory_mb: pick(requested.memory_mb, defaults.memory_mb, maxima.memory_mb),
            max_actions: pick(requested.max_actions, defaults.max_actions, maxima.max_actions),
            max_output_bytes: pick(requested.max_output_bytes, defaults.max_output_bytes, maxima.max_output_bytes),
            max_log_bytes: pick(requested.max_log_bytes, defaults.max_log_bytes, maxima.max_log_bytes),
            max_http_calls: pick(requested.max_http_calls, defaults.max_http_calls, maxima.max_http_calls),
            max_http_response_bytes: pick(
                requested.max_http_response_bytes,
                defaults.max_http_response_bytes,
                maxima.max_http_response_bytes,
            ),
            max_kv_value_bytes: pick(requested.max_kv_value_bytes, defaults.max_kv_value_bytes, maxima.max_kv_value_bytes),
        }
    }
}

/// A parsed `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin id, `[a-z0-9-]+`.
    pub id: String,
    /// Plugin version (semver).
    pub version: semver::Version,
    /// Display name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// What the plugin is for.
    pub kinds: Vec<PluginKind>,
    /// The WIT world the component targets.
    pub world: WorldName,
    /// Component path relative to the manifest; default `<id>.wasm`.
    #[serde(default)]
    pub component: Option<String>,
    /// Config JSON Schema path relative to the manifest.
    pub config_schema: String,
    /// Requested capabilities.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Requested limits.
    #[serde(default)]
    pub limits: RequestedLimits,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn from_file(path: &Path) -> Result<Manifest, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, e))?;
        Manifest::from_toml(&text, path)
    }

    /// Parses and validates manifest text; `path` is used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Manifest, PluginError> {
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| PluginError::Manifest { path: path.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    fn validate(&self, path: &Path) -> Result<(), PluginError> {
        let fail = |message: String| PluginError::Manifest { path: path.to_path_buf(), message };
        if self.id.is_empty() || self.id.len() > 64 || !self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(fail(format!("id: `{}` must match [a-z0-9-]+ (at most 64 characters)", self.id)));
        }
        if self.name.trim().is_empty() {
            return Err(fail("name: must not be empty".into()));
        }
        if self.kinds.is_empty() {
            return Err(fail("kinds: must list at least one kind".into()));
        }
        for (field, value) in [("component", self.component.as_deref()), ("config_schema", Some(&self.config_schema))] {
            if let Some(value) = value
                && (value.is_empty() || Path::new(value).is_absolute() || value.split(['/', '\\']).any(|p| p == ".."))
            {
                return Err(fail(format!("{field}: `{value}` must be a relative path inside the plugin directory")));
            }
        }
        if self.world == WorldName::PureStep
            && let Some(extra) = self.capabilities.interfaces.iter().find(|i| **i != Interface::Log)
        {
            return Err(fail(format!(
                "capabilities.interfaces: `{}` is not available in world `pure-step` (use `full-step`)",
                extra.as_str()
            )));
        }
        for host in &self.capabilities.http_hosts {
            if host.is_empty() || host.contains('/') || host.contains("://") {
                return Err(fail(format!("capabilities.http_hosts: `{host}` must be a host name or host:port")));
            }
        }
        let limits = &self.limits;
        for (field, value) in [
            ("limits.timeout_ms", limits.timeout_ms),
            ("limits.memory_mb", limits.memory_mb),
            ("limits.max_output_bytes", limits.max_output_bytes),
        ] {
            if value == Some(0) {
                return Err(fail(format!("{field}: must be greater than 0")));
            }
        }
        Ok(())
    }

    /// The component file name relative to the manifest.
    pub fn component_file(&self) -> String {
        self.component.clone().unwrap_or_else(|| format!("{}.wasm", self.id))
    }

    /// Resolves the component path against the manifest's directory.
    pub fn component_path(&self, manifest_path: &Path) -> PathBuf {
        manifest_dir(manifest_path).join(self.component_file())
    }

    /// Resolves the config schema path against the manifest's directory.
    pub fn schema_path(&self, manifest_path: &Path) -> PathBuf {
        manifest_dir(manifest_path).join(&self.config_schema)
    }
}

fn manifest_dir(manifest_path: &Path) -> &Path {
    manifest_path.parent().unwrap_or(Path::new("."))
}
