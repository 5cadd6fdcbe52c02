//! 订阅消息 acceptances that pay for evening reminders.

use actix_web::{HttpResponse, post, web};

use crate::{
    http::error::ApiResult,
    routes::ok,
    services::{
        identity::Participant,
        wechat::reminders::{self, SubscriptionRequest, SubscriptionsView},
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(subscribe);
}

/// Records the templates the student accepted in `wx.requestSubscribeMessage`: one credit
/// per template per call; each reminder spends one.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = SubscriptionRequest,
    responses(
        (status = 200, body = SubscriptionsView),
        (status = 422, description = "invalid_template_ids", content_type = "application/problem+json"),
    )
)]
#[post("/me/subscriptions")]
pub async fn subscribe(
    state: web::Data<AppState>,
    who: Participant,
    body: web::Json<SubscriptionRequest>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&reminders::record_subscriptions(
        &state.db,
        who.id,
        body.into_inner(),
    )
    .await?))
}
