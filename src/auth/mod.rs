//! Identity: JWT keys and claims, request extractors, WeChat login, WeRun decryption and
//! organiser passwords.

pub mod password;
pub mod werun;
