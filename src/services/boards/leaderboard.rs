//! Leaderboards: participants (campaign to date or one day, optionally one cohort's subtree)
//! and cohorts (the children of one cohort, by several metrics).
//!
//! Boards never scan step history: the `total` board reads the running totals on
//! `enrollments` in index order (`ix_enrollments_leaderboard`), the `day` board the step days
//! of one date (`ix_step_days_campaign_day`). A page costs one ordered `LIMIT/OFFSET` query
//! plus one `COUNT` of the rows with strictly more steps than the page's first row: every
//! other rank on the page follows from its position (competition ranking, "1224").

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{
        days::parse_local_day,
        paging::{Count, PageRequest},
        percent::{basis_points, bp_percent},
        ranking::competition_ranks,
        states::EnrollmentStatus,
    },
    http::error::{ApiError, ApiResult},
    models::{cohort_days, cohorts, enrollments},
    services::{
        admin::access::require_campaign_access,
        boards::{
            cache::BoardCache,
            me::enrollment_of,
            scope::{BoardRow, Period, RowKey, Scope},
        },
        campaigns::cache::CampaignCache,
        identity::{
            Organiser,
            jwt::{Claims, Role},
        },
        progress::{CampaignCtx, PositionView, km},
    },
};

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

/// Who is looking at a campaign's boards.
#[derive(Debug, Clone)]
pub enum Viewer {
    Participant(i32),
    Organiser(Organiser),
    /// A live screen with a board token for this campaign slug.
    Board(String),
}

impl Viewer {
    /// The viewer a token speaks for.
    ///
    /// # Errors
    /// 401 `missing_token` without claims, `invalid_token` with a bad subject.
    pub fn from_claims(claims: Option<Claims>) -> ApiResult<Self> {
        let c = claims.ok_or_else(|| ApiError::unauthorized("missing_token", "This endpoint needs a bearer token."))?;
        let id = || {
            c.sub
                .parse::<i32>()
                .map_err(|_| ApiError::unauthorized("invalid_token", "The token's subject is not valid."))
        };
        Ok(match c.role {
            Role::Participant => Self::Participant(id()?),
            Role::Organiser | Role::Admin => Self::Organiser(Organiser {
                id: id()?,
                admin: c.role == Role::Admin,
            }),
            Role::Board => Self::Board(c.campaign.clone().unwrap_or_default()),
        })
    }
}

/// A campaign as one viewer may see it.
#[derive(Debug, Clone)]
pub struct Audience {
    pub ctx: Arc<CampaignCtx>,
    /// Organisers also see student numbers.
    pub organiser: bool,
    /// The participant's own enrollment, where the board needs it.
    pub me: Option<Me>,
}

/// A participant's enrollment as far as boards need it.
#[derive(Debug, Clone)]
pub struct Me {
    pub id: i32,
    pub participant_id: i32,
    pub status: EnrollmentStatus,
    pub total_counted: i64,
    pub last_reached_on: Option<NaiveDate>,
}

impl From<&enrollments::Model> for Me {
    fn from(e: &enrollments::Model) -> Self {
        Self {
            id: e.id,
            participant_id: e.participant_id,
            status: e.status,
            total_counted: e.total_counted,
            last_reached_on: e.last_reached_on,
        }
    }
}

impl From<&BoardRow> for Me {
    fn from(r: &BoardRow) -> Self {
        Self {
            id: r.enrollment_id,
            participant_id: r.participant_id,
            status: r.status,
            total_counted: r.total_counted,
            last_reached_on: r.last_reached_on,
        }
    }
}

