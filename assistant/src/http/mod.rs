//! The HTTP API: the router, its layers and the error type. Each capability module exposes
//! `router()` and this module merges them.

pub mod appointments;
pub mod availability;
pub mod client_input;
pub mod clients;
pub mod error;
pub mod extract;
/// `/` for a person with a browser, `/health` for monitors.
pub mod home;
pub mod middleware;
pub mod openapi;
pub mod records;
pub mod scribe_jobs;
pub mod records_policy;
pub mod sign_in;
pub mod throttle;
pub mod users;

pub use error::{ApiResult, Error};

use crate::app::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;

/// Largest JSON body accepted by the API; larger requests get 413 naming the limit.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Every route, with the layers every response passes through.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(home::router())
        .merge(sign_in::router())
        .merge(clients::router())
        .merge(appointments::router())
        .merge(records::router())
        .merge(availability::router())
        .merge(users::router())
        .merge(crate::reminders::router())
        .merge(crate::replies::router())
        .merge(crate::portal::router())
        .merge(openapi::router())
        .merge(crate::gateway::webhooks::router())
        .merge(crate::gateway::staff::router())
        .merge(crate::web::router())
        .merge(scribe_jobs::router())
        .merge(records_policy::router())
        .fallback(|| async { Error::NotFound })
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::log_request))
        .with_state(state)
}
