//! Two-step staff sign-in (OWASP Authentication and MFA Cheat Sheets):
//! password → *pending* session (can only enrol TOTP, give a TOTP code or a recovery code)
//! → *full* session. Each step issues a new session id. Failures are counted per account and
//! per IP in the store, so every `serve` process agrees; past the limit the answer is 429 with
//! Retry-After. Unknown e-mails take the same path and time as wrong passwords.

use super::extract::{ApiJson, PendingStaff, Staff, client_ip, request_actor, store_error};
use super::throttle::{check_throttle, record_failure, throttle_keys};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::auth::session::{SessionToken, Stage};
use crate::auth::{password, recovery, totp};
use crate::domain::Email;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};

/// How long a pending (password-only) session lives.
const PENDING_MINUTES: i64 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/totp/enroll", post(enroll_totp))
        .route("/api/auth/totp/verify", post(verify_totp))
        .route("/api/auth/recovery", post(use_recovery_code))
        .route("/api/auth/totp", axum::routing::delete(remove_totp))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String)]
    pub password: SecretString,
}

/// What the client must do after the password step.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// No authenticator yet: call /api/auth/totp/enroll.
    EnrollTotp,
    /// Give a code from the authenticator (or a recovery code).
    VerifyTotp,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub next: NextStep,
}

/// Issues a new session of `stage` and the cookie that carries it.
async fn start_session(
    state: &AppState,
    actor: &store::Actor,
    user: store::UserId,
    stage: Stage,
) -> ApiResult<HeaderMap> {
    let token = SessionToken::generate(stage, actor.practice_id.as_uuid());
    let lifetime = match stage {
        Stage::Pending => chrono::Duration::minutes(PENDING_MINUTES),
        Stage::Full => state.settings.session.absolute,
    };
    state
        .store
        .create_session(actor, user, token.secret(), chrono::Utc::now() + lifetime)
        .await
        .map_err(store_error)?;
    let mut h = HeaderMap::new();
    h.insert(header::SET_COOKIE, state.cookies.set(&token));
    Ok(h)
}

fn wrong_credentials() -> Error {
    Error::Unauthenticated
}

/// Step 1: e-mail and password; sets a pending-session cookie.
#[utoipa::path(post, path = "/api/auth/login",
    request_body = LoginRequest,
    responses((status = 200, description = "Next step", body = LoginResponse), (status = 401, description = "Not signed in", body = super::error::ErrorBody), (status = 429, description = "Too many attempts; see Retry-After", body = super::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let (headers, next) = password_step(&state, &parts, &req.email, req.password).await?;
    Ok((headers, Json(LoginResponse { next })).into_response())
}

/// The password step, shared by the API and the web pages: a pending session's cookie and what
/// comes next.
pub(crate) async fn password_step(
    state: &AppState,
    parts: &Parts,
    email: &str,
    password: SecretString,
) -> ApiResult<(HeaderMap, NextStep)> {
    let state = state.clone();
    let ip = client_ip(parts);
    // A malformed e-mail is treated like an unknown one: same answer, same work.
    let email = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    let keys = throttle_keys(&email, ip);
    check_throttle(&state, &keys).await?;
    let record = match store::EmailAddress::parse(&email) {
        Ok(e) => state.store.find_login(&e).await.map_err(store_error)?,
        Err(_) => None,
    };
    let stored = record
        .as_ref()
        .filter(|r| !r.user.disabled)
        .map(|r| r.password_hash.clone());
    let check = password::verify(password, stored)
        .await
        .map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    let Some(record) = record.filter(|_| check == password::PasswordCheck::Matches) else {
        record_failure(&state, &keys).await?;
        return Err(wrong_credentials());
    };
    let mut actor = request_actor(record.user.practice_id, ip);
    actor.user_id = Some(record.user.user_id);
    let headers = start_session(&state, &actor, record.user.user_id, Stage::Pending).await?;
    let next = if record.user.has_totp {
        NextStep::VerifyTotp
    } else {
        NextStep::EnrollTotp
    };
    Ok((headers, next))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// Base32 secret to type into an authenticator app.
    pub secret: String,
    /// `otpauth://` URI for a QR code.
    pub otpauth_uri: String,
    /// Ten single-use recovery codes. Shown only now: write them down.
    pub recovery_codes: Vec<String>,
}

/// Pending session only: sets up an authenticator and shows recovery codes once.
#[utoipa::path(post, path = "/api/auth/totp/enroll",
    responses((status = 200, description = "Secret, URI and recovery codes", body = Enrollment), (status = 401, description = "Not signed in", body = super::error::ErrorBody)))]
async fn enroll_totp(
    State(state): State<AppState>,
    pending: PendingStaff,
) -> ApiResult<Json<Enrollment>> {
    Ok(Json(enroll(&state, &pending).await?))
}

