//! The client portal: plain server-rendered HTML (no scripts, fonts or CDNs), every form with
//! a CSRF token bound to a secret the browser already holds (the link token before the second
//! factor, the session token after): `hex(SHA-256("csrf|" + secret))`, compared in constant
//! time (OWASP CSRF Cheat Sheet, "synchronizer token" without server state). The session
//! cookie is HttpOnly, SameSite=Strict and Secure when the public URL is https. Pages about a
//! wrong, expired or used link say nothing about whom it was for. The link token is in the path
//! (it is not PHI, and the request log records only the route template).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use store::messages::Direction;
use store::portal::{CodeIssue, FactorCheck, LinkState, PortalSession, SecondFactor};
use subtle::ConstantTimeEq;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/m/{token}", get(open_link).post(answer_factor))
        .route("/portal/m/{token}/code", post(send_code))
        .route("/portal/thread", get(thread))
        .route("/portal/reply", post(reply))
        .route("/portal/sign-out", post(sign_out))
}

/// The portal cookie (`__Host-` only with `Secure`, as for staff sessions).
const COOKIE: &str = "hearth_portal";
const SECURE_COOKIE: &str = "__Host-hearth_portal";
/// Scripts, styles, frames and other origins are all off; forms post only here.
const CSP: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Largest reply a client may send (the store's message limit).
const MAX_REPLY_BYTES: usize = store::messages::MAX_BODY_BYTES;

/// The CSRF token for forms protected by `secret`.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf|{secret}").as_bytes()))
}

fn csrf_ok(secret: &str, offered: &str) -> bool {
    csrf_token(secret).as_bytes().ct_eq(offered.as_bytes()).into()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page; `body` is already escaped HTML.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{t}</title></head><body><main><h1>{t}</h1>{body}</main></body></html>\n",
        t = escape(title)
    );
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The same page for every unknown, expired or used link.
fn link_not_valid() -> Response {
    page(StatusCode::NOT_FOUND, "This link does not work", "<p>Links work once and for a short time. Ask your practice to send you a new one.</p>")
}

fn locked() -> Response {
    page(StatusCode::FORBIDDEN, "This link is locked", "<p>There were too many wrong answers. Ask your practice to send you a new link.</p>")
}

fn session_ended() -> Response {
    page(StatusCode::UNAUTHORIZED, "Your session has ended", "<p>For your privacy, portal visits are short. Open the link from your newest message again, or ask your practice for a new one.</p>")
}

fn forged() -> Response {
    page(StatusCode::FORBIDDEN, "This form has expired", "<p>Go back, reload the page and try again.</p>")
}

fn trouble() -> Response {
    page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "<p>Nothing was changed. Please try again in a few minutes, or call your practice.</p>")
}

fn internal(e: store::StoreError) -> Response {
    // The store's messages hold no PHI; log it like the API's internal errors.
    tracing::error!(error = %e, "portal store call failed");
    trouble()
}

fn factor_form(token: &str, note: &str) -> String {
    format!(
        "<p>You have a new secure message. To read it, confirm your date of birth, or ask for a code by text.</p>{note}\
         <form method=\"post\" action=\"/portal/m/{t}\"><input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
         <label for=\"dob\">Date of birth (YYYY-MM-DD)</label> <input id=\"dob\" name=\"dob\" type=\"date\" required autocomplete=\"bday\"> \
         <button type=\"submit\">Continue</button></form>\
         <form method=\"post\" action=\"/portal/m/{t}/code\"><input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
         <button type=\"submit\">Text me a code instead</button></form>",
        t = escape(token),
        c = csrf_token(token),
    )
}

fn code_form(token: &str, note: &str) -> String {
    format!(
        "<p>We texted a 6-digit code to the phone number your practice has for you. It works for {m} minutes.</p>{note}\
         <form method=\"post\" action=\"/portal/m/{t}\"><input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
         <label for=\"code\">Code</label> <input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required autocomplete=\"one-time-code\"> \
         <button type=\"submit\">Continue</button></form>",
        m = store::portal::CODE_TTL.num_minutes(),
        t = escape(token),
        c = csrf_token(token),
    )
}

