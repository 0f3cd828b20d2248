//! The staff web app under `/app`: server-rendered pages (minijinja templates compiled into the
//! binary, autoescaped), one small script and one stylesheet served from the binary, no fonts,
//! CDNs or front-end build. Every page carries a Content-Security-Policy that allows only this
//! origin's script and style, `Cache-Control: no-store` (pages hold PHI), and every form a CSRF
//! token: `hex(SHA-256("staff-csrf|" + session secret))`, compared in constant time (OWASP CSRF
//! Cheat Sheet, synchronizer token without server state). Before sign-in, the login form uses a
//! double-submit cookie instead. Authorisation is the API's: pages call the same store functions
//! with the scope [`crate::http::extract::Staff::authorize`] returns.

use std::sync::LazyLock;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Environment, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::http::Error;
use crate::http::extract::Staff;

/// Sign-in, two-factor and sign-out pages.
pub mod auth;
/// The home page: today's schedule and waiting messages.
pub mod home;
/// Scribe pages: new draft, progress, review queue, review.
pub mod scribe;
/// The note page (edit, sign, co-sign, return, addenda, versions) and the co-sign queue.
pub mod notes;
/// Client list and client page (what the role may see only), consents.
pub mod clients;
/// Psychotherapy notes, in a tab of their own.
pub mod psychotherapy;

/// This origin's script and style only; forms post only here; nothing frames the app.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("login.html", include_str!("../../templates/login.html")),
        ("two_factor.html", include_str!("../../templates/two_factor.html")),
        ("home.html", include_str!("../../templates/home.html")),
        ("error.html", include_str!("../../templates/error.html")),
        ("scribe_new.html", include_str!("../../templates/scribe_new.html")),
        ("scribe_job.html", include_str!("../../templates/scribe_job.html")),
        ("review_queue.html", include_str!("../../templates/review_queue.html")),
        ("review.html", include_str!("../../templates/review.html")),
        ("note.html", include_str!("../../templates/note.html")),
        ("cosign_queue.html", include_str!("../../templates/cosign_queue.html")),
        ("clients.html", include_str!("../../templates/clients.html")),
        ("client.html", include_str!("../../templates/client.html")),
        ("psychotherapy_notes.html", include_str!("../../templates/psychotherapy_notes.html")),
        ("psychotherapy_note.html", include_str!("../../templates/psychotherapy_note.html")),
    ] {
        env.add_template(name, src).expect("the built-in templates parse (checked by a unit test)");
    }
    env
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/static/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../../static/app.css")) }))
        .route("/app/static/app.js", get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../static/app.js")) }))
        .merge(auth::router())
        .merge(home::router())
        .merge(scribe::router())
        .merge(notes::router())
        .merge(clients::router())
        .merge(psychotherapy::router())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    // Assets hold no PHI; they may be cached for a short while.
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    r
}

/// Renders `template` with `ctx` as a whole page with the app's headers.
pub fn render(status: StatusCode, template: &str, ctx: Value) -> Response {
    let html = TEMPLATES.get_template(template).and_then(|t| t.render(ctx));
    match html {
        Ok(html) => with_headers((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()),
        Err(e) => {
            tracing::error!(template, error = %e, "a page failed to render");
            with_headers((StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "This page could not be shown. Try again; if it keeps happening, tell your administrator.").into_response())
        }
    }
}

fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The CSRF token for a signed-in (or half signed-in) session secret.
pub fn csrf_for(session_secret: &str) -> String {
    hex::encode(Sha256::digest(format!("staff-csrf|{session_secret}").as_bytes()))
}

/// Whether `offered` is the CSRF token of the request's session.
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, offered: &str) -> bool {
    match state.cookies.read(headers) {
        Some(token) => csrf_for(token.expose()).as_bytes().ct_eq(offered.as_bytes()).into(),
        None => false,
    }
}

/// A page's answer to a form whose CSRF token is wrong: nothing is done.
pub fn csrf_refused() -> Response {
    error_page(StatusCode::FORBIDDEN, "This form has expired", "Nothing was changed. Go back, reload the page and try again.")
}

/// The page for an object that is absent or outside the user's reach (never says which).
pub(crate) fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", "There is nothing here, or it is not in your caseload.")
}

/// The page for a server-side failure: the cause goes to the log, the page says only to retry.
pub(crate) fn failed(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}");
    error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "This page could not be loaded. Try again in a moment.")
}

/// A plain error page (no PHI: the messages are fixed texts).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, "error.html", minijinja::context! { title => title, error => message })
}

/// A signed-in staff member on a page, with what every page's frame needs. Without a full
/// session the browser is sent to sign in (or to the second step) instead of an API error.
pub struct WebStaff {
    pub staff: Staff,
    pub csrf: String,
}

impl WebStaff {
    /// What the page frame shows about the user.
    pub fn me(&self) -> Value {
        let roles: Vec<&str> = self.staff.roles.iter().map(|r| r.as_str()).collect();
        minijinja::context! { name => self.staff.user.display_name.clone(), roles => roles.join(", ") }
    }
}

/// Where a page request without a usable session goes.
pub struct SignInFirst(Response);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        self.0
    }
}

impl FromRequestParts<AppState> for WebStaff {
    type Rejection = SignInFirst;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match <Staff as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(staff) => {
                let csrf = state.cookies.read(&parts.headers).map(|t| csrf_for(t.expose())).unwrap_or_default();
                Ok(WebStaff { staff, csrf })
            }
            Err(Error::SecondFactorRequired) => Err(SignInFirst(Redirect::to("/app/two-factor").into_response())),
            Err(Error::Unauthenticated) => Err(SignInFirst(Redirect::to("/app/login").into_response())),
            Err(e) => {
                tracing::warn!(error = %e, "a page could not resolve the session");
                Err(SignInFirst(error_page(StatusCode::SERVICE_UNAVAILABLE, "Hearth is busy", "Try again in a moment.")))
            }
        }
    }
}

impl OptionalFromRequestParts<AppState> for WebStaff {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Ok(<WebStaff as FromRequestParts<AppState>>::from_request_parts(parts, state).await.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        let html = TEMPLATES
            .get_template("error.html")
            .expect("present")
            .render(minijinja::context! { title => "<b>x</b>", error => "<script>" })
            .expect("renders");
        assert!(html.contains("&lt;b&gt;x") && html.contains("&lt;script&gt;") && !html.contains("<b>x") && !html.contains("<script>"), "{html}");
        for name in ["login.html", "two_factor.html", "home.html", "scribe_new.html", "scribe_job.html", "review_queue.html", "review.html", "note.html", "cosign_queue.html", "clients.html", "client.html", "psychotherapy_notes.html", "psychotherapy_note.html"] {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_are_hex() {
        let a = csrf_for("one");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_for("two"));
    }
}
