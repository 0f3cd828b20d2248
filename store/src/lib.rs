//! Persistence for Hearth on SQLite (the embedded default) and PostgreSQL (scale-out):
//! migrations, records and queries, envelope encryption of PHI at rest, the hash-chained audit
//! log, the outbox and the job queue.
//!
//! It must not know about HTTP or messaging channels.
