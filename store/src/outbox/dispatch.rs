//! What the dispatcher calls to claim due rows and record each attempt's outcome (provider
//! callbacks and reconciliation are in `delivery`).
//!
//! Every outcome method takes the [`Claim`] that `claim_due` handed out (row id and attempt
//! number) and applies only while the row is still on that attempt: a worker that stalled past
//! its lease cannot overwrite what a later attempt did (a fencing token).

use std::{collections::BTreeMap, fmt};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{
    COLUMNS, ErrorClass, FROM, MAX_CLAIM_BATCH, MAX_LEASE, MIN_LEASE, OutboundChannel, OutboundStatus, Purpose, Recipient, SenderKey, T,
    WorkerId, check_provider_id, open_row,
};
use crate::{
    Actor, Result, Store, StoreError,
    audit::{self, AuditAction, Outcome},
    db::{Row, Sql, Tx},
    ids::{AppointmentId, ClientId, MessageId, OutboxMessageId, PracticeId},
    opt_out::{OptOutSource, record_opt_out},
    types::{now, truncate},
};

/// Proof of one claim: the row and the attempt it started. Only `claim_due` and
/// `list_unreconciled` make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Claim {
    pub(super) outbox_message_id: OutboxMessageId,
    pub(super) attempt: i64,
}

impl Claim {
    pub fn outbox_message_id(&self) -> OutboxMessageId {
        self.outbox_message_id
    }
    /// 1 for the first attempt.
    pub fn attempt(&self) -> i64 {
        self.attempt
    }
}

/// A row handed to a worker to send now. `Debug` hides the body and the address.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedOutbound {
    pub claim: Claim,
    pub practice_id: PracticeId,
    pub client_id: Option<ClientId>,
    pub appointment_id: Option<AppointmentId>,
    pub message_id: Option<MessageId>,
    pub recipient: Recipient,
    pub body: String,
    pub purpose: Purpose,
    pub sender_key: SenderKey,
    pub attempt_started_at: DateTime<Utc>,
    /// Record an outcome before this, or the row becomes `unknown`.
    pub lease_expires_at: DateTime<Utc>,
}

impl fmt::Debug for ClaimedOutbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimedOutbound")
            .field("claim", &self.claim)
            .field("recipient", &self.recipient)
            .field("purpose", &self.purpose)
            .field("sender_key", &self.sender_key)
            .finish_non_exhaustive()
    }
}

/// The locked state of one row.
#[derive(Clone)]
pub(super) struct Current {
    pub(super) practice_id: PracticeId,
    pub(super) status: OutboundStatus,
    pub(super) attempts: i64,
    pub(super) provider_id: Option<String>,
    pub(super) channel: OutboundChannel,
    pub(super) recipient_index: Vec<u8>,
}

/// Reads a row's state; on PostgreSQL `FOR UPDATE` holds it until commit, so two outcome
/// calls for one row apply one after the other (SQLite: BEGIN IMMEDIATE already did).
pub(super) async fn lock(tx: &mut Tx, id: OutboxMessageId) -> Result<Current> {
    let sql = if tx.is_postgres() {
        "SELECT practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE outbox_message_id = $1 FOR UPDATE"
    } else {
        "SELECT practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE outbox_message_id = $1"
    };
    let r = tx.fetch_one(Sql::new(sql).bind(id), "locking an outbound message").await?;
    current(&r)
}

pub(super) fn current(r: &Row) -> Result<Current> {
    Ok(Current {
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        status: OutboundStatus::parse(&r.get::<String>("status")?)?,
        attempts: r.get("attempts")?,
        provider_id: r.get("provider_id")?,
        channel: OutboundChannel::parse(&r.get::<String>("channel")?)?,
        recipient_index: r.get("recipient_index")?,
    })
}

pub(super) fn stale(claim: Claim, cur: &Current) -> StoreError {
    if cur.attempts != claim.attempt {
        StoreError::State(format!("the claim is stale: the message is on attempt {}, the claim was for attempt {}", cur.attempts, claim.attempt))
    } else {
        StoreError::State(format!("the message is {}, which this outcome cannot follow", cur.status.as_str()))
    }
}

fn ids_in(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(",")
}

/// Audits one status change of one row as the system of the row's practice.
pub(super) async fn audit_row(tx: &mut Tx, keys: &crate::keyfile::Keyring, practice: PracticeId, action: &str, id: OutboxMessageId) -> Result<()> {
    audit::append(tx, keys, &Actor::system(practice), &AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(id.to_string()), outcome: Outcome::Ok })
        .await
        .map(|_| ())
}

