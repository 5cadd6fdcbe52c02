//! Black-box API tests: each test spawns the real server on a random port over its own
//! fresh database (SQLite file, or PostgreSQL when `TEST_DATABASE_URL` is set).

mod helpers;
mod wechat_mock;

mod admin_campaigns;
mod admin_cohorts;
mod admin_imports;
mod admin_review;
mod admin_support;
mod authz;
mod bench_smoke;
mod caches;
mod cli;
mod cohort_dates;
mod events;
mod exports;
mod faults;
mod foundation;
mod identity;
mod leaderboards;
mod limits;
mod logs;
mod migrations;
mod props;
mod settings;
mod shutdown;
mod steps;
mod upload_queue;
mod werun_tamper;
