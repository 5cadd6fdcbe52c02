//! Cheat review: flagged days, voiding and restoring a step day, suspending and reinstating
//! a participant.

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{
        paging::{Count, PageRequest},
        states::EnrollmentStatus,
        step_day::{self, StoredDay},
    },
    http::error::{ApiError, ApiResult},
    models::{campaigns, enrollments, participants, step_days},
    services::{
        admin::{access, audit},
        identity::Organiser,
        progress,
    },
};

/// `{reason}` of a void or a suspension.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// 1–200 characters; a suspended participant can read it.
    pub reason: String,
}

fn parse_reason(raw: &str) -> ApiResult<String> {
    let r = raw.trim();
    if r.is_empty() || r.chars().count() > 200 {
        return Err(ApiError::invalid_field("reason", "must be 1–200 characters"));
    }
    Ok(r.to_owned())
}

/// `GET …/flags` filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FlagQuery {
    /// Also list days already voided; default false.
    #[serde(default)]
    pub include_voided: bool,
    /// Page size, default 50. Values above `limits.max_page_size` (default 100) are clamped
    /// to it and 0 counts as 1; negative values and values above 2^63 − 1 are refused with
    /// 400 `invalid_query`.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub limit: Option<Count>,
    /// Rows to skip, default 0; 0 to 2^63 − 1 (else 400 `invalid_query`).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<Count>,
}

/// A step day shown for review.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewDay {
    pub id: i32,
    pub participant_id: i32,
    pub display_name: String,
    pub student_no: Option<String>,
    pub day: NaiveDate,
    pub steps: i64,
    pub counted: i64,
    pub source: crate::domain::states::StepSource,
    pub flagged: bool,
    pub voided: bool,
    pub void_reason: Option<String>,
}

/// A page of flagged days, highest steps first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagList {
    pub items: Vec<ReviewDay>,
    pub total: u64,
}

async fn review_day(db: &impl ConnectionTrait, d: step_days::Model) -> ApiResult<ReviewDay> {
    let p = participants::Entity::find_by_id(d.participant_id).one(db).await?;
    Ok(to_view(d, p.as_ref()))
}

fn to_view(d: step_days::Model, p: Option<&participants::Model>) -> ReviewDay {
    ReviewDay {
        id: d.id,
        participant_id: d.participant_id,
        display_name: p.map(|p| p.display_name.clone()).unwrap_or_default(),
        student_no: p.and_then(|p| p.student_no.clone()),
        day: d.day,
        steps: d.steps,
        counted: d.counted,
        source: d.source,
        flagged: d.flagged,
        voided: d.voided,
        void_reason: d.void_reason,
    }
}

/// Flagged days of a campaign (not yet voided, unless asked).
///
/// # Errors
/// 404 `campaign_not_found`.
pub async fn flags(
    db: &impl ConnectionTrait,
    who: &Organiser,
    slug: &str,
    q: &FlagQuery,
    max: u64,
) -> ApiResult<FlagList> {
    let c = access::require_campaign_access(db, who, slug).await?;
    let mut query = step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(c.id))
        .filter(step_days::Column::Flagged.eq(true));
    if !q.include_voided {
        query = query.filter(step_days::Column::Voided.eq(false));
    }
    let total = query.clone().count(db).await?;
    let page = PageRequest::clamped(q.limit, q.offset, 50, max);
    let rows = query
        .order_by_desc(step_days::Column::Steps)
        .order_by_asc(step_days::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db)
        .await?;
    let ids: Vec<i32> = rows.iter().map(|r| r.participant_id).collect();
    let people = if ids.is_empty() {
        Vec::new()
    } else {
        participants::Entity::find()
            .filter(participants::Column::Id.is_in(ids))
            .all(db)
            .await?
    };
    let items = rows
        .into_iter()
        .map(|r| {
            let p = people.iter().find(|p| p.id == r.participant_id);
            to_view(r, p)
        })
        .collect();
    Ok(FlagList { items, total })
}

fn not_closed(c: &campaigns::Model) -> ApiResult<()> {
    if c.status == campaigns::CampaignStatus::Closed {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; its results are final.",
        ));
    }
    Ok(())
}

