//! Organiser reports on a campaign: statistics, CSV exports and live-screen tokens.

use actix_web::{
    HttpResponse, get,
    http::header::{self, ContentDisposition, DispositionParam, DispositionType},
    post, web,
};

use crate::{
    http::error::ApiResult,
    routes::ok,
    services::{
        admin::access::require_campaign_access,
        identity::Organiser,
        live::{self, BoardToken},
        progress::CampaignCtx,
        reports::{
            export::{self, ExportKind},
            stats::{self, CampaignStats},
        },
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(campaign_stats)
        .service(export_participants)
        .service(export_cohorts)
        .service(export_steps)
        .service(board_token);
}

/// Enrolled, active today and ever, participation, steps and km, flagged days, the
/// furthest and median subject's stations, and a per-day series for charts.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = CampaignStats),
        (status = 404, description = "campaign_not_found", content_type = "application/problem+json")
    )
)]
#[get("/admin/campaigns/{slug}/stats")]
pub async fn campaign_stats(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let campaign = require_campaign_access(&state.db, &who, &slug).await?;
    let ctx = CampaignCtx::from_model(&state.db, campaign).await?;
    Ok(ok(&stats::campaign_stats(&state.db, &ctx).await?))
}

async fn csv(state: &AppState, who: &Organiser, slug: &str, kind: ExportKind) -> ApiResult<HttpResponse> {
    let campaign = require_campaign_access(&state.db, who, slug).await?;
    let ctx = CampaignCtx::from_model(&state.db, campaign).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(kind.file_name(&ctx.campaign.slug))],
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(disposition)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(export::csv_stream(state.db.clone(), ctx, kind)))
}

/// Participants in board order (suspended ones last, without rank): rank, name, student
/// number, cohort path, status, steps, km, stations, days active, finished on. UTF-8 CSV with BOM.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String))
)]
#[get("/admin/campaigns/{slug}/export/participants.csv")]
pub async fn export_participants(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    csv(&state, &who, &slug, ExportKind::Participants).await
}

/// Every cohort with all its metrics. UTF-8 CSV with BOM.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String))
)]
#[get("/admin/campaigns/{slug}/export/cohorts.csv")]
pub async fn export_cohorts(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    csv(&state, &who, &slug, ExportKind::Cohorts).await
}

/// Every step day (for audit), with flags and voids. UTF-8 CSV with BOM.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String))
)]
#[get("/admin/campaigns/{slug}/export/steps.csv")]
pub async fn export_steps(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    csv(&state, &who, &slug, ExportKind::Steps).await
}

/// A read-only token for the campaign's live screen (`GET /campaigns/{slug}/events`).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = BoardToken),
        (status = 404, description = "campaign_not_found", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/board-token")]
pub async fn board_token(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&live::board_token(&state.db, &state.jwt, &who, &slug).await?))
}
