//! Layers every response passes through: a request id, one log line per request (method, route
//! template, status, latency, request id, user id — never the raw path, query, body or cookies,
//! which can hold PHI), the cause chain of internal errors, and security headers.

use super::error::InternalCause;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::{Instrument, field};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header carrying the request id back to the client.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being handled, or `"none"` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "none".to_owned())
}

/// Records the signed-in user on the request's span, for the log line.
pub fn record_user(user_id: &impl std::fmt::Display) {
    tracing::Span::current().record("user_id", field::display(user_id));
}

/// Assigns a request id, runs the request in a span, and logs the outcome.
pub async fn log_request(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = request.method().clone();
    // The template (`/api/clients/{client_id}`), never the concrete path.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".into());
    let span = tracing::info_span!("request", %method, %route, request_id = %request_id, user_id = field::Empty);
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            next.run(request).instrument(span.clone()),
        )
        .await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_millis() as u64;
    let _entered = span.enter();
    if let Some(InternalCause(cause)) = response.extensions_mut().remove::<InternalCause>() {
        // `{:#}` prints the whole context chain; contexts are written to contain no PHI.
        tracing::error!(
            status,
            latency_ms,
            error = format!("{cause:#}"),
            "request failed"
        );
    } else if status >= 500 {
        tracing::error!(status, latency_ms, "request failed");
    } else {
        tracing::info!(status, latency_ms, "request");
    }
    response.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID_HEADER),
        HeaderValue::from_str(&request_id).expect("a simple uuid is a valid header value"),
    );
    response
}

/// Security headers on every response (OWASP HTTP Headers Cheat Sheet).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // API answers hold PHI: never cache them anywhere (RFC 9111 §5.2.2.5).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A handler may set a policy of its own (the portal's pages allow posting forms to self).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
