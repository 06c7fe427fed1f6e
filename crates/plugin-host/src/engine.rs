//! The wasmtime engine, component loading and caching, install-time checks
//! and running one step.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap, UpdateDeadline};

use crate::bindings::{FullStep, FullStepPre, wit};
use crate::error::PluginError;
use crate::manifest::{Capabilities, Interface, Limits, Manifest};
use crate::model::{LogRecord, StepError, StepInput, StepResult};
use crate::schema::ConfigSchema;
use crate::services::HostServices;
use crate::state::{PluginIdentity, StepState};

/// The WIT package this host serves.
pub const CONTRACT_PACKAGE: &str = "switchyard:plugin";
/// The contract version this host was built against; components built
/// against any `0.1.x` are accepted (additive changes only within 0.1).
pub const CONTRACT_VERSION: &str = "0.1.0";
const CONTRACT_REQUIREMENT: &str = "^0.1";

/// Host-wide settings.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where precompiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Limits for manifests that set none.
    pub default_limits: Limits,
    /// Caps on what manifests may ask for.
    pub max_limits: Limits,
    /// Instances that may run at once (pooling allocator slots).
    pub max_concurrent_instances: u32,
    /// Epoch tick; deadlines are checked (and the guest yields) this often.
    pub epoch_tick: Duration,
    /// Linear memory kept resident per pooled slot between instances.
    /// Default 8 MiB: measured 17-24 % faster fresh instances than 1 MiB
    /// for the routing plugin (see BENCHMARKS.md), at up to this much RSS
    /// per slot in use.
    pub keep_resident_bytes: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            default_limits: Limits::DEFAULTS,
            max_limits: Limits::MAXIMA,
            max_concurrent_instances: 64,
            epoch_tick: Duration::from_millis(10),
            keep_resident_bytes: 8 << 20,
        }
    }
}

/// Increments the engine epoch from a background thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) struct HostInner {
    pub engine: Engine,
    linker: Linker<StepState>,
    pub config: HostConfig,
    services: HostServices,
    http_client: reqwest::Client,
    _ticker: EpochTicker,
}

