//! The workflow engine's schema: workflow definitions and their versions,
//! the dispatcher's position in the event log, runs and their steps, the
//! timers table, cron marks, the notification outbox, and the plugin data
//! behind the `kv` and `secrets` host interfaces.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; dropped in reverse.
const TABLES: &[&str] = &[
    "workflows",
    "workflow_versions",
    "engine_positions",
    "workflow_runs",
    "workflow_steps",
    "timers",
    "cron_marks",
    "notifications",
    "plugin_kv",
    "plugin_secrets",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("workflows")
                    .col(string_len("id", 64).primary_key())
                    .col(string_len("name", 200))
                    .col(boolean("enabled"))
                    .col(integer("latest_version"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("workflow_versions")
                    .col(string_len("workflow_id", 64))
                    .col(integer("version"))
                    .col(text("document"))
                    .col(text("source"))
                    .col(string_len("format", 8))
                    .col(string_len("created_by", 200))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("workflow_id").col("version"))
                    .to_owned(),
            )
            .await?;
        // Named positions of background readers; `dispatcher` is the last
        // event seq turned into runs. It starts at the current end of the
        // log: workflows react to what happens from now on, not to history.
        manager
            .create_table(
                Table::create().table("engine_positions").col(string_len("name", 64).primary_key()).col(big_integer("value")).to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO engine_positions (name, value) SELECT 'dispatcher', value FROM counters WHERE name = 'event'")
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("workflow_runs")
                    .col(big_pk_auto("id"))
                    .col(string_len("workflow_id", 64))
                    .col(integer("workflow_version"))
                    .col(big_integer_null("incident_id"))
                    .col(string_len("origin", 200))
                    .col(text("trigger"))
                    .col(small_integer("depth"))
                    .col(string_len("status", 16))
                    .col(integer("step"))
                    .col(integer("attempt"))
                    .col(integer("steps_run"))
                    .col(text("outputs"))
                    .col(text_null("error"))
                    .col(big_integer("due_at"))
                    .col(string_len_null("lease_owner", 64))
                    .col(big_integer_null("lease_until"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .col(big_integer_null("finished_at"))
                    .col(integer("version"))
                    .to_owned(),
            )
            .await?;
        // One run per workflow and origin (event seq, cron firing...): a
        // replayed dispatch cannot start a second run.
        manager.create_index(index("workflow_runs", "ux_workflow_runs_origin", &["workflow_id", "origin"]).unique().to_owned()).await?;
        manager.create_index(index("workflow_runs", "ix_workflow_runs_status_due", &["status", "due_at", "id"])).await?;
        manager.create_index(index("workflow_runs", "ix_workflow_runs_incident", &["incident_id", "id"])).await?;
        manager.create_index(index("workflow_runs", "ix_workflow_runs_workflow", &["workflow_id", "id"])).await?;
        // The primary key (run, ordinal) is the idempotency key of a step
        // execution: `ordinal` counts executions in the run (attempts
        // included), so a replayed step commit collides instead of applying
        // twice.
        manager
            .create_table(
                Table::create()
                    .table("workflow_steps")
                    .col(big_integer("run_id"))
                    .col(integer("ordinal"))
                    .col(string_len("step_id", 64))
                    .col(integer("attempt"))
                    .col(string_len("plugin_id", 64))
                    .col(string_len("plugin_version", 64))
                    .col(string_len("plugin_sha256", 64))
                    .col(string_len("status", 16))
                    .col(text("input"))
                    .col(text_null("output"))
                    .col(text("actions"))
                    .col(text("logs"))
                    .col(text_null("error"))
                    .col(big_integer("started_at"))
                    .col(big_integer("duration_us"))
                    .primary_key(Index::create().col("run_id").col("ordinal"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("workflow_steps", "run_id")
                            .to("workflow_runs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("timers")
                    .col(big_pk_auto("id"))
                    .col(string_len("kind", 32))
                    .col(big_integer("due_at"))
                    .col(big_integer_null("run_id"))
                    .col(big_integer_null("incident_id"))
                    .col(text("payload"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("timers", "ix_timers_due", &["due_at", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("cron_marks")
                    .col(string_len("workflow_id", 64))
                    .col(integer("trigger_index"))
                    .col(big_integer("last_fired_at"))
                    .primary_key(Index::create().col("workflow_id").col("trigger_index"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notifications")
                    .col(big_pk_auto("id"))
                    .col(big_integer_null("incident_id"))
                    .col(big_integer("run_id"))
                    .col(string_len("workflow_id", 64))
                    .col(string_len("step_id", 64))
                    .col(string_len("channel", 32))
                    .col(text("recipients"))
                    .col(text("subject"))
                    .col(text("body"))
                    .col(string_len("status", 16))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("notifications", "ix_notifications_status", &["status", "id"])).await?;
        manager.create_index(index("notifications", "ix_notifications_incident", &["incident_id", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_kv")
                    .col(string_len("plugin", 64))
                    .col(string_len("bucket", 64))
                    .col(string_len("key", 255))
                    .col(blob("value"))
                    .col(big_integer_null("expires_at"))
                    .primary_key(Index::create().col("plugin").col("bucket").col("key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_secrets")
                    .col(string_len("plugin", 64))
                    .col(string_len("name", 128))
                    .col(text("value"))
                    .col(big_integer("updated_at"))
                    .primary_key(Index::create().col("plugin").col("name"))
                    .to_owned(),
            )
            .await?;
        // Which run wrote an event: the dispatcher uses it for loop
        // protection (a workflow is not triggered by its own changes).
        manager.alter_table(Table::alter().table("incident_events").add_column(big_integer_null("actor_run_id")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("incident_events").drop_column("actor_run_id").to_owned()).await?;
        for table in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(String::from(*table)).to_owned()).await?;
        }
        Ok(())
    }
}
