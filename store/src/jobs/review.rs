//! What staff call: create a job, follow it, read its transcript and draft, list the review
//! queue, cancel, and retry a failed job. Every call is scoped like notes (the job's client
//! must be visible) and audited in its transaction.

use serde::{Deserialize, Serialize};

use super::{
    COLUMNS, FROM, MAX_LISTED, NewScribeJob, Part, ScribeJob, ScribeStatus, T, check_new, consent_active, delete_payload, from_row, input_deleted_action,
    put_payload, read_text,
};
use crate::{
    Actor, Result, Store, StoreError,
    clients::{ClientScope, SCOPE, require_visible, scoped},
    consents::ConsentKind,
    db::{Sql, Tx},
    ids::{ClientId, ScribeJobId, UserId},
    types::now,
};

/// Which jobs a review queue shows; `None` is any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScribeJobFilter {
    /// The clinician who requested the job.
    pub requested_by: Option<UserId>,
    pub status: Option<ScribeStatus>,
    pub client_id: Option<ClientId>,
}

/// What `cancel_scribe_job` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "status", rename_all = "snake_case")]
pub enum Cancellation {
    /// It was queued or running: it will not finish, and its input was deleted.
    Cancelled,
    /// It had already finished: nothing changed.
    TooLate(ScribeStatus),
}