/// The plugin host: one wasmtime engine (pooling allocator, epoch
/// interruption), one linker with WASI p2 and the Switchyard interfaces,
/// the host services, and the precompiled-component cache. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Creates a host with these settings and services.
    pub fn new(config: HostConfig, services: HostServices) -> Result<PluginHost, PluginError> {
        let mut pool = PoolingAllocationConfig::new();
        let slots = config.max_concurrent_instances.max(1);
        let max_memory = usize::try_from(config.max_limits.memory_mb.saturating_mul(1024 * 1024)).map_err(PluginError::engine)?;
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_core_instances_per_component(16)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_memory_size(max_memory)
            .linear_memory_keep_resident(config.keep_resident_bytes)
            .table_keep_resident(64 * 1024);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .max_wasm_stack(1 << 20)
            .async_stack_size(2 << 20);
        let engine = Engine::new(&wasm).map_err(PluginError::engine)?;
        let mut linker: Linker<StepState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(PluginError::engine)?;
        FullStep::add_to_linker::<StepState, HasSelf<StepState>>(&mut linker, |state| state).map_err(PluginError::engine)?;
        let http_client = reqwest::Client::builder()
            // Redirects could lead off the allow-list, and a proxy would
            // make the allow-list meaningless.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(PluginError::engine)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick);
        Ok(PluginHost { inner: Arc::new(HostInner { engine, linker, config, services, http_client, _ticker: ticker }) })
    }

    /// The wasmtime engine (for benchmarks and diagnostics).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// A hex digest identifying this engine's compilation settings; part of
    /// every cache key.
    pub fn engine_fingerprint(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.inner.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Compiles (or loads from the cache) a component from bytes.
    /// `path` only labels errors.
    pub fn compile(&self, bytes: &[u8], path: &Path) -> Result<CompiledComponent, PluginError> {
        check_wasm_kind(bytes, path)?;
        let sha256 = hex(&Sha256::digest(bytes));
        let started = Instant::now();
        let (component, from_cache) = match &self.inner.config.cache_dir {
            Some(dir) => self.load_cached(dir, &sha256, bytes, path)?,
            None => (self.compile_fresh(bytes, path)?, false),
        };
        Ok(CompiledComponent { component, sha256, from_cache, load_time: started.elapsed(), path: path.to_path_buf() })
    }

    fn compile_fresh(&self, bytes: &[u8], path: &Path) -> Result<Component, PluginError> {
        Component::new(&self.inner.engine, bytes).map_err(|e| PluginError::InvalidComponent {
            path: path.to_path_buf(),
            message: format!("not a valid WebAssembly component: {}", e.root_cause()),
        })
    }

    fn load_cached(&self, dir: &Path, sha256: &str, bytes: &[u8], path: &Path) -> Result<(Component, bool), PluginError> {
        let file = dir.join(format!("{sha256}-{}.cwasm", self.engine_fingerprint()));
        if file.exists() {
            match deserialize_cached(&self.inner.engine, &file) {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    // A stale or damaged artifact: recompile and overwrite.
                    tracing::warn!(file = %file.display(), error = %e, "discarding unusable precompiled plugin");
                }
            }
        }
        let component = self.compile_fresh(bytes, path)?;
        let serialized = component.serialize().map_err(PluginError::engine)?;
        std::fs::create_dir_all(dir).map_err(|e| PluginError::io(dir, e))?;
        let digest = hex(&Sha256::digest(&serialized));
        // Several hosts (in this process or others) may compile the same
        // plugin at once: each writes its own temporary files and renames
        // them into place, so a reader sees a whole artifact and digest.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = format!("{}.{}", std::process::id(), WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let tmp = dir.join(format!(".{sha256}.{unique}.tmp"));
        let tmp_digest = dir.join(format!(".{sha256}.{unique}.sha256.tmp"));
        std::fs::write(&tmp, &serialized).map_err(|e| PluginError::io(&tmp, e))?;
        std::fs::write(&tmp_digest, digest).map_err(|e| PluginError::io(&tmp_digest, e))?;
        std::fs::rename(&tmp_digest, file.with_extension("cwasm.sha256")).map_err(|e| PluginError::io(&file, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| PluginError::io(&file, e))?;
        Ok((component, false))
    }

    /// Loads a plugin from its manifest: reads the manifest, the config
    /// schema and the component, checks the component's imports against
    /// `granted` (intersected with what the manifest requests) and its
    /// exports against the contract, and prepares it for instantiation.
    /// Nothing is registered; see [`crate::Registry::install`].
    pub fn load(&self, manifest_path: &Path, granted: &Capabilities) -> Result<Arc<Plugin>, PluginError> {
        let manifest = Manifest::from_file(manifest_path)?;
        let schema = ConfigSchema::from_file(&manifest.schema_path(manifest_path))?;
        let wasm_path = manifest.component_path(manifest_path);
        let bytes = std::fs::read(&wasm_path).map_err(|e| PluginError::io(&wasm_path, e))?;
        self.load_parts(manifest, schema, &bytes, &wasm_path, granted)
    }

    /// Like [`PluginHost::load`] with everything already in memory.
    pub fn load_parts(
        &self,
        manifest: Manifest,
        schema: ConfigSchema,
        wasm: &[u8],
        wasm_path: &Path,
        granted: &Capabilities,
    ) -> Result<Arc<Plugin>, PluginError> {
        let compiled = self.compile(wasm, wasm_path)?;
        let grants = manifest.capabilities.intersect(granted);
        let imports = check_imports(&self.inner.engine, &compiled, &manifest.id, &grants)?;
        check_exports(&self.inner.engine, &compiled)?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| PluginError::InvalidComponent { path: wasm_path.to_path_buf(), message: format!("cannot link: {e:#}") })?;
        let pre = FullStepPre::new(instance_pre)
            .map_err(|e| PluginError::MissingExport { path: wasm_path.to_path_buf(), message: format!("{e:#}") })?;
        let limits = Limits::resolve(&manifest.limits, &self.inner.config.default_limits, &self.inner.config.max_limits);
        Ok(Arc::new(Plugin {
            identity: PluginIdentity { id: manifest.id.as_str().into(), version: manifest.version.to_string().into() },
            manifest,
            grants: Arc::new(grants),
            limits,
            schema,
            imports,
            sha256: compiled.sha256,
            load_time: compiled.load_time,
            from_cache: compiled.from_cache,
            pre,
            host: self.inner.clone(),
        }))
    }
}

