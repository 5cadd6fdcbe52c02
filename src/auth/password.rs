//! Organiser passwords: Argon2id with the crate's defaults, hashed and verified on the
//! blocking pool so a login never stalls the async workers.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

/// Shortest password accepted for an organiser account.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Hashes a password (PHC string).
///
/// # Errors
/// When hashing fails or the blocking task is cancelled.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
    })
    .await?
}

/// Verifies a password against a stored PHC hash. With no stored hash (unknown user) it
/// verifies against a fixed dummy hash, so both failures take about the same time.
///
/// # Errors
/// When the blocking task is cancelled.
pub async fn verify(stored: Option<String>, password: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = PasswordHash::new(&phc)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        known && ok
    })
    .await
    .map_err(Into::into)
}

/// Argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K0Kk7VvYQ3j0h4b5mJk6l8wAbCt3oYcJxJmYbq0o5hE";
