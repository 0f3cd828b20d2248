//! Scribe jobs over HTTP (DESIGN flow 4). Clinicians, trainees and supervisors, for their
//! caseload (capability `UseScribe`):
//!
//! - `POST /api/scribe/jobs` `{"client_id","appointment_id"?,"format","transcript"}`: a pasted or
//!   uploaded transcript (WebVTT or `Speaker: text`), at most 2 MiB.
//! - `POST /api/scribe/jobs/audio?client_id=…&kind=session_recording|dictation&format=…[&appointment_id=…]`
//!   with the recording as the body (`Content-Type: audio/*` or `video/*`), at most 256 MiB.
//!   This is what the page's recorder and file picker send.
//! - `GET /api/scribe/jobs[?status=queued|running|succeeded|failed|cancelled]`: the caller's
//!   jobs, oldest first. `GET /api/scribe/jobs/{id}`; `GET /api/scribe/jobs/{id}/events`:
//!   server-sent `progress` events until the job ends; `GET /api/scribe/jobs/{id}/draft`:
//!   transcript and draft; `POST /api/scribe/jobs/{id}/cancel`.
//!
//! A session recording or transcript needs the client's AI-scribe consent on file: without it
//! the answer is 409 on `consent`, saying how to record it. Dictation needs none.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum::body::Bytes;
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};
use store::jobs::{FormatKey, MAX_AUDIO_BYTES, MAX_TRANSCRIPT_BYTES, NewScribeJob, ScribeJob, ScribeJobFilter, ScribeKind, ScribeStatus};
use store::{AppointmentId, ClientId, ScribeJobId};

use super::extract::{Staff, Target, store_error};
use super::{ApiResult, Error};
use crate::app::AppState;
use crate::authz::Capability;

