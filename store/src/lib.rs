//! Persistence for Hearth on SQLite (the embedded default) and PostgreSQL (scale-out):
//! migrations, records and queries, envelope encryption of PHI at rest, the hash-chained audit
//! log, the outbox and the job queue.
//!
//! It must not know about HTTP or messaging channels.
//!
//! Every method that reads or writes PHI takes an [`Actor`] and writes its audit event in the
//! same transaction as the work; if the audit write fails the call fails and returns nothing.
//! Every query is scoped to the actor's practice: another practice's object is `NotFound`.

/// Typed ids for every table key.
pub mod ids;
/// Parsed values shared with the assistant (E.164 phone, IANA zone, email).
pub mod types;
/// The error enum.
pub mod error;
/// Opening settings.
pub mod config;
/// The key file: KEKs, blind-index key, audit key.
pub mod keyfile;
/// Envelope encryption (XChaCha20-Poly1305, per-record data keys).
mod crypto;
/// Keyed blind indexes for name and phone lookup.
pub mod blind_index;
/// Portable SQL over both backends.
mod db;
/// The hash-chained audit log.
pub mod audit;
/// Master key rotation.
mod rotation;
/// Practices (tenants).
pub mod practice;
/// Staff users, roles, TOTP and recovery codes.
pub mod users;
/// TOTP secrets, the replay guard and recovery codes.
pub mod second_factor;
/// Login sessions (hashed tokens) and the shared auth throttle.
pub mod sessions;
/// Clients and their contacts.
pub mod clients;
/// `ClientScope` (visibility in SQL) and explicit client shares.
pub mod scope;
/// Appointments and their status history.
pub mod appointments;
/// Clinician availability: weekly slots and exceptions.
pub mod availability;
/// Consents: texting, AI scribing, 42 CFR Part 2 disclosure.
pub mod consents;
/// Client message threads.
pub mod messages;
/// Clinical notes, versions, signatures and addenda.
pub mod notes;

use std::{
    str::FromStr,
    sync::{Arc, RwLock},
};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use audit::{Actor, AuditAction, AuditEvent, AuditReport, Outcome, TamperDetail};
pub use clients::ClientScope;
pub use rotation::RotationReport;
pub use config::StoreConfig;
pub use error::{Result, StoreError};
pub use ids::*;
pub use types::{E164, EmailAddress, TimeZoneName};

use crate::{
    db::{Pool, Sql, Tx},
    keyfile::Keyring,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: a connection pool plus the keys. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    keys: Arc<RwLock<Arc<Keyring>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database and the key file. SQLite runs in WAL mode with foreign keys on,
    /// `synchronous=FULL` (a committed change may already have triggered an SMS, so it must
    /// survive power loss) and a busy timeout. Does not migrate: call [`Store::migrate`].
    pub async fn open(config: &StoreConfig) -> Result<Self> {
        let keys = Keyring::load_or_create(&config.key_file, config.create_if_missing)?;
        let url = config.database_url.as_str();
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Open(format!("bad SQLite URL: {e}")))?
                .create_if_missing(config.create_if_missing)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(config::SQLITE_BUSY_TIMEOUT);
            let path = opts.get_filename().to_owned();
            if !config.create_if_missing && !path.exists() {
                return Err(StoreError::Open(format!(
                    "no SQLite database at {}; check database_url, or set create_if_missing on first run",
                    path.display()
                )));
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(config::SQLITE_MAX_CONNECTIONS)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Open(format!("SQLite at {}: {e}", path.display())))?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Open(format!("bad PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(config::PG_MAX_CONNECTIONS)
                .acquire_timeout(config::PG_CONNECT_TIMEOUT)
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Open(format!("PostgreSQL is unreachable ({e}); is the server running?")))?;
            Pool::Pg(pool)
        } else {
            return Err(StoreError::Open(
                "database_url must start with sqlite:// or postgres://".to_owned(),
            ));
        };
        Ok(Self { pool, keys: Arc::new(RwLock::new(Arc::new(keys))) })
    }

    /// Applies pending migrations, then checks that the key file holds every master key that
    /// wraps stored data (a fresh key file next to an old database would make PHI unreadable).
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Pool::Pg(p) => PG_MIGRATIONS.run(p).await?,
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(Sql::new("SELECT DISTINCT kek_id FROM data_key"), "listing master key ids").await?;
        for r in rows {
            let id: String = r.get("kek_id")?;
            if keys.kek(&id).is_none() {
                return Err(StoreError::Key {
                    path: keys.path.clone(),
                    reason: format!("lacks master key {id}, which wraps data in this database; use the key file that belongs to this database"),
                });
            }
        }
        tx.commit().await
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// Closes the pool (SQLite checkpoints the WAL as the last connection closes).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Appends an audit event by itself, e.g. for a denied attempt or a login.
    pub async fn append_audit(&self, actor: &Actor, action: &AuditAction) -> Result<i64> {
        let keys = self.keys();
        let mut tx = self.begin().await.map_err(|e| StoreError::Audit(e.to_string()))?;
        let seq = audit::append(&mut tx, &keys, actor, action).await?;
        tx.commit().await.map_err(|e| StoreError::Audit(e.to_string()))?;
        Ok(seq)
    }

    /// Walks the whole audit chain and the head; see [`AuditReport`].
    pub async fn verify_audit(&self) -> Result<AuditReport> {
        audit::verify(&self.pool, &self.keys()).await
    }

    /// Audit events about one object, oldest first, within the actor's practice (for accounting
    /// of disclosures, 45 CFR 164.528). Reading the log is itself audited.
    pub async fn audit_events_for_object(&self, actor: &Actor, object_type: &str, object_id: &str) -> Result<Vec<AuditEvent>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!(
                    "SELECT {} FROM audit_event WHERE practice_id = $1 AND object_type = $2 AND object_id = $3 ORDER BY seq",
                    audit::EVENT_COLUMNS
                ))
                .bind(actor.practice_id)
                .bind(object_type)
                .bind(object_id),
                "reading audit events",
            )
            .await?;
        let events = rows.iter().map(audit::event_from_row).collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "audit.read", object_type, Some(object_id.to_owned())).await?;
        tx.commit().await?;
        Ok(events)
    }

    fn keys(&self) -> Arc<Keyring> {
        self.keys.read().expect("keyring lock is never held across a panic").clone()
    }

    async fn begin(&self) -> Result<Tx> {
        self.pool.begin().await
    }

    /// Writes the successful-access audit event for this call inside its transaction.
    async fn audit(&self, tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, object_type: &str, object_id: Option<String>) -> Result<i64> {
        let a = AuditAction { action: action.to_owned(), object_type: object_type.to_owned(), object_id, outcome: Outcome::Ok };
        audit::append(tx, keys, actor, &a).await
    }
}
