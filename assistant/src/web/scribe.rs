//! Scribe pages: start a draft (paste a transcript; upload or record audio with the page's
//! script), follow a job's progress, the review queue, and the review page where each draft
//! sentence leads to the transcript cues it rests on. Access is the API's `UseScribe`
//! (clinicians, trainees and supervisors for their caseload); every read is audited by the
//! store as for the API.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{Value, context};
use serde::Deserialize;
use store::jobs::{FormatKey, NewScribeJob, ScribeJobFilter, ScribeKind, ScribeStatus};
use store::{ClientId, ClientScope, ScribeJobId, StoreError};

use super::{WebStaff, failed, not_found, csrf_ok, csrf_refused, error_page, render};
use crate::app::AppState;
use crate::authz::Capability;
use crate::http::Error;
use crate::http::extract::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/scribe/new", get(new_page).post(create))
        .route("/app/scribe/jobs/{id}", get(job_page))
        .route("/app/scribe/jobs/{id}/review", get(review_page))
        .route("/app/scribe/jobs/{id}/regenerate", axum::routing::post(regenerate))
        .route("/app/review", get(queue))
}

async fn scope(state: &AppState, web: &WebStaff, action: &str, target: Target<'_>) -> Result<ClientScope, Response> {
    web.staff.authorize(&state.store, Capability::UseScribe, action, target).await.map_err(|e| match e {
        Error::NotFound => not_found(),
        Error::Forbidden(m) => error_page(StatusCode::FORBIDDEN, "Not available to your role", m),
        other => failed("authorising a scribe page", other),
    })
}

fn display_name(c: &store::clients::Client) -> String {
    format!("{} {}", c.preferred_name.as_deref().unwrap_or(&c.first_name), c.last_name)
}

#[derive(Deserialize)]
struct NewQuery {
    client_id: Option<ClientId>,
}

async fn new_form(state: &AppState, web: &WebStaff, status: StatusCode, selected: Option<ClientId>, error: Option<&str>) -> Response {
    let scope = match scope(state, web, "client.list", Target::Collection).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let clients = match state.store.list_clients(&web.staff.actor, scope).await {
        Ok(c) => c,
        Err(e) => return failed("listing clients for a new draft", e),
    };
    let clients: Vec<Value> = clients.iter().map(|c| context! { id => c.client_id.to_string(), name => display_name(c) }).collect();
    render(status, "scribe_new.html", context! { title => "New draft", me => web.me(), csrf => web.csrf.clone(), clients => clients, selected => selected.map(|c| c.to_string()), error => error })
}

async fn new_page(State(state): State<AppState>, web: WebStaff, q: Result<Query<NewQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    new_form(&state, &web, StatusCode::OK, q.ok().and_then(|Query(q)| q.client_id), None).await
}

#[derive(Deserialize)]
struct NewForm {
    csrf: String,
    client_id: ClientId,
    format: String,
    source: String,
    #[serde(default)]
    transcript: String,
}

async fn create(State(state): State<AppState>, web: WebStaff, headers: HeaderMap, form: Result<Form<NewForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else {
        return new_form(&state, &web, StatusCode::UNPROCESSABLE_ENTITY, None, Some("Choose a client and paste a transcript.")).await;
    };
    if !csrf_ok(&state, &headers, &f.csrf) {
        return csrf_refused();
    }
    if f.source != "transcript" {
        return new_form(&state, &web, StatusCode::UNPROCESSABLE_ENTITY, Some(f.client_id), Some("Uploading or recording audio needs JavaScript in this browser; paste a transcript instead.")).await;
    }
    let Ok(format) = FormatKey::parse(&f.format) else {
        return new_form(&state, &web, StatusCode::UNPROCESSABLE_ENTITY, Some(f.client_id), Some("Choose a note format.")).await;
    };
    if f.transcript.trim().is_empty() || scribe::Transcript::parse(&f.transcript).map(|t| t.cues.is_empty()).unwrap_or(true) {
        return new_form(&state, &web, StatusCode::UNPROCESSABLE_ENTITY, Some(f.client_id), Some("Paste the transcript: WebVTT, or one \"Speaker: text\" line per turn.")).await;
    }
    let raw = f.client_id.to_string();
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = match scope(&state, &web, "scribe_job.create", target).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let new = NewScribeJob { client_id: f.client_id, appointment_id: None, kind: ScribeKind::Transcript, format, media_type: "text/plain".to_owned(), input: f.transcript.into_bytes() };
    match state.store.create_scribe_job(&web.staff.actor, scope, &new).await {
        Ok(job) => Redirect::to(&format!("/app/scribe/jobs/{}", job.scribe_job_id)).into_response(),
        Err(StoreError::ConsentRequired { .. }) => {
            new_form(&state, &web, StatusCode::CONFLICT, Some(f.client_id), Some("This client has no AI-scribe consent on file. Record it on the client's page (Consents) first; your own dictation needs none.")).await
        }
        Err(StoreError::Invalid(m)) => new_form(&state, &web, StatusCode::UNPROCESSABLE_ENTITY, Some(f.client_id), Some(&m)).await,
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, "scribe_job.create", target).await;
            not_found()
        }
        Err(e) => failed("creating a scribe job", e),
    }
}

