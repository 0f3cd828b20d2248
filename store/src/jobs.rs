//! Scribe jobs (DESIGN flow 4): a session recording, a dictation or a pasted transcript on its
//! way to a draft note. Staff create a job ([`Store::create_scribe_job`]); a scribe worker in
//! `assistant` claims it with a lease, reads the input, reports progress, and completes it with
//! the transcript and the draft (or fails it, to be retried with backoff); staff follow it and
//! review the result in a queue.
//!
//! `scribe_job` holds only ids, fixed codes and timing. The payloads (the input audio or text,
//! the WebVTT transcript, the draft JSON) are PHI: each is one `scribe_payload` row sealed under
//! its own data key, so retention deletes one (and shreds its key) without touching the others.
//! Audio is deleted when the job succeeds unless the practice keeps it
//! (`audio_retention_days`); transcripts are kept unless the practice sets
//! `transcript_retention_days` (see [`RetentionPolicy`]).
//!
//! A job's life: `queued` -> (claimed) `running` -> `succeeded`; or back to `queued` with a later
//! `next_attempt_at` after a failure that may pass; or `failed` (a permanent failure, or
//! [`MAX_ATTEMPTS`] attempts used: a worker that dies holding the lease counts too); or
//! `cancelled` by staff.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{
    Result, StoreError,
    appointments::text_enum,
    clients::row_key,
    crypto::RecordKey,
    db::{Row, Sql, Tx},
    ids::{AppointmentId, ClientId, NoteId, PracticeId, ScribeJobId, UserId},
    keyfile::Keyring,
    outbox::Backoff,
};

/// Staff: creating, reading, listing, cancelling and retrying jobs.
mod review;
/// Workers: claiming, reading the input, progress, completion and failure.
mod work;
/// How long audio and transcripts are kept, and the purge.
mod retention;

pub use retention::{FAILED_INPUT_RETENTION_DAYS, MAX_RETENTION_DAYS, RetentionPolicy, ScribePurge};
pub use review::{Cancellation, ScribeJobFilter};
pub use work::{ClaimedScribeJob, InputDisposition, ScribeInput, ScribeLease, ScribeOutput, ScribeRetry};

/// Largest recording or dictation accepted, in bytes (about 4.5 hours of 128 kbit/s audio).
pub const MAX_AUDIO_BYTES: usize = 256 * 1024 * 1024;
/// Largest pasted or uploaded transcript, and largest transcript a worker may store, in bytes
/// (a four-hour session is well under 1 MiB of WebVTT).
pub const MAX_TRANSCRIPT_BYTES: usize = 2 * 1024 * 1024;
/// Largest draft JSON a worker may store, in bytes.
pub const MAX_DRAFT_BYTES: usize = 2 * 1024 * 1024;
/// Longest media type accepted (`audio/webm;codecs=opus`).
pub const MAX_MEDIA_TYPE: usize = 100;
/// Attempts (claims) a job gets before it fails for good. A worker that dies holding the lease
/// uses one too, so audio that crashes the decoder cannot take workers down forever.
pub const MAX_ATTEMPTS: i64 = 3;
/// Most jobs one `list_scribe_jobs` returns.
pub const MAX_LISTED: usize = 500;
/// Shortest and longest claim lease. Workers renew it with every progress report.
pub const MIN_LEASE: TimeDelta = TimeDelta::seconds(1);
pub const MAX_LEASE: TimeDelta = TimeDelta::hours(1);
/// Delay before a failed attempt is retried: 30 s, doubling, at most 10 minutes.
pub const RETRY_BACKOFF: Backoff = Backoff { base: TimeDelta::seconds(30), cap: TimeDelta::minutes(10) };

/// What the job starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScribeKind {
    /// A recorded session: needs the client's AI-scribing consent.
    SessionRecording,
    /// The clinician's own dictation about a session: no client consent needed.
    Dictation,
    /// A transcript pasted or uploaded as WebVTT or `Speaker: text` lines: needs consent, as it
    /// is the session's content.
    Transcript,
}

/// Where a job is in its life (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScribeStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// What a running job is doing, for the progress bar. Fixed words, never PHI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScribeStage {
    Decoding,
    DetectingSpeech,
    Transcribing,
    Drafting,
    Checking,
}

