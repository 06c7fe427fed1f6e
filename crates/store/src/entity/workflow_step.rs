use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub ordinal: i32,
    pub step_id: String,
    pub attempt: i32,
    pub plugin_id: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub actions: String,
    pub logs: String,
    pub error: Option<String>,
    pub started_at: i64,
    pub duration_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