/// Opens a campaign for a viewer: an enrolled participant, an organiser with access, or a
/// board token of this campaign.
///
/// # Errors
/// 404 `campaign_not_found`; 403 `not_enrolled`, `board_token_scope`; on database failure.
#[tracing::instrument(skip(db, campaigns, boards, viewer), fields(campaign = %slug))]
pub async fn open(
    db: &DatabaseConnection,
    campaigns: &CampaignCache,
    boards: &BoardCache,
    viewer: &Viewer,
    slug: &str,
) -> ApiResult<Audience> {
    match viewer {
        Viewer::Participant(id) => {
            let ctx = campaigns.public(db, slug).await?;
            // Ranked participants are on the board in memory; anyone else (just joined,
            // suspended, not enrolled), or everyone while the board is first built, is
            // looked up, for the right answer.
            let board = boards.snapshot(db, ctx.campaign.id).await?;
            let me = match board.and_then(|b| b.participant(*id)) {
                Some(row) => Me::from(&row),
                None => Me::from(&enrollment_of(db, &ctx, *id).await?),
            };
            Ok(Audience {
                ctx,
                organiser: false,
                me: Some(me),
            })
        }
        Viewer::Organiser(o) => {
            let campaign = require_campaign_access(db, o, slug).await?;
            Ok(Audience {
                ctx: Arc::new(CampaignCtx::from_model(db, campaign).await?),
                organiser: true,
                me: None,
            })
        }
        Viewer::Board(scope) => {
            if scope != slug {
                return Err(ApiError::forbidden(
                    "board_token_scope",
                    "This board token is for another campaign.",
                ));
            }
            Ok(Audience {
                ctx: campaigns.any(db, slug).await?,
                organiser: false,
                me: None,
            })
        }
    }
}

/// Query of `GET /campaigns/{slug}/leaderboards/participants`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// `total` (campaign to date, default) or `day`.
    pub period: Option<String>,
    /// With `period=day`: the local date `YYYY-MM-DD` (default today in the campaign's zone).
    pub date: Option<String>,
    /// Only this cohort's whole subtree.
    pub cohort: Option<i32>,
    /// 1–100, default 20; anything else is refused with 400 `invalid_query`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<Count>,
    /// Rows to skip, default 0; 0 to 2^63 − 1 (else 400 `invalid_query`).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<Count>,
    /// Only participants whose name contains this text (any case) or, for organisers, whose
    /// student number starts with it; ranks stay those of the whole board.
    pub q: Option<String>,
}

/// Whether a board row's display name and student number answer a search (`needle`
/// already lower-cased).
fn matches_search(display_name: &str, student_no: Option<&str>, needle: &str, organiser: bool) -> bool {
    display_name.to_lowercase().contains(needle)
        || (organiser && student_no.is_some_and(|no| no.to_lowercase().starts_with(needle)))
}

fn invalid_query(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail)
}

/// Parses `period` and `date`; a day defaults to `today`.
///
/// # Errors
/// 400 `invalid_query`.
pub fn parse_period(period: Option<&str>, date: Option<&str>, today: NaiveDate) -> ApiResult<Period> {
    match period.unwrap_or("total") {
        "total" => {
            if date.is_some() {
                return Err(invalid_query("`date` only goes with `period=day`."));
            }
            Ok(Period::Total)
        }
        "day" => match date {
            None => Ok(Period::Day(today)),
            Some(d) => parse_local_day(d)
                .map(Period::Day)
                .ok_or_else(|| invalid_query("`date` must be YYYY-MM-DD.")),
        },
        other => Err(invalid_query(format!(
            "`period` must be `total` or `day`, not `{other}`."
        ))),
    }
}

/// Parses `limit` (1–100, default 20) and `offset` (≥ 0).
///
/// # Errors
/// 400 `invalid_query`.
pub fn parse_page(limit: Option<Count>, offset: Option<Count>) -> ApiResult<(u64, u64)> {
    let page = PageRequest::strict(limit, offset, DEFAULT_LIMIT, MAX_LIMIT).map_err(invalid_query)?;
    Ok((page.limit, page.offset))
}

/// Ids of a cohort and every cohort below it.
///
/// # Errors
/// 404 `cohort_not_found` when the cohort is not in the campaign; on database failure.
pub async fn subtree_ids(db: &impl ConnectionTrait, campaign_id: i32, cohort_id: i32) -> ApiResult<Vec<i32>> {
    let all = cohorts::Model::all_of(db, campaign_id).await?;
    subtree_of(&all, cohort_id).ok_or_else(|| cohort_not_found(cohort_id))
}

fn cohort_not_found(id: i32) -> ApiError {
    ApiError::not_found("cohort_not_found", format!("No cohort {id} in this campaign."))
}

