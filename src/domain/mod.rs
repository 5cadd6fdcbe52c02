//! Pure rules of the game: no I/O, no database, no clock. Services do the I/O around them.

pub mod conversion;
pub mod days;
pub mod geo;
pub mod paging;
pub mod progress;
pub mod ranking;
