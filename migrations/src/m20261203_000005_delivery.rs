//! Notification delivery: the outbox rows learn where their delivery
//! stands (`queued`, `sending` under a lease, `sent`, `failed` with the
//! next attempt, `dead`), how many attempts were made, the last error and
//! the Message-ID they were sent with.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index_statement::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &[&str] = &["attempts", "next_attempt_at", "lease_owner", "lease_until", "last_error", "sent_at", "message_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let add = |column: ColumnDef| Table::alter().table("notifications").add_column(column).to_owned();
        manager.alter_table(add(integer("attempts").default(0).to_owned())).await?;
        manager.alter_table(add(big_integer_null("next_attempt_at"))).await?;
        manager.alter_table(add(string_null("lease_owner"))).await?;
        manager.alter_table(add(big_integer_null("lease_until"))).await?;
        manager.alter_table(add(text_null("last_error"))).await?;
        manager.alter_table(add(big_integer_null("sent_at"))).await?;
        manager.alter_table(add(string_null("message_id"))).await?;
        manager.create_index(index("notifications", "ix_notifications_due", &["status", "next_attempt_at", "id"])).await?;
        manager.create_index(index("notifications", "ix_notifications_message_id", &["message_id"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_notifications_message_id").table("notifications").to_owned()).await?;
        manager.drop_index(Index::drop().name("ix_notifications_due").table("notifications").to_owned()).await?;
        for column in COLUMNS {
            manager.alter_table(Table::alter().table("notifications").drop_column(*column).to_owned()).await?;
        }
        Ok(())
    }
}
