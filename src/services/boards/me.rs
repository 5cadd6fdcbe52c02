//! A participant's own views of a campaign: progress, milestones and step days.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::percent::{basis_points, bp_percent},
    http::error::{ApiError, ApiResult},
    models::{cohorts, enrollments, step_days, unlocks},
    services::{
        boards::{cache::BoardCache, scope::Scope},
        progress::{CampaignCtx, PositionView, Subject},
    },
};

/// The participant's cohort and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortProgress {
    pub id: i32,
    pub name: String,
    pub path: String,
    pub member_count: i32,
    pub counted_steps: i64,
    pub position: PositionView,
    /// The participant's share of the cohort's counted steps, in percent (floored to 0.01).
    pub contribution_percent: f64,
}

/// `GET /campaigns/{slug}/me/progress`. The flattened position is the subject of record:
/// the participant in `individual` campaigns, their class in cohort modes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    pub campaign: String,
    pub progress_mode: crate::domain::conversion::ProgressMode,
    /// `participant` or `cohort`: whose position the top-level fields describe.
    pub subject: Subject,
    pub total_steps: i64,
    pub counted_steps: i64,
    pub days_active: i32,
    /// Competition rank by counted steps among active participants (1 = most).
    pub rank: u64,
    pub ranked: u64,
    #[serde(flatten)]
    pub position: PositionView,
    /// The participant's own walk.
    pub own: PositionView,
    pub cohort: Option<CohortProgress>,
}

/// Loads the caller's enrollment in a campaign.
///
/// # Errors
/// 403 `not_enrolled`.
pub async fn enrollment_of(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    participant_id: i32,
) -> ApiResult<enrollments::Model> {
    enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(ctx.campaign.id))
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::forbidden("not_enrolled", "You have not joined this campaign."))
}

/// Rank on the campaign's total board, and how many are ranked there.
///
/// # Errors
/// On database failure.
pub async fn rank_of(
    db: &DatabaseConnection,
    boards: &BoardCache,
    campaign_id: i32,
    counted: i64,
) -> ApiResult<(u64, u64)> {
    if let Some(board) = boards.snapshot(db, campaign_id).await? {
        return Ok((board.rank_of(counted), board.len()));
    }
    // The board is being built: ask the database.
    let scope = Scope::total(campaign_id);
    Ok((scope.rank_of(db, counted).await?, scope.count(db).await?))
}

/// Builds the progress view of an enrollment.
///
/// # Errors
/// On database failure.
pub async fn progress_view(
    db: &DatabaseConnection,
    boards: &BoardCache,
    ctx: &CampaignCtx,
    e: &enrollments::Model,
) -> ApiResult<ProgressView> {
    let cohort = match e.cohort_id {
        Some(id) => cohorts::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    progress_view_with(db, boards, ctx, e, cohort.as_ref()).await
}

/// [`progress_view`] with the enrollment's cohort already in hand (an upload's transaction
/// has just written it), so only the board is consulted.
///
/// # Errors
/// On database failure (refreshing the board).
pub async fn progress_view_with(
    db: &DatabaseConnection,
    boards: &BoardCache,
    ctx: &CampaignCtx,
    e: &enrollments::Model,
    cohort: Option<&cohorts::Model>,
) -> ApiResult<ProgressView> {
    let own = ctx.position_view(e.metres, e.stations_reached, e.finished_on);
    let cohort_view = cohort.map(|c| CohortProgress {
        id: c.id,
        name: c.name.clone(),
        path: c.path.clone(),
        member_count: c.member_count,
        counted_steps: c.total_counted,
        position: ctx.position_view(c.metres, c.stations_reached, c.finished_on),
        contribution_percent: bp_percent(basis_points(e.total_counted, c.total_counted)),
    });
    let (rank, ranked) = rank_of(db, boards, ctx.campaign.id, e.total_counted).await?;
    let (subject, position) = match (&cohort_view, ctx.cohort_mode()) {
        (Some(c), true) => (Subject::Cohort, c.position.clone()),
        _ => (Subject::Participant, own.clone()),
    };
    Ok(ProgressView {
        campaign: ctx.campaign.slug.clone(),
        progress_mode: ctx.campaign.progress_mode,
        subject,
        total_steps: e.total_steps,
        counted_steps: e.total_counted,
        days_active: e.days_active,
        rank,
        ranked,
        position,
        own,
        cohort: cohort_view,
    })
}

/// One station as a participant sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MilestoneView {
    pub seq: i32,
    pub name: String,
    pub title: String,
    pub metres: i64,
    pub event_date: Option<NaiveDate>,
    pub event_date_end: Option<NaiveDate>,
    /// `unlocked`, `next` (the first locked station) or `locked`.
    pub status: String,
    pub unlocked_at: Option<DateTime<Utc>>,
    pub reached_on: Option<NaiveDate>,
    /// Only for unlocked stations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// `GET /campaigns/{slug}/me/milestones`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MilestonesView {
    pub subject: Subject,
    pub items: Vec<MilestoneView>,
    pub total: usize,
}