/// A random 6-digit code (uniform: `gen_range` rejects biased draws).
fn six_digits() -> String {
    use rand::Rng;
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

async fn send_code(State(state): State<AppState>, Path(token): Path<String>, form: Result<Form<SignOutInput>, FormRejection>) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !csrf_ok(&token, &csrf) {
        return forged();
    }
    let practice = match state.store.portal_link(&token, Utc::now()).await {
        Ok(LinkState::AskFactor { practice_id, .. }) => practice_id,
        Ok(LinkState::Locked) => return locked(),
        Ok(LinkState::Refused) => return link_not_valid(),
        Err(e) => return internal(e),
    };
    let practice = match state.store.get_practice(&store::Actor::system(practice)).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let code = six_digits();
    // Practice name and code only (DESIGN: no PHI in SMS).
    let body = format!("{}: your code is {code}. It works for {} minutes.", practice.details.name, store::portal::CODE_TTL.num_minutes());
    let sender = practice.details.phone.as_ref().map_or_else(|| "sms:default".to_owned(), |p| format!("sms:{}", p.as_str()));
    let sender = store::outbox::SenderKey::parse(&sender).unwrap_or_else(|_| store::outbox::SenderKey::parse("sms:default").expect("a fixed valid sender key"));
    match state.store.issue_portal_code(&token, &code, &body, sender, Utc::now()).await {
        Ok(CodeIssue::Queued) => page(StatusCode::OK, "Secure message", &code_form(&token, "")),
        Ok(CodeIssue::NoPhone) => page(StatusCode::OK, "Secure message", &factor_form(&token, "<p role=\"alert\">We cannot text you a code; please use your date of birth.</p>")),
        Ok(CodeIssue::TooMany) => page(StatusCode::TOO_MANY_REQUESTS, "Secure message", &code_form(&token, "<p role=\"alert\">We already sent the most codes we can for this link; use the newest one or your date of birth.</p>")),
        Ok(CodeIssue::Locked) => locked(),
        Ok(CodeIssue::Refused) => link_not_valid(),
        Err(e) => internal(e),
    }
}

async fn open_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.store.portal_link(&token, Utc::now()).await {
        Ok(LinkState::AskFactor { .. }) => page(StatusCode::OK, "Secure message", &factor_form(&token, "")),
        Ok(LinkState::Locked) => locked(),
        Ok(LinkState::Refused) => link_not_valid(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct FactorInput {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub dob: String,
    #[serde(default)]
    pub code: String,
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.cookies.secure { SECURE_COOKIE } else { COOKIE }
}

fn set_cookie(state: &AppState, session_token: &str) -> HeaderValue {
    let secure = if state.cookies.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}={session_token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", cookie_name(state), store::portal::SESSION_TTL.num_seconds()))
        .expect("base64url and fixed attributes are valid header characters")
}

fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.cookies.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", cookie_name(state))).expect("fixed attributes are valid header characters")
}

fn read_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let want = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == want && value.len() <= store::portal::MAX_TOKEN_BYTES)
        .map(|(_, value)| value.to_owned())
}

fn see_other(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

async fn answer_factor(State(state): State<AppState>, Path(token): Path<String>, form: Result<Form<FactorInput>, FormRejection>) -> Response {
    let Ok(Form(input)) = form else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, "Please try again", "<p>The form did not arrive whole. Go back and send it again.</p>");
    };
    if !csrf_ok(&token, &input.csrf) {
        return forged();
    }
    let by_code = !input.code.trim().is_empty();
    let factor = if by_code {
        let code = input.code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return page(StatusCode::UNPROCESSABLE_ENTITY, "Secure message", &code_form(&token, "<p role=\"alert\">Enter the 6 digits from the text.</p>"));
        }
        SecondFactor::Code(code)
    } else {
        let Ok(dob) = NaiveDate::parse_from_str(input.dob.trim(), "%Y-%m-%d") else {
            return page(StatusCode::UNPROCESSABLE_ENTITY, "Secure message", &factor_form(&token, "<p role=\"alert\">Enter your date of birth as year-month-day, like 1990-04-25.</p>"));
        };
        SecondFactor::DateOfBirth(dob)
    };
    let session_token = super::random_token();
    match state.store.verify_portal_factor(&token, factor, &session_token, Utc::now()).await {
        Ok(FactorCheck::Verified { .. }) => {
            let mut r = see_other("/portal/thread");
            r.headers_mut().insert(header::SET_COOKIE, set_cookie(&state, &session_token));
            r
        }
        Ok(FactorCheck::Wrong { attempts_left }) => {
            let note = format!("<p role=\"alert\">That does not match our records. {attempts_left} {} left.</p>", if attempts_left == 1 { "try" } else { "tries" });
            page(StatusCode::UNAUTHORIZED, "Secure message", &if by_code { code_form(&token, &note) } else { factor_form(&token, &note) })
        }
        Ok(FactorCheck::Locked) => locked(),
        Ok(FactorCheck::Refused) => link_not_valid(),
        Err(e) => internal(e),
    }
}

