//! Configuration: one clap struct, each flag also settable by environment
//! (`SWITCHYARD_*`) and by an optional TOML file. Precedence: file < env < CLI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use switchyard_mail::Security;

/// Switchyard: incident management whose every decision is a WebAssembly plugin.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about = None)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrations are applied on start).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load generator and benchmarks against a running server or a database.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Integrator tools: inspect a plugin, run one step locally.
    #[command(subcommand)]
    Plugin(crate::plugin_cmd::PluginCommand),
    /// Workflow tools: validate a document, dry-run a draft against recorded tickets.
    #[command(subcommand)]
    Workflow(crate::workflow_cmd::WorkflowCommand),
    /// SLA tools: validate calendars and policies documents kept as files.
    #[command(subcommand)]
    Sla(crate::sla_cmd::SlaCommand),
    /// Hand one message on standard input to a running server (for an MTA's pipe transport).
    MailGate(crate::mail_gate::MailGateArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings as given on the command line or in the environment.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// TOML file with any of: data_dir, listen, database_url, database_schema, log_format, log_level, plugins_dir, workflows_dir, node, run_lease_secs.
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Directory for the embedded database and other state [default: ./switchyard-data].
    #[arg(long, global = true, env = "SWITCHYARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "SWITCHYARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB` [default: sqlite in the data dir].
    #[arg(long, global = true, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL schema to use, created if missing [default: the server's search path].
    #[arg(long, global = true, env = "SWITCHYARD_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// Log format [default: text].
    #[arg(long, global = true, env = "SWITCHYARD_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `switchyard=debug` [default: info].
    #[arg(long, global = true, env = "SWITCHYARD_LOG")]
    pub log_level: Option<String>,
    /// Token for the `admin` user created on first start; a random one is
    /// generated and printed once when unset.
    #[arg(long, global = true, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Password of the `admin` user created on first start (for the web
    /// UI); a random one is generated and printed once when unset.
    #[arg(long, global = true, env = "SWITCHYARD_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Directory of installed plugins, one `<id>/plugin.toml` each [default: plugins/dist].
    #[arg(long, global = true, env = "SWITCHYARD_PLUGINS_DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// Directory of workflow documents published at start when newer than the stored version [default: workflows].
    #[arg(long, global = true, env = "SWITCHYARD_WORKFLOWS_DIR")]
    pub workflows_dir: Option<PathBuf>,
    /// This node's name in workflow run leases [default: switchyard].
    #[arg(long, global = true, env = "SWITCHYARD_NODE")]
    pub node: Option<String>,
    /// Seconds a node holds a workflow run before another may take it over [default: 30].
    #[arg(long, global = true, env = "SWITCHYARD_RUN_LEASE_SECS")]
    pub run_lease_secs: Option<u64>,
    /// Plugin steps running at once; each holds a sandbox with its memory [default: 8].
    #[arg(long, global = true, env = "SWITCHYARD_MAX_PARALLEL_STEPS")]
    pub max_parallel_steps: Option<usize>,
    /// The address people open Switchyard at, for links in mail (default: the listen address, as `http://`).
    #[arg(long, global = true, env = "SWITCHYARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Milliseconds before a failed delivery (mail, webhook, chat) is tried again; doubles per attempt, at most an hour [default: 30000].
    #[arg(long, global = true, env = "SWITCHYARD_RETRY_BASE_MS")]
    pub retry_base_ms: Option<u64>,
    /// SMTP server host; notifications are delivered by mail when set.
    #[arg(long, global = true, env = "SWITCHYARD_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP server port [default: 587, 465 with `tls`, 25 with `none`].
    #[arg(long, global = true, env = "SWITCHYARD_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls`, `tls` or `none` [default: starttls].
    #[arg(long, global = true, env = "SWITCHYARD_SMTP_SECURITY")]
    pub smtp_security: Option<String>,
    /// SMTP user name, when the server wants authentication.
    #[arg(long, global = true, env = "SWITCHYARD_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password (never logged).
    #[arg(long, global = true, env = "SWITCHYARD_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// `From` of the mail Switchyard sends (default: `switchyard@localhost`).
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// `Reply-To` of the mail Switchyard sends (the intake address).
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_REPLY_TO")]
    pub mail_reply_to: Option<String>,
    /// The address requesters write to (the `inbound_channel` trigger's channel) [default: Reply-To, else the IMAP user].
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_INTAKE_ADDRESS")]
    pub mail_intake_address: Option<String>,
    /// Mail from an address no user has: `create` a requester, or `refuse` with a reply [default: create].
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_UNKNOWN_SENDERS")]
    pub mail_unknown_senders: Option<String>,
    /// Whether a requester's reply reopens their resolved incident [default: true].
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_REOPEN_ON_REPLY")]
    pub mail_reopen_on_reply: Option<bool>,
    /// Messages handled per sender in 10 minutes; more are ignored [default: 30].
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_RATE_LIMIT")]
    pub mail_rate_limit: Option<u64>,
    /// Largest inbound message in bytes [default: 26214400, 25 MiB].
    #[arg(long, global = true, env = "SWITCHYARD_MAIL_MAX_MESSAGE_BYTES")]
    pub mail_max_message_bytes: Option<usize>,
    /// IMAP server host; mail is read from its mailbox when set.
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_HOST")]
    pub imap_host: Option<String>,
    /// IMAP server port [default: 993, 143 with `starttls` or `none`].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_PORT")]
    pub imap_port: Option<u16>,
    /// `tls`, `starttls` or `none` [default: tls].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_SECURITY")]
    pub imap_security: Option<String>,
    /// IMAP login.
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_USERNAME")]
    pub imap_username: Option<String>,
    /// IMAP password (never logged).
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_PASSWORD", hide_env_values = true)]
    pub imap_password: Option<String>,
    /// The folder read [default: INBOX].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_FOLDER")]
    pub imap_folder: Option<String>,
    /// Where handled mail is moved [default: Processed].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_PROCESSED_FOLDER")]
    pub imap_processed_folder: Option<String>,
    /// Where mail that could not be processed is moved [default: Failed].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_FAILED_FOLDER")]
    pub imap_failed_folder: Option<String>,
    /// Seconds one IDLE waits before it is renewed; also the poll interval without IDLE [default: 300].
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_IDLE_SECS")]
    pub imap_idle_secs: Option<u64>,
    /// PEM file of CA certificates the IMAP server's certificate may chain to, besides the system's.
    #[arg(long, global = true, env = "SWITCHYARD_IMAP_CA_FILE")]
    pub imap_ca_file: Option<PathBuf>,
}

