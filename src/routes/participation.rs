//! A participant in a campaign: joining, uploading steps, progress, milestones, step days.

use actix_web::{HttpResponse, get, post, web};

use crate::{
    http::{error::ApiResult, ratelimit::Uploader},
    routes::ok,
    services::{
        boards::me::{self, MilestonesView, ProgressView, StepDaysView},
        campaigns::join::{JoinRequest, join as join_campaign},
        identity::{EnrollmentView, Participant},
        steps::ingest::{self, StepBatch, UploadAnswer, WerunUpload},
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(join)
        .service(upload_steps)
        .service(upload_werun)
        .service(my_progress)
        .service(my_milestones)
        .service(my_steps);
}

/// Joins a campaign (into the leaf cohort with the join code, or the rostered one).
/// Joining again answers the same enrollment.
#[utoipa::path(
    tag = "participation",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body = JoinRequest,
    responses(
        (status = 200, body = EnrollmentView),
        (status = 404, description = "campaign_not_found, cohort_not_found", content_type = "application/problem+json"),
        (status = 409, description = "campaign_not_open, already_enrolled", content_type = "application/problem+json"),
        (status = 422, description = "cohort_not_leaf, join_code_required, join_code_not_accepted", content_type = "application/problem+json")
    )
)]
#[post("/campaigns/{slug}/join")]
pub async fn join(
    state: web::Data<AppState>,
    who: Participant,
    slug: web::Path<String>,
    body: Option<web::Json<JoinRequest>>,
) -> ApiResult<HttpResponse> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    Ok(ok(
        &join_campaign(&state.db, &state.wechat_api, who.id, &slug, body).await?
    ))
}

/// Uploads manual step counts: up to 31 days, each judged alone, merged by max.
#[utoipa::path(
    tag = "participation",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body = StepBatch,
    responses(
        (status = 200, body = UploadAnswer),
        (status = 403, description = "not_enrolled, participant_suspended", content_type = "application/problem+json"),
        (status = 409, description = "campaign_closed, uploads_closed", content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, source_not_accepted", content_type = "application/problem+json"),
        (status = 429, description = "rate_limited (too many uploads by this participant; see Retry-After)", content_type = "application/problem+json")
    )
)]
#[post("/campaigns/{slug}/steps")]
pub async fn upload_steps(
    state: web::Data<AppState>,
    who: Uploader,
    slug: web::Path<String>,
    body: web::Json<StepBatch>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&ingest::upload_manual(
        state.uploads(),
        who.id,
        &slug,
        body.into_inner(),
    )
    .await?))
}

/// Uploads WeChat WeRun data (`wx.getWeRunData`), decrypted with the stored session key.
#[utoipa::path(
    tag = "participation",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body = WerunUpload,
    responses(
        (status = 200, body = UploadAnswer),
        (status = 422, description = "werun_undecryptable, werun_not_step_data, werun_foreign_appid, werun_stale", content_type = "application/problem+json"),
        (status = 429, description = "rate_limited (too many uploads by this participant; see Retry-After)", content_type = "application/problem+json")
    )
)]
#[post("/campaigns/{slug}/steps/werun")]
pub async fn upload_werun(
    state: web::Data<AppState>,
    who: Uploader,
    slug: web::Path<String>,
    body: web::Json<WerunUpload>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&ingest::upload_werun(
        state.uploads(),
        who.id,
        &slug,
        body.into_inner(),
    )
    .await?))
}

/// The caller's progress: steps, metres, stations, rank; in cohort modes also the class's.
#[utoipa::path(tag = "participation", security(("bearer" = [])), params(("slug" = String, Path)), responses((status = 200, body = ProgressView)))]
#[get("/campaigns/{slug}/me/progress")]
pub async fn my_progress(
    state: web::Data<AppState>,
    who: Participant,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ctx = state.campaigns.public(&state.db, &slug).await?;
    Ok(ok(&me::progress(&state.db, &state.boards, &ctx, who.id).await?))
}

/// Every station with its status; stories only for unlocked stations.
///
/// In cohort modes the stations are the class's. Which stations are unlocked is always
/// current; after a member's back-dated upload the `reached_on` dates may lag it by up to
/// `cache.cohort_dates_max_staleness_ms` (2 s by default).
#[utoipa::path(tag = "participation", security(("bearer" = [])), params(("slug" = String, Path)), responses((status = 200, body = MilestonesView)))]
#[get("/campaigns/{slug}/me/milestones")]
pub async fn my_milestones(
    state: web::Data<AppState>,
    who: Participant,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ctx = state.campaigns.public(&state.db, &slug).await?;
    Ok(ok(&me::milestones(&state.db, &ctx, who.id).await?))
}

/// The caller's stored step days.
#[utoipa::path(tag = "participation", security(("bearer" = [])), params(("slug" = String, Path)), responses((status = 200, body = StepDaysView)))]
#[get("/campaigns/{slug}/me/steps")]
pub async fn my_steps(
    state: web::Data<AppState>,
    who: Participant,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ctx = state.campaigns.public(&state.db, &slug).await?;
    Ok(ok(&me::steps(&state.db, &ctx, who.id).await?))
}
