//! Erasing a participant's personal data (PIPL; WeChat's review asks it of mini-programs
//! with accounts): `DELETE /me`, or an organiser for one participant of their campaign.
//!
//! The participant's row stays, anonymous: its openid becomes an unguessable tombstone, its
//! unionid, session key and student number go, its display name becomes [`ERASED_NAME`].
//! Their enrollments and step days stay, so their cohort's counted steps, dates, unlocks and
//! every board's totals are unchanged, and the same WeChat user's next login creates a new
//! participant who starts from zero. The roster entry their student number matched in a
//! campaign they joined goes too.
//!
//! Tokens are stateless, so the erased ids are what revokes them: [`ErasedParticipants`]
//! holds them in memory, checked by every participant extractor. The instance that erases
//! adds the id at once; the others read the recently erased ids about once a second.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use serde_json::json;

use crate::{
    http::error::{ApiError, ApiResult},
    models::{enrollments, participants, roster_entries},
    services::{
        admin::{access, audit},
        identity::{Organiser, session_keys::SessionKeys},
    },
};

/// The display name of an erased participant.
pub const ERASED_NAME: &str = "已注销";

/// How often an instance reads the ids erased by the others.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// How far before the previous read a read looks: covers erasures stamped just before it
/// began but committed after, and clocks of several instances that differ a little.
const MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// The ids of erased participants, whose tokens are no longer accepted.
pub struct ErasedParticipants {
    ids: RwLock<HashSet<i32>>,
    /// When the last read began: on the wall clock (for the next read) and monotonic.
    read: Mutex<(DateTime<Utc>, Instant)>,
    reading: AtomicBool,
}

impl ErasedParticipants {
    /// Reads every erased id.
    ///
    /// # Errors
    /// On database failure.
    pub async fn load(db: &impl ConnectionTrait) -> ApiResult<Self> {
        let (wall, at) = (Utc::now(), Instant::now());
        let ids = erased_since(db, None).await?;
        Ok(Self {
            ids: RwLock::new(ids.into_iter().collect()),
            read: Mutex::new((wall, at)),
            reading: AtomicBool::new(false),
        })
    }

    /// True when the participant's data was erased (as far as this instance has seen).
    pub fn contains(&self, participant_id: i32) -> bool {
        self.ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&participant_id)
    }

    fn insert(&self, ids: impl IntoIterator<Item = i32>) {
        self.ids.write().unwrap_or_else(PoisonError::into_inner).extend(ids);
    }

    /// Starts reading the ids erased by other instances when the last read is older than
    /// `REFRESH_EVERY` and none is under way. Never waits for it.
    pub fn refresh_if_due(self: &Arc<Self>, db: &DatabaseConnection) {
        let since = {
            let read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
            if read.1.elapsed() < REFRESH_EVERY {
                return;
            }
            read.0
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.reading.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, db) = (self.clone(), db.clone());
        drop(runtime.spawn(async move {
            let (wall, at) = (Utc::now(), Instant::now());
            match erased_since(&db, Some(since - MARGIN)).await {
                Ok(ids) => {
                    me.insert(ids);
                    *me.read.lock().unwrap_or_else(PoisonError::into_inner) = (wall, at);
                }
                Err(e) => tracing::warn!(error = %e, "reading the erased participants failed"),
            }
            me.reading.store(false, Ordering::Release);
        }));
    }
}

async fn erased_since(db: &impl ConnectionTrait, since: Option<DateTime<Utc>>) -> ApiResult<Vec<i32>> {
    let mut q = participants::Entity::find()
        .select_only()
        .column(participants::Column::Id)
        .filter(participants::Column::ErasedAt.is_not_null());
    if let Some(since) = since {
        q = q.filter(participants::Column::ErasedAt.gte(since));
    }
    Ok(q.into_tuple::<i32>().all(db).await?)
}

/// What an erasure removed.
struct Erased {
    enrollments: usize,
    roster_entries: u64,
}