/// Why an attempt or a job failed. Stored as a code; each has a fixed message without PHI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScribeFailure {
    /// The audio could not be decoded (permanent).
    UnreadableInput,
    /// No speech was found in the audio (permanent).
    NoSpeech,
    /// The recording is longer than the scribe handles (permanent).
    InputTooLong,
    /// A model is missing or failed to load (retried).
    ModelUnavailable,
    /// The worker hit an internal error (retried).
    WorkerError,
    /// Set by the store: workers stopped without finishing [`MAX_ATTEMPTS`] times.
    Abandoned,
    /// Set by the store: the client's AI-scribing consent was revoked or expired before the job ran.
    ConsentWithdrawn,
}

text_enum!(ScribeKind { SessionRecording = "session_recording", Dictation = "dictation", Transcript = "transcript" });
text_enum!(ScribeStatus { Queued = "queued", Running = "running", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled" });
text_enum!(ScribeStage { Decoding = "decoding", DetectingSpeech = "detecting_speech", Transcribing = "transcribing", Drafting = "drafting", Checking = "checking" });
text_enum!(ScribeFailure {
    UnreadableInput = "unreadable_input", NoSpeech = "no_speech", InputTooLong = "input_too_long", ModelUnavailable = "model_unavailable",
    WorkerError = "worker_error", Abandoned = "abandoned", ConsentWithdrawn = "consent_withdrawn"
});

impl ScribeKind {
    /// Whether the client's AI-scribing consent is required (the session's own words).
    pub fn needs_consent(self) -> bool {
        !matches!(self, ScribeKind::Dictation)
    }
    fn is_audio(self) -> bool {
        !matches!(self, ScribeKind::Transcript)
    }
}

impl ScribeStatus {
    /// `succeeded`, `failed` or `cancelled`: nothing more will happen to the job.
    pub fn is_finished(self) -> bool {
        matches!(self, ScribeStatus::Succeeded | ScribeStatus::Failed | ScribeStatus::Cancelled)
    }
}

impl ScribeFailure {
    /// What staff see. Fixed text: no PHI, and it says what to do.
    pub fn message(self) -> &'static str {
        match self {
            ScribeFailure::UnreadableInput => "the recording could not be decoded; upload it again as WAV, MP3, FLAC, OGG, WebM or M4A",
            ScribeFailure::NoSpeech => "no speech was found in the recording; check the microphone and record again",
            ScribeFailure::InputTooLong => "the recording is longer than the scribe accepts; split it into parts",
            ScribeFailure::ModelUnavailable => "the speech or drafting model is not available; ask the administrator to check `hearth models`",
            ScribeFailure::WorkerError => "the scribe worker hit an internal error; the administrator can find it in the worker's log",
            ScribeFailure::Abandoned => "the scribe worker stopped without finishing several times; ask the administrator to check the worker",
            ScribeFailure::ConsentWithdrawn => "the client's AI-scribe consent was revoked or expired before the job ran",
        }
    }
    /// Whether retrying cannot help.
    pub fn is_permanent(self) -> bool {
        matches!(self, ScribeFailure::UnreadableInput | ScribeFailure::NoSpeech | ScribeFailure::InputTooLong | ScribeFailure::ConsentWithdrawn)
    }
}

/// A note format's key: `soap`, `dap`, `birp`, `girp` or a custom format's key, with the rule
/// `prompts` uses (2-32 lowercase letters, digits or `-`, starting with a letter). Parsing
/// lowercases, so `SOAP` is `soap`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FormatKey(String);

impl FormatKey {
    pub fn parse(s: &str) -> Result<Self> {
        let k = s.trim().to_ascii_lowercase();
        let ok = (2..=32).contains(&k.len()) && k.starts_with(|c: char| c.is_ascii_lowercase()) && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(k))
        } else {
            Err(StoreError::Invalid("format must be 2-32 lowercase letters, digits or '-', starting with a letter: soap, dap, birp, girp or a custom format's key".to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for FormatKey {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}
impl From<FormatKey> for String {
    fn from(k: FormatKey) -> Self {
        k.0
    }
}

/// A job to create. `Debug` hides the input.
#[derive(Clone, PartialEq, Eq)]
pub struct NewScribeJob {
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub kind: ScribeKind,
    /// The note format the draft is written in.
    pub format: FormatKey,
    /// `audio/*` or `video/*` for a recording or dictation (the worker reads the audio track);
    /// `text/vtt` or `text/plain` for a transcript.
    pub media_type: String,
    /// The audio bytes, or the transcript's UTF-8 text.
    pub input: Vec<u8>,
}

impl fmt::Debug for NewScribeJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewScribeJob")
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("media_type", &self.media_type)
            .field("input_bytes", &self.input.len())
            .finish_non_exhaustive()
    }
}

/// A stored input's media type and size (not its content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredInput {
    pub media_type: String,
    pub size_bytes: i64,
}

/// A job as staff see it: status, progress and ids, no payloads. No PHI beyond the ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScribeJob {
    pub scribe_job_id: ScribeJobId,
    pub practice_id: PracticeId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub requested_by: UserId,
    pub kind: ScribeKind,
    pub format: FormatKey,
    pub status: ScribeStatus,
    /// 0-100.
    pub progress: u8,
    pub stage: Option<ScribeStage>,
    /// Attempts started (claims), including the current one.
    pub attempts: i64,
    /// The last failure: while `queued` again, why the previous attempt failed; when `failed`,
    /// why the job did. Show [`ScribeFailure::message`].
    pub error: Option<ScribeFailure>,
    /// The draft note made from the job, once it succeeded.
    pub note_id: Option<NoteId>,
    /// The input, while it is stored (audio is deleted per the practice's retention).
    pub input: Option<StoredInput>,
    pub has_transcript: bool,
    pub has_draft: bool,
    /// When a queued job may be claimed (later than `created_at` after a failed attempt).
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) const T: &str = "scribe_job";