fn status_text(job: &store::jobs::ScribeJob) -> String {
    match job.status {
        ScribeStatus::Queued if job.error.is_some() => format!("Waiting to try again. {}", job.error.map(|e| e.message()).unwrap_or_default()),
        ScribeStatus::Queued => "Waiting for the scribe…".to_owned(),
        ScribeStatus::Running => "Working…".to_owned(),
        ScribeStatus::Succeeded => "The draft is ready.".to_owned(),
        ScribeStatus::Failed => format!("The scribe could not finish. {}", job.error.map(|e| e.message()).unwrap_or_default()),
        ScribeStatus::Cancelled => "Cancelled.".to_owned(),
    }
}

async fn load_job(state: &AppState, web: &WebStaff, raw: &str, action: &str) -> Result<(ClientScope, store::jobs::ScribeJob), Response> {
    let target = Target::Object { object_type: "scribe_job", object_id: raw };
    let scope = scope(state, web, action, target).await?;
    let Ok(id) = raw.parse::<ScribeJobId>() else {
        let _ = web.staff.audit_denied(&state.store, action, target).await;
        return Err(not_found());
    };
    match state.store.get_scribe_job(&web.staff.actor, scope, id).await {
        Ok(j) => Ok((scope, j)),
        Err(StoreError::NotFound) => {
            let _ = web.staff.audit_denied(&state.store, action, target).await;
            Err(not_found())
        }
        Err(e) => Err(failed("reading a scribe job", e)),
    }
}

async fn job_page(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    let job = match load_job(&state, &web, &raw, "scribe_job.read_meta").await {
        Ok((_, j)) => j,
        Err(r) => return r,
    };
    let ctx = context! {
        id => job.scribe_job_id.to_string(),
        progress => job.progress,
        status_text => status_text(&job),
        done => job.status == ScribeStatus::Succeeded,
        finished => job.status.is_finished(),
    };
    render(StatusCode::OK, "scribe_job.html", context! { title => "Drafting", me => web.me(), csrf => web.csrf.clone(), job => ctx })
}

/// `mm:ss` (or `h:mm:ss`) of a cue's start.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 { format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) } else { format!("{:02}:{:02}", s / 60, s % 60) }
}

fn evidence(ids: &[usize]) -> String {
    ids.iter().map(usize::to_string).collect::<Vec<_>>().join(" ")
}

async fn review_page(State(state): State<AppState>, web: WebStaff, Path(raw): Path<String>) -> Response {
    let (scope, job) = match load_job(&state, &web, &raw, "scribe_job.read_draft").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if job.status != ScribeStatus::Succeeded {
        return Redirect::to(&format!("/app/scribe/jobs/{}", job.scribe_job_id)).into_response();
    }
    let actor = &web.staff.actor;
    let draft = match state.store.scribe_job_draft(actor, scope, job.scribe_job_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "No draft", "This job has no draft."),
        Err(e) => return failed("reading a draft", e),
    };
    let draft: scribe::Draft = match serde_json::from_str(&draft) {
        Ok(d) => d,
        Err(e) => return failed("a stored draft did not parse", e),
    };
    let transcript = match state.store.scribe_job_transcript(actor, scope, job.scribe_job_id).await {
        Ok(t) => t.and_then(|t| scribe::Transcript::parse(&t).ok()),
        Err(e) => return failed("reading a transcript", e),
    };
    let cues: Vec<Value> = transcript
        .map(|t| t.cues.iter().enumerate().map(|(i, c)| context! { n => i + 1, at => clock(c.start_ms), speaker => c.speaker.clone().unwrap_or_default(), text => c.text.clone() }).collect())
        .unwrap_or_default();
    let sections: Vec<Value> = draft
        .sections
        .iter()
        .map(|s| {
            let sentences: Vec<Value> = s.sentences.iter().map(|x| context! { text => x.text.clone(), grounded => x.grounded, evidence => evidence(&x.evidence) }).collect();
            context! { title => s.title.clone(), sentences => sentences }
        })
        .collect();
    let risks: Vec<Value> = draft
        .risk_flags
        .iter()
        .map(|r| context! { category => r.category.to_string().replace('_', " "), severity => r.severity.clone(), quote => r.quote.clone(), evidence => evidence(&r.evidence) })
        .collect();
    let cpt = context! { code => draft.cpt.code.clone().unwrap_or_else(|| "none".to_owned()), reason => draft.cpt.reason.clone() };
    render(
        StatusCode::OK,
        "review.html",
        context! {
            title => format!("Review: {} draft", draft.format), badge => risks.len(), me => web.me(), csrf => web.csrf.clone(), format => draft.format.clone(),
            sections => sections, risks => risks, cues => cues, cpt => cpt, job_id => job.scribe_job_id.to_string(), note_id => job.note_id.map(|n| n.to_string()),
        },
    )
}

