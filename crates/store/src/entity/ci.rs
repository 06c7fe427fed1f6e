use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cis")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub class: String,
    pub name: String,
    pub status: String,
    pub owner_group_id: Option<i64>,
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