/// Sets up a new authenticator for a pending session (API and web pages).
pub(crate) async fn enroll(state: &AppState, pending: &PendingStaff) -> ApiResult<Enrollment> {
    if pending.user.has_totp {
        // Re-enrolling from a password alone would let a stolen password replace the factor.
        return Err(Error::conflict(
            "totp",
            "an authenticator is already set up; enter its code, or ask an administrator to reset it",
        ));
    }
    let secret = totp::TotpSecret::generate();
    let raw = data_encoding::BASE32_NOPAD
        .decode(secret.to_base32().expose_secret().as_bytes())
        .expect("our own base32 decodes");
    state
        .store
        .set_totp_secret(
            &pending.actor,
            pending.user.user_id,
            Some(&SecretSlice::from(raw)),
        )
        .await
        .map_err(store_error)?;
    let codes = recovery::generate();
    state
        .store
        .replace_recovery_codes(&pending.actor, pending.user.user_id, &codes.digests)
        .await
        .map_err(store_error)?;
    let practice = state
        .store
        .get_practice(&pending.actor)
        .await
        .map_err(store_error)?;
    Ok(Enrollment {
        secret: secret.to_base32().expose_secret().to_owned(),
        otpauth_uri: secret
            .provisioning_uri(
                &format!("Hearth {}", practice.details.name),
                pending.user.email.as_str(),
            )
            .expose_secret()
            .to_owned(),
        recovery_codes: codes
            .plain
            .iter()
            .map(|c| c.expose_secret().to_owned())
            .collect(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeRequest {
    #[schema(value_type = String)]
    pub code: SecretString,
}

/// Moves a pending session to a full one with a new id.
/// Ends step 2: a refused code counts toward the throttle and is a 422 on `code`; an accepted
/// one clears the account's failures and turns the pending session into a full one.
async fn finish_second_factor(
    state: &AppState,
    pending: &PendingStaff,
    keys: &(String, Option<String>),
    accepted: bool,
    refused: &'static str,
) -> ApiResult<HeaderMap> {
    if !accepted {
        record_failure(state, keys).await?;
        return Err(Error::field("code", refused));
    }
    state
        .store
        .clear_auth_failures(&keys.0)
        .await
        .map_err(store_error)?;
    promote(state, pending).await
}

async fn promote(state: &AppState, pending: &PendingStaff) -> ApiResult<HeaderMap> {
    state
        .store
        .revoke_session(&pending.actor, pending.session_id)
        .await
        .map_err(store_error)?;
    start_session(state, &pending.actor, pending.user.user_id, Stage::Full).await
}

fn signed_in(headers: HeaderMap) -> Response {
    (headers, Json(serde_json::json!({ "signed_in": true }))).into_response()
}

/// Step 2: a TOTP code; replaces the pending session with a full one.
#[utoipa::path(post, path = "/api/auth/totp/verify",
    request_body = CodeRequest,
    responses((status = 200, description = "Signed in"), (status = 401, description = "Not signed in", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody), (status = 429, description = "Too many attempts; see Retry-After", body = super::error::ErrorBody)))]
async fn verify_totp(
    State(state): State<AppState>,
    parts: Parts,
    pending: PendingStaff,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    Ok(signed_in(totp_step(&state, &parts, &pending, &req.code).await?))
}

/// The authenticator-code step (API and web pages): the full session's cookie.
pub(crate) async fn totp_step(state: &AppState, parts: &Parts, pending: &PendingStaff, code: &SecretString) -> ApiResult<HeaderMap> {
    check_totp(state, parts, &pending.user, code, "no authenticator is set up yet; call /api/auth/totp/enroll first").await?;
    promote(state, pending).await
}

/// Step 2 with a single-use recovery code.
#[utoipa::path(post, path = "/api/auth/recovery",
    request_body = CodeRequest,
    responses((status = 200, description = "Signed in"), (status = 401, description = "Not signed in", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody), (status = 429, description = "Too many attempts; see Retry-After", body = super::error::ErrorBody)))]
async fn use_recovery_code(
    State(state): State<AppState>,
    parts: Parts,
    pending: PendingStaff,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    Ok(signed_in(recovery_step(&state, &parts, &pending, &req.code).await?))
}

/// Asks a signed-in user for their authenticator code again (signing a note): the same
/// verification, replay protection and throttling as sign-in, without touching the session.
/// A wrong code is a 422 on `code` and counts toward the throttle.
pub(crate) async fn confirm_totp(state: &AppState, parts: &Parts, user: &store::users::StaffUser, code: &SecretString) -> ApiResult<()> {
    check_totp(state, parts, user, code, "you have no authenticator set up; sign out and sign in again to set one up").await
}