/// Reads one job within scope (PostgreSQL: and locks it until commit when `lock`).
async fn job_in(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: ScribeJobId, lock: bool) -> Result<ScribeJob> {
    let lock = if lock && tx.is_postgres() { " FOR UPDATE OF j" } else { "" };
    let row = tx.fetch_one(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND j.scribe_job_id = $3{lock}"), actor, scope).bind(id), "reading a scribe job").await?;
    from_row(&row)
}

impl Store {
    /// Creates a queued job with its input sealed. `NotFound` if the client is not visible in
    /// `scope`; [`StoreError::ConsentRequired`] for a session recording or a transcript when
    /// the client has no active AI-scribing consent (a dictation needs none); `Invalid` over
    /// the limits ([`super::MAX_AUDIO_BYTES`], [`super::MAX_TRANSCRIPT_BYTES`]), with the
    /// limit in the message. The actor must be a person (the requesting clinician). Audited
    /// as `scribe_job.create`.
    pub async fn create_scribe_job(&self, actor: &Actor, scope: ClientScope, new: &NewScribeJob) -> Result<ScribeJob> {
        let by = actor.user_id.ok_or_else(|| StoreError::Invalid("scribe jobs are requested by people: the actor needs a user_id".to_owned()))?;
        check_new(new)?;
        let keys = self.keys();
        let id = ScribeJobId::new();
        let t = now();
        let mut tx = self.begin().await?;
        // Visibility first, so a hidden client's consent state cannot be probed.
        require_visible(&mut tx, actor, scope, new.client_id).await?;
        if new.kind.needs_consent() && !consent_active(&mut tx, actor.practice_id, new.client_id, t).await? {
            return Err(StoreError::ConsentRequired { kind: ConsentKind::AiScribing });
        }
        if let Some(a) = new.appointment_id {
            tx.fetch_optional(
                Sql::new(
                    "SELECT 1 AS one FROM appointment_client ac JOIN appointment a ON a.appointment_id = ac.appointment_id \
                     WHERE ac.appointment_id = $1 AND ac.client_id = $2 AND a.practice_id = $3",
                )
                .bind(a)
                .bind(new.client_id)
                .bind(actor.practice_id),
                "checking the scribe job's appointment",
            )
            .await?
            .ok_or_else(|| StoreError::Invalid("appointment_id must name one of this client's appointments".to_owned()))?;
        }
        tx.execute(
            Sql::new(
                "INSERT INTO scribe_job (scribe_job_id, practice_id, client_id, appointment_id, requested_by, kind, format, status, progress, attempts, \
                 next_attempt_at, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,'queued',0,0,$8,$8,$8)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(new.client_id)
            .bind(new.appointment_id)
            .bind(by)
            .bind(new.kind.as_str())
            .bind(new.format.as_str())
            .bind(t),
            "creating a scribe job",
        )
        .await?;
        put_payload(&mut tx, &keys, id, Part::Input, new.media_type.trim(), &new.input, t).await?;
        self.audit(&mut tx, &keys, actor, "scribe_job.create", T, Some(id.to_string())).await?;
        let job = job_in(&mut tx, actor, ClientScope::Practice, id, false).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// A job's status, progress, stage, error and ids; no payloads. Audited as
    /// `scribe_job.read_meta`.
    pub async fn get_scribe_job(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<ScribeJob> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let job = job_in(&mut tx, actor, scope, id, false).await?;
        self.audit(&mut tx, &keys, actor, "scribe_job.read_meta", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The same as [`Store::get_scribe_job`] without an audit event, for a progress stream that
    /// polls a job the caller has already read (audited) through `get_scribe_job`: status and
    /// progress are not PHI, and an event per poll would drown the log. Still scoped.
    pub async fn poll_scribe_job(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<ScribeJob> {
        let mut tx = self.begin().await?;
        let job = job_in(&mut tx, actor, scope, id, false).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The job's WebVTT transcript; `None` before the job succeeded or after retention
    /// deleted it. Audited as `scribe_job.read_transcript`.
    pub async fn scribe_job_transcript(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<Option<String>> {
        self.read_part(actor, scope, id, Part::Transcript, "scribe_job.read_transcript").await
    }

    /// The job's draft JSON; `None` before the job succeeded. Audited as `scribe_job.read_draft`.
    pub async fn scribe_job_draft(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<Option<String>> {
        self.read_part(actor, scope, id, Part::Draft, "scribe_job.read_draft").await
    }

    async fn read_part(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId, part: Part, action: &str) -> Result<Option<String>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        job_in(&mut tx, actor, scope, id, false).await?;
        let text = read_text(&mut tx, &keys, id, part).await?;
        self.audit(&mut tx, &keys, actor, action, T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(text)
    }

    /// Jobs visible in `scope` that match `filter`, oldest first (the review queue), at most
    /// [`MAX_LISTED`]. Each job returned is audited as `scribe_job.list`.
    pub async fn list_scribe_jobs(&self, actor: &Actor, scope: ClientScope, filter: &ScribeJobFilter) -> Result<Vec<ScribeJob>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                scoped(
                    format!(
                        "SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND ($3 IS NULL OR j.requested_by = $3) AND ($4 IS NULL OR j.status = $4) \
                         AND ($5 IS NULL OR j.client_id = $5) ORDER BY j.created_at, j.scribe_job_id LIMIT $6"
                    ),
                    actor,
                    scope,
                )
                .bind(filter.requested_by)
                .bind(filter.status.map(ScribeStatus::as_str))
                .bind(filter.client_id)
                .bind(MAX_LISTED as i64),
                "listing scribe jobs",
            )
            .await?;
        let jobs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "scribe_job.list", T, jobs.iter().map(|j| j.scribe_job_id.to_string())).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Cancels a queued or running job (a running worker finds its lease lost at its next
    /// report) and deletes its input at once: the person asked for it not to be processed.
    /// Audited as `scribe_job.cancel` (and the input deletion).
    pub async fn cancel_scribe_job(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<Cancellation> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let job = job_in(&mut tx, actor, scope, id, true).await?;
        if job.status.is_finished() {
            return Ok(Cancellation::TooLate(job.status));
        }
        let t = now();
        tx.execute(
            Sql::new(
                "UPDATE scribe_job SET status = 'cancelled', stage = NULL, lease_owner = NULL, lease_until = NULL, finished_at = $2, updated_at = $2 \
                 WHERE scribe_job_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(id)
            .bind(t),
            "cancelling a scribe job",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "scribe_job.cancel", T, Some(id.to_string())).await?;
        if delete_payload(&mut tx, id, Part::Input).await? {
            self.audit(&mut tx, &keys, actor, input_deleted_action(job.kind), T, Some(id.to_string())).await?;
        }
        tx.commit().await?;
        Ok(Cancellation::Cancelled)
    }

    /// Queues a failed job again with fresh attempts, if its input is still stored (failed
    /// inputs are kept at least [`super::FAILED_INPUT_RETENTION_DAYS`] days). The
    /// consent is checked again. `State` otherwise. Audited as `scribe_job.retry`.
    pub async fn retry_scribe_job(&self, actor: &Actor, scope: ClientScope, id: ScribeJobId) -> Result<ScribeJob> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let job = job_in(&mut tx, actor, scope, id, true).await?;
        if job.status != ScribeStatus::Failed {
            return Err(StoreError::State(format!("only a failed scribe job can be retried; this one is {}", job.status.as_str())));
        }
        // PostgreSQL: `FOR SHARE` makes a concurrent purge skip the input (or, if it got there
        // first, this waits for it and then finds no row), so a requeued job always has one.
        let share = if tx.is_postgres() { " FOR SHARE" } else { "" };
        let input = tx
            .fetch_optional(Sql::dynamic(format!("SELECT 1 AS one FROM scribe_payload WHERE scribe_job_id = $1 AND part = 'input'{share}")).bind(id), "checking a scribe job's input")
            .await?;
        if input.is_none() {
            return Err(StoreError::State("the job's input was deleted under the practice's retention policy; create a new job".to_owned()));
        }
        let t = now();
        if job.kind.needs_consent() && !consent_active(&mut tx, job.practice_id, job.client_id, t).await? {
            return Err(StoreError::ConsentRequired { kind: ConsentKind::AiScribing });
        }
        tx.execute(
            Sql::new(
                "UPDATE scribe_job SET status = 'queued', attempts = 0, progress = 0, stage = NULL, error = NULL, next_attempt_at = $2, \
                 finished_at = NULL, updated_at = $2 WHERE scribe_job_id = $1 AND status = 'failed'",
            )
            .bind(id)
            .bind(t),
            "queueing a scribe job again",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "scribe_job.retry", T, Some(id.to_string())).await?;
        let job = job_in(&mut tx, actor, ClientScope::Practice, id, false).await?;
        tx.commit().await?;
        Ok(job)
    }
}
