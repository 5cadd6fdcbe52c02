//! Operations endpoints: liveness, readiness and Prometheus metrics.

use actix_web::{HttpResponse, get, web};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{http::error::ApiError, state::AppState};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// Liveness: the process answers.
#[utoipa::path(tag = "ops", responses((status = 200, description = "The process is alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers a query.
#[utoipa::path(
    tag = "ops",
    responses(
        (status = 200, description = "Ready to serve"),
        (status = 503, description = "The database is unreachable", content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.db.execute_unprepared("SELECT 1"),
    )
    .await;
    match probe {
        Ok(Ok(_)) => Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" }))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe failed");
            Err(ApiError::unavailable(
                "database_unavailable",
                "The database is unreachable.",
            ))
        }
        Err(_) => Err(ApiError::unavailable(
            "database_unavailable",
            "The database did not answer in time.",
        )),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&state.db))
}
