//! Staff passwords, hashed with Argon2id at or above the OWASP Password Storage Cheat Sheet
//! minimum (m = 19 MiB, t = 2, p = 1). Hashing runs on the blocking pool, carrying the span.

use crate::telemetry::spawn_blocking_with_tracing;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;

/// OWASP minimum memory cost for Argon2id, in KiB.
pub const MEMORY_KIB: u32 = 19_456;
/// OWASP minimum iterations at that memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;
/// Shortest password we accept (NIST SP 800-63B §3.1.1.2: at least 8; we ask for more).
pub const MIN_LEN: usize = 12;
/// Longest password we hash, so a huge body cannot tie up a core.
pub const MAX_LEN: usize = 256;

/// Errors from hashing or checking a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_LEN} characters; a phrase of several words is easiest")]
    TooShort,
    #[error("a password can have at most {MAX_LEN} characters")]
    TooLong,
    #[error("the stored password hash is unreadable; an administrator must reset this password")]
    StoredHashInvalid,
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    #[error("the password hashing task stopped unexpectedly")]
    TaskFailed(#[from] tokio::task::JoinError),
}

/// What a password check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Matches,
    DoesNotMatch,
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the OWASP Argon2id parameters are within argon2's limits");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A real hash of a random password, verified against when the user does not exist so that an
/// unknown e-mail takes as long as a wrong password (no account enumeration by timing).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hasher()
        .hash_password(uuid::Uuid::new_v4().as_bytes())
        .expect("hashing 16 random bytes with valid parameters cannot fail")
        .to_string()
});

/// Checks length limits before any hashing.
pub fn check_policy(password: &SecretString) -> Result<(), PasswordError> {
    let n = password.expose_secret().chars().count();
    if n < MIN_LEN {
        Err(PasswordError::TooShort)
    } else if password.expose_secret().len() > MAX_LEN {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// Hashes a new password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    check_policy(&password)?;
    spawn_blocking_with_tracing(move || {
        hasher()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    })
    .await?
}

/// Verifies `password` against `stored`; with `None` (no such user) verifies against a dummy
/// hash and reports `DoesNotMatch`, taking the same time.
pub async fn verify(
    password: SecretString,
    stored: Option<String>,
) -> Result<PasswordCheck, PasswordError> {
    if password.expose_secret().len() > MAX_LEN {
        return Ok(PasswordCheck::DoesNotMatch);
    }
    spawn_blocking_with_tracing(move || {
        let user_exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        // Parameters come from the PHC string, so older hashes keep verifying after a change.
        match hasher().verify_password(password.expose_secret().as_bytes(), hash.as_str()) {
            Ok(()) if user_exists => Ok(PasswordCheck::Matches),
            Ok(()) => Ok(PasswordCheck::DoesNotMatch),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(PasswordCheck::DoesNotMatch),
            Err(_) => Err(PasswordError::StoredHashInvalid),
        }
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_different_one_does_not() {
        let h = hash(secret("correct horse battery")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(
            verify(secret("correct horse battery"), Some(h.clone()))
                .await
                .unwrap(),
            PasswordCheck::Matches
        );
        assert_eq!(
            verify(secret("correct horse batterY"), Some(h))
                .await
                .unwrap(),
            PasswordCheck::DoesNotMatch
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches() {
        assert_eq!(
            verify(secret("anything at all"), None).await.unwrap(),
            PasswordCheck::DoesNotMatch
        );
    }

    #[tokio::test]
    async fn the_same_password_gets_a_different_salt_each_time() {
        let a = hash(secret("same password twice")).await.unwrap();
        let b = hash(secret("same password twice")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn short_and_huge_passwords_are_refused_before_hashing() {
        assert!(matches!(
            hash(secret("short")).await,
            Err(PasswordError::TooShort)
        ));
        assert!(matches!(
            hash(secret(&"x".repeat(MAX_LEN + 1))).await,
            Err(PasswordError::TooLong)
        ));
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_error_not_a_match() {
        let r = verify(secret("whatever password"), Some("not-a-phc-string".into())).await;
        assert!(matches!(r, Err(PasswordError::StoredHashInvalid)));
    }
}
