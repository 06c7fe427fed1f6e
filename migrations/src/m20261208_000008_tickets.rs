//! More than one kind of ticket: `incidents.kind` (`incident`, `request`,
//! `problem`, `change`; every kind draws its number from the same
//! `incident` counter, so the digits identify a ticket and the prefix
//! names its kind), kind-specific `details` and the processing
//! `checklist` as JSON, links between tickets (`ticket_links`, stored once
//! from source to target and indexed from both ends) and the users who
//! watch a ticket (`ticket_watchers`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let add = |column: ColumnDef| Table::alter().table("incidents").add_column(column).to_owned();
        manager.alter_table(add(string_len("kind", 16).default("incident").to_owned())).await?;
        manager.alter_table(add(text("details").default("{}").to_owned())).await?;
        manager.alter_table(add(text("checklist").default("[]").to_owned())).await?;
        manager.create_index(index("incidents", "ix_incidents_kind", &["kind", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("ticket_links")
                    .col(big_pk_auto("id"))
                    .col(big_integer("source_id"))
                    .col(big_integer("target_id"))
                    .col(string_len("link_type", 32))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("created_by"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ticket_links", "ux_ticket_links", &["source_id", "link_type", "target_id"]).unique().to_owned())
            .await?;
        manager.create_index(index("ticket_links", "ix_ticket_links_target", &["target_id", "link_type", "source_id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("ticket_watchers")
                    .col(big_integer("incident_id"))
                    .col(big_integer("user_id"))
                    .col(big_integer("created_at"))
                    .primary_key(Index::create().col("incident_id").col("user_id"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ticket_watchers", "ix_ticket_watchers_user", &["user_id", "incident_id"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["ticket_watchers", "ticket_links"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.drop_index(Index::drop().name("ix_incidents_kind").table("incidents").to_owned()).await?;
        for column in ["checklist", "details", "kind"] {
            manager.alter_table(Table::alter().table("incidents").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
