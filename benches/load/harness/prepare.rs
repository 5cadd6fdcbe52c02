//! Untimed preparation: a fresh database, the real server in-process, campaigns shaped like a
//! school (colleges of classes), participants with tokens and WeChat session keys.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context;
use base64::Engine as _;
use chrono::{Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    Set,
};
use secrecy::SecretString;

use longmarch::{
    models::{campaigns, cohorts, enrollments, participants, routes, step_days},
    services::{
        campaigns::seed::{BUILT_IN_ROUTE_SLUG, demo_shaped},
        identity::jwt::Role,
        progress::{CampaignCtx, recompute_in},
    },
    settings::Settings,
    startup::Application,
    state::AppState,
};

use super::{Args, Backend, Scenario, report::resident_mb};

/// The campaign of the ingest, werun and mixed scenarios.
pub const CAMPAIGN: &str = "bench";
/// The campaign of the leaderboard scenario.
pub const BOARD: &str = "bench-board";
/// The campaign of the werun_first scenario: members who have never synced.
pub const NEWCOMERS: &str = "bench-new";
/// The campaign `simulate` fills.
pub const SIMULATED: &str = "bench-sim";

/// Colleges × classes of every benchmark campaign: a school of 300 classes.
const COLLEGES: usize = 20;
const CLASSES: usize = 15;

/// A prepared participant.
#[derive(Debug, Clone)]
pub struct Member {
    pub participant_id: i32,
    pub enrollment_id: i32,
    pub token: String,
    pub session_key: [u8; 16],
}

/// The steps a prepared campaign's members already have stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// None: they joined today and never synced.
    None,
    /// Three random past days each: a board with a real spread of totals.
    Ranked,
    /// Every past day of the window as their phone reports it (`phone_steps`), yesterday's
    /// as last synced before bedtime (a little lower): the state of a school that has been
    /// syncing every day, so that today's sync changes yesterday's and today's counts.
    Synced,
}

/// What member `participant_id`'s phone reports for the day `back` days before today
/// (fixed for past days; today's count is the scenario's).
pub fn phone_steps(participant_id: i32, back: i64) -> i64 {
    4_000 + (i64::from(participant_id) * 7 + back * 1_301) % 9_000
}

/// How much lower yesterday's count was at its last sync than at the end of the day.
pub const LATE_STEPS: i64 = 1_500;

/// A campaign with its participants.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub slug: &'static str,
    pub campaign_id: i32,
    pub today: NaiveDate,
    pub members: Arc<Vec<Member>>,
}

/// The running server and what the scenarios need.
pub struct Bench {
    pub base: String,
    pub state: AppState,
    pub main: Prepared,
    pub board: Option<Prepared>,
    /// Members who never synced, for werun_first.
    pub newcomers: Option<Prepared>,
    /// How long the preparation of the campaigns took.
    pub prepared_in: std::time::Duration,
    /// How the in-memory boards were built.
    pub built: Built,
    cleanup: Cleanup,
}

/// The build of the prepared campaigns' boards.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    pub seconds: f64,
    /// What the process's resident set grew by while the boards were built (freed heap
    /// handed back to the kernel before and after): the boards' memory.
    pub resident_mb: Option<f64>,
}

/// What [`Bench::finish`] stops and removes.
struct Cleanup {
    store: Store,
    server: Server,
}

