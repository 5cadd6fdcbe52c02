//! The load generator: C tasks, each with its own keep-alive connection, calling one
//! request after another until the deadline; latencies of the measured window only.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;

/// One request of a scenario: (connection, iteration) → Ok on a 2xx, Err(kind) otherwise.
pub type Call = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// What a measured window saw.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    /// Error kinds (status and problem code, or transport error) and how often.
    pub error_kinds: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let last = self.latencies_us.len() - 1;
        let i = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[i.min(last)]) / 1000.0
    }
}

/// One keep-alive HTTP/1.1 connection per generator task.
pub fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            longmarch::http_client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client")
        })
        .collect()
}

/// Drives `call` from `connections` tasks: `warmup` unmeasured, then `measure` measured.
pub async fn drive(connections: usize, warmup: Duration, measure: Duration, call: Call) -> Outcome {
    let start = Instant::now() + warmup;
    let end = start + measure;
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|conn| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut mine = Outcome::default();
                let mut i = 0_u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let result = call(conn, i).await;
                    i += 1;
                    if t0 < start {
                        continue;
                    }
                    let micros = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                    mine.requests += 1;
                    mine.latencies_us.push(micros);
                    if let Err(kind) = result {
                        mine.errors += 1;
                        *mine.error_kinds.entry(kind).or_default() += 1;
                    }
                }
                mine
            })
        })
        .collect();
    let mut all = Outcome::default();
    for task in tasks {
        let mine = task.await.expect("a generator task");
        all.requests += mine.requests;
        all.errors += mine.errors;
        all.latencies_us.extend(mine.latencies_us);
        for (k, n) in mine.error_kinds {
            *all.error_kinds.entry(k).or_default() += n;
        }
    }
    // Requests still running at the deadline finish after it; the window is what it took.
    all.elapsed = start.elapsed().max(measure);
    all.latencies_us.sort_unstable();
    all
}

/// Ok for a 2xx; otherwise the status and the problem's `code`.
pub async fn check(resp: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match resp {
        Ok(r) if r.status().is_success() => {
            // Read the body: the server's work includes writing it.
            r.bytes().await.map(|_| ()).map_err(|e| format!("body: {e}"))
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let code = r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                .unwrap_or_default();
            Err(format!("{status} {code}"))
        }
        Err(e) if e.is_timeout() => Err("timeout".to_owned()),
        Err(e) if e.is_connect() => Err("connect".to_owned()),
        Err(_) => Err("transport".to_owned()),
    }
}
