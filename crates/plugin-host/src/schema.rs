//! Plugin config JSON Schemas (draft 2020-12).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::PluginError;

/// A compiled config schema and its source document.
#[derive(Clone)]
pub struct ConfigSchema {
    path: PathBuf,
    document: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSchema").field("path", &self.path).finish_non_exhaustive()
    }
}

impl ConfigSchema {
    /// Reads and compiles a schema file.
    pub fn from_file(path: &Path) -> Result<ConfigSchema, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, e))?;
        let document: Value = serde_json::from_str(&text)
            .map_err(|e| PluginError::Schema { path: path.to_path_buf(), message: format!("not valid JSON: {e}") })?;
        ConfigSchema::from_value(document, path)
    }

    /// Compiles a schema document; `path` labels errors.
    pub fn from_value(document: Value, path: &Path) -> Result<ConfigSchema, PluginError> {
        if !document.is_object() && !document.is_boolean() {
            return Err(PluginError::Schema { path: path.to_path_buf(), message: "a JSON Schema must be an object or a boolean".into() });
        }
        let validator = jsonschema::draft202012::new(&document)
            .map_err(|e| PluginError::Schema { path: path.to_path_buf(), message: format!("at `{}`: {e}", e.instance_path()) })?;
        Ok(ConfigSchema { path: path.to_path_buf(), document, validator: Arc::new(validator) })
    }

    /// The schema document (served to the workflow designer's config forms).
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every validation failure, as `<json pointer>: <message>`; empty when valid.
    pub fn validate(&self, config: &Value) -> Vec<String> {
        self.validator
            .iter_errors(config)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                format!("{at}: {e}")
            })
            .collect()
    }
}
