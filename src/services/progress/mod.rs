//! The progress engine: running totals per participant, per cohort (each level of the tree)
//! and per day, and the unlocks derived from them.
//!
//! Every unlock is the pure function `domain::progress::reached_on` of a subject's day
//! series; ingestion keeps the stored state equal to that function incrementally, and
//! `recompute_campaign` rebuilds it from the step days alone. The two must agree exactly.

use std::collections::{BTreeMap, HashMap};

mod shared;
use shared::Increment;
pub use shared::{Shared, Written};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{CaseStatement, Expr, ExprTrait, SimpleExpr},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::batches::{self, TotalsRow},
    domain::{
        cohort_tree,
        conversion::{self, ProgressMode},
        days::DayWindow,
        progress::{StationMark, diff_unlocks, may_shift, position, reached_on},
        step_day::DayDelta,
    },
    http::error::ApiResult,
    models::{campaign_days, campaigns, cohort_days, cohorts, enrollments, routes, stations, step_days, unlocks},
};

pub use crate::domain::states::Subject;

/// A campaign with what every progress computation needs: zone, window, mode, stations.
#[derive(Debug, Clone)]
pub struct CampaignCtx {
    pub campaign: campaigns::Model,
    pub tz: Tz,
    pub mode: ProgressMode,
    pub window: DayWindow,
    pub stations: Vec<stations::Model>,
    pub marks: Vec<StationMark>,
    /// The campaign's cohort tree: id → parent id.
    pub parents: cohort_tree::Parents,
}

impl CampaignCtx {
    /// Builds the context of a loaded campaign (drafts included).
    ///
    /// # Errors
    /// On database failure or a corrupt campaign row.
    pub async fn from_model(db: &impl ConnectionTrait, campaign: campaigns::Model) -> ApiResult<Self> {
        let route = routes::Entity::find_by_id(campaign.route_id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("campaign {} has no route", campaign.slug))?;
        let stations = route.stations(db).await?;
        let marks = stations
            .iter()
            .map(|s| StationMark {
                seq: s.seq,
                metres: s.metres,
            })
            .collect();
        let tz: Tz = campaign
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("campaign {} has an invalid time zone", campaign.slug))?;
        let mode = campaign.progress_mode;
        let parents = cohorts::Entity::find()
            .select_only()
            .column(cohorts::Column::Id)
            .column(cohorts::Column::ParentId)
            .filter(cohorts::Column::CampaignId.eq(campaign.id))
            .into_tuple::<(i32, Option<i32>)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let window = DayWindow {
            starts_on: campaign.starts_on,
            ends_on: campaign.ends_on,
            sync_grace_days: u32::try_from(campaign.sync_grace_days).unwrap_or(0),
        };
        Ok(Self {
            campaign,
            tz,
            mode,
            window,
            stations,
            marks,
            parents,
        })
    }

    /// Today in the campaign's zone.
    pub fn today(&self) -> NaiveDate {
        crate::domain::days::today_in(self.tz, Utc::now())
    }

    fn spk(&self) -> i64 {
        i64::from(self.campaign.steps_per_km)
    }

    /// A participant's own metres.
    pub fn participant_metres(&self, counted: i64) -> i64 {
        conversion::metres(counted, self.spk())
    }

    /// A cohort's metres in the campaign's mode (mean per member outside `cohort_total`).
    pub fn cohort_metres(&self, counted: i64, members: i64) -> i64 {
        conversion::cohort_metres(self.mode, counted, members, self.spk())
    }

    /// `cohorts.metres` after adding `d_counted` (an SQL expression) to `total_counted`, as
    /// SQL for the same UPDATE: [`Self::cohort_metres`] of the new total. Built from
    /// sea-query's operators, not a custom SQL template: a template's placeholder is `$1` on
    /// PostgreSQL but `?` on SQLite, where a `$1` left in the text is bound by sqlx to the
    /// statement's first value.
    pub fn cohort_metres_sql(&self, d_counted: SimpleExpr) -> SimpleExpr {
        conversion::cohort_metres_sql(
            self.mode,
            Expr::col(cohorts::Column::TotalCounted).add(d_counted),
            Expr::col(cohorts::Column::MemberCount),
            self.spk(),
        )
    }

    /// The cohort and its ancestors' ids, nearest first, from the campaign's tree as loaded
    /// with the context (`None` for a cohort created since).
    pub fn chain_ids(&self, cohort_id: i32) -> Option<Vec<i32>> {
        cohort_tree::chain(&self.parents, cohort_id)
    }

    /// True when cohorts (not participants) are the campaign's unlock subjects.
    pub fn cohort_mode(&self) -> bool {
        self.mode != ProgressMode::Individual
    }

    /// True when a participant's own unlocks are stored: when they are the participant's
    /// subject of record (individual mode, or no cohort). A cohort member's own position,
    /// station count and `last_reached_on` live on the enrollment either way.
    pub fn stores_own_unlocks(&self, cohort_id: Option<i32>) -> bool {
        !self.cohort_mode() || cohort_id.is_none()
    }

    /// The station with this seq.
    pub fn station(&self, seq: i32) -> Option<&stations::Model> {
        self.stations.iter().find(|s| s.seq == seq)
    }
}

