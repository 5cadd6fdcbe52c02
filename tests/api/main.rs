//! Black-box API tests: each test spawns the real server on a random port over its own
//! fresh database (SQLite file, or PostgreSQL when `TEST_DATABASE_URL` is set).

mod helpers;
mod wechat_mock;

mod admin_campaigns;
mod admin_cohorts;
mod admin_imports;
mod admin_review;
mod admin_support;
mod api_spec;
mod authz;
mod backup;
mod bench_smoke;
mod caches;
mod cli;
mod cohort_dates;
mod console_support;
mod corrections_race;
mod erasure;
mod events;
mod exports;
mod faults;
mod foundation;
mod hostile_integers;
mod identity;
mod instances;
mod leaderboards;
mod limits;
mod logs;
mod migrations;
mod props;
mod screen_page;
mod settings;
mod shutdown;
mod sql_rules;
mod station_coordinates;
mod steps;
mod upload_queue;
mod web_assets;
mod wechat_platform;
mod werun_tamper;
