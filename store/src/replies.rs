//! Reply conversations (DESIGN flow 2): one inbound message handled as one transaction — a
//! [`ReplyTurn`]. The assistant decides what the message means and what to say; the turn holds
//! the transaction in which the sender is identified, the visit confirmed, moved or cancelled,
//! the conversation state saved, the message filed in the staff inbox with an alert, and every
//! reply enqueued — so the change and the reply that reports it commit together or not at all,
//! and a restart loses nothing.
//!
//! Conversation state (`reply_conversation`) holds ids and times only. The staff inbox is the
//! client's message thread (an inbound `message`, body encrypted) plus a `staff_alert` row for
//! the clinician. Every PHI read or write is audited in the turn's transaction.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::{Appointment, AppointmentStatus},
    audit::{self, AuditAction, Outcome},
    clients::{Channel, ClientScope},
    db::{Sql, Tx},
    ids::{AppointmentId, ClientId, MessageId, UserId},
    keyfile::Keyring,
    messages::{Direction, MessageStatus, NewMessage},
    outbox::{Enqueued, NewOutbound, Recipient},
    types::{TimeZoneName, truncate},
};

/// Open slots of a clinician: weekly hours and exceptions minus booked visits.
mod slots;
/// The waitlist: entries, offers of a freed slot, first acceptance wins.
mod waitlist;

pub use waitlist::{WaitlistAcceptance, WaitlistEntry, WaitlistOpening, WaitlistRecipient};

/// Longest inbound text filed in the inbox, in bytes (an SMS is at most 1,600 characters).
pub const MAX_INBOUND_BYTES: usize = crate::messages::MAX_BODY_BYTES;
/// Most slots one offer lists.
pub const MAX_OFFERED_SLOTS: usize = 9;
/// How far ahead open slots are looked for.
pub const SLOT_HORIZON: TimeDelta = TimeDelta::days(28);

/// Who wrote, as far as the practice's records say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// No client of this practice has this address.
    Unknown,
    Client(ReplyClient),
    /// Several clients share the address (a family phone): staff must sort it out.
    Several(Vec<ReplyClient>),
}

/// The little of a client a reply needs. `Debug` hides the name.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyClient {
    pub client_id: ClientId,
    /// Preferred name, else first name.
    pub first_name: String,
    pub time_zone: TimeZoneName,
    pub primary_clinician_id: Option<UserId>,
}

impl std::fmt::Debug for ReplyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyClient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// A slot offered by text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// What the client was last asked, so their next message can be read as an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationState {
    /// Offered these slots for this visit (numbered from 1), plus "cancel the visit".
    ChoosingSlot { appointment_id: AppointmentId, slots: Vec<OfferedSlot> },
    /// Offered a freed slot from the waitlist.
    WaitlistOffer { waitlist_offer_id: Uuid },
}

/// The outcome of booking an offered slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Booking {
    /// The visit was moved there; the old time is free.
    Booked(Box<Appointment>),
    /// Someone else took it (or it is no longer open) since it was offered.
    Taken,
}

/// An alert to a staff member about a client message in the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffAlert {
    pub staff_alert_id: Uuid,
    pub client_id: ClientId,
    pub message_id: MessageId,
    pub created_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
}

/// One inbound message being handled: an open transaction. Dropped without [`ReplyTurn::commit`],
/// nothing it did is kept.
pub struct ReplyTurn {
    store: Store,
    tx: Tx,
    keys: Arc<Keyring>,
    actor: Actor,
    now: DateTime<Utc>,
}

pub(crate) async fn append(tx: &mut Tx, keys: &Keyring, actor: &Actor, action: &str, object_type: &str, id: String) -> Result<()> {
    audit::append(tx, keys, actor, &AuditAction { action: action.to_owned(), object_type: object_type.to_owned(), object_id: Some(id), outcome: Outcome::Ok }).await.map(|_| ())
}

