//! A message thread per client: inbound and outbound, per channel, body encrypted under a
//! per-message data key, delivery status and the provider's id (unique per channel, which is
//! how inbound webhooks are deduplicated).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::text_enum,
    clients::{Channel, ClientScope, SCOPE, require_visible, row_key, scoped},
    crypto::RecordKey,
    db::{Row, Sql, Tx},
    ids::{ClientId, MessageId, UserId},
    keyfile::Keyring,
    outbox::{Enqueued, NewOutbound, enqueue_tx},
    types::now,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Failed,
    Received,
    Read,
}

text_enum!(Direction { Inbound = "inbound", Outbound = "outbound" });
text_enum!(MessageStatus { Queued = "queued", Sent = "sent", Delivered = "delivered", Failed = "failed", Received = "received", Read = "read" });

fn channel_str(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms",
        Channel::Telegram => "telegram",
        Channel::Email => "email",
        Channel::Portal => "portal",
    }
}

fn parse_channel(s: &str) -> Result<Channel> {
    [Channel::Sms, Channel::Telegram, Channel::Email, Channel::Portal]
        .into_iter()
        .find(|c| channel_str(*c) == s)
        .ok_or_else(|| StoreError::Invalid(format!("unknown channel '{s}'")))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub client_id: ClientId,
    pub direction: Direction,
    pub channel: Channel,
    pub body: String,
    pub status: MessageStatus,
    pub provider_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub message_id: MessageId,
    pub client_id: ClientId,
    pub direction: Direction,
    pub channel: Channel,
    pub body: String,
    pub status: MessageStatus,
    pub provider_id: Option<String>,
    pub sent_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const MAX_PROVIDER_ID: usize = 200;
pub const MAX_THREAD: i64 = 5000;

pub(crate) const COLUMNS: &str = "m.message_id, m.client_id, m.direction, m.channel, m.body, m.status, m.provider_id, m.sent_by, m.created_at, m.updated_at, \
    m.data_key_id, dk.kek_id, dk.wrapped";
pub(crate) const FROM: &str = "message m JOIN client c ON c.client_id = m.client_id JOIN data_key dk ON dk.data_key_id = m.data_key_id";

pub(crate) fn from_row(keys: &Keyring, r: &Row) -> Result<Message> {
    let id: Uuid = r.get("message_id")?;
    let k = row_key(keys, r)?;
    Ok(Message {
        message_id: MessageId::from_uuid(id),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        direction: Direction::parse(&r.get::<String>("direction")?)?,
        channel: parse_channel(&r.get::<String>("channel")?)?,
        body: k.open("message", "body", id, &r.get::<Vec<u8>>("body")?)?,
        status: MessageStatus::parse(&r.get::<String>("status")?)?,
        provider_id: r.get("provider_id")?,
        sent_by: r.get::<Option<Uuid>>("sent_by")?.map(UserId::from_uuid),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn check_provider_id(p: Option<&str>) -> Result<()> {
    if p.is_some_and(|p| p.is_empty() || p.len() > MAX_PROVIDER_ID) {
        return Err(StoreError::Invalid(format!("provider_id must be 1-{MAX_PROVIDER_ID} bytes")));
    }
    Ok(())
}

pub(crate) fn check_new(new: &NewMessage) -> Result<()> {
    if new.body.is_empty() || new.body.len() > MAX_BODY_BYTES {
        return Err(StoreError::Invalid(format!("message body must be 1-{MAX_BODY_BYTES} bytes")));
    }
    check_provider_id(new.provider_id.as_deref())
}

/// Inserts a message inside `tx` (the caller writes the audit event).
pub(crate) async fn insert_message(tx: &mut Tx, keys: &Keyring, actor: &Actor, scope: ClientScope, new: &NewMessage) -> Result<Message> {
    let id = MessageId::new();
    let t = now();
    require_visible(tx, actor, scope, new.client_id).await?;
    let k = RecordKey::create(tx, keys).await?;
    tx.execute(
        Sql::new(
            "INSERT INTO message (message_id, practice_id, client_id, data_key_id, direction, channel, body, status, provider_id, sent_by, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$11)",
        )
        .bind(id)
        .bind(actor.practice_id)
        .bind(new.client_id)
        .bind(k.data_key_id)
        .bind(new.direction.as_str())
        .bind(channel_str(new.channel))
        .bind(k.seal("message", "body", id.as_uuid(), &new.body))
        .bind(new.status.as_str())
        .bind(new.provider_id.clone())
        .bind(actor.user_id)
        .bind(t),
        "storing a message",
    )
    .await?;
    Ok(Message {
        message_id: id,
        client_id: new.client_id,
        direction: new.direction,
        channel: new.channel,
        body: new.body.clone(),
        status: new.status,
        provider_id: new.provider_id.clone(),
        sent_by: actor.user_id,
        created_at: t,
        updated_at: t,
    })
}

impl Store {
    /// Stores a message; `sent_by` is the actor's user (None for inbound or system messages).
    pub async fn record_message(&self, actor: &Actor, scope: ClientScope, new: &NewMessage) -> Result<Message> {
        check_new(new)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let m = insert_message(&mut tx, &keys, actor, scope, new).await?;
        self.audit(&mut tx, &keys, actor, "message.create", "message", Some(m.message_id.to_string())).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Stores a staff message and, in the same transaction, enqueues the client's notice of it
    /// (a portal link only, never the body: DESIGN flow 3). `notice.message_id` is set to the
    /// new message. Both are written or neither is.
    pub async fn record_message_with_notice(&self, actor: &Actor, scope: ClientScope, new: &NewMessage, notice: &NewOutbound) -> Result<(Message, Enqueued)> {
        check_new(new)?;
        crate::outbox::check(notice)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let m = insert_message(&mut tx, &keys, actor, scope, new).await?;
        let notice = NewOutbound { message_id: Some(m.message_id), ..notice.clone() };
        let queued = enqueue_tx(&mut tx, &keys, actor, &notice, now()).await?;
        self.audit(&mut tx, &keys, actor, "message.create", "message", Some(m.message_id.to_string())).await?;
        tx.commit().await?;
        Ok((m, queued))
    }

    pub async fn get_message(&self, actor: &Actor, scope: ClientScope, id: MessageId) -> Result<Message> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx.fetch_one(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND m.message_id = $3"), actor, scope).bind(id), "reading a message").await?;
        let m = from_row(&keys, &row)?;
        self.audit(&mut tx, &keys, actor, "message.read", "message", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// A client's thread, oldest first.
    pub async fn list_thread(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<Message>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let rows = tx
            .fetch_all(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND m.client_id = $3 ORDER BY m.message_id LIMIT $4"), actor, scope).bind(client).bind(MAX_THREAD), "reading a thread")
            .await?;
        let out = rows.iter().map(|r| from_row(&keys, r)).collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "message.thread", "client", Some(client.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Updates delivery status (provider callback), optionally recording the provider's id.
    pub async fn set_message_status(&self, actor: &Actor, id: MessageId, status: MessageStatus, provider_id: Option<&str>) -> Result<()> {
        check_provider_id(provider_id)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE message SET status = $3, provider_id = COALESCE($4, provider_id), updated_at = $5 WHERE message_id = $1 AND practice_id = $2")
                    .bind(id)
                    .bind(actor.practice_id)
                    .bind(status.as_str())
                    .bind(provider_id)
                    .bind(now()),
                "updating a message status",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.audit(&mut tx, &keys, actor, "message.status", "message", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// The message with this provider id, if already stored (inbound webhook deduplication).
    pub async fn find_message_by_provider_id(&self, actor: &Actor, channel: Channel, provider_id: &str) -> Result<Option<MessageId>> {
        check_provider_id(Some(provider_id))?;
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(
                Sql::new("SELECT message_id FROM message WHERE practice_id = $1 AND channel = $2 AND provider_id = $3").bind(actor.practice_id).bind(channel_str(channel)).bind(provider_id),
                "finding a message by provider id",
            )
            .await?;
        row.map(|r| Ok(MessageId::from_uuid(r.get("message_id")?))).transpose()
    }
}
