//! Client pages: the list of clients in the user's reach, and one client's page with what the
//! role may see only: appointments (`ReadSchedule`), progress notes (metadata for billing,
//! links to the text for the clinicians), unread secure-message replies (`ReadSecureMessages`),
//! consents (`ReadConsents`, and a form to record one with `EditConsents`). A section the role
//! lacks is left out, not shown empty. Every read is audited by the store.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{Value, context};
use serde::Deserialize;
use store::consents::{ConsentKind, NewConsent};
use store::{ClientId, ClientScope, StoreError};

use super::{WebStaff, failed, not_found, csrf_ok, csrf_refused, error_page, render};
use crate::app::AppState;
use crate::authz::{self, Access, Capability};
use crate::http::Error;
use crate::http::extract::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/clients", get(list))
        .route("/app/clients/{id}", get(page))
        .route("/app/clients/{id}/consents", post(record_consent))
}

fn name(c: &store::clients::Client) -> String {
    format!("{} {}", c.preferred_name.as_deref().unwrap_or(&c.first_name), c.last_name)
}

fn granted(web: &WebStaff, c: Capability) -> bool {
    matches!(authz::check(&web.staff.roles, c), Access::Granted(_))
}

async fn list(State(state): State<AppState>, web: WebStaff) -> Response {
    let scope = match web.staff.authorize(&state.store, Capability::ReadClient, "client.list", Target::Collection).await {
        Ok(s) => s,
        Err(Error::Forbidden(m)) => return error_page(StatusCode::FORBIDDEN, "Not available to your role", m),
        Err(e) => return failed("authorising the client list", e),
    };
    let clients = match state.store.list_clients(&web.staff.actor, scope).await {
        Ok(c) => c,
        Err(e) => return failed("listing clients", e),
    };
    let items: Vec<Value> = clients.iter().map(|c| context! { id => c.client_id.to_string(), name => name(c), dob => c.date_of_birth.map(|d| d.to_string()).unwrap_or_default() }).collect();
    render(StatusCode::OK, "clients.html", context! { title => "Clients", me => web.me(), csrf => web.csrf.clone(), clients => items })
}

/// The scope for `capability` on this client, or `None` when the role lacks it.
async fn reach(state: &AppState, web: &WebStaff, capability: Capability) -> Option<ClientScope> {
    if !granted(web, capability) {
        return None;
    }
    web.staff.authorize(&state.store, capability, "client.read", Target::Collection).await.ok()
}

async fn page(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    show(&state, &web, &raw, StatusCode::OK, None, None).await
}

