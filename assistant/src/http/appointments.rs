//! Appointments: the schedule, one appointment (with several clients for a group), status
//! changes with their history, and a client's appointments. Visibility follows the client
//! scope from [`crate::authz`], applied by the store in SQL; outside it, 404.

use super::extract::{ApiJson, Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::Capability;
use crate::domain::TimeZone;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::appointments::{
    Appointment, AppointmentDetails, AppointmentStatus, Modality, StatusChange,
};
use store::{AppointmentId, ClientId, UserId};

/// Longest schedule window one request may list.
pub const MAX_LIST_DAYS: i64 = 92;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/appointments", get(list).post(create))
        .route("/api/appointments/{appointment_id}", get(read).put(update))
        .route(
            "/api/appointments/{appointment_id}/status",
            post(change_status),
        )
        .route("/api/appointments/{appointment_id}/history", get(history))
        .route("/api/clients/{client_id}/appointments", get(for_client))
}

/// An appointment as submitted. Several `client_ids` make a group appointment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    #[schema(value_type = String)]
    pub clinician_id: UserId,
    #[schema(value_type = Vec<String>)]
    pub client_ids: Vec<ClientId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// IANA name of the zone the appointment is held in.
    pub time_zone: String,
    #[schema(value_type = String)]
    pub modality: Modality,
    pub location: Option<String>,
    pub join_link: Option<String>,
    pub service_code: Option<String>,
}

impl AppointmentInput {
    fn parse(self) -> ApiResult<AppointmentDetails> {
        let tz =
            TimeZone::parse(&self.time_zone).map_err(|e| Error::field("time_zone", e.message))?;
        if self.ends_at <= self.starts_at {
            return Err(Error::field("ends_at", "the end must be after the start"));
        }
        if let Some(link) = &self.join_link {
            crate::reminders::telehealth::JoinLink::parse(link)
                .map_err(|e| Error::field("join_link", e.to_string()))?;
        }
        Ok(AppointmentDetails {
            clinician_id: self.clinician_id,
            client_ids: self.client_ids,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            time_zone: store::TimeZoneName::parse(tz.name())
                .map_err(|e| Error::field("time_zone", e.to_string()))?,
            modality: self.modality,
            location: self.location,
            join_link: self.join_link,
            service_code: self.service_code,
        })
    }
}

fn appointment_id(raw: &str) -> ApiResult<AppointmentId> {
    raw.parse().map_err(|_| Error::NotFound)
}

fn object(id: &str) -> Target<'_> {
    Target::Object {
        object_type: "appointment",
        object_id: id,
    }
}

#[derive(Debug, Deserialize)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The schedule within your reach (`from`, `to`, at most 92 days).
#[utoipa::path(get, path = "/api/appointments",
    responses((status = 200, description = "Appointments"), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(w): Query<Window>,
) -> ApiResult<Json<Vec<Appointment>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadSchedule,
            "appointment.list",
            Target::Collection,
        )
        .await?;
    let from = w
        .from
        .unwrap_or_else(|| Utc::now() - chrono::Duration::days(7));
    let to = w.to.unwrap_or_else(|| from + chrono::Duration::days(28));
    if to <= from || to - from > chrono::Duration::days(MAX_LIST_DAYS) {
        return Err(Error::field(
            "to",
            format!("`to` must be after `from` and at most {MAX_LIST_DAYS} days later"),
        ));
    }
    Ok(Json(
        state
            .store
            .list_appointments(&staff.actor, scope, from, to)
            .await
            .map_err(store_error)?,
    ))
}

/// Books an appointment; several clients make a group.
#[utoipa::path(post, path = "/api/appointments",
    request_body = AppointmentInput,
    responses((status = 201, description = "The appointment"), (status = 403, description = "Your role may not do this", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(input): ApiJson<AppointmentInput>,
) -> ApiResult<(StatusCode, Json<Appointment>)> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditSchedule,
            "appointment.create",
            Target::Collection,
        )
        .await?;
    let details = input.parse()?;
    // A client outside the scope reads as a bad field, not as a hint that it exists.
    let a = state
        .store
        .create_appointment(&staff.actor, scope, &details)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => Error::field(
                "client_ids",
                "one of these clients or the clinician is not one you can schedule",
            ),
            other => store_error(other),
        })?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// One appointment.