/// When an upload re-derives the `reached_on` dates of its cohorts' unlocks.
///
/// In cohort modes a back-dated day of one member moves the class's (and college's) series
/// before its latest station, so the dates on which earlier stations were reached may move.
/// Re-deriving them reads the cohort's whole series and unlocks; under a burst of first
/// syncs of the day that is most of an upload's work, once per member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortDates {
    /// Inside the upload's transaction.
    Now,
    /// A change that can only move dates (no station gained or lost) marks the cohort
    /// `reached_dates_stale` in the same statement that adds the steps;
    /// [`refresh_stale_cohorts`] re-derives every marked cohort of a campaign in one
    /// transaction. Stations gained or lost are still stored inside the upload.
    Deferred,
}

/// A station just unlocked by an upload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnlockedStation {
    pub seq: i32,
    pub name: String,
    pub title: String,
    pub reached_on: NaiveDate,
}

/// Stored unlocks brought in line with `computed`; returns the newly inserted ones.
///
/// # Errors
/// On database failure.
pub async fn sync_unlocks(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    kind: Subject,
    subject_id: i32,
    computed: &[(i32, NaiveDate)],
    now: DateTime<Utc>,
) -> ApiResult<Vec<(i32, NaiveDate)>> {
    let stored_rows = unlocks::Entity::find()
        .filter(unlocks::Column::CampaignId.eq(campaign_id))
        .filter(unlocks::Column::SubjectKind.eq(kind))
        .filter(unlocks::Column::SubjectId.eq(subject_id))
        .all(db)
        .await?;
    let stored: Vec<(i32, NaiveDate)> = stored_rows.iter().map(|u| (u.station_seq, u.reached_on)).collect();
    let diff = diff_unlocks(&stored, computed);
    if diff.is_empty() {
        return Ok(Vec::new());
    }
    if !diff.insert.is_empty() {
        let rows = diff.insert.iter().map(|(seq, day)| unlocks::ActiveModel {
            campaign_id: Set(campaign_id),
            subject_kind: Set(kind),
            subject_id: Set(subject_id),
            station_seq: Set(*seq),
            unlocked_at: Set(now),
            reached_on: Set(*day),
            ..Default::default()
        });
        unlocks::Entity::insert_many(rows).exec(db).await?;
    }
    // A back-dated day can move many stations' dates at once (in cohort modes, each
    // member's old day moves the class mean): one UPDATE with a CASE, not one per station.
    if let Some(((first_seq, first_day), rest)) = diff.update.split_first() {
        let dates = rest.iter().fold(
            CaseStatement::new().case(unlocks::Column::StationSeq.eq(*first_seq), Expr::value(*first_day)),
            |case, (seq, day)| case.case(unlocks::Column::StationSeq.eq(*seq), Expr::value(*day)),
        );
        unlocks::Entity::update_many()
            .col_expr(
                unlocks::Column::ReachedOn,
                dates.finally(Expr::col(unlocks::Column::ReachedOn)).into(),
            )
            .filter(unlocks::Column::CampaignId.eq(campaign_id))
            .filter(unlocks::Column::SubjectKind.eq(kind))
            .filter(unlocks::Column::SubjectId.eq(subject_id))
            .filter(unlocks::Column::StationSeq.is_in(diff.update.iter().map(|(seq, _)| *seq)))
            .exec(db)
            .await?;
    }
    if !diff.delete.is_empty() {
        unlocks::Entity::delete_many()
            .filter(unlocks::Column::CampaignId.eq(campaign_id))
            .filter(unlocks::Column::SubjectKind.eq(kind))
            .filter(unlocks::Column::SubjectId.eq(subject_id))
            .filter(unlocks::Column::StationSeq.is_in(diff.delete.clone()))
            .exec(db)
            .await?;
    }
    Ok(diff.insert)
}

/// Summary of a reached list: (stations reached, reached_on of the furthest, finished_on).
fn reached_summary(ctx: &CampaignCtx, reached: &[(i32, NaiveDate)]) -> (i32, Option<NaiveDate>, Option<NaiveDate>) {
    let count = i32::try_from(reached.len()).unwrap_or(i32::MAX);
    let last = reached.last().map(|(_, d)| *d);
    let finished = match (ctx.marks.last(), reached.last()) {
        (Some(end), Some((seq, day))) if *seq == end.seq => Some(*day),
        _ => None,
    };
    (count, last, finished)
}

/// The cohort and its ancestors, nearest first.
///
/// # Errors
/// On database failure.
pub async fn chain_of(db: &impl ConnectionTrait, cohort_id: Option<i32>) -> ApiResult<Vec<cohorts::Model>> {
    match cohort_id {
        Some(id) => match cohorts::Entity::find_by_id(id).one(db).await? {
            Some(c) => Ok(c.chain(db).await?),
            None => Ok(Vec::new()),
        },
        None => Ok(Vec::new()),
    }
}

/// When [`refresh_cohort`] reads a cohort's per-day series to re-derive its stations and
/// their dates (it always re-derives its metres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rederive {
    /// Always: what every day of the series is worth changed (a member joined a
    /// `cohort_mean` cohort).
    Always,
    /// When `changes` crossed or lost a station, or may move a date already stored.
    WhenMoved,
    /// When `changes` crossed or lost a station; a change that can only move dates is left
    /// to [`refresh_stale_cohorts`] (the caller has marked the cohort stale).
    WhenCrossed,
}