/// Voids (`Some(reason)`) or restores (`None`) a step day and updates the participant's and
/// their cohorts' totals and unlocks in the same transaction, so everything drops (or
/// returns) at once.
///
/// Locks as an upload does: the participant's enrollment first, then the day, read again
/// under the lock, so an upload racing the correction either lands before it (and the
/// correction sees its max-merged count) or waits for it. A transaction the database aborts
/// to break a lock cycle is run again (see [`crate::db::retry`]).
///
/// # Errors
/// 404 `campaign_not_found` / `step_day_not_found`; 409 `campaign_closed`; 422 `reason`.
#[tracing::instrument(skip(db, reason), fields(organiser = who.id, campaign = %slug))]
pub async fn set_voided(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    step_day_id: i32,
    reason: Option<&str>,
) -> ApiResult<ReviewDay> {
    let reason = reason.map(parse_reason).transpose()?;
    crate::db::retry::retry_conflicts(|| set_voided_once(db, who, slug, step_day_id, reason.clone())).await
}

async fn set_voided_once(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    step_day_id: i32,
    reason: Option<String>,
) -> ApiResult<ReviewDay> {
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    not_closed(&campaign)?;
    let not_found = || {
        ApiError::not_found(
            "step_day_not_found",
            format!("No step day {step_day_id} in this campaign."),
        )
    };
    // Whose day it is never changes: read unlocked only to know which enrollment to lock.
    let owner = step_days::Entity::find_by_id(step_day_id)
        .one(&txn)
        .await?
        .filter(|d| d.campaign_id == campaign.id)
        .ok_or_else(not_found)?
        .participant_id;
    let enrollment = progress::lock_enrollment(&txn, campaign.id, owner)
        .await?
        .ok_or_else(|| anyhow::anyhow!("step day {step_day_id} has no enrollment"))?;
    let locked = crate::db::for_update(&txn, step_days::Entity::find_by_id(step_day_id));
    let day = locked.one(&txn).await?.ok_or_else(not_found)?;
    let voided = reason.is_some();
    if day.voided == voided {
        let view = review_day(&txn, day).await?;
        txn.commit().await?;
        return Ok(view);
    }
    let mut a = day.clone().into_active_model();
    a.voided = Set(voided);
    a.void_reason = Set(reason.clone());
    a.updated_at = Set(Utc::now());
    let after = a.update(&txn).await?;
    // The day leaves (or rejoins) the participant's series: the same incremental update an
    // upload makes, for this participant and their cohorts only.
    let ctx = progress::CampaignCtx::from_model(&txn, campaign.clone()).await?;
    let delta = step_day::void_delta(
        &StoredDay {
            day: day.day,
            steps: day.steps,
            counted: day.counted,
            flagged: day.flagged,
            voided: day.voided,
        },
        voided,
    );
    progress::apply_deltas(
        &txn,
        &ctx,
        &enrollment,
        &[delta],
        Utc::now(),
        // An organiser's correction is seen whole at once.
        progress::CohortDates::Now,
    )
    .await?;
    audit::record(
        &txn,
        Some(campaign.id),
        who,
        if voided { "step_day.void" } else { "step_day.restore" },
        &format!("step_day:{step_day_id}"),
        json!({
            "participant_id": day.participant_id,
            "day": day.day,
            "steps": day.steps,
            "before": { "voided": day.voided, "reason": day.void_reason },
            "after": { "voided": after.voided, "reason": after.void_reason },
        }),
    )
    .await?;
    let view = review_day(&txn, after).await?;
    txn.commit().await?;
    Ok(view)
}

/// The participant's enrollment in the campaign.
///
/// # Errors
/// 404 `participant_not_found`.
async fn enrollment_of(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    participant_id: i32,
) -> ApiResult<enrollments::Model> {
    enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(campaign_id))
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .one(db)
        .await?
        .ok_or_else(|| not_enrolled(participant_id))
}

fn not_enrolled(participant_id: i32) -> ApiError {
    ApiError::not_found(
        "participant_not_found",
        format!("Participant {participant_id} is not enrolled in this campaign."),
    )
}