#[utoipa::path(get, path = "/api/appointments/{appointment_id}",
    params(("appointment_id" = String, Path, description = "Appointment id")),
    responses((status = 200, description = "The appointment"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Appointment>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadSchedule,
            "appointment.read",
            object(&raw),
        )
        .await?;
    let r = state
        .store
        .get_appointment(&staff.actor, scope, appointment_id(&raw)?)
        .await;
    Ok(Json(
        staff.found(&state.store, "appointment.read", object(&raw), r).await?,
    ))
}

/// Reschedules or edits an appointment.
#[utoipa::path(put, path = "/api/appointments/{appointment_id}",
    params(("appointment_id" = String, Path, description = "Appointment id")),
    request_body = AppointmentInput,
    responses((status = 200, description = "The appointment"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<AppointmentInput>,
) -> ApiResult<Json<Appointment>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditSchedule,
            "appointment.update",
            object(&raw),
        )
        .await?;
    let id = appointment_id(&raw)?;
    let details = input.parse()?;
    let r = state
        .store
        .update_appointment(&staff.actor, scope, id, &details)
        .await;
    Ok(Json(
        staff.found(&state.store, "appointment.update", object(&raw), r).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    #[schema(value_type = String)]
    pub status: AppointmentStatus,
    /// Why (e.g. "client asked to reschedule"); kept in the history. No clinical detail.
    pub reason: Option<String>,
}

/// Confirms, cancels, marks no-show or completed; kept in the history.
#[utoipa::path(post, path = "/api/appointments/{appointment_id}/status",
    params(("appointment_id" = String, Path, description = "Appointment id")),
    request_body = StatusInput,
    responses((status = 200, description = "The appointment"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn change_status(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<Json<Appointment>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditSchedule,
            "appointment.status",
            object(&raw),
        )
        .await?;
    let id = appointment_id(&raw)?;
    let r = state
        .store
        .set_appointment_status(
            &staff.actor,
            scope,
            id,
            input.status,
            input.reason.as_deref(),
        )
        .await;
    let a = staff.found(&state.store, "appointment.status", object(&raw), r).await?;
    // A visit staff cancel is offered to the clinician's waitlist (issue 4, "Waitlist"). The
    // cancellation stands even if that fails; the error holds no PHI.
    if a.status == AppointmentStatus::Cancelled
        && let Err(e) = crate::replies::offer_cancelled_slot(&state.store, &staff.actor, a.appointment_id, store::types::now()).await
    {
        tracing::warn!(error = %e, "offering a cancelled visit to the waitlist failed");
    }
    Ok(Json(a))
}

/// Status changes, oldest first.
#[utoipa::path(get, path = "/api/appointments/{appointment_id}/history",
    params(("appointment_id" = String, Path, description = "Appointment id")),
    responses((status = 200, description = "History"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<StatusChange>>> {
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadSchedule,
            "appointment.history",
            object(&raw),
        )
        .await?;
    let r = state
        .store
        .appointment_status_history(&staff.actor, scope, appointment_id(&raw)?)
        .await;
    Ok(Json(
        staff.found(&state.store, "appointment.history", object(&raw), r).await?,
    ))
}

/// A client's appointments.
#[utoipa::path(get, path = "/api/clients/{client_id}/appointments",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "Appointments"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn for_client(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<Appointment>>> {
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadSchedule,
            "client.appointments",
            target,
        )
        .await?;
    let id: ClientId = raw.parse().map_err(|_| Error::NotFound)?;
    // The store answers NotFound for a client outside `scope`, so this is the only query.
    let r = state
        .store
        .list_client_appointments(&staff.actor, scope, id)
        .await;
    Ok(Json(
        staff.found(&state.store, "client.appointments", target, r).await?,
    ))
}
