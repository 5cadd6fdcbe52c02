//! Storing step days: participants' uploads (manual and WeRun) through the upload queue, admin
//! imports, simulation and organisers' reviews.

pub mod imports;
pub mod ingest;
pub mod queue;
pub mod review;
pub mod simulate;
