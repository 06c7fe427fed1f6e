//! The `switchyard` binary: configuration, logging, wiring and shutdown.

mod bench;
mod bench_integrations;
mod bench_mail;
mod config;
mod mail_gate;
mod plugin_cmd;
mod sla_cmd;
mod workflow_cmd;

use anyhow::Context;
use clap::Parser;
use std::sync::Arc;

use switchyard_domain::directory::Role;
use switchyard_engine::{Engine, EngineConfig};
use switchyard_plugin_host::{HostConfig, HostServices, PluginHost, Registry};
use switchyard_server::AppState;
use switchyard_store::{GroupInput, Store, StoreOptions, UserInput, redact};
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Command, LogFormat, Settings};

// glibc's allocator took about a sixth of the server's CPU under load
// (malloc, free and their consolidation; BENCHMARKS.md); mimalloc's
// per-thread heaps cost a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings.resolve()?;
    init_tracing(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(settings).await,
            Command::Migrate => {
                open_store(&settings).await?;
                println!("Migrations applied to {}", redact(&settings.database_url));
                Ok(())
            }
            Command::Bench(command) => bench::run(command, &settings).await,
            Command::Plugin(command) => plugin_cmd::run(command).await,
            Command::Workflow(command) => workflow_cmd::run(command, &settings).await,
            Command::Sla(command) => sla_cmd::run(command),
            Command::MailGate(args) => mail_gate::run(args).await,
        }
    })
}

fn init_tracing(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Opens the store (creating the data directory) and applies migrations.
async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    }
    let options = StoreOptions { schema: settings.database_schema.clone(), ..StoreOptions::new(&settings.database_url) };
    let store = Store::connect(options).await.with_context(|| format!("connecting to {}", redact(&settings.database_url)))?;
    store.migrate().await.context("applying migrations")?;
    store.optimize().await.context("refreshing planner statistics")?;
    Ok(store)
}

/// Groups created on an empty database (see [`bootstrap_admin`]).
const STARTER_GROUPS: &[(&str, &str)] = &[
    ("service-desk", "Service desk"),
    ("network-ops", "Network operations"),
    ("desk-side", "Desk-side support"),
    ("dba", "Database administration"),
];

/// What [`bootstrap_admin`] generated, to print once.
#[derive(Debug, Default)]
struct Generated {
    token: Option<String>,
    password: Option<String>,
}

/// A random password people can type: 16 letters and digits.
fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect()
}

/// On an empty database, creates the `admin` user (with a password for the
/// web UI), its first token and the starter groups. Returns the secrets it
/// generated (to print once); `None` on a database that has users.
async fn bootstrap_admin(store: &Store, settings: &Settings) -> anyhow::Result<Option<Generated>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password = settings.admin_password.clone().unwrap_or_else(random_password);
    store
        .create_user(UserInput {
            username: "admin".into(),
            display_name: "Administrator".into(),
            role: Some(Role::Admin),
            on_shift: Some(true),
            password: Some(password.clone()),
            ..Default::default()
        })
        .await?;
    let mut generated = Generated { password: settings.admin_password.is_none().then_some(password), token: None };
    // The groups the shipped default workflow routes to, so a first
    // incident is routed and assigned out of the box. `admin` is on shift
    // in the service desk until real agents are added.
    for (name, display_name) in STARTER_GROUPS {
        store
            .create_group(GroupInput {
                name: (*name).into(),
                display_name: (*display_name).into(),
                manager: Some("admin".into()),
                ..Default::default()
            })
            .await?;
    }
    store.add_member("service-desk", "admin").await?;
    match &settings.admin_token {
        Some(token) => {
            store.insert_token("admin", "bootstrap", None, token.clone()).await?;
        }
        None => generated.token = Some(store.create_token("admin", "bootstrap", None).await?.1),
    }
    Ok(Some(generated))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let generated = bootstrap_admin(&store, &settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    println!("Switchyard listening on http://{addr}");
    println!("Database: {}", redact(&settings.database_url));
    println!("Open http://{addr}/ in a browser: agents work queues at /console, requesters report at /portal.");
    match generated {
        Some(generated) => {
            println!("Created user `admin` (on shift in group service-desk) and the groups service-desk, network-ops, desk-side, dba.");
            match generated.password {
                Some(password) => println!("Sign in as `admin` with the password {password} (shown only now)."),
                None => println!("Sign in as `admin` with the password from SWITCHYARD_ADMIN_PASSWORD."),
            }
            if let Some(token) = generated.token {
                println!("The admin API token is shown only now:");
                println!("  {token}");
                println!("Try: curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/me");
            }
        }
        None => println!(
            "Sign in with your username and password; API clients use a token (Authorization: Bearer ...; POST /api/v1/auth/login issues one)."
        ),
    }
    println!("API description: http://{addr}/api/v1/openapi.json");
    let engine = start_engine(&store, &settings, addr).await?;
    // Keep planner statistics fresh as the data grows.
    let maintenance = store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = maintenance.optimize().await {
                tracing::warn!(error = %e, "refreshing planner statistics failed");
            }
        }
    });
    let intake = switchyard_engine::intake::Intake::new(store.clone(), settings.intake.clone());
    match &settings.imap {
        Some(imap) => {
            println!("Mail intake: reading {} (processed mail moves to {})", imap.source(), imap.processed_folder);
            tokio::spawn(switchyard_engine::mailbox::watch(intake.clone(), imap.clone()));
        }
        None => println!("Mail intake: no IMAP host set (SWITCHYARD_IMAP_HOST); `switchyard mail-gate` posts mail to /api/v1/mail/inbound"),
    }
    let app = switchyard_server::router(AppState::with_engine(store, engine.clone()).with_intake(intake));
    tracing::info!(%addr, "serving");
    // Connection info gives the sign-in throttle each client's address.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Hand this node's runs back so another node takes them at once.
    if let Err(e) = engine.shutdown_and_release().await {
        tracing::warn!(error = %e, "handing back this node's runs failed; they move on when their leases expire");
    }
    tracing::info!("stopped");
    Ok(())
}

