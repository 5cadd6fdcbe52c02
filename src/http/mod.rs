//! HTTP plumbing shared by the routes: middleware that is not about one feature, and the
//! embedded web pages.

pub mod assets;
pub mod panic;
