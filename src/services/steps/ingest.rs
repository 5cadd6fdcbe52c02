//! Step ingestion: manual batches and WeChat WeRun payloads, judged day by day and merged
//! by max into the participant's step days, in one transaction with every total and unlock.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{
        conversion,
        days::{DayRejection, DayWindow, StepCount, parse_local_day, werun_day},
    },
    http::error::{ApiError, ApiResult},
    models::{campaigns, cohorts, enrollments, step_days},
    services::{
        boards::me::{self, ProgressView},
        identity::werun,
        progress::{self, CampaignCtx, CohortDates, DayDelta, Shared, UnlockedStation, Written},
        steps::queue::Upload,
    },
    state::AppState,
};

/// Most days in one manual batch.
pub const MAX_BATCH_DAYS: usize = 31;

pub use crate::domain::states::StepSource;

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
    /// Stations this upload unlocked for its subject of record: the participant, or in
    /// cohort modes their class. When several uploads of one class are stored in one
    /// transaction, the class's new stations are listed in the last one's answer only.
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
fn check_campaign(ctx: &CampaignCtx, source: StepSource) -> ApiResult<()> {
    if ctx.campaign.status == campaigns::CampaignStatus::Closed {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; its results are final.",
        ));
    }
    if ctx.campaign.status != campaigns::CampaignStatus::Active {
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
pub fn judge_days(ctx: &CampaignCtx, days: impl IntoIterator<Item = (String, Option<NaiveDate>, i64)>) -> Judged {
    judge_days_in(&ctx.window, ctx.today(), days)
}

/// [`judge_days`] against a bare window and local `today`: no campaign row or clock needed,
/// so the rules can be fuzzed and property-tested on their own.
pub fn judge_days_in(
    window: &DayWindow,
    today: NaiveDate,
    days: impl IntoIterator<Item = (String, Option<NaiveDate>, i64)>,
) -> Judged {
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
        let verdict = StepCount::try_from(steps).and_then(|_| window.judge(date, today));
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
    check_campaign(&ctx, StepSource::Manual)?;
    if batch.days.is_empty() {
        return Err(ApiError::invalid_field("days", "send at least one day"));
    }
    if batch.days.len() > MAX_BATCH_DAYS {
        return Err(ApiError::invalid_field(
            "days",
            format!("send at most {MAX_BATCH_DAYS} days at once"),
        ));
    }
    let (good, rejected) = judge_batch(&ctx.window, ctx.today(), batch.days);
    finish_upload(state, &ctx, participant_id, good, rejected, StepSource::Manual).await
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
    check_campaign(&ctx, StepSource::Werun)?;
    let now = Utc::now().timestamp();
    let wechat = &state.settings.wechat;
    let (good, rejected) = state
        .session_keys
        .judge(&state.db, participant_id, |key| {
            judge_werun(
                key,
                &upload,
                &wechat.appid,
                now,
                wechat.werun_max_age_secs,
                ctx.tz,
                &ctx.window,
            )
        })
        .await?
        .map_err(|e| ApiError::unprocessable(e.code(), format!("{}.", capitalise(&e.to_string()))))?;
    finish_upload(state, &ctx, participant_id, good, rejected, StepSource::Werun).await
}

/// Days judged for an upload: the good ones merged by max per date, and the refused ones.
pub type Judged = (BTreeMap<NaiveDate, i64>, Vec<RejectedDay>);

/// Judges a manual batch's days (strict `YYYY-MM-DD` dates) on local day `today`.
pub fn judge_batch(window: &DayWindow, today: NaiveDate, days: Vec<StepDayInput>) -> Judged {
    judge_days_in(
        window,
        today,
        days.into_iter().map(|d| {
            let parsed = parse_local_day(&d.date);
            (d.date, parsed, d.steps)
        }),
    )
}

/// Everything a WeRun upload goes through before the database: decrypt with the session
/// key, read the step list, check the watermark against `appid` at `now_unix`, map each
/// entry to its campaign-local day in `tz` and judge it against `window` on that day.
///
/// # Errors
/// The [`werun::WerunError`] of the first check that fails.
pub fn judge_werun(
    session_key: &str,
    upload: &WerunUpload,
    appid: &str,
    now_unix: i64,
    max_age_secs: i64,
    tz: chrono_tz::Tz,
    window: &DayWindow,
) -> Result<Judged, werun::WerunError> {
    let plain = werun::decrypt(session_key, &upload.iv, &upload.encrypted_data)?;
    let data = werun::parse(&plain)?;
    werun::check_watermark(&data, appid, now_unix, max_age_secs)?;
    let now = chrono::DateTime::from_timestamp(now_unix, 0).unwrap_or_default();
    let today = crate::domain::days::today_in(tz, now);
    Ok(judge_days_in(
        window,
        today,
        data.step_info_list.iter().map(|e| {
            let day = werun_day(e.timestamp, tz);
            let raw = day.map_or_else(|| format!("@{}", e.timestamp), |d| d.to_string());
            (raw, day, e.step)
        }),
    ))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

async fn finish_upload(
    state: &AppState,
    ctx: &Arc<CampaignCtx>,
    participant_id: i32,
    good: BTreeMap<NaiveDate, i64>,
    rejected: Vec<RejectedDay>,
    source: StepSource,
) -> ApiResult<UploadAnswer> {
    let dates = if state.settings.cache.cohort_dates_max_staleness_ms == 0 {
        CohortDates::Now
    } else {
        CohortDates::Deferred
    };
    let outcome = state
        .uploads
        .store(Upload {
            ctx: Arc::clone(ctx),
            participant_id,
            good,
            source,
            dates,
        })
        .await?;
    // A replay changes no board: no screen needs to hear of it.
    if outcome.changed {
        crate::services::live::after_upload(state, ctx, &outcome.enrollment, &outcome.newly).await;
    }
    let progress = match &outcome.class {
        Some(class) => me::progress_view_with(&state.db, &state.boards, ctx, &outcome.enrollment, Some(class)).await?,
        None => me::progress_view(&state.db, &state.boards, ctx, &outcome.enrollment).await?,
    };
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
    /// The participant's class as the transaction left it, when the transaction wrote it
    /// (the answer's progress view then needs no read of its own).
    pub class: Option<cohorts::Model>,
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
    source: StepSource,
    dates: CohortDates,
) -> ApiResult<IngestOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let txn = crate::db::begin_write(db).await?;
        match ingest_in(&txn, ctx, participant_id, good, source, dates).await {
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

/// `ingest` inside an open transaction.
async fn ingest_in(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    participant_id: i32,
    good: &BTreeMap<NaiveDate, i64>,
    source: StepSource,
    dates: CohortDates,
) -> ApiResult<IngestOutcome> {
    let mut outcomes = ingest_together_in(db, ctx, [(participant_id, good)], source, dates).await?;
    outcomes
        .pop()
        .ok_or_else(|| anyhow::anyhow!("an upload stored nothing").into())
}

/// Stores several participants' judged days inside an open transaction, as one upload each
/// (CSV imports, the simulator): see [`store_together`]. The outcomes are in the order given.
///
/// # Errors
/// 403 `not_enrolled` / `participant_suspended` for any of them; on database failure.
pub async fn ingest_together_in<'g>(
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
    let mut shared = Shared::default();
    let stored = store_together(db, &uploads, &mut shared).await?;
    // A refusal fails them all (the caller rolls the transaction back).
    let stored = stored.into_iter().collect::<ApiResult<Vec<_>>>()?;
    let written = shared.write(db, progress::at_stored_precision(Utc::now())).await?;
    finish_all(stored.into_iter().map(Ok).collect(), &written)
        .into_iter()
        .collect()
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
pub async fn store_together<'a>(
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
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| anyhow::anyhow!("an upload was left out of its transaction").into()))
        .collect()
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
    if enrollment.status == enrollments::SUSPENDED {
        let reason = enrollment.suspend_reason.clone().unwrap_or_default();
        return Err(ApiError::forbidden(
            "participant_suspended",
            format!("Your participation is suspended: {reason}"),
        ));
    }
    Ok((enrollment, stored))
}