/// Every station with its status for the caller's subject of record; stories only for
/// unlocked stations.
///
/// # Errors
/// 403 `not_enrolled`; on database failure.
pub async fn milestones(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    participant_id: i32,
) -> ApiResult<MilestonesView> {
    let e = enrollment_of(db, ctx, participant_id).await?;
    let (kind, subject_id) = match (ctx.cohort_mode(), e.cohort_id) {
        (true, Some(c)) => (Subject::Cohort, c),
        _ => (Subject::Participant, participant_id),
    };
    let rows = unlocks::Entity::find()
        .filter(unlocks::Column::CampaignId.eq(ctx.campaign.id))
        .filter(unlocks::Column::SubjectKind.eq(kind))
        .filter(unlocks::Column::SubjectId.eq(subject_id))
        .all(db)
        .await?;
    let mut next_marked = false;
    let items: Vec<MilestoneView> = ctx
        .stations
        .iter()
        .map(|s| {
            let unlock = rows.iter().find(|u| u.station_seq == s.seq);
            let status = match unlock {
                Some(_) => "unlocked",
                None if !next_marked => {
                    next_marked = true;
                    "next"
                }
                None => "locked",
            };
            MilestoneView {
                seq: s.seq,
                name: s.name.clone(),
                title: s.title.clone(),
                metres: s.metres,
                event_date: s.event_date,
                event_date_end: s.event_date_end,
                status: status.to_owned(),
                unlocked_at: unlock.map(|u| u.unlocked_at),
                reached_on: unlock.map(|u| u.reached_on),
                story: unlock.map(|_| s.story.clone()),
                image_url: unlock.and_then(|_| s.image_url.clone()),
            }
        })
        .collect();
    Ok(MilestonesView {
        subject: kind,
        total: items.len(),
        items,
    })
}

/// One stored step day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepDayView {
    pub date: NaiveDate,
    pub steps: i64,
    pub counted: i64,
    pub flagged: bool,
    pub voided: bool,
    pub void_reason: Option<String>,
    pub source: crate::domain::states::StepSource,
    pub updated_at: DateTime<Utc>,
}

/// `GET /campaigns/{slug}/me/steps`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepDaysView {
    pub items: Vec<StepDayView>,
    pub total: usize,
}

/// The caller's step days, oldest first.
///
/// # Errors
/// 403 `not_enrolled`; on database failure.
pub async fn steps(db: &impl ConnectionTrait, ctx: &CampaignCtx, participant_id: i32) -> ApiResult<StepDaysView> {
    enrollment_of(db, ctx, participant_id).await?;
    let rows = step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(ctx.campaign.id))
        .filter(step_days::Column::ParticipantId.eq(participant_id))
        .order_by_asc(step_days::Column::Day)
        .all(db)
        .await?;
    let items: Vec<StepDayView> = rows
        .into_iter()
        .map(|r| StepDayView {
            date: r.day,
            steps: r.steps,
            counted: crate::domain::conversion::effective(r.counted, r.voided),
            flagged: r.flagged,
            voided: r.voided,
            void_reason: r.void_reason,
            source: r.source,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(StepDaysView {
        total: items.len(),
        items,
    })
}

/// The caller's progress in a campaign.
///
/// # Errors
/// 403 `not_enrolled`; on database failure.
pub async fn progress(
    db: &DatabaseConnection,
    boards: &BoardCache,
    ctx: &CampaignCtx,
    participant_id: i32,
) -> ApiResult<ProgressView> {
    let e = enrollment_of(db, ctx, participant_id).await?;
    progress_view(db, boards, ctx, &e).await
}