pub fn router() -> Router<AppState> {
    Router::new()
        // JSON around a transcript of at most 2 MiB (escaping can double it).
        .route("/api/scribe/jobs", post(create_from_transcript).layer(DefaultBodyLimit::max(2 * MAX_TRANSCRIPT_BYTES + 64 * 1024)).get(list))
        .route("/api/scribe/jobs/audio", post(create_from_audio).layer(DefaultBodyLimit::max(MAX_AUDIO_BYTES)))
        .route("/api/scribe/jobs/{id}", get(read))
        .route("/api/scribe/jobs/{id}/events", get(events))
        .route("/api/scribe/jobs/{id}/draft", get(draft))
        .route("/api/scribe/jobs/{id}/cancel", post(cancel))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptJob {
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub format: String,
    pub transcript: String,
}

fn format_key(raw: &str) -> ApiResult<FormatKey> {
    let key = FormatKey::parse(raw).map_err(|_| Error::field("format", "use soap, dap, birp, girp or a custom format's key"))?;
    if prompts::FormatRegistry::builtin_only().get(key.as_str()).is_none() {
        return Err(Error::field("format", format!("no note format `{}`; use soap, dap, birp or girp", key.as_str())));
    }
    Ok(key)
}

async fn create(state: &AppState, staff: &Staff, new: NewScribeJob) -> ApiResult<(StatusCode, Json<ScribeJob>)> {
    let raw = new.client_id.to_string();
    let target = Target::Object { object_type: "client", object_id: &raw };
    let scope = staff.authorize(&state.store, Capability::UseScribe, "scribe_job.create", target).await?;
    let r = state.store.create_scribe_job(&staff.actor, scope, &new).await;
    Ok((StatusCode::CREATED, Json(staff.found(&state.store, "scribe_job.create", target, r).await?)))
}

async fn create_from_transcript(State(state): State<AppState>, staff: Staff, super::extract::ApiJson(input): super::extract::ApiJson<TranscriptJob>) -> ApiResult<(StatusCode, Json<ScribeJob>)> {
    let format = format_key(&input.format)?;
    if input.transcript.trim().is_empty() {
        return Err(Error::field("transcript", "paste the session's transcript (WebVTT or `Speaker: text` lines)"));
    }
    if let Err(e) = scribe::Transcript::parse(&input.transcript) {
        return Err(Error::field("transcript", format!("the transcript could not be read: {e}")));
    }
    let new = NewScribeJob { client_id: input.client_id, appointment_id: input.appointment_id, kind: ScribeKind::Transcript, format, media_type: "text/plain".to_owned(), input: input.transcript.into_bytes() };
    create(&state, &staff, new).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioJob {
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub kind: ScribeKind,
    pub format: String,
}

async fn create_from_audio(State(state): State<AppState>, staff: Staff, headers: HeaderMap, query: Result<Query<AudioJob>, axum::extract::rejection::QueryRejection>, body: Result<Bytes, axum::extract::rejection::BytesRejection>) -> ApiResult<(StatusCode, Json<ScribeJob>)> {
    let Query(q) = query.map_err(|_| Error::field("query", "give client_id, kind (session_recording or dictation) and format in the query string"))?;
    let body = body.map_err(|_| Error::PayloadTooLarge { limit: MAX_AUDIO_BYTES })?;
    if q.kind == ScribeKind::Transcript {
        return Err(Error::field("kind", "send transcripts as JSON to /api/scribe/jobs"));
    }
    let format = format_key(&q.format)?;
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !(media_type.starts_with("audio/") || media_type.starts_with("video/")) {
        return Err(Error::field("content_type", "send the recording with Content-Type audio/… (for example audio/wav or audio/webm)"));
    }
    if body.is_empty() {
        return Err(Error::field("body", "the recording is empty; record again or choose another file"));
    }
    let new = NewScribeJob { client_id: q.client_id, appointment_id: q.appointment_id, kind: q.kind, format, media_type, input: body.to_vec() };
    create(&state, &staff, new).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<ScribeStatus>,
}

async fn list(State(state): State<AppState>, staff: Staff, q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>) -> ApiResult<Json<Vec<ScribeJob>>> {
    let Query(q) = q.map_err(|_| Error::field("status", "use queued, running, succeeded, failed or cancelled"))?;
    let scope = staff.authorize(&state.store, Capability::UseScribe, "scribe_job.list", Target::Collection).await?;
    let filter = ScribeJobFilter { requested_by: Some(staff.user.user_id), status: q.status, client_id: None };
    Ok(Json(state.store.list_scribe_jobs(&staff.actor, scope, &filter).await.map_err(store_error)?))
}

async fn job_scope(state: &AppState, staff: &Staff, raw: &str, action: &str) -> ApiResult<(store::ClientScope, ScribeJobId)> {
    let target = Target::Object { object_type: "scribe_job", object_id: raw };
    let scope = staff.authorize(&state.store, Capability::UseScribe, action, target).await?;
    match raw.parse() {
        Ok(id) => Ok((scope, id)),
        Err(_) => {
            staff.audit_denied(&state.store, action, target).await?;
            Err(Error::NotFound)
        }
    }
}

async fn read(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Json<ScribeJob>> {
    let (scope, id) = job_scope(&state, &staff, &raw, "scribe_job.read_meta").await?;
    let r = state.store.get_scribe_job(&staff.actor, scope, id).await;
    Ok(Json(staff.found(&state.store, "scribe_job.read_meta", Target::Object { object_type: "scribe_job", object_id: &raw }, r).await?))
}

/// One progress event: what a progress bar needs, no PHI.
#[derive(Debug, Serialize)]
pub struct ProgressEvent {
    pub status: ScribeStatus,
    pub progress: u8,
    pub stage: Option<store::jobs::ScribeStage>,
    /// Why the last attempt failed, in words for the page.
    pub error: Option<&'static str>,
    pub note_id: Option<store::NoteId>,
}

impl From<&ScribeJob> for ProgressEvent {
    fn from(j: &ScribeJob) -> Self {
        Self { status: j.status, progress: j.progress, stage: j.stage, error: j.error.map(|e| e.message()), note_id: j.note_id }
    }
}

/// How often the stream looks at the job.
const POLL: Duration = Duration::from_millis(500);

async fn events(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (scope, id) = job_scope(&state, &staff, &raw, "scribe_job.read_meta").await?;
    // One audited read proves access; the polls after it are not audited (status only).
    let r = state.store.get_scribe_job(&staff.actor, scope, id).await;
    let first = staff.found(&state.store, "scribe_job.read_meta", Target::Object { object_type: "scribe_job", object_id: &raw }, r).await?;
    let store = state.store.clone();
    let actor = staff.actor.clone();
    // State: the job as last read, the last event sent, and whether the stream is over.
    let stream = futures_util::stream::unfold((Some(first), None::<String>, true), move |(job, last, first_turn)| {
        let store = store.clone();
        let actor = actor.clone();
        async move {
            let mut job = job?;
            let last = last;
            let mut first_turn = first_turn;
            loop {
                if !first_turn {
                    tokio::time::sleep(POLL).await;
                    match store.poll_scribe_job(&actor, scope, id).await {
                        Ok(j) => job = j,
                        Err(e) => {
                            tracing::warn!(error = %e, "a progress stream stopped");
                            return Some((Ok(Event::default().event("gone").data("{}")), (None, last, false)));
                        }
                    }
                }
                first_turn = false;
                let data = serde_json::to_string(&ProgressEvent::from(&job)).unwrap_or_else(|_| "{}".to_owned());
                if last.as_deref() != Some(data.as_str()) {
                    let next = if job.status.is_finished() { None } else { Some(job) };
                    return Some((Ok(Event::default().event("progress").data(data.clone())), (next, Some(data), false)));
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A finished job's transcript and draft.
#[derive(Debug, Serialize)]
pub struct JobDraft {
    /// WebVTT; `null` when retention has deleted it.
    pub transcript: Option<String>,
    /// The scribe's draft (see `hearth scribe draft --json`); `null` before the job succeeded.
    pub draft: Option<serde_json::Value>,
}

async fn draft(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Json<JobDraft>> {
    let (scope, id) = job_scope(&state, &staff, &raw, "scribe_job.read_draft").await?;
    let target = Target::Object { object_type: "scribe_job", object_id: &raw };
    let d = state.store.scribe_job_draft(&staff.actor, scope, id).await;
    let d = staff.found(&state.store, "scribe_job.read_draft", target, d).await?;
    let t = state.store.scribe_job_transcript(&staff.actor, scope, id).await;
    let t = staff.found(&state.store, "scribe_job.read_transcript", target, t).await?;
    let draft = d.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| Error::Internal(anyhow::Error::new(e).context("a stored draft is not JSON")))?;
    Ok(Json(JobDraft { transcript: t, draft }))
}

async fn cancel(State(state): State<AppState>, staff: Staff, Path(raw): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let (scope, id) = job_scope(&state, &staff, &raw, "scribe_job.cancel").await?;
    let r = state.store.cancel_scribe_job(&staff.actor, scope, id).await;
    let outcome = staff.found(&state.store, "scribe_job.cancel", Target::Object { object_type: "scribe_job", object_id: &raw }, r).await?;
    Ok(Json(match outcome {
        store::jobs::Cancellation::Cancelled => serde_json::json!({ "cancelled": true }),
        store::jobs::Cancellation::TooLate(status) => serde_json::json!({ "cancelled": false, "status": status }),
    }))
}
