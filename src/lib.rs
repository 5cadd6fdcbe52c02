//! longmarch: a backend for gamified step-to-mileage campaigns along the Long March.
//!
//! `main.rs` is only the CLI; everything else is here so that tests, the benchmark and the
//! binary share one `startup::Application`.

pub mod auth;
pub mod cli;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod http_client;
pub mod memory;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod services;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod timeouts;
pub mod workers;

pub use error::{ApiError, ApiResult};
