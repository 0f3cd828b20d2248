//! What the dispatcher calls: claim due rows, record each attempt's outcome, apply provider
//! status callbacks, and reconcile attempts whose outcome is unknown.
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
    outbox_message_id: OutboxMessageId,
    attempt: i64,
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

/// An attempt whose outcome is unknown, to look up at the provider (Twilio: messages to this
/// number since `attempt_started_at`, matched by body). `Debug` hides the body and the address.
#[derive(Clone, PartialEq, Eq)]
pub struct Unreconciled {
    pub claim: Claim,
    pub practice_id: PracticeId,
    pub recipient: Recipient,
    pub body: String,
    pub sender_key: SenderKey,
    pub attempt_started_at: DateTime<Utc>,
    pub last_error_class: Option<ErrorClass>,
}

impl fmt::Debug for Unreconciled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unreconciled").field("claim", &self.claim).field("recipient", &self.recipient).finish_non_exhaustive()
    }
}

/// What the provider says about an attempt whose outcome was unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconciliation {
    /// It was accepted, under this id: the row becomes `sent` (never sent again).
    Found(String),
    /// The provider has no such message: the row goes back to `pending` to be retried.
    NotSent,
}

/// A provider status callback, mapped from the channel's own words (Twilio `MessageStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryReport {
    /// Accepted by the carrier (Twilio `sent`).
    Sent,
    Delivered,
    /// Failed or undelivered; `OptedOut` also records an opt-out.
    Failed(ErrorClass),
}

/// What a status callback did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "status", rename_all = "snake_case")]
pub enum CallbackOutcome {
    /// The row moved forward to this status.
    Updated(OutboundStatus),
    /// A repeat or an out-of-order report (e.g. `sent` after `delivered`): the row keeps this.
    Unchanged(OutboundStatus),
    /// No outbound message has this provider id on this channel yet: the provider called back
    /// before `mark_sent` recorded the id. The report is kept and applied when it is (for
    /// [`super::EARLY_REPORT_RETENTION`]; a report for a message of another system just expires).
    Held,
}

/// How far along delivery a status is; callbacks only ever move a row forward.
fn progress(s: OutboundStatus) -> u8 {
    match s {
        OutboundStatus::Pending | OutboundStatus::InFlight | OutboundStatus::Unknown => 0,
        OutboundStatus::Sent => 1,
        // Final either way: a provider reports one of them, never both.
        OutboundStatus::Delivered | OutboundStatus::Failed | OutboundStatus::Cancelled => 2,
    }
}

/// The locked state of one row.
#[derive(Clone)]
struct Current {
    practice_id: PracticeId,
    status: OutboundStatus,
    attempts: i64,
    provider_id: Option<String>,
    channel: OutboundChannel,
    recipient_index: Vec<u8>,
}

/// Reads a row's state; on PostgreSQL `FOR UPDATE` holds it until commit, so two outcome
/// calls for one row apply one after the other (SQLite: BEGIN IMMEDIATE already did).
async fn lock(tx: &mut Tx, id: OutboxMessageId) -> Result<Current> {
    let sql = if tx.is_postgres() {
        "SELECT practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE outbox_message_id = $1 FOR UPDATE"
    } else {
        "SELECT practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE outbox_message_id = $1"
    };
    let r = tx.fetch_one(Sql::new(sql).bind(id), "locking an outbound message").await?;
    current(&r)
}

fn current(r: &Row) -> Result<Current> {
    Ok(Current {
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        status: OutboundStatus::parse(&r.get::<String>("status")?)?,
        attempts: r.get("attempts")?,
        provider_id: r.get("provider_id")?,
        channel: OutboundChannel::parse(&r.get::<String>("channel")?)?,
        recipient_index: r.get("recipient_index")?,
    })
}

