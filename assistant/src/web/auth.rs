//! Sign-in pages: e-mail and password, then the authenticator (enrolment with a QR code drawn
//! here, never fetched from elsewhere, and recovery codes shown once), or a recovery code; and
//! sign-out. The steps, throttling and sessions are the API's ([`crate::http::sign_in`]), so
//! the page and the API can never disagree about who may sign in.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use rand::RngCore;
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{WebStaff, csrf_for, csrf_ok, csrf_refused, render};
use crate::app::AppState;
use crate::auth::session::Stage;
use crate::http::Error;
use crate::http::extract::PendingStaff;
use crate::http::sign_in;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/login", get(login_page).post(login))
        .route("/app/two-factor", get(two_factor_page).post(verify))
        .route("/app/two-factor/enroll", post(enroll))
        .route("/app/two-factor/recovery", post(recovery))
        .route("/app/logout", post(logout))
}

/// The login form's double-submit cookie (there is no session to bind a token to yet).
const LOGIN_CSRF_COOKIE: &str = "hearth_login_csrf";

fn login_csrf_cookie(state: &AppState, value: &str) -> HeaderValue {
    let secure = if state.cookies.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{LOGIN_CSRF_COOKIE}={value}; Path=/app/login; HttpOnly; SameSite=Strict{secure}")).expect("hex and fixed attributes are valid header characters")
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(|p| p.trim().split_once('=')).find(|(n, _)| *n == name).map(|(_, v)| v)
}

fn login_form(state: &AppState, status: StatusCode, email: &str, error: Option<&str>) -> Response {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let mut r = render(status, "login.html", context! { title => "Sign in", csrf => token.clone(), email => email, error => error });
    r.headers_mut().append(header::SET_COOKIE, login_csrf_cookie(state, &token));
    r
}

async fn login_page(State(state): State<AppState>, signed_in: Option<WebStaff>) -> Response {
    if signed_in.is_some() {
        return Redirect::to("/app").into_response();
    }
    login_form(&state, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    email: String,
    password: SecretString,
}

async fn login(State(state): State<AppState>, parts: Parts, form: Result<Form<LoginForm>, FormRejection>) -> Response {
    let Ok(Form(form)) = form else {
        return login_form(&state, StatusCode::UNPROCESSABLE_ENTITY, "", Some("Enter your e-mail and password."));
    };
    let cookie_ok = cookie_value(&parts.headers, LOGIN_CSRF_COOKIE).is_some_and(|c| c.len() == 64 && bool::from(c.as_bytes().ct_eq(form.csrf.as_bytes())));
    if !cookie_ok {
        return login_form(&state, StatusCode::FORBIDDEN, &form.email, Some("This form had expired. Nothing was sent; please sign in again."));
    }
    match sign_in::password_step(&state, &parts, &form.email, form.password).await {
        Ok((headers, _next)) => {
            let mut r = Redirect::to("/app/two-factor").into_response();
            r.headers_mut().extend(headers);
            r
        }
        Err(Error::TooManyRequests { retry_after }) => login_form(&state, StatusCode::TOO_MANY_REQUESTS, &form.email, Some(&too_many(retry_after))),
        Err(Error::Unauthenticated) => login_form(&state, StatusCode::UNAUTHORIZED, &form.email, Some("That e-mail and password do not match an account. Check both and try again.")),
        Err(e) => failed(e),
    }
}

fn too_many(retry_after: std::time::Duration) -> String {
    let minutes = retry_after.as_secs().div_ceil(60).max(1);
    format!("Too many attempts. Wait {minutes} minute{} and try again.", if minutes == 1 { "" } else { "s" })
}

fn failed(e: Error) -> Response {
    tracing::error!(error = %e, "a sign-in page failed");
    super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "Something went wrong on the server. Try again in a moment.")
}

/// The pending session of this request, if it has one.
async fn pending(parts: &mut Parts, state: &AppState) -> Option<(PendingStaff, String)> {
    use axum::extract::FromRequestParts;
    let token = state.cookies.read(&parts.headers)?;
    if token.stage != Stage::Pending {
        return None;
    }
    let p = PendingStaff::from_request_parts(parts, state).await.ok()?;
    Some((p, csrf_for(token.expose())))
}

