//! Use-cases that combine models in transactions. Handlers call exactly one of these.

pub mod access;
pub mod admin_campaigns;
pub mod admin_cohorts;
pub mod admin_routes;
pub mod audit;
pub mod board_cache;
pub mod campaign_cache;
pub mod campaigns;
pub mod csv_lines;
pub mod events;
pub mod export;
pub mod identity;
pub mod imports;
pub mod ingest;
pub mod leaderboard;
pub mod me;
pub mod organisers;
pub mod progress;
pub mod review;
pub mod routes;
pub mod seed;
pub mod session_keys;
pub mod simulate;
pub mod stats;
pub mod upload_queue;
