//! `longmarch backup --to FILE`: a consistent copy of the embedded SQLite database, taken
//! while the service runs.
//!
//! `VACUUM INTO` reads the database in one read transaction, so under WAL it copies one
//! committed state while writers carry on, and it writes a compact file of its own rather
//! than the pages as they lie (no -wal or -shm file to carry along). The copy is written
//! beside the target under a temporary name, checked with `PRAGMA integrity_check`, flushed
//! to disk and only then linked to the target name, which fails if the name was taken
//! meanwhile: an existing file is never overwritten and a failed copy leaves nothing behind.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{Context, bail};
use rand::Rng;
use sea_orm::{
    ConnectionTrait, DbBackend, Statement,
    sqlx::{
        Connection, Row,
        sqlite::{SqliteConnectOptions, SqliteConnection},
    },
};
use secrecy::ExposeSecret;

use crate::settings::DatabaseSettings;

/// A finished backup.
#[derive(Debug)]
pub struct Backup {
    pub from: PathBuf,
    pub to: PathBuf,
    pub bytes: u64,
}

impl fmt::Display for Backup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backed up {} to {} ({} bytes, integrity check ok)",
            self.from.display(),
            self.to.display(),
            self.bytes
        )
    }
}

/// Copies the SQLite database of `settings` to `to`, online.
///
/// # Errors
/// On PostgreSQL (use `pg_dump`); when `to` already exists or its directory doesn't; when
/// the database file is missing; when copying, checking or linking the copy fails.
pub async fn backup(settings: &DatabaseSettings, to: &Path) -> anyhow::Result<Backup> {
    if !settings.is_sqlite() {
        bail!(
            "`backup` copies the embedded SQLite database, and this one is PostgreSQL: \
             back it up with `pg_dump` (e.g. `pg_dump --format=custom --file=longmarch.dump \"$URL\"`) \
             and restore with `pg_restore`"
        );
    }
    let options = SqliteConnectOptions::from_str(settings.url.expose_secret()).context("invalid SQLite URL")?;
    let from = options.get_filename().to_path_buf();
    if from == Path::new(":memory:") || !from.is_file() {
        bail!("there is no database file at {}", from.display());
    }
    if to.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; refusing to overwrite it (choose a new file name)",
            to.display()
        );
    }
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("the directory {} does not exist", dir.display());
    }
    let name = to
        .file_name()
        .with_context(|| format!("{} does not name a file", to.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(format!(".partial-{:016x}", rand::rng().random::<u64>()));
    let partial = Partial(dir.join(partial_name));

    let db = super::connect(settings).await?;
    let copied = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            [partial.0.to_string_lossy().into_owned().into()],
        ))
        .await;
    drop(db.close().await);
    copied.with_context(|| format!("copying {} failed", from.display()))?;

    check(&partial.0).await?;
    let bytes = flush(&partial.0)?;
    match std::fs::hard_link(&partial.0, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists; refusing to overwrite it (choose a new file name)",
                to.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", to.display())),
    }
    drop(partial);
    if let Ok(d) = std::fs::File::open(&dir) {
        // The new directory entry survives a power cut only once the directory is synced.
        drop(d.sync_all());
    }
    Ok(Backup {
        from,
        to: to.to_path_buf(),
        bytes,
    })
}

/// Turns the copy into a single rollback-journal file and runs `PRAGMA integrity_check`.
async fn check(file: &Path) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::new().filename(file).create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .context("cannot open the copy")?;
    // A copy of a WAL database may come out in WAL mode; a backup is one self-contained file.
    sea_orm::sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut conn)
        .await
        .context("cannot set the copy's journal mode")?;
    let rows = sea_orm::sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .context("cannot check the copy")?;
    drop(conn.close().await);
    let verdict: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect();
    if verdict != ["ok"] {
        bail!("the copy failed its integrity check: {}", verdict.join("; "));
    }
    Ok(())
}

/// Flushes the file to disk; returns its size.
fn flush(file: &Path) -> anyhow::Result<u64> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot reopen {}", file.display()))?;
    f.sync_all()
        .with_context(|| format!("cannot flush {}", file.display()))?;
    Ok(f.metadata()?.len())
}

/// The copy under its temporary name, removed when dropped (once linked, or after a failure).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        drop(std::fs::remove_file(&self.0));
    }
}
