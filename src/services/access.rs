//! Which campaigns an organiser may see: the one place that decides it.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::{
    auth::Organiser,
    error::{ApiError, ApiResult},
    models::{campaign_grants, campaigns},
};

/// Loads a campaign the organiser may act on: admins see every campaign, other organisers
/// the ones they own or were granted.
///
/// # Errors
/// 404 `campaign_not_found` when the campaign does not exist *or* is not visible to this
/// organiser (the same answer, so slugs can't be probed); on database failure.
#[tracing::instrument(skip(db, organiser), fields(organiser = organiser.id, campaign = %slug))]
pub async fn require_campaign_access(
    db: &impl ConnectionTrait,
    organiser: &Organiser,
    slug: &str,
) -> ApiResult<campaigns::Model> {
    let not_found = || ApiError::not_found("campaign_not_found", format!("No campaign `{slug}` exists."));
    let campaign = campaigns::Model::find_by_slug(db, slug).await?.ok_or_else(not_found)?;
    if organiser.admin || campaign.owner_id == Some(organiser.id) {
        return Ok(campaign);
    }
    let granted = campaign_grants::Entity::find()
        .filter(campaign_grants::Column::CampaignId.eq(campaign.id))
        .filter(campaign_grants::Column::OrganiserId.eq(organiser.id))
        .one(db)
        .await?
        .is_some();
    if granted { Ok(campaign) } else { Err(not_found()) }
}
