//! Storing steps: the one path every upload takes (manual and WeRun through the upload
//! queue, CSV imports, the simulator). A batch of uploads is stored inside one transaction,
//! set-based: the enrollments locked with their stored days, the days max-merged
//! (`domain::step_day`), new and grown days written, totals and own unlocks moved by day
//! deltas (`services::progress`), and what the batch adds to cohorts and the campaign's days
//! written once.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::batches::{self, DayRow, LockedEnrollments, UploadKey},
    domain::{
        states::StepSource,
        step_day::{self, DayDelta, StoredDay},
    },
    http::error::{ApiError, ApiResult},
    models::{cohorts, enrollments, step_days},
    services::progress::{self, CampaignCtx, CohortDates, Shared, Written},
};

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

/// What one ingestion stored.
pub struct IngestOutcome {
    pub enrollment: enrollments::Model,
    /// The participant's class as the transaction left it, when the transaction wrote it
    /// (the answer's progress view then needs no read of its own).
    pub class: Option<cohorts::Model>,
    pub accepted: Vec<AcceptedDay>,
    pub newly: Vec<(i32, NaiveDate)>,
    /// False when every day was already stored with at least these steps (a replay).
    pub changed: bool,
}

/// Stores one participant's judged days in a transaction of their own (a batch of one).
/// Retried a few times when the database reports a transient conflict.
///
/// # Errors
/// 403 `not_enrolled` / `participant_suspended`; on database failure.
pub async fn store_alone(db: &DatabaseConnection, upload: ToStore<'_>) -> ApiResult<IngestOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let txn = crate::db::begin_write(db).await?;
        let outcome = store(&txn, &[upload])
            .await
            .and_then(|mut outcomes| outcomes.pop().unwrap_or_else(|| Err(left_out())));
        match outcome {
            Ok(outcome) => match txn.commit().await {
                Ok(()) => return Ok(outcome),
                Err(e) if attempt < 4 && crate::http::error::is_retryable(&e) => {}
                Err(e) => return Err(e.into()),
            },
            Err(ApiError::Db(e)) if attempt < 4 && crate::http::error::is_retryable(&e) => {
                drop(txn.rollback().await);
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
    }
}

/// Stores several participants' judged days inside an open transaction, as one upload each,
/// where any refusal fails them all (CSV imports, the simulator). The outcomes are in the
/// order given.
///
/// # Errors
/// 403 `not_enrolled` / `participant_suspended` for any of them; on database failure.
pub async fn store_all_in<'g>(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    uploads: impl IntoIterator<Item = (i32, &'g BTreeMap<NaiveDate, i64>)>,
    source: StepSource,
    dates: CohortDates,
) -> ApiResult<Vec<IngestOutcome>> {
    let uploads: Vec<ToStore<'_>> = uploads
        .into_iter()
        .map(|(participant_id, good)| ToStore {
            ctx,
            participant_id,
            good,
            source,
            dates,
        })
        .collect();
    // A refusal fails them all (the caller rolls the transaction back).
    store(db, &uploads).await?.into_iter().collect()
}

/// The one way steps are stored: a batch of uploads (one participant's judged days each)
/// inside an open transaction. Every upload is merged into its participant's stored days,
/// totals and own unlocks ([`store_together`]); what they add to their cohorts and the
/// campaign's days is written once after the last (`progress::Shared`). Per upload, in
/// order: what it stored, or its refusal (`not_enrolled`, `participant_suspended`), which
/// wrote nothing.
///
/// # Errors
/// On database failure: the transaction may hold part of the writes and must be rolled back.
pub async fn store<'a>(db: &impl ConnectionTrait, uploads: &[ToStore<'a>]) -> ApiResult<Vec<ApiResult<IngestOutcome>>> {
    let mut shared = Shared::default();
    let stored = store_together(db, uploads, &mut shared).await?;
    let written = shared.write(db, progress::at_stored_precision(Utc::now())).await?;
    Ok(finish_all(stored, &written))
}

fn left_out() -> ApiError {
    anyhow::anyhow!("an upload was left out of its transaction").into()
}

/// One participant's judged days, to be stored with other uploads in one transaction.
#[derive(Clone, Copy)]
pub struct ToStore<'a> {
    pub ctx: &'a CampaignCtx,
    pub participant_id: i32,
    pub good: &'a BTreeMap<NaiveDate, i64>,
    pub source: StepSource,
    pub dates: CohortDates,
}

impl ToStore<'_> {
    fn key(&self) -> (i32, i32) {
        (self.ctx.campaign.id, self.participant_id)
    }
}

