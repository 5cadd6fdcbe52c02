//! Uploads share write transactions (group commit).
//!
//! SQLite lets one writer in at a time, and each upload's own transaction had fixed costs
//! about a third of its turn at the lock: `BEGIN IMMEDIATE` (~0.12 ms under load) and the
//! commit (~0.22 ms: the log frames of every page it changed, and now and then a checkpoint)
//! around ~0.9 ms of statements, for a daily WeRun sync. On PostgreSQL every upload of a
//! campaign adds to the same rows (the campaign's day, the college, their days), each held
//! from its update to the commit, so uploads in their own transactions queue on those rows.
//!
//! Here a lane's task takes every upload waiting when its turn comes (up to [`MAX_BATCH`])
//! and stores them in one transaction, set-based: one statement for all their enrollments
//! and stored days, one for their days, one for their totals ([`store::store`]).
//! Each sees those before it exactly as if they had committed on their own; what they add to their cohorts and the campaign's
//! days is gathered and written once, just before the commit (`progress::Shared`), so
//! what is stored is what separate transactions would have stored. SQLite has one lane, on
//! the writers' thread (see [`crate::workers::Workers::writer`]); PostgreSQL [`POSTGRES_LANES`],
//! a participant always in the same one.
//!
//! Refusals (not enrolled, suspended) are decided before an upload writes anything
//! ([`store::store`]), so a refused upload leaves the shared transaction intact. Any other
//! failure rolls the whole batch back, and each of its uploads then runs alone in its own
//! transaction, as without the queue: one bad upload costs the others a retry, never their
//! data. When no write transaction can be begun in time (another process holds the lock past
//! the busy timeout, the pool is exhausted), every upload of the batch answers 503 at once,
//! as each would alone. An upload whose requester has gone (a request timeout, a client that
//! hung up) before its batch reaches it is skipped; one gone before the commit rolls its
//! batch back and the others are stored alone. Once committed an upload stays stored, and
//! a request given up at that very moment may still answer 408 — uploads are idempotent, so
//! sending it again changes nothing.
//!
//! A lane stores one batch at a time: an upload waiting for a lock (an organiser's
//! transaction on the participant) holds up the lane's next batch until it has it.

use std::{collections::BTreeMap, sync::Arc};

use chrono::NaiveDate;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{mpsc, oneshot};

use crate::{
    domain::states::StepSource,
    http::{
        error::{ApiError, ApiResult},
        metrics::Metrics,
    },
    services::{
        progress::{CampaignCtx, CohortDates},
        steps::store::{self, IngestOutcome, ToStore},
    },
    workers::Workers,
};

/// Most uploads stored in one transaction: a batch holds SQLite's lock for its whole length
/// (64 daily syncs ~60 ms, 64 first syncs of a month ~0.15 s, by the benchmark's rates), and
/// the other writers (organisers, imports) wait behind it.
pub const MAX_BATCH: usize = 64;

/// Judged days of one participant, ready to store.
pub struct Upload {
    pub ctx: Arc<CampaignCtx>,
    pub participant_id: i32,
    pub good: BTreeMap<NaiveDate, i64>,
    pub source: StepSource,
    pub dates: CohortDates,
}

struct Job {
    upload: Upload,
    reply: oneshot::Sender<ApiResult<IngestOutcome>>,
}

/// How many transactions store uploads side by side on PostgreSQL. Each holds a pooled
/// connection for its batch; a participant always goes to the same one.
pub const POSTGRES_LANES: usize = 4;

/// Where uploads go to be stored: the queue's lanes, each a task storing batches.
#[derive(Clone)]
pub struct UploadQueue {
    lanes: Arc<[mpsc::UnboundedSender<Job>]>,
}

impl UploadQueue {
    /// Starts the queue's tasks among `workers`: on SQLite one, on the writers' thread; on
    /// PostgreSQL [`POSTGRES_LANES`]. They end when the last clone of the queue is dropped
    /// or the workers stop.
    pub fn new(db: DatabaseConnection, metrics: Metrics, workers: &Workers) -> Self {
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        let lanes = (0..if sqlite { 1 } else { POSTGRES_LANES })
            .map(|_| {
                let (jobs, waiting) = mpsc::unbounded_channel();
                workers.spawn_writer(drain(db.clone(), waiting, metrics.clone()));
                jobs
            })
            .collect();
        Self { lanes }
    }

    /// Stores an upload and answers what was stored.
    ///
    /// # Errors
    /// As [`store::store_alone`].
    pub async fn store(&self, upload: Upload) -> ApiResult<IngestOutcome> {
        // One participant's uploads take turns in one lane rather than wait on each other's
        // enrollment lock in two.
        let lane = usize::try_from(upload.participant_id.unsigned_abs()).unwrap_or(0) % self.lanes.len();
        let (reply, answer) = oneshot::channel();
        self.lanes[lane]
            .send(Job { upload, reply })
            .map_err(|_| anyhow::anyhow!("the upload queue has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the upload queue dropped an upload"))?
    }
}

