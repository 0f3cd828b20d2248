//! What a scribe worker calls: claim a job with a lease, read its input, report progress (which
//! renews the lease), and complete or fail it.
//!
//! Every call after the claim takes the [`ScribeLease`] the claim handed out (job, worker and
//! attempt number) and applies only while the job is still running on that attempt for that
//! worker: a worker that stalled past its lease, whose job another worker then claimed (or
//! staff cancelled), cannot overwrite what happened since (a fencing token). A lease that
//! expired while no one else claimed the job is still honoured: nobody else did the work.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{
    COLUMNS, FROM, MAX_ATTEMPTS, MAX_DRAFT_BYTES, MAX_LEASE, MAX_TRANSCRIPT_BYTES, MIN_LEASE, Part, RETRY_BACKOFF, RetentionPolicy, ScribeFailure, ScribeKind,
    ScribeStage, T, consent_active, delete_payload, from_row, input_deleted_action, put_payload, read_payload,
};
use crate::{
    Actor, Result, Store, StoreError,
    audit::{self, AuditAction, Outcome},
    db::{Sql, Tx},
    ids::{AppointmentId, ClientId, NoteId, PracticeId, ScribeJobId, UserId},
    keyfile::Keyring,
    outbox::WorkerId,
    types::{now, truncate},
};

/// Most exhausted or consent-less jobs one claim fails on its way to a claimable one; the
/// next claim goes on from there.
const MAX_CLAIM_SCAN: usize = 50;

/// Proof of one claim: the job, the worker and the attempt. Only a claim makes one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ScribeLease {
    scribe_job_id: ScribeJobId,
    worker: WorkerId,
    attempt: i64,
}

impl ScribeLease {
    pub fn scribe_job_id(&self) -> ScribeJobId {
        self.scribe_job_id
    }
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }
    /// 1 for the first attempt.
    pub fn attempt(&self) -> i64 {
        self.attempt
    }
}

/// A job handed to a worker. The input is read separately ([`Store::scribe_job_input`]), so
/// the claim itself stays small.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClaimedScribeJob {
    pub lease: ScribeLease,
    pub practice_id: PracticeId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub requested_by: UserId,
    pub kind: ScribeKind,
    pub format: super::FormatKey,
    pub input_media_type: String,
    /// Report progress before this, or another worker may take the job over.
    pub lease_until: DateTime<Utc>,
}

/// A job's input, decrypted for the worker. `Debug` hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ScribeInput {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for ScribeInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScribeInput").field("media_type", &self.media_type).field("bytes", &self.bytes.len()).finish()
    }
}

/// What a successful job produced. `Debug` hides the text.
#[derive(Clone, PartialEq, Eq)]
pub struct ScribeOutput {
    /// WebVTT with voice tags (DESIGN, "Formats"), at most [`MAX_TRANSCRIPT_BYTES`].
    pub transcript_vtt: String,
    /// The draft as JSON, at most [`MAX_DRAFT_BYTES`].
    pub draft_json: String,
    /// The draft note the worker made from it, if any: a note of the job's client.
    pub note_id: Option<NoteId>,
}

impl fmt::Debug for ScribeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScribeOutput")
            .field("transcript_bytes", &self.transcript_vtt.len())
            .field("draft_bytes", &self.draft_json.len())
            .field("note_id", &self.note_id)
            .finish()
    }
}

/// What happened to the input when the job succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "until", rename_all = "snake_case")]
pub enum InputDisposition {
    /// Deleted with its data key (the default: no `audio_retention_days`).
    Deleted,
    /// Kept under the practice's `audio_retention_days`; the purge deletes it after this.
    KeptUntil(DateTime<Utc>),
}

/// What `fail_scribe_job` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "next_attempt_at", rename_all = "snake_case")]
pub enum ScribeRetry {
    /// Queued again; no worker claims it before this.
    Requeued(DateTime<Utc>),
    /// Failed for good: the failure is permanent or the attempts are used up.
    Failed,
}

/// The locked state of a leased job.
struct Held {
    practice_id: PracticeId,
    client_id: ClientId,
    kind: ScribeKind,
    attempts: i64,
    lease_seconds: i64,
}

fn lost(status: &str) -> StoreError {
    StoreError::State(format!(
        "the scribe job's lease was lost (it is now {status}: cancelled, finished, or taken over by another worker after the lease expired); stop working on it"
    ))
}

