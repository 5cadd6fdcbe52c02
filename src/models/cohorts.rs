//! Queries and mutations on `cohorts`: the tree of schools, colleges and classes.

use chrono::Utc;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::names::JoinCode;

pub use super::entities::cohorts::*;

/// Join-code alphabet without look-alikes (no 0/O, 1/I/L), so codes survive being read aloud.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Length of generated join codes: 31^6 ≈ 887 million codes.
const CODE_LEN: usize = 6;

/// A fresh random join code (not yet checked for uniqueness).
pub fn generate_join_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

impl Model {
    /// Finds a cohort of a campaign by join code (case-insensitive).
    ///
    /// # Errors
    /// On database failure.
    pub async fn find_by_code(db: &impl ConnectionTrait, campaign_id: i32, code: &str) -> Result<Option<Model>, DbErr> {
        Entity::find()
            .filter(Column::CampaignId.eq(campaign_id))
            .filter(Column::JoinCode.eq(JoinCode::normalise(code)))
            .one(db)
            .await
    }

    /// Finds a cohort of a campaign by its full path (`计算机学院/软件2301`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn find_by_path(db: &impl ConnectionTrait, campaign_id: i32, path: &str) -> Result<Option<Model>, DbErr> {
        Entity::find()
            .filter(Column::CampaignId.eq(campaign_id))
            .filter(Column::Path.eq(path))
            .one(db)
            .await
    }

    /// Every cohort of a campaign, parents before children.
    ///
    /// # Errors
    /// On database failure.
    pub async fn all_of(db: &impl ConnectionTrait, campaign_id: i32) -> Result<Vec<Model>, DbErr> {
        Entity::find()
            .filter(Column::CampaignId.eq(campaign_id))
            .order_by_asc(Column::Depth)
            .order_by_asc(Column::Path)
            .all(db)
            .await
    }

    /// True when at least one cohort has this cohort as parent.
    ///
    /// # Errors
    /// On database failure.
    pub async fn has_children(&self, db: &impl ConnectionTrait) -> Result<bool, DbErr> {
        Ok(Entity::find()
            .filter(Column::ParentId.eq(self.id))
            .one(db)
            .await?
            .is_some())
    }

    /// The ids of this cohort and its ancestors, nearest first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn chain(&self, db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
        let mut chain = vec![self.clone()];
        let mut parent = self.parent_id;
        while let Some(id) = parent {
            match Entity::find_by_id(id).one(db).await? {
                Some(p) => {
                    parent = p.parent_id;
                    chain.push(p);
                }
                None => break,
            }
        }
        Ok(chain)
    }

    /// Inserts a cohort under `parent` (or at the top), deriving path and depth.
    /// With no `join_code`, a fresh one is generated and retried on collision.
    ///
    /// # Errors
    /// On database failure; a duplicate path or code is a unique violation.
    pub async fn create(
        db: &impl ConnectionTrait,
        campaign_id: i32,
        parent: Option<&Model>,
        name: &str,
        join_code: Option<&str>,
    ) -> Result<Model, DbErr> {
        let name = name.trim();
        let path = match parent {
            Some(p) => format!("{}/{}", p.path, name),
            None => name.to_owned(),
        };
        let depth = parent.map_or(0, |p| p.depth + 1);
        let code = match join_code {
            Some(c) => JoinCode::normalise(c),
            None => loop {
                let candidate = generate_join_code();
                if Self::find_by_code(db, campaign_id, &candidate).await?.is_none() {
                    break candidate;
                }
            },
        };
        ActiveModel {
            campaign_id: Set(campaign_id),
            parent_id: Set(parent.map(|p| p.id)),
            name: Set(name.to_owned()),
            path: Set(path),
            depth: Set(depth),
            join_code: Set(code),
            member_count: Set(0),
            active_members: Set(0),
            total_steps: Set(0),
            total_counted: Set(0),
            metres: Set(0),
            stations_reached: Set(0),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
    }
}
