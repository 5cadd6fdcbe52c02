//! Enrollments: a participant in a campaign, with their running totals.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr};

pub use super::entities::enrollments::*;

pub use crate::domain::states::EnrollmentStatus;

/// A new, active enrollment with empty totals.
pub fn new_active(campaign_id: i32, participant_id: i32, cohort_id: Option<i32>, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        campaign_id: Set(campaign_id),
        participant_id: Set(participant_id),
        cohort_id: Set(cohort_id),
        status: Set(EnrollmentStatus::Active),
        suspend_reason: Set(None),
        total_steps: Set(0),
        total_counted: Set(0),
        days_active: Set(0),
        metres: Set(0),
        stations_reached: Set(0),
        last_reached_on: Set(None),
        finished_on: Set(None),
        joined_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Stamps a participant's enrollments as changed, after a change to what boards show of them
/// (display name, student number): boards kept in memory re-read the enrollments stamped
/// since their last refresh (`services::boards::cache`).
///
/// # Errors
/// On database failure.
pub async fn touch_participant(db: &impl ConnectionTrait, participant_id: i32) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::ParticipantId.eq(participant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Stamps the enrollments of these cohorts' members as changed, after a change to what
/// boards show of a cohort (its name, its path); see [`touch_participant`].
///
/// # Errors
/// On database failure.
pub async fn touch_cohorts(db: &impl ConnectionTrait, cohort_ids: Vec<i32>) -> Result<(), DbErr> {
    // SQLite binds at most 32,766 values per statement; a campaign has far fewer cohorts.
    for ids in cohort_ids.chunks(10_000) {
        Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::CohortId.is_in(ids.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}
