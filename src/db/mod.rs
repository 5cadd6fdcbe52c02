//! Opening the database: SQLite (embedded default) or PostgreSQL, chosen by URL.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, QuerySelect, RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
    sea_query::{LockBehavior, LockType},
    sqlx::{
        postgres::PgConnectOptions,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};
use secrecy::ExposeSecret;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::DatabaseSettings;

pub mod backup;
pub mod batches;
pub mod retry;
pub mod tcp;

/// A pooled connection idle this long is pinged before it is handed out.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Prepared statements each SQLite connection keeps (sqlx's default is 100). Preparing is
/// cheap next to running a statement here, and a cached upload statement holds its compiled
/// program: with 8, 24 or 100 the benchmark's upload and board rates were the same, and the
/// peak RSS under the leaderboard after the upload scenarios 185, 188 and 203 MB.
const SQLITE_STATEMENT_CACHE: usize = 32;

/// Connects a bounded pool with short timeouts. A SQLite file (and its directory) is created
/// when missing and opened with WAL, `synchronous=NORMAL` and foreign keys on.
///
/// # Errors
/// When the URL is invalid or the database can't be reached within the connect timeout.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.expose_secret().to_owned();
    if settings.is_sqlite() {
        ensure_sqlite_dir(&url)?;
    }
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(settings.pool_size())
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .idle_timeout(Duration::from_secs(300))
        // A pooled connection that died with its server (restart, failover) is pinged and
        // replaced at checkout instead of failing a request: the service recovers by itself.
        // Only one idle for a while is pinged: a connection in use during an outage fails
        // there and is closed on release, so what can be dead at checkout is one that sat
        // out the outage. Pinging every checkout cost a round trip per statement outside a
        // transaction (see README "Performance").
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .sqlx_logging(settings.log_statements)
        .sqlx_logging_level(tracing::log::LevelFilter::Debug);
    if settings.is_sqlite() {
        let busy = Duration::from_millis(settings.sqlite_busy_timeout_ms);
        // sqlx installs the busy handler when it opens the connection, before it runs the
        // pragmas below, so the switch to WAL itself already waits instead of failing.
        opts.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
            o.create_if_missing(true)
                .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
                .busy_timeout(busy)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
        });
        opts.map_sqlx_sqlite_pool_opts(|o| o.after_connect(|conn, _| Box::pin(stable_query_plans(conn))));
    } else {
        let pg =
            PgConnectOptions::from_str(&url).with_context(|| format!("invalid PostgreSQL URL {}", redact(&url)))?;
        // A Unix socket has no Nagle's algorithm to turn off.
        if pg.get_socket().is_none() {
            let server: Arc<(String, u16)> = Arc::new((pg.get_host().to_owned(), pg.get_port()));
            opts.map_sqlx_postgres_pool_opts(move |o| {
                let server = server.clone();
                o.after_connect(move |_, _| {
                    let server = server.clone();
                    Box::pin(async move {
                        let changed = tcp::set_nodelay_to(&server.0, server.1).await;
                        tracing::trace!(changed, "TCP_NODELAY on the database's connections");
                        Ok(())
                    })
                })
            });
        }
    }
    let db = connect_pool(opts, settings)
        .await
        .with_context(|| format!("cannot connect to the database ({})", redact(&url)))?;
    Ok(db)
}

/// Turns on SQLite's query planner stability guarantee (QPSG) for a new connection.
///
/// Without it, SQLite (since 3.45) plans `LIMIT ?` with the bound value and marks the
/// statement to be compiled again whenever that parameter is bound anew. sea-orm binds every
/// limit, `.one()`'s `LIMIT 1` included, so each such statement was parsed and planned again
/// on every run, its cached preparation wasted: `sqlite3Reprepare` took 12 % of the process's
/// CPU under the upload benchmark (`perf`, see README "Performance"). With QPSG a
/// statement's plan never depends on bound values; none of ours needs it to (the limits are
/// small, and no table has `ANALYZE` statistics for values to be weighed against).
async fn stable_query_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for the call; the option takes
    // an int and an optional out-pointer for the new setting, here null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1_i32,
            std::ptr::null_mut::<i32>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (code {rc})").into(),
        ))
    }
}

