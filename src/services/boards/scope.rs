//! What a board ranks and in what order: its scope (campaign, period, cohort subtree), the
//! row it reads from the database, and the keys that order rows. The ranked reads for
//! organisers (`leaderboard`) and the in-memory snapshots (`cache`) both build on it.

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Select,
    sea_query::{Expr, ExprTrait, NullOrdering, SimpleExpr},
};

use crate::{
    domain::{
        ranking::{page_ranks, rank_for},
        states::EnrollmentStatus,
    },
    http::error::ApiResult,
    models::{cohorts, enrollments, participants, step_days},
};

/// The period a board covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Total,
    Day(NaiveDate),
}

/// Which enrollments a board ranks.
#[derive(Debug, Clone)]
pub struct Scope {
    pub campaign_id: i32,
    pub period: Period,
    /// The cohort subtree, when filtered.
    pub cohorts: Option<Vec<i32>>,
}

fn rel_participant() -> RelationDef {
    enrollments::Entity::belongs_to(participants::Entity)
        .from(enrollments::Column::ParticipantId)
        .to(participants::Column::Id)
        .into()
}

fn rel_cohort() -> RelationDef {
    enrollments::Entity::belongs_to(cohorts::Entity)
        .from(enrollments::Column::CohortId)
        .to(cohorts::Column::Id)
        .into()
}

fn rel_step_days() -> RelationDef {
    let def: RelationDef = step_days::Entity::belongs_to(enrollments::Entity)
        .from(step_days::Column::EnrollmentId)
        .to(enrollments::Column::Id)
        .into();
    def.rev()
}

impl Scope {
    /// The campaign-to-date board of the whole campaign.
    pub fn total(campaign_id: i32) -> Self {
        Self {
            campaign_id,
            period: Period::Total,
            cohorts: None,
        }
    }

    /// The ranked rows, unordered.
    fn base(&self) -> Select<enrollments::Entity> {
        let mut q = enrollments::Entity::find()
            .filter(enrollments::Column::CampaignId.eq(self.campaign_id))
            .filter(enrollments::Column::Status.eq(enrollments::EnrollmentStatus::Active));
        if let Some(ids) = &self.cohorts {
            q = q.filter(enrollments::Column::CohortId.is_in(ids.iter().copied()));
        }
        if let Period::Day(day) = self.period {
            q = q
                .join(JoinType::InnerJoin, rel_step_days())
                .filter(step_days::Column::CampaignId.eq(self.campaign_id))
                .filter(step_days::Column::Day.eq(day))
                .filter(step_days::Column::Voided.eq(false))
                .filter(step_days::Column::Counted.gt(0));
        }
        q
    }

    /// The figure ranked by.
    fn score(&self) -> SimpleExpr {
        match self.period {
            Period::Total => Expr::col((enrollments::Entity, enrollments::Column::TotalCounted)),
            Period::Day(_) => Expr::col((step_days::Entity, step_days::Column::Counted)),
        }
    }

    /// Rows in board order: steps, then earlier furthest station, then enrollment id.
    fn ordered(&self, q: Select<enrollments::Entity>, reverse: bool) -> Select<enrollments::Entity> {
        let (o, nulls, id) = if reverse {
            (Order::Asc, NullOrdering::First, Order::Desc)
        } else {
            (Order::Desc, NullOrdering::Last, Order::Asc)
        };
        let date_order = if reverse { Order::Desc } else { Order::Asc };
        q.order_by(self.score(), o)
            .order_by_with_nulls(enrollments::Column::LastReachedOn, date_order, nulls)
            .order_by(enrollments::Column::Id, id)
    }

    pub(super) fn rows(&self) -> Select<enrollments::Entity> {
        with_row_columns(self.base(), self.score())
    }

    /// True for the board kept in memory: campaign to date, every cohort.
    pub(super) fn is_cached(&self) -> bool {
        self.period == Period::Total && self.cohorts.is_none()
    }

    /// How many rows are ranked.
    ///
    /// # Errors
    /// On database failure.
    pub async fn count(&self, db: &impl ConnectionTrait) -> ApiResult<u64> {
        Ok(self.base().count(db).await?)
    }

    /// Competition rank of a score: one more than the number of rows with strictly more.
    ///
    /// # Errors
    /// On database failure.
    pub async fn rank_of(&self, db: &impl ConnectionTrait, score: i64) -> ApiResult<u64> {
        let greater = self.base().filter(Expr::expr(self.score()).gt(score)).count(db).await?;
        Ok(rank_for(greater))
    }

    /// One page in board order, with ranks.
    ///
    /// # Errors
    /// On database failure.
    pub async fn page(&self, db: &impl ConnectionTrait, limit: u64, offset: u64) -> ApiResult<Vec<(u64, BoardRow)>> {
        let rows = self
            .ordered(self.rows(), false)
            .limit(limit)
            .offset(offset)
            .into_model::<BoardRow>()
            .all(db)
            .await?;
        let first_rank = match rows.first() {
            Some(r) if offset > 0 => self.rank_of(db, r.score).await?,
            _ => 1,
        };
        let ranks = page_ranks(first_rank, offset, rows.iter().map(|r| r.score));
        Ok(ranks.into_iter().zip(rows).collect())
    }

