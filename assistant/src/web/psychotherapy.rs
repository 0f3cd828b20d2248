//! Psychotherapy notes (45 CFR 164.501), in their own tab: kept apart from the record by the
//! store (own table and keys), readable only by their author and the author's supervisor,
//! editable only by the author, never listed with progress notes or on the client page.
//! Reaching the tab needs the `UseScribe` reach on the client (the clinicians who write notes);
//! the store then shows only what the user wrote or supervises.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Value, context};
use serde::Deserialize;
use store::psychotherapy_notes::PsychotherapyNote;
use store::{ClientId, PsychotherapyNoteId, StoreError};

use super::{WebStaff, failed, csrf_ok, csrf_refused, error_page, render};
use crate::app::AppState;
use crate::authz::Capability;
use crate::http::Error;
use crate::http::extract::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/clients/{id}/psychotherapy-notes", get(tab).post(create))
        .route("/app/psychotherapy-notes/{id}", get(page).post(update))
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", "There is nothing here, or it is not yours to read.")
}

/// The client, if the user may write notes for them.
async fn client_in_reach(state: &AppState, web: &WebStaff, raw: &str, action: &str) -> Result<(store::ClientScope, ClientId), Response> {
    let target = Target::Object { object_type: "client", object_id: raw };
    let scope = web.staff.authorize(&state.store, Capability::UseScribe, action, target).await.map_err(|e| match e {
        Error::NotFound => not_found(),
        other => failed("authorising the psychotherapy notes tab", other),
    })?;
    let Ok(id) = raw.parse::<ClientId>() else {
        let _ = web.staff.audit_denied(&state.store, action, target).await;
        return Err(not_found());
    };
    match state.store.get_client(&web.staff.actor, scope, id).await {
        Ok(_) => Ok((scope, id)),
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, action, target).await;
            Err(not_found())
        }
        Err(e) => Err(failed("reading a client", e)),
    }
}

async fn tab(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    show_tab(&state, &web, &raw, StatusCode::OK, None).await
}

async fn show_tab(state: &AppState, web: &WebStaff, raw: &str, status: StatusCode, error: Option<&str>) -> Response {
    let (_, client) = match client_in_reach(state, web, raw, "psychotherapy_note.list").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let notes = match state.store.list_psychotherapy_notes(&web.staff.actor, client).await {
        Ok(n) => n,
        Err(e) => return failed("listing psychotherapy notes", e),
    };
    let me = web.staff.user.user_id;
    let mut items: Vec<Value> = Vec::new();
    for n in &notes {
        let author = if n.author_id == me { String::new() } else { state.store.get_user(&web.staff.actor, n.author_id).await.map(|u| u.display_name).unwrap_or_default() };
        items.push(context! { id => n.psychotherapy_note_id.to_string(), created => n.created_at.format("%Y-%m-%d %H:%M UTC").to_string(), mine => n.author_id == me, author => author });
    }
    render(status, "psychotherapy_notes.html", context! { title => "Psychotherapy notes", me => web.me(), csrf => web.csrf.clone(), error => error, notes => items, client_id => client.to_string() })
}

#[derive(Deserialize)]
struct BodyForm {
    csrf: String,
    body: String,
    version: Option<i64>,
}

async fn create(State(state): State<AppState>, web: WebStaff, headers: HeaderMap, Path(raw): Path<String>, form: Result<Form<BodyForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show_tab(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Write the note.")).await };
    if !csrf_ok(&state, &headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, client) = match client_in_reach(&state, &web, &raw, "psychotherapy_note.create").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.store.create_psychotherapy_note(&web.staff.actor, scope, client, None, &f.body).await {
        Ok(n) => Redirect::to(&format!("/app/psychotherapy-notes/{}", n.psychotherapy_note_id)).into_response(),
        Err(StoreError::Invalid(m)) => show_tab(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&m)).await,
        Err(e) => failed("saving a psychotherapy note", e),
    }
}

async fn load(state: &AppState, web: &WebStaff, raw: &str, action: &str) -> Result<PsychotherapyNote, Response> {
    let target = Target::Object { object_type: "psychotherapy_note", object_id: raw };
    if let Err(e) = web.staff.authorize(&state.store, Capability::UseScribe, action, target).await {
        return Err(match e {
            Error::NotFound => not_found(),
            other => failed("authorising a psychotherapy note", other),
        });
    }
    let Ok(id) = raw.parse::<PsychotherapyNoteId>() else {
        let _ = web.staff.audit_denied(&state.store, action, target).await;
        return Err(not_found());
    };
    match state.store.get_psychotherapy_note(&web.staff.actor, id).await {
        Ok(n) => Ok(n),
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, action, target).await;
            Err(not_found())
        }
        Err(e) => Err(failed("reading a psychotherapy note", e)),
    }
}

async fn page(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    show(&state, &web, &raw, StatusCode::OK, None).await
}

async fn show(state: &AppState, web: &WebStaff, raw: &str, status: StatusCode, error: Option<&str>) -> Response {
    let n = match load(state, web, raw, "psychotherapy_note.read").await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let ctx = context! {
        id => n.psychotherapy_note_id.to_string(), client_id => n.client_id.to_string(), version => n.version,
        body => n.body.clone(), lines => n.body.lines().map(str::to_owned).collect::<Vec<_>>(),
    };
    render(status, "psychotherapy_note.html", context! { title => "Psychotherapy note", me => web.me(), csrf => web.csrf.clone(), error => error, note => ctx, editable => n.author_id == web.staff.user.user_id })
}

async fn update(State(state): State<AppState>, web: WebStaff, headers: HeaderMap, Path(raw): Path<String>, form: Result<Form<BodyForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("The form was incomplete; nothing was saved.")).await };
    if !csrf_ok(&state, &headers, &f.csrf) {
        return csrf_refused();
    }
    let n = match load(&state, &web, &raw, "psychotherapy_note.update").await {
        Ok(n) => n,
        Err(r) => return r,
    };
    match state.store.update_psychotherapy_note(&web.staff.actor, n.psychotherapy_note_id, &f.body, f.version.unwrap_or(n.version)).await {
        Ok(_) => Redirect::to(&format!("/app/psychotherapy-notes/{raw}")).into_response(),
        Err(StoreError::Conflict { .. }) => show(&state, &web, &raw, StatusCode::CONFLICT, Some("Someone saved this note since you opened it; your text was not saved. Copy it, reload, and apply your change again.")).await,
        Err(StoreError::Invalid(m)) => show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&m)).await,
        Err(StoreError::NotFound) | Err(StoreError::State(_)) => show(&state, &web, &raw, StatusCode::FORBIDDEN, Some("Only the author edits a psychotherapy note; a supervisor reads it.")).await,
        Err(e) => failed("saving a psychotherapy note", e),
    }
}