/// The same settings, from the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    database_schema: Option<String>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    plugins_dir: Option<PathBuf>,
    workflows_dir: Option<PathBuf>,
    node: Option<String>,
    run_lease_secs: Option<u64>,
    max_parallel_steps: Option<usize>,
    public_url: Option<String>,
    retry_base_ms: Option<u64>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_security: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    mail_from: Option<String>,
    mail_reply_to: Option<String>,
    mail_intake_address: Option<String>,
    mail_unknown_senders: Option<String>,
    mail_reopen_on_reply: Option<bool>,
    mail_rate_limit: Option<u64>,
    mail_max_message_bytes: Option<usize>,
    imap_host: Option<String>,
    imap_port: Option<u16>,
    imap_security: Option<String>,
    imap_username: Option<String>,
    imap_password: Option<String>,
    imap_folder: Option<String>,
    imap_processed_folder: Option<String>,
    imap_failed_folder: Option<String>,
    imap_idle_secs: Option<u64>,
    imap_ca_file: Option<PathBuf>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// PostgreSQL schema.
    pub database_schema: Option<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Bootstrap admin token.
    pub admin_token: Option<String>,
    /// Bootstrap admin password.
    pub admin_password: Option<String>,
    /// Installed plugins.
    pub plugins_dir: PathBuf,
    /// Shipped workflows.
    pub workflows_dir: PathBuf,
    /// Node name.
    pub node: String,
    /// Plugin steps running at once.
    pub max_parallel_steps: usize,
    /// Run lease.
    pub run_lease: std::time::Duration,
    /// Where people open Switchyard (links in mail).
    pub public_url: Option<String>,
    /// The first wait before a failed delivery is tried again.
    pub retry_base: std::time::Duration,
    /// Mail delivery, when an SMTP host is set.
    pub mail: Option<MailSettings>,
    /// How inbound mail is handled (by the IMAP loop, `mail-gate` and the API).
    pub intake: switchyard_engine::intake::IntakeSettings,
    /// The mailbox read, when an IMAP host is set.
    pub imap: Option<switchyard_mail::imap::ImapConfig>,
}

