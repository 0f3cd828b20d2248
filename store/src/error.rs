//! The store's error type. Messages name tables, columns and ids only, never PHI, so an error can
//! be logged or shown as-is.

use std::path::PathBuf;

/// Everything a `Store` call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist, or exists in another practice or outside the caller's scope
    /// (deliberately indistinguishable, so ids of other practices cannot be probed).
    #[error("not found")]
    NotFound,
    /// A unique constraint failed; `field` is the column that must be unique.
    #[error("conflict: another record already has this {field}")]
    Conflict { field: String },
    /// The caller passed a value the store cannot accept; the message says how to fix it.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The operation is not allowed in the object's current state (e.g. editing a signed note).
    #[error("not allowed: {0}")]
    State(String),
    /// The client has no active consent of this kind, which the operation requires (an AI
    /// scribe job for a session recording or a transcript needs `ai_scribing`). Staff can fix
    /// it by recording the consent on the client's page.
    #[error("consent required: the client has no active {} consent; record it first", .kind.as_str())]
    ConsentRequired { kind: crate::consents::ConsentKind },
    /// Ciphertext did not authenticate: wrong key, or bytes moved between rows or columns.
    #[error("could not decrypt {table}.{column} of row {row_id}: the ciphertext does not belong to this row or the key is wrong")]
    Decrypt { table: &'static str, column: &'static str, row_id: String },
    /// The audit event could not be written or the audit chain is unusable; the call was
    /// rolled back (fail closed).
    #[error("audit log write failed, so the operation was rolled back: {0}")]
    Audit(String),
    /// Key file problems (missing, unsafe permissions, malformed).
    #[error("key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// The database refused or failed; `context` says what the store was doing.
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Running migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Opening the database failed; the message says what to do.
    #[error("cannot open database: {0}")]
    Open(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Tables whose names prefix PostgreSQL's default constraint names (`<table>_<column>_key`).
const TABLES: &[&str] = &[
    "staff_user", "practice", "client_share", "client", "auth_session", "appointment",
    "consent", "message", "note_version", "note", "outbox_message",
];

/// Adds context to a sqlx error; unique violations become `Conflict { field }`.
pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| {
        if let sqlx::Error::Database(e) = &source
            && e.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            return StoreError::Conflict { field: unique_field(e.constraint(), e.message()) };
        }
        StoreError::Database { context, source }
    }
}

/// PostgreSQL reports the constraint name (`staff_user_login_email_key`); SQLite reports
/// `UNIQUE constraint failed: staff_user.login_email`.
fn unique_field(constraint: Option<&str>, message: &str) -> String {
    if let Some(name) = constraint {
        let name = name.strip_suffix("_key").unwrap_or(name);
        for table in TABLES {
            if let Some(rest) = name.strip_prefix(table).and_then(|r| r.strip_prefix('_')) {
                return rest.to_owned();
            }
        }
        return name.to_owned();
    }
    message
        .rsplit(['.', ' '])
        .next()
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::unique_field;

    #[test]
    fn postgres_constraint_names_map_to_the_column() {
        assert_eq!(unique_field(Some("staff_user_login_email_key"), ""), "login_email");
        assert_eq!(unique_field(Some("client_share_pkey"), ""), "pkey");
    }

    #[test]
    fn sqlite_messages_map_to_the_column() {
        assert_eq!(
            unique_field(None, "UNIQUE constraint failed: staff_user.login_email"),
            "login_email"
        );
    }
}