/// A compiled component, before any contract checks.
#[derive(Clone)]
pub struct CompiledComponent {
    /// The wasmtime component.
    pub component: Component,
    /// SHA-256 of the `.wasm` bytes, hex.
    pub sha256: String,
    /// Whether it came from the precompiled cache.
    pub from_cache: bool,
    /// Compile or cache-load time.
    pub load_time: Duration,
    path: PathBuf,
}

impl CompiledComponent {
    /// Names of everything the component imports.
    pub fn import_names(&self, engine: &Engine) -> Vec<String> {
        self.component.component_type().imports(engine).map(|(name, _)| name.to_string()).collect()
    }

    /// Names of everything the component exports.
    pub fn export_names(&self, engine: &Engine) -> Vec<String> {
        self.component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect()
    }
}

#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, file: &Path) -> Result<Component, String> {
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    let expected = std::fs::read_to_string(file.with_extension("cwasm.sha256")).map_err(|e| e.to_string())?;
    if hex(&Sha256::digest(&bytes)) != expected.trim() {
        return Err("checksum mismatch".into());
    }
    // SAFETY: `Component::deserialize` trusts its input to be wasmtime's own
    // output. The file was written by `load_cached` above via an atomic
    // rename into the host's private cache directory, is named by the
    // source's SHA-256 plus this engine's compatibility hash, and its
    // checksum matches the one written beside it, so it is an artifact this
    // engine configuration produced. (The cache directory must not be
    // writable by anyone the host does not trust.)
    unsafe { Component::deserialize(engine, &bytes) }.map_err(|e| format!("{e:#}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_wasm_kind(bytes: &[u8], path: &Path) -> Result<(), PluginError> {
    let invalid = |message: &str| PluginError::InvalidComponent { path: path.to_path_buf(), message: message.into() };
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(invalid("not a WebAssembly file (missing the `\\0asm` header)"));
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(invalid(
            "is a core WebAssembly module, not a component; build for `wasm32-wasip2` or wrap it with `wasm-tools component new`",
        )),
        [0x0d, 0, 1, 0] => Ok(()),
        _ => Err(invalid("unsupported WebAssembly binary version (expected a component-model component)")),
    }
}

/// Splits `ns:pkg/iface@version` into (`ns:pkg`, `iface`, `version`).
fn split_interface_name(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (package, rest) = name.split_once('/')?;
    let (iface, version) = match rest.split_once('@') {
        Some((i, v)) => (i, Some(v)),
        None => (rest, None),
    };
    Some((package, iface, version))
}

fn contract_version_ok(version: Option<&str>) -> bool {
    let (Some(v), Ok(req)) = (version, semver::VersionReq::parse(CONTRACT_REQUIREMENT)) else {
        return false;
    };
    semver::Version::parse(v).is_ok_and(|v| req.matches(&v))
}

fn check_imports(engine: &Engine, compiled: &CompiledComponent, plugin: &str, grants: &Capabilities) -> Result<Vec<String>, PluginError> {
    let path = &compiled.path;
    let mut names = Vec::new();
    for (name, item) in compiled.component.component_type().imports(engine) {
        names.push(name.to_string());
        let Some((package, iface, version)) = split_interface_name(name) else {
            return Err(PluginError::UnknownImport { path: path.clone(), import: name.to_string() });
        };
        if package == "wasi:http" {
            return Err(PluginError::UnknownImport { path: path.clone(), import: name.to_string() });
        }
        if package.starts_with("wasi:") {
            // Linked to an empty WASI context (no files, env or network).
            continue;
        }
        if package != CONTRACT_PACKAGE || !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            return Err(PluginError::UnknownImport { path: path.clone(), import: name.to_string() });
        }
        if !contract_version_ok(version) {
            return Err(PluginError::UnsupportedContract {
                path: path.clone(),
                import: name.to_string(),
                supported: CONTRACT_REQUIREMENT.trim_start_matches('^').to_string() + ".x",
            });
        }
        if iface == "types" {
            continue;
        }
        let Some(interface) = Interface::from_wit_name(iface) else {
            return Err(PluginError::UnknownImport { path: path.clone(), import: name.to_string() });
        };
        if !grants.allows(interface) {
            return Err(PluginError::NotGranted { plugin: plugin.to_string(), import: name.to_string() });
        }
    }
    Ok(names)
}

