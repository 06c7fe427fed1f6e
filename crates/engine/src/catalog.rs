//! Published workflows as the engine runs them, and the plugin catalog a
//! document is validated against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use semver::VersionReq;
use serde_json::Value;
use switchyard_plugin_host::Registry;
use switchyard_store::{Store, WorkflowVersion};
use switchyard_workflow::{CatalogProblem, Format, PluginCatalog, WorkflowDocument};

use crate::EngineError;

/// One published version, parsed.
#[derive(Debug)]
pub struct LoadedWorkflow {
    /// Workflow id.
    pub id: String,
    /// Version.
    pub version: i32,
    /// The document.
    pub document: WorkflowDocument,
}

impl LoadedWorkflow {
    /// A document as loaded (a draft for a dry-run, or a published version).
    pub fn new(document: WorkflowDocument) -> Self {
        LoadedWorkflow { id: document.id.clone(), version: document.version as i32, document }
    }

    /// Whether the document's conditions hold for `ticket`; a condition
    /// that cannot be evaluated is logged and counts as not holding.
    pub fn conditions_hold(&self, ticket: &Value) -> bool {
        self.document.conditions_hold(ticket).unwrap_or_else(|e| {
            tracing::warn!(workflow = %self.id, error = %e, "workflow condition failed to evaluate; not starting");
            false
        })
    }

    /// Whether `event` starts a run of this workflow on `ticket`.
    pub fn triggered_by(&self, event: &switchyard_workflow::TriggerEvent<'_>, ticket: &Value) -> bool {
        self.document.matches(event) && self.conditions_hold(ticket)
    }
}

type Versions = HashMap<(String, i32), Arc<LoadedWorkflow>>;

/// The latest version of every enabled workflow (what new events start),
/// plus every version a run in flight asked for.
pub struct Workflows {
    store: Store,
    active: RwLock<Arc<Vec<Arc<LoadedWorkflow>>>>,
    versions: Mutex<Versions>,
}

impl std::fmt::Debug for Workflows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflows").finish_non_exhaustive()
    }
}

fn parse_stored(v: &WorkflowVersion) -> Result<LoadedWorkflow, EngineError> {
    let document = switchyard_workflow::parse(&v.document.to_string(), Format::Json)?;
    Ok(LoadedWorkflow { id: v.workflow_id.clone(), version: v.version, document })
}

