//! Writing outbox rows — inside the transaction of the change that caused them — and what
//! staff do with them: read, list per client, withdraw.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{COLUMNS, Enqueued, FROM, IdempotencyKey, MAX_LISTED, NewOutbound, OutboundMessage, OutboundStatus, T, Withdrawal, check, from_row};
use crate::{
    Actor, Result, Store, StoreError,
    audit::{self, AuditAction, Outcome},
    clients::{ClientScope, require_visible},
    crypto::RecordKey,
    db::{Sql, Tx},
    ids::{AppointmentId, ClientId, OutboxMessageId, PracticeId},
    keyfile::Keyring,
    types::{now, truncate},
};

/// `NotFound` unless the linked record belongs to the actor's practice.
async fn require_in_practice(tx: &mut Tx, sql: &'static str, id: Uuid, practice: PracticeId, context: &'static str) -> Result<()> {
    tx.fetch_one(Sql::new(sql).bind(id).bind(practice), context).await.map(|_| ())
}

async fn existing(tx: &mut Tx, practice: PracticeId, key: &IdempotencyKey) -> Result<Option<OutboxMessageId>> {
    let row = tx
        .fetch_optional(
            Sql::new("SELECT outbox_message_id FROM outbox_message WHERE practice_id = $1 AND idempotency_key = $2").bind(practice).bind(key.as_str()),
            "looking up an idempotency key",
        )
        .await?;
    row.map(|r| Ok(OutboxMessageId::from_uuid(r.get("outbox_message_id")?))).transpose()
}

/// Writes an outbox row inside the caller's transaction, so it commits or rolls back with the
/// change that caused it. `t` is its `created_at` (the opt-out guard compares it with the
/// opt-out's time, so a caller recording both passes the same instant).
pub(crate) async fn enqueue_tx(tx: &mut Tx, keys: &Keyring, actor: &Actor, new: &NewOutbound, t: DateTime<Utc>) -> Result<Enqueued> {
    check(new)?;
    let p = actor.practice_id;
    if let Some(c) = new.client_id {
        require_in_practice(tx, "SELECT 1 AS one FROM client WHERE client_id = $1 AND practice_id = $2", c.as_uuid(), p, "checking the client").await?;
    }
    if let Some(a) = new.appointment_id {
        require_in_practice(tx, "SELECT 1 AS one FROM appointment WHERE appointment_id = $1 AND practice_id = $2", a.as_uuid(), p, "checking the appointment").await?;
    }
    if let Some(m) = new.message_id {
        require_in_practice(tx, "SELECT 1 AS one FROM message WHERE message_id = $1 AND practice_id = $2", m.as_uuid(), p, "checking the message").await?;
    }
    if let Some(id) = existing(tx, p, &new.idempotency_key).await? {
        return Ok(Enqueued::AlreadyQueued(id));
    }
    let id = OutboxMessageId::new();
    let u = id.as_uuid();
    let k = RecordKey::create(tx, keys).await?;
    // ON CONFLICT DO NOTHING rather than a unique violation: on PostgreSQL an error would abort
    // the caller's whole transaction, and the causing change with it.
    let n = tx
        .execute(
            Sql::new(
                "INSERT INTO outbox_message (outbox_message_id, practice_id, client_id, appointment_id, message_id, data_key_id, channel, \
                 recipient, recipient_index, body, purpose, sender_key, idempotency_key, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'pending',0,$14,$15,$15) \
                 ON CONFLICT (practice_id, idempotency_key) DO NOTHING",
            )
            .bind(id)
            .bind(p)
            .bind(new.client_id)
            .bind(new.appointment_id)
            .bind(new.message_id)
            .bind(k.data_key_id)
            .bind(new.recipient.channel().as_str())
            .bind(k.seal(T, "recipient", u, &new.recipient.address()))
            .bind(new.recipient.index(&keys.index_key))
            .bind(k.seal(T, "body", u, &new.body))
            .bind(new.purpose.as_str())
            .bind(new.sender_key.as_str())
            .bind(new.idempotency_key.as_str())
            .bind(truncate(new.not_before.unwrap_or(t)))
            .bind(t),
            "enqueuing an outbound message",
        )
        .await?;
    if n == 0 {
        // Another transaction committed the same key between the lookup and the insert
        // (PostgreSQL made this insert wait for it): its row is the one that counts.
        tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(k.data_key_id), "discarding an unused data key").await?;
        let first = existing(tx, p, &new.idempotency_key).await?.ok_or_else(|| StoreError::State("the idempotency key was taken and then released; retry".to_owned()))?;
        return Ok(Enqueued::AlreadyQueued(first));
    }
    audit::append(tx, keys, actor, &AuditAction { action: "outbox.create".into(), object_type: T.into(), object_id: Some(id.to_string()), outcome: Outcome::Ok }).await?;
    Ok(Enqueued::Created(id))
}

