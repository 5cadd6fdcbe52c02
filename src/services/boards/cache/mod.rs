//! The campaign-to-date participant board, held in memory and kept fresh by deltas.
//!
//! A big screen and thousands of phones ask for the same board many times a second; counting
//! ranks in SQL costs milliseconds per request at 100,000 participants and far more at a
//! million. Each campaign's board is therefore a sorted snapshot of its active enrollments,
//! shared by every request of this process:
//!
//! - **Built once, in the background**, on the boards' thread: at start-up for every active
//!   campaign, else when the first request asks. Until the build is done every request is
//!   answered from the database (slower, and correct): none waits for a whole board.
//! - **Kept by deltas.** A snapshot older than a quarter of `cache.board_max_staleness_ms`
//!   is refreshed in the background when the next request asks: the refresh reads only the
//!   enrollments stamped since the last one (`ix_enrollments_campaign_updated`) and moves
//!   each to its new place. Its cost follows the number of changed participants, never the
//!   campaign's size: rows live in shared blocks ([`blocks`]), so a new snapshot copies only
//!   the blocks it changes. Requests keep serving the previous snapshot meanwhile, never one
//!   older than `board_max_staleness_ms`; one that would be older waits for the refresh. With
//!   `board_max_staleness_ms = 0` every request refreshes first (read-your-writes).
//! - **Compact rows.** A ranked participant is one [`Ranked`] (about 100 bytes with its
//!   name) plus one entry of the participant index; cohort labels are shared.
//!
//! Deltas are found by `updated_at`, which every writer of a ranked figure stamps, and so do
//! the writers of what a row shows besides its figures (a participant's name, a cohort's
//! name: `enrollments::touch_*`). The look-back `MARGIN` covers transactions that stamped
//! their rows just before the previous refresh began but committed after it, and clocks of
//! several instances that differ a little.

mod blocks;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};

use self::blocks::Blocks;
use crate::{
    domain::ranking::{RankKey, rank_for, ranks_from},
    http::error::ApiResult,
    models::{campaigns, enrollments},
    services::boards::scope::{BoardRow, RowKey, Scope, with_row_columns},
};

/// Rows per query of a build.
const BUILD_PAGE: u64 = 5_000;
/// How far before the previous refresh a delta looks.
const MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// Boards nobody asked for this long are dropped.
const IDLE: Duration = Duration::from_secs(600);

/// A cohort's name and path, shared by the rows of its members.
#[derive(Debug)]
struct CohortLabel {
    name: String,
    path: String,
}

/// Cohort labels by path, so that a board holds each once.
type Labels = HashMap<String, Arc<CohortLabel>>;

/// One ranked participant, as compact as a board of a million wants it.
#[derive(Debug, Clone)]
struct Ranked {
    counted: i64,
    total_steps: i64,
    metres: i64,
    last_reached_on: Option<NaiveDate>,
    finished_on: Option<NaiveDate>,
    enrollment_id: i32,
    participant_id: i32,
    days_active: i32,
    stations_reached: i32,
    /// The display name followed by the student number, if any: one allocation for both.
    names: Arc<str>,
    /// Bytes of `names` that are the display name.
    name_len: usize,
    cohort: Option<Arc<CohortLabel>>,
}

impl Ranked {
    fn new(r: BoardRow, labels: &mut Labels) -> Self {
        let name_len = r.display_name.len();
        let mut names = r.display_name;
        names.push_str(r.student_no.as_deref().unwrap_or_default());
        let cohort = r.cohort_path.map(|path| {
            labels
                .entry(path)
                .or_insert_with_key(|path| {
                    Arc::new(CohortLabel {
                        name: r.cohort_name.unwrap_or_default(),
                        path: path.clone(),
                    })
                })
                .clone()
        });
        Self {
            counted: r.total_counted,
            total_steps: r.total_steps,
            metres: r.metres,
            last_reached_on: r.last_reached_on,
            finished_on: r.finished_on,
            enrollment_id: r.enrollment_id,
            participant_id: r.participant_id,
            days_active: r.days_active,
            stations_reached: r.stations_reached,
            names: names.into(),
            name_len,
            cohort,
        }
    }

    fn key(&self) -> RankKey {
        RankKey {
            steps: self.counted,
            furthest_reached_on: self.last_reached_on,
            id: i64::from(self.enrollment_id),
        }
    }

    fn display_name(&self) -> &str {
        self.names.get(..self.name_len).unwrap_or_default()
    }

