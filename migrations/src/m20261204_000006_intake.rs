//! Mail intake: every inbound message handled is recorded with what came
//! of it (`inbound_mail`, one row per Message-ID, so a message fetched
//! twice is applied once); files that came with mail are stored once by
//! their SHA-256 (`blobs`) and listed per incident (`attachments`); users
//! are found by address (`ix_users_email_lower`).

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
                    .table("inbound_mail")
                    .col(big_pk_auto("id"))
                    .col(big_integer("received_at"))
                    .col(string_len("source", 200))
                    .col(string_len_null("message_id", 998))
                    .col(string_len_null("sender", 320))
                    .col(text("subject"))
                    .col(big_integer("size"))
                    .col(string_len("outcome", 16))
                    .col(text("reason"))
                    .col(big_integer_null("incident_id"))
                    .col(big_integer_null("notification_id"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("inbound_mail", "ux_inbound_mail_message_id", &["message_id"]).unique().to_owned()).await?;
        manager.create_index(index("inbound_mail", "ix_inbound_mail_sender", &["sender", "received_at"])).await?;
        manager.create_index(index("inbound_mail", "ix_inbound_mail_outcome", &["outcome", "id"])).await?;
        manager
            .create_table(
                Table::create()
                    .table("blobs")
                    .col(string_len("sha256", 64).primary_key())
                    .col(big_integer("size"))
                    .col(blob("content"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("attachments")
                    .col(big_pk_auto("id"))
                    .col(big_integer("incident_id"))
                    .col(big_integer_null("inbound_id"))
                    .col(string_len("filename", 255))
                    .col(string_len("content_type", 128))
                    .col(big_integer("size"))
                    .col(string_len("sha256", 64))
                    .col(boolean("inline"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("attachments", "ix_attachments_incident", &["incident_id", "id"])).await?;
        // The same statement on both databases: an expression index.
        manager.get_connection().execute_unprepared("CREATE INDEX ix_users_email_lower ON users (lower(email))").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX ix_users_email_lower").await?;
        for table in ["attachments", "blobs", "inbound_mail"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