fn stale(claim: Claim, cur: &Current) -> StoreError {
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
async fn audit_row(tx: &mut Tx, keys: &crate::keyfile::Keyring, practice: PracticeId, action: &str, id: OutboxMessageId) -> Result<()> {
    audit::append(tx, keys, &Actor::system(practice), &AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(id.to_string()), outcome: Outcome::Ok })
        .await
        .map(|_| ())
}

/// PostgreSQL: serialises everything that binds a provider id to a row with everything that
/// reports on that provider id, so a report that finds no row is stored before `mark_sent`
/// looks for stored reports, or after it has set the id. SQLite: BEGIN IMMEDIATE already did.
async fn serialize_provider_id(tx: &mut Tx, channel: OutboundChannel, provider_id: &str) -> Result<()> {
    if tx.is_postgres() {
        tx.execute(Sql::new("SELECT pg_advisory_xact_lock(hashtext($1))").bind(format!("outbox/{}/{provider_id}", channel.as_str())), "locking a provider id").await?;
    }
    Ok(())
}

fn report_status(report: DeliveryReport) -> OutboundStatus {
    match report {
        DeliveryReport::Sent => OutboundStatus::Sent,
        DeliveryReport::Delivered => OutboundStatus::Delivered,
        DeliveryReport::Failed(_) => OutboundStatus::Failed,
    }
}

impl Store {
    /// Claims up to `limit` due rows for `worker`: each becomes `in_flight` with
    /// `attempt_started_at = now` and a lease until `now + lease`, and is returned decrypted
    /// (audited as `outbox.claim`, the system of its practice acting, the worker as request id).
    ///
    /// In the same transaction, first: rows whose lease expired become `unknown` (not
    /// `pending`: the dead worker's request may have reached the provider, so they wait for
    /// [`Store::reconciled`]); and due rows addressed to an opted-out recipient become
    /// `cancelled` with reason `opted_out` instead of being handed out.
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

