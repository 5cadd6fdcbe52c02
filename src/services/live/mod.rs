//! Live events for an organiser's screen, as Server-Sent Events.
//!
//! An upload publishes one envelope per campaign (its new unlocks; any envelope also means
//! "steps changed"). On PostgreSQL the envelope goes out with `NOTIFY longmarch_events` and
//! every instance — the publishing one included — receives it through its `LISTEN`
//! connection, so all instances see the same events in the same order. On SQLite (a single
//! instance) it is delivered in process. Each instance fans envelopes out to its screens
//! through a tokio broadcast channel and keeps the last unlocks per campaign in a small ring
//! so a reconnecting screen resumes after its `Last-Event-ID`.
//!
//! A screen gets: replayed unlocks, then a `leaderboard` and a `stats` snapshot; then each
//! `unlock` as it happens, `leaderboard` (top 10) and `stats` when they changed — at most
//! once a second — `stats` every few seconds anyway and a heartbeat comment.
//!
//! Every screen of a campaign is sent the same snapshots, so they are built once per change
//! for all of them ([`Feed`]): a hall with a hundred screens costs the database what one does.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::ToSchema;

use crate::{
    http::error::{ApiError, ApiResult},
    models::{cohorts, enrollments, participants},
    services::{
        admin::access::require_campaign_access,
        boards::{
            cache::BoardCache,
            leaderboard::{self, Audience, BoardEntry, CohortBoardQuery, CohortEntry},
            scope::Scope,
        },
        campaigns::cache::CampaignCache,
        identity::{
            Organiser,
            jwt::{JwtKeys, Role},
        },
        progress::{CampaignCtx, Subject},
        reports::stats,
    },
};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "longmarch_events";
/// Unlocks kept per campaign for `Last-Event-ID` resume.
pub const RING: usize = 256;
/// Most unlocks in one notification (PostgreSQL payloads must stay under 8000 bytes).
const UNLOCKS_PER_NOTIFY: usize = 10;
/// Timing of a screen's stream.
pub const LEADERBOARD_MIN_GAP: Duration = Duration::from_secs(1);
pub const STATS_EVERY: Duration = Duration::from_secs(5);
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// Envelopes that carry no unlock ("steps changed") leave an instance at most this often
/// per campaign; a change in between is announced once at the end of the window. Screens
/// redraw their board at most once a [`LEADERBOARD_MIN_GAP`], so they lose nothing, while
/// a notification per upload cost PostgreSQL a transaction of its own (and every instance a
/// wake-up) for each one.
pub const CHANGED_EVERY: Duration = Duration::from_millis(200);

/// A subject reached a station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnlockEvent {
    /// The SSE event id (unique across instances).
    pub id: String,
    /// `participant` or `cohort`.
    pub subject: Subject,
    /// Display name of the participant, or the cohort's path.
    pub name: String,
    pub station_seq: i32,
    pub station_name: String,
    pub reached_on: NaiveDate,
    pub unlocked_at: DateTime<Utc>,
}

/// The `resync` event: events were missed and can't be replayed; reload the screen's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResyncEvent {
    /// `resume point lost` (the `Last-Event-ID` is no longer buffered) or `screen fell behind`.
    pub reason: &'static str,
}

/// One event of the live stream as the OpenAPI document describes it (OpenAPI 3.1: the
/// `text/event-stream` schema describes each event): its `event` name and `data`, a JSON
/// text whose schema is [`UnlockEvent`], [`LeaderboardEvent`], `StatsSummary` (the `stats`
/// event) or [`ResyncEvent`]. `id` is set on `unlock`, for `Last-Event-ID`; comment lines
/// (`: heartbeat`) and `retry:` carry no event.
pub struct StreamEvent;

impl StreamEvent {
    /// Event name → schema of its `data`.
    const EVENTS: [(&'static str, &'static str); 4] = [
        ("unlock", "UnlockEvent"),
        ("leaderboard", "LeaderboardEvent"),
        ("stats", "StatsSummary"),
        ("resync", "ResyncEvent"),
    ];
}

impl utoipa::PartialSchema for StreamEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Ref, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        Self::EVENTS
            .iter()
            .fold(OneOfBuilder::new(), |one_of, (event, data)| {
                one_of.item(
                    ObjectBuilder::new()
                        .title(Some(*event))
                        .property("event", text().enum_values(Some([*event])))
                        .required("event")
                        .property(
                            "id",
                            text().description(Some("The last event id (`unlock` events set it)")),
                        )
                        .property(
                            "data",
                            text()
                                .content_media_type("application/json")
                                .content_schema(Some(Ref::from_schema_name(*data))),
                        )
                        .required("data"),
                )
            })
            .into()
    }
}

