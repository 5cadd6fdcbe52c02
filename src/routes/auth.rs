//! Logins: WeChat mini-program, development, organiser.

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    http::{error::ApiResult, ratelimit::LoginQuota},
    routes::ok,
    services::identity::{self, LoginAnswer, OrganiserLoginAnswer},
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig, dev_login: bool) {
    cfg.service(login_wechat).service(login_organiser);
    if dev_login {
        cfg.service(login_dev);
    }
}

/// `POST /auth/wechat` body: the code from `wx.login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatLogin {
    pub code: String,
}

/// `POST /auth/dev` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    pub openid: String,
}

/// `POST /auth/organiser` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganiserLogin {
    pub username: String,
    pub password: String,
}

/// Exchanges a `wx.login` code for a participant token (creating the participant on first login).
#[utoipa::path(
    tag = "auth",
    request_body = WechatLogin,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 401, description = "wechat_code_invalid", content_type = "application/problem+json"),
        (status = 403, description = "wechat_user_blocked", content_type = "application/problem+json"),
        (status = 429, description = "rate_limited (too many logins from this client IP; see Retry-After), wechat_rate_limited", content_type = "application/problem+json"),
        (status = 503, description = "wechat_unavailable", content_type = "application/problem+json")
    )
)]
#[post("/auth/wechat")]
pub async fn login_wechat(
    _quota: LoginQuota,
    state: web::Data<AppState>,
    body: web::Json<WechatLogin>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&identity::login_wechat(state.logins(), &body.code).await?))
}

/// Development login by openid; only mounted when `auth.dev_login` is on (404 otherwise).
#[utoipa::path(
    tag = "auth",
    request_body = DevLogin,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 429, description = "rate_limited (too many logins from this client IP; see Retry-After)", content_type = "application/problem+json")
    )
)]
#[post("/auth/dev")]
pub async fn login_dev(
    _quota: LoginQuota,
    state: web::Data<AppState>,
    body: web::Json<DevLogin>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&identity::login_dev(&state.db, &state.jwt, &body.openid).await?))
}

/// Organiser login with username and password. After `limits.rate.organiser_max_failures`
/// wrong passwords for a username within the window, that username is locked for a while,
/// even with the right password (whether or not it exists).
#[utoipa::path(
    tag = "auth",
    request_body = OrganiserLogin,
    responses(
        (status = 200, body = OrganiserLoginAnswer),
        (status = 401, description = "invalid_credentials", content_type = "application/problem+json"),
        (status = 429, description = "rate_limited (too many logins from this client IP), login_locked (too many failures for this username); see Retry-After", content_type = "application/problem+json")
    )
)]
#[post("/auth/organiser")]
pub async fn login_organiser(
    _quota: LoginQuota,
    state: web::Data<AppState>,
    body: web::Json<OrganiserLogin>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    Ok(ok(&identity::login_organiser(
        &state.db,
        &state.jwt,
        &state.limits.organiser,
        &body.username,
        &body.password,
    )
    .await?))
}