impl Store {
    /// Claims up to `limit` due rows for `worker`: each becomes `in_flight` with
    /// `attempt_started_at = now` and a lease until `now + lease`, and is returned decrypted
    /// (audited as `outbox.claim`, the system of its practice acting, the worker as request id).
    ///
    /// In the same transaction, first: rows whose lease expired become `unknown` (not
    /// `pending`: the dead worker's request may have reached the provider, so they wait for
    /// [`Store::reconciled`]); and due rows addressed to an opted-out recipient become
    /// `cancelled` with reason `opted_out` instead of being handed out; so do reminders and
    /// join links of a visit cancelled since they were written (`appointment_cancelled`).
    ///
    /// Concurrency: PostgreSQL selects with `FOR UPDATE SKIP LOCKED`, so concurrent claimers
    /// (any number of processes) lock disjoint rows without waiting on each other (zero2prod's
    /// `issue_delivery_worker`). SQLite has one writer: the transaction starts with
    /// `BEGIN IMMEDIATE` (see `db.rs`), so a claim's select and update run with no other
    /// writer in between and a second claimer sees the rows already `in_flight`.
    pub async fn claim_due(&self, worker: &WorkerId, now: DateTime<Utc>, limit: usize, lease: TimeDelta) -> Result<Vec<ClaimedOutbound>> {
        self.claim(worker, now, limit, lease, None).await
    }

    /// [`Store::claim_due`] for one sender only, so a dispatcher can claim no more for a
    /// sender than its rate limit lets it send within the lease (a long code sends about one
    /// segment a second: claiming 500 of its messages at once would expire most leases).
    /// Expired leases of every sender are still turned `unknown`.
    pub async fn claim_due_for_sender(&self, worker: &WorkerId, sender: &SenderKey, now: DateTime<Utc>, limit: usize, lease: TimeDelta) -> Result<Vec<ClaimedOutbound>> {
        self.claim(worker, now, limit, lease, Some(sender)).await
    }

