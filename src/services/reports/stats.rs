//! Campaign statistics for organisers, from the running totals and the per-day series
//! (`campaign_days`), never from step history except the flag counts (indexed).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::percent::{basis_points, bp_percent},
    http::error::ApiResult,
    models::{campaign_days, cohorts, enrollments, participants, step_days},
    services::{
        progress::{CampaignCtx, Subject, km},
        wechat::reminders::ReminderDay,
    },
};

/// Headline figures (also the payload of the live `stats` event).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatsSummary {
    pub campaign: String,
    pub progress_mode: crate::domain::conversion::ProgressMode,
    /// Today in the campaign's zone.
    pub today: NaiveDate,
    /// Every enrollment, suspended ones included.
    pub enrolled: u64,
    pub suspended: u64,
    /// Participants with counted steps today.
    pub active_today: i32,
    /// Participants with any counted day.
    pub active_ever: u64,
    /// `active_ever` of `enrolled`, percent (2 decimals).
    pub participation_percent: f64,
    pub counted_steps: i64,
    pub total_steps: i64,
    /// Kilometres of all counted steps together.
    pub km: f64,
    /// Step days at or over the review threshold (voided ones included).
    pub flagged_days: u64,
    pub voided_days: u64,
    /// `participant` or `cohort`: whose stations are reported below.
    pub subject: Subject,
    pub stations_total: usize,
    /// The furthest subject (participant display name or cohort path).
    pub furthest_subject: Option<String>,
    pub furthest_stations_reached: i32,
    /// The median subject's stations (participants, or classes in cohort modes).
    pub median_stations_reached: i32,
}

/// One day of the chart series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayPoint {
    pub date: NaiveDate,
    /// Enrolled by the end of the day (joined on or before it, campaign zone).
    pub enrolled: u64,
    /// Participants with counted steps that day.
    pub active: i32,
    pub counted_steps: i64,
}

/// `GET /admin/campaigns/{slug}/stats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignStats {
    #[serde(flatten)]
    pub summary: StatsSummary,
    /// From the campaign's first day to today (or its last day), oldest first.
    pub series: Vec<DayPoint>,
    /// Evening reminders per campaign-local day on which any was due, oldest first.
    pub reminders: Vec<ReminderDay>,
}

/// The headline figures.
///
/// # Errors
/// On database failure.
#[tracing::instrument(skip(db, ctx), fields(campaign = %ctx.campaign.slug))]
pub async fn summary(db: &impl ConnectionTrait, ctx: &CampaignCtx) -> ApiResult<StatsSummary> {
    let cid = ctx.campaign.id;
    let today = ctx.today();
    let of_campaign = || enrollments::Entity::find().filter(enrollments::Column::CampaignId.eq(cid));
    let enrolled = of_campaign().count(db).await?;
    let suspended = of_campaign()
        .filter(enrollments::Column::Status.ne(enrollments::EnrollmentStatus::Active))
        .count(db)
        .await?;
    let active_ever = of_campaign()
        .filter(enrollments::Column::DaysActive.gt(0))
        .count(db)
        .await?;
    // SUM of a bigint is numeric on PostgreSQL: cast back so both databases decode an i64.
    let (counted, steps): (Option<i64>, Option<i64>) = of_campaign()
        .select_only()
        .column_as(
            Expr::col(enrollments::Column::TotalCounted)
                .sum()
                .cast_as(Alias::new("bigint")),
            "counted",
        )
        .column_as(
            Expr::col(enrollments::Column::TotalSteps)
                .sum()
                .cast_as(Alias::new("bigint")),
            "steps",
        )
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or_default();
    let counted = counted.unwrap_or(0);
    let active_today = campaign_days::Entity::find()
        .filter(campaign_days::Column::CampaignId.eq(cid))
        .filter(campaign_days::Column::Day.eq(today))
        .one(db)
        .await?
        .map_or(0, |d| d.active_participants);
    let days = || step_days::Entity::find().filter(step_days::Column::CampaignId.eq(cid));
    let flagged_days = days().filter(step_days::Column::Flagged.eq(true)).count(db).await?;
    let voided_days = days().filter(step_days::Column::Voided.eq(true)).count(db).await?;

    let (subject, furthest_subject, furthest, median) = if ctx.cohort_mode() {
        let all = cohorts::Model::all_of(db, cid).await?;
        let mut leaves: Vec<&cohorts::Model> = all
            .iter()
            .filter(|c| !all.iter().any(|x| x.parent_id == Some(c.id)))
            .collect();
        leaves.sort_by_key(|c| (std::cmp::Reverse(c.stations_reached), c.last_reached_on, c.id));
        let median = median_desc(&leaves.iter().map(|c| c.stations_reached).collect::<Vec<_>>());
        let top = leaves.first();
        (
            Subject::Cohort,
            top.map(|c| c.path.clone()),
            top.map_or(0, |c| c.stations_reached),
            median,
        )
    } else {
        let ranked = of_campaign().filter(enrollments::Column::Status.eq(enrollments::EnrollmentStatus::Active));
        let n = ranked.clone().count(db).await?;
        let top = ranked
            .clone()
            .order_by_desc(enrollments::Column::StationsReached)
            .order_by_asc(enrollments::Column::Id)
            .one(db)
            .await?;
        let median = match n {
            0 => 0,
            _ => ranked
                .order_by_desc(enrollments::Column::StationsReached)
                .order_by_asc(enrollments::Column::Id)
                .offset(n / 2)
                .one(db)
                .await?
                .map_or(0, |e| e.stations_reached),
        };
        let name = match &top {
            Some(e) => participants::Entity::find_by_id(e.participant_id)
                .one(db)
                .await?
                .map(|p| p.display_name),
            None => None,
        };
        (
            Subject::Participant,
            name,
            top.map_or(0, |e| e.stations_reached),
            median,
        )
    };
    let participation = basis_points(
        i64::try_from(active_ever).unwrap_or(0),
        i64::try_from(enrolled).unwrap_or(0),
    );
    Ok(StatsSummary {
        campaign: ctx.campaign.slug.clone(),
        progress_mode: ctx.campaign.progress_mode,
        today,
        enrolled,
        suspended,
        active_today,
        active_ever,
        participation_percent: bp_percent(participation),
        counted_steps: counted,
        total_steps: steps.unwrap_or(0),
        km: km(ctx.participant_metres(counted)),
        flagged_days,
        voided_days,
        subject,
        stations_total: ctx.stations.len(),
        furthest_subject,
        furthest_stations_reached: furthest,
        median_stations_reached: median,
    })
}

