//! What the uploads of one transaction add to rows they share, gathered and written once, at
//! the transaction's end.
//!
//! Every upload of a member adds to the same rows: their class and each level above it, those
//! cohorts' days, and the campaign's days. Written upload by upload, these rows are where
//! concurrent uploads queue (PostgreSQL holds each updated row until its transaction commits)
//! and what a shared transaction writes again and again. Gathered here, each row is written
//! once per transaction, one statement per table, after every participant's own rows: just
//! before the commit, so it is held for as short a time as can be.
//!
//! What is stored equals the uploads written one by one. The totals are sums, the day rows
//! are sums per day, and a cohort's stations and their dates are a function of its totals and
//! its day series ([`refresh_cohort`]), decided once from the sums. A cohort's new unlocks go
//! to one of the uploads that added to it (see [`super::Own::applied`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{CaseStatement, Expr, ExprTrait, LockType, OnConflict, SimpleExpr},
};

use super::{CampaignCtx, CohortDates, Rederive, refresh_cohort};
use crate::{
    db::batches::{self, CohortDayRow},
    domain::{progress::may_shift_sql, step_day::DayDelta},
    http::error::ApiResult,
    models::{campaign_days, cohorts},
};

/// What one upload adds to each cohort of its chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct Increment {
    pub counted: i64,
    pub steps: i64,
    /// +1 when the participant became active, -1 when they no longer are.
    pub active: i32,
}

/// The cohorts' and campaigns' share of a transaction's uploads, not yet written.
#[derive(Default)]
pub struct Shared<'a> {
    campaigns: BTreeMap<i32, CampaignShare<'a>>,
}

/// The cohorts written by [`Shared::write`], by id: each row as the transaction leaves it,
/// with its newly unlocked stations.
#[derive(Debug, Default)]
pub struct Written {
    pub cohorts: BTreeMap<i32, (cohorts::Model, Vec<(i32, NaiveDate)>)>,
}

struct CampaignShare<'a> {
    ctx: &'a CampaignCtx,
    cohorts: BTreeMap<i32, CohortShare>,
    /// Per day: counted steps and active participants added.
    days: BTreeMap<NaiveDate, (i64, i32)>,
}

struct CohortShare {
    counted: i64,
    steps: i64,
    active: i32,
    /// Every day change of every upload adding to the cohort (what may move its dates).
    changes: Vec<DayDelta>,
    /// Per day: counted steps and active members added.
    days: BTreeMap<NaiveDate, (i64, i32)>,
    /// True while every upload adding to it leaves moved dates to the background refresh.
    deferred: bool,
}

impl CohortShare {
    fn counts(&self) -> bool {
        self.counted != 0 || self.steps != 0 || self.active != 0
    }
}

impl<'a> Shared<'a> {
    /// Adds one upload's `deltas` (its days) and `increment` (its totals) to every cohort of
    /// `chain` and to the campaign's days.
    pub(super) fn add(
        &mut self,
        ctx: &'a CampaignCtx,
        chain: &[i32],
        increment: Increment,
        deltas: &[DayDelta],
        dates: CohortDates,
    ) {
        let share = self.campaigns.entry(ctx.campaign.id).or_insert_with(|| CampaignShare {
            ctx,
            cohorts: BTreeMap::new(),
            days: BTreeMap::new(),
        });
        // A day row changes only when its counted steps or active count do.
        let counted = || deltas.iter().filter(|d| d.counted != 0 || d.active != 0);
        for d in counted() {
            add_day(&mut share.days, d);
        }
        for &id in chain {
            let cohort = share.cohorts.entry(id).or_insert_with(|| CohortShare {
                counted: 0,
                steps: 0,
                active: 0,
                changes: Vec::new(),
                days: BTreeMap::new(),
                deferred: true,
            });
            cohort.counted += increment.counted;
            cohort.steps += increment.steps;
            cohort.active += increment.active;
            cohort.changes.extend_from_slice(deltas);
            cohort.deferred &= dates == CohortDates::Deferred;
            for d in counted() {
                add_day(&mut cohort.days, d);
            }
        }
    }

