//! A client's consents (texting, AI scribing, 42 CFR Part 2 disclosure) and notes (read only
//! here). Notes come in two views: the full text for roles with `ReadNoteText` on the client, and
//! metadata only (date, format, status, signatures) for billing (HIPAA minimum necessary,
//! 45 CFR 164.502(b)). Anything outside the user's reach is 404.

use super::extract::{ApiJson, Staff, Target};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::{self, Capability, NoteView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::consents::{Consent, ConsentKind, NewConsent, Part2Disclosure};
use store::notes::{Note, NoteSummary};
use store::{ClientId, ConsentId, NoteId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/clients/{client_id}/consents",
            get(list_consents).post(record_consent),
        )
        .route("/api/consents/{consent_id}", get(read_consent))
        .route("/api/consents/{consent_id}/revoke", post(revoke_consent))
        .route("/api/clients/{client_id}/notes", get(list_notes))
        .route("/api/notes/{note_id}", get(read_note))
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| Error::NotFound)
}

/// A client's consents.
#[utoipa::path(get, path = "/api/clients/{client_id}/consents",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "Consents"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn list_consents(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<Consent>>> {
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadConsents,
            "consent.list",
            target,
        )
        .await?;
    // The store answers NotFound for a client outside `scope`, so this is the only query.
    let id: ClientId = parse_id(&raw)?;
    let r = state.store.list_consents(&staff.actor, scope, id).await;
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    Ok(Json(staff.found(&state.store, "consent.list", target, r).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// texting, ai_scribing or part2_disclosure.
    #[schema(value_type = String)]
    pub kind: ConsentKind,
    /// Required for part2_disclosure: recipient, purpose and how much (42 CFR 2.31(a)).
    #[schema(value_type = Option<Object>)]
    pub disclosure: Option<Part2Disclosure>,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Records a consent.
#[utoipa::path(post, path = "/api/clients/{client_id}/consents",
    params(("client_id" = String, Path, description = "Client id")),
    request_body = ConsentInput,
    responses((status = 201, description = "The consent"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody), (status = 422, description = "A field is invalid; `field` names it", body = super::error::ErrorBody)))]
async fn record_consent(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> ApiResult<(StatusCode, Json<Consent>)> {
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditConsents,
            "consent.create",
            target,
        )
        .await?;
    let client_id: ClientId = parse_id(&raw)?;
    if (input.kind == ConsentKind::Part2Disclosure) != input.disclosure.is_some() {
        return Err(Error::field(
            "disclosure",
            "give recipient, purpose and scope for a Part 2 disclosure consent, and only for that kind",
        ));
    }
    let new = NewConsent {
        client_id,
        kind: input.kind,
        disclosure: input.disclosure,
        granted_at: input.granted_at.unwrap_or_else(Utc::now),
        expires_at: input.expires_at,
    };
    let r = state.store.record_consent(&staff.actor, scope, &new).await;
    Ok((
        StatusCode::CREATED,
        Json(staff.found(&state.store, "consent.create", target, r).await?),
    ))
}

/// One consent.
#[utoipa::path(get, path = "/api/consents/{consent_id}",
    params(("consent_id" = String, Path, description = "Consent id")),
    responses((status = 200, description = "The consent"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read_consent(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Consent>> {
    let target = Target::Object {
        object_type: "consent",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadConsents,
            "consent.read",
            target,
        )
        .await?;
    let r = state
        .store
        .get_consent(&staff.actor, scope, parse_id::<ConsentId>(&raw)?)
        .await;
    Ok(Json(
        staff.found(&state.store, "consent.read", target, r).await?,
    ))
}

/// Revokes a consent.
#[utoipa::path(post, path = "/api/consents/{consent_id}/revoke",
    params(("consent_id" = String, Path, description = "Consent id")),
    responses((status = 200, description = "The consent"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn revoke_consent(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Consent>> {
    let target = Target::Object {
        object_type: "consent",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::EditConsents,
            "consent.revoke",
            target,
        )
        .await?;
    let r = state
        .store
        .revoke_consent(&staff.actor, scope, parse_id::<ConsentId>(&raw)?)
        .await;
    Ok(Json(
        staff.found(&state.store, "consent.revoke", target, r).await?,
    ))
}

/// Note metadata for a client (no text).
#[utoipa::path(get, path = "/api/clients/{client_id}/notes",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "Note summaries"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn list_notes(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<NoteSummary>>> {
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    let scope = staff
        .authorize(
            &state.store,
            Capability::ReadNoteMetadata,
            "note.list",
            target,
        )
        .await?;
    // The store answers NotFound for a client outside `scope`, so this is the only query.
    let id: ClientId = parse_id(&raw)?;
    let r = state.store.list_notes(&staff.actor, scope, id).await;
    let target = Target::Object {
        object_type: "client",
        object_id: &raw,
    };
    Ok(Json(staff.found(&state.store, "note.list", target, r).await?))
}

/// A note as a role may see it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum NoteReply {
    Full(Note),
    MetadataOnly(NoteSummary),
}

/// A note: full text for clinicians, metadata only for billing.
#[utoipa::path(get, path = "/api/notes/{note_id}",
    params(("note_id" = String, Path, description = "Note id")),
    responses((status = 200, description = "The note"), (status = 404, description = "No such object within your reach", body = super::error::ErrorBody)))]
async fn read_note(
    State(state): State<AppState>,
    staff: Staff,
    Path(raw): Path<String>,
) -> ApiResult<Json<NoteReply>> {
    let target = Target::Object {
        object_type: "note",
        object_id: &raw,
    };
    let id: NoteId = parse_id(&raw)?;
    match authz::note_view(&staff.roles) {
        NoteView::Full => {
            let scope = staff
                .authorize(&state.store, Capability::ReadNoteText, "note.read", target)
                .await?;
            let r = state.store.get_note(&staff.actor, scope, id).await;
            Ok(Json(NoteReply::Full(
                staff.found(&state.store, "note.read", target, r).await?,
            )))
        }
        NoteView::MetadataOnly | NoteView::Hidden => {
            let scope = staff
                .authorize(
                    &state.store,
                    Capability::ReadNoteMetadata,
                    "note.read_metadata",
                    target,
                )
                .await?;
            let r = state.store.get_note_summary(&staff.actor, scope, id).await;
            Ok(Json(NoteReply::MetadataOnly(
                staff.found(&state.store, "note.read_metadata", target, r).await?,
            )))
        }
    }
}
