//! Fresh, isolated databases for tests: a new SQLite file in a temporary
//! directory, or a new schema in the local PostgreSQL.
//!
//! PostgreSQL tests run whenever the server answers. When it does not, they
//! are skipped with a message, except under `CI=true`, where an unreachable
//! server fails the test: CI must exercise PostgreSQL.

use crate::{Store, StoreOptions};

/// The PostgreSQL server tests use (`SWITCHYARD_TEST_PG_URL` overrides).
pub fn pg_url() -> String {
    std::env::var("SWITCHYARD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store on a database that lives as long as this value.
pub struct TestDatabase {
    /// The migrated store.
    pub store: Store,
    /// The URL it was opened with.
    pub url: String,
    /// The PostgreSQL schema, if any.
    pub schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A migrated store on a new SQLite file.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("switchyard.db").display());
        let store = Store::connect(StoreOptions::new(&url)).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Self { store, url, schema: None, _dir: Some(dir) }
    }

    /// A migrated store in a new PostgreSQL schema, or `None` (skip) when
    /// the server is unreachable outside CI.
    pub async fn postgres() -> Option<Self> {
        let url = pg_url();
        let schema = format!("t_{}_{}", std::process::id(), rand::random::<u32>());
        let options = StoreOptions { schema: Some(schema.clone()), max_connections: 8, ..StoreOptions::new(&url) };
        match Store::connect(options).await {
            Ok(store) => {
                store.migrate().await.expect("migrate postgres");
                Some(Self { store, url, schema: Some(schema), _dir: None })
            }
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("PostgreSQL at {url} is required in CI: {e}"),
            Err(e) => {
                eprintln!("skipping PostgreSQL test: {url} unreachable: {e}");
                None
            }
        }
    }

    /// Another store on the same database (a second server process).
    pub async fn reopen(&self) -> Store {
        let options = StoreOptions { schema: self.schema.clone(), max_connections: 8, ..StoreOptions::new(&self.url) };
        Store::connect(options).await.expect("reopen")
    }
}

impl Drop for TestDatabase {
    /// Drops the PostgreSQL schema (best effort). Implementing `Drop` also
    /// stops a test from moving `store` out and dropping the SQLite
    /// directory while the database is still in use.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        let url = self.url.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                use sea_orm::ConnectionTrait;
                let db = sea_orm::Database::connect(url).await.ok()?;
                db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.ok()?;
                db.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Runs a test body against SQLite and then PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDatabase::sqlite().await;
                ($body)(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDatabase::postgres().await {
                    ($body)(db).await;
                }
            }
        }
    };
}
