//! Database schema for longmarch, one migration per change, runnable on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_schema;
mod m20261125_000001_board_delta_index;
mod m20261125_000002_cohort_dates;
mod m20261125_000003_board_order_index;
mod m20261203_000010_wechat_platform;
mod m20261203_000020_station_coordinates;
mod m20261203_000030_participant_erasure;
mod m20261203_000040_step_days_voided_index;

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_schema::Migration),
            Box::new(m20261125_000001_board_delta_index::Migration),
            Box::new(m20261125_000002_cohort_dates::Migration),
            Box::new(m20261125_000003_board_order_index::Migration),
            Box::new(m20261203_000010_wechat_platform::Migration),
            Box::new(m20261203_000020_station_coordinates::Migration),
            Box::new(m20261203_000030_participant_erasure::Migration),
            Box::new(m20261203_000040_step_days_voided_index::Migration),
        ]
    }
}
