//! Entities (generated, in `_entities/`) and the query and mutation functions per table.
//! Functions take `db: &impl ConnectionTrait` so a connection and a transaction both fit.

#[path = "_entities/mod.rs"]
pub mod entities;

pub mod campaigns;
pub mod cohorts;
pub mod enrollments;
pub mod routes;

pub use entities::prelude::*;
pub use entities::*;
