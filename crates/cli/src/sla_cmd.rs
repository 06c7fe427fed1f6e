//! `switchyard sla validate`: check SLA calendars and policies documents
//! (JSON, as `PUT /api/v1/sla/calendars` and `/policies` take them) kept as
//! files, against their schemas and against each other, without a server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use switchyard_domain::sla::SlaConfig;

/// SLA tools.
#[derive(Debug, clap::Subcommand)]
pub enum SlaCommand {
    /// Validate a calendars and/or a policies document (JSON); the one not
    /// given is the shipped one. Prints every problem with its path and
    /// rule, and exits with status 2 if there is any.
    Validate {
        /// The calendars document, `{"calendars": [...]}`.
        #[arg(long)]
        calendars: Option<PathBuf>,
        /// The policies document, `{"policies": [...]}`.
        #[arg(long)]
        policies: Option<PathBuf>,
    },
}

fn read(file: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
}

/// Runs an SLA command.
pub fn run(command: SlaCommand) -> anyhow::Result<()> {
    match command {
        SlaCommand::Validate { calendars, policies } => {
            let (shipped_calendars, shipped_policies) = SlaConfig::shipped_documents();
            let calendars_doc = calendars.as_deref().map(read).transpose()?.unwrap_or(shipped_calendars);
            let policies_doc = policies.as_deref().map(read).transpose()?.unwrap_or(shipped_policies);
            match SlaConfig::compile(&calendars_doc, &policies_doc) {
                Ok(config) => {
                    println!(
                        "valid: {} calendar(s), {} policy(ies)",
                        config.calendar_documents().calendars.len(),
                        config.policy_documents().policies.len()
                    );
                    Ok(())
                }
                Err(e) => {
                    for v in e.violations() {
                        println!("{}: {} ({})", v.field, v.message, v.rule);
                    }
                    eprintln!("{} problem(s)", e.violations().len());
                    std::process::exit(2);
                }
            }
        }
    }
}