    fn student_no(&self) -> Option<&str> {
        self.names.get(self.name_len..).filter(|no| !no.is_empty())
    }

    fn to_row(&self) -> BoardRow {
        BoardRow {
            enrollment_id: self.enrollment_id,
            participant_id: self.participant_id,
            score: self.counted,
            total_counted: self.counted,
            total_steps: self.total_steps,
            metres: self.metres,
            stations_reached: self.stations_reached,
            last_reached_on: self.last_reached_on,
            finished_on: self.finished_on,
            days_active: self.days_active,
            status: enrollments::EnrollmentStatus::Active,
            display_name: self.display_name().to_owned(),
            student_no: self.student_no().map(str::to_owned),
            cohort_name: self.cohort.as_ref().map(|c| c.name.clone()),
            cohort_path: self.cohort.as_ref().map(|c| c.path.clone()),
        }
    }
}

/// Where a participant stands: their id and their row's key.
type Place = (i32, RankKey);

/// A campaign's ranked participants at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// When the read behind this snapshot began.
    taken_at: Instant,
    /// The same moment on the wall clock, for the next delta.
    wall: DateTime<Utc>,
    /// Active enrollments in board order.
    rows: Blocks<Ranked>,
    /// Every ranked participant's place, by participant id.
    places: Blocks<Place>,
}

impl Snapshot {
    /// How many participants are ranked.
    pub fn len(&self) -> u64 {
        u64::try_from(self.rows.len()).unwrap_or(u64::MAX)
    }

    /// True when nobody is ranked.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Competition rank of a score: one more than the rows with strictly more.
    pub fn rank_of(&self, score: i64) -> u64 {
        let greater = self.rows.partition_point(|r| r.counted > score);
        u64::try_from(greater).map_or(u64::MAX, rank_for)
    }

    /// A ranked participant's row.
    pub fn participant(&self, participant_id: i32) -> Option<BoardRow> {
        self.index_of(participant_id)
            .and_then(|i| self.rows.get(i))
            .map(Ranked::to_row)
    }

