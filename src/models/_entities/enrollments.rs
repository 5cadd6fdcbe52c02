//! `SeaORM` entity for the `enrollments` table.

use sea_orm::entity::prelude::*;

use crate::domain::states::EnrollmentStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub campaign_id: i32,
    pub participant_id: i32,
    pub cohort_id: Option<i32>,
    pub status: EnrollmentStatus,
    pub suspend_reason: Option<String>,
    pub total_steps: i64,
    pub total_counted: i64,
    pub days_active: i32,
    pub metres: i64,
    pub stations_reached: i32,
    pub last_reached_on: Option<Date>,
    pub finished_on: Option<Date>,
    pub joined_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
