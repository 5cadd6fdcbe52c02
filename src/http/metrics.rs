//! Prometheus metrics: requests and latencies by route pattern and status, and the state of
//! the database pool, rendered in the text exposition format at `GET /metrics`.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::{DatabaseConnection, DbBackend};

/// The process's metric families, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    upload_batches: Histogram,
}

impl Metrics {
    /// Creates and registers the metric families.
    ///
    /// # Panics
    /// Never in practice: the names below are valid and registered once per registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let upload_batches = Histogram::with_opts(
            HistogramOpts::new(
                "upload_batch_size",
                "Uploads stored together in one write transaction of the upload queue",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("register once");
        registry.register(Box::new(latency.clone())).expect("register once");
        registry.register(Box::new(pool.clone())).expect("register once");
        registry
            .register(Box::new(upload_batches.clone()))
            .expect("register once");
        Self {
            registry,
            requests,
            latency,
            pool,
            upload_batches,
        }
    }

    /// Records a write transaction of the upload queue that stored `uploads` uploads.
    pub fn observe_upload_batch(&self, uploads: usize) {
        #[allow(clippy::cast_precision_loss)] // at most the queue's batch size
        self.upload_batches.observe(uploads as f64);
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests.with_label_values(&[method, route, &status]).inc();
        self.latency
            .with_label_values(&[method, route, &status])
            .observe(seconds);
    }

    /// Renders every family, after sampling the pool's current state.
    pub fn render(&self, db: &DatabaseConnection) -> String {
        let (size, idle, max) = pool_state(db);
        self.pool.with_label_values(&["open"]).set(size);
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool.with_label_values(&["in_use"]).set(size - idle);
        self.pool.with_label_values(&["max"]).set(max);
        let mut buf = Vec::new();
        // Encoding into a Vec can't fail for well-formed families.
        drop(TextEncoder::new().encode(&self.registry.gather(), &mut buf));
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn pool_state(db: &DatabaseConnection) -> (i64, i64, i64) {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                i64::from(pool.size()),
                i64::try_from(pool.num_idle()).unwrap_or(i64::MAX),
                i64::from(pool.options().get_max_connections()),
            )
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                i64::from(pool.size()),
                i64::try_from(pool.num_idle()).unwrap_or(i64::MAX),
                i64::from(pool.options().get_max_connections()),
            )
        }
        _ => (0, 0, 0),
    }
}

/// Middleware that records every request under its route *pattern* (`/campaigns/{slug}`),
/// so that label cardinality stays bounded whatever paths clients send.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    let res = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &res {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        metrics.observe(&method, &route, status, start.elapsed().as_secs_f64());
    }
    res
}