    /// Writes everything gathered: per campaign, the cohorts' totals in one statement, their
    /// day rows in one, each cohort's stations, then the campaign's day rows in one.
    ///
    /// # Errors
    /// On database failure.
    pub async fn write(self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<Written> {
        let mut written = Written::default();
        for share in self.campaigns.into_values() {
            share.write(db, now, &mut written).await?;
        }
        Ok(written)
    }
}

fn add_day(days: &mut BTreeMap<NaiveDate, (i64, i32)>, d: &DayDelta) {
    let day = days.entry(d.day).or_default();
    day.0 += d.counted;
    day.1 += d.active;
}

impl CampaignShare<'_> {
    async fn write(self, db: &impl ConnectionTrait, now: DateTime<Utc>, written: &mut Written) -> ApiResult<()> {
        let ctx = self.ctx;
        // A cohort whose stored dates may move marks itself stale in the statement that adds
        // the steps (see `CohortDates::Deferred`); only those may leave the dates for later.
        let marked = |c: &CohortShare| c.deferred && ctx.cohort_mode() && c.counts() && !c.changes.is_empty();
        let (moved, unmoved): (Vec<_>, Vec<_>) = self.cohorts.iter().partition(|(_, c)| c.counts());
        let mut rows = Vec::with_capacity(self.cohorts.len());
        lock_in_id_order(db, &self.cohorts.keys().copied().collect::<Vec<_>>()).await?;
        if !moved.is_empty() {
            let mut update = cohorts::Entity::update_many();
            let marks: Vec<_> = moved.iter().filter(|(_, c)| marked(c)).collect();
            if let Some(mark) = stale_mark(&marks, marks.len() == moved.len()) {
                update = update.col_expr(cohorts::Column::ReachedDatesStale, mark);
            }
            let counted = per_id(&moved, |c| c.counted);
            rows = update
                .col_expr(
                    cohorts::Column::TotalCounted,
                    Expr::col(cohorts::Column::TotalCounted).add(counted.clone()),
                )
                .col_expr(
                    cohorts::Column::TotalSteps,
                    Expr::col(cohorts::Column::TotalSteps).add(per_id(&moved, |c| c.steps)),
                )
                .col_expr(
                    cohorts::Column::ActiveMembers,
                    Expr::col(cohorts::Column::ActiveMembers).add(per_id(&moved, |c| i64::from(c.active))),
                )
                .col_expr(cohorts::Column::Metres, ctx.cohort_metres_sql(counted))
                .filter(cohorts::Column::Id.is_in(padded(&moved).map(|(id, _)| *id)))
                .exec_with_returning(db)
                .await?;
        }
        if !unmoved.is_empty() {
            rows.extend(
                cohorts::Entity::find()
                    .filter(cohorts::Column::Id.is_in(padded(&unmoved).map(|(id, _)| *id)))
                    .all(db)
                    .await?,
            );
        }
        upsert_cohort_days(db, &self.cohorts).await?;
        for (id, cohort) in &self.cohorts {
            let fresh = rows
                .iter()
                .find(|c| c.id == *id)
                .ok_or_else(|| anyhow::anyhow!("cohort {id} vanished"))?;
            let rederive = if marked(cohort) {
                Rederive::WhenCrossed
            } else {
                Rederive::WhenMoved
            };
            let updated = refresh_cohort(db, ctx, fresh, &cohort.changes, rederive, now).await?;
            written.cohorts.insert(*id, updated);
        }
        upsert_campaign_days(db, ctx.campaign.id, &self.days).await
    }
}

/// Locks the cohorts `ids` in id order, on PostgreSQL, when there are several. PostgreSQL
/// locks an UPDATE's rows in the order it meets them, which is not the ids' once rows have
/// new versions: two upload lanes writing overlapping sets of cohorts deadlocked. Every
/// writer of several cohorts (upload batches, joins) takes them through this first.
///
/// # Errors
/// On database failure.
pub async fn lock_in_id_order(db: &impl ConnectionTrait, ids: &[i32]) -> ApiResult<()> {
    if !crate::db::locks_rows(db) || ids.len() < 2 {
        return Ok(());
    }
    let _locked: Vec<i32> = cohorts::Entity::find()
        .select_only()
        .column(cohorts::Column::Id)
        .filter(cohorts::Column::Id.is_in(padded(ids)))
        .order_by_asc(cohorts::Column::Id)
        .lock(LockType::Update)
        .into_tuple()
        .all(db)
        .await?;
    Ok(())
}

