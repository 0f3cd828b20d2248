//! The Hearth service and its command line: configuration, HTTP API, staff web UI, client
//! portal, authentication and authorisation, reminder scheduler, reply conversations, scribe job
//! worker, outbox dispatcher, and the mapping between the other crates' types.
//!
//! It must not contain inference or SQL details: those live in `models`/`scribe` and `store`.

/// Wiring: store opening, shared state, serving with graceful shutdown.
pub mod app;
/// Staff sign-in: passwords, TOTP, recovery codes, session cookies.
pub mod auth;
/// Who may do what: the access policy table.
pub mod authz;
/// The `hearth` command line definition.
pub mod cli;
/// What each `hearth` subcommand does.
pub mod commands;
/// Layered settings: defaults, file, environment.
pub mod config;
/// The fictional demo practice.
pub mod demo;
/// The messaging gateway's transport: outbox dispatcher, provider webhooks.
pub mod gateway;
/// Validated values from the outside world: phone numbers, time zones, e-mail addresses.
pub mod domain;
/// The JSON API: router, middleware, errors.
pub mod http;
/// `hearth models pull`: resumable, checksum-verified model downloads.
pub mod model_download;
/// `hearth models list|pull` and `hearth scribe transcribe`.
pub mod model_commands;
/// Secure messages: staff routes and the client portal.
pub mod portal;
/// Appointment reminders: scheduler, templates, telehealth links, their staff routes.
pub mod reminders;
/// Reply conversations: confirm, reschedule, cancel by menu, staff inbox, waitlist.
pub mod replies;
/// `hearth scribe draft|run`: progress-note drafts from the command line.
pub mod scribe_commands;
/// The scribe job worker: transcript and draft for queued jobs.
pub mod scribe_worker;
/// Logging setup and span-carrying blocking tasks.
pub mod telemetry;
/// The staff web app (server-rendered pages under /app).
pub mod web;
