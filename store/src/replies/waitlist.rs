//! The waitlist: clients waiting for an earlier visit with a clinician. When a visit is
//! cancelled its slot is offered to the first few of them; the first to accept is booked into
//! it (a conditional update on the offer decides, so two acceptances cannot both win) and the
//! others are told it is gone.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{ConversationState, ReplyTurn, append};
use crate::{
    Actor, Result, Store, StoreError,
    appointments::{Appointment, AppointmentStatus, Modality},
    clients::{Channel, ClientScope, require_visible},
    db::Sql,
    ids::{AppointmentId, ClientId, UserId},
    outbox::Recipient,
    types::{TimeZoneName, now, truncate},
};

/// Most clients one opening is offered to at once.
pub const MAX_OFFER_RECIPIENTS: usize = 10;

/// A client waiting for a visit with a clinician.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitlistEntry {
    pub waitlist_entry_id: Uuid,
    pub clinician_id: UserId,
    pub client_id: ClientId,
    pub created_at: DateTime<Utc>,
}

/// A waitlisted client to text. `Debug` hides name and address.
#[derive(Clone, PartialEq, Eq)]
pub struct WaitlistRecipient {
    pub client_id: ClientId,
    pub first_name: String,
    pub time_zone: TimeZoneName,
    pub recipient: Recipient,
}

impl std::fmt::Debug for WaitlistRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitlistRecipient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// A freed slot offered to waitlisted clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitlistOpening {
    pub waitlist_offer_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub recipients: Vec<WaitlistRecipient>,
}

/// What accepting a waitlist offer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitlistAcceptance {
    /// Booked; `others` were offered the same slot and should be told it is gone.
    Booked { appointment: Box<Appointment>, others: Vec<WaitlistRecipient> },
    /// Someone else accepted first.
    Gone,
}

impl Store {
    /// Puts a client on a clinician's waitlist (again is a no-op); the client must be visible in `scope`.
    pub async fn add_to_waitlist(&self, actor: &Actor, scope: ClientScope, clinician: UserId, client: ClientId) -> Result<WaitlistEntry> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        Self::user_in(&mut tx, actor.practice_id, clinician).await?;
        let t = now();
        tx.execute(
            Sql::new("INSERT INTO waitlist_entry (waitlist_entry_id, practice_id, clinician_id, client_id, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (clinician_id, client_id) DO NOTHING")
                .bind(Uuid::now_v7())
                .bind(actor.practice_id)
                .bind(clinician)
                .bind(client)
                .bind(t),
            "adding to the waitlist",
        )
        .await?;
        let r = tx
            .fetch_one(Sql::new("SELECT waitlist_entry_id, created_at FROM waitlist_entry WHERE clinician_id = $1 AND client_id = $2").bind(clinician).bind(client), "reading a waitlist entry")
            .await?;
        append(&mut tx, &keys, actor, "waitlist.add", "client", client.to_string()).await?;
        tx.commit().await?;
        Ok(WaitlistEntry { waitlist_entry_id: r.get("waitlist_entry_id")?, clinician_id: clinician, client_id: client, created_at: r.get("created_at")? })
    }

    /// Takes a client off a clinician's waitlist; `NotFound` if they were not on it.
    pub async fn remove_from_waitlist(&self, actor: &Actor, scope: ClientScope, clinician: UserId, client: ClientId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let n = tx
            .execute(Sql::new("DELETE FROM waitlist_entry WHERE practice_id = $1 AND clinician_id = $2 AND client_id = $3").bind(actor.practice_id).bind(clinician).bind(client), "removing from the waitlist")
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        append(&mut tx, &keys, actor, "waitlist.remove", "client", client.to_string()).await?;
        tx.commit().await
    }

    /// A clinician's waitlist, oldest first, limited to clients visible in `scope`.
    pub async fn list_waitlist(&self, actor: &Actor, scope: ClientScope, clinician: UserId) -> Result<Vec<WaitlistEntry>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, clinician).await?;
        let rows = tx
            .fetch_all(
                crate::clients::scoped(
                    format!(
                        "SELECT w.waitlist_entry_id, w.client_id, w.created_at FROM waitlist_entry w JOIN client c ON c.client_id = w.client_id \
                         WHERE {} AND w.clinician_id = $3 ORDER BY w.created_at, w.waitlist_entry_id LIMIT 5000",
                        crate::clients::SCOPE
                    ),
                    actor,
                    scope,
                )
                .bind(clinician),
                "listing the waitlist",
            )
            .await?;
        let out = rows
            .iter()
            .map(|r| Ok(WaitlistEntry { waitlist_entry_id: r.get("waitlist_entry_id")?, clinician_id: clinician, client_id: ClientId::from_uuid(r.get("client_id")?), created_at: r.get("created_at")? }))
            .collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "waitlist.list", "client", out.iter().map(|e| e.client_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }
}

