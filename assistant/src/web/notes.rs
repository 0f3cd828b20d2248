//! The note page: edit a draft (every save is a version), sign it (the authenticator code is
//! asked again), a trainee's signed note to their supervisor, who co-signs (code again) or
//! returns it with a comment (the note stays locked: the trainee answers with an addendum),
//! addenda after signing, every version viewable. Plus the co-sign queue. Who may: the
//! `ReadNoteText` reach (a clinician's caseload, a supervisor's trainees' clients); signing only
//! by the author, co-signing and returning only by the author's supervisor (the store checks it
//! too). Only a person signs: the scribe's drafts are never signed by the system.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use secrecy::SecretString;
use serde::Deserialize;
use store::notes::{Note, NoteStatus};
use store::{ClientScope, NoteId, StoreError, UserId};

use super::{WebStaff, failed, not_found, csrf_ok, csrf_refused, error_page, render};
use crate::app::AppState;
use crate::authz::{Capability, Role};
use crate::http::Error;
use crate::http::extract::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/notes/{id}", get(note_page))
        .route("/app/notes/{id}/edit", post(edit))
        .route("/app/notes/{id}/sign", post(sign))
        .route("/app/notes/{id}/cosign", post(cosign))
        .route("/app/notes/{id}/return", post(return_note))
        .route("/app/notes/{id}/addenda", post(addendum))
        .route("/app/cosign", get(cosign_queue))
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Names of staff for display, looked up once per page.
struct Names<'a> {
    state: &'a AppState,
    web: &'a WebStaff,
    known: HashMap<UserId, String>,
}

impl<'a> Names<'a> {
    fn new(state: &'a AppState, web: &'a WebStaff) -> Self {
        Self { state, web, known: HashMap::new() }
    }
    async fn of(&mut self, id: UserId) -> String {
        if let Some(n) = self.known.get(&id) {
            return n.clone();
        }
        let n = self.state.store.get_user(&self.web.staff.actor, id).await.map(|u| u.display_name).unwrap_or_else(|_| "a former colleague".to_owned());
        self.known.insert(id, n.clone());
        n
    }
}

/// The note in the caller's `ReadNoteText` reach, or the page to show instead.
async fn load(state: &AppState, web: &WebStaff, raw: &str, action: &str) -> Result<(ClientScope, Note), Response> {
    let target = Target::Object { object_type: "note", object_id: raw };
    let scope = web.staff.authorize(&state.store, Capability::ReadNoteText, action, target).await.map_err(|e| match e {
        Error::NotFound => not_found(),
        Error::Forbidden(m) => error_page(StatusCode::FORBIDDEN, "Not available to your role", m),
        other => failed("authorising a note page", other),
    })?;
    let Ok(id) = raw.parse::<NoteId>() else {
        let _ = web.staff.audit_denied(&state.store, action, target).await;
        return Err(not_found());
    };
    match state.store.get_note(&web.staff.actor, scope, id).await {
        Ok(n) => Ok((scope, n)),
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, action, target).await;
            Err(not_found())
        }
        Err(e) => Err(failed("reading a note", e)),
    }
}

async fn supervises(state: &AppState, web: &WebStaff, author: UserId) -> bool {
    state.store.supervisees(&web.staff.actor, web.staff.user.user_id).await.map(|s| s.contains(&author)).unwrap_or(false)
}

async fn note_page(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    show(&state, &web, &raw, StatusCode::OK, None, None).await
}

