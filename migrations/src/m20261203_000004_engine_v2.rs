//! Engine v2 and search:
//! - `workflow_runs.executions`: step attempts ended, retries included
//!   (`steps_run` now means steps started, as the run state machine counts
//!   them; before, it counted attempts, so existing runs copy it over);
//! - `ix_incidents_category_created`: a category page sorted by creation
//!   time walks one index instead of sorting every match;
//! - full-text search over title and description: an FTS5 table kept in
//!   step by triggers on SQLite, a generated `tsvector` column with a GIN
//!   index on PostgreSQL. Both are written in the transaction that writes
//!   the incident.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_SEARCH: &[&str] = &[
    "CREATE VIRTUAL TABLE incident_search USING fts5(title, description, content='incidents', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents BEGIN
        INSERT INTO incident_search(rowid, title, description) VALUES (new.id, new.title, new.description);
    END",
    "CREATE TRIGGER incident_search_delete AFTER DELETE ON incidents BEGIN
        INSERT INTO incident_search(incident_search, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
    END",
    "CREATE TRIGGER incident_search_update AFTER UPDATE OF title, description ON incidents
        WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
        INSERT INTO incident_search(incident_search, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
        INSERT INTO incident_search(rowid, title, description) VALUES (new.id, new.title, new.description);
    END",
    "INSERT INTO incident_search(incident_search) VALUES ('rebuild')",
];

const POSTGRES_SEARCH: &[&str] = &[
    "ALTER TABLE incidents ADD COLUMN search tsvector GENERATED ALWAYS AS \
     (setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('simple', coalesce(description, '')), 'B')) STORED",
    "CREATE INDEX ix_incidents_search ON incidents USING GIN (search)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("workflow_runs").add_column(integer("executions").default(0)).to_owned()).await?;
        manager.get_connection().execute_unprepared("UPDATE workflow_runs SET executions = steps_run").await?;
        manager.create_index(index("incidents", "ix_incidents_category_created", &["category", "created_at", "id"])).await?;
        let statements = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => POSTGRES_SEARCH,
            _ => SQLITE_SEARCH,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                conn.execute_unprepared("DROP INDEX IF EXISTS ix_incidents_search").await?;
                conn.execute_unprepared("ALTER TABLE incidents DROP COLUMN search").await?;
            }
            _ => {
                for t in ["incident_search_insert", "incident_search_delete", "incident_search_update"] {
                    conn.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}")).await?;
                }
                conn.execute_unprepared("DROP TABLE IF EXISTS incident_search").await?;
            }
        }
        manager.drop_index(Index::drop().name("ix_incidents_category_created").table("incidents").to_owned()).await?;
        manager.alter_table(Table::alter().table("workflow_runs").drop_column("executions").to_owned()).await?;
        Ok(())
    }
}
