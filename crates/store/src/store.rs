//! Connecting to the database and the shared plumbing of the repositories.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionOptions,
    TransactionTrait,
};
use switchyard_migrations::{Migrator, MigratorTrait};

use crate::create_queue::CreateQueue;
use crate::error::StoreError;
use crate::settings::SettingsCache;
use crate::txn::{PG_CHANNEL, Signals, Topic, WriteTxn, parse_payload};

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several Switchyard nodes.
    Postgres,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL schema to use (created if missing); tests isolate with it.
    pub schema: Option<String>,
    /// Connections in the read pool (and the PostgreSQL write pool).
    pub max_connections: u32,
    /// Most incident creates committed in one transaction.
    pub batch_max: usize,
}

impl StoreOptions {
    /// Options for a URL with defaults for everything else.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None, max_connections: 16, batch_max: 256 }
    }
}

/// The record store. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Store {
    pub(crate) read: DatabaseConnection,
    pub(crate) write: DatabaseConnection,
    pub(crate) backend: Backend,
    pub(crate) settings: Arc<Mutex<SettingsCache>>,
    /// `None` in the copy the create queue's writer task holds, so the
    /// queue closes once every public handle is dropped.
    pub(crate) creates: Option<CreateQueue>,
    /// Readers waiting for commits, by topic (see [`crate::txn`]).
    pub(crate) signals: Arc<Signals>,
    /// The PostgreSQL schema (`None`: the server's search path).
    pub(crate) schema: Option<String>,
    /// Whether this process listens for other nodes' wake-ups yet.
    listening: Arc<std::sync::Once>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, without touching the schema. Call [`Store::migrate`] next
    /// (the server does it on start).
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL` (an acknowledged
    /// write survives power loss; group commit pays for the fsync), foreign
    /// keys on, and a pool of one writer connection beside the readers, so
    /// writers in this process queue instead of failing with `SQLITE_BUSY`.
    pub async fn connect(options: StoreOptions) -> Result<Self, StoreError> {
        let backend = if options.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if options.url.starts_with("postgres://") || options.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Domain(switchyard_domain::DomainError::invalid(
                "database_url",
                "scheme",
                format!("`{}` must start with sqlite: or postgres://", redact(&options.url)),
            )));
        };
        let (read, write) = match backend {
            Backend::Sqlite => {
                // The writer keeps a large page cache (it touches the hot
                // pages of every table); readers a small one each, so that
                // 16 readers stay within tens of megabytes.
                let read = Database::connect(sqlite_options(&options.url, options.max_connections, READ_CACHE_KIB)).await?;
                let write = Database::connect(sqlite_options(&options.url, 1, WRITE_CACHE_KIB)).await?;
                (read, write)
            }
            Backend::Postgres => {
                if let Some(schema) = &options.schema {
                    let valid = !schema.is_empty()
                        && schema.len() <= 63
                        && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if !valid {
                        return Err(StoreError::Domain(switchyard_domain::DomainError::invalid(
                            "database_schema",
                            "pattern",
                            format!("`{schema}` must be 1..63 of a-z, 0-9 and _"),
                        )));
                    }
                    let bootstrap = Database::connect(pg_options(&options.url, 1, None)).await?;
                    bootstrap.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await?;
                    bootstrap.close().await?;
                }
                let pool = Database::connect(pg_options(&options.url, options.max_connections, options.schema.as_deref())).await?;
                (pool.clone(), pool)
            }
        };
        let mut store = Self {
            read,
            write,
            backend,
            settings: Arc::new(Mutex::new(SettingsCache::default())),
            creates: None,
            signals: Arc::default(),
            schema: options.schema.clone(),
            listening: Arc::new(std::sync::Once::new()),
        };
        store.creates = Some(CreateQueue::start(store.clone(), options.batch_max.max(1)));
        Ok(store)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.write, None).await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics (SQLite; PostgreSQL's
    /// autovacuum keeps its own). Without current statistics SQLite may
    /// pick a filter's index and sort every match instead of walking the
    /// sort index: 0.5 s instead of 0.3 ms for a category page sorted by
    /// creation time at 1M incidents. `PRAGMA optimize` alone proved too
    /// shy to re-analyse a table that grew from 100k to 1M rows, so the
    /// incidents table is analysed outright whenever it has doubled or
    /// halved since its last analysis (about 3 s at 1M rows), and
    /// `PRAGMA optimize` handles the rest.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let backend = DbBackend::Sqlite;
        let count = |row: Option<sea_orm::QueryResult>| row.and_then(|r| r.try_get_by_index::<i64>(0).ok());
        let rows = count(self.write.query_one_raw(Statement::from_string(backend, "SELECT COALESCE(MAX(id), 0) FROM incidents")).await?)
            .unwrap_or(0);
        // `sqlite_stat1` exists only after a first ANALYZE; its `stat` starts with the row count.
        let analysed = match self
            .write
            .query_one_raw(Statement::from_string(backend, "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_incidents_status'"))
            .await
        {
            Ok(row) => row.and_then(|r| r.try_get_by_index::<String>(0).ok()).and_then(|s| s.split(' ').next()?.parse::<i64>().ok()),
            Err(_) => None,
        };
        let stale = rows > 0 && analysed.is_none_or(|a| rows > 2 * a || a > 2 * rows);
        let sql = if stale { "ANALYZE; PRAGMA optimize = 0x10002;" } else { "PRAGMA optimize = 0x10002;" };
        self.write.execute_unprepared(sql).await?;
        if stale {
            tracing::info!(rows, ?analysed, "analysed the incidents table for the query planner");
        }
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read.ping().await?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so the
    /// write lock is taken up front and another process's writer makes us
    /// wait (busy timeout) rather than fail half-way.
    #[track_caller]
    pub fn begin(&self) -> impl std::future::Future<Output = Result<WriteTxn, StoreError>> + Send + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let options = TransactionOptions {
                sqlite_transaction_mode: (self.backend == Backend::Sqlite).then_some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            let asked = std::time::Instant::now();
            let txn = self.write.begin_with_options(options).await?;
            Ok(WriteTxn::new(txn, self.clone(), caller, asked))
        }
    }

    /// The schema name other nodes' wake-ups are addressed to.
    pub(crate) fn schema_name(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// A new wake-up for `topic`: notified after every commit (of this
    /// process, and on PostgreSQL of every node) that wrote to it. Each
    /// reader takes its own once and waits on it (and polls as well, as a
    /// fallback).
    pub fn subscribe(&self, topic: Topic) -> Arc<tokio::sync::Notify> {
        if self.backend == Backend::Postgres {
            let store = self.clone();
            self.listening.call_once(move || store.listen_to_other_nodes());
        }
        self.signals.subscribe(topic)
    }

    /// Starts the task that turns other nodes' `pg_notify` wake-ups into
    /// local ones. It reconnects after errors and ends when every handle
    /// of this store is gone.
    fn listen_to_other_nodes(&self) {
        let pool = self.write.get_postgres_connection_pool().clone();
        let signals = Arc::downgrade(&self.signals);
        let schema = self.schema_name().to_owned();
        tokio::spawn(async move {
            use sea_orm::sqlx::postgres::PgListener;
            loop {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other nodes' wake-ups; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(PG_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                loop {
                    let Some(signals) = signals.upgrade() else { return };
                    match tokio::time::timeout(std::time::Duration::from_secs(5), listener.try_recv()).await {
                        Err(_) => continue,
                        Ok(Ok(Some(n))) => {
                            if let Some(bits) = parse_payload(n.payload(), &schema) {
                                signals.wake(bits);
                            }
                        }
                        // The connection dropped: notifications may have been
                        // missed, so wake everyone once and reconnect.
                        Ok(Ok(None)) | Ok(Err(_)) => {
                            signals.wake(0xff);
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Takes `n` values from a gap-free counter inside `txn` and returns the
/// first. The row update holds the counter's lock until commit, which is
/// what makes the values gap-free and ordered by commit on PostgreSQL.
pub(crate) async fn allocate(txn: &DatabaseTransaction, counter: &str, n: i64) -> Result<i64, StoreError> {
    let stmt = Query::update()
        .table("counters")
        .value("value", Expr::col("value").add(n))
        .and_where(Expr::col("name").eq(counter))
        .returning_col("value")
        .to_owned();
    let row = txn.query_one(&stmt).await?.ok_or_else(|| StoreError::corrupt("counters", format!("counter `{counter}` is missing")))?;
    let last: i64 = row.try_get("", "value")?;
    Ok(last - n + 1)
}

/// Page cache of the SQLite writer connection, KiB.
const WRITE_CACHE_KIB: u32 = 32 * 1024;
/// Page cache of each SQLite reader connection, KiB.
const READ_CACHE_KIB: u32 = 2 * 1024;

fn sqlite_options(url: &str, max: u32, cache_kib: u32) -> ConnectOptions {
    let mut o = ConnectOptions::new(url.to_owned());
    // Connections are opened on demand (not even one at connect time) and
    // recycled: a SQLite connection plans with the statistics it loaded
    // when it opened, so this is how refreshed statistics
    // (`Store::optimize`, run right after migrations) reach the readers. A
    // reader opened before the first ANALYZE kept a plan 2,000x slower.
    o.max_connections(max)
        .min_connections(0)
        .connect_lazy(true)
        .max_lifetime(Duration::from_secs(30 * 60))
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(30));
    o.map_sqlx_sqlite_opts(move |opts| {
        opts.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", format!("-{cache_kib}"))
    });
    o
}

fn pg_options(url: &str, max: u32, schema: Option<&str>) -> ConnectOptions {
    let mut o = ConnectOptions::new(url.to_owned());
    o.max_connections(max).sqlx_logging(false).acquire_timeout(Duration::from_secs(30)).set_application_name("switchyard");
    if let Some(schema) = schema {
        o.set_schema_search_path(schema.to_owned());
    }
    o
}

/// A database URL with any password removed, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