        // 2. Due rows, with whether the recipient opted out of the channel. The one exception
        // is the opt-out confirmation written at or after the opt-out itself.
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!(
                    "SELECT {COLUMNS}, EXISTS (SELECT 1 FROM channel_opt_out x WHERE x.practice_id = o.practice_id AND x.channel = o.channel \
                     AND x.address_index = o.recipient_index AND NOT (o.purpose = 'opt_out_confirmation' AND o.created_at >= x.created_at)) AS opted_out \
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
        let mut undecryptable = Vec::new();
        for r in &rows {
            let id: Uuid = r.get("outbox_message_id")?;
            let practice = PracticeId::from_uuid(r.get("practice_id")?);
            if r.get::<bool>("opted_out")? {
                opted_out.push(id);
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
        for (ids, set) in [(&opted_out, "status = 'cancelled', cancel_reason = 'opted_out'"), (&undecryptable, "status = 'failed', last_error_class = 'undecryptable'")] {
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

    /// Records the send under `provider_id`, then applies any report that arrived for that id
    /// before this (see [`CallbackOutcome::Held`]).
    async fn set_sent(tx: &mut Tx, keys: &crate::keyfile::Keyring, id: OutboxMessageId, cur: &Current, provider_id: &str) -> Result<()> {
        serialize_provider_id(tx, cur.channel, provider_id).await?;
        let t = now();
        tx.execute(
            Sql::new("UPDATE outbox_message SET status = 'sent', provider_id = $2, sent_at = $3, lease_expires_at = NULL, updated_at = $3 WHERE outbox_message_id = $1")
                .bind(id)
                .bind(provider_id)
                .bind(t),
            "recording a sent message",
        )
        .await?;
        audit_row(tx, keys, cur.practice_id, "outbox.sent", id).await?;
        let held = tx
            .fetch_all(
                Sql::new("SELECT status, error_class FROM early_delivery_report WHERE channel = $1 AND provider_id = $2").bind(cur.channel.as_str()).bind(provider_id),
                "reading early delivery reports",
            )
            .await?;
        let mut best: Option<DeliveryReport> = None;
        for r in &held {
            let report = match OutboundStatus::parse(&r.get::<String>("status")?)? {
                OutboundStatus::Delivered => DeliveryReport::Delivered,
                OutboundStatus::Failed => DeliveryReport::Failed(r.get::<Option<String>>("error_class")?.map(|c| ErrorClass::parse(&c)).transpose()?.unwrap_or(ErrorClass::NeverRetry)),
                _ => DeliveryReport::Sent,
            };
            // Delivered wins over failed: a provider reports only one, but "delivered" is the
            // one that cannot be a misclassification.
            if best.is_none_or(|b| progress(report_status(report)) > progress(report_status(b)) || report == DeliveryReport::Delivered) {
                best = Some(report);
            }
        }
        if !held.is_empty() {
            tx.execute(
                Sql::new("DELETE FROM early_delivery_report WHERE channel = $1 AND provider_id = $2").bind(cur.channel.as_str()).bind(provider_id),
                "consuming early delivery reports",
            )
            .await?;
        }
        if let Some(report) = best.filter(|r| *r != DeliveryReport::Sent) {
            let sent = Current { status: OutboundStatus::Sent, provider_id: Some(provider_id.to_owned()), ..cur.clone() };
            Self::apply_report(tx, keys, id, &sent, report).await?;
        }
        Ok(())
    }

    /// Moves a row that has a provider id forward to what `report` says.
    async fn apply_report(tx: &mut Tx, keys: &crate::keyfile::Keyring, id: OutboxMessageId, cur: &Current, report: DeliveryReport) -> Result<()> {
        match report {
            DeliveryReport::Sent => Ok(()),
            DeliveryReport::Delivered => {
                let t = now();
                tx.execute(
                    Sql::new("UPDATE outbox_message SET status = 'delivered', delivered_at = $2, lease_expires_at = NULL, updated_at = $2 WHERE outbox_message_id = $1").bind(id).bind(t),
                    "recording a delivery",
                )
                .await?;
                audit_row(tx, keys, cur.practice_id, "outbox.delivered", id).await
            }
            DeliveryReport::Failed(class) => Self::set_failed(tx, keys, id, cur, class).await,
        }
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

    async fn set_failed(tx: &mut Tx, keys: &crate::keyfile::Keyring, id: OutboxMessageId, cur: &Current, class: ErrorClass) -> Result<()> {
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

    /// Attempts whose outcome is unknown and that started at or before `started_before` (give
    /// the provider's records time to show a send), oldest first, decrypted so they can be
    /// looked up at the provider; audited as `outbox.reconcile_read`.
    pub async fn list_unreconciled(&self, started_before: DateTime<Utc>, limit: usize) -> Result<Vec<Unreconciled>> {
        if limit == 0 || limit > MAX_CLAIM_BATCH {
            return Err(StoreError::Invalid(format!("limit must be 1-{MAX_CLAIM_BATCH}")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {COLUMNS} FROM {FROM} WHERE o.status = 'unknown' AND o.attempt_started_at <= $1 ORDER BY o.attempt_started_at, o.outbox_message_id LIMIT $2"))
                    .bind(truncate(started_before))
                    .bind(limit as i64),
                "listing unreconciled outbound messages",
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (recipient, body) = open_row(&keys, r)?;
            let id = OutboxMessageId::from_uuid(r.get("outbox_message_id")?);
            let practice = PracticeId::from_uuid(r.get("practice_id")?);
            audit_row(&mut tx, &keys, practice, "outbox.reconcile_read", id).await?;
            out.push(Unreconciled {
                claim: Claim { outbox_message_id: id, attempt: r.get("attempts")? },
                practice_id: practice,
                recipient,
                body,
                sender_key: SenderKey::parse(&r.get::<String>("sender_key")?)?,
                attempt_started_at: r.get::<Option<DateTime<Utc>>>("attempt_started_at")?.unwrap_or(r.get("updated_at")?),
                last_error_class: r.get::<Option<String>>("last_error_class")?.map(|c| ErrorClass::parse(&c)).transpose()?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records what the provider did with an `unknown` attempt: `Found` -> `sent` with that
    /// provider id; `NotSent` -> `pending`, due now. Only an `unknown` row on the claim's
    /// attempt can be reconciled; repeating `Found` with the same id is a no-op.
    pub async fn reconciled(&self, claim: Claim, outcome: Reconciliation) -> Result<()> {
        if let Reconciliation::Found(p) = &outcome {
            check_provider_id(p)?;
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let cur = lock(&mut tx, claim.outbox_message_id).await?;
        if let Reconciliation::Found(p) = &outcome
            && cur.attempts == claim.attempt
            && matches!(cur.status, OutboundStatus::Sent | OutboundStatus::Delivered)
            && cur.provider_id.as_deref() == Some(p.as_str())
        {
            return Ok(());
        }
        if cur.attempts != claim.attempt || cur.status != OutboundStatus::Unknown {
            return Err(stale(claim, &cur));
        }
        match &outcome {
            Reconciliation::Found(p) => Self::set_sent(&mut tx, &keys, claim.outbox_message_id, &cur, p).await?,
            Reconciliation::NotSent => {
                let t = now();
                tx.execute(
                    Sql::new("UPDATE outbox_message SET status = 'pending', next_attempt_at = $2, updated_at = $2 WHERE outbox_message_id = $1").bind(claim.outbox_message_id).bind(t),
                    "returning an unsent message to the queue",
                )
                .await?;
            }
        }
        audit_row(&mut tx, &keys, cur.practice_id, "outbox.reconciled", claim.outbox_message_id).await?;
        tx.commit().await
    }

    /// Applies a provider status callback to the row with this provider id. Idempotent, and
    /// monotonic: a row only moves forward (`sent` -> `delivered` | `failed`), so a late or
    /// repeated report never moves `delivered` back to `sent`. A report for a provider id no
    /// row has yet is held (see [`CallbackOutcome::Held`]).
    pub async fn status_callback(&self, channel: OutboundChannel, provider_id: &str, report: DeliveryReport) -> Result<CallbackOutcome> {
        check_provider_id(provider_id)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        serialize_provider_id(&mut tx, channel, provider_id).await?;
        let sql = if tx.is_postgres() {
            "SELECT outbox_message_id, practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE channel = $1 AND provider_id = $2 FOR UPDATE"
        } else {
            "SELECT outbox_message_id, practice_id, status, attempts, provider_id, channel, recipient_index FROM outbox_message WHERE channel = $1 AND provider_id = $2"
        };
        let Some(r) = tx.fetch_optional(Sql::new(sql).bind(channel.as_str()).bind(provider_id), "finding a message by provider id").await? else {
            let t = now();
            let class = match report {
                DeliveryReport::Failed(c) => Some(c.as_str()),
                _ => None,
            };
            tx.execute(
                Sql::new("INSERT INTO early_delivery_report (channel, provider_id, status, error_class, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (channel, provider_id, status) DO NOTHING")
                    .bind(channel.as_str())
                    .bind(provider_id)
                    .bind(report_status(report).as_str())
                    .bind(class)
                    .bind(t),
                "holding an early delivery report",
            )
            .await?;
            tx.execute(Sql::new("DELETE FROM early_delivery_report WHERE created_at < $1").bind(t - super::EARLY_REPORT_RETENTION), "expiring early delivery reports").await?;
            tx.commit().await?;
            return Ok(CallbackOutcome::Held);
        };
        let id = OutboxMessageId::from_uuid(r.get("outbox_message_id")?);
        let cur = current(&r)?;
        let target = report_status(report);
        if progress(target) <= progress(cur.status) {
            return Ok(CallbackOutcome::Unchanged(cur.status));
        }
        // A row found by provider id is at least `sent`, so only delivered/failed get here.
        Self::apply_report(&mut tx, &keys, id, &cur, report).await?;
        tx.commit().await?;
        Ok(CallbackOutcome::Updated(target))
    }
}