/// Reads and checks the leased job; on PostgreSQL `FOR UPDATE` holds it until commit, so a
/// claim, a cancel and this call apply one after the other (SQLite: BEGIN IMMEDIATE did).
async fn hold(tx: &mut Tx, lease: &ScribeLease) -> Result<Held> {
    let sql = if tx.is_postgres() {
        "SELECT practice_id, client_id, kind, status, attempts, lease_owner, lease_seconds FROM scribe_job WHERE scribe_job_id = $1 FOR UPDATE"
    } else {
        "SELECT practice_id, client_id, kind, status, attempts, lease_owner, lease_seconds FROM scribe_job WHERE scribe_job_id = $1"
    };
    let r = tx.fetch_one(Sql::new(sql).bind(lease.scribe_job_id), "locking a scribe job").await?;
    let status: String = r.get("status")?;
    let attempts: i64 = r.get("attempts")?;
    if status != "running" || attempts != lease.attempt || r.get::<Option<String>>("lease_owner")?.as_deref() != Some(lease.worker.as_str()) {
        let status = if status == "running" { "running on another attempt" } else { status.as_str() };
        return Err(lost(status));
    }
    Ok(Held {
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        kind: ScribeKind::parse(&r.get::<String>("kind")?)?,
        attempts,
        lease_seconds: r.get::<Option<i64>>("lease_seconds")?.unwrap_or(MIN_LEASE.num_seconds()),
    })
}

/// The system of the job's practice, with the worker as request id.
fn worker_actor(practice: PracticeId, worker: &WorkerId) -> Actor {
    Actor::system(practice).with_request_id(worker.as_str())
}

async fn audit_job(tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, id: ScribeJobId) -> Result<()> {
    audit::append(tx, keys, actor, &AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(id.to_string()), outcome: Outcome::Ok })
        .await
        .map(|_| ())
}

/// Marks a job failed for good.
async fn set_failed(tx: &mut Tx, id: ScribeJobId, failure: ScribeFailure) -> Result<()> {
    let t = now();
    tx.execute(
        Sql::new(
            "UPDATE scribe_job SET status = 'failed', error = $2, stage = NULL, lease_owner = NULL, lease_until = NULL, finished_at = $3, updated_at = $3 \
             WHERE scribe_job_id = $1",
        )
        .bind(id)
        .bind(failure.as_str())
        .bind(t),
        "recording a failed scribe job",
    )
    .await
    .map(|_| ())
}

impl Store {
    /// Claims the oldest job that is queued and due, or running with a lease that expired
    /// before `now` (its worker died or restarted): it becomes `running` for `worker` until
    /// `now + lease`, on its next attempt. `None` when nothing is claimable. Audited as
    /// `scribe_job.claim` (the system of the job's practice, the worker as request id).
    ///
    /// A job that already used [`MAX_ATTEMPTS`] attempts becomes `failed` (`abandoned`)
    /// instead, and so does a recording or transcript whose client's AI-scribing consent is no
    /// longer active (`consent_withdrawn`); the claim then goes on to the next job.
    ///
    /// Concurrency: PostgreSQL selects with `FOR UPDATE SKIP LOCKED`, so any number of worker
    /// processes claim disjoint jobs without waiting on each other; a job another claimer
    /// committed meanwhile is re-checked and skipped. SQLite has one writer: the transaction
    /// starts with `BEGIN IMMEDIATE`, so select and update run with no other writer between.
    pub async fn claim_scribe_job(&self, worker: &WorkerId, lease: TimeDelta, now: DateTime<Utc>) -> Result<Option<ClaimedScribeJob>> {
        if lease < MIN_LEASE || lease > MAX_LEASE {
            return Err(StoreError::Invalid(format!("lease must be {}-{} seconds", MIN_LEASE.num_seconds(), MAX_LEASE.num_seconds())));
        }
        let now = truncate(now);
        let lease_until = now + lease;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let skip_locked = if tx.is_postgres() { " FOR UPDATE SKIP LOCKED" } else { "" };
        for _ in 0..MAX_CLAIM_SCAN {
            let Some(r) = tx
                .fetch_optional(
                    Sql::dynamic(format!(
                        "SELECT scribe_job_id, practice_id, client_id, kind, attempts FROM scribe_job WHERE status IN ('queued', 'running') \
                         AND ((status = 'queued' AND next_attempt_at <= $1) OR (status = 'running' AND lease_until <= $1)) \
                         ORDER BY created_at, scribe_job_id LIMIT 1{skip_locked}"
                    ))
                    .bind(now),
                    "selecting a due scribe job",
                )
                .await?
            else {
                break;
            };
            let id = ScribeJobId::from_uuid(r.get::<Uuid>("scribe_job_id")?);
            let practice = PracticeId::from_uuid(r.get("practice_id")?);
            let client = ClientId::from_uuid(r.get("client_id")?);
            let kind = ScribeKind::parse(&r.get::<String>("kind")?)?;
            let attempts: i64 = r.get("attempts")?;
            let actor = worker_actor(practice, worker);
            let give_up = if attempts >= MAX_ATTEMPTS {
                Some(ScribeFailure::Abandoned)
            } else if kind.needs_consent() && !consent_active(&mut tx, practice, client, now).await? {
                Some(ScribeFailure::ConsentWithdrawn)
            } else {
                None
            };
            if let Some(failure) = give_up {
                set_failed(&mut tx, id, failure).await?;
                audit_job(&mut tx, &keys, &actor, "scribe_job.failed", id).await?;
                continue;
            }
            let attempt = attempts + 1;
            tx.execute(
                Sql::new(
                    "UPDATE scribe_job SET status = 'running', attempts = $2, lease_owner = $3, lease_until = $4, lease_seconds = $5, progress = 0, \
                     stage = NULL, updated_at = $6 WHERE scribe_job_id = $1",
                )
                .bind(id)
                .bind(attempt)
                .bind(worker.as_str())
                .bind(lease_until)
                .bind(lease.num_seconds())
                .bind(crate::types::now()),
                "claiming a scribe job",
            )
            .await?;
            audit_job(&mut tx, &keys, &actor, "scribe_job.claim", id).await?;
            let job = from_row(&tx.fetch_one(Sql::dynamic(format!("SELECT {COLUMNS} FROM {FROM} WHERE j.scribe_job_id = $1")).bind(id), "reading a claimed scribe job").await?)?;
            tx.commit().await?;
            return Ok(Some(ClaimedScribeJob {
                lease: ScribeLease { scribe_job_id: id, worker: worker.clone(), attempt },
                practice_id: practice,
                client_id: client,
                appointment_id: job.appointment_id,
                requested_by: job.requested_by,
                kind,
                format: job.format,
                input_media_type: job.input.map(|i| i.media_type).unwrap_or_default(),
                lease_until,
            }));
        }
        // Commits the jobs failed on the way, if any.
        tx.commit().await?;
        Ok(None)
    }

