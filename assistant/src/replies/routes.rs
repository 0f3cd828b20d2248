//! Staff routes for a clinician's waitlist: list it, put a client on it, take one off.
//! Authorised like the schedule: reading needs [`Capability::ReadSchedule`], changing it
//! [`Capability::EditSchedule`], and the client must be in the caller's reach.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use store::replies::WaitlistEntry;
use store::{ClientId, UserId};

use crate::app::AppState;
use crate::authz::Capability;
use crate::http::extract::{Staff, Target};
use crate::http::{ApiResult, Error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/clinicians/{user_id}/waitlist", get(list))
        .route("/api/clinicians/{user_id}/waitlist/{client_id}", axum::routing::put(add).delete(remove))
}

fn ids(user: &str, client: &str) -> ApiResult<(UserId, ClientId)> {
    Ok((user.parse().map_err(|_| Error::NotFound)?, client.parse().map_err(|_| Error::NotFound)?))
}

async fn list(State(state): State<AppState>, staff: Staff, Path(user): Path<String>) -> ApiResult<Json<Vec<WaitlistEntry>>> {
    let target = Target::Object { object_type: "staff_user", object_id: &user };
    let scope = staff.authorize(&state.store, Capability::ReadSchedule, "waitlist.list", target).await?;
    let id: UserId = user.parse().map_err(|_| Error::NotFound)?;
    let r = state.store.list_waitlist(&staff.actor, scope, id).await;
    Ok(Json(staff.found(&state.store, "waitlist.list", target, r).await?))
}

async fn add(State(state): State<AppState>, staff: Staff, Path((user, client)): Path<(String, String)>) -> ApiResult<Json<WaitlistEntry>> {
    let target = Target::Object { object_type: "client", object_id: &client };
    let scope = staff.authorize(&state.store, Capability::EditSchedule, "waitlist.add", target).await?;
    let (user, client) = ids(&user, &client)?;
    let r = state.store.add_to_waitlist(&staff.actor, scope, user, client).await;
    Ok(Json(staff.found(&state.store, "waitlist.add", target, r).await?))
}

async fn remove(State(state): State<AppState>, staff: Staff, Path((user, client)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let target = Target::Object { object_type: "client", object_id: &client };
    let scope = staff.authorize(&state.store, Capability::EditSchedule, "waitlist.remove", target).await?;
    let (user, client) = ids(&user, &client)?;
    let r = state.store.remove_from_waitlist(&staff.actor, scope, user, client).await;
    staff.found(&state.store, "waitlist.remove", target, r).await?;
    Ok(StatusCode::NO_CONTENT)
}