/// Re-derives a cohort's metres and (in cohort modes) unlocks from its stored totals and,
/// as `rederive` says, its per-day series. Returns newly inserted unlocks.
///
/// # Errors
/// On database failure.
pub async fn refresh_cohort(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    cohort: &cohorts::Model,
    changes: &[DayDelta],
    rederive: Rederive,
    now: DateTime<Utc>,
) -> ApiResult<(cohorts::Model, Vec<(i32, NaiveDate)>)> {
    let metres = ctx.cohort_metres(cohort.total_counted, i64::from(cohort.member_count));
    let mut active = cohort.clone().into_active_model();
    if metres != cohort.metres {
        active.metres = Set(metres);
    }
    let mut inserted = Vec::new();
    if ctx.cohort_mode() {
        let reached_now = ctx.marks.partition_point(|m| m.metres <= metres);
        let stored = usize::try_from(cohort.stations_reached).unwrap_or(0);
        // With a day series, the start station counts as reached: `reached_now` and `stored`
        // differ exactly when a station was crossed (or lost) since the last sync.
        let crossed = reached_now != stored || (stored == 0 && !changes.is_empty());
        let read_series = match rederive {
            Rederive::Always => true,
            Rederive::WhenMoved => crossed || may_shift(changes, cohort.last_reached_on),
            Rederive::WhenCrossed => crossed,
        };
        if read_series {
            let days = cohort_days::Entity::find()
                .filter(cohort_days::Column::CohortId.eq(cohort.id))
                .all(db)
                .await?;
            let reached = cohort_reached(ctx, cohort.member_count, &days);
            inserted = sync_unlocks(db, ctx.campaign.id, Subject::Cohort, cohort.id, &reached, now).await?;
            let (count, last, finished) = reached_summary(ctx, &reached);
            active.stations_reached = Set(count);
            active.last_reached_on = Set(last);
            active.finished_on = Set(finished);
            if cohort.reached_dates_stale {
                active.reached_dates_stale = Set(false);
            }
        }
    }
    let updated = if active.is_changed() {
        active.update(db).await?
    } else {
        cohort.clone()
    };
    Ok((updated, inserted))
}

/// The stations a cohort of `members` has reached, and when, from its per-day rows.
fn cohort_reached(ctx: &CampaignCtx, members: i32, days: &[cohort_days::Model]) -> Vec<(i32, NaiveDate)> {
    // A cohort's series holds the days its members counted steps on; a row brought back to
    // zero (a voided day) is no longer one of them.
    let series: Vec<(NaiveDate, i64)> = days
        .iter()
        .filter(|d| d.counted > 0)
        .map(|d| (d.day, d.counted))
        .collect();
    let members = i64::from(members);
    reached_on(&ctx.marks, &series, |c| ctx.cohort_metres(c, members))
}

/// Re-derives the unlock dates of every cohort marked `reached_dates_stale` (of one
/// campaign, or all), one transaction per campaign whatever the number of cohorts: the
/// coalescing half of [`CohortDates::Deferred`]. On PostgreSQL cohorts locked by an upload in
/// progress are skipped (`SKIP LOCKED`) and stay marked for the next pass. Returns how many
/// cohorts were refreshed.
///
/// # Errors
/// On database failure.
pub async fn refresh_stale_cohorts(db: &DatabaseConnection, campaign_id: Option<i32>) -> ApiResult<usize> {
    let mut marked = cohorts::Entity::find()
        .select_only()
        .column(cohorts::Column::CampaignId)
        .distinct()
        .filter(cohorts::Column::ReachedDatesStale.eq(true));
    if let Some(id) = campaign_id {
        marked = marked.filter(cohorts::Column::CampaignId.eq(id));
    }
    let campaign_ids: Vec<i32> = marked.into_tuple().all(db).await?;
    let mut refreshed = 0;
    for id in campaign_ids {
        let Some(campaign) = campaigns::Entity::find_by_id(id).one(db).await? else {
            continue;
        };
        let ctx = CampaignCtx::from_model(db, campaign).await?;
        let txn = crate::db::begin_write(db).await?;
        let stale = cohorts::Entity::find()
            .filter(cohorts::Column::CampaignId.eq(id))
            .filter(cohorts::Column::ReachedDatesStale.eq(true))
            .order_by_asc(cohorts::Column::Id);
        let stale = crate::db::for_update_skip_locked(&txn, stale).all(&txn).await?;
        for chunk in stale.chunks(REFRESH_CHUNK) {
            rederive_cohorts(&txn, &ctx, chunk, Utc::now()).await?;
        }
        txn.commit().await?;
        refreshed += stale.len();
    }
    Ok(refreshed)
}

/// Runs [`refresh_stale_cohorts`] every `max_staleness / 2` among `workers` until they
/// stop, so a marked cohort's dates are re-derived within `max_staleness` of the upload
/// (plus the pass's own time, a few statements).
pub fn spawn_stale_cohort_refresh(
    workers: &crate::workers::Workers,
    db: DatabaseConnection,
    max_staleness: std::time::Duration,
) {
    let every = max_staleness / 2;
    workers.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match refresh_stale_cohorts(&db, None).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(cohorts = n, "re-derived moved unlock dates"),
                // Marked cohorts stay marked: the next pass tries again.
                Err(e) => tracing::warn!(error = %e, "re-deriving cohort unlock dates failed"),
            }
        }
    });
}