/// A plugin host over `services` (components cached under the data
/// directory) with every plugin of the plugins directory installed; also
/// returns `id@version` of each. A missing directory installs nothing.
pub(crate) fn install_plugins(settings: &Settings, services: HostServices) -> anyhow::Result<(Arc<Registry>, Vec<String>)> {
    // Pooling slots for the engine's steps, with room for dry-runs and tools.
    let slots = u32::try_from(settings.max_parallel_steps * 2).unwrap_or(u32::MAX);
    let host_config =
        HostConfig { cache_dir: Some(settings.data_dir.join("plugin-cache")), max_concurrent_instances: slots, ..HostConfig::default() };
    let host = PluginHost::new(host_config, services).context("starting the plugin host")?;
    let registry = Arc::new(Registry::new());
    let mut installed = Vec::new();
    if settings.plugins_dir.is_dir() {
        installed = switchyard_engine::catalog::install_directory(&host, &registry, &settings.plugins_dir)
            .with_context(|| format!("installing plugins from {}", settings.plugins_dir.display()))?;
    }
    Ok((registry, installed))
}

/// Installs the plugins, starts the workflow engine and publishes the
/// shipped workflows that are newer than what the database holds.
/// The engine's mail settings, when an SMTP host is configured.
fn mail_settings(settings: &Settings, addr: std::net::SocketAddr) -> anyhow::Result<Option<switchyard_engine::MailSettings>> {
    let Some(mail) = &settings.mail else { return Ok(None) };
    let mailer = switchyard_mail::smtp::Mailer::new(&mail.smtp).map_err(|e| anyhow::anyhow!("{e}"))?;
    let from: switchyard_mail::Mailbox = mail.from.parse().context("SWITCHYARD_MAIL_FROM")?;
    let reply_to = mail.reply_to.as_deref().map(str::parse).transpose().context("SWITCHYARD_MAIL_REPLY_TO")?;
    let domain = from.email.domain().to_owned();
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    Ok(Some(switchyard_engine::MailSettings { mailer, sender: switchyard_mail::message::Sender { from, reply_to, domain }, public_url }))
}

async fn start_engine(store: &Store, settings: &Settings, addr: std::net::SocketAddr) -> anyhow::Result<Engine> {
    let (registry, installed) = install_plugins(settings, switchyard_engine::services::host_services(store.clone()))?;
    if settings.plugins_dir.is_dir() {
        println!("Plugins: {} (from {})", installed.join(", "), settings.plugins_dir.display());
    } else {
        println!("Plugins: none ({} does not exist; build them with scripts/build-plugins.sh)", settings.plugins_dir.display());
    }
    let config = EngineConfig {
        node: settings.node.clone(),
        lease: settings.run_lease,
        max_parallel_steps: settings.max_parallel_steps,
        mail: mail_settings(settings, addr)?,
        retry_base: settings.retry_base,
        public_url: settings.public_url.clone().unwrap_or_else(|| format!("http://{addr}")),
        ..EngineConfig::default()
    };
    match &settings.mail {
        Some(m) => println!("Mail: notifications delivered through {}:{} as {}", m.smtp.host, m.smtp.port, m.from),
        None => println!("Mail: no SMTP host set (SWITCHYARD_SMTP_HOST); notifications stay queued"),
    }
    let engine = Engine::start(store.clone(), registry, config).await.context("starting the workflow engine")?;
    if settings.workflows_dir.is_dir() {
        let published = engine
            .load_directory(&settings.workflows_dir)
            .await
            .with_context(|| format!("publishing workflows from {}", settings.workflows_dir.display()))?;
        if !published.is_empty() {
            println!("Published workflows: {}", published.join(", "));
        }
    }
    let active: Vec<String> = engine.workflows().active().iter().map(|w| format!("{}@{}", w.id, w.version)).collect();
    println!("Active workflows: {}", if active.is_empty() { "none".to_owned() } else { active.join(", ") });
    Ok(engine)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
