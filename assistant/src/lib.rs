//! The Hearth service and its command line: configuration, HTTP API, staff web UI, client
//! portal, authentication and authorisation, reminder scheduler, reply conversations, scribe job
//! worker, outbox dispatcher, and the mapping between the other crates' types.
//!
//! It must not contain inference or SQL details: those live in `models`/`scribe` and `store`.