    /// Up to `limit` rows from `offset`, with their ranks.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<(u64, BoardRow)> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.rows.len());
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        self.ranked_from(start)
            .take(take)
            .map(|(rank, r)| (rank, r.to_row()))
            .collect()
    }

    /// The rows whose display name and student number `keep` accepts, with their ranks on
    /// the whole board.
    pub fn matching(&self, keep: impl Fn(&str, Option<&str>) -> bool) -> Vec<(u64, BoardRow)> {
        self.ranked_from(0)
            .filter(|(_, r)| keep(r.display_name(), r.student_no()))
            .map(|(rank, r)| (rank, r.to_row()))
            .collect()
    }

    /// A participant's row and rank, with up to `n` rows above and below (board order).
    pub fn around(&self, participant_id: i32, n: usize) -> Option<Around> {
        let at = self.index_of(participant_id)?;
        let first = at.saturating_sub(n);
        let mut rows: Vec<(u64, BoardRow)> = self
            .ranked_from(first)
            .take(at - first + 1 + n)
            .map(|(rank, r)| (rank, r.to_row()))
            .collect();
        let below = rows.split_off(at - first + 1);
        let me = rows.pop()?;
        Some(Around { me, above: rows, below })
    }

    /// The rows from `start` on with their competition ranks.
    fn ranked_from(&self, start: usize) -> impl Iterator<Item = (u64, &Ranked)> {
        let first_rank = self.rows.get(start).map_or(1, |r| self.rank_of(r.counted));
        let offset = u64::try_from(start).unwrap_or(u64::MAX);
        let rows = self.rows.iter_from(start);
        ranks_from(first_rank, offset, self.rows.iter_from(start).map(|r| r.counted)).zip(rows)
    }

    /// Index in board order of a ranked participant's row.
    fn index_of(&self, participant_id: i32) -> Option<usize> {
        let (_, (_, key)) = self.places.find(|p| p.0 < participant_id, |p| p.0 == participant_id)?;
        let (at, _) = self.rows.find(|r| r.key() < *key, |r| r.key() == *key)?;
        Some(at)
    }

    /// This snapshot with `changed` rows (any status) applied: each changed enrollment
    /// leaves its old place and, when still active, takes its new one. Copies only the
    /// blocks the changes touch.
    fn merged(&self, changed: Vec<BoardRow>, labels: &mut Labels, taken_at: Instant, wall: DateTime<Utc>) -> Self {
        let (mut rows, mut places) = (self.rows.clone(), self.places.clone());
        for r in changed {
            let id = r.participant_id;
            if let Some((_, old)) = places.remove(|p| p.0 < id, |p| p.0 == id) {
                rows.remove(|x| x.key() < old, |x| x.key() == old);
            }
            if r.status == enrollments::EnrollmentStatus::Active {
                let row = Ranked::new(r, labels);
                let key = row.key();
                rows.insert(|x| x.key() < key, row);
                places.insert(|p| p.0 < id, (id, key));
            }
        }
        Self {
            taken_at,
            wall,
            rows,
            places,
        }
    }

    /// Reads the campaign's whole board, in keyset pages so that the rows in flight stay
    /// few. A row that moves between pages is read twice, or out of order: it was updated
    /// after `wall`, so it is put in its place here and the next delta gives it its latest
    /// figures.
    async fn build(db: &impl ConnectionTrait, campaign_id: i32, labels: &mut Labels) -> ApiResult<Self> {
        let (taken_at, wall) = (Instant::now(), Utc::now());
        let scope = Scope::total(campaign_id);
        let mut rows: Blocks<Ranked> = Blocks::default();
        let mut places: Vec<Place> = Vec::new();
        let mut misplaced = Vec::new();
        let mut after: Option<RowKey> = None;
        loop {
            let page = scope.after(db, after.as_ref(), BUILD_PAGE).await?;
            let last_page = u64::try_from(page.len()).unwrap_or(u64::MAX) < BUILD_PAGE;
            after = page.last().map(RowKey::from);
            for r in page {
                let row = Ranked::new(r, labels);
                let key = row.key();
                places.push((row.participant_id, key.clone()));
                match rows.last() {
                    Some(last) if last.key() >= key => misplaced.push(row),
                    _ => rows.push_last(row),
                }
            }
            if last_page {
                break;
            }
        }
        for row in misplaced {
            let key = row.key();
            rows.insert(|x| x.key() < key, row);
        }
        places.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut index = Blocks::default();
        let mut kept: Option<i32> = None;
        for (id, key) in places {
            if kept == Some(id) {
                // Read twice: only one row stays on the board.
                rows.remove(|x| x.key() < key, |x| x.key() == key);
            } else {
                kept = Some(id);
                index.push_last((id, key));
            }
        }
        Ok(Self {
            taken_at,
            wall,
            rows,
            places: index,
        })
    }

    /// The enrollments changed since this snapshot, applied.
    async fn refreshed(&self, db: &impl ConnectionTrait, campaign_id: i32, labels: &mut Labels) -> ApiResult<Self> {
        let (taken_at, wall) = (Instant::now(), Utc::now());
        let changed = with_row_columns(
            enrollments::Entity::find()
                .filter(enrollments::Column::CampaignId.eq(campaign_id))
                .filter(enrollments::Column::UpdatedAt.gte(self.wall - MARGIN)),
            Expr::col((enrollments::Entity, enrollments::Column::TotalCounted)),
        )
        .into_model::<BoardRow>()
        .all(db)
        .await?;
        Ok(self.merged(changed, labels, taken_at, wall))
    }
}

/// Where one participant stands: (rank, row) for them and their neighbours.
#[derive(Debug)]
pub struct Around {
    pub me: (u64, BoardRow),
    pub above: Vec<(u64, BoardRow)>,
    pub below: Vec<(u64, BoardRow)>,
}

#[derive(Default)]
struct Board {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held by the build or refresh under way, with the cohort labels it shares out.
    refresh: Arc<tokio::sync::Mutex<Labels>>,
    last_used: Mutex<Option<Instant>>,
}

impl Board {
    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Builds the board, or applies what changed since the current snapshot.
    async fn refresh(
        &self,
        db: &impl ConnectionTrait,
        campaign_id: i32,
        labels: &mut Labels,
    ) -> ApiResult<Arc<Snapshot>> {
        let next = match self.current() {
            Some(prev) => prev.refreshed(db, campaign_id, labels).await?,
            None => {
                labels.clear();
                let started = Instant::now();
                let built = Snapshot::build(db, campaign_id, labels).await?;
                tracing::info!(
                    campaign_id,
                    participants = built.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "board built"
                );
                built
            }
        };
        let next = Arc::new(next);
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(next.clone());
        }
        Ok(next)
    }
}

/// Every campaign's board snapshot in this process.
pub struct BoardCache {
    max_staleness: Duration,
    boards: Mutex<HashMap<i32, Arc<Board>>>,
    /// Where builds and refreshes run: the boards' thread of [`crate::workers::Workers`].
    thread: tokio::runtime::Handle,
}

