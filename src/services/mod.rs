//! Use-cases that combine models in transactions. Handlers call exactly one of these.

pub mod access;
pub mod campaigns;
pub mod events;
pub mod export;
pub mod identity;
pub mod ingest;
pub mod leaderboard;
pub mod me;
pub mod organisers;
pub mod progress;
pub mod routes;
pub mod seed;
pub mod stats;