fn two_factor(status: StatusCode, csrf: &str, enrolled: bool, enrollment: Option<minijinja::Value>, error: Option<&str>) -> Response {
    render(status, "two_factor.html", context! { title => "Two-step sign-in", csrf => csrf, enrolled => enrolled, enrollment => enrollment, error => error })
}

async fn two_factor_page(State(state): State<AppState>, mut parts: Parts) -> Response {
    if <WebStaff as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await.is_ok() {
        return Redirect::to("/app").into_response();
    }
    match pending(&mut parts, &state).await {
        Some((p, csrf)) => two_factor(StatusCode::OK, &csrf, p.user.has_totp, None, None),
        None => Redirect::to("/app/login").into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn enroll(State(state): State<AppState>, mut parts: Parts, form: Result<Form<CsrfOnly>, FormRejection>) -> Response {
    let Some((p, csrf)) = pending(&mut parts, &state).await else {
        return Redirect::to("/app/login").into_response();
    };
    if !form.is_ok_and(|Form(f)| csrf_ok(&state, &parts.headers, &f.csrf)) {
        return csrf_refused();
    }
    match sign_in::enroll(&state, &p).await {
        Ok(e) => {
            let qr = match qrcode::QrCode::new(e.otpauth_uri.as_bytes()) {
                Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build(),
                Err(err) => return failed(Error::Internal(anyhow::anyhow!("drawing the QR code: {err}"))),
            };
            let enrollment = context! { qr_svg => qr, secret => e.secret, recovery_codes => e.recovery_codes };
            two_factor(StatusCode::OK, &csrf, true, Some(enrollment), None)
        }
        Err(Error::Conflict { message, .. }) => two_factor(StatusCode::CONFLICT, &csrf, true, None, Some(&message)),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: SecretString,
}

async fn verify(State(state): State<AppState>, parts: Parts, form: Result<Form<CodeForm>, FormRejection>) -> Response {
    second_step(state, parts, form, false).await
}

async fn recovery(State(state): State<AppState>, parts: Parts, form: Result<Form<CodeForm>, FormRejection>) -> Response {
    second_step(state, parts, form, true).await
}

async fn second_step(state: AppState, mut parts: Parts, form: Result<Form<CodeForm>, FormRejection>, recovery: bool) -> Response {
    let Some((p, csrf)) = pending(&mut parts, &state).await else {
        return Redirect::to("/app/login").into_response();
    };
    let Ok(Form(form)) = form else {
        return two_factor(StatusCode::UNPROCESSABLE_ENTITY, &csrf, p.user.has_totp, None, Some("Enter the code."));
    };
    if !csrf_ok(&state, &parts.headers, &form.csrf) {
        return csrf_refused();
    }
    let result = if recovery { sign_in::recovery_step(&state, &parts, &p, &form.code).await } else { sign_in::totp_step(&state, &parts, &p, &form.code).await };
    match result {
        Ok(headers) => {
            let mut r = Redirect::to("/app").into_response();
            r.headers_mut().extend(headers);
            r
        }
        Err(Error::Unprocessable { message, .. }) => two_factor(StatusCode::UNPROCESSABLE_ENTITY, &csrf, true, None, Some(&capitalise(&message))),
        Err(Error::TooManyRequests { retry_after }) => two_factor(StatusCode::TOO_MANY_REQUESTS, &csrf, true, None, Some(&too_many(retry_after))),
        Err(Error::Unauthenticated) => Redirect::to("/app/login").into_response(),
        Err(e) => failed(e),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

async fn logout(State(state): State<AppState>, parts: Parts, form: Result<Form<CsrfOnly>, FormRejection>) -> Response {
    if !form.is_ok_and(|Form(f)| csrf_ok(&state, &parts.headers, &f.csrf)) {
        return csrf_refused();
    }
    if let Err(e) = sign_in::end_session(&state, &parts).await {
        return failed(e);
    }
    let mut r = Redirect::to("/app/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, state.cookies.clear());
    r
}