/// Alerts `user` (in the actor's practice) about a client's message, in `tx`. Audited
/// `staff_alert.create`.
pub(crate) async fn alert_staff(tx: &mut Tx, keys: &Keyring, actor: &Actor, user: UserId, client: ClientId, message: MessageId, now: DateTime<Utc>) -> Result<Uuid> {
    Store::user_in(tx, actor.practice_id, user).await?;
    let id = Uuid::now_v7();
    tx.execute(
        Sql::new("INSERT INTO staff_alert (staff_alert_id, practice_id, staff_user_id, client_id, message_id, kind, created_at) VALUES ($1,$2,$3,$4,$5,'client_message',$6)")
            .bind(id)
            .bind(actor.practice_id)
            .bind(user)
            .bind(client)
            .bind(message)
            .bind(truncate(now)),
        "alerting a clinician",
    )
    .await?;
    append(tx, keys, actor, "staff_alert.create", "staff_alert", id.to_string()).await?;
    Ok(id)
}

impl Store {
    /// Starts handling one inbound message from `from` (already verified, deduplicated and
    /// past the opt-out keywords) and says who sent it. `now` is the message's arrival.
    pub async fn begin_reply(&self, actor: &Actor, from: &Recipient, now: DateTime<Utc>) -> Result<(ReplyTurn, Sender)> {
        from.check()?;
        let mut turn = self.begin_turn(actor, now).await?;
        let sender = turn.identify(from).await?;
        Ok((turn, sender))
    }

    /// Starts a turn with no inbound message (staff cancelled a visit and the waitlist is offered it).
    pub async fn begin_turn(&self, actor: &Actor, now: DateTime<Utc>) -> Result<ReplyTurn> {
        Ok(ReplyTurn { store: self.clone(), tx: self.begin().await?, keys: self.keys(), actor: actor.clone(), now: truncate(now) })
    }

