//! The campaign-to-date participant board, held in memory and kept fresh by deltas.
//!
//! A big screen and thousands of phones ask for the same board many times a second; counting
//! ranks in SQL costs milliseconds per request at 100,000 participants. Each campaign's
//! board is therefore a sorted snapshot of its active enrollments, shared by every request
//! of this process. A snapshot older than a quarter of `leaderboard.max_staleness_ms` is
//! refreshed in the background, on a thread of its own, when the next request asks: it reads
//! only the enrollments updated since the last refresh (`ix_enrollments_campaign_updated`)
//! and merges them. Requests keep serving the previous snapshot meanwhile, never one older
//! than `max_staleness_ms`; one that would be older waits for the refresh. A refresh decodes
//! and sorts thousands of rows (under a burst of uploads most of the board changes within
//! the look-back): run by a request on a server worker, it held up that worker's other
//! connections for its whole length (p50 50 ms, p90 156 ms under the upload benchmark, and
//! every one of the slowest 1 % of uploads waited behind one). Every
//! `FULL_EVERY` the whole board is read again, which also picks up renamed participants and
//! cohorts. With `max_staleness_ms = 0` every request refreshes first (read-your-writes).
//!
//! Deltas are found by `updated_at`, written by the transaction that changes a total; the
//! look-back `MARGIN` covers transactions that stamped their rows just before the previous
//! refresh began but committed after it, and clocks of several instances that differ a
//! little.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};

use crate::{
    domain::ranking::{RankKey, page_ranks, rank_for},
    error::ApiResult,
    models::enrollments,
    services::leaderboard::{BoardRow, Period, RowKey, Scope, with_row_columns},
};

/// How often the whole board is read again instead of a delta.
const FULL_EVERY: Duration = Duration::from_secs(30);
/// Rows per query of a full read.
const FULL_PAGE: u64 = 5_000;
/// How far before the previous refresh a delta looks.
const MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// Boards nobody asked for this long are dropped.
const IDLE: Duration = Duration::from_secs(600);

/// A campaign's ranked participants at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// When the read behind this snapshot began.
    pub taken_at: Instant,
    /// The same moment on the wall clock, for the next delta.
    wall: DateTime<Utc>,
    /// When the board was last read whole.
    full_at: Instant,
    /// Active enrollments in board order.
    rows: Vec<Arc<BoardRow>>,
    /// Competition rank of each row.
    ranks: Vec<u64>,
    /// Enrollment id → index in `rows`.
    index: HashMap<i32, usize>,
    /// Participant id → index in `rows`.
    by_participant: HashMap<i32, usize>,
}

fn key(r: &BoardRow) -> RankKey {
    RankKey {
        steps: r.score,
        furthest_reached_on: r.last_reached_on,
        id: i64::from(r.enrollment_id),
    }
}

impl Snapshot {
    fn new(rows: Vec<Arc<BoardRow>>, taken_at: Instant, wall: DateTime<Utc>, full_at: Instant) -> Self {
        // The whole board is one page from the top.
        let ranks = page_ranks(1, 0, rows.iter().map(|r| r.score));
        let index = rows.iter().enumerate().map(|(i, r)| (r.enrollment_id, i)).collect();
        let by_participant = rows.iter().enumerate().map(|(i, r)| (r.participant_id, i)).collect();
        Self {
            taken_at,
            wall,
            full_at,
            rows,
            ranks,
            index,
            by_participant,
        }
    }

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
        let greater = self.rows.partition_point(|r| r.score > score);
        u64::try_from(greater).map_or(u64::MAX, rank_for)
    }

    /// A ranked participant's row.
    pub fn participant(&self, participant_id: i32) -> Option<&BoardRow> {
        self.by_participant.get(&participant_id).map(|&i| &*self.rows[i])
    }

    /// Up to `limit` rows from `offset`, with their ranks.
    pub fn page(&self, limit: u64, offset: u64) -> Vec<(u64, BoardRow)> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.rows.len());
        let end = start
            .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
            .min(self.rows.len());
        (start..end)
            .map(|i| (self.ranks[i], BoardRow::clone(&self.rows[i])))
            .collect()
    }

    /// An enrollment's row and rank, with up to `n` rows above and below (board order).
    pub fn around(&self, enrollment_id: i32, n: usize) -> Option<Around> {
        let at = *self.index.get(&enrollment_id)?;
        let row = |i: usize| (self.ranks[i], BoardRow::clone(&self.rows[i]));
        Some(Around {
            me: row(at),
            above: (at.saturating_sub(n)..at).map(row).collect(),
            below: (at + 1..(at + 1 + n).min(self.rows.len())).map(row).collect(),
        })
    }

    /// This snapshot with `changed` rows (any status) merged in: each changed enrollment
    /// leaves its old place and, when still active, takes its new one.
    fn merged(&self, changed: Vec<BoardRow>, taken_at: Instant, wall: DateTime<Utc>) -> Self {
        let gone: HashSet<i32> = changed.iter().map(|r| r.enrollment_id).collect();
        let mut fresh: Vec<Arc<BoardRow>> = changed
            .into_iter()
            .filter(|r| r.status == enrollments::ACTIVE)
            .map(Arc::new)
            .collect();
        fresh.sort_by_key(|r| key(r));
        let mut rows = Vec::with_capacity(self.rows.len() + fresh.len());
        let mut fresh = fresh.into_iter().peekable();
        for old in self.rows.iter().filter(|r| !gone.contains(&r.enrollment_id)) {
            while fresh.peek().is_some_and(|f| key(f) < key(old)) {
                rows.extend(fresh.next());
            }
            rows.push(old.clone());
        }
        rows.extend(fresh);
        Self::new(rows, taken_at, wall, self.full_at)
    }
}