/// A stored day as the merge needs it: day, steps, counted, flagged, voided.
type StoredDay = (NaiveDate, i64, i64, bool, bool);

/// The enrollments of `uploads`, locked so that uploads of one participant serialise, with
/// their stored rows among the days uploaded, by (campaign, participant). The uploads' keys
/// and days go as one JSON parameter, so that one statement text serves every batch.
///
/// On SQLite `BEGIN IMMEDIATE` has already serialised every writer, and one statement reads
/// both (each enrollment's day rows as one JSON array: joined, every day row would repeat
/// the enrollment's columns, and sqlx copies every value of every row). On PostgreSQL the
/// enrollments are locked in id order, and the days need a statement of their own after
/// the locks: a locking read that waited for another upload sees the locked row as that
/// upload committed it, but every other row of the statement as of the statement's start
/// (READ COMMITTED), so a joined read of the days would miss what the other upload stored
/// and count it twice.
async fn lock_with_days<'u, 'a: 'u>(
    db: &impl ConnectionTrait,
    uploads: impl Iterator<Item = &'u ToStore<'a>>,
) -> ApiResult<std::collections::HashMap<(i32, i32), (enrollments::Model, Vec<StoredDay>)>> {
    let keys: Vec<(i32, i32, Vec<NaiveDate>)> = uploads
        .map(|u| (u.ctx.campaign.id, u.participant_id, u.good.keys().copied().collect()))
        .collect();
    let mut locked = std::collections::HashMap::with_capacity(keys.len());
    if keys.is_empty() {
        return Ok(locked);
    }
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let pairs: Vec<(i32, i32)> = keys.iter().map(|(c, p, _)| (*c, *p)).collect();
        let sql = "SELECT e.* FROM enrollments e WHERE (e.campaign_id, e.participant_id) IN \
                   (SELECT (r->>0)::integer, (r->>1)::integer FROM jsonb_array_elements($1::jsonb) AS r) \
                   ORDER BY e.id FOR UPDATE OF e";
        let rows = enrollments::Model::find_by_statement(Statement::from_sql_and_values(
            backend,
            sql,
            [to_json(&pairs)?.into()],
        ))
        .all(db)
        .await?;
        for e in rows {
            locked.insert((e.campaign_id, e.participant_id), (e, Vec::new()));
        }
        let wanted: Vec<(i32, i32, NaiveDate)> = keys
            .iter()
            .flat_map(|(c, p, days)| days.iter().map(move |d| (*c, *p, *d)))
            .collect();
        if wanted.is_empty() {
            return Ok(locked);
        }
        let sql = "SELECT d.campaign_id, d.participant_id, d.day, d.steps, d.counted, d.flagged, d.voided \
                   FROM jsonb_array_elements($1::jsonb) AS r JOIN step_days d \
                   ON d.participant_id = (r->>1)::integer AND d.campaign_id = (r->>0)::integer \
                   AND d.day = (r->>2)::date";
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, [to_json(&wanted)?.into()]))
            .await?;
        for row in rows {
            let (c, p, day, steps, counted, flagged, voided) =
                row.try_get_many_by_index::<(i32, i32, NaiveDate, i64, i64, bool, bool)>()?;
            if let Some((_, days)) = locked.get_mut(&(c, p)) {
                days.push((day, steps, counted, flagged, voided));
            }
        }
        return Ok(locked);
    }
    // `CROSS JOIN` keeps the uploads as the outer loop: one index lookup each.
    let sql = "SELECT e.*, (SELECT json_group_array(json_array(d.day, d.steps, d.counted, d.flagged, d.voided)) \
               FROM step_days d WHERE d.participant_id = e.participant_id AND d.campaign_id = e.campaign_id \
               AND d.day IN (SELECT value FROM json_each(r.value, '$[2]'))) AS stored_days \
               FROM json_each(?) AS r CROSS JOIN enrollments e \
               ON e.campaign_id = json_extract(r.value, '$[0]') AND e.participant_id = json_extract(r.value, '$[1]')";
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [to_json(&keys)?.into()]))
        .await?;
    for row in rows {
        let enrollment = enrollments::Model::from_query_result(&row, "")?;
        let stored: String = row.try_get("", "stored_days")?;
        let stored: Vec<(NaiveDate, i64, i64, i64, i64)> =
            serde_json::from_str(&stored).map_err(anyhow::Error::from)?;
        let stored = stored
            .into_iter()
            .map(|(day, steps, counted, flagged, voided)| (day, steps, counted, flagged != 0, voided != 0))
            .collect();
        locked.insert(
            (enrollment.campaign_id, enrollment.participant_id),
            (enrollment, stored),
        );
    }
    Ok(locked)
}

