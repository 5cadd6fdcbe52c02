//! Class join posters: a cohort's 小程序码 for organisers to print.

use actix_web::{HttpResponse, get, http::header, web};

use crate::{
    http::error::ApiResult,
    services::{admin::access::require_campaign_access, identity::Organiser, wechat::qrcode},
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(cohort_qrcode);
}

/// The class's join 小程序码 (scene = its join code), drawn by WeChat once and then served
/// from the database, so a printed poster never changes.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 200, description = "the image", content_type = "image/png"),
        (status = 404, description = "campaign_not_found, cohort_not_found", content_type = "application/problem+json"),
        (status = 422, description = "cohort_not_leaf", content_type = "application/problem+json"),
        (status = 502, description = "qrcode_page_invalid, qrcode_rejected", content_type = "application/problem+json"),
        (status = 503, description = "qrcode_quota_exhausted, wechat_unavailable, wechat_not_configured", content_type = "application/problem+json"),
    )
)]
#[get("/admin/campaigns/{slug}/cohorts/{id}/qrcode.png")]
pub async fn cohort_qrcode(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, cohort_id) = path.into_inner();
    let campaign = require_campaign_access(&state.db, &who, &slug).await?;
    let image = qrcode::join_qrcode(&state.db, &state.wechat_api, campaign.id, cohort_id).await?;
    Ok(HttpResponse::Ok()
        .content_type(image.content_type)
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(image.bytes))
}
