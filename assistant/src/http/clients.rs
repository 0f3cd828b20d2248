//! Clients: CRUD, search by name (`?q=`), contacts and shares. Every route with an id asks the
//! policy ([`crate::authz`]) for a scope and lets the store apply it in SQL, so a client outside
//! the user's reach — another practice's, a colleague's, or a random id — is 404.

use super::extract::{ApiJson, Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::Capability;
use super::client_input::{ClientInput, ContactInput, contacts};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use store::clients::{Client, ClientDetails};
use store::{ClientId, UserId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/clients", get(list).post(create))
        .route(
            "/api/clients/{client_id}",
            get(read).put(update).delete(remove),
        )
        .route(
            "/api/clients/{client_id}/contacts",
            get(read_contacts).put(replace_contacts),
        )
        .route(
            "/api/clients/{client_id}/shares",
            get(list_shares).post(share),
        )
        .route("/api/clients/{client_id}/shares/{user_id}", delete(unshare))
}

fn client_id(raw: &str) -> ApiResult<ClientId> {
    // A malformed id names nothing that exists: 404, like a random one.
    raw.parse().map_err(|_| Error::NotFound)
}

fn object(id: &str) -> Target<'_> {
    Target::Object {
        object_type: "client",
        object_id: id,
    }
}

/// Runs a store call on one client, auditing a not-found as a denied attempt.
async fn on_client<T>(
    staff: &Staff,
    state: &AppState,
    action: &str,
    raw_id: &str,
    result: store::Result<T>,
) -> ApiResult<T> {
    staff.found(&state.store, action, object(raw_id), result).await
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Name search: every word must match a name, whole or as a 3+ letter prefix.
    pub q: Option<String>,
}

/// Clients within your reach; `?q=` searches by name.
#[utoipa::path(get, path = "/api/clients",
    responses((status = 200, description = "Clients"), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Client>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadClient,
            "client.list",
            Target::Collection,
        )
        .await?;
    let clients = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => state
            .store
            .search_clients(&staff.actor, scope, q)
            .await
            .map_err(|e| match e {
                store::StoreError::Invalid(m) => Error::field("q", m),
                other => store_error(other),
            })?,
        None => state
            .store
            .list_clients(&staff.actor, scope)
            .await
            .map_err(store_error)?,
    };
    Ok(Json(clients))
}

/// Adds a client.
#[utoipa::path(post, path = "/api/clients",
    request_body = ClientInput,
    responses((status = 201, description = "The new client"), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(input): ApiJson<ClientInput>,
) -> ApiResult<(StatusCode, Json<Client>)> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::CreateClient,
            "client.create",
            Target::Collection,
        )
        .await?;
    let mut details = input.parse(&state)?;
    // A clinician's new client joins their own caseload, or they could not see it afterwards.
    if scope != store::ClientScope::Practice && details.primary_clinician_id.is_none() {
        details.primary_clinician_id = Some(staff.user.user_id);
    }
    let client = state
        .store
        .create_client(&staff.actor, &details)
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(client)))
}

/// One client.
#[utoipa::path(get, path = "/api/clients/{client_id}",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The client"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Client>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadClient,
            "client.read",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let r = state.store.get_client(&staff.actor, scope, id).await;
    Ok(Json(
        on_client(&staff, &state, "client.read", &raw, r).await?,
    ))
}

/// Replaces a client's details.
#[utoipa::path(put, path = "/api/clients/{client_id}",
    params(("client_id" = String, Path, description = "Client id")),
    request_body = ClientInput,
    responses((status = 200, description = "The updated client"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ClientInput>,
) -> ApiResult<Json<Client>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::UpdateClient,
            "client.update",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let details = input.parse(&state)?;
    let r = state
        .store
        .update_client(&staff.actor, scope, id, &details)
        .await;
    Ok(Json(
        on_client(&staff, &state, "client.update", &raw, r).await?,
    ))
}

/// Deletes a client without retained records.
#[utoipa::path(delete, path = "/api/clients/{client_id}",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 409, description = "The client has retained records", body = super::error::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::DeleteClient,
            "client.delete",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let r = state.store.delete_client(&staff.actor, scope, id).await;
    on_client(&staff, &state, "client.delete", &raw, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A client's guardian and extra contacts.
#[utoipa::path(get, path = "/api/clients/{client_id}/contacts",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "Contacts"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read_contacts(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<store::clients::ClientContact>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadContacts,
            "client.contacts.read",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let r = state.store.get_client(&staff.actor, scope, id).await;
    Ok(Json(
        on_client(&staff, &state, "client.contacts.read", &raw, r)
            .await?
            .contacts,
    ))
}

/// Replaces a client's contacts.
#[utoipa::path(put, path = "/api/clients/{client_id}/contacts",
    params(("client_id" = String, Path, description = "Client id")),
    request_body = Vec<ContactInput>,
    responses((status = 200, description = "Contacts"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn replace_contacts(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<Vec<ContactInput>>,
) -> ApiResult<Json<Vec<store::clients::ClientContact>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditContacts,
            "client.contacts.update",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let new_contacts = contacts(&input, state.settings.phone_region)?;
    let r = state.store.get_client(&staff.actor, scope, id).await;
    let c = on_client(&staff, &state, "client.contacts.update", &raw, r).await?;
    let details = ClientDetails {
        first_name: c.first_name,
        last_name: c.last_name,
        preferred_name: c.preferred_name,
        date_of_birth: c.date_of_birth,
        phone: c.phone,
        email: c.email,
        telegram_chat_id: c.telegram_chat_id,
        time_zone: c.time_zone,
        channel_preferences: c.channel_preferences,
        texting_consent: c.texting_consent,
        primary_clinician_id: c.primary_clinician_id,
        contacts: new_contacts,
    };
    let updated = state
        .store
        .update_client(&staff.actor, scope, id, &details)
        .await
        .map_err(store_error)?;
    Ok(Json(updated.contacts))
}

/// Colleagues the client is shared with.
#[utoipa::path(get, path = "/api/clients/{client_id}/shares",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "User ids"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn list_shares(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<UserId>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadClient,
            "client.shares.read",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let r = state.store.client_shares(&staff.actor, scope, id).await;
    Ok(Json(
        on_client(&staff, &state, "client.shares.read", &raw, r).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ShareInput {
    #[schema(value_type = String)]
    pub user_id: UserId,
}

/// Shares a client with a colleague.
#[utoipa::path(post, path = "/api/clients/{client_id}/shares",
    params(("client_id" = String, Path, description = "Client id")),
    request_body = ShareInput,
    responses((status = 204, description = "Shared"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn share(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ShareInput>,
) -> ApiResult<StatusCode> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ShareClient,
            "client.share",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let r = state
        .store
        .share_client(&staff.actor, scope, id, input.user_id)
        .await;
    on_client(&staff, &state, "client.share", &raw, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraws a share.
#[utoipa::path(delete, path = "/api/clients/{client_id}/shares/{user_id}",
    params(("client_id" = String, Path, description = "Client id"), ("user_id" = String, Path, description = "Colleague's user id")),
    responses((status = 204, description = "Withdrawn"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn unshare(
    State(state): State<AppState>,
    staff: Staff,
    Path((raw, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ShareClient,
            "client.unshare",
            object(&raw),
        )
        .await?;
    let id = client_id(&raw)?;
    let user: UserId = user.parse().map_err(|_| Error::NotFound)?;
    let r = state
        .store
        .unshare_client(&staff.actor, scope, id, user)
        .await;
    on_client(&staff, &state, "client.unshare", &raw, r).await?;
    Ok(StatusCode::NO_CONTENT)
}
