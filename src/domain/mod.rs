//! Pure rules of the game: no I/O, no database, no clock. Services do the I/O around them.
//! Where a set-based statement must repeat a rule in SQL, the fragment is built beside the
//! rule as a sea-query expression (built here, run by the services).

pub mod cohort_tree;
pub mod conversion;
pub mod days;
pub mod geo;
pub mod names;
pub mod paging;
pub mod percent;
pub mod progress;
pub mod ranking;
pub mod states;
pub mod step_day;