/// Opens the pool, trying again until `connect_timeout_ms` has passed when:
/// - opening the first connection took longer than `acquire_timeout_ms`. sea-orm hands sqlx
///   one timeout for both, and the acquire timeout wins; it is meant for a request waiting
///   on a busy pool, and a short one would otherwise fail a start on a slow moment (a cold
///   disk, a loaded machine). A retry finds the file already created and switched to WAL.
/// - two processes opening a new SQLite file at once race to switch it to WAL, which SQLite
///   refuses at once ("database is locked") rather than through the busy handler: the
///   loser tries again until the busy timeout has passed.
async fn connect_pool(opts: ConnectOptions, settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let started = tokio::time::Instant::now();
    let busy_deadline = started + Duration::from_millis(settings.sqlite_busy_timeout_ms);
    let connect_deadline = started + Duration::from_millis(settings.connect_timeout_ms);
    loop {
        match sea_orm::Database::connect(opts.clone()).await {
            Err(DbErr::Conn(RuntimeErr::SqlxError(e)))
                if matches!(*e, sea_orm::sqlx::Error::PoolTimedOut)
                    && tokio::time::Instant::now() < connect_deadline =>
            {
                tracing::debug!("opening the pool outlasted the acquire timeout; connecting again");
            }
            Err(DbErr::Conn(RuntimeErr::SqlxError(e)))
                if settings.is_sqlite()
                    && tokio::time::Instant::now() < busy_deadline
                    && e.as_database_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| c == "5" || c == "6") =>
            {
                tracing::debug!(error = %e, "the database file is busy; connecting again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Names this application's lock among PostgreSQL advisory locks ("longmarc" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6c6f_6e67_6d61_7263;

/// Runs every pending migration, one process at a time. Several instances starting together
/// on an empty database would otherwise each create the same tables and all but one fail
/// (on SQLite the migrations aren't even transactional). PostgreSQL: an advisory lock held on
/// a connection of its own; SQLite: an exclusive lock on the file `<database>.migrate-lock`.
///
/// # Errors
/// When the lock can't be taken or a migration fails.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        use sea_orm::sqlx::{Connection, PgConnection};
        let options = db.get_postgres_connection_pool().connect_options();
        let mut lock = PgConnection::connect_with(&options)
            .await
            .context("cannot connect to take the migration lock")?;
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut lock)
            .await
            .context("cannot take the migration lock")?;
        let migrated = Migrator::up(db, None).await.context("migration failed");
        // Ending the session releases its advisory lock.
        drop(lock.close().await);
        return migrated;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    // An in-memory database has no file, and no other process can see it.
    let _lock = if file.is_file() {
        Some(lock_beside(&file).await?)
    } else {
        None
    };
    Migrator::up(db, None).await.context("migration failed")
}

/// Waits for an exclusive lock on `<file>.migrate-lock`, released when the handle drops. A
/// separate file: opening and closing the database file itself would drop SQLite's own
/// POSIX locks in this process.
async fn lock_beside(file: &Path) -> anyhow::Result<std::fs::File> {
    let mut name = file.as_os_str().to_owned();
    name.push(".migrate-lock");
    let path = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the migration lock {}", path.display()))?;
        lock.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(lock)
    })
    .await
    .context("the migration lock task failed")?
}

/// How long a writer waits for its turn before the request answers 503 `busy`.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(5);

/// A write transaction. On SQLite it also holds this process's turn to write: writers of
/// one database file queue here, in order, instead of in SQLite's busy handler, which
/// sleeps in growing steps (up to 100 ms) and leaves the lock idle while it sleeps.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<OwnedSemaphorePermit>,
}

impl WriteTxn {
    /// Commits, then lets the next writer in.
    ///
    /// # Errors
    /// When the commit fails.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    /// Rolls back, then lets the next writer in.
    ///
    /// # Errors
    /// When the rollback fails.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// The writers' queue of each SQLite file open in this process.
fn write_turns(db: &DatabaseConnection) -> Option<Arc<Semaphore>> {
    static TURNS: OnceLock<Mutex<HashMap<PathBuf, Arc<Semaphore>>>> = OnceLock::new();
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut turns = TURNS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(turns.entry(file).or_insert_with(|| Arc::new(Semaphore::new(1))).clone())
}

/// Begins a write transaction. On SQLite it waits for this process's turn to write, then
/// takes the write lock up front (`BEGIN IMMEDIATE`), so a read-then-write transaction waits
/// for the lock instead of failing with "database is locked" when another process's writer
/// commits in between.
///
/// # Errors
/// When no turn or connection is available in time, or the lock isn't granted within the
/// busy timeout.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let turn = match write_turns(db) {
        Some(turns) => Some(
            tokio::time::timeout(WRITE_TURN_TIMEOUT, turns.acquire_owned())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?,
        ),
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// Whether a write transaction must lock the rows it reads before it writes them:
/// PostgreSQL does (`FOR UPDATE`); on SQLite [`begin_write`]'s `BEGIN IMMEDIATE` already
/// holds the whole database, and there are no row locks to take.
pub fn locks_rows(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Takes the lock `key` until the end of the write transaction `txn`, unless another
/// transaction holds it: `false` then. Among instances sharing PostgreSQL it is an advisory
/// lock (`pg_try_advisory_xact_lock`); on SQLite the write transaction already excludes
/// every other writer, so the lock is always taken.
///
/// # Errors
/// On database failure.
pub async fn try_lock_for_transaction(txn: &impl ConnectionTrait, key: i64) -> Result<bool, DbErr> {
    if !locks_rows(txn) {
        return Ok(true);
    }
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    row.map_or(Ok(false), |r| r.try_get_by_index::<bool>(0))
}

/// `select` with its rows locked for update where the database locks rows ([`locks_rows`]).
pub fn for_update<S: QuerySelect>(db: &impl ConnectionTrait, select: S) -> S {
    if locks_rows(db) {
        select.lock_exclusive()
    } else {
        select
    }
}

/// `select` locking its rows for update where the database locks rows, skipping rows
/// another transaction holds (a worker sharing a queue with other instances).
pub fn for_update_skip_locked<S: QuerySelect>(db: &impl ConnectionTrait, select: S) -> S {
    if locks_rows(db) {
        select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        select
    }
}

fn ensure_sqlite_dir(url: &str) -> anyhow::Result<()> {
    let opts = SqliteConnectOptions::from_str(url).with_context(|| format!("invalid SQLite URL {url}"))?;
    let file = opts.get_filename();
    if file != Path::new(":memory:")
        && let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    Ok(())
}

/// The URL without its password, for log lines and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}://{}:***{}", &url[..scheme], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