/// Cohorts re-derived by one set of statements in [`refresh_stale_cohorts`].
const REFRESH_CHUNK: usize = 400;

/// Re-derives the unlocks and station summary of several cohorts of one campaign with a
/// fixed number of statements: their day rows and unlocks in one read each, then one
/// statement per kind of change. Clears `reached_dates_stale`.
async fn rederive_cohorts(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    stale: &[cohorts::Model],
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let ids: Vec<i32> = stale.iter().map(|c| c.id).collect();
    let mut days: HashMap<i32, Vec<cohort_days::Model>> = HashMap::new();
    for d in cohort_days::Entity::find()
        .filter(cohort_days::Column::CohortId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        days.entry(d.cohort_id).or_default().push(d);
    }
    let mut stored: HashMap<i32, Vec<unlocks::Model>> = HashMap::new();
    for u in unlocks::Entity::find()
        .filter(unlocks::Column::CampaignId.eq(ctx.campaign.id))
        .filter(unlocks::Column::SubjectKind.eq(Subject::Cohort))
        .filter(unlocks::Column::SubjectId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        stored.entry(u.subject_id).or_default().push(u);
    }
    let (mut inserts, mut moves, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut counts, mut lasts, mut finishes) = (Vec::new(), Vec::new(), Vec::new());
    for cohort in stale {
        let reached = cohort_reached(
            ctx,
            cohort.member_count,
            days.get(&cohort.id).map_or(&[], Vec::as_slice),
        );
        let rows = stored.remove(&cohort.id).unwrap_or_default();
        let pairs: Vec<(i32, NaiveDate)> = rows.iter().map(|u| (u.station_seq, u.reached_on)).collect();
        let diff = diff_unlocks(&pairs, &reached);
        let row_of = |seq: i32| rows.iter().find(|u| u.station_seq == seq).map(|u| u.id);
        inserts.extend(diff.insert.iter().map(|&(seq, day)| unlocks::ActiveModel {
            campaign_id: Set(ctx.campaign.id),
            subject_kind: Set(Subject::Cohort),
            subject_id: Set(cohort.id),
            station_seq: Set(seq),
            unlocked_at: Set(now),
            reached_on: Set(day),
            ..Default::default()
        }));
        moves.extend(diff.update.iter().filter_map(|&(seq, day)| Some((row_of(seq)?, day))));
        deletes.extend(diff.delete.iter().filter_map(|&seq| row_of(seq)));
        let (count, last, finished) = reached_summary(ctx, &reached);
        counts.push((cohort.id, count));
        lasts.push((cohort.id, last));
        finishes.push((cohort.id, finished));
    }
    for chunk in inserts.chunks(1_000) {
        unlocks::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    for chunk in moves.chunks(2_000) {
        unlocks::Entity::update_many()
            .col_expr(
                unlocks::Column::ReachedOn,
                by_id(unlocks::Column::Id, unlocks::Column::ReachedOn, chunk),
            )
            .filter(unlocks::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(db)
            .await?;
    }
    for chunk in deletes.chunks(5_000) {
        unlocks::Entity::delete_many()
            .filter(unlocks::Column::Id.is_in(chunk.to_vec()))
            .exec(db)
            .await?;
    }
    cohorts::Entity::update_many()
        .col_expr(
            cohorts::Column::StationsReached,
            by_id(cohorts::Column::Id, cohorts::Column::StationsReached, &counts),
        )
        .col_expr(
            cohorts::Column::LastReachedOn,
            by_id(cohorts::Column::Id, cohorts::Column::LastReachedOn, &lasts),
        )
        .col_expr(
            cohorts::Column::FinishedOn,
            by_id(cohorts::Column::Id, cohorts::Column::FinishedOn, &finishes),
        )
        .col_expr(cohorts::Column::ReachedDatesStale, Expr::value(false))
        .filter(cohorts::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(())
}

/// `CASE WHEN id = … THEN … END`: a column's new value per row id, in one statement
/// (rows not listed keep theirs).
fn by_id<C: ColumnTrait, V: Into<sea_orm::Value> + Clone>(id: C, column: C, values: &[(i32, V)]) -> SimpleExpr {
    values
        .iter()
        .fold(CaseStatement::new(), |case, (row, value)| {
            case.case(id.eq(*row), Expr::val(value.clone()))
        })
        .finally(Expr::col(column))
        .into()
}

/// A member joined `cohort`: count them in it and its ancestors; in `cohort_mean` the mean
/// changes, so positions and unlocks are re-derived.
///
/// # Errors
/// On database failure.
pub async fn on_member_joined(
    db: &impl ConnectionTrait,
    campaign: &campaigns::Model,
    cohort: &cohorts::Model,
) -> ApiResult<()> {
    let ctx = CampaignCtx::from_model(db, campaign.clone()).await?;
    let chain: Vec<i32> = cohort.chain(db).await?.iter().map(|c| c.id).collect();
    let now = Utc::now();
    // In id order, as an upload batch takes them.
    shared::lock_in_id_order(db, &chain).await?;
    let rows = cohorts::Entity::update_many()
        .col_expr(
            cohorts::Column::MemberCount,
            Expr::col(cohorts::Column::MemberCount).add(1),
        )
        .filter(cohorts::Column::Id.is_in(chain.clone()))
        .exec_with_returning(db)
        .await?;
    let rederive = if ctx.mode == ProgressMode::CohortMean {
        Rederive::Always
    } else {
        Rederive::WhenMoved
    };
    for id in chain {
        let fresh = rows
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| anyhow::anyhow!("cohort {id} vanished"))?;
        refresh_cohort(db, &ctx, fresh, &[], rederive, now).await?;
    }
    Ok(())
}

/// What [`apply_deltas`] leaves behind.
pub struct Applied {
    /// The enrollment with its new totals.
    pub enrollment: enrollments::Model,
    /// The participant's own cohort (their class) as this transaction leaves it; `None`
    /// without one.
    pub class: Option<cohorts::Model>,
    /// Newly unlocked stations of the subject of record: `(seq, reached_on)`.
    pub newly: Vec<(i32, NaiveDate)>,
}

/// Applies per-day deltas of one participant to their running totals, cohorts (every
/// level), per-day series and unlocks: [`apply_own`], then the cohorts' and the campaign's
/// share written at once (see [`Shared`]). `dates` says whether moved cohort unlock dates
/// are stored now or by the background refresh.
///
/// # Errors
/// On database failure.
pub async fn apply_deltas(
    db: &impl ConnectionTrait,
    ctx: &CampaignCtx,
    enrollment: &enrollments::Model,
    deltas: &[DayDelta],
    now: DateTime<Utc>,
    dates: CohortDates,
) -> ApiResult<Applied> {
    let now = at_stored_precision(now);
    let mut shared = Shared::default();
    let own = apply_own(db, ctx, enrollment, deltas, now, dates, &mut shared).await?;
    write_totals(db, [&own], now).await?;
    let written = shared.write(db, now).await?;
    own.applied(&written, true)
}

/// The participant's part of an upload, applied; its cohorts' share waits in a [`Shared`].
pub struct Own {
    /// The enrollment with its new totals.
    enrollment: enrollments::Model,
    /// Newly unlocked stations of the participant themselves, when stored.
    own_inserted: Vec<(i32, NaiveDate)>,
    /// The participant's class, when they have one.
    class_id: Option<i32>,
    cohort_mode: bool,
}

impl Own {
    /// The participant's class, when they have one.
    pub fn class_id(&self) -> Option<i32> {
        self.class_id
    }

    /// What the upload leaves behind once its shared part is `written`. In cohort modes
    /// the subject of record is the class, whose new unlocks go to the upload that
    /// `reports` them: one upload per class in a shared write, so each is announced once.
    ///
    /// # Errors
    /// When the class is missing from `written` (it was written by the same `Shared`).
    pub fn applied(self, written: &Written, reports: bool) -> ApiResult<Applied> {
        let class = match self.class_id {
            Some(id) => Some(
                written
                    .cohorts
                    .get(&id)
                    .ok_or_else(|| anyhow::anyhow!("cohort {id} vanished"))?,
            ),
            None => None,
        };
        let newly = match class {
            Some((_, inserted)) if self.cohort_mode && reports => inserted.clone(),
            Some(_) if self.cohort_mode => Vec::new(),
            _ => self.own_inserted,
        };
        Ok(Applied {
            enrollment: self.enrollment,
            class: class.map(|(row, _)| row.clone()),
            newly,
        })
    }
}

/// `now` as the database keeps it (PostgreSQL's timestamps hold microseconds), so that a
/// row built in memory equals the row stored.
pub fn at_stored_precision(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    now.trunc_subsecs(6)
}

/// Writes the enrollments of `owns` (their totals, stations and update time `now`) in one
/// statement, their rows as one JSON parameter, so that one statement text serves every
/// count.
///
/// # Errors
/// On database failure.
pub async fn write_totals<'o>(
    db: &impl ConnectionTrait,
    owns: impl IntoIterator<Item = &'o Own>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let rows: Vec<TotalsRow> = owns
        .into_iter()
        .map(|own| {
            let e = &own.enrollment;
            TotalsRow {
                id: e.id,
                total_steps: e.total_steps,
                total_counted: e.total_counted,
                days_active: e.days_active,
                metres: e.metres,
                stations_reached: e.stations_reached,
                last_reached_on: e.last_reached_on,
                finished_on: e.finished_on,
            }
        })
        .collect();
    let written = batches::write_totals(db, &rows, now).await?;
    if written != rows.len() as u64 {
        return Err(anyhow::anyhow!("{written} of {} enrollments were written", rows.len()).into());
    }
    Ok(())
}

/// Applies per-day deltas of one participant to their own totals and unlocks, and adds
/// the increments of their cohorts (every level) and of the campaign's days to `shared`.
/// The participant's whole series is read only when their own stations may have changed
/// (a station crossed, or a day before the latest one changed) and some day was recorded
/// before. The enrollment row is computed, not written: [`write_totals`] writes it, with
/// those of the transaction's other uploads, and `now` should be [`at_stored_precision`].
///
/// # Errors
/// On database failure.
pub async fn apply_own<'a>(
    db: &impl ConnectionTrait,
    ctx: &'a CampaignCtx,
    enrollment: &enrollments::Model,
    deltas: &[DayDelta],
    now: DateTime<Utc>,
    dates: CohortDates,
    shared: &mut Shared<'a>,
) -> ApiResult<Own> {
    let d_counted: i64 = deltas.iter().map(|d| d.counted).sum();
    let d_steps: i64 = deltas.iter().map(|d| d.steps).sum();
    let d_active: i32 = deltas.iter().map(|d| d.active).sum();
    let days_active = enrollment.days_active + d_active;
    let became_active = match (enrollment.days_active > 0, days_active > 0) {
        (false, true) => 1,
        (true, false) => -1,
        _ => 0,
    };
    let total_counted = enrollment.total_counted + d_counted;

    // The participant: totals and own unlocks. The row itself is written with the other
    // uploads' of the transaction ([`write_totals`]).
    let mut updated = enrollment.clone();
    updated.total_counted = total_counted;
    updated.total_steps = enrollment.total_steps + d_steps;
    updated.days_active = days_active;
    let metres = ctx.participant_metres(total_counted);
    updated.metres = metres;
    let reached_now = ctx.marks.partition_point(|m| m.metres <= metres);
    let stored = usize::try_from(enrollment.stations_reached).unwrap_or(0);
    let shifted = may_shift(deltas, enrollment.last_reached_on);
    let mut own_inserted = Vec::new();
    // A participant's first day reaches the start: with nothing stored yet, look.
    if shifted || reached_now != stored || stored == 0 {
        // With the start at 0 m, no station reached means no day recorded: the series is
        // then exactly the days of these deltas (a first upload, or a simulated month).
        let days = if stored == 0 && ctx.marks.first().is_some_and(|m| m.metres <= 0) {
            deltas.iter().map(|d| (d.day, d.counted)).collect()
        } else {
            participant_series(db, ctx.campaign.id, enrollment.participant_id).await?
        };
        let reached = reached_on(&ctx.marks, &days, |c| ctx.participant_metres(c));
        if ctx.stores_own_unlocks(enrollment.cohort_id) {
            own_inserted = sync_unlocks(
                db,
                ctx.campaign.id,
                Subject::Participant,
                enrollment.participant_id,
                &reached,
                now,
            )
            .await?;
        }
        let (count, last, finished) = reached_summary(ctx, &reached);
        updated.stations_reached = count;
        updated.last_reached_on = last;
        updated.finished_on = finished;
    }
    updated.updated_at = now;
    let enrollment = updated;

    let chain = match enrollment.cohort_id.and_then(|id| ctx.chain_ids(id)) {
        Some(ids) => ids,
        None => chain_of(db, enrollment.cohort_id).await?.iter().map(|c| c.id).collect(),
    };
    shared.add(
        ctx,
        &chain,
        Increment {
            counted: d_counted,
            steps: d_steps,
            active: became_active,
        },
        deltas,
        dates,
    );
    Ok(Own {
        enrollment,
        own_inserted,
        class_id: chain.first().copied(),
        cohort_mode: ctx.cohort_mode(),
    })
}

