//! `switchyard workflow validate` and `switchyard workflow dry-run`: check a
//! workflow document against the installed plugins, and run a draft
//! against the tickets recorded in the configured database, applying
//! nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use switchyard_domain::incident::IncidentNumber;
use switchyard_engine::dry_run::DryRunRequest;
use switchyard_engine::{Engine, EngineConfig, EngineError};
use switchyard_plugin_host::HostServices;
use switchyard_workflow::Format;

use crate::config::Settings;

/// Workflow tools.
#[derive(Debug, clap::Subcommand)]
pub enum WorkflowCommand {
    /// Validate a workflow document (YAML or JSON) against the schema and
    /// the installed plugins (`--plugins-dir`); prints every problem with
    /// its path and line, and exits with status 2 if there is any.
    Validate {
        /// The document.
        file: PathBuf,
    },
    /// Run a draft workflow against recorded tickets of the configured
    /// database without applying anything, and print per ticket what it
    /// would do beside what actually happened.
    DryRun {
        /// The draft document.
        file: PathBuf,
        /// Tickets logged since this instant (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// The newest N tickets (default 50).
        #[arg(long)]
        last: Option<u32>,
        /// Exactly these tickets (repeatable).
        #[arg(long = "ticket")]
        tickets: Vec<String>,
        /// Print the full JSON report instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

fn read(file: &Path) -> anyhow::Result<(String, Format)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let format = Format::from_path(file).unwrap_or(if text.trim_start().starts_with('{') { Format::Json } else { Format::Yaml });
    Ok((text, format))
}

/// Runs a workflow command.
pub async fn run(command: WorkflowCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        WorkflowCommand::Validate { file } => {
            let (text, format) = read(&file)?;
            let (registry, _) = crate::install_plugins(settings, HostServices::default())?;
            match switchyard_engine::catalog::validate_document(&registry, &text, format).await {
                Ok(doc) => {
                    println!("{}: valid ({} version {}, {} step(s))", file.display(), doc.id, doc.version, doc.steps.len());
                    Ok(())
                }
                Err(problems) => {
                    for p in &problems.0 {
                        match p.line {
                            Some(line) => println!("{}:{line}: {}: {} ({})", file.display(), p.path, p.message, p.rule),
                            None => println!("{}: {}: {} ({})", file.display(), p.path, p.message, p.rule),
                        }
                    }
                    eprintln!("{} problem(s)", problems.0.len());
                    std::process::exit(2);
                }
            }
        }
        WorkflowCommand::DryRun { file, since, last, tickets, json } => {
            let (text, format) = read(&file)?;
            let store = crate::open_store(settings).await?;
            let (registry, _) = crate::install_plugins(settings, switchyard_engine::services::host_services(store.clone()))?;
            let engine = Engine::offline(store, registry, EngineConfig::default()).await?;
            let document = match engine.validate(&text, format).await {
                Ok(d) => d,
                Err(EngineError::Workflow(problems)) => bail!("{}: the draft is not valid:\n{problems}", file.display()),
                Err(e) => return Err(e.into()),
            };
            let tickets = tickets.iter().map(|t| t.parse::<IncidentNumber>()).collect::<Result<Vec<_>, _>>()?;
            let report = engine.dry_run(DryRunRequest { document, since, last, tickets }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            println!(
                "{}: {} ticket(s) examined, {} triggered, {} would differ",
                report.workflow, report.tickets_examined, report.tickets_triggered, report.tickets_different
            );
            for t in &report.tickets {
                match (&t.note, t.differences.is_empty()) {
                    (Some(note), _) if !t.triggered => println!("  {}: {note}", t.number),
                    (_, true) => println!("  {}: same as what happened", t.number),
                    (_, false) => println!("  {}: {}", t.number, t.differences.join("; ")),
                }
            }
            Ok(())
        }
    }
}
