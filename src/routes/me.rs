//! The participant's profile.

use actix_web::{HttpResponse, delete, get, patch, web};

use crate::{
    http::error::ApiResult,
    routes::ok,
    services::identity::{self, MeView, Participant, ProfilePatch},
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(get_me).service(patch_me).service(erase_me);
}

/// The caller's profile and enrollments.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = MeView)))]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, who: Participant) -> ApiResult<HttpResponse> {
    Ok(ok(&identity::me(&state.db, who.id).await?))
}

/// Changes display name (1–32 characters) and/or student number.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, body = MeView), (status = 422, description = "validation_failed", content_type = "application/problem+json"))
)]
#[patch("/me")]
pub async fn patch_me(
    state: web::Data<AppState>,
    who: Participant,
    body: web::Json<ProfilePatch>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&identity::update_me(
        &state.db,
        &state.wechat_api,
        who.id,
        body.into_inner(),
    )
    .await?))
}

/// Erases the caller's personal data: openid, unionid, session key, display name and student
/// number. Their counted steps stay with their cohort as an anonymous "已注销" member; their
/// tokens stop working; logging in again (WeChat or development) starts a new participant
/// from zero.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 204, description = "erased")))]
#[delete("/me")]
pub async fn erase_me(state: web::Data<AppState>, who: Participant) -> ApiResult<HttpResponse> {
    identity::erasure::erase_me(state.erasure(), who.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
