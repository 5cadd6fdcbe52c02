//! `SeaORM` entity for the `campaigns` table.

use sea_orm::entity::prelude::*;

use crate::domain::{conversion::ProgressMode, states::CampaignStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub slug: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub route_id: i32,
    pub timezone: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub status: CampaignStatus,
    pub progress_mode: ProgressMode,
    pub steps_per_km: i32,
    pub daily_step_cap: i32,
    pub flag_steps_over: i32,
    pub sync_grace_days: i32,
    pub step_sources: String,
    pub owner_id: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub reminders_enabled: bool,
    pub reminder_time: String,
    pub reminder_template_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
