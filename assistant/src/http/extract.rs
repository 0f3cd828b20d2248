//! Request extractors: the signed-in staff member (full or pending session), JSON bodies with
//! field-naming errors, and the mapping from store errors to API errors.

use super::Error;
use crate::app::AppState;
use crate::auth::session::{SessionFreshness, Stage};
use crate::authz::{self, Access, Capability, Reach, Role};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use store::{Actor, AuditAction, ClientScope, Outcome, StoreError};

/// A staff member with a full (two-factor) session.
pub struct Staff {
    pub user: store::users::StaffUser,
    pub roles: Vec<Role>,
    pub session_id: store::SessionId,
    pub actor: Actor,
}

/// A staff member who has given the password but not yet the second factor.
pub struct PendingStaff {
    pub user: store::users::StaffUser,
    pub session_id: store::SessionId,
    pub actor: Actor,
}

fn role_of(r: store::users::Role) -> Role {
    use store::users::Role as S;
    match r {
        S::Admin => Role::Admin,
        S::Clinician => Role::Clinician,
        S::Trainee => Role::Trainee,
        S::Supervisor => Role::Supervisor,
        S::FrontDesk => Role::FrontDesk,
        S::Biller => Role::Biller,
    }
}

/// The client's IP as seen on the socket (no proxy headers are trusted in this version).
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// An actor for this request without a user yet (sign-in steps).
pub fn request_actor(practice: store::PracticeId, ip: Option<std::net::IpAddr>) -> Actor {
    let mut a = Actor::system(practice).with_request_id(super::middleware::current_request_id());
    a.ip = ip;
    a
}

/// Resolves the session cookie to a live session of `stage` and its user.
async fn resolve(
    parts: &Parts,
    state: &AppState,
    stage: Stage,
) -> Result<(store::users::StaffUser, store::SessionId, Actor), Error> {
    let token = state
        .cookies
        .read(&parts.headers)
        .ok_or(Error::Unauthenticated)?;
    if token.stage != stage {
        return Err(if stage == Stage::Full {
            Error::SecondFactorRequired
        } else {
            Error::Unauthenticated
        });
    }
    let session = match state
        .store
        .session_by_token(token.secret())
        .await
        .map_err(store_error)?
    {
        store::sessions::SessionLookup::Active(s) => s,
        _ => return Err(Error::Unauthenticated),
    };
    let practice = store::PracticeId::from_uuid(token.practice);
    let mut actor = request_actor(practice, client_ip(parts));
    actor.user_id = Some(session.user_id);
    let now = chrono::Utc::now();
    if state
        .settings
        .session
        .check(session.created_at, session.last_seen_at, now)
        != SessionFreshness::Active
    {
        // Expired sessions are revoked so the id can never come back to life.
        let _ = state.store.revoke_session(&actor, session.session_id).await;
        return Err(Error::Unauthenticated);
    }
    let user = state
        .store
        .get_user(&actor, session.user_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Error::Unauthenticated,
            other => store_error(other),
        })?;
    if user.disabled {
        let _ = state.store.revoke_user_sessions(&actor, user.user_id).await;
        return Err(Error::Unauthenticated);
    }
    state
        .store
        .touch_session(session.session_id)
        .await
        .map_err(store_error)?;
    super::middleware::record_user(&user.user_id);
    Ok((user, session.session_id, actor))
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Error;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (user, session_id, actor) = resolve(parts, state, Stage::Full).await?;
        let roles = user.roles.iter().map(role_of).collect();
        Ok(Staff {
            user,
            roles,
            session_id,
            actor,
        })
    }
}

impl FromRequestParts<AppState> for PendingStaff {
    type Rejection = Error;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (user, session_id, actor) = resolve(parts, state, Stage::Pending).await?;
        Ok(PendingStaff {
            user,
            session_id,
            actor,
        })
    }
}

/// Whether the route names an object (404 on denial) or a collection (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Collection,
    Object {
        object_type: &'static str,
        object_id: &'a str,
    },
}

