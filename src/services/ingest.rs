//! Step ingestion: manual batches and WeChat WeRun payloads, judged day by day and merged
//! by max into the participant's step days, in one transaction with every total and unlock.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::werun,
    domain::{
        conversion,
        days::{DayRejection, StepCount, parse_local_day, werun_day},
    },
    error::{ApiError, ApiResult},
    models::{campaigns, enrollments, participants, step_days},
    services::{
        me::{self, ProgressView},
        progress::{self, CampaignCtx, DayDelta, UnlockedStation},
    },
    state::AppState,
};

/// Most days in one manual batch.
pub const MAX_BATCH_DAYS: usize = 31;

/// Step sources.
pub const SOURCE_MANUAL: &str = "manual";
pub const SOURCE_WERUN: &str = "werun";
pub const SOURCE_IMPORT: &str = "import";

/// One day of a manual upload.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDayInput {
    /// Local date `YYYY-MM-DD` in the campaign's time zone.
    pub date: String,
    pub steps: i64,
}

/// `POST /campaigns/{slug}/steps`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBatch {
    pub days: Vec<StepDayInput>,
}

/// `POST /campaigns/{slug}/steps/werun`: what `wx.getWeRunData` gives the mini-program.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WerunUpload {
    pub encrypted_data: String,
    pub iv: String,
}

/// A day taken into account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcceptedDay {
    pub date: NaiveDate,
    /// Steps as reported in this upload.
    pub steps: i64,
    /// Steps stored for the day after the max-merge.
    pub stored_steps: i64,
    /// Stored steps counted towards progress (capped).
    pub counted: i64,
    /// At or over the campaign's review threshold: kept, counted at the cap, shown to organisers.
    pub flagged: bool,
}

/// A day refused, with its reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedDay {
    /// The date as sent (or derived from a WeRun timestamp).
    pub date: String,
    pub steps: i64,
    pub code: String,
    pub reason: String,
}

/// Answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadAnswer {
    pub accepted: Vec<AcceptedDay>,
    pub rejected: Vec<RejectedDay>,
    pub progress: ProgressView,
    pub newly_unlocked: Vec<UnlockedStation>,
}

fn reject(date: impl Into<String>, steps: i64, why: DayRejection) -> RejectedDay {
    RejectedDay {
        date: date.into(),
        steps,
        code: why.code().to_owned(),
        reason: why.message().to_owned(),
    }
}

/// Campaign-level checks shared by every source.
fn check_campaign(ctx: &CampaignCtx, source: &str) -> ApiResult<()> {
    if ctx.campaign.status == campaigns::CLOSED {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; its results are final.",
        ));
    }
    if ctx.campaign.status != campaigns::ACTIVE {
        return Err(ApiError::conflict(
            "campaign_not_open",
            "The campaign has not started yet.",
        ));
    }
    if !ctx.campaign.accepts(source) {
        return Err(ApiError::unprocessable(
            "source_not_accepted",
            format!("This campaign does not accept `{source}` steps."),
        ));
    }
    if !ctx.window.uploads_open(ctx.today()) {
        return Err(ApiError::conflict(
            "uploads_closed",
            format!("Uploads closed after {}.", ctx.window.upload_deadline()),
        ));
    }
    Ok(())
}

/// Judges each day alone: good days (merged by max per date) and rejected ones.
pub fn judge_days(
    ctx: &CampaignCtx,
    days: impl IntoIterator<Item = (String, Option<NaiveDate>, i64)>,
) -> (BTreeMap<NaiveDate, i64>, Vec<RejectedDay>) {
    let today = ctx.today();
    let mut good = BTreeMap::new();
    let mut rejected = Vec::new();
    for (raw, date, steps) in days {
        let Some(date) = date else {
            rejected.push(RejectedDay {
                date: raw,
                steps,
                code: "invalid_date".to_owned(),
                reason: "The date must be YYYY-MM-DD.".to_owned(),
            });
            continue;
        };
        let verdict = StepCount::try_from(steps).and_then(|_| ctx.window.judge(date, today));
        match verdict {
            Ok(()) => {
                let slot = good.entry(date).or_insert(steps);
                *slot = (*slot).max(steps);
            }
            Err(why) => rejected.push(reject(raw, steps, why)),
        }
    }
    (good, rejected)
}

