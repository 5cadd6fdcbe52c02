//! Tracing setup: JSON lines in production, human-readable output elsewhere.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::settings::LogSettings;

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `log.level`.
/// Calling it twice is harmless (the second call is ignored), which tests rely on.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if settings.format == "json" {
        registry
            .with(fmt::layer().json().with_current_span(true).with_span_list(false))
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // An already installed subscriber (a second app in one test process) is fine.
    drop(result);
}