/// The live session behind the request's cookie, with its token.
async fn session(state: &AppState, headers: &HeaderMap) -> Result<(PortalSession, String), Response> {
    let Some(token) = read_cookie(state, headers) else { return Err(session_ended()) };
    match state.store.portal_session(&token, Utc::now()).await {
        Ok(Some(s)) => Ok((s, token)),
        Ok(None) => Err(session_ended()),
        Err(e) => Err(internal(e)),
    }
}

async fn thread(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (session, token) = match session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let messages = match state.store.portal_thread(&session, Utc::now()).await {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let mut body = String::from("<ol>");
    for m in &messages {
        let who = if m.message.direction == Direction::Outbound { "Your practice" } else { "You" };
        body.push_str(&format!(
            "<li><p><strong>{who}</strong>, <time datetime=\"{t}\">{t}</time></p><p>{}</p></li>",
            escape(&m.message.body).replace('\n', "<br>"),
            t = m.message.created_at.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    body.push_str("</ol>");
    let csrf = csrf_token(&token);
    body.push_str(&format!(
        "<form method=\"post\" action=\"/portal/reply\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"body\">Your reply</label><br><textarea id=\"body\" name=\"body\" rows=\"6\" cols=\"60\" maxlength=\"{MAX_REPLY_BYTES}\" required></textarea><br>\
         <button type=\"submit\">Send reply</button></form>\
         <form method=\"post\" action=\"/portal/sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Sign out</button></form>"
    ));
    page(StatusCode::OK, "Your secure messages", &body)
}

#[derive(Debug, Deserialize)]
pub struct ReplyInput {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub body: String,
}

async fn reply(State(state): State<AppState>, headers: HeaderMap, form: Result<Form<ReplyInput>, FormRejection>) -> Response {
    let (session, token) = match session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Form(input)) = form else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, "Please try again", "<p>The form did not arrive whole. Go back and send it again.</p>");
    };
    if !csrf_ok(&token, &input.csrf) {
        return forged();
    }
    if input.body.trim().is_empty() || input.body.len() > MAX_REPLY_BYTES {
        return page(StatusCode::UNPROCESSABLE_ENTITY, "Please try again", &format!("<p>Write a reply of up to {MAX_REPLY_BYTES} characters. <a href=\"/portal/thread\">Back to your messages</a></p>"));
    }
    match state.store.portal_reply(&session, &input.body).await {
        Ok(_) => see_other("/portal/thread"),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOutInput {
    #[serde(default)]
    pub csrf: String,
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap, form: Result<Form<SignOutInput>, FormRejection>) -> Response {
    let (_, token) = match session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !csrf_ok(&token, &csrf) {
        return forged();
    }
    if let Err(e) = state.store.end_portal_session(&token).await {
        return internal(e);
    }
    let mut r = page(StatusCode::OK, "Signed out", "<p>You can close this page.</p>");
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie(&state));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_secret() {
        assert!(csrf_ok("secret-one", &csrf_token("secret-one")));
        assert!(!csrf_ok("secret-two", &csrf_token("secret-one")));
        assert!(!csrf_ok("secret-one", ""));
    }
}