pub(crate) const COLUMNS: &str = "j.scribe_job_id, j.practice_id, j.client_id, j.appointment_id, j.requested_by, j.kind, j.format, j.status, \
    j.progress, j.stage, j.attempts, j.error, j.note_id, j.next_attempt_at, j.lease_owner, j.lease_until, j.created_at, j.updated_at, \
    j.finished_at, i.media_type AS input_media_type, i.size_bytes AS input_bytes, \
    EXISTS (SELECT 1 FROM scribe_payload t WHERE t.scribe_job_id = j.scribe_job_id AND t.part = 'transcript') AS has_transcript, \
    EXISTS (SELECT 1 FROM scribe_payload d WHERE d.scribe_job_id = j.scribe_job_id AND d.part = 'draft') AS has_draft";
/// Joins the client so the `SCOPE` predicate applies.
pub(crate) const FROM: &str =
    "scribe_job j JOIN client c ON c.client_id = j.client_id LEFT JOIN scribe_payload i ON i.scribe_job_id = j.scribe_job_id AND i.part = 'input'";

pub(crate) fn from_row(r: &Row) -> Result<ScribeJob> {
    let media_type: Option<String> = r.get("input_media_type")?;
    let size: Option<i64> = r.get("input_bytes")?;
    let progress: i64 = r.get("progress")?;
    Ok(ScribeJob {
        scribe_job_id: ScribeJobId::from_uuid(r.get("scribe_job_id")?),
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        appointment_id: r.get::<Option<Uuid>>("appointment_id")?.map(AppointmentId::from_uuid),
        requested_by: UserId::from_uuid(r.get("requested_by")?),
        kind: ScribeKind::parse(&r.get::<String>("kind")?)?,
        format: FormatKey::parse(&r.get::<String>("format")?)?,
        status: ScribeStatus::parse(&r.get::<String>("status")?)?,
        progress: u8::try_from(progress).map_err(|_| StoreError::Invalid(format!("stored scribe progress {progress} is out of range")))?,
        stage: r.get::<Option<String>>("stage")?.map(|s| ScribeStage::parse(&s)).transpose()?,
        attempts: r.get("attempts")?,
        error: r.get::<Option<String>>("error")?.map(|s| ScribeFailure::parse(&s)).transpose()?,
        note_id: r.get::<Option<Uuid>>("note_id")?.map(NoteId::from_uuid),
        input: media_type.zip(size).map(|(media_type, size_bytes)| StoredInput { media_type, size_bytes }),
        has_transcript: r.get("has_transcript")?,
        has_draft: r.get("has_draft")?,
        next_attempt_at: r.get("next_attempt_at")?,
        lease_owner: r.get("lease_owner")?,
        lease_until: r.get("lease_until")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        finished_at: r.get("finished_at")?,
    })
}

/// One sealed payload of a job; the part names the sealed column, so a transcript's
/// ciphertext copied into the draft row does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Input,
    Transcript,
    Draft,
}

impl Part {
    fn as_str(self) -> &'static str {
        match self {
            Part::Input => "input",
            Part::Transcript => "transcript",
            Part::Draft => "draft",
        }
    }
}