/// Erases the participant's personal data, in the caller's transaction. `None` when it was
/// erased before.
async fn erase_in(db: &impl ConnectionTrait, participant_id: i32) -> ApiResult<Option<Erased>> {
    let q = crate::db::for_update(db, participants::Entity::find_by_id(participant_id));
    let p = q.one(db).await?.ok_or_else(|| {
        ApiError::not_found(
            "participant_not_found",
            format!("Participant {participant_id} does not exist."),
        )
    })?;
    if p.erased_at.is_some() {
        return Ok(None);
    }
    let now = Utc::now();
    let campaigns: Vec<i32> = enrollments::Entity::find()
        .select_only()
        .column(enrollments::Column::CampaignId)
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .into_tuple()
        .all(db)
        .await?;
    let roster = match &p.student_no {
        Some(no) if !campaigns.is_empty() => {
            roster_entries::Entity::delete_many()
                .filter(roster_entries::Column::CampaignId.is_in(campaigns.clone()))
                .filter(roster_entries::Column::StudentNo.eq(no.as_str()))
                .exec(db)
                .await?
                .rows_affected
        }
        _ => 0,
    };
    let tombstone = format!("erased:{:032x}", rand::rng().random::<u128>());
    participants::Entity::update_many()
        .col_expr(participants::Column::Openid, Expr::value(tombstone))
        .col_expr(participants::Column::Unionid, Expr::value(Option::<String>::None))
        .col_expr(participants::Column::SessionKey, Expr::value(Option::<String>::None))
        .col_expr(participants::Column::DisplayName, Expr::value(ERASED_NAME))
        .col_expr(participants::Column::StudentNo, Expr::value(Option::<String>::None))
        .col_expr(participants::Column::ErasedAt, Expr::value(now))
        .col_expr(participants::Column::UpdatedAt, Expr::value(now))
        .filter(participants::Column::Id.eq(participant_id))
        .exec(db)
        .await?;
    // Boards show the new name once they see the enrollments stamped.
    enrollments::touch_participant(db, participant_id).await?;
    Ok(Some(Erased {
        enrollments: campaigns.len(),
        roster_entries: roster,
    }))
}

/// What an erasure needs: the database, and what this instance holds of participants.
#[derive(Clone, Copy)]
pub struct Erasure<'a> {
    pub db: &'a DatabaseConnection,
    pub erased: &'a ErasedParticipants,
    pub session_keys: &'a SessionKeys,
}

/// Forgets what this instance holds of an erased participant and rejects their tokens.
fn forget(erasure: Erasure<'_>, participant_id: i32) {
    erasure.erased.insert([participant_id]);
    erasure.session_keys.forget(participant_id);
    tracing::info!(participant = participant_id, "participant's personal data erased");
}

/// `DELETE /me`: the participant erases their own personal data.
///
/// # Errors
/// 404 when the participant no longer exists; on database failure.
#[tracing::instrument(skip(erasure))]
pub async fn erase_me(erasure: Erasure<'_>, participant_id: i32) -> ApiResult<()> {
    let txn = crate::db::begin_write(erasure.db).await?;
    erase_in(&txn, participant_id).await?;
    txn.commit().await?;
    forget(erasure, participant_id);
    Ok(())
}

/// An organiser erases the personal data of a participant of their campaign, audited
/// without the erased name, student number or openid. Erasing an erased participant again
/// changes nothing.
///
/// # Errors
/// 403/404 as for any campaign the organiser may not see; 404 `participant_not_found` when
/// the participant is not enrolled in it; on database failure.
#[tracing::instrument(skip(erasure, who), fields(campaign = %slug))]
pub async fn erase_in_campaign(
    erasure: Erasure<'_>,
    who: &Organiser,
    slug: &str,
    participant_id: i32,
) -> ApiResult<()> {
    let txn = crate::db::begin_write(erasure.db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let enrolled = enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(campaign.id))
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .one(&txn)
        .await?;
    if enrolled.is_none() {
        return Err(ApiError::not_found(
            "participant_not_found",
            format!("Participant {participant_id} is not enrolled in this campaign."),
        ));
    }
    if let Some(erased) = erase_in(&txn, participant_id).await? {
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            "participant.erase",
            &format!("participant:{participant_id}"),
            json!({
                "enrollments_kept": erased.enrollments,
                "roster_entries_removed": erased.roster_entries,
            }),
        )
        .await?;
    }
    txn.commit().await?;
    forget(erasure, participant_id);
    Ok(())
}