/// A manual batch.
///
/// # Errors
/// 404 unknown campaign; 409 closed or not open campaign, uploads closed; 403 not enrolled
/// or suspended; 422 source not accepted, empty or oversized batch.
#[tracing::instrument(skip(state, batch), fields(campaign = %slug, days = batch.days.len()))]
pub async fn upload_manual(
    state: &AppState,
    participant_id: i32,
    slug: &str,
    batch: StepBatch,
) -> ApiResult<UploadAnswer> {
    let ctx = state.campaigns.public(&state.db, slug).await?;
    check_campaign(&ctx, SOURCE_MANUAL)?;
    if batch.days.is_empty() {
        return Err(ApiError::invalid_field("days", "send at least one day"));
    }
    if batch.days.len() > MAX_BATCH_DAYS {
        return Err(ApiError::invalid_field(
            "days",
            format!("send at most {MAX_BATCH_DAYS} days at once"),
        ));
    }
    let (good, rejected) = judge_days(
        &ctx,
        batch.days.into_iter().map(|d| {
            let parsed = parse_local_day(&d.date);
            (d.date, parsed, d.steps)
        }),
    );
    finish_upload(state, &ctx, participant_id, good, rejected, SOURCE_MANUAL).await
}

/// A WeRun payload, decrypted with the participant's stored session key.
///
/// # Errors
/// As `upload_manual`, plus 422 `werun_undecryptable`, `werun_not_step_data`,
/// `werun_foreign_appid`, `werun_stale`.
#[tracing::instrument(skip(state, upload), fields(campaign = %slug))]
pub async fn upload_werun(
    state: &AppState,
    participant_id: i32,
    slug: &str,
    upload: WerunUpload,
) -> ApiResult<UploadAnswer> {
    let ctx = state.campaigns.public(&state.db, slug).await?;
    check_campaign(&ctx, SOURCE_WERUN)?;
    let participant = participants::Entity::find_by_id(participant_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "The token's participant no longer exists."))?;
    let Some(session_key) = participant.session_key else {
        return Err(ApiError::unprocessable(
            "werun_undecryptable",
            "No WeChat session is on record for you; log in with WeChat again, then retry.",
        ));
    };
    let werun_err =
        |e: werun::WerunError| ApiError::unprocessable(e.code(), format!("{}.", capitalise(&e.to_string())));
    let plain = werun::decrypt(&session_key, &upload.iv, &upload.encrypted_data).map_err(werun_err)?;
    let data = werun::parse(&plain).map_err(werun_err)?;
    werun::check_watermark(
        &data,
        &state.settings.wechat.appid,
        Utc::now().timestamp(),
        state.settings.wechat.werun_max_age_secs,
    )
    .map_err(werun_err)?;
    let (good, rejected) = judge_days(
        &ctx,
        data.step_info_list.iter().map(|e| {
            let day = werun_day(e.timestamp, ctx.tz);
            let raw = day.map_or_else(|| format!("@{}", e.timestamp), |d| d.to_string());
            (raw, day, e.step)
        }),
    );
    finish_upload(state, &ctx, participant_id, good, rejected, SOURCE_WERUN).await
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

async fn finish_upload(
    state: &AppState,
    ctx: &CampaignCtx,
    participant_id: i32,
    good: BTreeMap<NaiveDate, i64>,
    rejected: Vec<RejectedDay>,
    source: &str,
) -> ApiResult<UploadAnswer> {
    let outcome = ingest(&state.db, ctx, participant_id, &good, source).await?;
    // A replay changes no board: no screen needs to hear of it.
    if outcome.changed {
        crate::services::events::after_upload(state, ctx, &outcome.enrollment, &outcome.newly).await;
    }
    let progress = me::progress_view(&state.db, &state.boards, ctx, &outcome.enrollment).await?;
    let newly_unlocked = outcome
        .newly
        .iter()
        .filter_map(|(seq, day)| {
            ctx.station(*seq).map(|s| UnlockedStation {
                seq: s.seq,
                name: s.name.clone(),
                title: s.title.clone(),
                reached_on: *day,
            })
        })
        .collect();
    Ok(UploadAnswer {
        accepted: outcome.accepted,
        rejected,
        progress,
        newly_unlocked,
    })
}

/// What one ingestion stored.
pub struct IngestOutcome {
    pub enrollment: enrollments::Model,
    pub accepted: Vec<AcceptedDay>,
    pub newly: Vec<(i32, NaiveDate)>,
    /// False when every day was already stored with at least these steps (a replay).
    pub changed: bool,
}