    async fn claim(&self, worker: &WorkerId, now: DateTime<Utc>, limit: usize, lease: TimeDelta, sender: Option<&SenderKey>) -> Result<Vec<ClaimedOutbound>> {
        if limit == 0 || limit > MAX_CLAIM_BATCH {
            return Err(StoreError::Invalid(format!("claim limit must be 1-{MAX_CLAIM_BATCH}")));
        }
        if lease < MIN_LEASE || lease > MAX_LEASE {
            return Err(StoreError::Invalid(format!("lease must be {}-{} seconds", MIN_LEASE.num_seconds(), MAX_LEASE.num_seconds())));
        }
        let now = truncate(now);
        let lease_until = now + lease;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let skip_locked = if tx.is_postgres() { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut audits: BTreeMap<PracticeId, Vec<AuditAction>> = BTreeMap::new();
        let mut note = |p: PracticeId, action: &str, id: Uuid| {
            audits.entry(p).or_default().push(AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(id.to_string()), outcome: Outcome::Ok });
        };

        // 1. Expired leases -> unknown.
        let expired = tx
            .fetch_all(
                Sql::dynamic(format!(
                    "UPDATE outbox_message SET status = 'unknown', last_error_class = 'lease_expired', lease_expires_at = NULL, updated_at = $3 \
                     WHERE outbox_message_id IN (SELECT outbox_message_id FROM outbox_message WHERE status = 'in_flight' AND lease_expires_at <= $1 \
                     ORDER BY lease_expires_at LIMIT $2{skip_locked}) RETURNING outbox_message_id, practice_id"
                ))
                .bind(now)
                .bind(MAX_CLAIM_BATCH as i64)
                .bind(crate::types::now()),
                "expiring outbox leases",
            )
            .await?;
        for r in &expired {
            note(PracticeId::from_uuid(r.get("practice_id")?), "outbox.lease_expired", r.get("outbox_message_id")?);
        }

        // 2. Due rows, with whether the recipient opted out of the channel (the one exception
        // is the opt-out confirmation written at or after the opt-out itself), and whether the
        // row reminds of, or links to, a visit that has been cancelled since it was written.
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!(
                    "SELECT {COLUMNS}, EXISTS (SELECT 1 FROM channel_opt_out x WHERE x.practice_id = o.practice_id AND x.channel = o.channel \
                     AND x.address_index = o.recipient_index AND NOT (o.purpose = 'opt_out_confirmation' AND o.created_at >= x.created_at)) AS opted_out, \
                     (o.purpose IN ('reminder', 'join_link') AND EXISTS (SELECT 1 FROM appointment a WHERE a.appointment_id = o.appointment_id \
                     AND a.status = 'cancelled')) AS visit_cancelled \
                     FROM {FROM} WHERE o.status = 'pending' AND o.next_attempt_at <= $1 AND ($3 IS NULL OR o.sender_key = $3) \
                     ORDER BY o.next_attempt_at, o.outbox_message_id LIMIT $2{}",
                    if tx.is_postgres() { " FOR UPDATE OF o SKIP LOCKED" } else { "" }
                ))
                .bind(now)
                .bind(limit as i64)
                .bind(sender.map(SenderKey::as_str)),
                "selecting due outbound messages",
            )
            .await?;

        let mut claimed = Vec::new();
        let mut opted_out = Vec::new();
        let mut visit_cancelled = Vec::new();
        let mut undecryptable = Vec::new();
        for r in &rows {
            let id: Uuid = r.get("outbox_message_id")?;
            let practice = PracticeId::from_uuid(r.get("practice_id")?);
            if r.get::<bool>("opted_out")? {
                opted_out.push(id);
                note(practice, "outbox.cancel", id);
                continue;
            }
            if r.get::<bool>("visit_cancelled")? {
                visit_cancelled.push(id);
                note(practice, "outbox.cancel", id);
                continue;
            }
            // A row whose ciphertext does not open would fail every claim forever: fail that
            // row alone. Key-file errors (all rows affected) still fail the whole claim.
            let (recipient, body) = match open_row(&keys, r) {
                Ok(x) => x,
                Err(StoreError::Decrypt { .. }) => {
                    tracing::warn!(outbox_message_id = %id, "outbound message does not decrypt; marked failed");
                    undecryptable.push(id);
                    note(practice, "outbox.failed", id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let attempt = r.get::<i64>("attempts")? + 1;
            note(practice, "outbox.claim", id);
            claimed.push(ClaimedOutbound {
                claim: Claim { outbox_message_id: OutboxMessageId::from_uuid(id), attempt },
                practice_id: practice,
                client_id: r.get::<Option<Uuid>>("client_id")?.map(ClientId::from_uuid),
                appointment_id: r.get::<Option<Uuid>>("appointment_id")?.map(AppointmentId::from_uuid),
                message_id: r.get::<Option<Uuid>>("message_id")?.map(MessageId::from_uuid),
                recipient,
                body,
                purpose: Purpose::parse(&r.get::<String>("purpose")?)?,
                sender_key: SenderKey::parse(&r.get::<String>("sender_key")?)?,
                attempt_started_at: now,
                lease_expires_at: lease_until,
            });
        }

        let t = crate::types::now();
        if !claimed.is_empty() {
            let mut q = Sql::dynamic(format!(
                "UPDATE outbox_message SET status = 'in_flight', attempts = attempts + 1, attempt_started_at = $1, lease_expires_at = $2, \
                 claimed_by = $3, updated_at = $4 WHERE outbox_message_id IN ({})",
                ids_in(5, claimed.len())
            ))
            .bind(now)
            .bind(lease_until)
            .bind(worker.as_str())
            .bind(t);
            for c in &claimed {
                q = q.bind(c.claim.outbox_message_id);
            }
            tx.execute(q, "claiming outbound messages").await?;
        }
        let held_back = [
            (&opted_out, "status = 'cancelled', cancel_reason = 'opted_out'"),
            (&visit_cancelled, "status = 'cancelled', cancel_reason = 'appointment_cancelled'"),
            (&undecryptable, "status = 'failed', last_error_class = 'undecryptable'"),
        ];
        for (ids, set) in held_back {
            if ids.is_empty() {
                continue;
            }
            let mut q = Sql::dynamic(format!("UPDATE outbox_message SET {set}, updated_at = $1 WHERE outbox_message_id IN ({})", ids_in(2, ids.len()))).bind(t);
            for id in ids.iter() {
                q = q.bind(*id);
            }
            tx.execute(q, "holding back outbound messages").await?;
        }
        for (practice, actions) in &audits {
            let actor = Actor::system(*practice).with_request_id(worker.as_str());
            audit::append_many(&mut tx, &keys, &actor, actions).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// The provider accepted the message under `provider_id`: `sent`. Also accepted after the
    /// lease expired (`unknown`), as long as no later attempt started. Repeating it with the
    /// same provider id is a no-op. `Conflict { field: "provider_id" }` if another message
    /// already has that id on this channel.
    pub async fn mark_sent(&self, claim: Claim, provider_id: &str) -> Result<()> {
        check_provider_id(provider_id)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let cur = lock(&mut tx, claim.outbox_message_id).await?;
        if cur.attempts == claim.attempt && matches!(cur.status, OutboundStatus::Sent | OutboundStatus::Delivered) && cur.provider_id.as_deref() == Some(provider_id) {
            return Ok(());
        }
        if cur.attempts != claim.attempt || !matches!(cur.status, OutboundStatus::InFlight | OutboundStatus::Unknown) {
            return Err(stale(claim, &cur));
        }
        Self::set_sent(&mut tx, &keys, claim.outbox_message_id, &cur, provider_id).await?;
        tx.commit().await
    }

    /// The attempt failed in a way that is safe to retry and certainly did not send (e.g. HTTP
    /// 429, a refused connection): back to `pending`, not before `not_before` (compute it with
    /// [`super::Backoff::next_attempt_at`]).
    pub async fn mark_retry(&self, claim: Claim, class: ErrorClass, not_before: DateTime<Utc>) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let cur = lock(&mut tx, claim.outbox_message_id).await?;
        if cur.attempts != claim.attempt || !matches!(cur.status, OutboundStatus::InFlight | OutboundStatus::Unknown) {
            return Err(stale(claim, &cur));
        }
        tx.execute(
            Sql::new("UPDATE outbox_message SET status = 'pending', next_attempt_at = $2, last_error_class = $3, lease_expires_at = NULL, updated_at = $4 WHERE outbox_message_id = $1")
                .bind(claim.outbox_message_id)
                .bind(truncate(not_before))
                .bind(class.as_str())
                .bind(now()),
            "scheduling a retry",
        )
        .await?;
        audit_row(&mut tx, &keys, cur.practice_id, "outbox.retry", claim.outbox_message_id).await?;
        tx.commit().await
    }

    /// The attempt failed for good: `failed`, never retried. `ErrorClass::OptedOut` (the
    /// provider says the recipient opted out) also records the opt-out, so nothing else is
    /// sent to that address on that channel.
    pub async fn mark_failed(&self, claim: Claim, class: ErrorClass) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let cur = lock(&mut tx, claim.outbox_message_id).await?;
        if cur.attempts == claim.attempt && cur.status == OutboundStatus::Failed {
            return Ok(());
        }
        if cur.attempts != claim.attempt || !matches!(cur.status, OutboundStatus::InFlight | OutboundStatus::Unknown) {
            return Err(stale(claim, &cur));
        }
        Self::set_failed(&mut tx, &keys, claim.outbox_message_id, &cur, class).await?;
        tx.commit().await
    }

    pub(super) async fn set_failed(tx: &mut Tx, keys: &crate::keyfile::Keyring, id: OutboxMessageId, cur: &Current, class: ErrorClass) -> Result<()> {
        tx.execute(
            Sql::new("UPDATE outbox_message SET status = 'failed', last_error_class = $2, lease_expires_at = NULL, updated_at = $3 WHERE outbox_message_id = $1")
                .bind(id)
                .bind(class.as_str())
                .bind(now()),
            "recording a failed message",
        )
        .await?;
        audit_row(tx, keys, cur.practice_id, "outbox.failed", id).await?;
        if class == ErrorClass::OptedOut {
            let actor = Actor::system(cur.practice_id);
            record_opt_out(tx, keys, &actor, cur.channel, &cur.recipient_index, OptOutSource::Provider, now()).await?;
        }
        Ok(())
    }

    /// The request may have reached the provider but no answer came (a timeout after the
    /// request left): `unknown`, never claimed again until [`Store::reconciled`].
    pub async fn mark_unknown(&self, claim: Claim) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let cur = lock(&mut tx, claim.outbox_message_id).await?;
        if cur.attempts == claim.attempt && cur.status == OutboundStatus::Unknown {
            return Ok(());
        }
        if cur.attempts != claim.attempt || cur.status != OutboundStatus::InFlight {
            return Err(stale(claim, &cur));
        }
        tx.execute(
            Sql::new("UPDATE outbox_message SET status = 'unknown', last_error_class = 'outcome_unknown', lease_expires_at = NULL, updated_at = $2 WHERE outbox_message_id = $1")
                .bind(claim.outbox_message_id)
                .bind(now()),
            "recording an unknown outcome",
        )
        .await?;
        audit_row(&mut tx, &keys, cur.practice_id, "outbox.unknown", claim.outbox_message_id).await?;
        tx.commit().await
    }
}
