//! Participants' WeChat session keys, held in memory for WeRun uploads.
//!
//! Every WeRun upload is decrypted with the key of the participant's latest WeChat login.
//! Reading it from the database cost each upload a statement and a pool checkout of its
//! own, outside its transaction. Keys are kept here instead, put in by the logins this
//! instance serves and by the reads it makes. A login served by another instance changes
//! the key behind this one's back; the payload the phone then sends no longer decrypts
//! with the key held here, so [`SessionKeys::judge`] reads the stored key once more and
//! retries with it when it differs. A payload that fails with the stored key fails as
//! before, at the cost of that one read. One difference remains: until this instance sees
//! the new key, a payload made with the participant's previous key still decrypts here. It
//! is still WeChat's data for that participant, and its watermark's age is still checked.
//!
//! At most `CAPACITY` keys are held (~100 bytes each); when full, the map starts over,
//! which costs each participant one read again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};

use crate::{
    http::error::{ApiError, ApiResult},
    models::participants,
};

/// Most keys held.
const CAPACITY: usize = 200_000;

/// Session keys by participant id.
#[derive(Default)]
pub struct SessionKeys {
    keys: Mutex<HashMap<i32, Arc<str>>>,
}

impl SessionKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the key of a login (or of a read).
    pub fn put(&self, participant_id: i32, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= CAPACITY && !keys.contains_key(&participant_id) {
            keys.clear();
        }
        keys.insert(participant_id, Arc::from(key));
    }

    /// Drops the participant's key (their data was erased).
    pub fn forget(&self, participant_id: i32) {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&participant_id);
    }

    fn held(&self, participant_id: i32) -> Option<Arc<str>> {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&participant_id)
            .cloned()
    }

    /// The stored key, read from the database (and held from now on).
    ///
    /// # Errors
    /// 401 when the participant no longer exists; 422 `werun_undecryptable` when no WeChat
    /// login is on record; on database failure.
    async fn read(&self, db: &impl ConnectionTrait, participant_id: i32) -> ApiResult<Arc<str>> {
        let key: Option<Option<String>> = participants::Entity::find_by_id(participant_id)
            .select_only()
            .column(participants::Column::SessionKey)
            .into_tuple()
            .one(db)
            .await?;
        let key = key
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "The token's participant no longer exists."))?
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "werun_undecryptable",
                    "No WeChat session is on record for you; log in with WeChat again, then retry.",
                )
            })?;
        self.put(participant_id, &key);
        Ok(Arc::from(key))
    }

    /// `judge(key)` with the participant's key: the one held, and when that fails, the
    /// stored one if it differs (a login served by another instance).
    ///
    /// # Errors
    /// Those of [`Self::read`]; `judge`'s own error when it fails with the stored key.
    pub async fn judge<T, E>(
        &self,
        db: &impl ConnectionTrait,
        participant_id: i32,
        judge: impl Fn(&str) -> Result<T, E>,
    ) -> ApiResult<Result<T, E>> {
        let held = self.held(participant_id);
        let first = match &held {
            Some(key) => match judge(key) {
                Ok(judged) => return Ok(Ok(judged)),
                Err(e) => Some(e),
            },
            None => None,
        };
        let stored = self.read(db, participant_id).await?;
        match (held, first) {
            (Some(key), Some(e)) if key == stored => Ok(Err(e)),
            _ => Ok(judge(&stored)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_and_a_full_map_starts_over() {
        let keys = SessionKeys::new();
        keys.put(1, "a");
        keys.put(1, "b");
        assert_eq!(keys.held(1).as_deref(), Some("b"));
        for id in 2..=i32::try_from(CAPACITY).expect("fits") {
            keys.put(id, "k");
        }
        assert_eq!(keys.held(1).as_deref(), Some("b"));
        keys.put(-1, "new");
        assert_eq!(keys.held(1), None);
        assert_eq!(keys.held(-1).as_deref(), Some("new"));
    }
}