async fn show(state: &AppState, web: &WebStaff, raw: &str, status: StatusCode, error: Option<&str>, notice: Option<&str>) -> Response {
    let (scope, note) = match load(state, web, raw, "note.read").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let actor = &web.staff.actor;
    let s = &note.summary;
    let me = web.staff.user.user_id;
    let is_author = s.author_id == me;
    let is_supervisor = supervises(state, web, s.author_id).await;
    let mut names = Names::new(state, web);
    let versions = match state.store.note_versions(actor, scope, s.note_id).await {
        Ok(v) => v,
        Err(e) => return failed("reading note versions", e),
    };
    let mut version_items = Vec::new();
    for v in &versions {
        let by = match v.edited_by {
            Some(u) => names.of(u).await,
            None => "the scribe".to_owned(),
        };
        version_items.push(context! { version => v.version, at => when(v.created_at), by => by, body => v.body.clone() });
    }
    let mut addenda = Vec::new();
    if s.status != NoteStatus::Draft {
        match state.store.list_addenda(actor, scope, s.note_id).await {
            Ok(list) => {
                for a in list {
                    addenda.push(context! { author => names.of(a.author_id).await, at => when(a.created_at), lines => a.body.lines().map(str::to_owned).collect::<Vec<_>>() });
                }
            }
            Err(e) => return failed("reading addenda", e),
        }
    }
    let returns = match state.store.note_returns(actor, scope, s.note_id).await {
        Ok(r) => r,
        Err(e) => return failed("reading supervisor comments", e),
    };
    let mut return_items = Vec::new();
    let mut open_return = None;
    for r in &returns {
        let item = context! { reviewer => names.of(r.reviewer_id).await, at => when(r.created_at), comment => r.comment.clone(), resolved => r.resolved_at.is_some() };
        if r.resolved_at.is_none() {
            open_return = Some(item.clone());
        }
        return_items.push(item);
    }
    let job_id = state
        .store
        .list_scribe_jobs(actor, scope, &store::jobs::ScribeJobFilter { requested_by: None, status: Some(store::jobs::ScribeStatus::Succeeded), client_id: Some(s.client_id) })
        .await
        .ok()
        .and_then(|jobs| jobs.into_iter().find(|j| j.note_id == Some(s.note_id)))
        .map(|j| j.scribe_job_id.to_string());
    let status_text = match s.status {
        NoteStatus::Draft => "Draft (not signed)",
        NoteStatus::Signed if open_return.is_some() => "Signed; returned by the supervisor",
        NoteStatus::Signed => "Signed",
        NoteStatus::Cosigned => "Signed and co-signed",
    };
    let signed_by = match s.signed_by {
        Some(u) => names.of(u).await,
        None => String::new(),
    };
    let cosigned_by = match s.cosigned_by {
        Some(u) => names.of(u).await,
        None => String::new(),
    };
    let trainee = web.staff.roles.contains(&Role::Trainee);
    let ctx = context! {
        id => s.note_id.to_string(), status_text => status_text, format => s.format.clone(), version => s.version,
        signed => s.signed_at.is_some(), signed_at => s.signed_at.map(when), signed_by => signed_by,
        cosigned => s.cosigned_at.is_some(), cosigned_at => s.cosigned_at.map(when), cosigned_by => cosigned_by,
        body => note.body.clone(), lines => note.body.lines().map(str::to_owned).collect::<Vec<_>>(),
    };
    let title = match s.status {
        NoteStatus::Draft => format!("{} note (draft)", s.format),
        _ => format!("{} note", s.format),
    };
    render(
        status,
        "note.html",
        context! {
            title => title, me => web.me(), csrf => web.csrf.clone(), error => error, notice => notice,
            note => ctx, is_author => is_author, trainee => trainee,
            editable => is_author && s.status == NoteStatus::Draft,
            can_cosign => is_supervisor && s.status == NoteStatus::Signed && open_return.is_none(),
            can_amend => s.status != NoteStatus::Draft,
            open_return => open_return, returns => return_items, addenda => addenda, versions => version_items, job_id => job_id,
        },
    )
}

#[derive(Deserialize)]
struct EditForm {
    csrf: String,
    version: i64,
    body: String,
}

async fn edit(State(state): State<AppState>, web: WebStaff, parts: Parts, Path(raw): Path<String>, form: Result<Form<EditForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("The form was incomplete; nothing was saved."), None).await };
    if !csrf_ok(&state, &parts.headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, note) = match load(&state, &web, &raw, "note.update").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if note.summary.author_id != web.staff.user.user_id {
        return show(&state, &web, &raw, StatusCode::FORBIDDEN, Some("Only the note's author edits a draft."), None).await;
    }
    match state.store.update_note_body(&web.staff.actor, scope, note.summary.note_id, &f.body, f.version).await {
        Ok(_) => Redirect::to(&format!("/app/notes/{raw}")).into_response(),
        Err(StoreError::Conflict { .. }) => show(&state, &web, &raw, StatusCode::CONFLICT, Some("Someone saved this note since you opened it. Your text was not saved: copy it, reload, and apply your change again."), None).await,
        Err(StoreError::Invalid(m)) | Err(StoreError::State(m)) => show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&m), None).await,
        Err(e) => failed("saving a note", e),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: SecretString,
}

/// Checks the form's code; the page to show when it is wrong.
async fn code_ok(state: &AppState, web: &WebStaff, parts: &Parts, raw: &str, code: &SecretString) -> Result<(), Response> {
    match crate::http::sign_in::confirm_totp(state, parts, &web.staff.user, code).await {
        Ok(()) => Ok(()),
        Err(Error::Unprocessable { message, .. }) => Err(show(state, web, raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&format!("Not signed: {message}.")), None).await),
        Err(Error::TooManyRequests { .. }) => Err(show(state, web, raw, StatusCode::TOO_MANY_REQUESTS, Some("Not signed: too many wrong codes. Wait a few minutes and try again."), None).await),
        Err(e) => Err(failed("checking an authenticator code", e)),
    }
}