/// The subtree of `root` among `all` (by parent links, so names with `%`, `_` or `/` are
/// harmless), or `None` when `root` is not there.
pub fn subtree_of(all: &[cohorts::Model], root: i32) -> Option<Vec<i32>> {
    if !all.iter().any(|c| c.id == root) {
        return None;
    }
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for c in all {
        if let Some(p) = c.parent_id {
            children.entry(p).or_default().push(c.id);
        }
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(id) = queue.pop_front() {
        out.push(id);
        if let Some(kids) = children.get(&id) {
            queue.extend(kids.iter().copied());
        }
    }
    Some(out)
}

/// One row of a participant board as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardEntry {
    /// Competition rank (1, 2, 2, 4) by counted steps.
    pub rank: u64,
    pub display_name: String,
    /// Organisers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student_no: Option<String>,
    /// The participant's class (leaf cohort) name.
    pub cohort: Option<String>,
    /// Counted steps in the period.
    pub counted_steps: i64,
    /// Metres walked in the period.
    pub metres: i64,
    pub km: f64,
    /// Stations the participant has reached on their own walk (campaign to date).
    pub stations_reached: i32,
    /// True on the caller's own row.
    pub is_me: bool,
}

/// `GET /campaigns/{slug}/leaderboards/participants`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardPage {
    pub period: String,
    pub date: Option<NaiveDate>,
    pub cohort: Option<i32>,
    pub items: Vec<BoardEntry>,
    /// Participants ranked (with the filters).
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl Audience {
    /// A row as this audience may see it.
    pub fn entry(&self, rank: u64, r: BoardRow) -> BoardEntry {
        let metres = if r.score == r.total_counted {
            r.metres
        } else {
            self.ctx.participant_metres(r.score)
        };
        BoardEntry {
            rank,
            is_me: self.me.as_ref().is_some_and(|m| m.id == r.enrollment_id),
            display_name: r.display_name,
            student_no: if self.organiser { r.student_no } else { None },
            cohort: r.cohort_name,
            counted_steps: r.score,
            metres,
            km: km(metres),
            stations_reached: r.stations_reached,
        }
    }
}

/// A page of the participant board.
///
/// # Errors
/// 400 `invalid_query`; 404 `cohort_not_found`; on database failure.
#[tracing::instrument(skip(db, boards, audience, query), fields(campaign = %audience.ctx.campaign.slug))]
pub async fn participants_board(
    db: &DatabaseConnection,
    boards: &BoardCache,
    audience: &Audience,
    query: BoardQuery,
) -> ApiResult<BoardPage> {
    let period = parse_period(query.period.as_deref(), query.date.as_deref(), audience.ctx.today())?;
    let (limit, offset) = parse_page(query.limit, query.offset)?;
    let cohorts = match query.cohort {
        Some(id) => Some(subtree_ids(db, audience.ctx.campaign.id, id).await?),
        None => None,
    };
    let scope = Scope {
        campaign_id: audience.ctx.campaign.id,
        period,
        cohorts,
    };
    let needle = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let cached = if scope.is_cached() {
        boards.snapshot(db, scope.campaign_id).await?
    } else {
        None
    };
    let (total, rows) = if let Some(needle) = needle {
        // A search reads the whole ranked board and filters it, so every hit keeps its rank.
        let hit = |name: &str, no: Option<&str>| matches_search(name, no, &needle, audience.organiser);
        let hits: Vec<(u64, BoardRow)> = match &cached {
            Some(board) => board.matching(hit),
            None => {
                let n = scope.count(db).await?;
                let all = scope.page(db, std::cmp::Ord::max(n, 1), 0).await?;
                all.into_iter()
                    .filter(|(_, r)| hit(&r.display_name, r.student_no.as_deref()))
                    .collect()
            }
        };
        let total = u64::try_from(hits.len()).unwrap_or(u64::MAX);
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        (total, hits.into_iter().skip(skip).take(take).collect())
    } else if let Some(board) = cached {
        (board.len(), board.page(limit, offset))
    } else {
        (scope.count(db).await?, scope.page(db, limit, offset).await?)
    };
    let items = rows.into_iter().map(|(rank, r)| audience.entry(rank, r)).collect();
    let (period, date) = match period {
        Period::Total => ("total", None),
        Period::Day(d) => ("day", Some(d)),
    };
    Ok(BoardPage {
        period: period.to_owned(),
        date,
        cohort: query.cohort,
        items,
        total,
        limit,
        offset,
    })
}

/// `GET /campaigns/{slug}/leaderboards/participants/me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyRank {
    pub rank: u64,
    /// Participants ranked.
    pub total: u64,
    pub me: BoardEntry,
    /// Up to two rows right above, in board order.
    pub above: Vec<BoardEntry>,
    /// Up to two rows right below, in board order.
    pub below: Vec<BoardEntry>,
}