impl ToSchema for StreamEvent {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            UnlockEvent::name().into(),
            <UnlockEvent as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            LeaderboardEvent::name().into(),
            <LeaderboardEvent as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            stats::StatsSummary::name().into(),
            <stats::StatsSummary as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            ResyncEvent::name().into(),
            <ResyncEvent as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// What crosses instances: a campaign's steps changed, with the unlocks that came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub campaign_id: i32,
    #[serde(default)]
    pub unlocks: Vec<UnlockEvent>,
}

/// This instance's subscribers and recent unlocks.
pub struct EventHub {
    tx: broadcast::Sender<Arc<Envelope>>,
    ring: Mutex<HashMap<i32, VecDeque<UnlockEvent>>>,
    /// Per campaign: the snapshots its screens share.
    feeds: Mutex<HashMap<i32, Arc<Feed>>>,
    /// Per campaign: when its last "steps changed" left, or that one is on its way.
    changed: Mutex<HashMap<i32, Pace>>,
    notify: bool,
}

/// Where a campaign's "steps changed" announcements stand.
#[derive(Debug, Clone, Copy)]
enum Pace {
    SentAt(tokio::time::Instant),
    /// One is scheduled for the end of the window: later changes ride on it.
    Scheduled,
}

/// What to do with a "steps changed" envelope.
enum Timing {
    Now,
    At(tokio::time::Instant),
    AlreadyScheduled,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// A new screen's view of the hub: the live feed and what to replay.
pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<Envelope>>,
    /// Unlocks after the client's last id; `None` when that id is no longer buffered.
    pub replay: Option<Vec<UnlockEvent>>,
}

impl EventHub {
    /// A hub that publishes through PostgreSQL `NOTIFY` when `notify`, else in process.
    pub fn new(notify: bool) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            ring: Mutex::new(HashMap::new()),
            feeds: Mutex::new(HashMap::new()),
            changed: Mutex::new(HashMap::new()),
            notify,
        }
    }

    /// Delivers an envelope to this instance's screens and buffers its unlocks.
    pub fn deliver(&self, env: Envelope) {
        // The ring and the send share the lock with `subscribe`, so a new screen sees each
        // unlock exactly once: in its replay or on its receiver.
        let mut ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let buf = ring.entry(env.campaign_id).or_default();
        for u in &env.unlocks {
            if buf.len() == RING {
                buf.pop_front();
            }
            buf.push_back(u.clone());
        }
        // Counted before any screen hears of it: a screen that asks for a snapshot after
        // this envelope never gets one built before it.
        self.feed(env.campaign_id).changed();
        // No receivers is fine: nobody is watching.
        drop(self.tx.send(Arc::new(env)));
    }

    /// The snapshots shared by a campaign's screens on this instance.
    pub fn feed(&self, campaign_id: i32) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(feeds.entry(campaign_id).or_default())
    }

    /// Subscribes a screen; with `last_id`, also the unlocks it missed.
    pub fn subscribe(&self, campaign_id: i32, last_id: Option<&str>) -> Subscription {
        let ring = self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = self.tx.subscribe();
        let replay = match last_id {
            None => Some(Vec::new()),
            Some(id) => ring.get(&campaign_id).and_then(|buf| {
                buf.iter()
                    .position(|u| u.id == id)
                    .map(|i| buf.iter().skip(i + 1).cloned().collect())
            }),
        };
        Subscription { rx, replay }
    }

    /// Publishes an envelope to every instance: one with unlocks at once, a bare "steps
    /// changed" at most once per [`CHANGED_EVERY`] and campaign (see [`Self::pace`]).
    ///
    /// # Errors
    /// When the notification can't be sent.
    pub async fn publish(self: &Arc<Self>, db: &DatabaseConnection, env: Envelope) -> ApiResult<()> {
        if !env.unlocks.is_empty() {
            return self.send(db, env).await;
        }
        match self.pace(env.campaign_id) {
            Timing::Now => self.send(db, env).await,
            Timing::AlreadyScheduled => Ok(()),
            Timing::At(at) => {
                let (hub, db) = (Arc::clone(self), db.clone());
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let campaign_id = env.campaign_id;
                    hub.changed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(campaign_id, Pace::SentAt(tokio::time::Instant::now()));
                    if let Err(e) = hub.send(&db, env).await {
                        tracing::warn!(error = %e, campaign_id, "could not publish live events");
                    }
                });
                Ok(())
            }
        }
    }

    /// Decides when a campaign's next "steps changed" goes out: now if none left within the
    /// window, else once at the window's end (a change while one is scheduled is covered
    /// by it: it is sent after that change was stored).
    fn pace(&self, campaign_id: i32) -> Timing {
        let now = tokio::time::Instant::now();
        let mut changed = self.changed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match changed.get(&campaign_id).copied() {
            Some(Pace::Scheduled) => Timing::AlreadyScheduled,
            Some(Pace::SentAt(at)) if now < at + CHANGED_EVERY => {
                changed.insert(campaign_id, Pace::Scheduled);
                Timing::At(at + CHANGED_EVERY)
            }
            _ => {
                changed.insert(campaign_id, Pace::SentAt(now));
                Timing::Now
            }
        }
    }

    async fn send(&self, db: &DatabaseConnection, env: Envelope) -> ApiResult<()> {
        if !self.notify {
            self.deliver(env);
            return Ok(());
        }
        let mut chunks: Vec<Vec<UnlockEvent>> = env.unlocks.chunks(UNLOCKS_PER_NOTIFY).map(<[_]>::to_vec).collect();
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        for unlocks in chunks {
            let payload = serde_json::to_string(&Envelope {
                campaign_id: env.campaign_id,
                unlocks,
            })
            .map_err(anyhow::Error::from)?;
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(())
    }
}

