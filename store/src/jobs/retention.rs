//! How long a practice keeps scribe audio and transcripts, and the purge that deletes them.
//!
//! Practice settings (JSON, owned by the assistant's settings page):
//! - `audio_retention_days`: absent (or 0) deletes a job's input the moment the job succeeds;
//!   N keeps it N days after the job finished. Inputs of failed jobs are kept at least
//!   [`FAILED_INPUT_RETENTION_DAYS`] (so staff can retry after fixing the worker); cancelled
//!   jobs' inputs are deleted at the cancel.
//! - `transcript_retention_days`: absent keeps transcripts; N deletes a transcript N days after
//!   its job finished. Drafts are not purged: they are the review's record.
//!
//! A deleted payload's data key is deleted with it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Part, ScribeKind, T, input_deleted_action};
use crate::{
    Actor, Result, Store, StoreError,
    audit::{self, AuditAction, Outcome},
    db::{Sql, Tx},
    ids::{PracticeId, ScribeJobId},
};

/// The most days either setting may say (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Days a failed job's input is kept at least.
pub const FAILED_INPUT_RETENTION_DAYS: u32 = 7;
/// Payloads one purge transaction deletes.
const PURGE_BATCH: i64 = 200;

/// A practice's scribe retention settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// `None`: delete the input when the job succeeds.
    pub audio_retention_days: Option<u32>,
    /// `None`: keep transcripts.
    pub transcript_retention_days: Option<u32>,
}

/// What one purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScribePurge {
    /// Inputs (audio, or pasted transcripts) deleted.
    pub inputs: u64,
    pub transcripts: u64,
}

impl RetentionPolicy {
    pub const AUDIO_KEY: &'static str = "audio_retention_days";
    pub const TRANSCRIPT_KEY: &'static str = "transcript_retention_days";

    /// Reads the two keys from practice settings; absent or `null` is `None`. `Invalid` when
    /// one is not a whole number of days from 0 to [`MAX_RETENTION_DAYS`] (for the settings
    /// page to refuse before saving).
    pub fn from_settings(settings: &serde_json::Value) -> Result<Self> {
        let days = |key: &str| -> Result<Option<u32>> {
            match settings.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n <= MAX_RETENTION_DAYS)
                    .map(Some)
                    .ok_or_else(|| StoreError::Invalid(format!("{key} must be a whole number of days from 0 to {MAX_RETENTION_DAYS}, or absent"))),
            }
        };
        Ok(Self { audio_retention_days: days(Self::AUDIO_KEY)?, transcript_retention_days: days(Self::TRANSCRIPT_KEY)? })
    }

    /// A practice's policy, read inside the caller's transaction. Malformed settings (saved
    /// around the settings page) are logged and read as absent: audio is then deleted at
    /// success and transcripts kept, the defaults.
    pub(crate) async fn of_practice(tx: &mut Tx, practice: PracticeId) -> Result<Self> {
        let r = tx.fetch_one(Sql::new("SELECT settings FROM practice WHERE practice_id = $1").bind(practice), "reading the practice's retention settings").await?;
        Ok(Self::parse_stored(practice, &r.get::<String>("settings")?))
    }

    fn parse_stored(practice: PracticeId, settings: &str) -> Self {
        match serde_json::from_str(settings).map_err(|e| StoreError::Invalid(e.to_string())).and_then(|v| Self::from_settings(&v)) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(practice_id = %practice, error = %e, "practice retention settings are malformed; using the defaults");
                Self::default()
            }
        }
    }
}