/// `CASE WHEN id = … THEN … ELSE 0 END`: each cohort's own increment, or the plain number
/// when all are the same (one chain's uploads). Values are bound, and the cases padded to
/// [`padded`] length, so that a few statement texts serve every batch: each distinct text
/// is prepared and cached by every pooled connection.
fn per_id(cohorts: &[(&i32, &CohortShare)], value: impl Fn(&CohortShare) -> i64) -> SimpleExpr {
    let first = cohorts.first().map_or(0, |(_, c)| value(c));
    if cohorts.iter().all(|(_, c)| value(c) == first) {
        return Expr::val(first);
    }
    padded(cohorts)
        .fold(CaseStatement::new(), |case, (id, c)| {
            case.case(Expr::col(cohorts::Column::Id).eq(*id), Expr::val(value(c)))
        })
        .finally(Expr::val(0_i64))
        .into()
}

/// `items` repeated at the end up to the next power of two (at least 2): a repeated `WHEN`
/// or `IN` item changes nothing.
fn padded<T: Copy>(items: &[T]) -> impl Iterator<Item = T> + '_ {
    let len = items.len().max(2).next_power_of_two();
    (0..len).filter_map(move |i| items.get(i.min(items.len().saturating_sub(1))).copied())
}

/// `reached_dates_stale` after each cohort's changes, as SQL for the cohorts' UPDATE: set
/// when they may move a date already stored (`domain::progress::may_shift_sql` against the row's
/// `last_reached_on`), kept otherwise. `all` says every cohort of the statement is marked,
/// which with the same changes for each needs no condition on the id.
fn stale_mark(marked: &[&(&i32, &CohortShare)], all: bool) -> Option<SimpleExpr> {
    let shifts = |changes: &[DayDelta]| may_shift_sql(changes, Expr::col(cohorts::Column::LastReachedOn));
    let (_, first) = marked.first()?;
    let same = all
        && marked.iter().all(|(_, c)| {
            c.changes
                .iter()
                .map(|d| (d.day, d.counted < 0))
                .eq(first.changes.iter().map(|d| (d.day, d.counted < 0)))
        });
    let mut case = CaseStatement::new();
    if same {
        case = case.case(shifts(&first.changes)?, Expr::val(true));
    } else {
        for (id, c) in padded(marked) {
            if let Some(shifts) = shifts(&c.changes) {
                case = case.case(Expr::col(cohorts::Column::Id).eq(**id).and(shifts), Expr::val(true));
            }
        }
    }
    Some(case.finally(Expr::col(cohorts::Column::ReachedDatesStale)).into())
}

/// Adds the gathered days to the per-day rows of every cohort, in one statement whose rows
/// come as one JSON parameter: a batch of first syncs brings thousands, and a multi-row
/// `VALUES` list would be a new statement text for every count, each prepared and cached
/// by every pooled connection (on SQLite megabytes apiece).
async fn upsert_cohort_days(db: &impl ConnectionTrait, cohorts: &BTreeMap<i32, CohortShare>) -> ApiResult<()> {
    let rows: Vec<CohortDayRow> = cohorts
        .iter()
        .flat_map(|(&cohort_id, cohort)| {
            cohort
                .days
                .iter()
                .map(move |(&day, &(counted, active_members))| CohortDayRow {
                    cohort_id,
                    day,
                    counted,
                    active_members,
                })
        })
        .collect();
    Ok(batches::add_cohort_days(db, &rows).await?)
}

/// Adds the gathered days to the campaign's per-day rows, in one statement.
async fn upsert_campaign_days(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    days: &BTreeMap<NaiveDate, (i64, i32)>,
) -> ApiResult<()> {
    if days.is_empty() {
        return Ok(());
    }
    let rows = days
        .iter()
        .map(|(&day, &(counted, active))| campaign_days::ActiveModel {
            campaign_id: sea_orm::Set(campaign_id),
            day: sea_orm::Set(day),
            counted: sea_orm::Set(counted),
            active_participants: sea_orm::Set(active),
            ..Default::default()
        });
    campaign_days::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([campaign_days::Column::CampaignId, campaign_days::Column::Day])
                .value(
                    campaign_days::Column::Counted,
                    Expr::cust("campaign_days.counted + excluded.counted"),
                )
                .value(
                    campaign_days::Column::ActiveParticipants,
                    Expr::cust("campaign_days.active_participants + excluded.active_participants"),
                )
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn padding_repeats_the_last_item_up_to_a_power_of_two() {
        let padded_of = |items: &[i32]| padded(items).collect::<Vec<_>>();
        assert_eq!(padded_of(&[]), Vec::<i32>::new());
        assert_eq!(padded_of(&[7]), [7, 7]);
        assert_eq!(padded_of(&[1, 2]), [1, 2]);
        assert_eq!(padded_of(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded_of(&[1, 2, 3, 4, 5]), [1, 2, 3, 4, 5, 5, 5, 5]);
    }
}
