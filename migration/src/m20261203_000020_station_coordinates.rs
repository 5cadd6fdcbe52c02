//! Stations get an optional place on the map: WGS84 `lat`/`lon` in degrees, both set or
//! both null, from which the big screen draws the route. Existing stations stay without
//! coordinates until a route import or a station edit gives them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stations {
    Table,
    Lat,
    Lon,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [Stations::Lat, Stations::Lon] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Stations::Table)
                        .add_column(ColumnDef::new(col).double().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Stations::Lon, Stations::Lat] {
            manager
                .alter_table(Table::alter().table(Stations::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
