use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_mail")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub received_at: i64,
    pub source: String,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub subject: String,
    pub size: i64,
    pub outcome: String,
    pub reason: String,
    pub incident_id: Option<i64>,
    pub notification_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
