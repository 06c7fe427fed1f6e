//! Service levels: the SLA clocks of each incident (recomputed from its
//! history by the SLA tracker), per-incident service facts for the reports
//! (first assignment, first response, reopen count, business time to
//! resolution), customer satisfaction answers, and the index that lets the
//! tracker replace one incident's SLA timers.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sla_clocks")
                    .col(big_integer("incident_id"))
                    .col(string_len("target", 16))
                    .col(string_len("policy_id", 64))
                    .col(string_len("calendar_id", 64))
                    .col(string_len("state", 16))
                    .col(big_integer("started_at"))
                    .col(big_integer("duration_us"))
                    .col(big_integer("elapsed_us"))
                    .col(big_integer("paused_us"))
                    .col(big_integer_null("due_at"))
                    .col(big_integer_null("breached_at"))
                    .col(big_integer_null("stopped_at"))
                    .col(big_integer("computed_at"))
                    .primary_key(Index::create().col("incident_id").col("target"))
                    .to_owned(),
            )
            .await?;
        // Compliance reports count clocks decided in a time range: met when
        // they stopped, breached when they breached.
        manager.create_index(index("sla_clocks", "ix_sla_clocks_stopped", &["target", "stopped_at", "incident_id"])).await?;
        manager.create_index(index("sla_clocks", "ix_sla_clocks_breached", &["target", "breached_at", "incident_id"])).await?;
        manager.create_index(index("sla_clocks", "ix_sla_clocks_state_due", &["state", "due_at", "incident_id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("incident_service_facts")
                    .col(big_integer("incident_id").primary_key())
                    .col(big_integer_null("first_assigned_at"))
                    .col(big_integer_null("responded_at"))
                    .col(integer("reopen_count"))
                    .col(big_integer_null("resolution_business_us"))
                    .col(big_integer("computed_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("incident_csat")
                    .col(big_integer("incident_id").primary_key())
                    .col(small_integer("score"))
                    .col(text_null("comment"))
                    .col(big_integer("user_id"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        // The tracker replaces an incident's SLA timers on every change.
        manager.create_index(index("timers", "ix_timers_incident", &["incident_id", "kind"])).await?;
        // Reports filter resolved incidents by their resolution time.
        manager.create_index(index("incidents", "ix_incidents_resolved_at", &["resolved_at", "id"])).await?;
        // The tracker reads the whole log from the start, so incidents that
        // existed before this migration get their clocks too.
        manager
            .get_connection()
            .execute_unprepared("INSERT INTO engine_positions (name, value) VALUES ('sla', 0), ('sla_config', 0)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DELETE FROM engine_positions WHERE name IN ('sla', 'sla_config')").await?;
        manager.drop_index(Index::drop().name("ix_incidents_resolved_at").table("incidents").to_owned()).await?;
        manager.drop_index(Index::drop().name("ix_timers_incident").table("timers").to_owned()).await?;
        for table in ["incident_csat", "incident_service_facts", "sla_clocks"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
