//! Shared application state, built once at start-up and handed to handlers as `web::Data`.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    http::{metrics::Metrics, ratelimit::RateLimits},
    services::{
        boards::cache::BoardCache,
        campaigns::cache::CampaignCache,
        identity::{erasure::ErasedParticipants, jwt::JwtKeys, session_keys::SessionKeys, wechat_login::WechatClient},
        live::EventHub,
        steps::queue::UploadQueue,
        wechat::WechatApi,
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
    /// Participant boards held in memory (see `services::boards::cache`).
    pub boards: Arc<BoardCache>,
    /// Campaign contexts held for a moment (see `services::campaigns::cache`).
    pub campaigns: Arc<CampaignCache>,
    /// Per-process rate limits and the organiser lock-out.
    pub limits: Arc<RateLimits>,
    /// Where uploads are stored (see `services::steps::queue`).
    pub uploads: UploadQueue,
    /// WeChat session keys held for WeRun uploads (see `services::identity::session_keys`).
    pub session_keys: Arc<SessionKeys>,
    /// Participants whose data was erased: their tokens are refused (see `services::identity::erasure`).
    pub erased: Arc<ErasedParticipants>,
}

impl AppState {
    /// The handles an erasure uses.
    pub fn erasure(&self) -> crate::services::identity::erasure::Erasure<'_> {
        crate::services::identity::erasure::Erasure {
            db: &self.db,
            erased: &self.erased,
            session_keys: &self.session_keys,
        }
    }

    /// The handles an upload uses.
    pub fn uploads(&self) -> crate::services::steps::ingest::Uploads<'_> {
        crate::services::steps::ingest::Uploads {
            db: &self.db,
            campaigns: &self.campaigns,
            queue: &self.uploads,
            session_keys: &self.session_keys,
            boards: &self.boards,
            events: &self.events,
            settings: &self.settings,
        }
    }

    /// The handles a screen's live stream uses.
    pub fn screens(&self) -> crate::services::live::Screens<'_> {
        crate::services::live::Screens {
            db: &self.db,
            campaigns: &self.campaigns,
            boards: &self.boards,
            events: &self.events,
        }
    }

    /// The handles a participant's login uses.
    pub fn logins(&self) -> crate::services::identity::Logins<'_> {
        crate::services::identity::Logins {
            db: &self.db,
            wechat: &self.wechat,
            jwt: &self.jwt,
            session_keys: &self.session_keys,
        }
    }
}
