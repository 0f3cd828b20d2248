//! The front door: `/` tells a person who opens Hearth in a browser what is running and where
//! the API is, and `/health` answers load balancers and monitors. Neither touches PHI.

use crate::app::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home)).route("/health", get(health))
}

/// Plain HTML with no scripts, styles or external resources, so it works offline under the
/// strict Content-Security-Policy every response carries.
async fn home() -> impl IntoResponse {
    const PAGE: &str = concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>Hearth</title></head><body><main>",
        "<h1>Hearth is running</h1>",
        "<p>This is your practice's Hearth server. The staff API is at <code>/api/</code>; ",
        "its description is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
        "<p>Staff sign in with their e-mail, password and authenticator code. ",
        "Ask your administrator if you do not have an account.</p>",
        "</main></body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// Liveness for monitors: the process is up and serving.
async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], "{\"status\":\"ok\"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn the_home_page_is_self_contained_html() {
        let response = home().await.into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("/api/openapi.json"));
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("<script"));
    }

    #[tokio::test]
    async fn health_says_ok() {
        let body = to_bytes(health().await.into_response().into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"{\"status\":\"ok\"}");
    }
}
