//! `SeaORM` entity for the `stations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub route_id: i32,
    pub seq: i32,
    pub name: String,
    pub metres: i64,
    pub event_date: Option<Date>,
    pub event_date_end: Option<Date>,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub story: String,
    pub image_url: Option<String>,
    #[sea_orm(column_type = "Double", nullable)]
    pub lat: Option<f64>,
    #[sea_orm(column_type = "Double", nullable)]
    pub lon: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