/// Verifies `user`'s authenticator code: throttled, each time step accepted once (replay
/// protection), a wrong code counted toward the throttle and answered 422 on `code`, a right one
/// clearing the account's failures. `no_secret` is the answer when no authenticator is set up.
async fn check_totp(state: &AppState, parts: &Parts, user: &store::users::StaffUser, code: &SecretString, no_secret: &'static str) -> ApiResult<()> {
    let keys = throttle_keys(user.email.as_str(), client_ip(parts));
    check_throttle(state, &keys).await?;
    let Some(secret) = state.store.totp_secret(user.user_id).await.map_err(store_error)? else {
        return Err(Error::field("code", no_secret));
    };
    let secret = totp::TotpSecret::from_bytes(secret.expose_secret().to_vec());
    let accepted = match totp::verify(&secret, code.expose_secret(), chrono::Utc::now().timestamp(), None) {
        totp::TotpOutcome::Accepted { step } => state.store.accept_totp_step(user.user_id, step).await.map_err(store_error)? == store::users::TotpStep::Accepted,
        totp::TotpOutcome::Replayed | totp::TotpOutcome::Wrong => false,
    };
    if !accepted {
        record_failure(state, &keys).await?;
        return Err(Error::field("code", "that code is wrong or was already used; wait for the next code"));
    }
    state.store.clear_auth_failures(&keys.0).await.map_err(store_error)?;
    Ok(())
}

/// The recovery-code step (API and web pages): the full session's cookie.
pub(crate) async fn recovery_step(state: &AppState, parts: &Parts, pending: &PendingStaff, code: &SecretString) -> ApiResult<HeaderMap> {
    let keys = throttle_keys(pending.user.email.as_str(), client_ip(parts));
    check_throttle(state, &keys).await?;
    let consumed = match recovery::digest_secret(code) {
        Some(d) => {
            state
                .store
                .consume_recovery_code(pending.user.user_id, &d)
                .await
                .map_err(store_error)?
                == store::users::RecoveryCode::Consumed
        }
        None => false,
    };
    finish_second_factor(
        state,
        pending,
        &keys,
        consumed,
        "that recovery code is wrong or was already used",
    )
    .await
}

/// Removes the user's own authenticator. Every session of theirs ends (a 2FA change revokes
/// sessions); they sign in again and enrol a new one.
/// Removes your authenticator and ends all your sessions.
#[utoipa::path(delete, path = "/api/auth/totp",
    responses((status = 204, description = "Removed"), (status = 401, description = "Not signed in", body = super::error::ErrorBody)))]
async fn remove_totp(State(state): State<AppState>, staff: Staff) -> ApiResult<Response> {
    state
        .store
        .set_totp_secret(&staff.actor, staff.user.user_id, None)
        .await
        .map_err(store_error)?;
    state
        .store
        .revoke_user_sessions(&staff.actor, staff.user.user_id)
        .await
        .map_err(store_error)?;
    Ok((
        [(header::SET_COOKIE, state.cookies.clear())],
        axum::http::StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// Ends the current session, whatever its stage, and clears the cookie. Allowed for users with
/// no role.
/// Ends this session.
#[utoipa::path(post, path = "/api/auth/logout",
    responses((status = 204, description = "Signed out")))]
async fn logout(State(state): State<AppState>, parts: Parts) -> ApiResult<Response> {
    end_session(&state, &parts).await?;
    Ok((
        [(header::SET_COOKIE, state.cookies.clear())],
        axum::http::StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// Revokes the request's session, if it has one (API and web pages). The caller clears the cookie.
pub(crate) async fn end_session(state: &AppState, parts: &Parts) -> ApiResult<()> {
    if let Some(token) = state.cookies.read(&parts.headers)
        && let store::sessions::SessionLookup::Active(s) = state
            .store
            .session_by_token(token.secret())
            .await
            .map_err(store_error)?
    {
        let mut actor = request_actor(
            store::PracticeId::from_uuid(token.practice),
            client_ip(parts),
        );
        actor.user_id = Some(s.user_id);
        state
            .store
            .revoke_session(&actor, s.session_id)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    #[schema(value_type = String)]
    pub user_id: store::UserId,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<crate::authz::Role>,
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/auth/me",
    responses((status = 200, description = "You", body = Me), (status = 401, description = "Not signed in", body = super::error::ErrorBody), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody)))]
async fn me(staff: Staff) -> ApiResult<Json<Me>> {
    if staff.roles.is_empty() {
        return Err(Error::Forbidden(
            "your account has no role yet; ask your administrator to assign one",
        ));
    }
    Ok(Json(Me {
        user_id: staff.user.user_id,
        email: staff.user.email.as_str().to_owned(),
        display_name: staff.user.display_name.clone(),
        roles: staff.roles.clone(),
    }))
}
