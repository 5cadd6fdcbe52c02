//! longmarch: a backend for gamified step-to-mileage campaigns along the Long March.
//!
//! `main.rs` is only the CLI; everything else is here so that tests, the benchmark and the
//! binary share one `startup::Application`. Imports go one way: startup → routes → services →
//! (domain, models, db); `http` is the plumbing used by routes and startup.

pub mod cli;
pub mod db;
pub mod domain;
pub mod http;
pub mod http_client;
pub mod memory;
pub mod models;
pub mod routes;
pub mod services;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod workers;

pub use http::error::{ApiError, ApiResult};
