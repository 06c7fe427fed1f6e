use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_clocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub incident_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    pub policy_id: String,
    pub calendar_id: String,
    pub state: String,
    pub started_at: i64,
    pub duration_us: i64,
    pub elapsed_us: i64,
    pub paused_us: i64,
    pub due_at: Option<i64>,
    pub breached_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub computed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