/// The caller's rank on the campaign-to-date board with two neighbours either side.
///
/// # Errors
/// 403 `participant_only`, `participant_suspended`; on database failure.
#[tracing::instrument(skip(db, boards, audience), fields(campaign = %audience.ctx.campaign.slug))]
pub async fn my_rank(db: &DatabaseConnection, boards: &BoardCache, audience: &Audience) -> ApiResult<MyRank> {
    let me = audience
        .me
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("participant_only", "Only a participant has a rank."))?;
    if me.status != enrollments::EnrollmentStatus::Active {
        return Err(ApiError::forbidden(
            "participant_suspended",
            "Suspended participants are not ranked.",
        ));
    }
    let scope = Scope::total(audience.ctx.campaign.id);
    if let Some(board) = boards.snapshot(db, scope.campaign_id).await?
        && let Some(around) = board.around(me.participant_id, 2)
    {
        let entries = |rows: Vec<(u64, BoardRow)>| rows.into_iter().map(|(rank, r)| audience.entry(rank, r)).collect();
        return Ok(MyRank {
            rank: around.me.0,
            total: board.len(),
            me: audience.entry(around.me.0, around.me.1),
            above: entries(around.above),
            below: entries(around.below),
        });
    }
    // Joined since the board was last read, or the board is being built: ask the database.
    let key = RowKey {
        score: me.total_counted,
        reached_on: me.last_reached_on,
        id: me.id,
    };
    let mine = scope
        .rows()
        .filter(enrollments::Column::Id.eq(me.id))
        .into_model::<BoardRow>()
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("enrollment {} vanished", me.id))?;
    let above = scope.beside(db, &key, 2, true).await?;
    let below = scope.beside(db, &key, 2, false).await?;
    let mut ranks: HashMap<i64, u64> = HashMap::new();
    for s in std::iter::once(me.total_counted).chain(above.iter().chain(&below).map(|r| r.score)) {
        if let std::collections::hash_map::Entry::Vacant(slot) = ranks.entry(s) {
            slot.insert(scope.rank_of(db, s).await?);
        }
    }
    let rank_of = |s: i64| ranks.get(&s).copied().unwrap_or(0);
    let total = scope.count(db).await?;
    Ok(MyRank {
        rank: rank_of(me.total_counted),
        total,
        me: audience.entry(rank_of(mine.score), mine),
        above: above.into_iter().map(|r| audience.entry(rank_of(r.score), r)).collect(),
        below: below.into_iter().map(|r| audience.entry(rank_of(r.score), r)).collect(),
    })
}

/// Query of `GET /campaigns/{slug}/leaderboards/cohorts`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CohortBoardQuery {
    /// Rank the children of this cohort (default: the top level).
    pub parent: Option<i32>,
    /// `total` (default), `mean`, `participation` or `progress`.
    pub metric: Option<String>,
    /// `children` (default): the cohorts right below `parent`; `leaf`: every cohort without
    /// children below `parent` (or in the campaign), such as all classes of a school.
    pub level: Option<String>,
}

/// What a cohort board ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Total,
    Mean,
    Participation,
    Progress,
}