impl Staff {
    /// Checks the capability and returns the client scope the store must apply. Denials are
    /// audited (45 CFR 164.312(b)); if that audit write fails the request fails.
    pub async fn authorize(
        &self,
        store: &store::Store,
        capability: Capability,
        action: &str,
        target: Target<'_>,
    ) -> Result<ClientScope, Error> {
        match authz::check(&self.roles, capability) {
            Access::Granted(Reach::Practice) => Ok(ClientScope::Practice),
            Access::Granted(Reach::Caseload) => Ok(ClientScope::CareTeam(self.user.user_id)),
            Access::Granted(Reach::Nothing) | Access::Denied | Access::NoRole => {
                self.audit_denied(store, action, target).await?;
                Err(match (authz::check(&self.roles, capability), target) {
                    (Access::NoRole, _) => Error::Forbidden(
                        "your account has no role yet; ask your administrator to assign one",
                    ),
                    (_, Target::Collection) => Error::Forbidden("your role does not allow this"),
                    (_, Target::Object { .. }) => Error::NotFound,
                })
            }
        }
    }

    /// The outcome of a store call on one object: a NotFound (absent, another practice's, or
    /// outside the user's scope) is audited as a denied attempt and answered 404.
    pub async fn found<T>(
        &self,
        store: &store::Store,
        action: &str,
        target: Target<'_>,
        result: store::Result<T>,
    ) -> Result<T, Error> {
        match result {
            Ok(v) => Ok(v),
            Err(StoreError::NotFound) => {
                self.audit_denied(store, action, target).await?;
                Err(Error::NotFound)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Records a denied or not-found attempt on an object.
    pub async fn audit_denied(
        &self,
        store: &store::Store,
        action: &str,
        target: Target<'_>,
    ) -> Result<(), Error> {
        let (object_type, object_id) = match target {
            Target::Collection => ("collection", None),
            Target::Object {
                object_type,
                object_id,
            } => (object_type, Some(object_id.to_owned())),
        };
        let a = AuditAction {
            action: action.to_owned(),
            object_type: object_type.to_owned(),
            object_id,
            outcome: Outcome::Denied,
        };
        store
            .append_audit(&self.actor, &a)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}

/// Maps a store error to the API error (NotFound → 404, Conflict → 409, Invalid → 422).
pub fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound,
        StoreError::Conflict { field } => Error::conflict(
            field,
            "another record already has this value; choose a different one",
        ),
        StoreError::Invalid(message) => {
            // Store messages start with the field they are about ("first_name must be …").
            let field = message
                .split_whitespace()
                .next()
                .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .unwrap_or("body");
            Error::field(field.to_owned(), message)
        }
        StoreError::State(message) => Error::conflict("state", message),
        StoreError::ConsentRequired { kind } => Error::conflict(
            "consent",
            format!(
                "the client has no active {} consent on file; record it first (the client's page, Consents) and try again",
                match kind {
                    store::consents::ConsentKind::AiScribing => "AI-scribe",
                    store::consents::ConsentKind::Texting => "texting",
                    store::consents::ConsentKind::Part2Disclosure => "42 CFR Part 2 disclosure",
                }
            ),
        ),
        other => Error::Internal(anyhow::Error::new(other).context("store call failed")),
    }
}

/// A JSON body whose errors are 422 (or 413) naming the problem, instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(_)) => Err(Error::PayloadTooLarge {
                limit: super::MAX_JSON_BODY_BYTES,
            }),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::field(
                "content-type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::field(
                data_error_field(&e.body_text()),
                e.body_text(),
            )),
            Err(e) => Err(Error::field(
                "body",
                format!("the body is not valid JSON: {}", e.body_text()),
            )),
        }
    }
}

/// serde_json data errors read "…: missing field `phone` at line 1 column 2" or name the path
/// (`contacts[0].phone: …`); pick out the field.
fn data_error_field(text: &str) -> String {
    if let Some(start) = text.find('`')
        && let Some(len) = text[start + 1..].find('`')
    {
        return text[start + 1..start + 1 + len].to_owned();
    }
    let after_prefix = text.split_once(": ").map(|(_, rest)| rest).unwrap_or(text);
    after_prefix
        .split(':')
        .next()
        .filter(|p| !p.contains(' '))
        .unwrap_or("body")
        .to_owned()
}
