//! How to open a store: the database URL, the key file, and whether a missing database and key
//! file may be created (never implied, so a mistyped path fails instead of starting empty).

use std::path::PathBuf;

/// Settings for [`crate::Store::open`]. `Debug` hides a password in the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://path/to/hearth.db` or `postgres://user@host:5432/db`.
    pub database_url: String,
    /// The key file (created with mode 0600 when `create_if_missing`).
    pub key_file: PathBuf,
    /// Create the SQLite file and the key file when missing (first run only).
    pub create_if_missing: bool,
}

/// Pool size for PostgreSQL; SQLite has one writer anyway.
pub const PG_MAX_CONNECTIONS: u32 = 10;
/// How long opening PostgreSQL waits for a connection before reporting it unreachable.
pub const PG_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// SQLite connections (readers share the WAL; writes serialise on BEGIN IMMEDIATE).
pub const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// How long a SQLite writer waits for the lock before failing with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("database_url", &redact_password(&self.database_url))
            .field("key_file", &self.key_file)
            .field("create_if_missing", &self.create_if_missing)
            .finish()
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_database_password() {
        let c = StoreConfig { database_url: "postgres://hearth:hunter2@db:5432/hearth".into(), key_file: "k".into(), create_if_missing: false };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && shown.contains("hearth:***@db"), "{shown}");
        assert_eq!(redact_password("sqlite://data/hearth.db"), "sqlite://data/hearth.db");
    }
}
