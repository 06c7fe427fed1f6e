use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workflow_id: String,
    pub workflow_version: i32,
    pub incident_id: Option<i64>,
    pub origin: String,
    pub trigger: String,
    pub depth: i16,
    pub status: String,
    pub step: i32,
    pub attempt: i32,
    pub steps_run: i32,
    pub executions: i32,
    pub outputs: String,
    pub error: Option<String>,
    pub due_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
