//! Integrator tools behind `switchyard plugin inspect` and
//! `switchyard plugin test`: plain library functions returning reports that
//! render as text or JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::engine::{CONTRACT_PACKAGE, HostConfig, PluginHost};
use crate::error::PluginError;
use crate::manifest::Manifest;
use crate::model::{LogRecord, StepContext, StepError, StepInput, Ticket, Trigger};
use crate::schema::ConfigSchema;
use crate::services::{Fixtures, HostServices};

/// What `plugin inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The world the manifest names.
    pub world: String,
    /// The contract package and version the component was built against
    /// (from its imports), e.g. `switchyard:plugin@0.1.0`.
    pub package: Option<String>,
    /// Everything the component imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
    /// The config JSON Schema.
    pub config_schema: Value,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Component size in bytes.
    pub size_bytes: u64,
    /// Compile time in milliseconds.
    pub compile_ms: f64,
    /// Problems installing it with exactly the capabilities it requests
    /// would hit; empty when it would install.
    pub problems: Vec<String>,
}

impl InspectReport {
    /// Human-readable rendering.
    pub fn render_text(&self) -> String {
        let m = &self.manifest;
        let mut out = String::new();
        let _ = writeln!(out, "plugin      {} {} ({})", m.id, m.version, m.name);
        let _ = writeln!(out, "description {}", m.description);
        let kinds: Vec<String> = m.kinds.iter().map(|k| format!("{k:?}").to_lowercase()).collect();
        let _ = writeln!(out, "kinds       {}", kinds.join(", "));
        let _ = writeln!(out, "world       {}", self.world);
        let _ = writeln!(out, "contract    {}", self.package.as_deref().unwrap_or("(no switchyard imports)"));
        let _ = writeln!(out, "component   {} bytes, sha256 {}", self.size_bytes, self.sha256);
        let _ = writeln!(out, "compile     {:.1} ms", self.compile_ms);
        let _ = writeln!(out, "imports");
        for i in &self.imports {
            let _ = writeln!(out, "  {i}");
        }
        let _ = writeln!(out, "exports");
        for e in &self.exports {
            let _ = writeln!(out, "  {e}");
        }
        let caps = &m.capabilities;
        let ifaces: Vec<&str> = caps.interfaces.iter().map(|i| i.as_str()).collect();
        let _ = writeln!(out, "requests    interfaces [{}]", ifaces.join(", "));
        let _ = writeln!(out, "            http_hosts {:?} kv_buckets {:?} secrets {:?}", caps.http_hosts, caps.kv_buckets, caps.secrets);
        let _ = writeln!(
            out,
            "config      {}",
            serde_json::to_string_pretty(&self.config_schema).unwrap_or_default().replace('\n', "\n            ")
        );
        if self.problems.is_empty() {
            let _ = writeln!(out, "status      ok: installs with the capabilities it requests");
        } else {
            for p in &self.problems {
                let _ = writeln!(out, "problem     {p}");
            }
        }
        out
    }
}

/// Inspects a component and its manifest with a default host.
pub fn inspect(wasm_path: &Path, manifest_path: &Path) -> Result<InspectReport, PluginError> {
    let host = PluginHost::new(HostConfig::default(), HostServices::default())?;
    inspect_with(&host, wasm_path, manifest_path)
}

/// Inspects a component and its manifest with the given host.
pub fn inspect_with(host: &PluginHost, wasm_path: &Path, manifest_path: &Path) -> Result<InspectReport, PluginError> {
    let manifest = Manifest::from_file(manifest_path)?;
    let schema = ConfigSchema::from_file(&manifest.schema_path(manifest_path))?;
    let bytes = std::fs::read(wasm_path).map_err(|e| PluginError::io(wasm_path, e))?;
    let compiled = host.compile(&bytes, wasm_path)?;
    let imports = compiled.import_names(host.engine());
    let exports = compiled.export_names(host.engine());
    let package = imports.iter().find_map(|name| {
        let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
        let (_, version) = rest.split_once('@')?;
        Some(format!("{CONTRACT_PACKAGE}@{version}"))
    });
    let problems = match host.load_parts(manifest.clone(), schema.clone(), &bytes, wasm_path, &manifest.capabilities) {
        Ok(_) => Vec::new(),
        Err(e) => vec![e.to_string()],
    };
    Ok(InspectReport {
        world: manifest.world.as_str().to_string(),
        manifest,
        package,
        imports,
        exports,
        config_schema: schema.document().clone(),
        sha256: compiled.sha256,
        size_bytes: bytes.len() as u64,
        compile_ms: compiled.load_time.as_secs_f64() * 1000.0,
        problems,
    })
}

