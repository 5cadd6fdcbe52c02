//! Public campaign information.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    error::ApiResult,
    routes::ok,
    services::campaigns::{self, CampaignDetail, CampaignList},
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list_campaigns).service(get_campaign);
}

/// Paging parameters shared by list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// Page size, default 20. Values above `limits.max_page_size` (default 100) are clamped
    /// to it and 0 counts as 1: the answer is a shorter page, not an error.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
}

impl Page {
    /// The limit clamped to 1..=max and the offset.
    pub fn resolve(&self, max: u64) -> (u64, u64) {
        (self.limit.unwrap_or(20).clamp(1, max), self.offset.unwrap_or(0))
    }
}

/// Lists public (active and closed) campaigns.
#[utoipa::path(tag = "campaigns", params(Page), responses((status = 200, body = CampaignList)))]
#[get("/campaigns")]
pub async fn list_campaigns(state: web::Data<AppState>, page: web::Query<Page>) -> ApiResult<HttpResponse> {
    let (limit, offset) = page.resolve(state.settings.limits.max_page_size);
    Ok(ok(&campaigns::list_public(&state.db, limit, offset).await?))
}

/// A public campaign with its route outline (station names and distances, no stories).
#[utoipa::path(
    tag = "campaigns",
    params(("slug" = String, Path, description = "Campaign slug")),
    responses(
        (status = 200, body = CampaignDetail),
        (status = 404, description = "No such campaign", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}")]
pub async fn get_campaign(state: web::Data<AppState>, slug: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::detail(&state.db, &slug).await?))
}
