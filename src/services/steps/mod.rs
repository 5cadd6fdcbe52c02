//! Step days: participants' uploads (manual and WeRun) judged in `ingest`, queued in `queue`
//! and stored by `store` (as admin imports and the simulator are); organisers' reviews.

pub mod imports;
pub mod ingest;
pub mod queue;
pub mod review;
pub mod simulate;
pub mod store;
