//! Finishers' certificates: the holder's own, and public verification by id.

use actix_web::{HttpResponse, get, web};

use crate::{
    http::error::ApiResult,
    routes::ok,
    services::{
        certificates::{self, CertificateView},
        identity::Participant,
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(my_certificate).service(verify_certificate);
}

/// The caller's certificate, issued once they (in cohort modes: their class) finished the route.
#[utoipa::path(
    tag = "certificates",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = CertificateView),
        (status = 403, description = "not_enrolled", content_type = "application/problem+json"),
        (status = 404, description = "campaign_not_found, certificate_not_issued", content_type = "application/problem+json"),
    )
)]
#[get("/campaigns/{slug}/me/certificate")]
pub async fn my_certificate(
    state: web::Data<AppState>,
    who: Participant,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let ctx = state.campaigns.public(&state.db, &slug).await?;
    Ok(ok(&certificates::mine(&state.db, &ctx, who.id).await?))
}

/// Verifies a certificate: anyone holding its id sees the masked name, campaign, route,
/// finish date, distance and school.
#[utoipa::path(
    tag = "certificates",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = CertificateView),
        (status = 404, description = "certificate_not_found", content_type = "application/problem+json"),
    )
)]
#[get("/certificates/{id}")]
pub async fn verify_certificate(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(ok(&certificates::verify(&state.db, &id).await?))
}