fn check_exports(engine: &Engine, compiled: &CompiledComponent) -> Result<(), PluginError> {
    let exports: BTreeSet<String> = compiled.export_names(engine).into_iter().collect();
    for required in ["run", "validate-config"] {
        if !exports.contains(required) {
            return Err(PluginError::MissingExport {
                path: compiled.path.clone(),
                message: format!("the component does not export `{required}` (exports: {exports:?})"),
            });
        }
    }
    Ok(())
}

/// One installed plugin version, ready to run: manifest, effective grants
/// and limits, config schema, and the pre-linked component (`InstancePre`).
/// Each call instantiates a fresh `Store`.
pub struct Plugin {
    identity: PluginIdentity,
    manifest: Manifest,
    grants: Arc<Capabilities>,
    limits: Limits,
    schema: ConfigSchema,
    imports: Vec<String>,
    sha256: String,
    load_time: Duration,
    from_cache: bool,
    pre: FullStepPre<StepState>,
    host: Arc<HostInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The outcome of one step: the plugin's own result plus what the host
/// observed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepOutcome {
    /// The plugin's result or its own error.
    pub result: Result<StepResult, StepError>,
    /// Captured logs (log interface, then stdout/stderr).
    pub logs: Vec<LogRecord>,
    /// Whether logs were cut at the log budget.
    pub logs_truncated: bool,
    /// Wall time of instantiate plus call.
    pub duration: Duration,
}

impl Plugin {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// The plugin version.
    pub fn version(&self) -> &semver::Version {
        &self.manifest.version
    }

    /// The effective grants (requested ∩ granted).
    pub fn grants(&self) -> &Capabilities {
        &self.grants
    }

    /// The resolved limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The component's imports.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// SHA-256 of the component, hex (recorded with every action applied).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// How long compiling or loading the precompiled component took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Whether the component came from the precompiled cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The config schema.
    pub fn config_schema(&self) -> &ConfigSchema {
        &self.schema
    }

    fn new_store(&self, deadline: Instant) -> Store<StepState> {
        let state = StepState::new(
            self.identity.clone(),
            self.grants.clone(),
            self.limits,
            self.host.services.clone(),
            self.host.http_client.clone(),
            deadline,
        );
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield to the executor every tick so a busy guest does not
                // starve other tasks on the same thread.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.limits.timeout_ms)
    }

