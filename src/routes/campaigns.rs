//! Public campaign information.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    domain::paging::{Count, PageRequest},
    http::{error::ApiResult, extract::claims},
    routes::ok,
    services::{
        campaigns::{self, CampaignDetail, CampaignList},
        identity::jwt::Role,
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list_campaigns).service(get_campaign);
}

/// Paging parameters shared by list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// Page size, default 20. Values above `limits.max_page_size` (default 100) are clamped
    /// to it and 0 counts as 1: the answer is a shorter page, not an error. Negative values
    /// and values above 2^63 − 1 are refused with 400 `invalid_query`.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub limit: Option<Count>,
    /// Rows to skip, default 0; 0 to 2^63 − 1 (else 400 `invalid_query`).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<Count>,
}

impl Page {
    /// The limit clamped to 1..=max and the offset.
    pub fn resolve(&self, max: u64) -> (u64, u64) {
        let page = PageRequest::clamped(self.limit, self.offset, 20, max);
        (page.limit, page.offset)
    }
}

/// Lists public (active and closed) campaigns.
#[utoipa::path(tag = "campaigns", params(Page), responses((status = 200, body = CampaignList)))]
#[get("/campaigns")]
pub async fn list_campaigns(state: web::Data<AppState>, page: web::Query<Page>) -> ApiResult<HttpResponse> {
    let (limit, offset) = page.resolve(state.settings.limits.max_page_size);
    Ok(ok(&campaigns::list_public(&state.db, limit, offset).await?))
}

/// A public campaign with its route outline (station names, distances and coordinates, no
/// stories). A board token of the campaign also reads it while it is a draft.
#[utoipa::path(
    tag = "campaigns",
    params(("slug" = String, Path, description = "Campaign slug")),
    responses(
        (status = 200, body = CampaignDetail),
        (status = 404, description = "No such campaign", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}")]
pub async fn get_campaign(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // A board screen may be set up before its campaign opens. Any other token (or a stale
    // one) changes nothing on this public endpoint.
    let board_of_this = claims(&req)
        .ok()
        .flatten()
        .is_some_and(|c| c.role == Role::Board && c.campaign.as_deref() == Some(slug.as_str()));
    Ok(ok(&campaigns::detail(&state.db, &slug, board_of_this).await?))
}
