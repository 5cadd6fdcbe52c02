//! Organiser passwords: Argon2id with the crate's defaults, hashed and verified on the
//! blocking pool so a login never stalls the async workers.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Shortest password accepted for an organiser account.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Hashes a password (PHC string).
///
/// # Errors
/// When hashing fails or the blocking task is cancelled.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        // A random 16-byte salt from the operating system.
        Argon2::default()
            .hash_password(password.as_bytes())
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
        // A stored hash that does not parse fails like a wrong password.
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok();
        known && ok
    })
    .await
    .map_err(Into::into)
}

/// Argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K0Kk7VvYQ3j0h4b5mJk6l8wAbCt3oYcJxJmYbq0o5hE";

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of "correct horse battery" as argon2 0.5 wrote it: hashes stored before the
    /// upgrade to 0.6 must keep verifying.
    const STORED_BY_ARGON2_0_5: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$bdrbtbbf3+QYcmu1lPHgDg$viXzGVqptxOWVhrHnRaFpjcoL2f526Nf/5pwTU9ajOg";

    async fn check(stored: Option<&str>, password: &str) -> bool {
        verify(stored.map(str::to_owned), password.to_owned()).await.unwrap()
    }

    #[tokio::test]
    async fn a_hash_stored_by_an_earlier_release_still_verifies() {
        assert!(check(Some(STORED_BY_ARGON2_0_5), "correct horse battery").await);
        assert!(!check(Some(STORED_BY_ARGON2_0_5), "correct horse battery!").await);
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_phc_strings_with_the_default_parameters() {
        let password = "a password of ten";
        let first = hash(password.to_owned()).await.unwrap();
        let second = hash(password.to_owned()).await.unwrap();
        assert_ne!(first, second, "each hash has its own salt");
        let fields: Vec<&str> = first.split('$').collect();
        assert_eq!(fields[..4], ["", "argon2id", "v=19", "m=19456,t=2,p=1"], "{first}");
        // 16 bytes of salt and 32 of hash, in unpadded base64.
        assert_eq!((fields[4].len(), fields[5].len()), (22, 43), "{first}");
        assert!(check(Some(&first), password).await);
        assert!(!check(Some(&first), "another password").await);
    }

    #[tokio::test]
    async fn an_unknown_user_or_a_malformed_hash_never_verifies() {
        assert!(!check(None, "anything at all").await);
        assert!(!check(Some("not a PHC string"), "anything at all").await);
        assert!(!check(Some(""), "").await);
    }
}