impl Workflows {
    /// An empty catalog over `store`; call [`Workflows::refresh`].
    pub fn new(store: Store) -> Workflows {
        Workflows { store, active: RwLock::new(Arc::new(Vec::new())), versions: Mutex::new(HashMap::new()) }
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, Versions> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reloads the enabled workflows from the store (after a publish or an
    /// enable/disable on this node, and periodically for other nodes').
    pub async fn refresh(&self) -> Result<(), EngineError> {
        let stored = self.store.active_workflows().await?;
        let mut active = Vec::with_capacity(stored.len());
        for v in &stored {
            let cached = self.versions().get(&(v.workflow_id.clone(), v.version)).cloned();
            let loaded = match cached {
                Some(l) => l,
                None => match parse_stored(v) {
                    Ok(l) => {
                        let l = Arc::new(l);
                        self.versions().insert((l.id.clone(), l.version), l.clone());
                        l
                    }
                    Err(e) => {
                        tracing::error!(workflow = %v.workflow_id, version = v.version, error = %e, "stored workflow no longer parses; not running it");
                        continue;
                    }
                },
            };
            active.push(loaded);
        }
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(active);
        Ok(())
    }

    /// The enabled workflows.
    pub fn active(&self) -> Arc<Vec<Arc<LoadedWorkflow>>> {
        self.active.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A specific version (runs keep the version they started on).
    pub async fn version(&self, id: &str, version: i32) -> Result<Arc<LoadedWorkflow>, EngineError> {
        if let Some(l) = self.versions().get(&(id.to_owned(), version)) {
            return Ok(l.clone());
        }
        let stored = self.store.workflow_version(id, version).await?;
        let loaded = Arc::new(parse_stored(&stored)?);
        self.versions().insert((id.to_owned(), version), loaded.clone());
        Ok(loaded)
    }
}

/// Validates workflow steps against the installed plugins: the plugin and
/// a matching version exist, and the step config passes the plugin's
/// config schema.
pub struct RegistryCatalog<'a>(pub &'a Registry);

impl PluginCatalog for RegistryCatalog<'_> {
    fn check_step(&self, plugin: &str, requirement: &VersionReq, config: &Value) -> Result<(), CatalogProblem> {
        let available: Vec<semver::Version> = self.0.list().iter().filter(|p| p.id() == plugin).map(|p| p.version().clone()).collect();
        if available.is_empty() {
            return Err(CatalogProblem::UnknownPlugin);
        }
        let found = self.0.get(plugin, requirement).map_err(|_| CatalogProblem::NoMatchingVersion { available })?;
        let errors = found.config_schema().validate(config);
        if errors.is_empty() {
            Ok(())
        } else {
            // Each error reads `<json pointer>: <message>`; the path becomes
            // dotted so it continues the step's `config` path.
            Err(CatalogProblem::Config(
                errors
                    .into_iter()
                    .map(|e| {
                        let (at, message) = e.split_once(": ").unwrap_or(("/", e.as_str()));
                        let path = at.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(".");
                        (path, message.to_owned())
                    })
                    .collect(),
            ))
        }
    }
}

/// Parses and validates a workflow document completely: syntax, schema
/// and semantic rules, plugins and versions, each step's config against
/// its plugin's schema, and then the plugin's own `validate-config`.
pub async fn validate_document(registry: &Registry, text: &str, format: Format) -> Result<WorkflowDocument, switchyard_workflow::Problems> {
    let document = switchyard_workflow::parse_and_validate(text, format, &RegistryCatalog(registry))?;
    let mut problems = Vec::new();
    for (index, step) in document.steps.iter().enumerate() {
        let Ok(plugin) = registry.get(&step.plugin, &step.version) else { continue };
        if let Err(e) = plugin.validate_config(&step.config).await {
            let messages = match e {
                switchyard_plugin_host::PluginError::InvalidConfig { errors, .. } => errors,
                other => vec![other.to_string()],
            };
            for message in messages {
                problems.push(switchyard_workflow::Problem {
                    path: format!("steps[{index}].config"),
                    line: None,
                    rule: "config".into(),
                    message: format!("plugin `{}` refused the config: {message}", step.plugin),
                });
            }
        }
    }
    if problems.is_empty() { Ok(document) } else { Err(switchyard_workflow::Problems(problems)) }
}

/// Installs every plugin under `dir` (each `<dir>/<id>/plugin.toml` with
/// its component and config schema), granting each what its manifest
/// requests: shipping a plugin in the plugins directory is the
/// administrator's grant. Returns `id@version` of each installed plugin.
pub fn install_directory(
    host: &switchyard_plugin_host::PluginHost,
    registry: &Registry,
    dir: &std::path::Path,
) -> Result<Vec<String>, switchyard_plugin_host::PluginError> {
    let mut manifests: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| switchyard_plugin_host::PluginError::Io { path: dir.to_path_buf(), source: e })?
        .filter_map(|e| e.ok().map(|e| e.path().join("plugin.toml")))
        .filter(|p| p.is_file())
        .collect();
    manifests.sort();
    let mut installed = Vec::new();
    for manifest in manifests {
        let requested = switchyard_plugin_host::Manifest::from_file(&manifest)?.capabilities;
        let plugin = host.load(&manifest, &requested)?;
        installed.push(format!("{}@{}", plugin.id(), plugin.version()));
        registry.install(plugin);
    }
    Ok(installed)
}
