//! Integrations with other systems: monitoring and chat integrations
//! (`integrations`, each with its own secret token, kept as a SHA-256),
//! one row per alert fingerprint with the incident it feeds (`alerts`),
//! outbound webhook subscriptions with their signing secrets
//! (`webhook_subscriptions`), the escalation of each paged incident
//! (`escalations`), and notifications that know their subscription and
//! what they replay. The `webhooks` and `pager` readers of the event log
//! start at its end.

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
                    .table("integrations")
                    .col(big_pk_auto("id"))
                    .col(string_len("name", 100))
                    .col(string_len("kind", 32))
                    .col(string_len("token_sha256", 64))
                    .col(text_null("secret"))
                    .col(text("settings"))
                    .col(boolean("enabled"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("integrations", "ux_integrations_name", &["name"]).unique().to_owned()).await?;
        manager.create_index(index("integrations", "ux_integrations_token", &["token_sha256"]).unique().to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("alerts")
                    .col(big_pk_auto("id"))
                    .col(big_integer("integration_id"))
                    .col(string_len("fingerprint", 200))
                    .col(big_integer("incident_id"))
                    .col(string_len("status", 16))
                    .col(big_integer("occurrences"))
                    .col(big_integer("first_seen"))
                    .col(big_integer("last_seen"))
                    .col(big_integer_null("resolved_at"))
                    .col(text("title"))
                    .col(string_len_null("severity", 64))
                    .col(text("labels"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("alerts", "ux_alerts_fingerprint", &["integration_id", "fingerprint"]).unique().to_owned()).await?;
        manager.create_index(index("alerts", "ix_alerts_incident", &["incident_id", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_subscriptions")
                    .col(big_pk_auto("id"))
                    .col(string_len("name", 100))
                    .col(text("url"))
                    .col(string_len("format", 16))
                    .col(text("events"))
                    .col(text_null("filter"))
                    .col(text("secret"))
                    .col(text_null("previous_secret"))
                    .col(big_integer_null("previous_until"))
                    .col(integer("timeout_ms"))
                    .col(boolean("enabled"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("webhook_subscriptions", "ux_webhook_subscriptions_name", &["name"]).unique().to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("escalations")
                    .col(big_integer("incident_id").primary_key())
                    .col(string_len("policy", 130))
                    .col(string_len("status", 16))
                    .col(big_integer("started_at"))
                    .col(integer("pass"))
                    .col(integer("level"))
                    .col(big_integer_null("acknowledged_at"))
                    .col(big_integer_null("acknowledged_by"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("escalations", "ix_escalations_status", &["status", "incident_id"])).await?;
        let add = |column: ColumnDef| Table::alter().table("notifications").add_column(column).to_owned();
        manager.alter_table(add(big_integer_null("subscription_id"))).await?;
        manager.alter_table(add(big_integer_null("replay_of"))).await?;
        manager.create_index(index("notifications", "ix_notifications_subscription", &["subscription_id", "id"])).await?;
        for reader in ["webhooks", "pager"] {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "INSERT INTO engine_positions (name, value) SELECT '{reader}', value FROM counters WHERE name = 'event'"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DELETE FROM engine_positions WHERE name IN ('webhooks', 'pager')").await?;
        manager.drop_index(Index::drop().name("ix_notifications_subscription").table("notifications").to_owned()).await?;
        for column in ["replay_of", "subscription_id"] {
            manager.alter_table(Table::alter().table("notifications").drop_column(column).to_owned()).await?;
        }
        for table in ["escalations", "webhook_subscriptions", "alerts", "integrations"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
