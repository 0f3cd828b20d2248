//! Inbound messages for the staff inbox: every text a client (or an unknown sender) sends to
//! one of the practice's numbers or its bot, stored once per provider message id (so webhook
//! retries are deduplicated), sender and body sealed like message bodies, matched to the
//! practice's client by the blind index of the number when exactly one client has it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::text_enum,
    clients::row_key,
    crypto::RecordKey,
    db::Sql,
    ids::{ClientId, InboundMessageId},
    outbox::{OutboundChannel, Recipient},
    scope::{ClientScope, SCOPE, scoped},
    types::now,
};

/// Longest body stored (Twilio caps inbound SMS at 1,600 characters; Telegram at 4,096).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest provider id (a Twilio MessageSid is 34 characters).
pub const MAX_PROVIDER_ID: usize = 200;
/// Most rows one inbox listing returns.
pub const MAX_INBOX: usize = 500;

/// What the gateway did with an inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundKind {
    /// STOP and its synonyms: the sender was opted out.
    OptOut,
    /// START / UNSTOP: opted back in.
    OptIn,
    /// HELP / INFO: the help text was sent.
    Help,
    /// Anything else: for staff (and the conversation) to read.
    Text,
}

/// Whether staff have read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    New,
    Read,
}

text_enum!(InboundKind { OptOut = "opt_out", OptIn = "opt_in", Help = "help", Text = "text" });
text_enum!(InboxStatus { New = "new", Read = "read" });

/// An inbound message to store. `Debug` hides the sender and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct NewInbound {
    /// Who sent it (SMS number or Telegram chat), on the channel it came by.
    pub sender: Recipient,
    /// The provider's id for the message (Twilio MessageSid, `tg-update-<update_id>`).
    pub provider_id: String,
    pub body: String,
    pub kind: InboundKind,
}

impl std::fmt::Debug for NewInbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewInbound").field("sender", &self.sender).field("provider_id", &self.provider_id).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// What `record_inbound` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Received {
    /// First delivery: stored, matched to `client_id` if exactly one client has the number.
    New { inbound_message_id: InboundMessageId, client_id: Option<ClientId> },
    /// The provider delivered this message before (a webhook retry): nothing written.
    Duplicate { inbound_message_id: InboundMessageId },
}

/// A stored inbound message, decrypted for the staff inbox. `Debug` hides sender and body.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    pub inbound_message_id: InboundMessageId,
    pub client_id: Option<ClientId>,
    pub channel: OutboundChannel,
    pub sender: Recipient,
    pub provider_id: String,
    pub body: String,
    pub kind: InboundKind,
    pub status: InboxStatus,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMessage").field("inbound_message_id", &self.inbound_message_id).field("kind", &self.kind).field("status", &self.status).finish_non_exhaustive()
    }
}

const T: &str = "inbound_message";