/// Inputs of `plugin test`.
#[derive(Debug, Clone)]
pub struct TestStepRequest {
    /// The component.
    pub wasm: PathBuf,
    /// Its manifest.
    pub manifest: PathBuf,
    /// The step config (JSON file).
    pub config: PathBuf,
    /// The ticket snapshot (JSON file in the [`Ticket`] shape); `None` for
    /// a run not about one ticket.
    pub ticket: Option<PathBuf>,
    /// The trigger.
    pub trigger: Trigger,
    /// CMDB/tickets/directory/secrets fixtures (JSON file, see [`Fixtures`]).
    pub fixtures: Option<PathBuf>,
}

/// What `plugin test` reports.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Plugin id.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// Proposed actions (empty on error).
    pub actions: Vec<crate::model::Action>,
    /// Output JSON (null on error).
    pub output: Value,
    /// Next step, if the plugin chose one.
    pub next_step: Option<String>,
    /// The plugin's own error, if it returned one.
    pub error: Option<StepError>,
    /// Captured logs.
    pub logs: Vec<LogRecord>,
    /// Instantiate-plus-run wall time in microseconds.
    pub duration_us: u64,
}

impl TestReport {
    /// Human-readable rendering.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "plugin   {} {}", self.plugin, self.version);
        let _ = writeln!(out, "duration {} us", self.duration_us);
        match &self.error {
            Some(e) => {
                let _ = writeln!(out, "error    {e}");
            }
            None => {
                let _ = writeln!(out, "actions  {}", self.actions.len());
                for a in &self.actions {
                    let _ = writeln!(out, "  {}", serde_json::to_string(a).unwrap_or_default());
                }
                let _ = writeln!(out, "output   {}", self.output);
                if let Some(next) = &self.next_step {
                    let _ = writeln!(out, "next     {next}");
                }
            }
        }
        let _ = writeln!(out, "logs     {}", self.logs.len());
        for l in &self.logs {
            let _ = writeln!(out, "  [{:?}] {}", l.level, l.message);
        }
        out
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| PluginError::Fixture { path: path.to_path_buf(), message: e.to_string() })
}

/// Runs one step locally with in-memory services: validates the config
/// (schema, then `validate-config`) and runs the plugin with the
/// capabilities its manifest requests.
pub async fn test_step(request: &TestStepRequest) -> Result<TestReport, PluginError> {
    let fixtures = match &request.fixtures {
        Some(path) => Fixtures::from_file(path)?,
        None => Fixtures::default(),
    };
    let host = PluginHost::new(HostConfig::default(), HostServices::in_memory(fixtures))?;
    let manifest = Manifest::from_file(&request.manifest)?;
    let schema = ConfigSchema::from_file(&manifest.schema_path(&request.manifest))?;
    let bytes = std::fs::read(&request.wasm).map_err(|e| PluginError::io(&request.wasm, e))?;
    let requested = manifest.capabilities.clone();
    let plugin = host.load_parts(manifest, schema, &bytes, &request.wasm, &requested)?;
    let config: Value = read_json(&request.config)?;
    plugin.validate_config(&config).await?;
    let ticket: Option<Ticket> = match &request.ticket {
        Some(path) => Some(read_json(path)?),
        None => None,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let input = StepInput {
        context: StepContext {
            workflow_id: "plugin-test".into(),
            workflow_version: 1,
            run_id: "test-run".into(),
            step_id: "test-step".into(),
            attempt: 1,
            deadline: now,
            now,
        },
        trigger: request.trigger.clone(),
        ticket,
        config,
        previous: Vec::new(),
    };
    let outcome = plugin.run(&input).await?;
    let (actions, output, next_step, error) = match outcome.result {
        Ok(r) => (r.actions, r.output, r.next_step, None),
        Err(e) => (Vec::new(), Value::Null, None, Some(e)),
    };
    Ok(TestReport {
        plugin: plugin.id().to_string(),
        version: plugin.version().to_string(),
        actions,
        output,
        next_step,
        error,
        logs: outcome.logs,
        duration_us: outcome.duration.as_micros() as u64,
    })
}
