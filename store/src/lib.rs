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
/// Psychotherapy notes (45 CFR 164.501): apart from the record, under their own keys, readable
/// only by their author and the author's supervisor.
pub mod psychotherapy_notes;
/// The outbox: outbound messages written with the change that caused them, claimed and sent
/// by the dispatcher, with retries, leases, reconciliation and delivery status.
pub mod outbox;
/// Channel opt-outs (STOP until START), checked by every outbox claim.
pub mod opt_out;
/// Reminder rules, planned reminder rows, templates, telehealth links, the scheduler's tick.
pub mod reminders;
/// Inbound messages for the staff inbox, deduplicated by provider id.
pub mod inbound;
/// One-time Telegram `/start` links that connect a client's chat.
pub mod telegram_link;
/// Reply conversations: one inbound message as one transaction, the staff inbox alerts, the waitlist.
pub mod replies;
/// Secure messages in the client portal: single-use links, the second factor, portal
/// sessions, read receipts, replies.
pub mod portal;
/// Scribe jobs: sealed inputs, transcripts and drafts, claimed by scribe workers with leases,
/// the review queue, and audio and transcript retention.
pub mod jobs;

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
        // Which KEK new data keys must use: always present, so `RecordKey::create` can lock it
        // against a concurrent rotation (see crypto.rs). On an interrupted rotation the file's
        // active KEK is the new one, which is what this records.
        tx.execute(
            Sql::new("INSERT INTO key_state (key_state_id, active_kek_id, updated_at) VALUES (1, $1, $2) ON CONFLICT (key_state_id) DO NOTHING")
                .bind(keys.active().0)
                .bind(crate::types::now()),
            "recording the active master key",
        )
        .await?;
        audit::create_genesis_head(&mut tx, &keys).await?;
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

    /// Appends several events by themselves in one transaction, in order (e.g. importing a
    /// batch of login attempts); at most [`audit::MAX_AUDIT_BATCH`]. Returns their seqs. The
    /// chain is the same as from one `append_audit` per action; it is just fewer commits.
    pub async fn append_audit_batch(&self, actor: &Actor, actions: &[AuditAction]) -> Result<Vec<i64>> {
        let keys = self.keys();
        let mut tx = self.begin().await.map_err(|e| StoreError::Audit(e.to_string()))?;
        let seqs = audit::append_many(&mut tx, &keys, actor, actions).await?;
        tx.commit().await.map_err(|e| StoreError::Audit(e.to_string()))?;
        Ok(seqs)
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

    /// Writes one successful-access event per object (a listing) inside the call's
    /// transaction, reading and advancing the audit head once.
    async fn audit_each(&self, tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, object_type: &str, ids: impl Iterator<Item = String>) -> Result<()> {
        let actions: Vec<AuditAction> =
            ids.map(|id| AuditAction { action: action.to_owned(), object_type: object_type.to_owned(), object_id: Some(id), outcome: Outcome::Ok }).collect();
        audit::append_many(tx, keys, actor, &actions).await.map(|_| ())
    }

    /// Writes the successful-access audit event for this call inside its transaction.
    async fn audit(&self, tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, object_type: &str, object_id: Option<String>) -> Result<i64> {
        let a = AuditAction { action: action.to_owned(), object_type: object_type.to_owned(), object_id, outcome: Outcome::Ok };
        audit::append(tx, keys, actor, &a).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlx runs the connect options' PRAGMAs on every new connection (sqlx-sqlite
    /// `options/connect.rs`); this checks it on every connection the pool can hold at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_pooled_sqlite_connection_has_wal_full_sync_foreign_keys_and_the_busy_timeout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig {
            database_url: format!("sqlite://{}", dir.path().join("hearth.db").display()),
            key_file: dir.path().join("keys.json"),
            create_if_missing: true,
        };
        let store = Store::open(&config).await.expect("open");
        let Pool::Sqlite(pool) = &store.pool else { panic!("a sqlite:// URL opens SQLite") };
        let mut held = Vec::new();
        for _ in 0..config::SQLITE_MAX_CONNECTIONS {
            let mut conn = pool.acquire().await.expect("connection");
            let pragma = |name: &'static str| format!("PRAGMA {name}");
            let mode: String = sqlx::query_scalar(sqlx::AssertSqlSafe(pragma("journal_mode"))).fetch_one(&mut *conn).await.expect("journal_mode");
            let sync: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(pragma("synchronous"))).fetch_one(&mut *conn).await.expect("synchronous");
            let fk: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(pragma("foreign_keys"))).fetch_one(&mut *conn).await.expect("foreign_keys");
            let busy: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(pragma("busy_timeout"))).fetch_one(&mut *conn).await.expect("busy_timeout");
            assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1), "WAL, synchronous=FULL (2), foreign keys on");
            assert_eq!(busy, config::SQLITE_BUSY_TIMEOUT.as_millis() as i64);
            held.push(conn);
        }
        assert_eq!(held.len() as u32, config::SQLITE_MAX_CONNECTIONS, "each check ran on a distinct connection");
        drop(held);
        store.close().await;
    }
}