impl ReplyTurn {
    /// A waitlisted client's address: SMS with texting consent first, else their Telegram chat.
    async fn waitlist_recipient(&mut self, client: ClientId) -> Result<Option<WaitlistRecipient>> {
        let c = self.store.read_client(&mut self.tx, &self.keys, &self.actor, ClientScope::Practice, client).await?;
        append(&mut self.tx, &self.keys, &self.actor, "client.read", "client", client.to_string()).await?;
        let sms = c.phone.clone().filter(|_| c.texting_consent).map(Recipient::Sms);
        let telegram = c.telegram_chat_id.map(Recipient::Telegram);
        let prefers_telegram = c.channel_preferences.iter().position(|x| *x == Channel::Telegram) < c.channel_preferences.iter().position(|x| *x == Channel::Sms)
            && c.channel_preferences.contains(&Channel::Telegram);
        let recipient = if prefers_telegram { telegram.or(sms) } else { sms.or(telegram) };
        Ok(recipient.map(|recipient| WaitlistRecipient { client_id: client, first_name: c.preferred_name.unwrap_or(c.first_name), time_zone: c.time_zone, recipient }))
    }

    /// Offers the slot of cancelled visit `cancelled` to the first `n` waitlisted clients of its
    /// clinician who can be texted (not its own clients), and saves each one's conversation
    /// state until `expires_at`. `None` when the visit has passed or nobody is waiting.
    pub async fn open_waitlist_offer(&mut self, cancelled: AppointmentId, n: usize, expires_at: DateTime<Utc>) -> Result<Option<WaitlistOpening>> {
        let a = Store::appointment_in(&mut self.tx, &self.actor, ClientScope::Practice, cancelled).await?;
        if a.status != AppointmentStatus::Cancelled || a.details.starts_at <= self.now {
            return Ok(None);
        }
        // Offered once: cancelling an already cancelled visit again offers nothing new.
        let offered = self.tx.fetch_optional(Sql::new("SELECT 1 AS one FROM waitlist_offer WHERE source_appointment_id = $1").bind(cancelled), "checking for an earlier offer").await?;
        if offered.is_some() {
            return Ok(None);
        }
        let n = n.clamp(1, MAX_OFFER_RECIPIENTS);
        let rows = self
            .tx
            .fetch_all(
                Sql::new("SELECT client_id FROM waitlist_entry WHERE practice_id = $1 AND clinician_id = $2 ORDER BY created_at, waitlist_entry_id LIMIT 200").bind(self.actor.practice_id).bind(a.details.clinician_id),
                "reading the waitlist",
            )
            .await?;
        let mut recipients = Vec::new();
        for r in &rows {
            let client = ClientId::from_uuid(r.get("client_id")?);
            if a.details.client_ids.contains(&client) {
                continue;
            }
            if let Some(w) = self.waitlist_recipient(client).await? {
                recipients.push(w);
            }
            if recipients.len() == n {
                break;
            }
        }
        if recipients.is_empty() {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        self.tx
            .execute(
                Sql::new(
                    "INSERT INTO waitlist_offer (waitlist_offer_id, practice_id, clinician_id, source_appointment_id, starts_at, ends_at, time_zone, modality, status, created_at, updated_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'open',$9,$9)",
                )
                .bind(id)
                .bind(self.actor.practice_id)
                .bind(a.details.clinician_id)
                .bind(cancelled)
                .bind(truncate(a.details.starts_at))
                .bind(truncate(a.details.ends_at))
                .bind(a.details.time_zone.as_str())
                .bind(a.details.modality.as_str())
                .bind(self.now),
                "opening a waitlist offer",
            )
            .await?;
        for w in &recipients {
            self.tx
                .execute(
                    Sql::new("INSERT INTO waitlist_offer_recipient (waitlist_offer_id, client_id, created_at) VALUES ($1,$2,$3)").bind(id).bind(w.client_id).bind(self.now),
                    "recording a waitlist offer",
                )
                .await?;
            self.save_conversation(w.client_id, &ConversationState::WaitlistOffer { waitlist_offer_id: id }, expires_at).await?;
        }
        append(&mut self.tx, &self.keys, &self.actor, "waitlist.offer", "appointment", cancelled.to_string()).await?;
        Ok(Some(WaitlistOpening { waitlist_offer_id: id, starts_at: a.details.starts_at, ends_at: a.details.ends_at, recipients }))
    }

    /// `client` accepts offer `offer`: the first acceptance books a visit in the slot (if it is
    /// still free) and takes the client off the waitlist; later ones get `Gone`.
    pub async fn accept_waitlist_offer(&mut self, offer: Uuid, client: ClientId) -> Result<WaitlistAcceptance> {
        self.end_conversation(client).await?;
        let won = self
            .tx
            .execute(
                Sql::new(
                    "UPDATE waitlist_offer SET status = 'taken', taken_by = $3, updated_at = $4 WHERE waitlist_offer_id = $1 AND practice_id = $2 AND status = 'open' \
                     AND EXISTS (SELECT 1 FROM waitlist_offer_recipient r WHERE r.waitlist_offer_id = $1 AND r.client_id = $3)",
                )
                .bind(offer)
                .bind(self.actor.practice_id)
                .bind(client)
                .bind(self.now),
                "taking a waitlist offer",
            )
            .await?;
        if won == 0 {
            return Ok(WaitlistAcceptance::Gone);
        }
        let o = self
            .tx
            .fetch_one(Sql::new("SELECT clinician_id, starts_at, ends_at, time_zone, modality FROM waitlist_offer WHERE waitlist_offer_id = $1").bind(offer), "reading a waitlist offer")
            .await?;
        let clinician = UserId::from_uuid(o.get("clinician_id")?);
        let starts_at: DateTime<Utc> = o.get("starts_at")?;
        let ends_at: DateTime<Utc> = o.get("ends_at")?;
        // The slot must still be free (staff may have booked it since it was offered).
        self.lock_clinician(clinician).await?;
        let clash = self
            .tx
            .fetch_optional(
                Sql::new("SELECT appointment_id FROM appointment WHERE practice_id = $1 AND clinician_id = $2 AND status IN ('scheduled', 'confirmed') AND starts_at < $4 AND ends_at > $3 LIMIT 1")
                    .bind(self.actor.practice_id)
                    .bind(clinician)
                    .bind(starts_at)
                    .bind(ends_at),
                "checking the slot is free",
            )
            .await?;
        if clash.is_some() || starts_at <= self.now {
            return Ok(WaitlistAcceptance::Gone);
        }
        let id = AppointmentId::new();
        self.tx
            .execute(
                Sql::new(
                    "INSERT INTO appointment (appointment_id, practice_id, clinician_id, starts_at, ends_at, time_zone, modality, status, created_at, updated_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,'scheduled',$8,$8)",
                )
                .bind(id)
                .bind(self.actor.practice_id)
                .bind(clinician)
                .bind(starts_at)
                .bind(ends_at)
                .bind(TimeZoneName::parse(&o.get::<String>("time_zone")?)?.as_str())
                .bind(Modality::parse(&o.get::<String>("modality")?)?.as_str())
                .bind(self.now),
                "booking a waitlist slot",
            )
            .await?;
        self.tx.execute(Sql::new("INSERT INTO appointment_client (appointment_id, client_id) VALUES ($1,$2)").bind(id).bind(client), "linking the waitlisted client").await?;
        Store::record_status(&mut self.tx, &self.actor, id, AppointmentStatus::Scheduled, Some("waitlist"), self.now).await?;
        append(&mut self.tx, &self.keys, &self.actor, "appointment.create", "appointment", id.to_string()).await?;
        crate::reminders::replan_tx(&mut self.tx, &self.keys, &self.actor, id, false).await?;
        self.tx
            .execute(Sql::new("UPDATE waitlist_offer SET booked_appointment_id = $2 WHERE waitlist_offer_id = $1").bind(offer).bind(id), "recording the booking")
            .await?;
        self.tx
            .execute(Sql::new("DELETE FROM waitlist_entry WHERE practice_id = $1 AND clinician_id = $2 AND client_id = $3").bind(self.actor.practice_id).bind(clinician).bind(client), "leaving the waitlist")
            .await?;
        append(&mut self.tx, &self.keys, &self.actor, "waitlist.accept", "client", client.to_string()).await?;
        let others = self
            .tx
            .fetch_all(Sql::new("SELECT client_id FROM waitlist_offer_recipient WHERE waitlist_offer_id = $1 AND client_id <> $2 ORDER BY client_id").bind(offer).bind(client), "reading the offer's other recipients")
            .await?;
        let mut told = Vec::new();
        for r in &others {
            // Their conversation state stays until it expires, so a late "1" hears it is gone.
            let other = ClientId::from_uuid(r.get("client_id")?);
            if let Some(w) = self.waitlist_recipient(other).await? {
                told.push(w);
            }
        }
        let appointment = self.appointment(id).await?;
        Ok(WaitlistAcceptance::Booked { appointment: Box::new(appointment), others: told })
    }
}