impl BoardCache {
    /// Boards no older than `max_staleness`, built and refreshed on `thread`.
    pub fn new(max_staleness: Duration, thread: tokio::runtime::Handle) -> Self {
        Self {
            max_staleness,
            boards: Mutex::new(HashMap::new()),
            thread,
        }
    }

    fn board(&self, campaign_id: i32) -> Arc<Board> {
        let now = Instant::now();
        let mut boards = self.boards.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !boards.contains_key(&campaign_id) {
            boards.retain(|_, b| {
                b.last_used
                    .lock()
                    .ok()
                    .and_then(|u| *u)
                    .is_some_and(|u| now.duration_since(u) < IDLE)
            });
        }
        let board = boards.entry(campaign_id).or_default().clone();
        if let Ok(mut used) = board.last_used.lock() {
            *used = Some(now);
        }
        board
    }

    /// Starts building the boards of every active campaign in the background, so that they
    /// are ready before the first request asks (which would start the build otherwise).
    ///
    /// # Errors
    /// On database failure.
    pub async fn warm(&self, db: &DatabaseConnection) -> ApiResult<()> {
        let active: Vec<i32> = campaigns::Entity::find()
            .select_only()
            .column(campaigns::Column::Id)
            .filter(campaigns::Column::Status.eq(campaigns::CampaignStatus::Active))
            .into_tuple()
            .all(db)
            .await?;
        for campaign_id in active {
            self.refresh_in_background(self.board(campaign_id), db, campaign_id);
        }
        Ok(())
    }

    /// The campaign's board, no older than `max_staleness`; `None` while it is first built,
    /// and the caller reads the database instead.
    ///
    /// # Errors
    /// On database failure while refreshing (only a request that waits for the refresh).
    pub async fn snapshot(&self, db: &DatabaseConnection, campaign_id: i32) -> ApiResult<Option<Arc<Snapshot>>> {
        let board = self.board(campaign_id);
        let asked = Instant::now();
        let Some(s) = board.current() else {
            self.refresh_in_background(board, db, campaign_id);
            return Ok(None);
        };
        if !self.max_staleness.is_zero() {
            let age = asked.saturating_duration_since(s.taken_at);
            if age > self.max_staleness / 4 {
                self.refresh_in_background(board.clone(), db, campaign_id);
            }
            if age <= self.max_staleness {
                return Ok(Some(s));
            }
        }
        // Too old, or read-your-writes: wait for a snapshot taken after the ask.
        let mut labels = board.refresh.clone().lock_owned().await;
        match board.current() {
            Some(s) if s.taken_at >= asked => Ok(Some(s)),
            _ => {
                let db = db.clone();
                self.thread
                    .spawn(async move { board.refresh(&db, campaign_id, &mut labels).await })
                    .await
                    .map_err(|e| anyhow::anyhow!("the board refresh stopped: {e}"))?
                    .map(Some)
            }
        }
    }

