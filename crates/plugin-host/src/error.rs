//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading, installing or running a plugin.
///
/// Variants carry structured fields so callers (the engine, the HTTP layer,
/// the CLI) can map them to stable codes without parsing messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or does not match the manifest format.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The config JSON Schema named by a manifest is unusable.
    #[error("{path}: invalid JSON Schema: {message}")]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The `.wasm` file is not a loadable component.
    #[error("{path}: {message}")]
    InvalidComponent {
        /// The component file (or a label such as `<bytes>`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The component was built against a contract version this host does not serve.
    #[error("{path}: imports `{import}`, but this host serves switchyard:plugin@{supported}")]
    UnsupportedContract {
        /// The component file.
        path: PathBuf,
        /// The offending import or export name.
        import: String,
        /// The contract version range the host serves.
        supported: String,
    },
    /// The component imports something the host does not provide at all.
    #[error("{path}: imports `{import}`, which the Switchyard host does not provide")]
    UnknownImport {
        /// The component file.
        path: PathBuf,
        /// The import name.
        import: String,
    },
    /// The component imports a host interface the administrator did not grant.
    #[error("{import} is imported but not granted to plugin `{plugin}`")]
    NotGranted {
        /// The plugin id.
        plugin: String,
        /// The full import name, e.g. `switchyard:plugin/http@0.1.0`.
        import: String,
    },
    /// The component does not export what the contract requires.
    #[error("{path}: does not implement the switchyard:plugin world: {message}")]
    MissingExport {
        /// The component file.
        path: PathBuf,
        /// Which export is missing or mistyped.
        message: String,
    },
    /// A step config does not satisfy the plugin's JSON Schema and/or its
    /// own `validate-config`.
    #[error("invalid config for plugin `{plugin}`: {}", errors.join("; "))]
    InvalidConfig {
        /// The plugin id.
        plugin: String,
        /// Every failing path with its message (`/path: message`).
        errors: Vec<String>,
    },
    /// No installed plugin matches a lookup.
    #[error("no installed plugin `{id}` matches version `{requirement}`")]
    NotFound {
        /// The plugin id.
        id: String,
        /// The semver requirement that was asked for.
        requirement: String,
    },
    /// The plugin ran past its deadline (guest compute or host calls).
    #[error("plugin `{plugin}` exceeded its {timeout_ms} ms deadline")]
    Timeout {
        /// The plugin id.
        plugin: String,
        /// The deadline that applied.
        timeout_ms: u64,
    },
    /// The guest tried to grow its memory beyond its cap.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mb} MiB")]
    MemoryLimit {
        /// The plugin id.
        plugin: String,
        /// The cap that applied.
        limit_mb: u64,
    },
    /// The guest trapped (panic, stack overflow, unreachable...).
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// The plugin id.
        plugin: String,
        /// The trap description.
        message: String,
    },
    /// The plugin's result broke a limit or the result format.
    #[error("plugin `{plugin}` returned an invalid result: {message}")]
    InvalidOutput {
        /// The plugin id.
        plugin: String,
        /// Which limit or rule was broken.
        message: String,
    },
    /// A fixture file (tests and `plugin test`) is malformed.
    #[error("{path}: {message}")]
    Fixture {
        /// The fixture file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A wasmtime engine or linker operation failed for a reason that is
    /// the host's, not the plugin's.
    #[error("plugin engine: {message}")]
    Engine {
        /// What failed.
        message: String,
    },
}

impl PluginError {
    pub(crate) fn engine(error: impl std::fmt::Display) -> Self {
        PluginError::Engine { message: format!("{error:#}") }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PluginError::Io { path: path.into(), source }
    }
}

/// The error a host service (kv, cmdb, tickets, directory, secrets) reports;
/// the plugin receives its message as the `err` of the WIT `result`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ServiceError(pub String);

impl ServiceError {
    /// Creates a service error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ServiceError(message.into())
    }
}