    /// Up to `n` rows right before (`above`) or after a key, in board order.
    ///
    /// Two queries instead of one with `OR`: first the rows tied with the key on the near
    /// side, then the rows with strictly more (above) or fewer (below) steps. Each is one
    /// range of `ix_enrollments_board`, where an `OR` of both would scan.
    pub(super) async fn beside(
        &self,
        db: &impl ConnectionTrait,
        key: &RowKey,
        n: u64,
        above: bool,
    ) -> ApiResult<Vec<BoardRow>> {
        let mut rows = Vec::new();
        for cond in key.sides(self, above) {
            let want = n.saturating_sub(u64::try_from(rows.len()).unwrap_or(u64::MAX));
            if want == 0 {
                break;
            }
            let more = self
                .ordered(self.rows().filter(cond), above)
                .limit(want)
                .into_model::<BoardRow>()
                .all(db)
                .await?;
            rows.extend(more);
        }
        if above {
            rows.reverse();
        }
        Ok(rows)
    }

    /// Rows after `key` (from the top with `None`), in board order: for walking the whole
    /// board page by page without `OFFSET`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn after(&self, db: &impl ConnectionTrait, key: Option<&RowKey>, n: u64) -> ApiResult<Vec<BoardRow>> {
        match key {
            Some(k) => self.beside(db, k, n, false).await,
            // Scores are never negative; saying so makes the first page a range of
            // `ix_enrollments_board` like the others, which PostgreSQL walks in board order
            // and stops at `n` even when it has no statistics (without a condition on the
            // score it may sort the whole board for one page).
            None => Ok(self
                .ordered(self.rows().filter(Expr::expr(self.score()).gte(0)), false)
                .limit(n)
                .into_model::<BoardRow>()
                .all(db)
                .await?),
        }
    }
}

/// The columns of a `BoardRow` on a query over enrollments.
pub(crate) fn with_row_columns(q: Select<enrollments::Entity>, score: SimpleExpr) -> Select<enrollments::Entity> {
    q.select_only()
        .column_as(enrollments::Column::Id, "enrollment_id")
        .column_as(enrollments::Column::ParticipantId, "participant_id")
        .column_as(score, "score")
        .column_as(enrollments::Column::TotalCounted, "total_counted")
        .column_as(enrollments::Column::TotalSteps, "total_steps")
        .column_as(enrollments::Column::Metres, "metres")
        .column_as(enrollments::Column::StationsReached, "stations_reached")
        .column_as(enrollments::Column::LastReachedOn, "last_reached_on")
        .column_as(enrollments::Column::FinishedOn, "finished_on")
        .column_as(enrollments::Column::DaysActive, "days_active")
        .column_as(enrollments::Column::Status, "status")
        .column_as(participants::Column::DisplayName, "display_name")
        .column_as(participants::Column::StudentNo, "student_no")
        .column_as(cohorts::Column::Name, "cohort_name")
        .column_as(cohorts::Column::Path, "cohort_path")
        .join(JoinType::InnerJoin, rel_participant())
        .join(JoinType::LeftJoin, rel_cohort())
}

/// Enrollments left off the boards (suspended), by id after `after_id`.
///
/// # Errors
/// On database failure.
pub async fn unranked_after(
    db: &impl ConnectionTrait,
    campaign_id: i32,
    after_id: i32,
    n: u64,
) -> ApiResult<Vec<BoardRow>> {
    let q = enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(campaign_id))
        .filter(enrollments::Column::Status.ne(enrollments::EnrollmentStatus::Active))
        .filter(enrollments::Column::Id.gt(after_id));
    let score = Expr::col((enrollments::Entity, enrollments::Column::TotalCounted));
    Ok(with_row_columns(q, score)
        .order_by_asc(enrollments::Column::Id)
        .limit(n)
        .into_model::<BoardRow>()
        .all(db)
        .await?)
}

/// One ranked row as read from the database.
#[derive(Debug, Clone, FromQueryResult)]
pub struct BoardRow {
    pub enrollment_id: i32,
    pub participant_id: i32,
    pub score: i64,
    pub total_counted: i64,
    pub total_steps: i64,
    pub metres: i64,
    pub stations_reached: i32,
    pub last_reached_on: Option<NaiveDate>,
    pub finished_on: Option<NaiveDate>,
    pub days_active: i32,
    pub status: EnrollmentStatus,
    pub display_name: String,
    pub student_no: Option<String>,
    pub cohort_name: Option<String>,
    pub cohort_path: Option<String>,
}

/// A row's place in board order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    pub score: i64,
    pub reached_on: Option<NaiveDate>,
    pub id: i32,
}

impl From<&BoardRow> for RowKey {
    fn from(r: &BoardRow) -> Self {
        Self {
            score: r.score,
            reached_on: r.last_reached_on,
            id: r.enrollment_id,
        }
    }
}

impl RowKey {
    /// The rows on one side of this key, nearest first: `[tied, strictly beyond]`, where
    /// "tied" means the same score but sorting before (`above`) or after the key.
    fn sides(&self, scope: &Scope, above: bool) -> [Condition; 2] {
        let lr = || Expr::col((enrollments::Entity, enrollments::Column::LastReachedOn));
        let id = || Expr::col((enrollments::Entity, enrollments::Column::Id));
        let tie = match (self.reached_on, above) {
            (Some(d), true) => Condition::any()
                .add(lr().is_not_null().and(lr().lt(d)))
                .add(lr().eq(d).and(id().lt(self.id))),
            (None, true) => Condition::any()
                .add(lr().is_not_null())
                .add(lr().is_null().and(id().lt(self.id))),
            (Some(d), false) => Condition::any()
                .add(lr().is_null())
                .add(lr().gt(d))
                .add(lr().eq(d).and(id().gt(self.id))),
            (None, false) => Condition::all().add(lr().is_null()).add(id().gt(self.id)),
        };
        let score = || Expr::expr(scope.score());
        let beyond = if above {
            score().gt(self.score)
        } else {
            score().lt(self.score)
        };
        [
            Condition::all().add(score().eq(self.score)).add(tie),
            Condition::all().add(beyond),
        ]
    }
}