/// A participant's effective day series as stored (voided days count nothing).
async fn participant_series(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    participant_id: i32,
) -> ApiResult<Vec<(NaiveDate, i64)>> {
    let rows: Vec<(NaiveDate, i64, bool)> = step_days::Entity::find()
        .select_only()
        .column(step_days::Column::Day)
        .column(step_days::Column::Counted)
        .column(step_days::Column::Voided)
        .filter(step_days::Column::CampaignId.eq(campaign_id))
        .filter(step_days::Column::ParticipantId.eq(participant_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(day, counted, voided)| (day, conversion::effective(counted, voided)))
        .collect())
}

/// The effective day series of a participant: voided days count nothing.
pub fn day_series(rows: &[step_days::Model]) -> Vec<(NaiveDate, i64)> {
    rows.iter()
        .map(|r| (r.day, conversion::effective(r.counted, r.voided)))
        .collect()
}

/// Σ reported steps over non-voided days.
pub fn steps_total(rows: &[step_days::Model]) -> i64 {
    rows.iter().filter(|r| !r.voided).map(|r| r.steps).sum()
}

/// Loads the enrollment row, locking it on PostgreSQL so that uploads of one participant
/// serialise (SQLite's `BEGIN IMMEDIATE` already serialises every writer).
///
/// # Errors
/// On database failure.
pub async fn lock_enrollment(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    participant_id: i32,
) -> ApiResult<Option<enrollments::Model>> {
    let q = enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(campaign_id))
        .filter(enrollments::Column::ParticipantId.eq(participant_id));
    Ok(crate::db::for_update(db, q).one(db).await?)
}