/// The median of values sorted in descending order (the upper middle for even counts).
pub fn median_desc(sorted_desc: &[i32]) -> i32 {
    sorted_desc.get(sorted_desc.len() / 2).copied().unwrap_or(0)
}

/// Headline figures and the per-day series.
///
/// # Errors
/// On database failure.
#[tracing::instrument(skip(db, ctx), fields(campaign = %ctx.campaign.slug))]
pub async fn campaign_stats(db: &impl ConnectionTrait, ctx: &CampaignCtx) -> ApiResult<CampaignStats> {
    let summary = summary(db, ctx).await?;
    let cid = ctx.campaign.id;
    let days: BTreeMap<NaiveDate, (i32, i64)> = campaign_days::Entity::find()
        .filter(campaign_days::Column::CampaignId.eq(cid))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.day, (d.active_participants, d.counted)))
        .collect();
    // Join dates are local dates in the campaign's zone, so they are bucketed here rather
    // than in SQL (time zone functions differ between SQLite and PostgreSQL).
    let joined: Vec<DateTime<Utc>> = enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(cid))
        .select_only()
        .column(enrollments::Column::JoinedAt)
        .into_tuple()
        .all(db)
        .await?;
    let mut joined_days: Vec<NaiveDate> = joined.iter().map(|t| t.with_timezone(&ctx.tz).date_naive()).collect();
    joined_days.sort_unstable();
    let last = std::cmp::min(summary.today, ctx.campaign.ends_on);
    let mut series = Vec::new();
    let mut day = ctx.campaign.starts_on;
    while day <= last {
        let (active, counted) = days.get(&day).copied().unwrap_or((0, 0));
        let enrolled = u64::try_from(joined_days.partition_point(|d| *d <= day)).unwrap_or(u64::MAX);
        series.push(DayPoint {
            date: day,
            enrolled,
            active,
            counted_steps: counted,
        });
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    let reminders = crate::services::wechat::reminders::daily_counts(db, cid).await?;
    Ok(CampaignStats {
        summary,
        series,
        reminders,
    })
}

#[cfg(test)]
mod tests {
    use super::median_desc;

    #[test]
    fn median_of_descending_values() {
        assert_eq!(median_desc(&[]), 0);
        assert_eq!(median_desc(&[5]), 5);
        assert_eq!(median_desc(&[9, 5, 1]), 5);
        assert_eq!(median_desc(&[9, 7, 5, 1]), 5);
    }
}