    /// Builds or refreshes `board` on the boards' thread, unless a build or refresh is under way.
    fn refresh_in_background(&self, board: Arc<Board>, db: &DatabaseConnection, campaign_id: i32) {
        let Ok(mut labels) = board.refresh.clone().try_lock_owned() else {
            return;
        };
        let db = db.clone();
        drop(self.thread.spawn(async move {
            if let Err(e) = board.refresh(&db, campaign_id, &mut labels).await {
                tracing::warn!(error = %e, campaign_id, "refreshing the board failed");
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn row(id: i32, score: i64, reached: Option<u32>, active: bool) -> BoardRow {
        BoardRow {
            enrollment_id: id,
            participant_id: id + 1_000,
            score,
            total_counted: score,
            total_steps: score,
            metres: 0,
            stations_reached: 0,
            last_reached_on: reached.and_then(|d| NaiveDate::from_ymd_opt(2026, 11, d)),
            finished_on: None,
            days_active: 0,
            status: if active {
                enrollments::EnrollmentStatus::Active
            } else {
                enrollments::EnrollmentStatus::Suspended
            },
            display_name: format!("p{id}"),
            student_no: (id % 2 == 0).then(|| format!("S{id}")),
            cohort_name: (id % 3 == 0).then(|| "一班".to_owned()),
            cohort_path: (id % 3 == 0).then(|| "一院/一班".to_owned()),
        }
    }

    fn empty() -> Snapshot {
        Snapshot {
            taken_at: Instant::now(),
            wall: Utc::now(),
            rows: Blocks::default(),
            places: Blocks::default(),
        }
    }

    /// A snapshot holding `rows`, as a delta applied to an empty board.
    fn holding(rows: Vec<BoardRow>) -> Snapshot {
        empty().merged(rows, &mut Labels::new(), Instant::now(), Utc::now())
    }

    fn order(s: &Snapshot) -> Vec<(u64, i32, i64)> {
        s.page(u64::MAX, 0)
            .into_iter()
            .map(|(rank, r)| (rank, r.enrollment_id, r.score))
            .collect()
    }

    #[test]
    fn ranks_are_competition_ranks_in_board_order() {
        let s = holding(vec![
            row(1, 80, Some(3), true),
            row(2, 90, None, true),
            row(3, 80, Some(2), true),
            row(4, 70, None, true),
            row(5, 99, None, false),
        ]);
        assert_eq!(order(&s), vec![(1, 2, 90), (2, 3, 80), (2, 1, 80), (4, 4, 70)]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.rank_of(80), 2);
        assert_eq!(s.rank_of(85), 2);
        assert_eq!(s.rank_of(1_000), 1);
        assert_eq!(s.rank_of(0), 5);
        let around = s.around(1_001, 2).expect("ranked");
        assert_eq!(around.me.0, 2);
        assert_eq!(around.me.1.enrollment_id, 1);
        assert_eq!(
            around.above.iter().map(|(_, r)| r.enrollment_id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(
            around.below.iter().map(|(_, r)| r.enrollment_id).collect::<Vec<_>>(),
            [4]
        );
        assert!(s.around(1_005, 2).is_none(), "suspended rows are not ranked");
        assert_eq!(s.participant(1_001).map(|r| r.enrollment_id), Some(1));
        assert!(s.participant(1_005).is_none());
        assert_eq!(s.page(2, 3).len(), 1);
        assert_eq!(s.page(2, 2).iter().map(|(rank, _)| *rank).collect::<Vec<_>>(), [2, 4]);
        assert!(s.page(2, 10).is_empty());
    }

    #[test]
    fn a_row_comes_back_with_the_names_and_cohort_it_was_read_with() {
        let s = holding(vec![row(6, 10, None, true), row(7, 20, Some(1), true)]);
        let six = s.participant(1_006).expect("ranked");
        assert_eq!(six.display_name, "p6");
        assert_eq!(six.student_no.as_deref(), Some("S6"));
        assert_eq!(six.cohort_name.as_deref(), Some("一班"));
        assert_eq!(six.cohort_path.as_deref(), Some("一院/一班"));
        let seven = s.participant(1_007).expect("ranked");
        assert_eq!((seven.student_no, seven.cohort_name), (None, None));
        let hits = s.matching(|name, no| name == "p6" || no == Some("S7"));
        assert_eq!(
            hits.iter()
                .map(|(rank, r)| (*rank, r.enrollment_id))
                .collect::<Vec<_>>(),
            [(2, 6)]
        );
    }

    proptest! {
        /// Applying changed rows to a snapshot gives exactly the board read whole.
        #[test]
        fn a_merged_delta_equals_a_full_read(
            before in prop::collection::btree_map(0_i32..600, (0_i64..50, prop::option::of(1_u32..20), any::<bool>()), 0..400),
            changes in prop::collection::btree_map(0_i32..600, (0_i64..50, prop::option::of(1_u32..20), any::<bool>()), 0..60),
        ) {
            let build = |m: &std::collections::BTreeMap<i32, (i64, Option<u32>, bool)>| {
                m.iter().map(|(id, (s, d, a))| row(*id, *s, *d, *a)).collect::<Vec<_>>()
            };
            let old = holding(build(&before));
            let old_order = order(&old);
            let mut after = before.clone();
            after.extend(changes.clone());
            let merged = old.merged(build(&changes), &mut Labels::new(), Instant::now(), Utc::now());
            let full = holding(build(&after));
            prop_assert_eq!(order(&merged), order(&full));
            prop_assert_eq!(order(&old), old_order, "the older snapshot is untouched");
            for id in after.keys() {
                let ranks = |s: &Snapshot| {
                    s.around(id + 1_000, 2).map(|a| {
                        let ids = |rows: &[(u64, BoardRow)]| rows.iter().map(|(k, r)| (*k, r.enrollment_id)).collect::<Vec<_>>();
                        (a.me.0, ids(&a.above), ids(&a.below))
                    })
                };
                prop_assert_eq!(ranks(&merged), ranks(&full));
            }
        }
    }
}
