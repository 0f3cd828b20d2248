//! Clinicians' working hours: weekly slots in local time and dated exceptions (time off, extra
//! hours). Not PHI. Everyone but billing sees the practice's availability; clinicians edit their
//! own, administrators and front desk anyone's in the practice.

use super::extract::{ApiJson, Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::{Capability, Reach};
use crate::domain::TimeZone;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use store::availability::{
    AvailabilityException, ExceptionKind, NewAvailabilityException, NewWeeklySlot, WeeklySlot,
};
use store::{SlotId, UserId};

/// Longest window of exceptions one request lists.
pub const MAX_WINDOW_DAYS: i64 = 92;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/clinicians/{user_id}/availability", get(read))
        .route(
            "/api/clinicians/{user_id}/availability/slots",
            post(add_slot),
        )
        .route(
            "/api/clinicians/{user_id}/availability/slots/{slot_id}",
            delete(remove_slot),
        )
        .route(
            "/api/clinicians/{user_id}/availability/exceptions",
            post(add_exception),
        )
}

#[derive(Serialize)]
pub struct Availability {
    pub slots: Vec<WeeklySlot>,
    pub exceptions: Vec<AvailabilityException>,
}

#[derive(Debug, Deserialize)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn user_id(raw: &str) -> ApiResult<UserId> {
    raw.parse().map_err(|_| Error::NotFound)
}

/// Edit rights: over the whole practice, or only one's own hours. Otherwise 404.
async fn may_edit(staff: &Staff, state: &AppState, raw: &str, action: &str) -> ApiResult<UserId> {
    let target = Target::Object {
        object_type: "staff_user",
        object_id: raw,
    };
    staff
        .authorize(&state.store, Capability::EditAvailability, action, target)
        .await?;
    let id = user_id(raw)?;
    let own = id == staff.user.user_id;
    if crate::authz::reach(&staff.roles, Capability::EditAvailability) == Reach::Practice || own {
        Ok(id)
    } else {
        staff.audit_denied(&state.store, action, target).await?;
        Err(Error::NotFound)
    }
}

/// Weekly hours and exceptions of a clinician.
#[utoipa::path(get, path = "/api/clinicians/{user_id}/availability",
    params(("user_id" = String, Path, description = "Clinician's user id")),
    responses((status = 200, description = "Availability"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    Query(w): Query<Window>,
) -> ApiResult<Json<Availability>> {
    let target = Target::Object {
        object_type: "staff_user",
        object_id: &raw,
    };
    staff
        .authorize(
            &state.store,
            Capability::ReadAvailability,
            "availability.read",
            target,
        )
        .await?;
    let id = user_id(&raw)?;
    // Another practice's user is 404: `get_user` is practice-scoped.
    state
        .store
        .get_user(&staff.actor, id)
        .await
        .map_err(store_error)?;
    let from = w.from.unwrap_or_else(Utc::now);
    let to = w.to.unwrap_or_else(|| from + chrono::Duration::days(28));
    if to <= from || to - from > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(Error::field(
            "to",
            format!("`to` must be after `from` and at most {MAX_WINDOW_DAYS} days later"),
        ));
    }
    let slots = state
        .store
        .list_weekly_slots(&staff.actor, id)
        .await
        .map_err(store_error)?;
    let exceptions = state
        .store
        .list_availability_exceptions(&staff.actor, id, from, to)
        .await
        .map_err(store_error)?;
    Ok(Json(Availability { slots, exceptions }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotInput {
    /// Mon, Tue, … (ISO weekday names).
    #[schema(value_type = String)]
    pub weekday: Weekday,
    /// Local start time, `09:00`.
    #[schema(value_type = String)]
    pub start: NaiveTime,
    /// Local end time, exclusive.
    #[schema(value_type = String)]
    pub end: NaiveTime,
    pub time_zone: String,
}

/// Adds weekly hours.
#[utoipa::path(post, path = "/api/clinicians/{user_id}/availability/slots",
    params(("user_id" = String, Path, description = "Clinician's user id")),
    request_body = SlotInput,
    responses((status = 201, description = "The slot"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn add_slot(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<SlotInput>,
) -> ApiResult<(StatusCode, Json<WeeklySlot>)> {
    let id = may_edit(&staff, &state, &raw, "availability.slot.create").await?;
    let tz = TimeZone::parse(&input.time_zone).map_err(|e| Error::field("time_zone", e.message))?;
    if input.end <= input.start {
        return Err(Error::field(
            "end",
            "the end must be after the start, on the same day",
        ));
    }
    let new = NewWeeklySlot {
        clinician_id: id,
        weekday: input.weekday,
        start: input.start,
        end: input.end,
        time_zone: store::TimeZoneName::parse(tz.name())
            .map_err(|e| Error::field("time_zone", e.to_string()))?,
    };
    let slot = state
        .store
        .add_weekly_slot(&staff.actor, &new)
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(slot)))
}

/// Removes weekly hours.
#[utoipa::path(delete, path = "/api/clinicians/{user_id}/availability/slots/{slot_id}",
    params(("user_id" = String, Path, description = "Clinician's user id"), ("slot_id" = String, Path, description = "Slot id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn remove_slot(
    State(state): State<AppState>,
    staff: Staff,
    Path((raw, slot)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = may_edit(&staff, &state, &raw, "availability.slot.delete").await?;
    let slot: SlotId = slot.parse().map_err(|_| Error::NotFound)?;
    // The slot must belong to the clinician named in the path, whom this user may edit.
    let slots = state
        .store
        .list_weekly_slots(&staff.actor, id)
        .await
        .map_err(store_error)?;
    if !slots.iter().any(|s| s.slot_id == slot) {
        return Err(Error::NotFound);
    }
    state
        .store
        .delete_weekly_slot(&staff.actor, slot)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionInput {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `unavailable` (time off) or `available` (extra hours).
    #[schema(value_type = String)]
    pub kind: ExceptionKind,
}

/// Adds time off or extra hours.
#[utoipa::path(post, path = "/api/clinicians/{user_id}/availability/exceptions",
    params(("user_id" = String, Path, description = "Clinician's user id")),
    request_body = ExceptionInput,
    responses((status = 201, description = "The exception"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn add_exception(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ExceptionInput>,
) -> ApiResult<(StatusCode, Json<AvailabilityException>)> {
    let id = may_edit(&staff, &state, &raw, "availability.exception.create").await?;
    if input.ends_at <= input.starts_at {
        return Err(Error::field("ends_at", "the end must be after the start"));
    }
    let new = NewAvailabilityException {
        clinician_id: id,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        kind: input.kind,
    };
    let e = state
        .store
        .add_availability_exception(&staff.actor, &new)
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(e)))
}