/// Outgoing mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server.
    pub smtp: switchyard_mail::smtp::SmtpConfig,
    /// `From`.
    pub from: String,
    /// `Reply-To`.
    pub reply_to: Option<String>,
}

impl SettingsArgs {
    /// Merges file < env/CLI (clap already put CLI over env) < defaults last.
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file = match &self.config_file {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("switchyard-data"));
        let database_url = match self.database_url.or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}?mode=rwc", data_dir.join("switchyard.db").display()),
        };
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("SWITCHYARD_ADMIN_TOKEN must be at least 16 characters");
        }
        let mail = match self.smtp_host.or(file.smtp_host) {
            None => None,
            Some(host) => {
                let security = security("SWITCHYARD_SMTP_SECURITY", self.smtp_security.or(file.smtp_security), Security::Starttls)?;
                let port = self.smtp_port.or(file.smtp_port).unwrap_or(match security {
                    Security::Starttls => 587,
                    Security::Tls => 465,
                    Security::None => 25,
                });
                let from = self.mail_from.or(file.mail_from).unwrap_or_else(|| "switchyard@localhost".into());
                if from.parse::<switchyard_mail::Mailbox>().is_err() {
                    bail!("SWITCHYARD_MAIL_FROM: `{from}` is not a mail address");
                }
                let reply_to = self.mail_reply_to.or(file.mail_reply_to);
                if let Some(r) = &reply_to
                    && r.parse::<switchyard_mail::Mailbox>().is_err()
                {
                    bail!("SWITCHYARD_MAIL_REPLY_TO: `{r}` is not a mail address");
                }
                let smtp = switchyard_mail::smtp::SmtpConfig {
                    host,
                    port,
                    security,
                    username: self.smtp_username.or(file.smtp_username),
                    password: self.smtp_password.or(file.smtp_password),
                    timeout_secs: 30,
                    pool_size: 8,
                };
                Some(MailSettings { smtp, from, reply_to })
            }
        };
        let imap = match self.imap_host.or(file.imap_host) {
            None => None,
            Some(host) => {
                let security = security("SWITCHYARD_IMAP_SECURITY", self.imap_security.or(file.imap_security), Security::Tls)?;
                let Some(username) = self.imap_username.or(file.imap_username) else {
                    bail!("SWITCHYARD_IMAP_USERNAME: required when SWITCHYARD_IMAP_HOST is set");
                };
                let idle = std::time::Duration::from_secs(self.imap_idle_secs.or(file.imap_idle_secs).unwrap_or(300).clamp(1, 1740));
                Some(switchyard_mail::imap::ImapConfig {
                    port: self.imap_port.or(file.imap_port).unwrap_or(if security == Security::Tls { 993 } else { 143 }),
                    host,
                    security,
                    username,
                    password: self.imap_password.or(file.imap_password).unwrap_or_default(),
                    folder: self.imap_folder.or(file.imap_folder).unwrap_or_else(|| "INBOX".into()),
                    processed_folder: self.imap_processed_folder.or(file.imap_processed_folder).unwrap_or_else(|| "Processed".into()),
                    failed_folder: self.imap_failed_folder.or(file.imap_failed_folder).unwrap_or_else(|| "Failed".into()),
                    idle_timeout: idle,
                    poll: idle.min(std::time::Duration::from_secs(60)),
                    timeout: std::time::Duration::from_secs(60),
                    ca_file: self.imap_ca_file.or(file.imap_ca_file),
                })
            }
        };
        let from = mail.as_ref().map_or("switchyard@localhost", |m| m.from.as_str());
        let from_address = from.parse::<switchyard_mail::Mailbox>().map(|m| m.email).ok();
        let intake_address = self
            .mail_intake_address
            .or(file.mail_intake_address)
            .or_else(|| mail.as_ref().and_then(|m| m.reply_to.clone()))
            .or_else(|| imap.as_ref().map(|i| i.username.clone()).filter(|u| u.contains('@')))
            .unwrap_or_else(|| "servicedesk@localhost".into());
        let intake_address = match intake_address.parse::<switchyard_mail::Mailbox>() {
            Ok(m) => m.email.to_string().to_lowercase(),
            Err(_) => bail!("SWITCHYARD_MAIL_INTAKE_ADDRESS: `{intake_address}` is not a mail address"),
        };
        let defaults = switchyard_engine::intake::IntakeSettings::default();
        let unknown_senders = match self.mail_unknown_senders.or(file.mail_unknown_senders) {
            Some(v) => v.parse().map_err(|e| anyhow::anyhow!("SWITCHYARD_MAIL_UNKNOWN_SENDERS: {e}"))?,
            None => defaults.unknown_senders,
        };
        let intake = switchyard_engine::intake::IntakeSettings {
            address: intake_address,
            // Our Message-IDs carry the From domain (see the delivery worker).
            domain: from_address.map_or_else(|| "localhost".into(), |a| a.domain().to_owned()),
            unknown_senders,
            reopen_on_reply: self.mail_reopen_on_reply.or(file.mail_reopen_on_reply).unwrap_or(defaults.reopen_on_reply),
            rate_limit: self.mail_rate_limit.or(file.mail_rate_limit).unwrap_or(defaults.rate_limit),
            rate_window: defaults.rate_window,
            limits: switchyard_mail::inbound::Limits {
                max_message_bytes: self.mail_max_message_bytes.or(file.mail_max_message_bytes).unwrap_or(defaults.limits.max_message_bytes),
                ..defaults.limits
            },
        };
        Ok(Settings {
            public_url: self.public_url.or(file.public_url),
            retry_base: std::time::Duration::from_millis(self.retry_base_ms.or(file.retry_base_ms).unwrap_or(30_000).clamp(10, 3_600_000)),
            mail,
            intake,
            imap,
            listen: self.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            log_format: self.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log_level: self.log_level.or(file.log_level).unwrap_or_else(|| "info".into()),
            admin_token: self.admin_token,
            admin_password: self.admin_password,
            plugins_dir: self.plugins_dir.or(file.plugins_dir).unwrap_or_else(|| PathBuf::from("plugins/dist")),
            workflows_dir: self.workflows_dir.or(file.workflows_dir).unwrap_or_else(|| PathBuf::from("workflows")),
            node: self.node.or(file.node).unwrap_or_else(|| "switchyard".into()),
            run_lease: std::time::Duration::from_secs(self.run_lease_secs.or(file.run_lease_secs).unwrap_or(30).max(1)),
            max_parallel_steps: self.max_parallel_steps.or(file.max_parallel_steps).unwrap_or(8).clamp(1, 256),
            database_schema: self.database_schema.or(file.database_schema),
            data_dir,
            database_url,
        })
    }
}

/// A connection security setting, `default` when unset.
fn security(name: &str, value: Option<String>, default: Security) -> anyhow::Result<Security> {
    value.map_or(Ok(default), |v| v.parse().map_err(|e| anyhow::anyhow!("{name}: {e}")))
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> SettingsArgs {
        Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()).chain(["serve"])).unwrap().settings
    }

    #[test]
    fn file_is_overridden_by_cli_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("switchyard.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/sy\"\nlog_format = \"json\"\n").unwrap();
        let s = parse(&["--config-file", file.to_str().unwrap(), "--listen", "127.0.0.1:9100"]).resolve().unwrap();
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.data_dir, PathBuf::from("/srv/sy"));
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.database_url, "sqlite:///srv/sy/switchyard.db?mode=rwc");
        let s = parse(&[]).resolve().unwrap();
        assert_eq!(s.listen.port(), 8080);
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listen_addr = \"x\"\n").unwrap();
        let err = parse(&["--config-file", file.to_str().unwrap()]).resolve().unwrap_err();
        assert!(format!("{err:#}").contains("unknown field `listen_addr`"), "{err:#}");
    }
}