/// Stores uploads inside an open transaction, set-based: one statement reads every
/// enrollment (locked) with its stored days, one writes every new or grown day, one every
/// enrollment's totals, whatever their number. The participants' own unlocks are read and
/// written per upload, and only when a station may have moved. What the uploads add to their
/// cohorts and the campaign's days goes to `shared`, to be written once after the last.
///
/// Stored this way, each upload sees those before it exactly as if they had committed on
/// their own: uploads of different participants touch none of each other's rows, and a
/// participant's second upload goes in a later round, after the first is written.
///
/// Per upload: what was stored, or its refusal (`not_enrolled`, `participant_suspended`),
/// decided before anything is written, so a refused upload leaves the transaction as it
/// was.
///
/// # Errors
/// On database failure: the transaction may hold part of the writes and must be rolled back.
async fn store_together<'a>(
    db: &impl ConnectionTrait,
    uploads: &[ToStore<'a>],
    shared: &mut Shared<'a>,
) -> ApiResult<Vec<ApiResult<Stored>>> {
    // Round r holds each participant's (r + 1)-th upload.
    let mut seen = std::collections::HashMap::new();
    let rounds: Vec<usize> = uploads
        .iter()
        .map(|u| {
            let n = seen.entry(u.key()).or_insert(0_usize);
            *n += 1;
            *n - 1
        })
        .collect();
    let mut results: Vec<Option<ApiResult<Stored>>> = uploads.iter().map(|_| None).collect();
    for round in 0..seen.values().copied().max().unwrap_or(0) {
        let members: Vec<usize> = (0..uploads.len()).filter(|&i| rounds[i] == round).collect();
        store_round(db, uploads, &members, shared, &mut results).await?;
    }
    results.into_iter().map(|r| r.ok_or_else(left_out)).collect()
}

/// One round of [`store_together`]: the uploads `members`, of distinct participants.
async fn store_round<'a>(
    db: &impl ConnectionTrait,
    uploads: &[ToStore<'a>],
    members: &[usize],
    shared: &mut Shared<'a>,
    results: &mut [Option<ApiResult<Stored>>],
) -> ApiResult<()> {
    let now = progress::at_stored_precision(Utc::now());
    let mut locked = lock_with_days(db, members.iter().map(|&i| &uploads[i])).await?;
    let mut merged = Vec::with_capacity(members.len());
    let mut writes = Vec::new();
    for &i in members {
        let u = &uploads[i];
        match admit(locked.remove(&u.key())) {
            Ok((enrollment, stored)) => {
                let mut merge = merge(u, &enrollment, &stored, now);
                writes.append(&mut merge.writes);
                merged.push((i, enrollment, merge));
            }
            Err(refusal) => results[i] = Some(Err(refusal)),
        }
    }
    store_days(db, &writes, now).await?;
    let mut owns = Vec::with_capacity(merged.len());
    for (i, enrollment, merge) in merged {
        let u = &uploads[i];
        if merge.deltas.is_empty() {
            results[i] = Some(Ok(Stored {
                accepted: merge.accepted,
                change: Change::Replay(enrollment),
            }));
            continue;
        }
        let own = progress::apply_own(db, u.ctx, &enrollment, &merge.deltas, now, u.dates, shared).await?;
        owns.push((i, merge.accepted, own));
    }
    progress::write_totals(db, owns.iter().map(|(_, _, own)| own), now).await?;
    for (i, accepted, own) in owns {
        results[i] = Some(Ok(Stored {
            accepted,
            change: Change::Applied(own),
        }));
    }
    Ok(())
}

/// Lets a locked enrollment through, or refuses one that is missing or suspended.
fn admit(locked: Option<(enrollments::Model, Vec<StoredDay>)>) -> ApiResult<(enrollments::Model, Vec<StoredDay>)> {
    let (enrollment, stored) =
        locked.ok_or_else(|| ApiError::forbidden("not_enrolled", "Join the campaign before uploading steps."))?;
    if enrollment.status == enrollments::EnrollmentStatus::Suspended {
        let reason = enrollment.suspend_reason.clone().unwrap_or_default();
        return Err(ApiError::forbidden(
            "participant_suspended",
            format!("Your participation is suspended: {reason}"),
        ));
    }
    Ok((enrollment, stored))
}

/// The enrollments of `uploads`, locked, with their stored rows among the days uploaded
/// (`db::batches::lock_enrollments_with_days`), by (campaign, participant).
async fn lock_with_days<'u, 'a: 'u>(
    db: &impl ConnectionTrait,
    uploads: impl Iterator<Item = &'u ToStore<'a>>,
) -> ApiResult<LockedEnrollments> {
    let keys: Vec<UploadKey> = uploads
        .map(|u| UploadKey {
            campaign_id: u.ctx.campaign.id,
            participant_id: u.participant_id,
            days: u.good.keys().copied().collect(),
        })
        .collect();
    Ok(batches::lock_enrollments_with_days(db, &keys).await?)
}

