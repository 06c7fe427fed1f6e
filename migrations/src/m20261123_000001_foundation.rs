//! The foundation schema: directory, CMDB, incidents and their event log.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; dropped in reverse.
const TABLES: &[&str] = &[
    "counters",
    "settings",
    "users",
    "api_tokens",
    "groups",
    "group_members",
    "cis",
    "ci_relationships",
    "incidents",
    "incident_cis",
    "incident_events",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Gap-free sequences (incident numbers, event sequence): one row per
        // sequence, incremented inside the writing transaction.
        manager
            .create_table(Table::create().table("counters").col(string_len("name", 64).primary_key()).col(big_integer("value")).to_owned())
            .await?;
        manager.get_connection().execute_unprepared("INSERT INTO counters (name, value) VALUES ('incident', 0), ('event', 0)").await?;
        manager
            .create_table(
                Table::create()
                    .table("settings")
                    .col(string_len("key", 64).primary_key())
                    .col(text("value"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("username", 64))
                    .col(string_len("display_name", 200))
                    .col(string_len_null("email", 254))
                    .col(string_len("role", 16))
                    .col(boolean("active"))
                    .col(boolean("on_shift"))
                    .col(text("skills"))
                    .col(text_null("password_hash"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .col(big_pk_auto("id"))
                    .col(big_integer("user_id"))
                    .col(string_len("name", 100))
                    .col(string_len_uniq("token_hash", 64))
                    .col(string_len("prefix", 16))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("expires_at"))
                    .col(big_integer_null("revoked_at"))
                    .foreign_key(ForeignKey::create().from("api_tokens", "user_id").to("users", "id"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("api_tokens", "ix_api_tokens_user", &["user_id", "id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("groups")
                    .col(big_pk_auto("id"))
                    .col(string_len_uniq("name", 64))
                    .col(string_len("display_name", 200))
                    .col(string_len_null("email", 254))
                    .col(big_integer_null("manager_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(ForeignKey::create().from("groups", "manager_id").to("users", "id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("group_members")
                    .col(big_integer("group_id"))
                    .col(big_integer("user_id"))
                    .primary_key(Index::create().col("group_id").col("user_id"))
                    .foreign_key(
                        ForeignKey::create().from("group_members", "group_id").to("groups", "id").on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create().from("group_members", "user_id").to("users", "id").on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("group_members", "ix_group_members_user", &["user_id", "group_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("cis")
                    .col(big_pk_auto("id"))
                    .col(string_len("class", 32))
                    .col(string_len("name", 200))
                    .col(string_len("status", 32))
                    .col(big_integer_null("owner_group_id"))
                    .col(text("attributes"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .foreign_key(ForeignKey::create().from("cis", "owner_group_id").to("groups", "id"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("cis", "ix_cis_class", &["class", "id"])).await?;
        manager.create_index(index("cis", "ix_cis_name", &["name", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("ci_relationships")
                    .col(big_pk_auto("id"))
                    .col(big_integer("source_id"))
                    .col(string_len("kind", 32))
                    .col(big_integer("target_id"))
                    .col(big_integer("created_at"))
                    .foreign_key(
                        ForeignKey::create().from("ci_relationships", "source_id").to("cis", "id").on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create().from("ci_relationships", "target_id").to("cis", "id").on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ci_relationships", "ux_ci_relationships", &["source_id", "kind", "target_id"]).unique().to_owned())
            .await?;
        manager.create_index(index("ci_relationships", "ix_ci_relationships_target", &["target_id", "source_id"])).await?;

        // The incident's primary key is its number, allocated from `counters`.
        manager
            .create_table(
                Table::create()
                    .table("incidents")
                    .col(big_integer("id").primary_key())
                    .col(string_len("title", 800))
                    .col(text("description"))
                    .col(big_integer("requester_id"))
                    .col(string_len("channel", 16))
                    .col(string_len_null("category", 400))
                    .col(string_len_null("subcategory", 400))
                    .col(big_integer_null("service_id"))
                    .col(small_integer("impact"))
                    .col(small_integer("urgency"))
                    .col(small_integer("priority"))
                    .col(text_null("priority_override_reason"))
                    .col(string_len("status", 16))
                    .col(string_len_null("pending_reason", 32))
                    .col(big_integer_null("assignment_group_id"))
                    .col(big_integer_null("assignee_id"))
                    .col(small_integer("escalation_level"))
                    .col(string_len_null("resolution_code", 32))
                    .col(text_null("resolution_notes"))
                    .col(text("custom_fields"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .col(big_integer_null("resolved_at"))
                    .col(big_integer_null("closed_at"))
                    .col(big_integer("version"))
                    .foreign_key(ForeignKey::create().from("incidents", "requester_id").to("users", "id"))
                    .foreign_key(ForeignKey::create().from("incidents", "service_id").to("cis", "id"))
                    .foreign_key(ForeignKey::create().from("incidents", "assignment_group_id").to("groups", "id"))
                    .foreign_key(ForeignKey::create().from("incidents", "assignee_id").to("users", "id"))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_incidents_status", "status"),
            ("ix_incidents_priority", "priority"),
            ("ix_incidents_group", "assignment_group_id"),
            ("ix_incidents_assignee", "assignee_id"),
            ("ix_incidents_requester", "requester_id"),
            ("ix_incidents_category", "category"),
            ("ix_incidents_service", "service_id"),
            ("ix_incidents_created", "created_at"),
            ("ix_incidents_updated", "updated_at"),
        ] {
            manager.create_index(index("incidents", name, &[column, "id"])).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("incident_cis")
                    .col(big_integer("incident_id"))
                    .col(big_integer("ci_id"))
                    .primary_key(Index::create().col("incident_id").col("ci_id"))
                    .foreign_key(
                        ForeignKey::create().from("incident_cis", "incident_id").to("incidents", "id").on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(ForeignKey::create().from("incident_cis", "ci_id").to("cis", "id"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("incident_cis", "ix_incident_cis_ci", &["ci_id", "incident_id"])).await?;

        // The history of every incident and the workflow engine's outbox.
        // `seq` is allocated from `counters` inside the writing transaction,
        // so it is gap-free and increases in commit order.
        manager
            .create_table(
                Table::create()
                    .table("incident_events")
                    .col(big_integer("seq").primary_key())
                    .col(big_integer("incident_id"))
                    .col(string_len("kind", 32))
                    .col(string_len("actor_kind", 16))
                    .col(big_integer_null("actor_user_id"))
                    .col(string_len("actor_name", 200))
                    .col(string_len_null("field", 64))
                    .col(text_null("old_value"))
                    .col(text_null("new_value"))
                    .col(text_null("body"))
                    .col(string_len("visibility", 16))
                    .col(big_integer("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("incident_events", "incident_id")
                            .to("incidents", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("incident_events", "ix_incident_events_incident", &["incident_id", "seq"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(String::from(*table)).to_owned()).await?;
        }
        Ok(())
    }
}
