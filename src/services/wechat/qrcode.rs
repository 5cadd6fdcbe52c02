//! Class join posters: a leaf cohort's 小程序码 from `POST /wxa/getwxacodeunlimit`, whose
//! `scene` is the class's join code and whose `page` is `wechat.join_page`. The image WeChat
//! draws first is stored (`join_qrcodes`) and served from then on, so a printed poster never
//! changes; only a new join code (the old poster no longer joins anyone) draws a new one.

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

use super::{WechatApi, WechatError};
use crate::{
    http::error::{ApiError, ApiResult},
    models::{cohorts, join_qrcodes},
};

/// A stored join poster image.
pub struct JoinQrcode {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`, from the image's own signature.
    pub content_type: &'static str,
}

/// The join 小程序码 of cohort `cohort_id` of campaign `campaign_id`, drawn once.
///
/// # Errors
/// 404 `cohort_not_found`; 422 `cohort_not_leaf`; 503 `wechat_not_configured` without an
/// appid; the WeChat errors of [`draw`].
#[tracing::instrument(skip(db, api))]
pub async fn join_qrcode(
    db: &DatabaseConnection,
    api: &WechatApi,
    campaign_id: i32,
    cohort_id: i32,
) -> ApiResult<JoinQrcode> {
    let cohort = cohorts::Entity::find_by_id(cohort_id)
        .filter(cohorts::Column::CampaignId.eq(campaign_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("cohort_not_found", format!("No cohort {cohort_id} in this campaign.")))?;
    if cohort.has_children(db).await? {
        return Err(ApiError::unprocessable(
            "cohort_not_leaf",
            format!(
                "`{}` contains other cohorts and takes no members; print the posters of its classes.",
                cohort.path
            ),
        ));
    }
    let stored = join_qrcodes::Entity::find()
        .filter(join_qrcodes::Column::CohortId.eq(cohort.id))
        .one(db)
        .await?;
    match stored {
        Some(s) if s.scene == cohort.join_code => return Ok(image(s.png)),
        // The join code changed: the old poster joins no one any more.
        Some(s) => {
            join_qrcodes::Entity::delete_by_id(s.id).exec(db).await?;
        }
        None => {}
    }
    if !api.enabled() {
        return Err(ApiError::unavailable(
            "wechat_not_configured",
            "No WeChat mini-program is configured (wechat.appid), so no 小程序码 can be drawn.",
        ));
    }
    let png = draw(api, &cohort.join_code).await?;
    // Two first requests at once: the first stored image is the poster.
    join_qrcodes::Entity::insert(join_qrcodes::ActiveModel {
        cohort_id: Set(cohort.id),
        scene: Set(cohort.join_code.clone()),
        png: Set(png),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([join_qrcodes::Column::CohortId])
    .exec(db)
    .await?;
    let stored = join_qrcodes::Entity::find()
        .filter(join_qrcodes::Column::CohortId.eq(cohort.id))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("join poster of cohort {} vanished after insert", cohort.id))?;
    Ok(image(stored.png))
}

fn image(bytes: Vec<u8>) -> JoinQrcode {
    let content_type = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    };
    JoinQrcode { bytes, content_type }
}

/// Asks WeChat to draw the 小程序码 for `scene`.
///
/// # Errors
/// 502 `qrcode_page_invalid` (41030: `wechat.join_page` is not a page of the released
/// mini-program), 502 `qrcode_rejected` (other errcodes), 503 `qrcode_quota_exhausted`
/// (45009), 503 `wechat_unavailable` (network, time-out, not an image).
pub async fn draw(api: &WechatApi, scene: &str) -> ApiResult<Vec<u8>> {
    let s = api.settings();
    let body = json!({
        "scene": scene,
        "page": s.join_page,
        "check_path": s.qrcode_check_path,
        "env_version": s.qrcode_env_version,
        "width": s.qrcode_width,
    });
    match api.post_for_image("/wxa/getwxacodeunlimit", &body).await {
        Ok(bytes) if is_image(&bytes) => Ok(bytes),
        Ok(_) => Err(wechat_unavailable(
            "getwxacodeunlimit answered bytes that are not an image",
        )),
        Err(WechatError::Api { errcode: 41030, .. }) => Err(ApiError::BadGateway {
            code: "qrcode_page_invalid",
            detail: format!(
                "WeChat refused the page `{}` (errcode 41030): set wechat.join_page to a page of the \
                 released mini-program, or wechat.qrcode_check_path = false before its release.",
                s.join_page
            ),
        }),
        Err(WechatError::Api { errcode: 45009, .. }) => Err(ApiError::Unavailable {
            code: "qrcode_quota_exhausted",
            detail: "WeChat's daily quota of 小程序码 is used up (errcode 45009); try again tomorrow.".to_owned(),
            retry_after_secs: 3600,
        }),
        Err(WechatError::Api { errcode, errmsg }) => Err(ApiError::BadGateway {
            code: "qrcode_rejected",
            detail: format!("WeChat refused to draw the 小程序码: errcode {errcode} ({errmsg})."),
        }),
        Err(WechatError::Unreachable(reason)) => Err(wechat_unavailable(&reason)),
    }
}

fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn wechat_unavailable(reason: &str) -> ApiError {
    tracing::warn!(reason, "WeChat could not draw a 小程序码");
    ApiError::Unavailable {
        code: "wechat_unavailable",
        detail: "WeChat is unavailable; try again shortly.".to_owned(),
        retry_after_secs: 5,
    }
}