/// An upload stored but for its share of its cohorts' and campaign's rows, which waits in a
/// [`Shared`] to be written with those of the other uploads of the transaction.
struct Stored {
    accepted: Vec<AcceptedDay>,
    change: Change,
}

enum Change {
    /// Every day was already stored with at least these steps: nothing changed.
    Replay(enrollments::Model),
    /// The participant's own part, applied.
    Applied(progress::Own),
}

impl Stored {
    /// The participant's class, when the upload added to it.
    pub fn class_id(&self) -> Option<i32> {
        match &self.change {
            Change::Applied(own) => own.class_id(),
            Change::Replay(_) => None,
        }
    }

    /// The outcome once the shared rows are `written`; `reports` says whether this upload
    /// reports its class's new unlocks (see [`progress::Own::applied`]).
    ///
    /// # Errors
    /// When the upload's class is missing from `written`.
    pub fn finish(self, written: &Written, reports: bool) -> ApiResult<IngestOutcome> {
        match self.change {
            Change::Applied(own) => {
                let applied = own.applied(written, reports)?;
                Ok(IngestOutcome {
                    enrollment: applied.enrollment,
                    class: applied.class,
                    accepted: self.accepted,
                    newly: applied.newly,
                    changed: true,
                })
            }
            Change::Replay(enrollment) => Ok(IngestOutcome {
                enrollment,
                class: None,
                accepted: self.accepted,
                newly: Vec::new(),
                changed: false,
            }),
        }
    }
}

/// The outcomes of a transaction's uploads (in order; refusals among them) once their shared
/// rows are `written`. A class's new unlocks are reported by the last of its uploads, as if
/// each upload had been stored alone and that one had crossed the station.
///
/// # Errors
/// Per upload: its refusal, or its class missing from `written`.
fn finish_all(stored: Vec<ApiResult<Stored>>, written: &Written) -> Vec<ApiResult<IngestOutcome>> {
    let mut reported = std::collections::HashSet::new();
    let mut outcomes: Vec<_> = stored
        .into_iter()
        .rev()
        .map(|s| {
            s.and_then(|s| {
                let reports = s.class_id().is_none_or(|id| reported.insert(id));
                s.finish(written, reports)
            })
        })
        .collect();
    outcomes.reverse();
    outcomes
}

/// What an upload changes, decided from what is stored: the day rows to write, the
/// changes to the participant's days, and the answer's days.
struct Merge {
    writes: Vec<step_days::Model>,
    deltas: Vec<DayDelta>,
    accepted: Vec<AcceptedDay>,
}

/// The max-merge of an upload's days into the `stored` ones, with caps and flags
/// (`domain::step_day::merge`). Refuses nothing and writes nothing. New days and grown days
/// are written as whole rows (see [`store_days`]); a stored day keeps its id, creation time
/// and void state.
fn merge(u: &ToStore<'_>, enrollment: &enrollments::Model, stored: &[StoredDay], now: DateTime<Utc>) -> Merge {
    let ctx = u.ctx;
    let cap = i64::from(ctx.campaign.daily_step_cap);
    let flag_over = i64::from(ctx.campaign.flag_steps_over);
    let mut deltas = Vec::new();
    let mut writes = Vec::new();
    let mut accepted = Vec::with_capacity(u.good.len());
    for (&day, &steps) in u.good {
        let m = step_day::merge(day, steps, stored.iter().find(|s| s.day == day), cap, flag_over);
        if m.write {
            writes.push(step_days::Model {
                id: 0,
                campaign_id: ctx.campaign.id,
                participant_id: u.participant_id,
                enrollment_id: enrollment.id,
                day,
                steps,
                counted: m.after.counted,
                source: u.source,
                flagged: m.after.flagged,
                voided: false,
                void_reason: None,
                created_at: now,
                updated_at: now,
            });
        }
        deltas.extend(m.delta);
        accepted.push(AcceptedDay {
            date: day,
            steps,
            stored_steps: m.after.steps,
            counted: m.effective(),
            flagged: m.after.flagged,
        });
    }
    Merge {
        writes,
        deltas,
        accepted,
    }
}

/// Writes new and grown days in one statement (`db::batches::upsert_step_days`). Rows
/// already stored keep their id, creation time and void state; the caller has read them
/// under the enrollments' locks, so each row here is exactly the day's new value.
async fn store_days(db: &impl ConnectionTrait, rows: &[step_days::Model], now: DateTime<Utc>) -> ApiResult<()> {
    let rows: Vec<DayRow<'_>> = rows
        .iter()
        .map(|r| DayRow {
            campaign_id: r.campaign_id,
            participant_id: r.participant_id,
            enrollment_id: r.enrollment_id,
            day: r.day,
            steps: r.steps,
            counted: r.counted,
            source: r.source.as_str(),
            flagged: r.flagged,
        })
        .collect();
    Ok(batches::upsert_step_days(db, &rows, now).await?)
}
