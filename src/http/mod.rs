//! HTTP plumbing shared by the routes: problem+json errors, request extractors, rate limits,
//! time limits, metrics, the OpenAPI document, panic catching and the embedded web pages.

pub mod assets;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod panic;
pub mod ratelimit;
pub mod timeouts;
