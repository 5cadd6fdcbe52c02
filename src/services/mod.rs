//! Use-cases by feature, each a folder. Handlers call exactly one of these; a service never
//! imports actix.
//!
//! - `identity`: logins (WeChat, organiser passwords), tokens, WeRun decryption, session keys,
//!   the participant's profile and erasure
//! - `campaigns`: campaigns as participants see them, joining, route documents, the campaign
//!   cache, the demo seed
//! - `steps`: storing step days (uploads, the upload queue, imports, simulation, reviews)
//! - `progress`: positions, unlocks and cohort totals from stored steps
//! - `boards`: leaderboards, the in-memory boards and a participant's own views
//! - `admin`: organisers' campaigns, cohorts and rosters, routes, access and audit
//! - `reports`: statistics and exports
//! - `live`: the event hub behind the big screen's stream
//! - `wechat`, `certificates`: WeChat's server API and the certificates built on it

pub mod admin;
pub mod boards;
pub mod campaigns;
pub mod certificates;
pub mod identity;
pub mod live;
pub mod progress;
pub mod reports;
pub mod steps;
pub mod wechat;