async fn sign(State(state): State<AppState>, web: WebStaff, parts: Parts, Path(raw): Path<String>, form: Result<Form<CodeForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Enter the code from your authenticator."), None).await };
    if !csrf_ok(&state, &parts.headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, note) = match load(&state, &web, &raw, "note.sign").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if note.summary.author_id != web.staff.user.user_id {
        return show(&state, &web, &raw, StatusCode::FORBIDDEN, Some("Only the note's author signs it."), None).await;
    }
    if let Err(r) = code_ok(&state, &web, &parts, &raw, &f.code).await {
        return r;
    }
    match state.store.sign_note(&web.staff.actor, scope, note.summary.note_id).await {
        Ok(_) => Redirect::to(&format!("/app/notes/{raw}")).into_response(),
        Err(StoreError::State(m)) => show(&state, &web, &raw, StatusCode::CONFLICT, Some(&m), None).await,
        Err(e) => failed("signing a note", e),
    }
}

async fn cosign(State(state): State<AppState>, web: WebStaff, parts: Parts, Path(raw): Path<String>, form: Result<Form<CodeForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Enter the code from your authenticator."), None).await };
    if !csrf_ok(&state, &parts.headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, note) = match load(&state, &web, &raw, "note.cosign").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = code_ok(&state, &web, &parts, &raw, &f.code).await {
        return r;
    }
    match state.store.cosign_note(&web.staff.actor, scope, note.summary.note_id).await {
        Ok(_) => Redirect::to(&format!("/app/notes/{raw}")).into_response(),
        Err(StoreError::State(m)) => show(&state, &web, &raw, StatusCode::CONFLICT, Some(&m), None).await,
        Err(e) => failed("co-signing a note", e),
    }
}

#[derive(Deserialize)]
struct TextForm {
    csrf: String,
    #[serde(alias = "comment")]
    body: String,
}

async fn return_note(State(state): State<AppState>, web: WebStaff, parts: Parts, Path(raw): Path<String>, form: Result<Form<TextForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Write a comment for the trainee."), None).await };
    if !csrf_ok(&state, &parts.headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, note) = match load(&state, &web, &raw, "note.return").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.store.return_note(&web.staff.actor, scope, note.summary.note_id, &f.body).await {
        Ok(_) => Redirect::to("/app/cosign").into_response(),
        Err(StoreError::State(m)) | Err(StoreError::Invalid(m)) => show(&state, &web, &raw, StatusCode::CONFLICT, Some(&m), None).await,
        Err(e) => failed("returning a note", e),
    }
}

async fn addendum(State(state): State<AppState>, web: WebStaff, parts: Parts, Path(raw): Path<String>, form: Result<Form<TextForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some("Write the addendum."), None).await };
    if !csrf_ok(&state, &parts.headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, note) = match load(&state, &web, &raw, "note.addendum").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state.store.add_addendum(&web.staff.actor, scope, note.summary.note_id, &f.body).await {
        Ok(_) => Redirect::to(&format!("/app/notes/{raw}")).into_response(),
        Err(StoreError::State(m)) | Err(StoreError::Invalid(m)) => show(&state, &web, &raw, StatusCode::UNPROCESSABLE_ENTITY, Some(&m), None).await,
        Err(e) => failed("adding an addendum", e),
    }
}

async fn cosign_queue(State(state): State<AppState>, web: WebStaff) -> Response {
    let scope = match web.staff.authorize(&state.store, Capability::ReadNoteText, "note.list", Target::Collection).await {
        Ok(s) => s,
        Err(Error::Forbidden(m)) => return error_page(StatusCode::FORBIDDEN, "Not available to your role", m),
        Err(e) => return failed("authorising the co-sign queue", e),
    };
    let notes = match state.store.cosign_queue(&web.staff.actor, scope, web.staff.user.user_id).await {
        Ok(n) => n,
        Err(e) => return failed("listing the co-sign queue", e),
    };
    let mut names = Names::new(&state, &web);
    let mut items: Vec<Value> = Vec::new();
    for n in &notes {
        items.push(context! { id => n.note_id.to_string(), signed => n.signed_at.map(when).unwrap_or_default(), author => names.of(n.author_id).await, format => n.format.clone() });
    }
    let waiting = items.len();
    render(StatusCode::OK, "cosign_queue.html", context! { title => "Notes to co-sign", badge => waiting, me => web.me(), csrf => web.csrf.clone(), items => items })
}