    /// The leased job's input, decrypted. Audited as `scribe_job.read_input` (the system of
    /// the practice, the worker as request id). `State` if the lease was lost.
    pub async fn scribe_job_input(&self, lease: &ScribeLease) -> Result<ScribeInput> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let held = hold(&mut tx, lease).await?;
        let (media_type, mut bytes) = read_payload(&mut tx, &keys, lease.scribe_job_id, Part::Input)
            .await?
            .ok_or_else(|| StoreError::State("the scribe job's input is no longer stored".to_owned()))?;
        audit_job(&mut tx, &keys, &worker_actor(held.practice_id, &lease.worker), "scribe_job.read_input", lease.scribe_job_id).await?;
        tx.commit().await?;
        // Moved out rather than copied: an input can be 256 MiB.
        Ok(ScribeInput { media_type, bytes: std::mem::take(&mut *bytes) })
    }

    /// Records progress (0-100) and the stage, and renews the lease to `now` plus the lease
    /// length the job was claimed with; returns the new `lease_until`. `State` if the lease was
    /// lost: the worker should stop. Not audited: stage and progress are not PHI.
    pub async fn report_scribe_progress(&self, lease: &ScribeLease, stage: ScribeStage, progress: u8, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        if progress > 100 {
            return Err(StoreError::Invalid("progress must be 0-100".to_owned()));
        }
        let mut tx = self.begin().await?;
        let held = hold(&mut tx, lease).await?;
        let until = truncate(now) + TimeDelta::seconds(held.lease_seconds);
        tx.execute(
            Sql::new("UPDATE scribe_job SET progress = $2, stage = $3, lease_until = $4, updated_at = $5 WHERE scribe_job_id = $1")
                .bind(lease.scribe_job_id)
                .bind(i64::from(progress))
                .bind(stage.as_str())
                .bind(until)
                .bind(crate::types::now()),
            "recording scribe progress",
        )
        .await?;
        tx.commit().await?;
        Ok(until)
    }

    /// In one transaction: stores the transcript and the draft sealed, marks the job
    /// `succeeded` (linking the draft note, which must be a note of the job's client), and
    /// deletes the input unless the practice keeps audio (`audio_retention_days`; see
    /// [`RetentionPolicy`]). Audited as `scribe_job.complete`, plus `scribe_job.audio_deleted`
    /// (`input_deleted` for a transcript job). `State` if the lease was lost: nothing is stored.
    pub async fn complete_scribe_job(&self, lease: &ScribeLease, output: &ScribeOutput) -> Result<InputDisposition> {
        if output.transcript_vtt.trim().is_empty() || output.transcript_vtt.len() > MAX_TRANSCRIPT_BYTES {
            return Err(StoreError::Invalid(format!("transcript must be 1-{MAX_TRANSCRIPT_BYTES} bytes")));
        }
        if output.draft_json.len() > MAX_DRAFT_BYTES || serde_json::from_str::<serde::de::IgnoredAny>(&output.draft_json).is_err() {
            return Err(StoreError::Invalid(format!("draft must be JSON of at most {MAX_DRAFT_BYTES} bytes")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let held = hold(&mut tx, lease).await?;
        let id = lease.scribe_job_id;
        if let Some(note) = output.note_id {
            tx.fetch_optional(
                Sql::new("SELECT 1 AS one FROM note WHERE note_id = $1 AND practice_id = $2 AND client_id = $3").bind(note).bind(held.practice_id).bind(held.client_id),
                "checking the scribe job's note",
            )
            .await?
            .ok_or_else(|| StoreError::Invalid("note_id must name a note of the job's client".to_owned()))?;
        }
        let t = now();
        put_payload(&mut tx, &keys, id, Part::Transcript, "text/vtt", output.transcript_vtt.as_bytes(), t).await?;
        put_payload(&mut tx, &keys, id, Part::Draft, "application/json", output.draft_json.as_bytes(), t).await?;
        tx.execute(
            Sql::new(
                "UPDATE scribe_job SET status = 'succeeded', progress = 100, stage = NULL, error = NULL, note_id = $2, lease_owner = NULL, \
                 lease_until = NULL, finished_at = $3, updated_at = $3 WHERE scribe_job_id = $1",
            )
            .bind(id)
            .bind(output.note_id)
            .bind(t),
            "completing a scribe job",
        )
        .await?;
        let actor = worker_actor(held.practice_id, &lease.worker);
        audit_job(&mut tx, &keys, &actor, "scribe_job.complete", id).await?;
        let policy = RetentionPolicy::of_practice(&mut tx, held.practice_id).await?;
        let disposition = match policy.audio_retention_days {
            Some(days) if days > 0 => InputDisposition::KeptUntil(t + TimeDelta::days(i64::from(days))),
            _ => {
                if delete_payload(&mut tx, id, Part::Input).await? {
                    audit_job(&mut tx, &keys, &actor, input_deleted_action(held.kind), id).await?;
                }
                InputDisposition::Deleted
            }
        };
        tx.commit().await?;
        Ok(disposition)
    }

    /// The attempt failed. A failure that may pass is retried after a backoff
    /// ([`super::RETRY_BACKOFF`] from `now`) while attempts remain; a permanent one, or the
    /// last attempt's, fails the job. The input stays until retention removes it, so staff can
    /// retry. Audited as `scribe_job.retry_scheduled` or `scribe_job.failed`. `State` if the
    /// lease was lost.
    pub async fn fail_scribe_job(&self, lease: &ScribeLease, failure: ScribeFailure, now: DateTime<Utc>) -> Result<ScribeRetry> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let held = hold(&mut tx, lease).await?;
        let id = lease.scribe_job_id;
        let actor = worker_actor(held.practice_id, &lease.worker);
        let outcome = if failure.is_permanent() || held.attempts >= MAX_ATTEMPTS {
            set_failed(&mut tx, id, failure).await?;
            audit_job(&mut tx, &keys, &actor, "scribe_job.failed", id).await?;
            ScribeRetry::Failed
        } else {
            let failures = u32::try_from(held.attempts).unwrap_or(u32::MAX);
            let at = truncate(RETRY_BACKOFF.next_attempt_at(truncate(now), failures, None, rand::random::<f64>()));
            tx.execute(
                Sql::new(
                    "UPDATE scribe_job SET status = 'queued', error = $2, next_attempt_at = $3, stage = NULL, progress = 0, lease_owner = NULL, \
                     lease_until = NULL, updated_at = $4 WHERE scribe_job_id = $1",
                )
                .bind(id)
                .bind(failure.as_str())
                .bind(at)
                .bind(crate::types::now()),
                "scheduling a scribe job retry",
            )
            .await?;
            audit_job(&mut tx, &keys, &actor, "scribe_job.retry_scheduled", id).await?;
            ScribeRetry::Requeued(at)
        };
        tx.commit().await?;
        Ok(outcome)
    }
}
