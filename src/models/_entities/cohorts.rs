//! `SeaORM` entity for the `cohorts` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cohorts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub campaign_id: i32,
    pub parent_id: Option<i32>,
    pub name: String,
    pub path: String,
    pub depth: i32,
    pub join_code: String,
    pub member_count: i32,
    pub active_members: i32,
    pub total_steps: i64,
    pub total_counted: i64,
    pub metres: i64,
    pub stations_reached: i32,
    pub last_reached_on: Option<Date>,
    pub finished_on: Option<Date>,
    pub created_at: DateTimeUtc,
    pub reached_dates_stale: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
