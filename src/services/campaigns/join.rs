//! Joining a campaign: a participant enrolls into the leaf cohort of a join code, or the
//! cohort their student number is pre-registered in (individual campaigns take no code).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    domain::conversion::ProgressMode,
    http::error::{ApiError, ApiResult},
    models::{campaigns, cohorts, enrollments, roster_entries},
    services::{
        campaigns::find_public,
        identity::{EnrollmentView, checked_name, enrollment_view, parse_display_name, parse_student_no, participant},
        progress,
        wechat::WechatApi,
    },
};

/// `POST /campaigns/{slug}/join` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub join_code: Option<String>,
    pub display_name: Option<String>,
    pub student_no: Option<String>,
}

/// Enrolls the participant into a campaign: into the leaf cohort whose join code matches,
/// or the cohort their student number is pre-registered in. Joining again answers the
/// same enrollment.
///
/// # Errors
/// 404 `campaign_not_found` / `cohort_not_found`; 409 `campaign_not_open` (draft or
/// closed) and `already_enrolled` (in another cohort); 422 `cohort_not_leaf`,
/// `join_code_required`, `join_code_not_accepted`, invalid profile fields and
/// `display_name_rejected`; 503 `content_check_unavailable`.
#[tracing::instrument(skip(db, req), fields(campaign = %slug))]
pub async fn join(
    db: &DatabaseConnection,
    wechat: &WechatApi,
    participant_id: i32,
    slug: &str,
    req: JoinRequest,
) -> ApiResult<EnrollmentView> {
    let display_name = req.display_name.as_deref().map(parse_display_name).transpose()?;
    let student_no = req.student_no.as_deref().map(parse_student_no).transpose()?;
    // Checked before the write transaction: WeChat's answer may take seconds.
    let check = checked_name(wechat, &participant(db, participant_id).await?, display_name.as_deref()).await?;
    let txn = crate::db::begin_write(db).await?;
    let campaign = find_public(&txn, slug).await?;
    if campaign.status != campaigns::CampaignStatus::Active {
        return Err(ApiError::conflict(
            "campaign_not_open",
            format!(
                "Campaign `{slug}` is {} and takes no new participants.",
                campaign.status
            ),
        ));
    }
    let p = participant(&txn, participant_id).await?;
    let mut profile = p.clone().into_active_model();
    if let (Some(name), Some(check)) = (display_name, check) {
        profile.display_name = Set(name);
        profile.name_check_pending = Set(check.pending());
    }
    if let Some(no) = student_no {
        profile.student_no = Set(no);
    }
    let p = if profile.is_changed() {
        profile.updated_at = Set(Utc::now());
        enrollments::touch_participant(&txn, participant_id).await?;
        profile.update(&txn).await?
    } else {
        p
    };

    let individual = campaign.progress_mode == ProgressMode::Individual;
    let cohort = match req.join_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(_) if individual => {
            return Err(ApiError::unprocessable(
                "join_code_not_accepted",
                "This campaign is individual: join without a code.",
            ));
        }
        Some(code) => {
            let cohort = cohorts::Model::find_by_code(&txn, campaign.id, code)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found("cohort_not_found", "No cohort of this campaign has that join code.")
                })?;
            if cohort.has_children(&txn).await? {
                return Err(ApiError::unprocessable(
                    "cohort_not_leaf",
                    format!("`{}` contains other cohorts; use the code of your class.", cohort.path),
                ));
            }
            Some(cohort)
        }
        None if individual => None,
        None => {
            let rostered = match &p.student_no {
                Some(no) => {
                    roster_entries::Entity::find()
                        .filter(roster_entries::Column::CampaignId.eq(campaign.id))
                        .filter(roster_entries::Column::StudentNo.eq(no.as_str()))
                        .one(&txn)
                        .await?
                }
                None => None,
            };
            match rostered {
                Some(r) => cohorts::Entity::find_by_id(r.cohort_id).one(&txn).await?,
                None => {
                    return Err(ApiError::unprocessable(
                        "join_code_required",
                        "This campaign walks in cohorts: join with your class's join code.",
                    ));
                }
            }
        }
    };

    if let Some(existing) = enrollments::Entity::find()
        .filter(enrollments::Column::CampaignId.eq(campaign.id))
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .one(&txn)
        .await?
    {
        if req.join_code.is_some() && existing.cohort_id != cohort.as_ref().map(|c| c.id) {
            return Err(ApiError::conflict(
                "already_enrolled",
                "You already joined this campaign in another cohort; ask an organiser to move you.",
            ));
        }
        let view = enrollment_view(&txn, &existing).await?;
        txn.commit().await?;
        return Ok(view);
    }

    let now = Utc::now();
    let enrollment = enrollments::new_active(campaign.id, participant_id, cohort.as_ref().map(|c| c.id), now)
        .insert(&txn)
        .await?;
    if let Some(cohort) = &cohort {
        progress::on_member_joined(&txn, &campaign, cohort).await?;
    }
    let view = enrollment_view(&txn, &enrollment).await?;
    txn.commit().await?;
    Ok(view)
}
