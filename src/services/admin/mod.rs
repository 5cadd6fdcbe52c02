//! What organisers set up and look after: campaigns, cohorts and rosters, routes, who may see a
//! campaign, and the audit log of their changes.

pub mod access;
pub mod audit;
pub mod campaigns;
pub mod cohorts;
pub mod csv_lines;
pub mod route_catalog;
