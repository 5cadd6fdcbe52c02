//! Finishers' certificates. A participant has finished when the subject of record reached the
//! last station: themselves in `individual` campaigns, their class in cohort modes (the
//! stored `finished_on` of the enrollment or the leaf cohort). The certificate is issued the
//! first time it is asked for after that — an insert that the unique (participant, campaign)
//! pair makes idempotent — with a random public id, the finish date and the route's length
//! as they were then. `recompute` rebuilds progress but never touches this table, so an
//! issued certificate keeps its id, date and distance.

use chrono::{NaiveDate, Utc};
use rand::Rng;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    http::error::{ApiError, ApiResult},
    models::{campaigns, certificates, cohorts, enrollments, participants, routes},
    services::{
        boards::me::enrollment_of,
        progress::{CampaignCtx, km},
    },
};

/// A certificate as its holder and anyone verifying it see it. The name is masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateView {
    /// The public id printed on the certificate.
    pub id: String,
    /// Where anyone can verify it: `GET /api/v1/certificates/{id}` (relative to the API host).
    pub verify_url: String,
    /// The first character of the display name, the rest masked: 张三 → 张*.
    pub display_name_masked: String,
    pub campaign_title: String,
    pub route_name: String,
    pub finished_on: NaiveDate,
    /// The route's length when the certificate was issued.
    pub km: f64,
    /// The participant's top-level cohort (their school), if any.
    pub school: Option<String>,
}

/// The caller's certificate in a campaign, issued now if they finished and have none yet.
///
/// # Errors
/// 403 `not_enrolled`; 404 `certificate_not_issued` until they (or their class) finished.
#[tracing::instrument(skip(db, ctx), fields(campaign = %ctx.campaign.slug))]
pub async fn mine(db: &impl ConnectionTrait, ctx: &CampaignCtx, participant_id: i32) -> ApiResult<CertificateView> {
    let enrollment = enrollment_of(db, ctx, participant_id).await?;
    let leaf = match enrollment.cohort_id {
        Some(id) => cohorts::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let finished_on = match (&leaf, ctx.cohort_mode()) {
        (Some(class), true) => class.finished_on,
        _ => enrollment.finished_on,
    };
    let Some(finished_on) = finished_on else {
        return Err(ApiError::not_found(
            "certificate_not_issued",
            if ctx.cohort_mode() {
                "Your class has not reached the end of the route yet; the certificate comes when it does."
            } else {
                "You have not reached the end of the route yet; the certificate comes when you do."
            },
        ));
    };
    let route_metres = ctx.stations.last().map_or(0, |s| s.metres);
    certificates::Entity::insert(certificates::ActiveModel {
        public_id: Set(public_id()),
        participant_id: Set(participant_id),
        campaign_id: Set(ctx.campaign.id),
        finished_on: Set(finished_on),
        metres: Set(route_metres),
        issued_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([certificates::Column::ParticipantId, certificates::Column::CampaignId])
    .exec(db)
    .await?;
    let issued = certificates::Entity::find()
        .filter(certificates::Column::ParticipantId.eq(participant_id))
        .filter(certificates::Column::CampaignId.eq(ctx.campaign.id))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("certificate of participant {participant_id} vanished after insert"))?;
    view(db, issued, Some(&enrollment)).await
}

/// Verifies a certificate by its public id.
///
/// # Errors
/// 404 `certificate_not_found`.
pub async fn verify(db: &impl ConnectionTrait, public_id: &str) -> ApiResult<CertificateView> {
    let not_found = || ApiError::not_found("certificate_not_found", "No certificate has this id.");
    if public_id.len() > 64 || !public_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let issued = certificates::Entity::find()
        .filter(certificates::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    view(db, issued, None).await
}

async fn view(
    db: &impl ConnectionTrait,
    c: certificates::Model,
    enrollment: Option<&enrollments::Model>,
) -> ApiResult<CertificateView> {
    let campaign = campaigns::Entity::find_by_id(c.campaign_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("certificate {} without campaign", c.id))?;
    let route = routes::Entity::find_by_id(campaign.route_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("campaign {} without route", campaign.slug))?;
    let participant = participants::Entity::find_by_id(c.participant_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("certificate {} without participant", c.id))?;
    let enrollment = match enrollment {
        Some(e) => Some(e.clone()),
        None => {
            enrollments::Entity::find()
                .filter(enrollments::Column::CampaignId.eq(c.campaign_id))
                .filter(enrollments::Column::ParticipantId.eq(c.participant_id))
                .one(db)
                .await?
        }
    };
    let school = match enrollment.and_then(|e| e.cohort_id) {
        Some(id) => match cohorts::Entity::find_by_id(id).one(db).await? {
            Some(leaf) => leaf.chain(db).await?.pop().map(|root| root.name),
            None => None,
        },
        None => None,
    };
    Ok(CertificateView {
        verify_url: format!("/api/v1/certificates/{}", c.public_id),
        id: c.public_id,
        display_name_masked: mask_name(&participant.display_name),
        campaign_title: campaign.title,
        route_name: route.name,
        finished_on: c.finished_on,
        km: km(c.metres),
        school,
    })
}

/// 32 hexadecimal digits from the thread's CSPRNG: unguessable, so ids can't be enumerated.
fn public_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// Keeps the first character and masks the rest with one `*`, whatever its length.
fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}*"),
        None => "*".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_name;

    #[test]
    fn names_keep_only_their_first_character() {
        for (name, masked) in [("张三", "张*"), ("欧阳娜娜", "欧*"), ("Li", "L*"), ("", "*")] {
            assert_eq!(mask_name(name), masked, "{name}");
        }
    }
}
