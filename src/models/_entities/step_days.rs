//! `SeaORM` entity for the `step_days` table.

use sea_orm::entity::prelude::*;

pub use crate::domain::states::StepSource;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "step_days")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub campaign_id: i32,
    pub participant_id: i32,
    pub enrollment_id: i32,
    pub day: Date,
    pub steps: i64,
    pub counted: i64,
    pub source: StepSource,
    pub flagged: bool,
    pub voided: bool,
    pub void_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
