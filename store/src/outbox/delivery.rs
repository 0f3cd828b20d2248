//! What providers tell the outbox after the send: status callbacks (held when they beat the
//! dispatcher's `mark_sent`), and reconciliation of attempts whose outcome is unknown.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    COLUMNS, ErrorClass, FROM, MAX_CLAIM_BATCH, OutboundChannel, OutboundStatus, Recipient, SenderKey, check_provider_id, open_row,
    dispatch::{Claim, Current, audit_row, current, lock, stale},
};
use crate::{
    Result, Store, StoreError,
    db::{Sql, Tx},
    ids::{OutboxMessageId, PracticeId},
    types::{now, truncate},
};

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
    /// Records the send under `provider_id`, then applies any report that arrived for that id
    /// before this (see [`CallbackOutcome::Held`]).
    pub(super) async fn set_sent(tx: &mut Tx, keys: &crate::keyfile::Keyring, id: OutboxMessageId, cur: &Current, provider_id: &str) -> Result<()> {
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