/// Participants a rebuild reads per round trip, with their step days and unlocks.
const RECOMPUTE_PAGE: u64 = 2_000;

/// Rebuilds every total, per-day series and unlock of a campaign from its step days.
/// Existing unlocks keep their `unlocked_at`; the result equals what incremental ingestion
/// stored.
///
/// # Errors
/// 404 for an unknown campaign; on database failure.
pub async fn recompute_campaign(db: &DatabaseConnection, slug: &str) -> ApiResult<String> {
    recompute_campaign_paged(db, slug, RECOMPUTE_PAGE).await
}

/// [`recompute_campaign`] reading `page` participants per round trip (tests use tiny pages).
///
/// # Errors
/// As [`recompute_campaign`].
pub async fn recompute_campaign_paged(db: &DatabaseConnection, slug: &str, page: u64) -> ApiResult<String> {
    let campaign = crate::services::campaigns::find_any(db, slug).await?;
    let txn = crate::db::begin_write(db).await?;
    let ctx = CampaignCtx::from_model(&txn, campaign).await?;
    let report = recompute_pages(&txn, &ctx, std::cmp::Ord::max(page, 1)).await?;
    txn.commit().await?;
    Ok(report)
}

/// `recompute_campaign` inside an open transaction.
///
/// # Errors
/// On database failure.
pub async fn recompute_in(db: &impl ConnectionTrait, ctx: &CampaignCtx) -> ApiResult<String> {
    recompute_pages(db, ctx, RECOMPUTE_PAGE).await
}

