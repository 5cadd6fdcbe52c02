//! Uploads share write transactions on SQLite (group commit).
//!
//! SQLite lets one writer in at a time, and each upload's own transaction had fixed costs
//! about a third of its turn at the lock: `BEGIN IMMEDIATE` (~0.12 ms under load) and the
//! commit (~0.22 ms: the log frames of every page it changed, and now and then a checkpoint)
//! around ~0.9 ms of statements, for a daily WeRun sync. Here one task takes every upload
//! waiting when its turn comes (up to [`MAX_BATCH`]) and stores them one after the other in
//! one transaction. Each sees those before it exactly as if they had committed on their own,
//! so what is stored is what separate transactions would have stored; the pages most of them
//! change (the campaign's day, a class, its college) go to the log once per batch.
//!
//! Refusals (not enrolled, suspended) are decided before an upload writes anything
//! ([`ingest::admit`]), so a refused upload leaves the shared transaction intact. Any other
//! failure rolls the whole batch back, and each of its uploads then runs alone in its own
//! transaction, as without the queue: one bad upload costs the others a retry, never their
//! data. When no write transaction can be begun in time (another process holds the lock past
//! the busy timeout), every upload of the batch answers 503 at once, as each would alone.
//! An upload whose requester has gone (a request timeout, a client that hung up)
//! before its batch reaches it is skipped; once stored it stays stored, and that request
//! may still answer 408 — uploads are idempotent, so sending it again changes nothing.
//!
//! The task runs on the writers' thread (see [`crate::db::spawn_on_writer`]). PostgreSQL
//! writers of different classes run side by side, so there each upload keeps its own
//! transaction, in place.

use std::{collections::BTreeMap, sync::Arc};

use chrono::NaiveDate;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::{ApiError, ApiResult},
    metrics::Metrics,
    services::{
        ingest::{self, IngestOutcome},
        progress::{CampaignCtx, CohortDates},
    },
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
    pub source: String,
    pub dates: CohortDates,
}

struct Job {
    upload: Upload,
    reply: oneshot::Sender<ApiResult<IngestOutcome>>,
}

/// Where uploads go to be stored: the queue on SQLite, straight to the database elsewhere.
#[derive(Clone)]
pub struct UploadQueue {
    db: DatabaseConnection,
    jobs: Option<mpsc::UnboundedSender<Job>>,
}

impl UploadQueue {
    /// On SQLite, starts the queue's task on the writers' thread; it ends when the last
    /// clone of the queue is dropped.
    pub fn new(db: DatabaseConnection, metrics: Metrics) -> Self {
        let jobs = (db.get_database_backend() == DbBackend::Sqlite).then(|| {
            let (jobs, waiting) = mpsc::unbounded_channel();
            drop(crate::db::spawn_on_writer(drain(db.clone(), waiting, metrics)));
            jobs
        });
        Self { db, jobs }
    }

    /// Stores an upload and answers what was stored.
    ///
    /// # Errors
    /// As [`ingest::ingest`].
    pub async fn store(&self, upload: Upload) -> ApiResult<IngestOutcome> {
        let Some(jobs) = &self.jobs else {
            return alone(&self.db, &upload).await;
        };
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { upload, reply })
            .map_err(|_| anyhow::anyhow!("the upload queue has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the upload queue dropped an upload"))?
    }
}

async fn alone(db: &DatabaseConnection, u: &Upload) -> ApiResult<IngestOutcome> {
    ingest::ingest(db, &u.ctx, u.participant_id, &u.good, &u.source, u.dates).await
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
        Err(Failed::Later(e)) => {
            tracing::warn!(error = %e, uploads = batch.len(), "a shared upload transaction failed; storing each alone");
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
}

/// Every upload of the batch in one transaction, committed only if none failed: the outcome
/// of each (stored, refused or skipped), or the failure that rolled them all back.
async fn together(db: &DatabaseConnection, batch: &[Job]) -> Result<Vec<ApiResult<IngestOutcome>>, Failed> {
    let txn = crate::db::begin_write(db).await.map_err(|e| Failed::Begin(e.into()))?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        // The lock may have been long in coming: a requester gone by now is not served.
        if job.reply.is_closed() {
            outcomes.push(Err(ApiError::timeout("The request was given up before its turn.")));
            continue;
        }
        let u = &job.upload;
        // A refusal has written nothing (see `ingest::admit`); anything else may have.
        let stored = match ingest::admit(&txn, &u.ctx, u.participant_id, &u.good).await {
            Ok(admitted) => ingest::store_admitted(&txn, &u.ctx, admitted, &u.good, &u.source, u.dates).await,
            Err(refusal) if refusal.is_refusal() => {
                outcomes.push(Err(refusal));
                continue;
            }
            Err(e) => Err(e),
        };
        match stored {
            Ok(stored) => outcomes.push(Ok(stored)),
            Err(e) => {
                drop(txn.rollback().await);
                return Err(Failed::Later(e));
            }
        }
    }
    txn.commit().await.map_err(|e| Failed::Later(e.into()))?;
    Ok(outcomes)
}