fn to_json(value: &impl Serialize) -> ApiResult<String> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// An upload stored but for its share of its cohorts' and campaign's rows, which waits in a
/// [`Shared`] to be written with those of the other uploads of the transaction.
pub struct Stored {
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
pub fn finish_all(stored: Vec<ApiResult<Stored>>, written: &Written) -> Vec<ApiResult<IngestOutcome>> {
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

/// The max-merge of an upload's days into the `stored` ones, with caps and flags. Refuses
/// nothing and writes nothing. New days and grown days are written as whole rows (see
/// [`store_days`]); a stored day keeps its id, creation time and void state.
fn merge(u: &ToStore<'_>, enrollment: &enrollments::Model, stored: &[StoredDay], now: DateTime<Utc>) -> Merge {
    let ctx = u.ctx;
    let cap = i64::from(ctx.campaign.daily_step_cap);
    let flag_over = i64::from(ctx.campaign.flag_steps_over);
    let mut deltas = Vec::new();
    let mut writes = Vec::new();
    let mut accepted = Vec::with_capacity(u.good.len());
    for (&day, &steps) in u.good {
        let counted = conversion::counted(steps, cap);
        let flagged = conversion::is_flagged(steps, flag_over);
        let write = |flagged: bool| step_days::Model {
            id: 0,
            campaign_id: ctx.campaign.id,
            participant_id: u.participant_id,
            enrollment_id: enrollment.id,
            day,
            steps,
            counted,
            source: u.source,
            flagged,
            voided: false,
            void_reason: None,
            created_at: now,
            updated_at: now,
        };
        match stored.iter().find(|(d, ..)| *d == day) {
            None => {
                writes.push(write(flagged));
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
            }
            Some(&(_, old_steps, old_counted, old_flagged, voided)) if steps > old_steps => {
                let old_effective = conversion::effective(old_counted, voided);
                let new_effective = conversion::effective(counted, voided);
                deltas.push(DayDelta {
                    day,
                    counted: new_effective - old_effective,
                    steps: if voided { 0 } else { steps - old_steps },
                    active: i32::from(old_effective == 0 && new_effective > 0),
                });
                accepted.push(AcceptedDay {
                    date: day,
                    steps,
                    stored_steps: steps,
                    counted: new_effective,
                    flagged: old_flagged || flagged,
                });
                writes.push(write(old_flagged || flagged));
            }
            Some(&(_, old_steps, old_counted, old_flagged, voided)) => accepted.push(AcceptedDay {
                date: day,
                steps,
                stored_steps: old_steps,
                counted: conversion::effective(old_counted, voided),
                flagged: old_flagged,
            }),
        }
    }
    Merge {
        writes,
        deltas,
        accepted,
    }
}

/// Writes new and grown days in one statement, their rows as one JSON parameter. Rows
/// already stored keep their id, creation time and void state (only steps, counted, flag,
/// source and update time are written); the caller has read them under the enrollments'
/// locks, so each row here is exactly the day's new value.
async fn store_days(db: &impl ConnectionTrait, rows: &[step_days::Model], now: DateTime<Utc>) -> ApiResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let rows_of = match backend {
        DbBackend::Postgres => {
            "SELECT (r->>0)::integer, (r->>1)::integer, (r->>2)::integer, (r->>3)::date, (r->>4)::bigint, \
             (r->>5)::bigint, r->>6, (r->>7)::boolean, false, NULL, $2, $2 FROM jsonb_array_elements($1::jsonb) AS r"
        }
        // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        _ => {
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
             json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
             json_extract(value, '$[6]'), json_extract(value, '$[7]'), 0, NULL, ?2, ?2 FROM json_each(?1) WHERE true"
        }
    };
    let sql = format!(
        "INSERT INTO step_days (campaign_id, participant_id, enrollment_id, day, steps, counted, source, flagged, \
         voided, void_reason, created_at, updated_at) {rows_of} \
         ON CONFLICT (participant_id, campaign_id, day) DO UPDATE SET steps = excluded.steps, \
         counted = excluded.counted, flagged = excluded.flagged, source = excluded.source, \
         updated_at = excluded.updated_at"
    );
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.campaign_id,
                r.participant_id,
                r.enrollment_id,
                r.day,
                r.steps,
                r.counted,
                r.source.as_str(),
                r.flagged,
            )
        })
        .collect();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [to_json(&rows)?.into(), now.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use chrono::{Days, TimeZone};
    use chrono_tz::Asia::Shanghai;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::days::MAX_STEPS_PER_DAY;

    const KEY: [u8; 16] = *b"longmarch-key-16";
    const IV: [u8; 16] = *b"0123456789abcdef";
    const APPID: &str = "wx4f4bc4dec97d474b";

    /// A window of 20 days ending on `today`, and noon of `today` in Shanghai.
    fn setting() -> (DayWindow, NaiveDate, i64) {
        let today = NaiveDate::from_ymd_opt(2025, 3, 20).expect("date");
        let window = DayWindow {
            starts_on: today - Days::new(19),
            ends_on: today + Days::new(10),
            sync_grace_days: 3,
        };
        let noon = Shanghai
            .from_local_datetime(&today.and_hms_opt(12, 0, 0).expect("noon"))
            .single()
            .expect("unambiguous")
            .timestamp();
        (window, today, noon)
    }

    fn assert_within_rules(window: &DayWindow, today: NaiveDate, (good, rejected): &Judged, entries: usize) {
        assert!(good.len() + rejected.len() <= entries);
        for (day, steps) in good {
            assert!(*day >= window.starts_on && *day <= today, "{day}");
            assert!((0..=MAX_STEPS_PER_DAY).contains(steps), "{steps}");
        }
    }

    #[test]
    fn every_flipped_bit_of_iv_or_ciphertext_fails_cleanly_or_stays_within_the_rules() {
        let (window, today, now) = setting();
        let entries: Vec<String> = (0..31)
            .map(|i| {
                let day = today - Days::new(30 - i);
                let midnight = Shanghai
                    .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
                    .single()
                    .expect("unambiguous")
                    .timestamp();
                format!(r#"{{"timestamp":{midnight},"step":{}}}"#, 49_000 + i)
            })
            .collect();
        let plain = format!(
            r#"{{"stepInfoList":[{}],"watermark":{{"timestamp":{now},"appid":"{APPID}"}}}}"#,
            entries.join(",")
        );
        let key = STANDARD.encode(KEY);
        let iv = IV.to_vec();
        let data = STANDARD
            .decode(werun::encrypt(&KEY, &IV, plain.as_bytes()))
            .expect("base64");
        let judge = |iv: &[u8], data: &[u8]| {
            let upload = WerunUpload {
                encrypted_data: STANDARD.encode(data),
                iv: STANDARD.encode(iv),
            };
            judge_werun(&key, &upload, APPID, now, 86_400, Shanghai, &window)
        };
        let untouched = judge(&iv, &data).expect("the genuine payload passes");
        assert_eq!(untouched.0.len(), 20);
        let (mut refused, mut passed) = (0usize, 0usize);
        let mut check = |result: Result<Judged, werun::WerunError>| match result {
            Err(e) => {
                assert!(e.code().starts_with("werun_"));
                refused += 1;
            }
            Ok(judged) => {
                assert_within_rules(&window, today, &judged, 31);
                passed += 1;
            }
        };
        for bit in 0..iv.len() * 8 {
            let mut t = iv.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            check(judge(&t, &data));
        }
        for bit in 0..data.len() * 8 {
            let mut t = data.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            check(judge(&iv, &t));
        }
        assert_eq!(refused + passed, (iv.len() + data.len()) * 8);
        assert!(
            refused * 10 > (refused + passed) * 9,
            "{refused} refused, {passed} passed"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_step_batches_are_judged_within_the_rules(
            days in prop::collection::vec(("\\PC{0,12}|20[0-9]{2}-[01][0-9]-[0-3][0-9]", any::<i64>()), 0..40),
        ) {
            let (window, today, _) = setting();
            let n = days.len();
            let input = days.into_iter().map(|(date, steps)| StepDayInput { date, steps }).collect();
            let judged = judge_batch(&window, today, input);
            assert_within_rules(&window, today, &judged, n);
            for r in &judged.1 {
                prop_assert!(!r.code.is_empty() && !r.reason.is_empty());
            }
        }

        #[test]
        fn arbitrary_bytes_as_a_step_batch_body_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let (window, today, _) = setting();
            if let Ok(batch) = serde_json::from_slice::<StepBatch>(&body) {
                let n = batch.days.len();
                assert_within_rules(&window, today, &judge_batch(&window, today, batch.days), n);
            }
        }

        #[test]
        fn arbitrary_werun_uploads_fail_cleanly_or_stay_within_the_rules(
            iv in "\\PC{0,30}|[A-Za-z0-9+/]{22}==",
            data in "\\PC{0,100}|([A-Za-z0-9+/]{4}){4,40}",
        ) {
            let (window, today, now) = setting();
            let upload = WerunUpload { encrypted_data: data, iv };
            if let Ok(judged) = judge_werun(&STANDARD.encode(KEY), &upload, APPID, now, 86_400, Shanghai, &window) {
                assert_within_rules(&window, today, &judged, werun::MAX_STEP_ENTRIES);
            }
        }
    }
}
