//! Enrollments: a participant in a campaign, with their running totals.

use chrono::{DateTime, Utc};
use sea_orm::Set;

pub use super::entities::enrollments::*;

/// Enrollment states: ranked and uploading, or suspended by an organiser (with a reason).
pub const ACTIVE: &str = "active";
pub const SUSPENDED: &str = "suspended";

/// A new, active enrollment with empty totals.
pub fn new_active(campaign_id: i32, participant_id: i32, cohort_id: Option<i32>, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        campaign_id: Set(campaign_id),
        participant_id: Set(participant_id),
        cohort_id: Set(cohort_id),
        status: Set(ACTIVE.to_owned()),
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