impl Store {
    /// Enqueues a stand-alone message (one not caused by another store change). Changes that
    /// send something use a store method that enqueues in their own transaction, such as
    /// [`Store::record_message_with_notice`] or [`Store::opt_out_and_confirm`].
    pub async fn enqueue(&self, actor: &Actor, new: &NewOutbound) -> Result<Enqueued> {
        check(new)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let out = enqueue_tx(&mut tx, &keys, actor, new, now()).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// One outbound message of the actor's practice, decrypted; audited as `outbox.read`.
    pub async fn get_outbound(&self, actor: &Actor, id: OutboxMessageId) -> Result<OutboundMessage> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_one(
                Sql::dynamic(format!("SELECT {COLUMNS} FROM {FROM} WHERE o.outbox_message_id = $1 AND o.practice_id = $2")).bind(id).bind(actor.practice_id),
                "reading an outbound message",
            )
            .await?;
        let m = from_row(&keys, &row)?;
        self.audit(&mut tx, &keys, actor, "outbox.read", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// A client's outbound messages, oldest first (at most [`MAX_LISTED`]): what staff see of
    /// the console channel, and the delivery state of reminders. `NotFound` if the client is
    /// not visible in `scope`. One `outbox.read` event per row returned.
    pub async fn list_client_outbound(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<OutboundMessage>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {COLUMNS} FROM {FROM} WHERE o.practice_id = $1 AND o.client_id = $2 ORDER BY o.outbox_message_id LIMIT $3"))
                    .bind(actor.practice_id)
                    .bind(client)
                    .bind(MAX_LISTED),
                "listing a client's outbound messages",
            )
            .await?;
        let out = rows.iter().map(|r| from_row(&keys, r)).collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "outbox.read", T, out.iter().map(|m| m.outbox_message_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Withdraws every unclaimed message linked to an appointment (the visit was cancelled or
    /// moved, so its reminders must not go out); returns how many. Claimed ones are left alone.
    pub async fn withdraw_appointment_messages(&self, actor: &Actor, appointment: AppointmentId) -> Result<u64> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_in_practice(&mut tx, "SELECT 1 AS one FROM appointment WHERE appointment_id = $1 AND practice_id = $2", appointment.as_uuid(), actor.practice_id, "checking the appointment").await?;
        let rows = tx
            .fetch_all(
                Sql::new(
                    "UPDATE outbox_message SET status = 'cancelled', cancel_reason = 'withdrawn', updated_at = $3 \
                     WHERE practice_id = $1 AND appointment_id = $2 AND status = 'pending' RETURNING outbox_message_id",
                )
                .bind(actor.practice_id)
                .bind(appointment)
                .bind(now()),
                "withdrawing an appointment's messages",
            )
            .await?;
        let ids = rows.iter().map(|r| Ok(OutboxMessageId::from_uuid(r.get("outbox_message_id")?).to_string())).collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "outbox.cancel", T, ids.into_iter()).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Withdraws a message that has not been claimed yet (e.g. the visit it reminds of was
    /// cancelled). A claimed one may already be on its way and is left alone.
    pub async fn cancel_outbound(&self, actor: &Actor, id: OutboxMessageId) -> Result<Withdrawal> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE outbox_message SET status = 'cancelled', cancel_reason = 'withdrawn', updated_at = $3 WHERE outbox_message_id = $1 AND practice_id = $2 AND status = 'pending'")
                    .bind(id)
                    .bind(actor.practice_id)
                    .bind(now()),
                "withdrawing an outbound message",
            )
            .await?;
        if n == 0 {
            let row = tx
                .fetch_one(Sql::new("SELECT status FROM outbox_message WHERE outbox_message_id = $1 AND practice_id = $2").bind(id).bind(actor.practice_id), "reading an outbound status")
                .await?;
            return Ok(Withdrawal::TooLate(OutboundStatus::parse(&row.get::<String>("status")?)?));
        }
        self.audit(&mut tx, &keys, actor, "outbox.cancel", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Withdrawal::Cancelled)
    }
}
