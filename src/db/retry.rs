//! Bounded retries of a write transaction that the database aborted to break a lock cycle.
//!
//! Every writer of a participant's step days takes locks in one order (the enrollment, then
//! its days, then its cohorts), so two writers of one participant queue rather than deadlock.
//! Writers of several participants at once (imports, batched uploads) still meet each other
//! on cohort rows; PostgreSQL then aborts one of them with a deadlock (`40P01`) or a
//! serialization failure (`40001`). Nothing of the aborted transaction was stored, so it is
//! run again from the start, a bounded number of times, instead of answering 500.

use std::{future::Future, time::Duration};

use rand::Rng;
use sea_orm::{DbErr, RuntimeErr};

use crate::http::error::{ApiError, ApiResult};

/// How many times a transaction is run in all before its error is answered.
pub const ATTEMPTS: u32 = 4;

/// True when the database aborted the transaction to break a deadlock, or could not
/// serialize it: running it again may well succeed.
pub fn is_transient_conflict(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40P01" | "40001")),
            _ => false,
        },
        _ => false,
    }
}

/// Runs `attempt` (a whole transaction: begin, work, commit) until it succeeds, fails with
/// anything but a transient conflict, or has run [`ATTEMPTS`] times. Waits a few random
/// milliseconds between attempts, so two writers that collided do not collide again.
///
/// # Errors
/// The last attempt's error.
pub async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(ApiError::Db(err)) if tries < ATTEMPTS && is_transient_conflict(&err) => {
                tracing::warn!(attempt = tries, error = %err, "transaction aborted by a lock conflict; running it again");
                let pause = rand::rng().random_range(5..=20 * u64::from(tries));
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}
