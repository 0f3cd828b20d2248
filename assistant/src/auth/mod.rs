//! Staff authentication: Argon2id passwords, TOTP second factor with replay guard, recovery
//! codes, and session cookies with idle and absolute timeouts.

pub mod password;
pub mod recovery;
pub mod session;
pub mod totp;
