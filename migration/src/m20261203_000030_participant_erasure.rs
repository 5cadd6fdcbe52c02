//! `participants.erased_at`: when a participant erased their personal data (`DELETE /me`),
//! or an organiser did it for them. The row stays, anonymous, so that their counted steps
//! keep counting for their cohort; its openid is replaced by an unguessable tombstone, so
//! the same WeChat user signs up afresh as a new participant. Indexed: every instance reads
//! the recently erased ids about once a second to reject their tokens.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ix_participants_erased_at";

#[derive(DeriveIden)]
enum Participants {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .add_column(ColumnDef::new(Participants::ErasedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Participants::Table)
                    .col(Participants::ErasedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Participants::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .drop_column(Participants::ErasedAt)
                    .to_owned(),
            )
            .await
    }
}
