//! Black-box API tests: each test spawns the real server on a random port over its own
//! fresh database (SQLite file, or PostgreSQL when `TEST_DATABASE_URL` is set).

mod helpers;

mod events;
mod exports;
mod foundation;
mod leaderboards;