/// A participant's standing in a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct StandingView {
    pub participant_id: i32,
    pub display_name: String,
    pub status: EnrollmentStatus,
    pub suspend_reason: Option<String>,
}

/// Suspends (`Some(reason)`) or reinstates (`None`) a participant: a suspended participant's
/// uploads answer 403 `participant_suspended` and they can read the reason in `GET /me`.
///
/// # Errors
/// 404 `campaign_not_found` / `participant_not_found`; 422 `reason`.
#[tracing::instrument(skip(db, reason), fields(organiser = who.id, campaign = %slug))]
pub async fn set_suspended(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    participant_id: i32,
    reason: Option<&str>,
) -> ApiResult<StandingView> {
    let reason = reason.map(parse_reason).transpose()?;
    crate::db::retry::retry_conflicts(|| set_suspended_once(db, who, slug, participant_id, reason.clone())).await
}

async fn set_suspended_once(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    participant_id: i32,
    reason: Option<String>,
) -> ApiResult<StandingView> {
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    // The enrollment is the lock every writer of this participant takes first.
    let enrollment = progress::lock_enrollment(&txn, campaign.id, participant_id)
        .await?
        .ok_or_else(|| not_enrolled(participant_id))?;
    let status = if reason.is_some() {
        enrollments::EnrollmentStatus::Suspended
    } else {
        enrollments::EnrollmentStatus::Active
    };
    let after = if enrollment.status != status || enrollment.suspend_reason != reason {
        let mut a = enrollment.clone().into_active_model();
        a.status = Set(status.to_owned());
        a.suspend_reason = Set(reason.clone());
        a.updated_at = Set(Utc::now());
        let after = a.update(&txn).await?;
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            if reason.is_some() {
                "participant.suspend"
            } else {
                "participant.reinstate"
            },
            &format!("participant:{participant_id}"),
            json!({
                "before": { "status": enrollment.status, "reason": enrollment.suspend_reason },
                "after": { "status": after.status, "reason": after.suspend_reason },
            }),
        )
        .await?;
        after
    } else {
        enrollment
    };
    let name = participants::Entity::find_by_id(participant_id)
        .one(&txn)
        .await?
        .map(|p| p.display_name)
        .unwrap_or_default();
    txn.commit().await?;
    Ok(StandingView {
        participant_id,
        display_name: name,
        status: after.status,
        suspend_reason: after.suspend_reason,
    })
}

/// A participant's recent step days, to judge a flagged day against their usual walking.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantDays {
    pub participant_id: i32,
    pub display_name: String,
    pub student_no: Option<String>,
    /// `active` or `suspended`.
    pub status: EnrollmentStatus,
    pub suspend_reason: Option<String>,
    /// Newest first, voided days included.
    pub days: Vec<ReviewDay>,
}

/// How many recent days `participant_days` lists.
pub const RECENT_DAYS: u64 = 30;

/// The participant's standing and their last [`RECENT_DAYS`] step days in the campaign.
///
/// # Errors
/// 404 `campaign_not_found` / `participant_not_found`.
pub async fn participant_days(
    db: &impl ConnectionTrait,
    who: &Organiser,
    slug: &str,
    participant_id: i32,
) -> ApiResult<ParticipantDays> {
    let campaign = access::require_campaign_access(db, who, slug).await?;
    let enrollment = enrollment_of(db, campaign.id, participant_id).await?;
    let person = participants::Entity::find_by_id(participant_id).one(db).await?;
    let days = step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(campaign.id))
        .filter(step_days::Column::ParticipantId.eq(participant_id))
        .order_by_desc(step_days::Column::Day)
        .limit(RECENT_DAYS)
        .all(db)
        .await?
        .into_iter()
        .map(|d| to_view(d, person.as_ref()))
        .collect();
    Ok(ParticipantDays {
        participant_id,
        display_name: person.as_ref().map(|p| p.display_name.clone()).unwrap_or_default(),
        student_no: person.and_then(|p| p.student_no),
        status: enrollment.status,
        suspend_reason: enrollment.suspend_reason,
        days,
    })
}