/// Seals and stores one payload under a fresh data key.
pub(crate) async fn put_payload(tx: &mut Tx, keys: &Keyring, job: ScribeJobId, part: Part, media_type: &str, bytes: &[u8], at: DateTime<Utc>) -> Result<()> {
    let k = RecordKey::create(tx, keys).await?;
    tx.execute(
        Sql::new("INSERT INTO scribe_payload (scribe_job_id, part, data_key_id, media_type, size_bytes, body, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(job)
            .bind(part.as_str())
            .bind(k.data_key_id)
            .bind(media_type)
            .bind(bytes.len() as i64)
            .bind(k.seal_bytes("scribe_payload", part.as_str(), job.as_uuid(), bytes))
            .bind(at),
        "storing a scribe payload",
    )
    .await
    .map(|_| ())
}

/// Opens one payload: its media type and bytes, or `None` when it is not (or no longer) stored.
pub(crate) async fn read_payload(tx: &mut Tx, keys: &Keyring, job: ScribeJobId, part: Part) -> Result<Option<(String, Zeroizing<Vec<u8>>)>> {
    let row = tx
        .fetch_optional(
            Sql::new(
                "SELECT p.media_type, p.body, p.data_key_id, dk.kek_id, dk.wrapped FROM scribe_payload p JOIN data_key dk ON dk.data_key_id = p.data_key_id \
                 WHERE p.scribe_job_id = $1 AND p.part = $2",
            )
            .bind(job)
            .bind(part.as_str()),
            "reading a scribe payload",
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let k = row_key(keys, &r)?;
    let bytes = k.open_bytes("scribe_payload", part.as_str(), job.as_uuid(), &r.get::<Vec<u8>>("body")?)?;
    Ok(Some((r.get("media_type")?, bytes)))
}

/// Opens a text payload (transcript, draft).
pub(crate) async fn read_text(tx: &mut Tx, keys: &Keyring, job: ScribeJobId, part: Part) -> Result<Option<String>> {
    read_payload(tx, keys, job, part)
        .await?
        .map(|(_, mut b)| String::from_utf8(std::mem::take(&mut *b)).map_err(|_| StoreError::Decrypt { table: "scribe_payload", column: part.as_str(), row_id: job.to_string() }))
        .transpose()
}

/// Deletes one payload and its data key (so copies of the ciphertext in old backups no longer
/// open once the backups of `data_key` age out too). Returns whether there was one.
pub(crate) async fn delete_payload(tx: &mut Tx, job: ScribeJobId, part: Part) -> Result<bool> {
    let Some(r) = tx
        .fetch_optional(Sql::new("SELECT data_key_id FROM scribe_payload WHERE scribe_job_id = $1 AND part = $2").bind(job).bind(part.as_str()), "finding a scribe payload")
        .await?
    else {
        return Ok(false);
    };
    let key: Uuid = r.get("data_key_id")?;
    tx.execute(Sql::new("DELETE FROM scribe_payload WHERE scribe_job_id = $1 AND part = $2").bind(job).bind(part.as_str()), "deleting a scribe payload").await?;
    tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(key), "deleting a scribe payload's data key").await?;
    Ok(true)
}

/// The audit action for deleting a job's input: the brief's `audio_deleted` for recordings and
/// dictations, `input_deleted` for a pasted transcript.
pub(crate) fn input_deleted_action(kind: ScribeKind) -> &'static str {
    if kind.is_audio() { "scribe_job.audio_deleted" } else { "scribe_job.input_deleted" }
}

/// Whether the client has an active AI-scribing consent at `at` (granted, not revoked, not
/// expired), as [`crate::consents::Consent::is_active_at`] says, checked inside the caller's
/// transaction.
pub(crate) async fn consent_active(tx: &mut Tx, practice: PracticeId, client: ClientId, at: DateTime<Utc>) -> Result<bool> {
    let row = tx
        .fetch_optional(
            Sql::new(
                "SELECT 1 AS one FROM consent WHERE practice_id = $1 AND client_id = $2 AND kind = 'ai_scribing' AND granted_at <= $3 \
                 AND (revoked_at IS NULL OR revoked_at > $3) AND (expires_at IS NULL OR expires_at > $3) LIMIT 1",
            )
            .bind(practice)
            .bind(client)
            .bind(at),
            "checking the client's AI-scribing consent",
        )
        .await?;
    Ok(row.is_some())
}

