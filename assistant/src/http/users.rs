//! Staff accounts, for administrators only. Disabling an account or resetting its
//! authenticator ends all of that user's sessions at once.

use super::extract::{ApiJson, Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::auth::password;
use crate::authz::{Capability, Role};
use crate::domain::Email;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use store::UserId;
use store::users::{NewStaffUser, RoleSet, StaffUser, StaffUserUpdate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).post(create))
        .route("/api/users/{user_id}", get(read).put(update))
        .route("/api/users/{user_id}/reset-totp", post(reset_totp))
}

/// A staff user as shown to administrators (no secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    #[schema(value_type = Option<String>)]
    pub supervisor_id: Option<UserId>,
    pub disabled: bool,
    pub has_totp: bool,
}

impl From<StaffUser> for UserView {
    fn from(u: StaffUser) -> Self {
        Self {
            user_id: u.user_id,
            email: u.email.as_str().to_owned(),
            display_name: u.display_name,
            roles: u
                .roles
                .iter()
                .map(|r| {
                    r.as_str()
                        .parse()
                        .expect("store roles are the same six names")
                })
                .collect(),
            supervisor_id: u.supervisor_id,
            disabled: u.disabled,
            has_totp: u.has_totp,
        }
    }
}

/// Maps our roles to the store's.
pub fn store_roles(roles: &[Role]) -> RoleSet {
    RoleSet::new(roles.iter().map(|r| {
        store::users::Role::parse(r.as_str()).expect("the store knows the same six roles")
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    #[schema(value_type = Option<String>)]
    pub supervisor_id: Option<UserId>,
    /// Initial password, at least 12 characters; the user signs in with it and enrols TOTP.
    #[schema(value_type = String)]
    pub password: SecretString,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateInput {
    pub display_name: String,
    pub roles: Vec<Role>,
    #[schema(value_type = Option<String>)]
    pub supervisor_id: Option<UserId>,
    pub disabled: bool,
}

fn user_id(raw: &str) -> ApiResult<UserId> {
    raw.parse().map_err(|_| Error::NotFound)
}

fn object(id: &str) -> Target<'_> {
    Target::Object {
        object_type: "staff_user",
        object_id: id,
    }
}

/// Staff of your practice (admin only).
#[utoipa::path(get, path = "/api/users",
    responses((status = 200, description = "Users", body = Vec<UserView>), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody)))]
async fn list(State(state): State<AppState>, staff: Staff) -> ApiResult<Json<Vec<UserView>>> {
    staff
        .authorize(
            &state.store,
            Capability::ManageUsers,
            "user.list",
            Target::Collection,
        )
        .await?;
    let users = state
        .store
        .list_users(&staff.actor)
        .await
        .map_err(store_error)?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Adds a staff member (admin only).
#[utoipa::path(post, path = "/api/users",
    request_body = NewUserInput,
    responses((status = 201, description = "The new user", body = UserView), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody), (status = 409, description = "E-mail already in use", body = super::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(input): ApiJson<NewUserInput>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    staff
        .authorize(
            &state.store,
            Capability::ManageUsers,
            "user.create",
            Target::Collection,
        )
        .await?;
    let email = Email::parse(&input.email).map_err(|e| Error::field("email", e.message))?;
    password::check_policy(&input.password).map_err(|e| Error::field("password", e.to_string()))?;
    let hash = password::hash(input.password)
        .await
        .map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    let new = NewStaffUser {
        email: store::EmailAddress::parse(email.as_str())
            .map_err(|e| Error::field("email", e.to_string()))?,
        display_name: input.display_name,
        roles: store_roles(&input.roles),
        supervisor_id: input.supervisor_id,
        password_hash: hash,
    };
    let user = state
        .store
        .create_user(&staff.actor, &new)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict { .. } => {
                Error::conflict("email", "a staff member already signs in with this e-mail")
            }
            other => store_error(other),
        })?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One staff member (admin only).
#[utoipa::path(get, path = "/api/users/{user_id}",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<UserView>> {
    staff
        .authorize(
            &state.store,
            Capability::ManageUsers,
            "user.read",
            object(&raw),
        )
        .await?;
    let user = state
        .store
        .get_user(&staff.actor, user_id(&raw)?)
        .await
        .map_err(store_error)?;
    Ok(Json(user.into()))
}

/// Changes roles, name, supervisor or disables (ends sessions).
#[utoipa::path(put, path = "/api/users/{user_id}",
    params(("user_id" = String, Path, description = "User id")),
    request_body = UserUpdateInput,
    responses((status = 200, description = "The user", body = UserView), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<UserUpdateInput>,
) -> ApiResult<Json<UserView>> {
    staff
        .authorize(
            &state.store,
            Capability::ManageUsers,
            "user.update",
            object(&raw),
        )
        .await?;
    let id = user_id(&raw)?;
    let upd = StaffUserUpdate {
        display_name: input.display_name,
        roles: store_roles(&input.roles),
        supervisor_id: input.supervisor_id,
        disabled: input.disabled,
    };
    let user = state
        .store
        .update_user(&staff.actor, id, &upd)
        .await
        .map_err(store_error)?;
    if user.disabled {
        // A disabled account must lose access now, not at its next idle timeout.
        state
            .store
            .revoke_user_sessions(&staff.actor, id)
            .await
            .map_err(store_error)?;
    }
    Ok(Json(user.into()))
}

/// Removes a user's authenticator (lost phone); they enrol again at next sign-in. All their
/// sessions end.
/// Removes a user's authenticator and ends their sessions.
#[utoipa::path(post, path = "/api/users/{user_id}/reset-totp",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Reset"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn reset_totp(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    staff
        .authorize(
            &state.store,
            Capability::ManageUsers,
            "user.reset_totp",
            object(&raw),
        )
        .await?;
    let id = user_id(&raw)?;
    state
        .store
        .set_totp_secret(&staff.actor, id, None)
        .await
        .map_err(store_error)?;
    state
        .store
        .revoke_user_sessions(&staff.actor, id)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}
