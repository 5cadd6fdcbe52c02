//! Leaderboards: the in-memory boards, ranked reads for organisers and screens, and a
//! participant's own views of where they stand.

pub mod cache;
pub mod leaderboard;
pub mod me;
pub mod scope;
