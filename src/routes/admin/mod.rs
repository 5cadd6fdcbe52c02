//! Campaign administration under `/api/v1/admin`: campaigns and their lifecycle, grants,
//! the planner and the audit log. Every handler checks the organiser's scope through
//! `services::admin::access`.

pub mod data;
pub mod reports;

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    http::error::ApiResult,
    routes::{campaigns::Page, ok},
    services::{
        admin::{
            audit::AuditPage,
            campaigns::{
                self, AdminCampaign, AdminCampaignList, CampaignCreate, CampaignPatch, Grant, GrantView, PlanQuery,
                PlanView, Transition,
            },
        },
        identity::Organiser,
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list_campaigns)
        .service(create_campaign)
        .service(get_campaign)
        .service(patch_campaign)
        .service(activate_campaign)
        .service(close_campaign)
        .service(plan_campaign)
        .service(put_grant)
        .service(delete_grant)
        .service(campaign_audit);
}

/// `?recompute=true` on a campaign update.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RecomputeQuery {
    /// Rebuild every total and unlock after changing what progress depends on.
    #[serde(default)]
    pub recompute: bool,
}

/// Lists the campaigns the caller may administer (all of them for an admin).
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_list_campaigns",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = AdminCampaignList))
)]
#[get("/admin/campaigns")]
pub async fn list_campaigns(
    state: web::Data<AppState>,
    who: Organiser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (limit, offset) = page.resolve(state.settings.limits.max_page_size);
    Ok(ok(&campaigns::list(&state.db, &who, limit, offset).await?))
}

/// Creates a draft campaign owned by the caller. Unknown fields (`status`, `owner`, …) are refused.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CampaignCreate,
    responses(
        (status = 201, body = AdminCampaign),
        (status = 409, description = "slug_taken", content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns")]
pub async fn create_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    body: web::Json<CampaignCreate>,
) -> ApiResult<HttpResponse> {
    let created = campaigns::create(&state.db, &who, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One campaign the caller may administer.
#[utoipa::path(
    tag = "admin",
    operation_id = "admin_get_campaign",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = AdminCampaign),
        (status = 404, description = "campaign_not_found", content_type = "application/problem+json")
    )
)]
#[get("/admin/campaigns/{slug}")]
pub async fn get_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::get(&state.db, &who, &slug).await?))
}

/// Updates a campaign. Route, zone, dates, mode, `steps_per_km` and `daily_step_cap` change
/// only in a draft, or in an active campaign with `?recompute=true`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), RecomputeQuery),
    request_body = CampaignPatch,
    responses(
        (status = 200, body = AdminCampaign),
        (status = 409, description = "campaign_locked, campaign_closed", content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, invalid_body", content_type = "application/problem+json")
    )
)]
#[patch("/admin/campaigns/{slug}")]
pub async fn patch_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    q: web::Query<RecomputeQuery>,
    body: web::Json<CampaignPatch>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::update(
        &state.db,
        &state.campaigns,
        &who,
        &slug,
        body.into_inner(),
        q.recompute,
    )
    .await?))
}

/// Opens a draft campaign (draft → active).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = AdminCampaign),
        (status = 409, description = "invalid_transition", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/activate")]
pub async fn activate_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::transition(
        &state.db,
        &state.campaigns,
        &who,
        &slug,
        Transition::Activate,
    )
    .await?))
}

/// Closes an active campaign (active → closed); results are frozen.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = AdminCampaign),
        (status = 409, description = "invalid_transition", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/close")]
pub async fn close_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::transition(
        &state.db,
        &state.campaigns,
        &who,
        &slug,
        Transition::Close,
    )
    .await?))
}

/// Suggests `steps_per_km` so the route is finished in the given days under the campaign's mode.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), PlanQuery),
    responses(
        (status = 200, body = PlanView),
        (status = 422, description = "validation_failed", content_type = "application/problem+json")
    )
)]
#[get("/admin/campaigns/{slug}/plan")]
pub async fn plan_campaign(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    q: web::Query<PlanQuery>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&campaigns::plan(&state.db, &who, &slug, &q).await?))
}

/// Shares a campaign with another organiser (admins only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses(
        (status = 200, body = GrantView),
        (status = 403, description = "admin_only", content_type = "application/problem+json"),
        (status = 404, description = "campaign_not_found, organiser_not_found", content_type = "application/problem+json")
    )
)]
#[put("/admin/campaigns/{slug}/grants/{username}")]
pub async fn put_grant(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    Ok(ok(
        &campaigns::set_grant(&state.db, &who, &slug, &username, Grant::Add).await?
    ))
}

/// Withdraws a grant (admins only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses(
        (status = 200, body = GrantView),
        (status = 403, description = "admin_only", content_type = "application/problem+json")
    )
)]
#[delete("/admin/campaigns/{slug}/grants/{username}")]
pub async fn delete_grant(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    Ok(ok(&campaigns::set_grant(
        &state.db,
        &who,
        &slug,
        &username,
        Grant::Remove,
    )
    .await?))
}

/// The campaign's audit log, newest first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), Page),
    responses((status = 200, body = AuditPage))
)]
#[get("/admin/campaigns/{slug}/audit")]
pub async fn campaign_audit(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (limit, offset) = page.resolve(state.settings.limits.max_page_size);
    Ok(ok(&campaigns::audit_log(&state.db, &who, &slug, limit, offset).await?))
}
