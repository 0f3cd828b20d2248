//! The one error type of the HTTP API.
//!
//! Clients get a small JSON body `{"error": {"code", "message", "field"?, "request_id"}}`.
//! Internal errors show only a generic message and the request id; their cause chain travels in
//! the response extensions to the logging middleware ([`super::middleware::log_request`]), which
//! logs it once, with the request id, so staff can find it. Messages never contain PHI.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid session: sign in.
    #[error("sign in first")]
    Unauthenticated,
    /// Password accepted, but the second factor is still due.
    #[error("finish two-step sign-in with a code from your authenticator app")]
    SecondFactorRequired,
    /// Signed in but the account may not do this (e.g. no role).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Absent, or outside what the user may see (never 403 for objects).
    #[error("not found")]
    NotFound,
    /// A field failed validation.
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
    /// A uniqueness or state conflict on a field.
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// Too many attempts; try again after the delay.
    #[error("too many attempts; try again later")]
    TooManyRequests { retry_after: Duration },
    /// The body is bigger than the explicit limit.
    #[error("the request body is larger than {limit} bytes; send less")]
    PayloadTooLarge { limit: usize },
    /// Anything else: logged with its cause chain, shown generically.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unprocessable {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated | Error::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::SecondFactorRequired => "second_factor_required",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound => "not_found",
            Error::Unprocessable { .. } => "invalid_field",
            Error::Conflict { .. } => "conflict",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::Internal(_) => "internal",
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub request_id: String,
}

/// The cause chain of an internal error, carried to the logging middleware.
#[derive(Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let field = match &self {
            Error::Unprocessable { field, .. } | Error::Conflict { field, .. } => {
                Some(field.clone())
            }
            Error::PayloadTooLarge { .. } => Some("body".to_owned()),
            _ => None,
        };
        let message = match &self {
            Error::Unprocessable { message, .. } | Error::Conflict { message, .. } => message.clone(),
            Error::Internal(_) => "something went wrong on our side; nothing was changed. Quote the request id to your administrator".to_owned(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                field,
                request_id: super::middleware::current_request_id(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            Error::TooManyRequests { retry_after } => {
                // RFC 9110 §10.2.3: delay-seconds, rounded up so clients never retry early.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            Error::Internal(e) => {
                response.extensions_mut().insert(InternalCause(Arc::new(e)));
            }
            _ => {}
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_internal_error_shows_a_generic_message_and_keeps_the_cause_for_the_log() {
        let err = Error::Internal(
            anyhow::anyhow!("connection to 10.0.0.5 refused").context("loading client Dana Reyes"),
        );
        let r = err.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = r
            .extensions()
            .get::<InternalCause>()
            .expect("the cause is attached")
            .0
            .clone();
        assert!(format!("{cause:#}").contains("refused"));
        let body = body_json(r).await.to_string();
        assert!(
            !body.contains("Dana") && !body.contains("refused"),
            "{body}"
        );
        assert!(body.contains("request_id"));
    }

    #[tokio::test]
    async fn a_validation_error_is_422_naming_the_field() {
        let r = Error::field("phone", "enter a phone number").into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_json(r).await;
        assert_eq!(body["error"]["field"], "phone");
        assert_eq!(body["error"]["code"], "invalid_field");
    }

    #[tokio::test]
    async fn too_many_requests_carries_retry_after_in_whole_seconds() {
        let r = Error::TooManyRequests {
            retry_after: Duration::from_millis(61_500),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "62");
    }

    #[tokio::test]
    async fn not_found_and_conflict_have_their_statuses() {
        assert_eq!(
            Error::NotFound.into_response().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            Error::conflict("email", "taken").into_response().status(),
            StatusCode::CONFLICT
        );
    }
}
