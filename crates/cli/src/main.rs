//! The `switchyard` binary: configuration, logging, wiring and shutdown.

mod bench;
mod config;
mod plugin_cmd;

use anyhow::Context;
use clap::Parser;
use switchyard_domain::directory::Role;
use switchyard_server::AppState;
use switchyard_store::{Store, StoreOptions, UserInput, redact};
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Command, LogFormat, Settings};

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

/// On an empty database, creates the `admin` user and its first token.
/// Returns the token when it was generated (to print once).
async fn bootstrap_admin(store: &Store, settings: &Settings) -> anyhow::Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    store
        .create_user(UserInput {
            username: "admin".into(),
            display_name: "Administrator".into(),
            role: Some(Role::Admin),
            ..Default::default()
        })
        .await?;
    match &settings.admin_token {
        Some(token) => {
            store.insert_token("admin", "bootstrap", None, token.clone()).await?;
            Ok(None)
        }
        None => Ok(Some(store.create_token("admin", "bootstrap", None).await?.1)),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let generated = bootstrap_admin(&store, &settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    println!("Switchyard listening on http://{addr}");
    println!("Database: {}", redact(&settings.database_url));
    match generated {
        Some(token) => {
            println!("Created user `admin`. Its API token is shown only now:");
            println!("  {token}");
            println!("Try: curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/me");
        }
        None if settings.admin_token.is_some() => {
            println!("Log in as `admin` with the token from SWITCHYARD_ADMIN_TOKEN (Authorization: Bearer ...).")
        }
        None => println!("Log in with an existing API token (Authorization: Bearer ...)."),
    }
    println!("API description: http://{addr}/api/v1/openapi.json");
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
    let app = switchyard_server::router(AppState::new(store));
    tracing::info!(%addr, "serving");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
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