/// Stores judged days for a participant: max-merge, caps and flags, totals, unlocks — one
/// transaction. Retried a few times when the database reports a transient conflict.
///
/// # Errors
/// 403 `not_enrolled` / `participant_suspended`; on database failure.
pub async fn ingest(
    db: &DatabaseConnection,
    ctx: &CampaignCtx,
    participant_id: i32,
    good: &BTreeMap<NaiveDate, i64>,
    source: &str,
) -> ApiResult<IngestOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let txn = crate::db::begin_write(db).await?;
        match ingest_in(&txn, ctx, participant_id, good, source).await {
            Ok(outcome) => match txn.commit().await {
                Ok(()) => return Ok(outcome),
                Err(e) if attempt < 4 && crate::error::is_retryable(&e) => {}
                Err(e) => return Err(e.into()),
            },
            Err(ApiError::Db(e)) if attempt < 4 && crate::error::is_retryable(&e) => {
                drop(txn.rollback().await);
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
    }
}

/// `ingest` inside an open transaction (also used by the CSV import and the simulator).
///
/// # Errors
/// 403 `not_enrolled` / `participant_suspended`; on database failure.
pub async fn ingest_in(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    participant_id: i32,
    good: &BTreeMap<NaiveDate, i64>,
    source: &str,
) -> ApiResult<IngestOutcome> {
    let enrollment = progress::lock_enrollment(db, ctx.campaign.id, participant_id)
        .await?
        .ok_or_else(|| ApiError::forbidden("not_enrolled", "Join the campaign before uploading steps."))?;
    if enrollment.status == enrollments::SUSPENDED {
        let reason = enrollment.suspend_reason.clone().unwrap_or_default();
        return Err(ApiError::forbidden(
            "participant_suspended",
            format!("Your participation is suspended: {reason}"),
        ));
    }
    let mut rows = step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(ctx.campaign.id))
        .filter(step_days::Column::ParticipantId.eq(participant_id))
        .all(db)
        .await?;
    let cap = i64::from(ctx.campaign.daily_step_cap);
    let flag_over = i64::from(ctx.campaign.flag_steps_over);
    let now = Utc::now();
    let mut deltas = Vec::new();
    let mut accepted = Vec::with_capacity(good.len());
    for (&day, &steps) in good {
        let counted = conversion::counted(steps, cap);
        let flagged = conversion::is_flagged(steps, flag_over);
        match rows.iter_mut().find(|r| r.day == day) {
            None => {
                let row = step_days::ActiveModel {
                    campaign_id: Set(ctx.campaign.id),
                    participant_id: Set(participant_id),
                    enrollment_id: Set(enrollment.id),
                    day: Set(day),
                    steps: Set(steps),
                    counted: Set(counted),
                    source: Set(source.to_owned()),
                    flagged: Set(flagged),
                    voided: Set(false),
                    void_reason: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await?;
                deltas.push(DayDelta {
                    day,
                    counted,
                    steps,
                    active: i32::from(counted > 0),
                });
                accepted.push(AcceptedDay {
                    date: day,
                    steps,
                    stored_steps: steps,
                    counted,
                    flagged,
                });
                rows.push(row);
            }
            Some(row) if steps > row.steps => {
                let old_effective = if row.voided { 0 } else { row.counted };
                let new_effective = if row.voided { 0 } else { counted };
                let mut active = row.clone().into_active_model();
                active.steps = Set(steps);
                active.counted = Set(counted);
                active.flagged = Set(row.flagged || flagged);
                active.source = Set(source.to_owned());
                active.updated_at = Set(now);
                let updated = active.update(db).await?;
                deltas.push(DayDelta {
                    day,
                    counted: new_effective - old_effective,
                    steps: if row.voided { 0 } else { steps - row.steps },
                    active: i32::from(old_effective == 0 && new_effective > 0),
                });
                accepted.push(AcceptedDay {
                    date: day,
                    steps,
                    stored_steps: steps,
                    counted: new_effective,
                    flagged: updated.flagged,
                });
                *row = updated;
            }
            Some(row) => accepted.push(AcceptedDay {
                date: day,
                steps,
                stored_steps: row.steps,
                counted: if row.voided { 0 } else { row.counted },
                flagged: row.flagged,
            }),
        }
    }
    if deltas.is_empty() {
        return Ok(IngestOutcome {
            enrollment,
            accepted,
            newly: Vec::new(),
            changed: false,
        });
    }
    let series = progress::day_series(&rows);
    let total_steps = progress::steps_total(&rows);
    let (enrollment, newly) = progress::apply_deltas(db, ctx, &enrollment, &deltas, &series, total_steps, now).await?;
    Ok(IngestOutcome {
        enrollment,
        accepted,
        newly,
        changed: true,
    })
}
