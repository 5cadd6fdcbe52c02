//! Entities in the shape `sea-orm-cli generate entity` writes them from the migrations.
//! Behaviour lives beside them in `models/<table>.rs`; keep these files plain.

pub mod prelude;

pub mod audit_log;
pub mod campaign_days;
pub mod campaign_grants;
pub mod campaigns;
pub mod certificates;
pub mod cohort_days;
pub mod cohorts;
pub mod enrollments;
pub mod join_qrcodes;
pub mod organisers;
pub mod participants;
pub mod reminder_claims;
pub mod roster_entries;
pub mod routes;
pub mod stations;
pub mod step_days;
pub mod subscription_credits;
pub mod unlocks;
pub mod wechat_tokens;
