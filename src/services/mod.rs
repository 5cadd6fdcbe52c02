//! Use-cases that combine models in transactions. Handlers call exactly one of these.

pub mod campaigns;
pub mod organisers;
pub mod routes;
pub mod seed;