    /// Validates a step config: first against the manifest's JSON Schema
    /// (every failing path is reported), then with the plugin's own
    /// `validate-config`.
    pub async fn validate_config(&self, config: &Value) -> Result<(), PluginError> {
        let errors = self.schema.validate(config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin: self.manifest.id.clone(), errors });
        }
        let deadline = Instant::now() + self.timeout();
        let mut store = self.new_store(deadline);
        let text = config.to_string();
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance.call_validate_config(&mut store, &text).await
        };
        let result = tokio::time::timeout(self.timeout() + Duration::from_millis(50), call).await;
        match result {
            Err(_) => Err(self.timeout_error()),
            Ok(Err(e)) => Err(self.classify(e, &mut store, deadline)),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(errors))) => Err(PluginError::InvalidConfig { plugin: self.manifest.id.clone(), errors }),
        }
    }

    /// Runs one step in a fresh instance under the plugin's limits and
    /// validates the result. `input.context.deadline` is overwritten with
    /// the real deadline.
    pub async fn run(&self, input: &StepInput) -> Result<StepOutcome, PluginError> {
        self.run_within(input, None).await
    }

    /// [`Plugin::run`] with a shorter time limit (a workflow step's
    /// `timeout_ms`); the manifest's limit still caps it.
    pub async fn run_within(&self, input: &StepInput, limit: Option<Duration>) -> Result<StepOutcome, PluginError> {
        let timeout = limit.map_or(self.timeout(), |l| l.min(self.timeout()));
        self.run_for(input, timeout).await.map_err(|e| match e {
            // Report the limit that applied, not the manifest's.
            PluginError::Timeout { plugin, .. } => PluginError::Timeout { plugin, timeout_ms: timeout.as_millis() as u64 },
            other => other,
        })
    }

    async fn run_for(&self, input: &StepInput, timeout: Duration) -> Result<StepOutcome, PluginError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut wit_input: wit::StepInput = input.into();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        wit_input.context.deadline = now_ms + timeout.as_millis() as i64;
        let mut store = self.new_store(deadline);
        let span = tracing::info_span!(
            "plugin_step",
            plugin = %self.manifest.id,
            plugin_version = %self.manifest.version,
            workflow = %input.context.workflow_id,
            run = %input.context.run_id,
            step = %input.context.step_id,
        );
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance.call_run(&mut store, &wit_input).await
        }
        .instrument(span);
        // The epoch deadline stops guest compute; this outer timeout also
        // covers time spent awaiting host calls.
        let result = tokio::time::timeout(timeout + Duration::from_millis(50), call).await;
        let raw = match result {
            Err(_) => return Err(self.timeout_error()),
            Ok(Err(e)) => return Err(self.classify(e, &mut store, deadline)),
            Ok(Ok(raw)) => raw,
        };
        let duration = started.elapsed();
        store.data_mut().drain_stdio();
        let state = store.into_data();
        let result = match raw {
            Ok(step) => Ok(self.check_result(step)?),
            Err(e) => Err(StepError::from(e)),
        };
        Ok(StepOutcome { result, logs: state.logs, logs_truncated: state.logs_truncated, duration })
    }

    fn timeout_error(&self) -> PluginError {
        PluginError::Timeout { plugin: self.manifest.id.clone(), timeout_ms: self.limits.timeout_ms }
    }

    fn classify(&self, error: wasmtime::Error, store: &mut Store<StepState>, deadline: Instant) -> PluginError {
        let plugin = self.manifest.id.clone();
        if store.data().limiter.hit {
            return PluginError::MemoryLimit { plugin, limit_mb: self.limits.memory_mb };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => return self.timeout_error(),
            Some(Trap::StackOverflow) => {
                return PluginError::Trap { plugin, message: "stack overflow (recursion too deep)".into() };
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return self.timeout_error();
        }
        // A Rust guest prints its panic message to stderr before trapping.
        let stderr = store.data().stderr.contents();
        let stderr = String::from_utf8_lossy(&stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string);
        let root = error.root_cause().to_string();
        let message = match last {
            Some(line) => format!("{root} (stderr: {line})"),
            None => root,
        };
        PluginError::Trap { plugin, message }
    }

    fn check_result(&self, step: wit::StepResult) -> Result<StepResult, PluginError> {
        let invalid = |message: String| PluginError::InvalidOutput { plugin: self.manifest.id.clone(), message };
        let limits = &self.limits;
        if step.actions.len() as u64 > limits.max_actions {
            return Err(invalid(format!("returned {} actions; the limit is {}", step.actions.len(), limits.max_actions)));
        }
        if step.output.len() as u64 > limits.max_output_bytes {
            return Err(invalid(format!("output is {} bytes; the limit is {} bytes", step.output.len(), limits.max_output_bytes)));
        }
        let output: Value = serde_json::from_str(&step.output).map_err(|e| invalid(format!("output is not valid JSON: {e}")))?;
        let mut actions = Vec::with_capacity(step.actions.len());
        for (index, action) in step.actions.into_iter().enumerate() {
            actions.push(model_action(action).map_err(|e| invalid(format!("actions[{index}]: {e}")))?);
        }
        let actions_size = serde_json::to_vec(&actions).map(|v| v.len() as u64).unwrap_or(u64::MAX);
        if actions_size > limits.max_output_bytes {
            return Err(invalid(format!("actions total {actions_size} bytes as JSON; the limit is {} bytes", limits.max_output_bytes)));
        }
        Ok(StepResult { actions, output, next_step: step.next_step })
    }
}

fn model_action(action: wit::Action) -> Result<crate::model::Action, String> {
    action.try_into()
}
