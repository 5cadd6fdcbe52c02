//! Campaign contexts (the campaign row, its route's stations, zone, window, mode) held for a
//! moment. Every upload and every participant screen needs one; reading it costs three
//! queries. An entry lives `cache.campaign_ttl_ms`; an organiser's write that changes a
//! context (a campaign's settings or status, its cohort tree, a station of its route) empties
//! the cache at once after its commit (`forget_all`, called by the writing service in
//! `services::admin`), so only writes made by another process — a second instance,
//! the CLI — may take up to the TTL (plus one reload) to be seen. A generation number keeps a
//! context read before such a write from being stored after it. When an entry expires, one
//! request reloads it while the others go on with it: under load, a TTL expiring would
//! otherwise send every request of that moment to read the campaign, its stations and its
//! cohort tree at once (seen as the upload benchmark's slowest 1 %).

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::ConnectionTrait;

use crate::{http::error::ApiResult, services::progress::CampaignCtx};

/// At most this many campaigns are held; beyond, the cache starts over.
const MAX_ENTRIES: usize = 1024;

struct Entry {
    loaded_at: Instant,
    generation: u64,
    ctx: Arc<CampaignCtx>,
    /// One request reloads an expired entry; the others keep using it meanwhile, instead
    /// of all reloading it at once the moment it expires.
    reloading: AtomicBool,
}

/// Recently read campaign contexts by slug, drafts included.
pub struct CampaignCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Entry>>,
}

impl CampaignCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The context of any campaign (drafts included), at most `ttl` old.
    ///
    /// # Errors
    /// 404 `campaign_not_found`; on database failure.
    pub async fn any(&self, db: &impl ConnectionTrait, slug: &str) -> ApiResult<Arc<CampaignCtx>> {
        let generation = self.generation.load(Ordering::Acquire);
        if !self.ttl.is_zero()
            && let Ok(entries) = self.entries.read()
            && let Some(e) = entries.get(slug)
            && e.generation == generation
        {
            if e.loaded_at.elapsed() < self.ttl {
                return Ok(e.ctx.clone());
            }
            // Expired: the first request to see it reloads, the others use it until then
            // (it is no older than the TTL plus one reload).
            if e.reloading.swap(true, Ordering::AcqRel) {
                return Ok(e.ctx.clone());
            }
        }
        let loaded = self.load(db, slug, generation).await;
        if loaded.is_err()
            && let Ok(entries) = self.entries.read()
            && let Some(e) = entries.get(slug)
        {
            e.reloading.store(false, Ordering::Release);
        }
        loaded
    }

    async fn load(&self, db: &impl ConnectionTrait, slug: &str, generation: u64) -> ApiResult<Arc<CampaignCtx>> {
        let loaded_at = Instant::now();
        let campaign = crate::services::campaigns::find_any(db, slug).await?;
        let ctx = Arc::new(CampaignCtx::from_model(db, campaign).await?);
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                slug.to_owned(),
                Entry {
                    loaded_at,
                    generation,
                    ctx: ctx.clone(),
                    reloading: AtomicBool::new(false),
                },
            );
        }
        Ok(ctx)
    }

    /// The context of a campaign the public may see (not a draft).
    ///
    /// # Errors
    /// 404 `campaign_not_found` for unknown slugs and drafts; on database failure.
    pub async fn public(&self, db: &impl ConnectionTrait, slug: &str) -> ApiResult<Arc<CampaignCtx>> {
        let ctx = self.any(db, slug).await?;
        if ctx.campaign.is_public() {
            Ok(ctx)
        } else {
            Err(crate::services::campaigns::not_found(slug))
        }
    }

    /// Drops every entry: an organiser changed something.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}
