//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde_json::Value;
use switchyard_workflow::{CatalogProblem, Format, PluginCatalog};

/// The example documents under `tests/data`, with their format.
pub fn example_documents() -> Vec<(PathBuf, Format, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut docs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let format = Format::from_path(&path)?;
            let text = std::fs::read_to_string(&path).unwrap();
            Some((path, format, text))
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(docs.len() >= 4, "the example documents are missing");
    docs
}

/// The text of one example document.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
}

/// A plugin catalog held in memory: plugin id -> installed versions, with a
/// few config rules for routing and assignment.
pub struct FakeCatalog {
    plugins: HashMap<&'static str, Vec<Version>>,
    groups: Vec<&'static str>,
}

impl FakeCatalog {
    pub fn new() -> Self {
        let v = |s: &str| Version::parse(s).unwrap();
        let plugins = HashMap::from([
            ("cmdb-lookup", vec![v("0.1.0")]),
            ("routing", vec![v("0.1.0"), v("0.1.4")]),
            ("assignment", vec![v("0.1.0")]),
            ("notification", vec![v("0.1.0"), v("0.2.1")]),
            ("escalation", vec![v("0.1.0")]),
        ]);
        Self { plugins, groups: vec!["dba", "network-ops", "desk-side", "service-desk"] }
    }
}

impl PluginCatalog for FakeCatalog {
    fn check_step(&self, plugin: &str, requirement: &VersionReq, config: &Value) -> Result<(), CatalogProblem> {
        let versions = self.plugins.get(plugin).ok_or(CatalogProblem::UnknownPlugin)?;
        if !versions.iter().any(|v| requirement.matches(v)) {
            return Err(CatalogProblem::NoMatchingVersion { available: versions.clone() });
        }
        let mut problems = Vec::new();
        match plugin {
            // Dotted paths.
            "routing" => {
                for (i, rule) in config["rules"].as_array().into_iter().flatten().enumerate() {
                    let group = rule["group"].as_str().unwrap_or_default();
                    if !self.groups.contains(&group) {
                        problems.push((format!("rules[{i}].group"), format!("unknown group `{group}`")));
                    }
                }
            }
            // JSON pointers.
            "assignment" => {
                let strategy = config["strategy"].as_str().unwrap_or_default();
                if !["skills", "round_robin", "least_loaded"].contains(&strategy) {
                    problems.push(("/strategy".to_owned(), format!("unknown strategy `{strategy}`")));
                }
            }
            _ => {}
        }
        if problems.is_empty() { Ok(()) } else { Err(CatalogProblem::Config(problems)) }
    }
}