impl Store {
    /// Deletes, in every practice, the inputs and transcripts its retention settings no longer
    /// keep at `now` (see the module docs), each audited as the system of its practice
    /// (`scribe_job.audio_deleted` / `input_deleted` / `transcript_deleted`). Safe to run from
    /// several processes at once (PostgreSQL: `SKIP LOCKED`; SQLite: one writer).
    pub async fn purge_expired_scribe_audio(&self, now: DateTime<Utc>) -> Result<ScribePurge> {
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(Sql::new("SELECT practice_id, settings FROM practice ORDER BY practice_id"), "listing practices' retention settings").await?;
        tx.commit().await?;
        let mut purged = ScribePurge::default();
        for r in &rows {
            let practice = PracticeId::from_uuid(r.get("practice_id")?);
            let policy = RetentionPolicy::parse_stored(practice, &r.get::<String>("settings")?);
            let days = |d: u32| TimeDelta::days(i64::from(d));
            let kept = policy.audio_retention_days.unwrap_or(0);
            let done_cutoff = now - days(kept);
            let failed_cutoff = now - days(kept.max(FAILED_INPUT_RETENTION_DAYS));
            purged.inputs += self.purge_part(practice, Part::Input, done_cutoff, failed_cutoff).await?;
            if let Some(d) = policy.transcript_retention_days {
                purged.transcripts += self.purge_part(practice, Part::Transcript, now - days(d), now - days(d)).await?;
            }
        }
        Ok(purged)
    }

    /// Deletes one practice's payloads of `part` whose jobs finished at or before the cutoff
    /// (`failed_cutoff` for failed jobs), in batches.
    async fn purge_part(&self, practice: PracticeId, part: Part, done_cutoff: DateTime<Utc>, failed_cutoff: DateTime<Utc>) -> Result<u64> {
        let keys = self.keys();
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let lock = if tx.is_postgres() { " FOR UPDATE OF p SKIP LOCKED" } else { "" };
            let rows = tx
                .fetch_all(
                    Sql::dynamic(format!(
                        "SELECT p.scribe_job_id, p.data_key_id, j.kind FROM scribe_payload p JOIN scribe_job j ON j.scribe_job_id = p.scribe_job_id \
                         WHERE j.practice_id = $1 AND p.part = $2 AND j.finished_at IS NOT NULL \
                         AND ((j.status = 'failed' AND j.finished_at <= $4) OR (j.status <> 'failed' AND j.finished_at <= $3)) \
                         ORDER BY j.finished_at, p.scribe_job_id LIMIT $5{lock}"
                    ))
                    .bind(practice)
                    .bind(part.as_str())
                    .bind(done_cutoff)
                    .bind(failed_cutoff)
                    .bind(PURGE_BATCH),
                    "finding expired scribe payloads",
                )
                .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let mut actions = Vec::with_capacity(rows.len());
            for r in &rows {
                let id = ScribeJobId::from_uuid(r.get::<Uuid>("scribe_job_id")?);
                let key: Uuid = r.get("data_key_id")?;
                tx.execute(Sql::new("DELETE FROM scribe_payload WHERE scribe_job_id = $1 AND part = $2").bind(id).bind(part.as_str()), "purging a scribe payload").await?;
                tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(key), "purging a scribe payload's data key").await?;
                let action = match part {
                    Part::Input => input_deleted_action(ScribeKind::parse(&r.get::<String>("kind")?)?),
                    _ => "scribe_job.transcript_deleted",
                };
                actions.push(AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(id.to_string()), outcome: Outcome::Ok });
            }
            audit::append_many(&mut tx, &keys, &Actor::system(practice), &actions).await?;
            tx.commit().await?;
            total += rows.len() as u64;
            if (rows.len() as i64) < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_settings_delete_audio_at_success_and_keep_transcripts() {
        assert_eq!(RetentionPolicy::from_settings(&json!({})).expect("valid"), RetentionPolicy::default());
        assert_eq!(RetentionPolicy::from_settings(&json!({"audio_retention_days": null})).expect("valid").audio_retention_days, None);
        let p = RetentionPolicy::from_settings(&json!({"audio_retention_days": 30, "transcript_retention_days": 0})).expect("valid");
        assert_eq!((p.audio_retention_days, p.transcript_retention_days), (Some(30), Some(0)));
    }

    #[test]
    fn malformed_retention_is_refused_by_the_settings_check_and_read_as_the_default() {
        for bad in [json!({"audio_retention_days": -1}), json!({"audio_retention_days": "30"}), json!({"transcript_retention_days": 1.5}), json!({"audio_retention_days": 3651})] {
            assert!(matches!(RetentionPolicy::from_settings(&bad), Err(StoreError::Invalid(m)) if m.contains("retention_days")), "{bad}");
            assert_eq!(RetentionPolicy::parse_stored(PracticeId::new(), &bad.to_string()), RetentionPolicy::default());
        }
    }
}