impl Upload {
    fn to_store(&self) -> ToStore<'_> {
        ToStore {
            ctx: &self.ctx,
            participant_id: self.participant_id,
            good: &self.good,
            source: self.source,
            dates: self.dates,
        }
    }
}

async fn alone(db: &DatabaseConnection, u: &Upload) -> ApiResult<IngestOutcome> {
    store::store_alone(db, u.to_store()).await
}

/// The queue's task: whatever is waiting when a batch starts goes into it.
async fn drain(db: DatabaseConnection, mut waiting: mpsc::UnboundedReceiver<Job>, metrics: Metrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch.retain(|job| !job.reply.is_closed());
        if !batch.is_empty() {
            metrics.observe_upload_batch(batch.len());
            store_batch(&db, std::mem::take(&mut batch)).await;
        }
    }
}

async fn store_batch(db: &DatabaseConnection, batch: Vec<Job>) {
    match together(db, &batch).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                // A requester that has gone no longer hears; its upload is stored.
                drop(job.reply.send(outcome));
            }
        }
        Err(Failed::Begin(e)) => {
            // No turn or lock in time (another process holds it, the pool is closing): each
            // upload would have met the same alone; trying them one by one would only make
            // the last wait the sum of everyone's timeouts.
            tracing::warn!(error = %e, uploads = batch.len(), "no write transaction for the upload queue");
            for job in batch {
                drop(job.reply.send(Err(ApiError::unavailable(
                    e.code(),
                    "The database cannot take uploads right now; retry in a moment.",
                ))));
            }
        }
        Err(failed @ (Failed::Later(_) | Failed::Abandoned)) => {
            if let Failed::Later(e) = failed {
                tracing::warn!(error = %e, uploads = batch.len(), "a shared upload transaction failed; storing each alone");
            } else {
                tracing::debug!(
                    uploads = batch.len(),
                    "a requester went away mid-batch; storing the others alone"
                );
            }
            for job in batch {
                if !job.reply.is_closed() {
                    let outcome = alone(db, &job.upload).await;
                    drop(job.reply.send(outcome));
                }
            }
        }
    }
}

/// Why a batch stored nothing.
enum Failed {
    /// No write transaction could be begun.
    Begin(ApiError),
    /// An upload's statements, or the commit, failed: the batch was rolled back.
    Later(ApiError),
    /// A requester went away before the commit: the batch was rolled back.
    Abandoned,
}

/// Every upload of the batch in one transaction, committed only if none failed: the outcome
/// of each (stored, refused or skipped), or the failure that rolled them all back. What the
/// uploads add to their cohorts and the campaign's days is written once, after the last.
async fn together(db: &DatabaseConnection, batch: &[Job]) -> Result<Vec<ApiResult<IngestOutcome>>, Failed> {
    let txn = crate::db::begin_write(db).await.map_err(|e| Failed::Begin(e.into()))?;
    // The lock may have been long in coming: a requester gone by now is not served.
    let live: Vec<bool> = batch.iter().map(|job| !job.reply.is_closed()).collect();
    let uploads: Vec<ToStore<'_>> = batch
        .iter()
        .zip(&live)
        .filter(|(_, live)| **live)
        .map(|(job, _)| job.upload.to_store())
        .collect();
    let mut stored_live = match store::store(&txn, &uploads).await {
        Ok(stored) => stored.into_iter(),
        Err(e) => {
            drop(txn.rollback().await);
            return Err(Failed::Later(e));
        }
    };
    let outcomes: Vec<_> = live
        .iter()
        .map(|&live| {
            if live {
                stored_live
                    .next()
                    .unwrap_or_else(|| Err(anyhow::anyhow!("an upload was left out of its batch").into()))
            } else {
                Err(ApiError::timeout("The request was given up before its turn."))
            }
        })
        .collect();
    // A requester gone while its upload was being stored (a request timeout: on PostgreSQL,
    // while waiting for its enrollment's lock) has been told nothing is stored: the batch
    // is rolled back and the others are stored alone. One skipped or refused wrote nothing.
    if batch
        .iter()
        .zip(&outcomes)
        .any(|(job, s)| s.is_ok() && job.reply.is_closed())
    {
        drop(txn.rollback().await);
        return Err(Failed::Abandoned);
    }
    txn.commit().await.map_err(|e| Failed::Later(e.into()))?;
    Ok(outcomes)
}
