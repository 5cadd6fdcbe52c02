//! Scoping of organisers to campaigns: the one place that decides who may see a campaign.
//!
//! An admin sees every campaign; an organiser sees the campaigns they own or were granted.
//! Anything else answers 404 `campaign_not_found`, exactly like a slug that doesn't exist,
//! so slugs of other organisers' campaigns can't be probed.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::{
    http::error::{ApiError, ApiResult},
    models::{campaign_grants, campaigns},
    services::{self, identity::Organiser},
};

/// Loads a campaign the organiser may administer.
///
/// # Errors
/// 404 `campaign_not_found` when the slug is unknown or the campaign is neither owned by
/// nor granted to the organiser (admins pass); on database failure.
#[tracing::instrument(skip(db), fields(organiser = organiser.id))]
pub async fn require_campaign_access(
    db: &impl ConnectionTrait,
    organiser: &Organiser,
    slug: &str,
) -> ApiResult<campaigns::Model> {
    let campaign = services::campaigns::find_any(db, slug).await?;
    if can_access(db, organiser, &campaign).await? {
        Ok(campaign)
    } else {
        Err(services::campaigns::not_found(slug))
    }
}

/// True when the organiser may administer `campaign`.
///
/// # Errors
/// On database failure.
pub async fn can_access(
    db: &impl ConnectionTrait,
    organiser: &Organiser,
    campaign: &campaigns::Model,
) -> ApiResult<bool> {
    if organiser.admin || campaign.owner_id == Some(organiser.id) {
        return Ok(true);
    }
    Ok(campaign_grants::Entity::find()
        .filter(campaign_grants::Column::CampaignId.eq(campaign.id))
        .filter(campaign_grants::Column::OrganiserId.eq(organiser.id))
        .one(db)
        .await?
        .is_some())
}

/// Only admins pass.
///
/// # Errors
/// 403 `admin_only` for organisers.
pub fn require_admin(organiser: &Organiser) -> ApiResult<()> {
    if organiser.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("admin_only", "Only an admin may do this."))
    }
}