async fn show(state: &AppState, web: &WebStaff, raw: &str, status: StatusCode, error: Option<&str>, notice: Option<&str>) -> Response {
    let target = Target::Object { object_type: "client", object_id: raw };
    let scope = match web.staff.authorize(&state.store, Capability::ReadClient, "client.read", target).await {
        Ok(s) => s,
        Err(Error::NotFound) => return not_found(),
        Err(e) => return failed("authorising a client page", e),
    };
    let Ok(id) = raw.parse::<ClientId>() else {
        let _ = web.staff.audit_denied(&state.store, "client.read", target).await;
        return not_found();
    };
    let actor = &web.staff.actor;
    let client = match state.store.get_client(actor, scope, id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, "client.read", target).await;
            return not_found();
        }
        Err(e) => return failed("reading a client", e),
    };
    let contacts = reach(state, web, Capability::ReadContacts).await.is_some();
    let tz: chrono_tz::Tz = client.time_zone.as_str().parse().unwrap_or(chrono_tz::UTC);

    let appointments: Option<Vec<Value>> = match reach(state, web, Capability::ReadSchedule).await {
        Some(s) => match state.store.list_client_appointments(actor, s, id).await {
            Ok(list) => Some(
                list.iter()
                    .map(|a| context! { when => a.details.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(), modality => format!("{:?}", a.details.modality).to_lowercase(), status => format!("{:?}", a.status).to_lowercase() })
                    .collect(),
            ),
            Err(e) => return failed("listing a client's appointments", e),
        },
        None => None,
    };
    let notes: Option<Vec<Value>> = match reach(state, web, Capability::ReadNoteMetadata).await {
        Some(s) => match state.store.list_notes(actor, s, id).await {
            Ok(list) => Some(list.iter().map(|n| context! { id => n.note_id.to_string(), created => n.created_at.with_timezone(&tz).format("%Y-%m-%d").to_string(), format => n.format.clone(), status => n.status.as_str() }).collect()),
            Err(e) => return failed("listing a client's notes", e),
        },
        None => None,
    };
    let messages: Option<i64> = match reach(state, web, Capability::ReadSecureMessages).await {
        Some(s) => match state.store.unread_portal_replies(actor, s).await {
            Ok(list) => Some(list.iter().find(|u| u.client_id == id).map_or(0, |u| u.unread)),
            Err(e) => return failed("counting a client's unread replies", e),
        },
        None => None,
    };
    let consents: Option<Vec<Value>> = match reach(state, web, Capability::ReadConsents).await {
        Some(s) => match state.store.list_consents(actor, s, id).await {
            Ok(list) => {
                let now = chrono::Utc::now();
                Some(
                    list.iter()
                        .map(|c| {
                            let kind = match c.kind {
                                ConsentKind::AiScribing => "AI scribe",
                                ConsentKind::Texting => "Text messages",
                                ConsentKind::Part2Disclosure => "42 CFR Part 2 disclosure",
                            };
                            let state = if c.revoked_at.is_some() { "revoked" } else if c.is_active_at(now) { "active" } else { "expired" };
                            context! { kind => kind, state => state, granted => c.granted_at.with_timezone(&tz).format("%Y-%m-%d").to_string() }
                        })
                        .collect(),
                )
            }
            Err(e) => return failed("listing a client's consents", e),
        },
        None => None,
    };
    let ctx = context! {
        id => client.client_id.to_string(),
        dob => client.date_of_birth.map(|d| d.to_string()),
        phone => if contacts { client.phone.as_ref().map(|p| p.as_str().to_owned()) } else { None },
        time_zone => client.time_zone.as_str(),
    };
    render(
        status,
        "client.html",
        context! {
            title => name(&client), me => web.me(), csrf => web.csrf.clone(), error => error, notice => notice, client => ctx,
            appointments => appointments, notes => notes, messages => messages, consents => consents,
            can_read_notes => granted(web, Capability::ReadNoteText), can_edit_consents => granted(web, Capability::EditConsents), can_scribe => granted(web, Capability::UseScribe),
        },
    )
}

#[derive(Deserialize)]
struct ConsentForm {
    csrf: String,
    kind: String,
}

async fn record_consent(State(state): State<AppState>, web: WebStaff, headers: HeaderMap, Path(raw): Path<String>, form: Result<Form<ConsentForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Choose the kind of consent."), None).await };
    if !csrf_ok(&state, &headers, &f.csrf) {
        return csrf_refused();
    }
    let kind = match f.kind.as_str() {
        "ai_scribing" => ConsentKind::AiScribing,
        "texting" => ConsentKind::Texting,
        _ => return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Choose AI scribe or text messages. Part 2 disclosure consents are recorded through the API with their recipient and purpose."), None).await,
    };
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = match web.staff.authorize(&state.store, Capability::EditConsents, "consent.create", target).await {
        Ok(s) => s,
        Err(Error::NotFound) => return not_found(),
        Err(e) => return failed("authorising a consent", e),
    };
    let Ok(id) = raw.parse::<ClientId>() else { return not_found() };
    let new = NewConsent { client_id: id, kind, disclosure: None, granted_at: chrono::Utc::now(), expires_at: None };
    match state.store.record_consent(&web.staff.actor, scope, &new).await {
        Ok(_) => Redirect::to(&format!("/app/clients/{raw}#consents")).into_response(),
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, "consent.create", target).await;
            not_found()
        }
        Err(StoreError::Invalid(m)) => show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&m), None).await,
        Err(e) => failed("recording a consent", e),
    }
}
