//! Building the application: database, migrations, seed data, the actix `App` and its server.
//! `Application::build` binds its own listener (port 0 in tests) and exposes `port()`.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::{
    http::{extract::TokenCheck, metrics::Metrics, ratelimit::RateLimits, timeouts::TimeLimits},
    routes,
    services::identity::{jwt::JwtKeys, wechat_login::WechatClient},
    settings::Settings,
    state::AppState,
    workers::Workers,
};

/// A bound, ready-to-run server with its background tasks.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// Stopped after the server, or with the application when it is dropped unrun.
    workers: Workers,
}

impl Application {
    /// Connects and migrates the database, seeds an empty one, binds the listener.
    ///
    /// # Errors
    /// When the database can't be reached or migrated, or the address can't be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database).await?;
        crate::db::migrate(&db).await?;
        crate::services::campaigns::seed::run(&db, &settings.seed).await?;
        Self::build_with_db(settings, db).await
    }

    /// Builds the server on an already connected and migrated database.
    ///
    /// # Errors
    /// When the address can't be bound.
    pub async fn build_with_db(settings: Settings, db: DatabaseConnection) -> anyhow::Result<Self> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("cannot bind {address}"))?;
        let port = listener.local_addr()?.port();
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let workers = Workers::start(!postgres);
        let events = Arc::new(crate::services::live::EventHub::new(postgres));
        if postgres {
            crate::services::live::start_listener(&db, events.clone(), &workers).await?;
        }
        let boards = Arc::new(crate::services::boards::cache::BoardCache::new(
            Duration::from_millis(settings.cache.board_max_staleness_ms),
            workers.boards().clone(),
        ));
        if settings.cache.board_max_staleness_ms > 0 {
            boards.warm(&db).await?;
        }
        let campaigns = Arc::new(crate::services::campaigns::cache::CampaignCache::new(
            Duration::from_millis(settings.cache.campaign_ttl_ms),
        ));
        let limits = Arc::new(RateLimits::new(&settings.limits.rate)?);
        if settings.cache.cohort_dates_max_staleness_ms > 0 {
            crate::services::progress::spawn_stale_cohort_refresh(
                &workers,
                db.clone(),
                Duration::from_millis(settings.cache.cohort_dates_max_staleness_ms),
            );
        }
        let erased = Arc::new(crate::services::identity::erasure::ErasedParticipants::load(&db).await?);
        let metrics = Metrics::new();
        let wechat_api = crate::services::wechat::WechatApi::new(&settings.wechat, db.clone())?;
        if settings.wechat.scheduler_interval_secs > 0 && settings.wechat.enabled() {
            crate::services::wechat::reminders::spawn_scheduler(
                &workers,
                db.clone(),
                wechat_api.clone(),
                Duration::from_secs(settings.wechat.scheduler_interval_secs),
            );
        }
        let state = AppState {
            uploads: crate::services::steps::queue::UploadQueue::new(db.clone(), metrics.clone(), &workers),
            boards,
            campaigns,
            events,
            db,
            jwt: Arc::new(JwtKeys::new(&settings.auth)?),
            wechat: WechatClient::new(&settings.wechat)?,
            wechat_api,
            settings: Arc::new(settings),
            metrics,
            limits,
            session_keys: Arc::new(crate::services::identity::session_keys::SessionKeys::new()),
            erased,
        };
        let server = run(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
            workers,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The state shared with handlers (for tests and benchmarks).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server as SIGTERM would (for benchmarks that start several
    /// servers in one process, one after the other).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, lets in-flight requests finish within
    /// `server.shutdown_timeout_secs`, then stops the background tasks.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.workers.shutdown().await;
        served
    }
}

fn run(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        n => n,
    };
    let data = web::Data::new(state.clone());
    let metrics = web::Data::new(state.metrics.clone());
    // What the HTTP plumbing reads of the state, each as its own app data: `http` knows no
    // `AppState`.
    let token_check = web::Data::new(TokenCheck {
        jwt: state.jwt.clone(),
        erased: state.erased.clone(),
        db: state.db.clone(),
    });
    let rate_limits = web::Data::from(state.limits.clone());
    let time_limits = web::Data::new(TimeLimits::from(&settings.limits));
    let shutdown_secs = settings.server.shutdown_timeout_secs;
    let server = HttpServer::new(move || {
        App::new()
            // Innermost, so that a 408 is counted and logged like any other answer.
            .wrap(middleware::from_fn(crate::http::timeouts::limit_time))
            .wrap(middleware::from_fn(crate::http::metrics::track))
            // Inside the logger, so that a caught panic is logged as a 500 with its request id.
            .wrap(middleware::from_fn(crate::http::panic::catch_panic))
            .wrap(middleware::from_fn(crate::http::middleware::add_request_id))
            .wrap(TracingLogger::default())
            .wrap(middleware::from_fn(crate::http::middleware::bearer_from_query))
            .app_data(data.clone())
            .app_data(metrics.clone())
            .app_data(token_check.clone())
            .app_data(rate_limits.clone())
            .app_data(time_limits.clone())
            .configure(|cfg| routes::config(cfg, &settings))
    })
    .workers(workers)
    .shutdown_timeout(shutdown_secs)
    .client_request_timeout(Duration::from_secs(10))
    .listen(listener)?
    .run();
    Ok(server)
}