async fn queue(State(state): State<AppState>, web: WebStaff) -> Response {
    let scope = match scope(&state, &web, "scribe_job.list", Target::Collection).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let actor = &web.staff.actor;
    let filter = ScribeJobFilter { requested_by: Some(web.staff.user.user_id), status: Some(ScribeStatus::Succeeded), client_id: None };
    let jobs = match state.store.list_scribe_jobs(actor, scope, &filter).await {
        Ok(j) => j,
        Err(e) => return failed("listing the review queue", e),
    };
    let clients = match state.store.list_clients(actor, scope).await {
        Ok(c) => c,
        Err(e) => return failed("listing clients", e),
    };
    let mut items = Vec::new();
    for job in jobs {
        // Only drafts still waiting: a signed note has left the queue.
        let Some(note_id) = job.note_id else { continue };
        match state.store.get_note_summary(actor, scope, note_id).await {
            Ok(n) if n.status == store::notes::NoteStatus::Draft => {}
            Ok(_) | Err(StoreError::NotFound) => continue,
            Err(e) => return failed("reading a note's status", e),
        }
        let risks = match state.store.scribe_job_draft(actor, scope, job.scribe_job_id).await {
            Ok(Some(d)) => serde_json::from_str::<scribe::Draft>(&d).map(|d| d.risk_flags.len()).unwrap_or(0),
            Ok(None) => 0,
            Err(e) => return failed("reading a draft's risk flags", e),
        };
        let client = clients.iter().find(|c| c.client_id == job.client_id).map(display_name).unwrap_or_default();
        items.push(context! { id => job.scribe_job_id.to_string(), since => job.created_at.format("%Y-%m-%d %H:%M").to_string(), client => client, format => job.format.as_str().to_uppercase(), risks => risks });
    }
    let waiting = items.len();
    render(StatusCode::OK, "review_queue.html", context! { title => "Drafts to review", badge => waiting, me => web.me(), csrf => web.csrf.clone(), items => items })
}

#[derive(Deserialize)]
struct RegenerateForm {
    csrf: String,
    format: String,
}

/// Drafts the same transcript again in another format: a new job (the consent is checked
/// again), leaving the first draft as it is.
async fn regenerate(State(state): State<AppState>, web: WebStaff, headers: HeaderMap, Path(raw): Path<String>, form: Result<Form<RegenerateForm>, FormRejection>) -> Response {
    let Ok(Form(f)) = form else { return error_page(StatusCode::UNPROCESSABLE_ENTITY, "Choose a format", "Choose the format to draft in.") };
    if !csrf_ok(&state, &headers, &f.csrf) {
        return csrf_refused();
    }
    let (scope, job) = match load_job(&state, &web, &raw, "scribe_job.read_transcript").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(format) = FormatKey::parse(&f.format) else { return error_page(StatusCode::UNPROCESSABLE_ENTITY, "Choose a format", "Choose SOAP, DAP, BIRP or GIRP.") };
    let transcript = match state.store.scribe_job_transcript(&web.staff.actor, scope, job.scribe_job_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return error_page(StatusCode::CONFLICT, "No transcript", "The transcript has been deleted under your practice's retention policy, so it cannot be drafted again."),
        Err(e) => return failed("reading a transcript to draft again", e),
    };
    let new = NewScribeJob { client_id: job.client_id, appointment_id: job.appointment_id, kind: ScribeKind::Transcript, format, media_type: "text/vtt".to_owned(), input: transcript.into_bytes() };
    match state.store.create_scribe_job(&web.staff.actor, scope, &new).await {
        Ok(j) => Redirect::to(&format!("/app/scribe/jobs/{}", j.scribe_job_id)).into_response(),
        Err(StoreError::ConsentRequired { .. }) => error_page(StatusCode::CONFLICT, "Consent needed", "This client's AI-scribe consent is no longer on file. Record it on the client's page (Consents) first."),
        Err(e) => failed("drafting again", e),
    }
}
