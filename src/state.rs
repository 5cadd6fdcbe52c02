//! Shared application state, built once at start-up and handed to handlers as `web::Data`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{jwt::JwtKeys, wechat::WechatClient},
    metrics::Metrics,
    ratelimit::RateLimits,
    services::{
        board_cache::BoardCache, campaign_cache::CampaignCache, events::EventHub,
        identity::erasure::ErasedParticipants, session_keys::SessionKeys, upload_queue::UploadQueue, wechat::WechatApi,
    },
    settings::Settings,
};

/// Everything a handler may need besides its request.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub jwt: Arc<JwtKeys>,
    pub wechat: WechatClient,
    /// WeChat's server API with the shared access token (see `services::wechat`).
    pub wechat_api: WechatApi,
    /// Live events: this instance's screens, fed via PostgreSQL NOTIFY or in process.
    pub events: Arc<EventHub>,
    /// Participant boards held in memory (see `services::board_cache`).
    pub boards: Arc<BoardCache>,
    /// Campaign contexts held for a moment (see `services::campaign_cache`).
    pub campaigns: Arc<CampaignCache>,
    /// Per-process rate limits and the organiser lock-out.
    pub limits: Arc<RateLimits>,
    /// Where uploads are stored (see `services::upload_queue`).
    pub uploads: UploadQueue,
    /// WeChat session keys held for WeRun uploads (see `services::session_keys`).
    pub session_keys: Arc<SessionKeys>,
    /// Participants whose data was erased: their tokens are refused (see `services::identity::erasure`).
    pub erased: Arc<ErasedParticipants>,
}
