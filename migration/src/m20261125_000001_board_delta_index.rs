//! `ix_enrollments_campaign_updated`: the in-memory leaderboard reads only the enrollments of
//! a campaign updated since its last refresh; without this index that is a scan of the
//! campaign's enrollments several times a second.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "ix_enrollments_campaign_updated";

#[derive(DeriveIden)]
enum Enrollments {
    Table,
    CampaignId,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Enrollments::Table)
                    .col(Enrollments::CampaignId)
                    .col(Enrollments::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Enrollments::Table).to_owned())
            .await
    }
}
