//! What organisers take away: campaign statistics and CSV exports.

pub mod export;
pub mod stats;
