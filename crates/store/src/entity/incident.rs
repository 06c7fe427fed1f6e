use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub title: String,
    pub description: String,
    pub requester_id: i64,
    pub channel: String,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub service_id: Option<i64>,
    pub impact: i16,
    pub urgency: i16,
    pub priority: i16,
    pub priority_override_reason: Option<String>,
    pub status: String,
    pub pending_reason: Option<String>,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub escalation_level: i16,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub custom_fields: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub version: i64,
    pub kind: String,
    pub details: String,
    pub checklist: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
