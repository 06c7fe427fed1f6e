//! `switchyard plugin inspect` and `switchyard plugin test`: thin clap
//! wrappers over `switchyard_plugin_host::tools`.
//!
//! Wiring (in main.rs): `mod plugin_cmd;`, a `Plugin { #[command(subcommand)]
//! cmd: plugin_cmd::PluginCommand }` variant in the top-level command enum,
//! and `plugin_cmd::run(cmd).await` in its match arm. Needs the
//! `switchyard-plugin-host`, `clap`, `anyhow`, `serde_json` and `tokio`
//! dependencies.

use std::path::PathBuf;

use anyhow::Context as _;
use switchyard_plugin_host::model::Trigger;
use switchyard_plugin_host::tools::{self, TestStepRequest};

/// Integrator tools for plugins.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's manifest, WIT world and contract version, imports,
    /// exports and config schema, and whether it would install with the
    /// capabilities it requests.
    Inspect {
        /// The component (`.wasm`).
        wasm: PathBuf,
        /// Its manifest (`plugin.toml`).
        manifest: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one step of a plugin locally against fixture data, granting it
    /// exactly what its manifest requests.
    Test {
        /// The component (`.wasm`).
        wasm: PathBuf,
        /// Its manifest (`plugin.toml`).
        manifest: PathBuf,
        /// The step config (JSON file).
        #[arg(long)]
        config: PathBuf,
        /// The ticket snapshot (JSON file); omit for a run not about one ticket.
        #[arg(long)]
        ticket: Option<PathBuf>,
        /// The trigger: `ticket-created`, `ticket-updated:<fields>`,
        /// `manual:<user>`, `inbound-channel:<name>`, or JSON.
        #[arg(long, default_value = "ticket-created")]
        trigger: String,
        /// CMDB/tickets/directory/secrets fixtures (JSON file).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a plugin subcommand, printing its report to stdout.
pub async fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Inspect { wasm, manifest, json } => {
            let report = tokio::task::spawn_blocking(move || tools::inspect(&wasm, &manifest)).await.context("inspect task failed")??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
        }
        PluginCommand::Test { wasm, manifest, config, ticket, trigger, fixtures, json } => {
            let trigger = Trigger::parse_cli(&trigger).map_err(anyhow::Error::msg)?;
            let request = TestStepRequest { wasm, manifest, config, ticket, trigger, fixtures };
            let report = tools::test_step(&request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            if report.error.is_some() {
                anyhow::bail!("the plugin returned an error");
            }
        }
    }
    Ok(())
}