/// The benchmark's own database.
enum Store {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// The server running in this process.
struct Server {
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Bench {
    /// Creates the database, starts the server and prepares the campaigns the plan needs.
    ///
    /// # Errors
    /// When the database cannot be created or the server cannot start.
    pub async fn start(args: &Args) -> anyhow::Result<Self> {
        let (state, base, cleanup) = open(args).await?;
        let started = Instant::now();
        let wanted = |scenario| args.plan().contains(&scenario);
        // `simulate` fills a campaign of its own: with nothing else to drive, the main
        // campaign only serves the floors, and a thousand members do for them.
        let only_simulate = args
            .plan()
            .iter()
            .all(|s| matches!(s, Scenario::FloorHttp | Scenario::FloorDb | Scenario::Simulate));
        let main_n = if only_simulate {
            args.participants.min(1_000)
        } else {
            args.participants
        };
        let main = prepare_timed(&state, CAMPAIGN, main_n, History::Synced).await?;
        let newcomers = if wanted(Scenario::WerunFirst) {
            Some(prepare_timed(&state, NEWCOMERS, args.participants, History::None).await?)
        } else {
            None
        };
        let board = if wanted(Scenario::Leaderboard) {
            Some(prepare_timed(&state, BOARD, args.board_participants, History::Ranked).await?)
        } else {
            None
        };
        let prepared_in = started.elapsed();
        let built = build_boards(&state, args.db, [Some(&main), newcomers.as_ref(), board.as_ref()]).await?;
        Ok(Self {
            base,
            state,
            main,
            board,
            newcomers,
            prepared_in,
            built,
            cleanup,
        })
    }

    /// One step of `--scale`: a single campaign of `n` members with a ranked history, which
    /// every scenario of the step drives (uploads move its board, the board is read).
    ///
    /// # Errors
    /// When the database cannot be created or the server cannot start.
    pub async fn start_scaled(args: &Args, n: usize) -> anyhow::Result<Self> {
        let (state, base, cleanup) = open(args).await?;
        let started = Instant::now();
        let board = prepare_timed(&state, BOARD, n, History::Ranked).await?;
        let prepared_in = started.elapsed();
        let built = build_boards(&state, args.db, [Some(&board)]).await?;
        Ok(Self {
            base,
            state,
            main: board.clone(),
            board: Some(board),
            newcomers: None,
            prepared_in,
            built,
            cleanup,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and drops the PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn finish(self) {
        // The server and its workers stop first, so that the next server of the process
        // (a `--scale` step) does not share the machine or the memory with this one.
        let Cleanup { store, server } = self.cleanup;
        server.handle.stop(false).await;
        match server.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("the benchmark server ended with an error: {e}"),
            Err(e) => eprintln!("the benchmark server's task failed: {e}"),
        }
        drop(self.state.db.clone().close().await);
        drop(self.state);
        if let Store::Postgres { admin_url, name } = &store
            && let Ok(admin) = Database::connect(admin_url).await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = admin.execute_unprepared(&sql).await {
                eprintln!("could not drop the benchmark database {name}: {e}");
            }
            drop(admin.close().await);
        }
    }
}

/// A fresh database (a temporary SQLite file, or a new PostgreSQL database) and the server
/// running on it with a deployment's defaults.
async fn open(args: &Args) -> anyhow::Result<(AppState, String, Cleanup)> {
    let (url, cleanup) = match args.db {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().context("a temporary directory")?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (url, Store::Sqlite(dir))
        }
        Backend::Postgres => {
            let name = format!("longmarch_bench_{:08x}", rand::rng().random::<u32>());
            let admin = Database::connect(&args.pg_url)
                .await
                .with_context(|| format!("cannot reach PostgreSQL at {}", args.pg_url))?;
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
            drop(admin.close().await);
            let url = replace_db_name(&args.pg_url, &name);
            (
                url,
                Store::Postgres {
                    admin_url: args.pg_url.clone(),
                    name,
                },
            )
        }
    };
    // The defaults a deployment starts from (pool, limits, workers), on this database;
    // `LONGMARCH__…` variables override them as they do the service's.
    let mut settings = Settings::load_from(&config_dir(), "development", true).context("the development settings")?;
    settings.database.url = SecretString::from(url);
    settings.server.port = 0;
    settings.seed.demo = false;
    settings.auth.dev_login = false;
    // One generator address and a few uploads per participant per second are the
    // point of the exercise, not abuse.
    settings.limits.rate.upload_burst = 0;
    settings.limits.rate.login_burst = 0;
    settings.auth.jwt_secret = SecretString::from(format!("bench-{:032x}", rand::rng().random::<u128>()));
    // WeRun watermarks name this app.
    settings.wechat.appid = "wx-longmarch-bench".to_owned();
    // `RUST_LOG=longmarch=debug,sea_orm=debug` shows every statement the scenarios cause.
    if std::env::var_os("RUST_LOG").is_some() {
        settings.database.log_statements = true;
        longmarch::telemetry::init(&settings.log);
    }
    let app = Application::build(settings).await.context("starting the server")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let server = Server {
        handle: app.handle(),
        task: tokio::spawn(app.run_until_stopped()),
    };
    Ok((state, base, Cleanup { store: cleanup, server }))
}

/// Builds the boards of the prepared campaigns before anything is measured, and measures
/// what they cost.
async fn build_boards<'a>(
    state: &AppState,
    db: Backend,
    prepared: impl IntoIterator<Item = Option<&'a Prepared>>,
) -> anyhow::Result<Built> {
    if db == Backend::Sqlite {
        // The preparation's bulk writes sit in the WAL; fold them into the database
        // first, as a long-running server's checkpoints would have, so that the first
        // scenario does not pay for them.
        state.db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    // A running server builds the boards of its active campaigns at start-up; these
    // were created after it started, so build them now.
    let before = resident_mb();
    let started = Instant::now();
    state.boards.warm(&state.db).await?;
    for prepared in prepared.into_iter().flatten() {
        while state.boards.snapshot(&state.db, prepared.campaign_id).await?.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let resident_mb = before.zip(resident_mb()).map(|(b, a)| (a - b).max(0.0));
    eprintln!(
        "boards built in {seconds:.1} s (resident set {})",
        resident_mb.map_or_else(|| "not measured".to_owned(), |m| format!("+{m:.0} MB"))
    );
    Ok(Built { seconds, resident_mb })
}

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn replace_db_name(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(i) => format!("{}/{name}", &url[..i]),
        None => format!("{url}/{name}"),
    }
}

/// Creates a campaign of 300 classes whose window reaches 29 days back, like the demo
/// otherwise (cohort_mean, 18 steps per km, cap 50,000).
pub async fn create_campaign(db: &DatabaseConnection, slug: &str) -> anyhow::Result<campaigns::Model> {
    let route = routes::Model::find_by_slug(db, BUILT_IN_ROUTE_SLUG)
        .await?
        .context("the built-in route")?;
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let txn = longmarch::db::begin_write(db).await?;
    let campaign = demo_shaped(route.id, slug, today - Duration::days(29), today + Duration::days(30))
        .insert(&txn)
        .await?;
    for college in 0..COLLEGES {
        let parent = cohorts::Model::create(&txn, campaign.id, None, &format!("学院{college:02}"), None).await?;
        for class in 0..CLASSES {
            cohorts::Model::create(
                &txn,
                campaign.id,
                Some(&parent),
                &format!("班级{college:02}{class:02}"),
                None,
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(campaign)
}

/// Members of a board the leaderboard scenario reads as: a token and a session key for
/// each of a million would alone take hundreds of megabytes of the measured process.
const BOARD_READERS: usize = 20_000;

/// [`prepare`], saying how long it took.
async fn prepare_timed(state: &AppState, slug: &'static str, n: usize, history: History) -> anyhow::Result<Prepared> {
    let started = Instant::now();
    let prepared = prepare(state, slug, n, history).await?;
    eprintln!(
        "prepared {n} participants ({history:?} history, {} driven) in `{slug}` in {:.1} s",
        prepared.members.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(prepared)
}

/// Creates `slug` with `n` participants spread over its classes and the `history` of steps
/// they already have stored, and answers the members the scenarios drive, each with a token
/// and a session key: all of them, except on a ranked board, where [`BOARD_READERS`] evenly
/// spread ones read. Totals, cohorts and unlocks come from the service's own rebuild.
async fn prepare(state: &AppState, slug: &'static str, n: usize, history: History) -> anyhow::Result<Prepared> {
    let db = &state.db;
    let campaign = create_campaign(db, slug).await?;
    let ctx = CampaignCtx::from_model(db, campaign.clone()).await?;
    let all = cohorts::Model::all_of(db, campaign.id).await?;
    let leaves: Vec<i32> = all.iter().filter(|c| c.parent_id.is_some()).map(|c| c.id).collect();
    let today = ctx.today();
    let mut rng = StdRng::seed_from_u64(0x10_7a_2c);
    let now = Utc::now();
    let every = match history {
        History::Ranked => n.div_ceil(BOARD_READERS).max(1),
        History::None | History::Synced => 1,
    };
    let mut members = Vec::with_capacity(n / every + 1);
    // SQLite allows 32,766 bound values per statement: at most 1,000 rows per INSERT.
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let keys: Vec<[u8; 16]> = (start..end).map(|_| rng.random()).collect();
        let txn = longmarch::db::begin_write(db).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // The lookups below run as prepared statements on a table that grows from empty:
            // a plan made generic while it was small (a scan) would be kept for every batch
            // after, each slower than the last (2.6 s per batch at 431,000 members).
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
        }
        let openids: Vec<String> = (start..end).map(|i| format!("bench-{slug}-{i}")).collect();
        participants::Entity::insert_many(openids.iter().zip(&keys).enumerate().map(|(k, (openid, key))| {
            participants::ActiveModel {
                openid: Set(openid.clone()),
                unionid: Set(None),
                session_key: Set(Some(base64::engine::general_purpose::STANDARD.encode(key))),
                display_name: Set(format!("队员{:06}", start + k)),
                student_no: Set(Some(format!("B{:07}", start + k))),
                created_at: Set(now),
                updated_at: Set(now),
                last_login_at: Set(now),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
        let mut created = participants::Entity::find()
            .filter(participants::Column::Openid.is_in(openids.clone()))
            .all(&txn)
            .await?;
        let order: HashMap<&str, usize> = openids.iter().enumerate().map(|(k, o)| (o.as_str(), k)).collect();
        created.sort_by_key(|p| order.get(p.openid.as_str()).copied());
        enrollments::Entity::insert_many(
            created.iter().enumerate().map(|(k, p)| {
                enrollments::new_active(campaign.id, p.id, Some(leaves[(start + k) % leaves.len()]), now)
            }),
        )
        .exec(&txn)
        .await?;
        let enrolled = enrollments::Entity::find()
            .filter(enrollments::Column::CampaignId.eq(campaign.id))
            .filter(enrollments::Column::ParticipantId.is_in(created.iter().map(|p| p.id)))
            .all(&txn)
            .await?;
        let enrollment_ids: HashMap<i32, i32> = enrolled.iter().map(|e| (e.participant_id, e.id)).collect();
        let enrollment_of = |pid: i32| enrollment_ids.get(&pid).copied();
        let mut days = Vec::new();
        for (k, (p, key)) in created.iter().zip(&keys).enumerate() {
            let enrollment_id = enrollment_of(p.id).context("an enrollment per participant")?;
            let day = |back: i64, steps: i64| step_days::ActiveModel {
                campaign_id: Set(campaign.id),
                participant_id: Set(p.id),
                enrollment_id: Set(enrollment_id),
                day: Set(today - Duration::days(back)),
                steps: Set(steps),
                counted: Set(steps.min(i64::from(campaign.daily_step_cap))),
                source: Set(step_days::StepSource::Import),
                flagged: Set(steps >= i64::from(campaign.flag_steps_over)),
                voided: Set(false),
                void_reason: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            match history {
                History::None => {}
                History::Ranked => {
                    for back in 1..=3 {
                        days.push(day(
                            back,
                            longmarch::services::steps::simulate::realistic_steps(&mut rng),
                        ));
                    }
                }
                History::Synced => {
                    for back in 1..=(today - campaign.starts_on).num_days() {
                        let late = if back == 1 { LATE_STEPS } else { 0 };
                        days.push(day(back, phone_steps(p.id, back) - late));
                    }
                }
            }
            if (start + k) % every == 0 {
                members.push(Member {
                    participant_id: p.id,
                    enrollment_id,
                    token: state.jwt.issue(p.id, Role::Participant, None)?.token,
                    session_key: *key,
                });
            }
        }
        while !days.is_empty() {
            let rest = days.split_off(days.len().min(1000));
            step_days::Entity::insert_many(days).exec(&txn).await?;
            days = rest;
        }
        txn.commit().await?;
    }
    let txn = longmarch::db::begin_write(db).await?;
    recompute_in(&txn, &ctx).await?;
    txn.commit().await?;
    Ok(Prepared {
        slug,
        campaign_id: campaign.id,
        today,
        members: Arc::new(members),
    })
}
