//! Leaderboards of a campaign: participants (to date or one day) and cohorts.

use actix_web::{HttpResponse, get, web};

use crate::{
    http::error::ApiResult,
    routes::ok,
    services::boards::leaderboard::{self, BoardPage, BoardQuery, CohortBoard, CohortBoardQuery, MyRank, Viewer},
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    // `/participants/me` before `/participants` only for readability: the paths differ.
    cfg.service(my_rank).service(participants_board).service(cohorts_board);
}

/// Ranked participants (competition ranking by counted steps; suspended left out). The
/// campaign-to-date board (no `period=day`, no `cohort`) is served from memory and may be up
/// to `cache.board_max_staleness_ms` (1 s by default) behind the latest upload.
/// Participants enrolled in the campaign see display names and classes; organisers with
/// access also see student numbers.
#[utoipa::path(
    tag = "leaderboards",
    security(("bearer" = [])),
    params(("slug" = String, Path), BoardQuery),
    responses(
        (status = 200, body = BoardPage),
        (status = 400, description = "invalid_query", content_type = "application/problem+json"),
        (status = 403, description = "not_enrolled, board_token_scope", content_type = "application/problem+json"),
        (status = 404, description = "campaign_not_found, cohort_not_found", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}/leaderboards/participants")]
pub async fn participants_board(
    state: web::Data<AppState>,
    who: Viewer,
    slug: web::Path<String>,
    query: web::Query<BoardQuery>,
) -> ApiResult<HttpResponse> {
    let audience = leaderboard::open(&state.db, &state.campaigns, &state.boards, &who, &slug).await?;
    Ok(ok(&leaderboard::participants_board(
        &state.db,
        &state.boards,
        &audience,
        query.into_inner(),
    )
    .await?))
}

/// The caller's rank among all ranked participants, with two neighbours above and below;
/// up to `cache.board_max_staleness_ms` (1 s by default) behind the latest upload.
#[utoipa::path(
    tag = "leaderboards",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = MyRank),
        (status = 403, description = "participant_only, not_enrolled, participant_suspended", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}/leaderboards/participants/me")]
pub async fn my_rank(state: web::Data<AppState>, who: Viewer, slug: web::Path<String>) -> ApiResult<HttpResponse> {
    let audience = leaderboard::open(&state.db, &state.campaigns, &state.boards, &who, &slug).await?;
    Ok(ok(&leaderboard::my_rank(&state.db, &state.boards, &audience).await?))
}

/// The children of a cohort (top level by default) ranked by total steps, mean steps per
/// member, participation or progress along the route.
#[utoipa::path(
    tag = "leaderboards",
    security(("bearer" = [])),
    params(("slug" = String, Path), CohortBoardQuery),
    responses(
        (status = 200, body = CohortBoard),
        (status = 400, description = "invalid_query", content_type = "application/problem+json"),
        (status = 404, description = "campaign_not_found, cohort_not_found", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}/leaderboards/cohorts")]
pub async fn cohorts_board(
    state: web::Data<AppState>,
    who: Viewer,
    slug: web::Path<String>,
    query: web::Query<CohortBoardQuery>,
) -> ApiResult<HttpResponse> {
    let audience = leaderboard::open(&state.db, &state.campaigns, &state.boards, &who, &slug).await?;
    Ok(ok(&leaderboard::cohorts_board(
        &state.db,
        &audience,
        query.into_inner(),
    )
    .await?))
}
