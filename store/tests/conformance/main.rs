//! The store conformance suite: every operation against SQLite and PostgreSQL.
//! PostgreSQL comes from HEARTH_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
//! if it is unreachable the PostgreSQL tests fail with instructions, they are never skipped.

mod common;

mod audit;
mod clients;
mod inbound;
mod jobs;
mod encryption;
mod notes;
mod opening;
mod outbox;
mod psychotherapy_notes;
mod records;
mod reminders;
mod replies;
