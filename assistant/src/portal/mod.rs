//! Secure messages (DESIGN flow 3): staff write to a client in the thread; the client gets a
//! notice with a portal link only; the portal asks for a second factor (date of birth), then
//! shows the thread (read receipts, each read audited) and takes the client's reply, which
//! staff see as unread.

/// Staff routes: write a secure message, list a thread with read receipts, unread replies.
pub mod staff;
/// The client portal: server-rendered pages, link tokens, the portal session cookie, CSRF.
pub mod pages;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(staff::router()).merge(pages::router())
}

/// A fresh 256-bit random token, base64url (43 characters): link and session tokens.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}
