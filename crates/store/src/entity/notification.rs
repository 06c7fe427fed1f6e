use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: Option<i64>,
    pub run_id: i64,
    pub workflow_id: String,
    pub step_id: String,
    pub channel: String,
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub message_id: Option<String>,
    pub subscription_id: Option<i64>,
    pub replay_of: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