fn mib(n: usize) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// Checks a new job's media type and input against the limits.
fn check_new(new: &NewScribeJob) -> Result<()> {
    let mt = new.media_type.trim();
    let base = mt.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let chars_ok = !mt.is_empty() && mt.len() <= MAX_MEDIA_TYPE && mt.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    let type_ok = match new.kind {
        ScribeKind::Transcript => base == "text/vtt" || base == "text/plain",
        _ => (base.starts_with("audio/") || base.starts_with("video/")) && !base.ends_with('/'),
    };
    if !chars_ok || !type_ok {
        return Err(StoreError::Invalid(format!(
            "media_type must be audio/* or video/* for a recording or dictation, text/vtt or text/plain for a transcript (at most {MAX_MEDIA_TYPE} characters)"
        )));
    }
    let n = new.input.len();
    if new.kind.is_audio() {
        if n == 0 {
            return Err(StoreError::Invalid("input is empty: upload the recording again".to_owned()));
        }
        if n > MAX_AUDIO_BYTES {
            return Err(StoreError::Invalid(format!(
                "input must be at most {} of audio and this upload is {}: split the recording, or compress it (e.g. to Opus or MP3)",
                mib(MAX_AUDIO_BYTES),
                mib(n)
            )));
        }
    } else {
        if n > MAX_TRANSCRIPT_BYTES {
            return Err(StoreError::Invalid(format!("input must be at most {} of transcript text and this one is {}: split it", mib(MAX_TRANSCRIPT_BYTES), mib(n))));
        }
        match std::str::from_utf8(&new.input) {
            Ok(s) if !s.trim().is_empty() => {}
            Ok(_) => return Err(StoreError::Invalid("input is empty: paste or upload the transcript".to_owned())),
            Err(_) => return Err(StoreError::Invalid("input must be UTF-8 text (WebVTT or `Speaker: text` lines)".to_owned())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: ScribeKind, media_type: &str, input: Vec<u8>) -> NewScribeJob {
        NewScribeJob { client_id: ClientId::new(), appointment_id: None, kind, format: FormatKey::parse("soap").expect("valid"), media_type: media_type.to_owned(), input }
    }

    #[test]
    fn format_keys_follow_the_prompts_rule_and_are_lowercased() {
        assert_eq!(FormatKey::parse(" SOAP ").expect("valid").as_str(), "soap");
        assert_eq!(FormatKey::parse("intake-note2").expect("valid").as_str(), "intake-note2");
        for bad in ["", "s", "2soap", "soap note", "soap_note", &"a".repeat(33)] {
            assert!(FormatKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn media_types_must_match_the_kind() {
        assert!(check_new(&new(ScribeKind::SessionRecording, "audio/webm;codecs=opus", vec![1])).is_ok());
        assert!(check_new(&new(ScribeKind::Dictation, "video/mp4", vec![1])).is_ok());
        assert!(check_new(&new(ScribeKind::Transcript, "text/vtt; charset=utf-8", b"WEBVTT".to_vec())).is_ok());
        for (kind, mt) in [(ScribeKind::SessionRecording, "text/plain"), (ScribeKind::Transcript, "audio/wav"), (ScribeKind::Dictation, "audio/"), (ScribeKind::Dictation, "audio/x\ny")] {
            assert!(matches!(check_new(&new(kind, mt, vec![1])), Err(StoreError::Invalid(m)) if m.starts_with("media_type")), "{kind:?} {mt:?}");
        }
    }

    #[test]
    fn transcripts_must_be_non_empty_utf8() {
        assert!(check_new(&new(ScribeKind::Transcript, "text/plain", b"  \n".to_vec())).is_err());
        assert!(check_new(&new(ScribeKind::Transcript, "text/plain", vec![0xff, 0xfe])).is_err());
        assert!(check_new(&new(ScribeKind::Dictation, "audio/wav", Vec::new())).is_err());
    }

    #[test]
    fn new_jobs_hide_their_input_in_debug_output() {
        let shown = format!("{:?}", new(ScribeKind::Transcript, "text/plain", b"Client: the violet lighthouse".to_vec()));
        assert!(!shown.contains("violet") && shown.contains("input_bytes"), "{shown}");
    }

    #[test]
    fn permanent_failures_are_not_retried_and_every_failure_has_a_message() {
        assert!(ScribeFailure::UnreadableInput.is_permanent() && !ScribeFailure::ModelUnavailable.is_permanent());
        for f in [ScribeFailure::UnreadableInput, ScribeFailure::NoSpeech, ScribeFailure::InputTooLong, ScribeFailure::ModelUnavailable, ScribeFailure::WorkerError, ScribeFailure::Abandoned, ScribeFailure::ConsentWithdrawn] {
            assert_eq!(ScribeFailure::parse(f.as_str()).expect("round trip"), f);
            assert!(!f.message().is_empty());
        }
    }
}
