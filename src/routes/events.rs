//! Server-Sent Events for a campaign's live screen.

use std::convert::Infallible;

use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    http::error::ApiResult,
    services::{
        boards::leaderboard::Viewer,
        live::{self, StreamEvent},
    },
    state::AppState,
};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(campaign_events);
}

/// Query of the events stream, for clients that can't set headers (`EventSource`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// A board or organiser token, when no `Authorization` header can be sent. It is moved
    /// into the header before the request is logged or routed (`routes::bearer_from_query`).
    pub access_token: Option<String>,
    /// Same as the `Last-Event-ID` header.
    pub last_event_id: Option<String>,
}

/// Live events (Server-Sent Events), each with a JSON `data`:
///
/// - `unlock` ([`UnlockEvent`](crate::services::live::UnlockEvent)): who reached which
///   station; its `id` resumes the stream with `Last-Event-ID`;
/// - `leaderboard` (`LeaderboardEvent`): top 10 participants and the top-level cohorts, first
///   on connect, then when it changed, at most once a second;
/// - `stats` (`StatsSummary`): headline figures, on connect and every 5 seconds;
/// - `resync` (`ResyncEvent`): missed events could not be replayed; reload.
///
/// Between events, `: heartbeat` comment lines every 15 seconds; the stream starts with
/// `retry: 3000`. Organisers with access, or a board token of this campaign.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("slug" = String, Path), EventsQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = StreamEvent, description = "One schema per event: `event` names it, `data` is JSON of the named schema"),
        (status = 403, description = "organiser_only, board_token_scope", content_type = "application/problem+json"),
        (status = 404, description = "campaign_not_found", content_type = "application/problem+json")
    )
)]
#[get("/campaigns/{slug}/events")]
pub async fn campaign_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Viewer,
    slug: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> ApiResult<HttpResponse> {
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.last_event_id.clone())
        .filter(|s| !s.is_empty());
    let rx = live::open_stream(state.screens(), &who, &slug, last_id).await?;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}