    /// Unseen alerts for a staff member, oldest first (what the inbox badge counts). Each is
    /// audited as `staff_alert.read`.
    pub async fn list_staff_alerts(&self, actor: &Actor, user: UserId) -> Result<Vec<StaffAlert>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT staff_alert_id, client_id, message_id, created_at, seen_at FROM staff_alert WHERE practice_id = $1 AND staff_user_id = $2 AND seen_at IS NULL ORDER BY created_at, staff_alert_id LIMIT 5000")
                    .bind(actor.practice_id)
                    .bind(user),
                "listing staff alerts",
            )
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(StaffAlert {
                    staff_alert_id: r.get("staff_alert_id")?,
                    client_id: ClientId::from_uuid(r.get("client_id")?),
                    message_id: MessageId::from_uuid(r.get("message_id")?),
                    created_at: r.get("created_at")?,
                    seen_at: r.get("seen_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "staff_alert.read", "staff_alert", out.iter().map(|a| a.staff_alert_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Marks one of `user`'s alerts seen. Someone else's alert, or an unknown one, is
    /// `NotFound`; an alert already seen stays as it was. Audited `staff_alert.seen`.
    pub async fn mark_staff_alert_seen(&self, actor: &Actor, user: UserId, alert: Uuid) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        tx.fetch_one(
            Sql::new("SELECT 1 AS one FROM staff_alert WHERE staff_alert_id = $1 AND practice_id = $2 AND staff_user_id = $3").bind(alert).bind(actor.practice_id).bind(user),
            "finding a staff alert",
        )
        .await?;
        tx.execute(
            Sql::new("UPDATE staff_alert SET seen_at = $2 WHERE staff_alert_id = $1 AND seen_at IS NULL").bind(alert).bind(crate::types::now()),
            "marking a staff alert seen",
        )
        .await?;
        append(&mut tx, &keys, actor, "staff_alert.seen", "staff_alert", alert.to_string()).await?;
        tx.commit().await
    }

    /// The saved conversation state of a client, if any and not expired at `now` (staff view, tests).
    pub async fn conversation_state(&self, actor: &Actor, client: ClientId, now: DateTime<Utc>) -> Result<Option<ConversationState>> {
        let mut turn = self.begin_turn(actor, now).await?;
        let s = turn.conversation(client).await?;
        turn.commit().await?;
        Ok(s)
    }
}

impl ReplyTurn {
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Matches the address to clients: SMS by the phone's blind index; Telegram by the linked
    /// chat (decrypted per client: chat ids have no index). Audited per client matched.
    async fn identify(&mut self, from: &Recipient) -> Result<Sender> {
        let ids: Vec<ClientId> = match from {
            Recipient::Sms(_) => {
                let rows = self
                    .tx
                    .fetch_all(
                        Sql::new("SELECT client_id FROM client WHERE practice_id = $1 AND phone_index = $2 ORDER BY client_id").bind(self.actor.practice_id).bind(from.index(&self.keys.index_key)),
                        "matching a sender's phone",
                    )
                    .await?;
                rows.iter().map(|r| Ok(ClientId::from_uuid(r.get("client_id")?))).collect::<Result<_>>()?
            }
            Recipient::Telegram(chat) => {
                let rows = self
                    .tx
                    .fetch_all(
                        Sql::new("SELECT client_id FROM client WHERE practice_id = $1 AND telegram_chat_id IS NOT NULL ORDER BY client_id").bind(self.actor.practice_id),
                        "listing clients with a Telegram chat",
                    )
                    .await?;
                let mut out = Vec::new();
                for r in &rows {
                    let id = ClientId::from_uuid(r.get("client_id")?);
                    let c = self.store.read_client(&mut self.tx, &self.keys, &self.actor, ClientScope::Practice, id).await?;
                    if c.telegram_chat_id == Some(*chat) {
                        out.push(id);
                    }
                }
                out
            }
            Recipient::Console(_) => Vec::new(),
        };
        for id in &ids {
            append(&mut self.tx, &self.keys, &self.actor, "client.lookup_phone", "client", id.to_string()).await?;
        }
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let c = self.store.read_client(&mut self.tx, &self.keys, &self.actor, ClientScope::Practice, id).await?;
            found.push(ReplyClient { client_id: c.client_id, first_name: c.preferred_name.unwrap_or(c.first_name), time_zone: c.time_zone, primary_clinician_id: c.primary_clinician_id });
        }
        Ok(match found.len() {
            0 => Sender::Unknown,
            1 => Sender::Client(found.remove(0)),
            _ => Sender::Several(found),
        })
    }

    /// The client's next visit that is still scheduled or confirmed and has not started.
    pub async fn next_appointment(&mut self, client: ClientId) -> Result<Option<Appointment>> {
        let row = self
            .tx
            .fetch_optional(
                Sql::new(
                    "SELECT a.appointment_id FROM appointment a JOIN appointment_client ac ON ac.appointment_id = a.appointment_id \
                     WHERE a.practice_id = $1 AND ac.client_id = $2 AND a.status IN ('scheduled', 'confirmed') AND a.starts_at > $3 \
                     ORDER BY a.starts_at, a.appointment_id LIMIT 1",
                )
                .bind(self.actor.practice_id)
                .bind(client)
                .bind(self.now),
                "finding the next visit",
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        self.appointment(AppointmentId::from_uuid(r.get("appointment_id")?)).await.map(Some)
    }

    /// A visit of the practice, audited as read.
    pub async fn appointment(&mut self, id: AppointmentId) -> Result<Appointment> {
        let a = Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, id).await?;
        append(&mut self.tx, &self.keys, &self.actor, "appointment.read", "appointment", id.to_string()).await?;
        Ok(a)
    }

    /// The client's conversation state; an expired one reads as none.
    pub async fn conversation(&mut self, client: ClientId) -> Result<Option<ConversationState>> {
        let row = self
            .tx
            .fetch_optional(Sql::new("SELECT state, expires_at FROM reply_conversation WHERE practice_id = $1 AND client_id = $2").bind(self.actor.practice_id).bind(client), "reading a conversation")
            .await?;
        let Some(r) = row else { return Ok(None) };
        let expires_at: DateTime<Utc> = r.get("expires_at")?;
        if expires_at <= self.now {
            // Left in place: the next question overwrites it, and a read changes nothing.
            return Ok(None);
        }
        let state = serde_json::from_str(&r.get::<String>("state")?).map_err(|e| StoreError::Invalid(format!("stored conversation state: {e}")))?;
        Ok(Some(state))
    }

    /// Saves what the client is being asked, until `expires_at`.
    pub async fn save_conversation(&mut self, client: ClientId, state: &ConversationState, expires_at: DateTime<Utc>) -> Result<()> {
        if let ConversationState::ChoosingSlot { slots, .. } = state
            && slots.len() > MAX_OFFERED_SLOTS
        {
            return Err(StoreError::Invalid(format!("at most {MAX_OFFERED_SLOTS} slots per offer")));
        }
        let json = serde_json::to_string(state).map_err(|e| StoreError::Invalid(format!("conversation state: {e}")))?;
        self.tx
            .execute(
                Sql::new(
                    "INSERT INTO reply_conversation (practice_id, client_id, state, expires_at, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$5) \
                     ON CONFLICT (practice_id, client_id) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                )
                .bind(self.actor.practice_id)
                .bind(client)
                .bind(json)
                .bind(truncate(expires_at))
                .bind(self.now),
                "saving a conversation",
            )
            .await?;
        append(&mut self.tx, &self.keys, &self.actor, "conversation.update", "client", client.to_string()).await
    }

    pub async fn end_conversation(&mut self, client: ClientId) -> Result<()> {
        self.tx
            .execute(Sql::new("DELETE FROM reply_conversation WHERE practice_id = $1 AND client_id = $2").bind(self.actor.practice_id).bind(client), "ending a conversation")
            .await?;
        Ok(())
    }

    /// Changes a visit's status with its history, audit and reminder withdrawal, as
    /// `set_appointment_status` does. `reason` is a code without PHI.
    pub async fn set_status(&mut self, id: AppointmentId, status: AppointmentStatus, reason: &str) -> Result<Appointment> {
        let before = Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, id).await?;
        self.tx
            .execute(Sql::new("UPDATE appointment SET status = $2, updated_at = $3 WHERE appointment_id = $1").bind(id).bind(status.as_str()).bind(self.now), "changing an appointment status")
            .await?;
        Store::record_status(&mut self.tx, &self.actor, id, status, Some(reason), self.now).await?;
        append(&mut self.tx, &self.keys, &self.actor, "appointment.status", "appointment", id.to_string()).await?;
        crate::reminders::on_status_change(&mut self.tx, &self.keys, &self.actor, id, before.status, status).await?;
        Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, id).await
    }

    /// Files the client's message in their thread (the staff inbox, body encrypted) and alerts
    /// `alert` (their clinician) about it.
    pub async fn file_in_inbox(&mut self, client: ClientId, channel: Channel, text: &str, alert: Option<UserId>) -> Result<MessageId> {
        let body = if text.trim().is_empty() { "(empty message)" } else { text };
        if body.len() > MAX_INBOUND_BYTES {
            return Err(StoreError::Invalid(format!("an inbound message is at most {MAX_INBOUND_BYTES} bytes")));
        }
        let new = NewMessage { client_id: client, direction: Direction::Inbound, channel, body: body.to_owned(), status: MessageStatus::Received, provider_id: None };
        let m = crate::messages::insert_message(&mut self.tx, &self.keys, &self.actor, ClientScope::Practice, &new).await?;
        append(&mut self.tx, &self.keys, &self.actor, "message.create", "message", m.message_id.to_string()).await?;
        if let Some(user) = alert {
            alert_staff(&mut self.tx, &self.keys, &self.actor, user, client, m.message_id, self.now).await?;
        }
        Ok(m.message_id)
    }

    /// Enqueues a reply in this turn's transaction.
    pub async fn send(&mut self, new: &NewOutbound) -> Result<Enqueued> {
        crate::outbox::enqueue_tx(&mut self.tx, &self.keys, &self.actor, new, crate::types::now()).await
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }
}