async fn recompute_pages(db: &impl ConnectionTrait, ctx: &CampaignCtx, page_size: u64) -> ApiResult<String> {
    let now = Utc::now();
    let cid = ctx.campaign.id;
    let all_cohorts = cohorts::Model::all_of(db, cid).await?;
    let parent_of: cohort_tree::Parents = all_cohorts.iter().map(|c| (c.id, c.parent_id)).collect();
    // Every cohort of the campaign is in the map: a chain is missing only from a looped tree.
    let ancestors = |leaf: i32| cohort_tree::chain(&parent_of, leaf).unwrap_or_else(|| vec![leaf]);

    #[derive(Default)]
    struct Agg {
        members: i32,
        active: i32,
        steps: i64,
        counted: i64,
        days: BTreeMap<NaiveDate, (i64, i32)>,
    }
    let mut aggs: HashMap<i32, Agg> = all_cohorts.iter().map(|c| (c.id, Agg::default())).collect();
    let mut campaign_series: BTreeMap<NaiveDate, (i64, i32)> = BTreeMap::new();

    // Participants are walked a page at a time in id order, with their step days and
    // stored unlocks read per page: memory follows the page, not the campaign (a campaign
    // of a million would otherwise hold every step day of the campaign at once).
    let mut participants_seen = 0_usize;
    let mut after = i32::MIN;
    loop {
        let page = enrollments::Entity::find()
            .filter(enrollments::Column::CampaignId.eq(cid))
            .filter(enrollments::Column::ParticipantId.gt(after))
            .order_by_asc(enrollments::Column::ParticipantId)
            .limit(page_size)
            .all(db)
            .await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        let (lo, hi) = (first.participant_id, last.participant_id);
        after = hi;
        participants_seen += page.len();
        let mut days_of: HashMap<i32, Vec<step_days::Model>> = HashMap::new();
        for r in step_days::Entity::find()
            .filter(step_days::Column::CampaignId.eq(cid))
            .filter(step_days::Column::ParticipantId.between(lo, hi))
            .all(db)
            .await?
        {
            days_of.entry(r.participant_id).or_default().push(r);
        }
        let mut unlocks_of: HashMap<i32, Vec<(i32, NaiveDate)>> = HashMap::new();
        for u in unlocks::Entity::find()
            .filter(unlocks::Column::CampaignId.eq(cid))
            .filter(unlocks::Column::SubjectKind.eq(Subject::Participant))
            .filter(unlocks::Column::SubjectId.between(lo, hi))
            .all(db)
            .await?
        {
            unlocks_of
                .entry(u.subject_id)
                .or_default()
                .push((u.station_seq, u.reached_on));
        }
        let mut new_unlocks = Vec::new();

        for e in page {
            let own = days_of.remove(&e.participant_id).unwrap_or_default();
            let series = day_series(&own);
            let counted: i64 = series.iter().map(|(_, c)| c).sum();
            let steps = steps_total(&own);
            let days_active = i32::try_from(series.iter().filter(|(_, c)| *c > 0).count()).unwrap_or(i32::MAX);
            let reached = if series.is_empty() {
                Vec::new()
            } else {
                reached_on(&ctx.marks, &series, |c| ctx.participant_metres(c))
            };
            // A cohort member's own unlocks are not stored in cohort modes (any left over go).
            let computed: &[(i32, NaiveDate)] = if ctx.stores_own_unlocks(e.cohort_id) {
                &reached
            } else {
                &[]
            };
            let stored = unlocks_of.remove(&e.participant_id).unwrap_or_default();
            let diff = diff_unlocks(&stored, computed);
            if diff.update.is_empty() && diff.delete.is_empty() {
                // New stations only (the rebuild of a fresh import): inserted with the page's.
                new_unlocks.extend(diff.insert.iter().map(|(seq, day)| unlocks::ActiveModel {
                    campaign_id: Set(cid),
                    subject_kind: Set(Subject::Participant),
                    subject_id: Set(e.participant_id),
                    station_seq: Set(*seq),
                    unlocked_at: Set(now),
                    reached_on: Set(*day),
                    ..Default::default()
                }));
            } else {
                sync_unlocks(db, cid, Subject::Participant, e.participant_id, computed, now).await?;
            }
            let (count, last, finished) = reached_summary(ctx, &reached);
            let cohort_id = e.cohort_id;
            let mut active = e.into_active_model();
            active.total_counted = Set(counted);
            active.total_steps = Set(steps);
            active.days_active = Set(days_active);
            active.metres = Set(ctx.participant_metres(counted));
            active.stations_reached = Set(count);
            active.last_reached_on = Set(last);
            active.finished_on = Set(finished);
            if active.is_changed() {
                active.updated_at = Set(now);
                active.update(db).await?;
            }
            for (day, c) in &series {
                if *c > 0 {
                    let slot = campaign_series.entry(*day).or_default();
                    slot.0 += c;
                    slot.1 += 1;
                }
            }
            if let Some(leaf) = cohort_id {
                for id in ancestors(leaf) {
                    if let Some(a) = aggs.get_mut(&id) {
                        a.members += 1;
                        a.active += i32::from(days_active > 0);
                        a.steps += steps;
                        a.counted += counted;
                        for (day, c) in &series {
                            if *c > 0 {
                                let slot = a.days.entry(*day).or_default();
                                slot.0 += c;
                                slot.1 += 1;
                            }
                        }
                    }
                }
            }
        }
        // SQLite binds at most 32,766 values per statement: 7 per unlock row.
        while !new_unlocks.is_empty() {
            let rest = new_unlocks.split_off(new_unlocks.len().min(4_000));
            unlocks::Entity::insert_many(new_unlocks).exec(db).await?;
            new_unlocks = rest;
        }
    }

    // Per-day series are rebuilt wholesale: delete, then insert the aggregated rows.
    let cohort_ids: Vec<i32> = all_cohorts.iter().map(|c| c.id).collect();
    if !cohort_ids.is_empty() {
        cohort_days::Entity::delete_many()
            .filter(cohort_days::Column::CohortId.is_in(cohort_ids.clone()))
            .exec(db)
            .await?;
    }
    campaign_days::Entity::delete_many()
        .filter(campaign_days::Column::CampaignId.eq(cid))
        .exec(db)
        .await?;
    let day_rows: Vec<_> = campaign_series
        .iter()
        .map(|(day, (c, a))| campaign_days::ActiveModel {
            campaign_id: Set(cid),
            day: Set(*day),
            counted: Set(*c),
            active_participants: Set(*a),
            ..Default::default()
        })
        .collect();
    for chunk in day_rows.chunks(500) {
        campaign_days::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }

    for c in &all_cohorts {
        let a = aggs.remove(&c.id).unwrap_or_default();
        let rows: Vec<_> = a
            .days
            .iter()
            .map(|(day, (counted, active))| cohort_days::ActiveModel {
                cohort_id: Set(c.id),
                day: Set(*day),
                counted: Set(*counted),
                active_members: Set(*active),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(500) {
            cohort_days::Entity::insert_many(chunk.to_vec()).exec(db).await?;
        }
        let mut active = c.clone().into_active_model();
        active.member_count = Set(a.members);
        active.active_members = Set(a.active);
        active.total_steps = Set(a.steps);
        active.total_counted = Set(a.counted);
        let updated = if active.is_changed() {
            active.update(db).await?
        } else {
            c.clone()
        };
        if ctx.cohort_mode() {
            let series: Vec<(NaiveDate, i64)> = a.days.iter().map(|(d, (c, _))| (*d, *c)).collect();
            let reached = reached_on(&ctx.marks, &series, |x| ctx.cohort_metres(x, i64::from(a.members)));
            sync_unlocks(db, cid, Subject::Cohort, c.id, &reached, now).await?;
            let (count, last, finished) = reached_summary(ctx, &reached);
            let mut active = updated.into_active_model();
            active.metres = Set(ctx.cohort_metres(a.counted, i64::from(a.members)));
            active.stations_reached = Set(count);
            active.last_reached_on = Set(last);
            active.finished_on = Set(finished);
            if active.is_changed() {
                active.update(db).await?;
            }
        } else {
            let mut active = updated.into_active_model();
            active.metres = Set(ctx.cohort_metres(a.counted, i64::from(a.members)));
            if active.is_changed() {
                active.update(db).await?;
            }
        }
    }
    Ok(format!(
        "recomputed campaign `{}`: {} participants, {} cohorts",
        ctx.campaign.slug,
        participants_seen,
        all_cohorts.len()
    ))
}

/// A station's place for a view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationRef {
    pub seq: i32,
    pub name: String,
    pub metres: i64,
}

/// Where a subject stands, for views.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PositionView {
    pub metres: i64,
    pub km: f64,
    pub current_station: Option<StationRef>,
    pub next_station: Option<StationRef>,
    pub metres_to_next: Option<i64>,
    pub percent: f64,
    pub stations_reached: i32,
    pub stations_total: usize,
    pub finished_on: Option<NaiveDate>,
}

impl CampaignCtx {
    /// The view of a position at `metres` with a stored reached count and finish date.
    pub fn position_view(&self, metres: i64, stations_reached: i32, finished_on: Option<NaiveDate>) -> PositionView {
        let pos = position(&self.marks, metres);
        let station_ref = |i: usize| {
            let s = &self.stations[i];
            StationRef {
                seq: s.seq,
                name: s.name.clone(),
                metres: s.metres,
            }
        };
        PositionView {
            metres,
            km: km(metres),
            current_station: pos.current.map(station_ref),
            next_station: pos.next.map(station_ref),
            metres_to_next: pos.metres_to_next,
            percent: pos.percent,
            stations_reached,
            stations_total: self.stations.len(),
            finished_on,
        }
    }
}

/// Metres as kilometres with 3 decimals.
pub fn km(metres: i64) -> f64 {
    // Exact for any realistic distance (< 2^53 m).
    #[allow(clippy::cast_precision_loss)]
    let m = metres as f64;
    m / 1000.0
}