/// Where one enrollment stands: (rank, row) for it and its neighbours.
#[derive(Debug)]
pub struct Around {
    pub me: (u64, BoardRow),
    pub above: Vec<(u64, BoardRow)>,
    pub below: Vec<(u64, BoardRow)>,
}

#[derive(Default)]
struct Board {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held by the refresh under way.
    refresh: Arc<tokio::sync::Mutex<()>>,
    last_used: Mutex<Option<Instant>>,
}

impl Board {
    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    async fn refresh(&self, db: &impl ConnectionTrait, campaign_id: i32) -> ApiResult<Arc<Snapshot>> {
        let taken_at = Instant::now();
        let wall = Utc::now();
        let scope = Scope {
            campaign_id,
            period: Period::Total,
            cohorts: None,
        };
        let next = match self.current() {
            Some(prev) if taken_at.duration_since(prev.full_at) < FULL_EVERY => {
                let changed = with_row_columns(
                    enrollments::Entity::find()
                        .filter(enrollments::Column::CampaignId.eq(campaign_id))
                        .filter(enrollments::Column::UpdatedAt.gte(prev.wall - MARGIN)),
                    Expr::col((enrollments::Entity, enrollments::Column::TotalCounted)),
                )
                .into_model::<BoardRow>()
                .all(db)
                .await?;
                prev.merged(changed, taken_at, wall)
            }
            _ => {
                // In keyset pages, so that the rows in flight stay small (SQLite's decoded
                // rows of a 100,000-row read would hold several times the snapshot itself).
                // A row that moves between pages is read twice or missed; either way it was
                // updated after `wall`, so the next delta puts it right, and duplicates are
                // dropped here.
                let mut rows: Vec<Arc<BoardRow>> = Vec::new();
                let mut seen = HashSet::new();
                let mut after: Option<RowKey> = None;
                loop {
                    let page = scope.after(db, after.as_ref(), FULL_PAGE).await?;
                    let last_page = u64::try_from(page.len()).unwrap_or(u64::MAX) < FULL_PAGE;
                    after = page.last().map(RowKey::from);
                    rows.extend(page.into_iter().filter(|r| seen.insert(r.enrollment_id)).map(Arc::new));
                    if last_page {
                        break;
                    }
                }
                Snapshot::new(rows, taken_at, wall, taken_at)
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
}

impl BoardCache {
    pub fn new(max_staleness: Duration) -> Self {
        Self {
            max_staleness,
            boards: Mutex::new(HashMap::new()),
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

    /// The campaign's board, no older than `max_staleness`.
    ///
    /// # Errors
    /// On database failure while refreshing (only a request that waits for the refresh).
    pub async fn snapshot(&self, db: &DatabaseConnection, campaign_id: i32) -> ApiResult<Arc<Snapshot>> {
        let board = self.board(campaign_id);
        let asked = Instant::now();
        if let Some(s) = board.current()
            && !self.max_staleness.is_zero()
        {
            let age = asked.saturating_duration_since(s.taken_at);
            if age > self.max_staleness / 4
                && let Ok(refreshing) = board.refresh.clone().try_lock_owned()
            {
                let (board, db) = (board.clone(), db.clone());
                drop(on_board_thread(async move {
                    let _refreshing = refreshing;
                    if let Err(e) = board.refresh(&db, campaign_id).await {
                        tracing::warn!(error = %e, campaign_id, "refreshing the board failed");
                    }
                }));
            }
            if age <= self.max_staleness {
                return Ok(s);
            }
        }
        // None yet, too old, or read-your-writes: wait for a snapshot taken after the ask.
        let _refreshing = board.refresh.clone().lock_owned().await;
        match board.current() {
            Some(s) if s.taken_at >= asked => Ok(s),
            _ => {
                let db = db.clone();
                on_board_thread(async move { board.refresh(&db, campaign_id).await })
                    .await
                    .map_err(|e| anyhow::anyhow!("the board refresh stopped: {e}"))?
            }
        }
    }
}

/// Spawns `work` on the boards' thread, where board refreshes decode and sort their rows
/// without holding up a server worker's other requests.
fn on_board_thread<F>(work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    static BOARDS: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    BOARDS
        .get_or_init(|| crate::threads::start("longmarch-boards"))
        .spawn(work)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
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
                enrollments::ACTIVE
            } else {
                enrollments::SUSPENDED
            }
            .to_owned(),
            display_name: format!("p{id}"),
            student_no: None,
            cohort_name: None,
            cohort_path: None,
        }
    }

    fn sorted(rows: impl IntoIterator<Item = BoardRow>) -> Snapshot {
        let mut rows: Vec<_> = rows.into_iter().filter(|r| r.status == enrollments::ACTIVE).collect();
        rows.sort_by_key(key);
        let now = Instant::now();
        Snapshot::new(rows.into_iter().map(Arc::new).collect(), now, Utc::now(), now)
    }

    fn order(s: &Snapshot) -> Vec<(u64, i32, i64)> {
        s.page(u64::MAX, 0)
            .into_iter()
            .map(|(rank, r)| (rank, r.enrollment_id, r.score))
            .collect()
    }

    #[test]
    fn ranks_are_competition_ranks_in_board_order() {
        let s = sorted([
            row(1, 80, Some(3), true),
            row(2, 90, None, true),
            row(3, 80, Some(2), true),
            row(4, 70, None, true),
            row(5, 99, None, false),
        ]);
        assert_eq!(order(&s), vec![(1, 2, 90), (2, 3, 80), (2, 1, 80), (4, 4, 70)]);
        assert_eq!(s.rank_of(80), 2);
        assert_eq!(s.rank_of(85), 2);
        assert_eq!(s.rank_of(1_000), 1);
        assert_eq!(s.rank_of(0), 5);
        let around = s.around(1, 2).expect("ranked");
        assert_eq!(around.me.0, 2);
        assert_eq!(
            around.above.iter().map(|(_, r)| r.enrollment_id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(
            around.below.iter().map(|(_, r)| r.enrollment_id).collect::<Vec<_>>(),
            [4]
        );
        assert!(s.around(5, 2).is_none(), "suspended rows are not ranked");
        assert_eq!(s.participant(1_001).map(|r| r.enrollment_id), Some(1));
        assert!(s.participant(1_005).is_none());
        assert_eq!(s.page(2, 3).len(), 1);
        assert!(s.page(2, 10).is_empty());
    }

    proptest! {
        /// Merging changed rows into a snapshot gives exactly the board read whole.
        #[test]
        fn a_merged_delta_equals_a_full_read(
            before in prop::collection::btree_map(0_i32..60, (0_i64..50, prop::option::of(1_u32..20), any::<bool>()), 0..40),
            changes in prop::collection::btree_map(0_i32..60, (0_i64..50, prop::option::of(1_u32..20), any::<bool>()), 0..20),
        ) {
            let build = |m: &std::collections::BTreeMap<i32, (i64, Option<u32>, bool)>| {
                m.iter().map(|(id, (s, d, a))| row(*id, *s, *d, *a)).collect::<Vec<_>>()
            };
            let old = sorted(build(&before));
            let mut after = before.clone();
            after.extend(changes.clone());
            let now = Instant::now();
            let merged = old.merged(build(&changes), now, Utc::now());
            prop_assert_eq!(order(&merged), order(&sorted(build(&after))));
            let full = sorted(build(&after));
            for id in after.keys() {
                prop_assert_eq!(
                    merged.around(*id, 2).map(|a| a.me.0),
                    full.around(*id, 2).map(|a| a.me.0)
                );
            }
        }
    }
}
