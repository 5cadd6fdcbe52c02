//! Identity: JWT keys and claims, request extractors, WeChat login, WeRun decryption and
//! organiser passwords.

pub mod extract;
pub mod jwt;
pub mod password;
pub mod wechat;
pub mod werun;

pub use extract::{MaybeAuth, Organiser, Participant};