/// Starts listening on PostgreSQL: returns once `LISTEN` is in place, then delivers every
/// notification to `hub` from a task among `workers`, until they stop.
///
/// # Errors
/// When the listening connection can't be opened.
pub async fn start_listener(
    db: &DatabaseConnection,
    hub: Arc<EventHub>,
    workers: &crate::workers::Workers,
) -> anyhow::Result<()> {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    listener.listen(CHANNEL).await?;
    workers.spawn(async move {
        loop {
            match listener.recv().await {
                Ok(n) => match serde_json::from_str::<Envelope>(n.payload()) {
                    Ok(env) => hub.deliver(env),
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed event notification"),
                },
                Err(sea_orm::sqlx::Error::PoolClosed) => break,
                Err(e) => {
                    // `recv` reconnects on the next call; notifications in the gap are lost,
                    // and screens catch up with the next leaderboard and stats.
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

fn new_event_id() -> String {
    format!(
        "{:x}-{:08x}",
        Utc::now().timestamp_millis(),
        rand::rng().random::<u32>()
    )
}

/// Publishes what an upload changed. Failures are logged, never returned: the steps are
/// already stored and the screens catch up with their next snapshots.
#[tracing::instrument(skip_all, fields(campaign = %ctx.campaign.slug))]
pub async fn after_upload(
    db: &DatabaseConnection,
    events: &Arc<EventHub>,
    ctx: &CampaignCtx,
    enrollment: &enrollments::Model,
    newly: &[(i32, NaiveDate)],
) {
    if let Err(e) = publish_upload(db, events, ctx, enrollment, newly).await {
        tracing::warn!(error = %e, "could not publish live events");
    }
}

async fn publish_upload(
    db: &DatabaseConnection,
    events: &Arc<EventHub>,
    ctx: &CampaignCtx,
    enrollment: &enrollments::Model,
    newly: &[(i32, NaiveDate)],
) -> ApiResult<()> {
    let mut unlocks = Vec::new();
    if !newly.is_empty() {
        let (subject, name) = match (ctx.cohort_mode(), enrollment.cohort_id) {
            (true, Some(id)) => (
                Subject::Cohort,
                cohorts::Entity::find_by_id(id).one(db).await?.map(|c| c.path),
            ),
            _ => (
                Subject::Participant,
                participants::Entity::find_by_id(enrollment.participant_id)
                    .one(db)
                    .await?
                    .map(|p| p.display_name),
            ),
        };
        let now = Utc::now();
        for (seq, day) in newly {
            unlocks.push(UnlockEvent {
                id: new_event_id(),
                subject,
                name: name.clone().unwrap_or_default(),
                station_seq: *seq,
                station_name: ctx.station(*seq).map(|s| s.name.clone()).unwrap_or_default(),
                reached_on: *day,
                unlocked_at: now,
            });
        }
    }
    events
        .publish(
            db,
            Envelope {
                campaign_id: ctx.campaign.id,
                unlocks,
            },
        )
        .await
}

/// What a campaign's screens are sent, built once for all of them.
///
/// Envelopes delivered for the campaign are counted ([`Self::version`]); a snapshot remembers
/// the count when its build began and is reused by every screen that asks for a count up to
/// that one (and within its age), so a change costs one build however many screens watch.
#[derive(Debug, Default)]
pub struct Feed {
    version: AtomicU64,
    board: Shared<Arc<str>>,
    stats: Shared<stats::StatsSummary>,
}

impl Feed {
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// How many envelopes this instance delivered for the campaign.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// The `leaderboard` event's JSON, as of every envelope delivered so far (or of one
    /// second ago at most, for changes no envelope announces, such as a rename).
    async fn board(&self, db: &DatabaseConnection, audience: &Audience) -> ApiResult<Arc<str>> {
        self.board
            .get(
                self.version(),
                LEADERBOARD_MIN_GAP,
                || self.version(),
                || async {
                    let board = leaderboard_snapshot(db, audience).await?;
                    Ok(Arc::from(serde_json::to_string(&board).map_err(anyhow::Error::from)?))
                },
            )
            .await
    }

    /// The `stats` event, as of every envelope delivered so far and at most `max_age` old.
    async fn stats(
        &self,
        db: &DatabaseConnection,
        audience: &Audience,
        max_age: Duration,
    ) -> ApiResult<stats::StatsSummary> {
        self.stats
            .get(
                self.version(),
                max_age,
                || self.version(),
                || stats::summary(db, &audience.ctx),
            )
            .await
    }
}

/// One value shared by many readers, rebuilt by one of them when it is older than they want.
#[derive(Debug)]
struct Shared<T> {
    cell: tokio::sync::Mutex<Option<Built<T>>>,
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self {
            cell: tokio::sync::Mutex::new(None),
        }
    }
}

#[derive(Debug)]
struct Built<T> {
    value: T,
    /// The version its build started from: it includes every change up to that one.
    version: u64,
    at: tokio::time::Instant,
}

impl<T: Clone> Shared<T> {
    /// The value as of version `wanted` and at most `max_age` old. Readers that ask while a
    /// build runs wait for it and take its result when it is fresh enough for them.
    async fn get<Fut>(
        &self,
        wanted: u64,
        max_age: Duration,
        version_now: impl FnOnce() -> u64,
        build: impl FnOnce() -> Fut,
    ) -> ApiResult<T>
    where
        Fut: Future<Output = ApiResult<T>>,
    {
        let mut cell = self.cell.lock().await;
        if let Some(built) = cell.as_ref()
            && built.version >= wanted
            && built.at.elapsed() < max_age
        {
            return Ok(built.value.clone());
        }
        // Read before the build: what the build sees includes at least this many changes.
        let version = version_now();
        let value = build().await?;
        *cell = Some(Built {
            value: value.clone(),
            version,
            at: tokio::time::Instant::now(),
        });
        Ok(value)
    }
}

/// `POST /admin/campaigns/{slug}/board-token`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardToken {
    /// Send as a bearer token, or as `?access_token=` where headers can't be set (`EventSource`).
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub campaign: String,
}

/// Issues a read-only token for a campaign's live screen.
///
/// # Errors
/// 404 `campaign_not_found` (also without access); on database failure.
#[tracing::instrument(skip(db, jwt, organiser), fields(campaign = %slug))]
pub async fn board_token(
    db: &DatabaseConnection,
    jwt: &JwtKeys,
    organiser: &Organiser,
    slug: &str,
) -> ApiResult<BoardToken> {
    let campaign = require_campaign_access(db, organiser, slug).await?;
    let issued = jwt.issue(organiser.id, Role::Board, Some(campaign.slug.clone()))?;
    Ok(BoardToken {
        token: issued.token,
        expires_at: issued.expires_at,
        campaign: campaign.slug,
    })
}

/// The `leaderboard` event: top 10 participants and the top-level cohorts by progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeaderboardEvent {
    pub participants: Vec<BoardEntry>,
    pub cohorts: Vec<CohortEntry>,
}

async fn leaderboard_snapshot(db: &DatabaseConnection, audience: &Audience) -> ApiResult<LeaderboardEvent> {
    let scope = Scope::total(audience.ctx.campaign.id);
    let top = scope.page(db, 10, 0).await?;
    let participants = top.into_iter().map(|(rank, r)| audience.entry(rank, r)).collect();
    let cohorts = leaderboard::cohorts_board(
        db,
        audience,
        CohortBoardQuery {
            parent: None,
            metric: Some("progress".to_owned()),
            level: None,
        },
    )
    .await?
    .items;
    Ok(LeaderboardEvent { participants, cohorts })
}

/// An SSE frame of already serialised (single-line) JSON.
fn raw_frame(event: &str, json: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// One SSE frame.
fn frame(event: &str, id: Option<&str>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    let mut out = String::with_capacity(json.len() + 48);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(&json);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// What a screen's stream uses: the database, the campaign contexts and boards it opens
/// with, and the event hub it listens to.
#[derive(Clone, Copy)]
pub struct Screens<'a> {
    pub db: &'a DatabaseConnection,
    pub campaigns: &'a CampaignCache,
    pub boards: &'a BoardCache,
    pub events: &'a Arc<EventHub>,
}

/// Opens a screen's session: checks who may watch and subscribes before the stream starts,
/// so no event between the request and the first frame is lost.
///
/// # Errors
/// 403 `organiser_only` for participants, `board_token_scope`; 404 `campaign_not_found`.
#[tracing::instrument(skip(screens, viewer, last_id), fields(campaign = %slug))]
pub async fn open_stream(
    screens: Screens<'_>,
    viewer: &leaderboard::Viewer,
    slug: &str,
    last_id: Option<String>,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    if matches!(viewer, leaderboard::Viewer::Participant(_)) {
        return Err(ApiError::forbidden(
            "organiser_only",
            "Live events are for organisers and board screens.",
        ));
    }
    let mut audience = leaderboard::open(screens.db, screens.campaigns, screens.boards, viewer, slug).await?;
    // A screen is public: never student numbers.
    audience.organiser = false;
    let sub = screens.events.subscribe(audience.ctx.campaign.id, last_id.as_deref());
    let (tx, rx) = mpsc::channel(64);
    let (db, events) = (screens.db.clone(), Arc::clone(screens.events));
    tokio::spawn(async move {
        if let Err(e) = run_session(&db, &events, &audience, sub, last_id.is_some(), &tx).await {
            tracing::debug!(error = %e, "event stream ended");
        }
    });
    Ok(rx)
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("client went away")]
    Gone,
    #[error(transparent)]
    Api(#[from] ApiError),
}

async fn send(tx: &mpsc::Sender<Bytes>, b: Bytes) -> Result<(), SessionEnd> {
    tx.send(b).await.map_err(|_| SessionEnd::Gone)
}

/// A board or figures build of a session, finished.
enum Rebuilt {
    /// After a change: the board, then the figures.
    Changed(ApiResult<Arc<str>>, ApiResult<stats::StatsSummary>),
    /// The regular figures.
    Regular(ApiResult<stats::StatsSummary>),
}

async fn run_session(
    db: &DatabaseConnection,
    events: &EventHub,
    audience: &Audience,
    mut sub: Subscription,
    resuming: bool,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), SessionEnd> {
    let cid = audience.ctx.campaign.id;
    send(tx, Bytes::from_static(b"retry: 3000\n\n")).await?;
    match sub.replay.take() {
        Some(missed) => {
            for u in &missed {
                send(tx, frame("unlock", Some(&u.id), u)).await?;
            }
        }
        None if resuming => {
            send(
                tx,
                frame(
                    "resync",
                    None,
                    &ResyncEvent {
                        reason: "resume point lost",
                    },
                ),
            )
            .await?;
        }
        None => {}
    }
    let feed = events.feed(cid);
    // Compared as JSON: only a changed board is sent again.
    let mut board = feed.board(db, audience).await?;
    send(tx, raw_frame("leaderboard", &board)).await?;
    let mut figures = feed.stats(db, audience, LEADERBOARD_MIN_GAP).await?;
    send(tx, frame("stats", None, &figures)).await?;

    let start = tokio::time::Instant::now();
    let mut board_tick = tokio::time::interval_at(start + LEADERBOARD_MIN_GAP, LEADERBOARD_MIN_GAP);
    let mut stats_tick = tokio::time::interval_at(start + STATS_EVERY, STATS_EVERY);
    let mut heartbeat = tokio::time::interval_at(start + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    for t in [&mut board_tick, &mut stats_tick, &mut heartbeat] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut dirty = false;
    // The board and figures are built beside the stream, never in its way: an unlock is
    // forwarded while a build (shared with every screen of the campaign) is under way.
    let mut building: Option<std::pin::Pin<Box<dyn Future<Output = Rebuilt> + Send + '_>>> = None;
    loop {
        tokio::select! {
            msg = sub.rx.recv() => match msg {
                Ok(env) if env.campaign_id == cid => {
                    for u in &env.unlocks {
                        send(tx, frame("unlock", Some(&u.id), u)).await?;
                    }
                    dirty = true;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    send(tx, frame("resync", None, &ResyncEvent { reason: "screen fell behind" })).await?;
                    dirty = true;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            rebuilt = async { building.as_mut().expect("guarded by is_some").await }, if building.is_some() => {
                building = None;
                match rebuilt {
                    Rebuilt::Changed(fresh, now) => {
                        let fresh = fresh?;
                        if fresh != board {
                            board = fresh;
                            send(tx, raw_frame("leaderboard", &board)).await?;
                        }
                        // The figures follow a change as fast as the board does, not only
                        // at the next regular `stats`: a screen shows an upload within a second.
                        if let Ok(now) = now
                            && now != figures
                        {
                            figures = now;
                            send(tx, frame("stats", None, &figures)).await?;
                        }
                    }
                    Rebuilt::Regular(now) => {
                        figures = now.unwrap_or(figures);
                        send(tx, frame("stats", None, &figures)).await?;
                    }
                }
            }
            _ = board_tick.tick(), if building.is_none() => {
                if dirty {
                    dirty = false;
                    building = Some(Box::pin(async {
                        let fresh = feed.board(db, audience).await;
                        let now = feed.stats(db, audience, LEADERBOARD_MIN_GAP).await;
                        Rebuilt::Changed(fresh, now)
                    }));
                }
            }
            _ = stats_tick.tick(), if building.is_none() => {
                // Half the period: screens whose ticks fall apart share one build.
                building = Some(Box::pin(async {
                    Rebuilt::Regular(feed.stats(db, audience, STATS_EVERY / 2).await)
                }));
            }
            _ = heartbeat.tick() => {
                send(tx, Bytes::from_static(b": heartbeat\n\n")).await?;
            }
            () = tx.closed() => return Err(SessionEnd::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlock(id: &str) -> UnlockEvent {
        UnlockEvent {
            id: id.to_owned(),
            subject: Subject::Cohort,
            name: "计算机学院/软件2301".to_owned(),
            station_seq: 1,
            station_name: "瑞金出发".to_owned(),
            reached_on: NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"),
            unlocked_at: Utc::now(),
        }
    }

    #[test]
    fn resume_replays_only_what_came_after_the_last_id() {
        let hub = EventHub::new(false);
        hub.deliver(Envelope {
            campaign_id: 1,
            unlocks: vec![unlock("a"), unlock("b"), unlock("c")],
        });
        let ids = |s: Subscription| s.replay.map(|r| r.into_iter().map(|u| u.id).collect::<Vec<_>>());
        assert_eq!(
            ids(hub.subscribe(1, Some("a"))),
            Some(vec!["b".to_owned(), "c".to_owned()])
        );
        assert_eq!(ids(hub.subscribe(1, Some("c"))), Some(vec![]));
        assert_eq!(ids(hub.subscribe(1, Some("zz"))), None);
        assert_eq!(ids(hub.subscribe(2, Some("a"))), None);
        assert_eq!(ids(hub.subscribe(1, None)), Some(vec![]));
    }

    #[test]
    fn the_ring_keeps_the_latest_unlocks() {
        let hub = EventHub::new(false);
        for i in 0..(RING + 5) {
            hub.deliver(Envelope {
                campaign_id: 1,
                unlocks: vec![unlock(&i.to_string())],
            });
        }
        assert!(hub.subscribe(1, Some("0")).replay.is_none());
        assert_eq!(hub.subscribe(1, Some("5")).replay.map(|r| r.len()), Some(RING - 1));
    }

    #[tokio::test]
    async fn steps_changed_goes_out_at_once_then_once_per_window_and_unlocks_always_at_once() {
        let hub = Arc::new(EventHub::new(false));
        let mut rx = hub.subscribe(1, None).rx;
        let db = DatabaseConnection::default();
        let bare = |campaign_id| Envelope {
            campaign_id,
            unlocks: Vec::new(),
        };
        let mut drain = || {
            let mut got = Vec::new();
            while let Ok(env) = rx.try_recv() {
                got.push((env.campaign_id, env.unlocks.len()));
            }
            got
        };
        for _ in 0..20 {
            hub.publish(&db, bare(1)).await.expect("in process");
        }
        hub.publish(&db, bare(2)).await.expect("in process");
        let with_unlock = Envelope {
            campaign_id: 1,
            unlocks: vec![unlock("u1")],
        };
        hub.publish(&db, with_unlock).await.expect("in process");
        assert_eq!(
            drain(),
            vec![(1, 0), (2, 0), (1, 1)],
            "first of each campaign and the unlock"
        );
        tokio::time::sleep(CHANGED_EVERY + Duration::from_millis(100)).await;
        assert_eq!(
            drain(),
            vec![(1, 0)],
            "the 19 held back go out as one, after the window"
        );
        tokio::time::sleep(CHANGED_EVERY + Duration::from_millis(100)).await;
        assert_eq!(drain(), vec![], "nothing changed since");
        hub.publish(&db, bare(1)).await.expect("in process");
        assert_eq!(drain(), vec![(1, 0)], "a quiet campaign's next change goes out at once");
    }

    /// A `Shared` whose builds are counted and return the count.
    async fn counted(shared: &Shared<u32>, builds: &AtomicU64, wanted: u64, version: u64, max_age: Duration) -> u32 {
        shared
            .get(
                wanted,
                max_age,
                || version,
                || async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(u32::try_from(builds.fetch_add(1, Ordering::SeqCst) + 1).expect("few builds"))
                },
            )
            .await
            .expect("builds succeed")
    }

    #[tokio::test]
    async fn a_hundred_screens_asking_at_once_share_one_build() {
        let (shared, builds) = (Shared::default(), AtomicU64::new(0));
        let asks = (0..100).map(|_| counted(&shared, &builds, 3, 3, Duration::from_secs(1)));
        let got = futures_util::future::join_all(asks).await;
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(got.iter().all(|&v| v == 1), "all see the one build: {got:?}");
    }

    #[tokio::test]
    async fn a_snapshot_is_rebuilt_for_a_newer_change_or_when_too_old() {
        let (shared, builds) = (Shared::default(), AtomicU64::new(0));
        let second = Duration::from_secs(1);
        assert_eq!(counted(&shared, &builds, 0, 5, second).await, 1);
        assert_eq!(counted(&shared, &builds, 5, 5, second).await, 1, "built from version 5");
        assert_eq!(
            counted(&shared, &builds, 6, 6, second).await,
            2,
            "a change after the build"
        );
        assert_eq!(
            counted(&shared, &builds, 4, 6, second).await,
            2,
            "older wants are served"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            counted(&shared, &builds, 6, 6, Duration::from_millis(50)).await,
            3,
            "too old for this reader"
        );
    }

    #[tokio::test]
    async fn a_failed_build_is_not_kept() {
        let shared: Shared<u32> = Shared::default();
        let failed = shared
            .get(
                1,
                Duration::from_secs(1),
                || 1,
                || async { Err(ApiError::from(anyhow::anyhow!("database gone"))) },
            )
            .await;
        assert!(failed.is_err());
        let builds = AtomicU64::new(0);
        assert_eq!(counted(&shared, &builds, 1, 1, Duration::from_secs(1)).await, 1);
    }

    #[test]
    fn delivering_an_envelope_moves_its_campaigns_feed_only() {
        let hub = EventHub::new(false);
        hub.deliver(Envelope {
            campaign_id: 1,
            unlocks: Vec::new(),
        });
        hub.deliver(Envelope {
            campaign_id: 1,
            unlocks: vec![unlock("a")],
        });
        assert_eq!(hub.feed(1).version(), 2);
        assert_eq!(hub.feed(2).version(), 0);
    }

    #[test]
    fn frames_follow_the_sse_format() {
        let f = frame("unlock", Some("x1"), &serde_json::json!({ "a": "b\nc" }));
        assert_eq!(&f[..], b"id: x1\nevent: unlock\ndata: {\"a\":\"b\\nc\"}\n\n");
    }
}
