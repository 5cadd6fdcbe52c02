//! `SeaORM` entity for the `unlocks` table.

use sea_orm::entity::prelude::*;

use crate::domain::states::Subject;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unlocks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub campaign_id: i32,
    pub subject_kind: Subject,
    pub subject_id: i32,
    pub station_seq: i32,
    pub unlocked_at: DateTimeUtc,
    pub reached_on: Date,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