impl Metric {
    /// Parses a metric name.
    ///
    /// # Errors
    /// 400 `invalid_query`.
    pub fn parse(s: Option<&str>) -> ApiResult<Self> {
        match s.unwrap_or("total") {
            "total" => Ok(Self::Total),
            "mean" => Ok(Self::Mean),
            "participation" => Ok(Self::Participation),
            "progress" => Ok(Self::Progress),
            other => Err(invalid_query(format!(
                "`metric` must be total, mean, participation or progress, not `{other}`."
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Mean => "mean",
            Self::Participation => "participation",
            Self::Progress => "progress",
        }
    }
}

/// One cohort on a cohort board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortEntry {
    pub rank: u64,
    pub id: i32,
    pub name: String,
    pub path: String,
    pub has_children: bool,
    pub member_count: i32,
    pub active_members: i32,
    pub counted_steps: i64,
    /// Counted steps per enrolled member (floor).
    pub mean_steps: i64,
    /// Share of members with any counted day, in percent (2 decimals).
    pub participation_percent: f64,
    /// Share of members with counted steps today, in percent (2 decimals).
    pub active_today_percent: f64,
    /// Where the cohort stands on the route in the campaign's mode.
    pub position: PositionView,
}

/// `GET /campaigns/{slug}/leaderboards/cohorts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortBoard {
    pub metric: String,
    pub parent: Option<i32>,
    pub items: Vec<CohortEntry>,
    pub total: usize,
}

/// The children of a cohort (or the top level) ranked by a metric.
///
/// # Errors
/// 400 `invalid_query`; 404 `cohort_not_found`; on database failure.
#[tracing::instrument(skip(db, audience, query), fields(campaign = %audience.ctx.campaign.slug))]
pub async fn cohorts_board(
    db: &impl ConnectionTrait,
    audience: &Audience,
    query: CohortBoardQuery,
) -> ApiResult<CohortBoard> {
    let metric = Metric::parse(query.metric.as_deref())?;
    let ctx = &audience.ctx;
    let all = cohorts::Model::all_of(db, ctx.campaign.id).await?;
    if let Some(p) = query.parent
        && !all.iter().any(|c| c.id == p)
    {
        return Err(cohort_not_found(p));
    }
    let leaves = match query.level.as_deref() {
        None | Some("children") => false,
        Some("leaf") => true,
        Some(other) => {
            return Err(invalid_query(format!(
                "`level` must be children or leaf, not `{other}`."
            )));
        }
    };
    let has_children = |c: &cohorts::Model| all.iter().any(|x| x.parent_id == Some(c.id));
    let mut kids: Vec<&cohorts::Model> = if leaves {
        let under = query
            .parent
            .and_then(|p| all.iter().find(|c| c.id == p))
            .map(|p| format!("{}/", p.path));
        all.iter()
            .filter(|c| !has_children(c))
            .filter(|c| under.as_ref().is_none_or(|prefix| c.path.starts_with(prefix.as_str())))
            .collect()
    } else {
        all.iter().filter(|c| c.parent_id == query.parent).collect()
    };
    let ids: Vec<i32> = kids.iter().map(|c| c.id).collect();
    let today: HashMap<i32, i32> = if ids.is_empty() {
        HashMap::new()
    } else {
        cohort_days::Entity::find()
            .filter(cohort_days::Column::CohortId.is_in(ids))
            .filter(cohort_days::Column::Day.eq(ctx.today()))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.cohort_id, d.active_members))
            .collect()
    };
    let score = |c: &cohorts::Model| -> i64 {
        let members = i64::from(c.member_count);
        match metric {
            Metric::Total => c.total_counted,
            Metric::Mean => c.total_counted.checked_div(members).unwrap_or(0),
            Metric::Participation => basis_points(i64::from(c.active_members), members),
            Metric::Progress => c.metres,
        }
    };
    kids.sort_by_key(|c| crate::domain::ranking::RankKey {
        steps: score(c),
        furthest_reached_on: c.last_reached_on,
        id: i64::from(c.id),
    });
    let scores: Vec<i64> = kids.iter().map(|c| score(c)).collect();
    let ranks = competition_ranks(&scores);
    let items: Vec<CohortEntry> = kids
        .iter()
        .zip(ranks)
        .map(|(c, rank)| {
            let members = i64::from(c.member_count);
            let active_today = today.get(&c.id).copied().unwrap_or(0);
            CohortEntry {
                rank,
                id: c.id,
                name: c.name.clone(),
                path: c.path.clone(),
                has_children: has_children(c),
                member_count: c.member_count,
                active_members: c.active_members,
                counted_steps: c.total_counted,
                mean_steps: c.total_counted.checked_div(members).unwrap_or(0),
                participation_percent: bp_percent(basis_points(i64::from(c.active_members), members)),
                active_today_percent: bp_percent(basis_points(i64::from(active_today), members)),
                position: ctx.position_view(c.metres, c.stations_reached, c.finished_on),
            }
        })
        .collect();
    Ok(CohortBoard {
        metric: metric.name().to_owned(),
        parent: query.parent,
        total: items.len(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_pages_parse_or_answer_invalid_query() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        assert_eq!(parse_period(None, None, today).ok(), Some(Period::Total));
        assert_eq!(parse_period(Some("day"), None, today).ok(), Some(Period::Day(today)));
        assert!(parse_period(Some("week"), None, today).is_err());
        assert!(parse_period(Some("day"), Some("2026-13-01"), today).is_err());
        assert!(parse_period(Some("total"), Some("2026-11-01"), today).is_err());
        assert_eq!(parse_page(None, None).ok(), Some((20, 0)));
        assert!(parse_page(Count::new(0), None).is_err());
        assert!(parse_page(Count::new(101), None).is_err());
        assert_eq!(parse_page(Count::new(5), Count::new(7)).ok(), Some((5, 7)));
    }
}