impl Store {
    /// Stores an inbound message once per (channel, provider id); a repeat is `Duplicate` and
    /// writes nothing. Audited as `inbound.create` (object `inbound_message`).
    pub async fn record_inbound(&self, actor: &Actor, new: &NewInbound) -> Result<Received> {
        if new.body.len() > MAX_BODY_BYTES {
            return Err(StoreError::Invalid(format!("an inbound body must be at most {MAX_BODY_BYTES} bytes")));
        }
        if new.provider_id.is_empty() || new.provider_id.len() > MAX_PROVIDER_ID {
            return Err(StoreError::Invalid(format!("provider_id must be 1-{MAX_PROVIDER_ID} bytes")));
        }
        new.sender.check()?;
        let keys = self.keys();
        let channel = new.sender.channel();
        let mut tx = self.begin().await?;
        let existing = |r: Option<crate::db::Row>| -> Result<Option<InboundMessageId>> { r.map(|r| Ok(InboundMessageId::from_uuid(r.get("inbound_message_id")?))).transpose() };
        let lookup = || {
            Sql::new("SELECT inbound_message_id FROM inbound_message WHERE practice_id = $1 AND channel = $2 AND provider_id = $3")
                .bind(actor.practice_id)
                .bind(channel.as_str())
                .bind(new.provider_id.clone())
        };
        if let Some(id) = existing(tx.fetch_optional(lookup(), "looking up an inbound message").await?)? {
            return Ok(Received::Duplicate { inbound_message_id: id });
        }
        let index = new.sender.index(&keys.index_key);
        let client_id = match &new.sender {
            Recipient::Sms(_) => {
                let rows = tx
                    .fetch_all(
                        Sql::new("SELECT client_id FROM client WHERE practice_id = $1 AND phone_index = $2 LIMIT 2").bind(actor.practice_id).bind(index.clone()),
                        "matching an inbound number to a client",
                    )
                    .await?;
                match rows.as_slice() {
                    [one] => Some(ClientId::from_uuid(one.get("client_id")?)),
                    _ => None,
                }
            }
            _ => None,
        };
        let id = InboundMessageId::new();
        let u: Uuid = id.as_uuid();
        let k = RecordKey::create(&mut tx, &keys).await?;
        let t = now();
        let n = tx
            .execute(
                Sql::new(
                    "INSERT INTO inbound_message (inbound_message_id, practice_id, client_id, data_key_id, channel, provider_id, sender, sender_index, body, kind, status, created_at, updated_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'new',$11,$11) ON CONFLICT (practice_id, channel, provider_id) DO NOTHING",
                )
                .bind(id)
                .bind(actor.practice_id)
                .bind(client_id)
                .bind(k.data_key_id)
                .bind(channel.as_str())
                .bind(new.provider_id.clone())
                .bind(k.seal(T, "sender", u, &new.sender.address()))
                .bind(index)
                .bind(k.seal(T, "body", u, &new.body))
                .bind(new.kind.as_str())
                .bind(t),
                "storing an inbound message",
            )
            .await?;
        if n == 0 {
            // A concurrent delivery of the same message committed first.
            tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(k.data_key_id), "discarding an unused data key").await?;
            let first = existing(tx.fetch_optional(lookup(), "looking up an inbound message").await?)?
                .ok_or_else(|| StoreError::State("the inbound message was stored and then removed; retry".to_owned()))?;
            tx.commit().await?;
            return Ok(Received::Duplicate { inbound_message_id: first });
        }
        self.audit(&mut tx, &keys, actor, "inbound.create", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Received::New { inbound_message_id: id, client_id })
    }

    /// The inbox as `scope` sees it, newest first, at most `limit` (1..=[`MAX_INBOX`]): texts
    /// from clients in scope, and texts from unknown senders only with practice-wide scope (the
    /// front desk answers those). Each row returned is audited as `inbound.read`.
    pub async fn list_inbox(&self, actor: &Actor, scope: ClientScope, limit: usize) -> Result<Vec<InboundMessage>> {
        if limit == 0 || limit > MAX_INBOX {
            return Err(StoreError::Invalid(format!("limit must be 1-{MAX_INBOX}")));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                scoped(
                    format!(
                        "SELECT i.inbound_message_id, i.client_id, i.channel, i.provider_id, i.sender, i.body, i.kind, i.status, i.created_at, i.data_key_id, dk.kek_id, dk.wrapped \
                         FROM inbound_message i JOIN data_key dk ON dk.data_key_id = i.data_key_id LEFT JOIN client c ON c.client_id = i.client_id \
                         WHERE i.practice_id = $1 AND ((i.client_id IS NULL AND $2 IS NULL) OR (c.client_id IS NOT NULL AND {SCOPE})) \
                         ORDER BY i.created_at DESC, i.inbound_message_id DESC LIMIT $3"
                    ),
                    actor,
                    scope,
                )
                .bind(limit as i64),
                "listing the inbox",
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let u: Uuid = r.get("inbound_message_id")?;
            let k = row_key(&keys, r)?;
            let channel = OutboundChannel::parse(&r.get::<String>("channel")?)?;
            let sender = Recipient::from_parts(channel, &k.open(T, "sender", u, &r.get::<Vec<u8>>("sender")?)?, u)?;
            out.push(InboundMessage {
                inbound_message_id: InboundMessageId::from_uuid(u),
                client_id: r.get::<Option<Uuid>>("client_id")?.map(ClientId::from_uuid),
                channel,
                sender,
                provider_id: r.get("provider_id")?,
                body: k.open(T, "body", u, &r.get::<Vec<u8>>("body")?)?,
                kind: InboundKind::parse(&r.get::<String>("kind")?)?,
                status: InboxStatus::parse(&r.get::<String>("status")?)?,
                created_at: r.get("created_at")?,
            });
        }
        self.audit_each(&mut tx, &keys, actor, "inbound.read", T, out.iter().map(|m| m.inbound_message_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Marks one inbox row read (someone on staff has dealt with it). Not found unless the row
    /// is in the actor's `scope` as [`Store::list_inbox`] defines it. Audited `inbound.mark_read`.
    pub async fn mark_inbound_read(&self, actor: &Actor, scope: ClientScope, id: InboundMessageId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        tx.fetch_one(
            scoped(
                format!(
                    "SELECT 1 AS one FROM inbound_message i LEFT JOIN client c ON c.client_id = i.client_id \
                     WHERE i.practice_id = $1 AND i.inbound_message_id = $3 AND ((i.client_id IS NULL AND $2 IS NULL) OR (c.client_id IS NOT NULL AND {SCOPE}))"
                ),
                actor,
                scope,
            )
            .bind(id),
            "finding an inbox message",
        )
        .await?;
        tx.execute(
            Sql::new("UPDATE inbound_message SET status = 'read', updated_at = $2 WHERE inbound_message_id = $1").bind(id).bind(now()),
            "marking an inbox message read",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "inbound.mark_read", T, Some(id.to_string())).await?;
        tx.commit().await
    }
}
