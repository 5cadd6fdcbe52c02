//! Two changes to where unlocks live, both for the speed of uploads:
//!
//! - `cohorts.reached_dates_stale`: a back-dated upload that can only move the `reached_on`
//!   dates of a cohort's unlocks (no station gained or lost) marks the cohort instead of
//!   re-deriving them inside the upload; a background refresh re-derives marked cohorts
//!   within `cache.cohort_dates_max_staleness_ms`. Indexed: the refresh looks for them
//!   several times a second.
//! - In cohort modes a member's own unlocks are no longer stored (their cohort's are the
//!   ones shown); the rows stored before are deleted. Their own position, station count
//!   and `last_reached_on` stay on the enrollment.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ix_cohorts_reached_dates_stale";

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    ReachedDatesStale,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Cohorts::Table)
                    .add_column(
                        ColumnDef::new(Cohorts::ReachedDatesStale)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Cohorts::Table)
                    .col(Cohorts::ReachedDatesStale)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM unlocks WHERE subject_kind = 'participant' \
                 AND EXISTS (SELECT 1 FROM campaigns c \
                             WHERE c.id = unlocks.campaign_id AND c.progress_mode <> 'individual') \
                 AND EXISTS (SELECT 1 FROM enrollments e \
                             WHERE e.campaign_id = unlocks.campaign_id \
                               AND e.participant_id = unlocks.subject_id \
                               AND e.cohort_id IS NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The deleted member unlocks are not brought back: nothing reads them in cohort modes.
        manager
            .drop_index(Index::drop().name(INDEX).table(Cohorts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Cohorts::Table)
                    .drop_column(Cohorts::ReachedDatesStale)
                    .to_owned(),
            )
            .await
    }
}
