//! One-time Telegram deep links: staff issue a link for a client (`t.me/<bot>?start=<token>`);
//! the first chat that opens it is linked to the client (`client.telegram_chat_id`) and bound
//! to the link; a link works once, until it expires, and only ever for that chat. Only the
//! SHA-256 of the token is stored, so a database copy cannot link anyone.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    Actor, Result, Store,
    blind_index,
    clients::{ClientScope, row_key},
    db::Sql,
    ids::ClientId,
    scope::require_visible,
    types::{now, truncate},
};

/// What redeeming a `/start` token did. Named for what the bot says next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LinkRedemption {
    /// This chat is now the client's Telegram chat.
    Linked { client_id: ClientId },
    /// This chat already redeemed this link (Telegram redelivered `/start`): nothing changed.
    AlreadyLinked { client_id: ClientId },
    /// Unknown token, expired, or already used by another chat: nothing changed.
    Refused,
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Store {
    /// Records a link token for a client visible in `scope`, valid until `expires_at`. The
    /// caller makes the token (channels::telegram::StartToken::generate) and sends the link.
    /// Audited as `telegram_link.create` on the client.
    pub async fn create_telegram_link(&self, actor: &Actor, scope: ClientScope, client: ClientId, token: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let t = now();
        tx.execute(
            Sql::new("INSERT INTO telegram_link (token_hash, practice_id, client_id, expires_at, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$5)")
                .bind(token_hash(token))
                .bind(actor.practice_id)
                .bind(client)
                .bind(truncate(expires_at))
                .bind(t),
            "recording a telegram link",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "telegram_link.create", "client", Some(client.to_string())).await?;
        tx.commit().await
    }

    /// Redeems a `/start` token for `chat_id`: links the chat to the token's client (sealed in
    /// `client.telegram_chat_id`) if the token is known, unexpired and unused. Audited as
    /// `telegram_link.redeem` on the client.
    pub async fn redeem_telegram_link(&self, actor: &Actor, token: &str, chat_id: i64) -> Result<LinkRedemption> {
        let keys = self.keys();
        let chat_index = blind_index::telegram_chat(&keys.index_key, chat_id);
        let mut tx = self.begin().await?;
        let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT client_id, expires_at, used_at, chat_index FROM telegram_link WHERE token_hash = $1 AND practice_id = $2{lock}");
        let Some(row) = tx.fetch_optional(Sql::dynamic(sql).bind(token_hash(token)).bind(actor.practice_id), "reading a telegram link").await? else {
            return Ok(LinkRedemption::Refused);
        };
        let client_id = ClientId::from_uuid(row.get("client_id")?);
        let used: Option<DateTime<Utc>> = row.get("used_at")?;
        let bound: Option<Vec<u8>> = row.get("chat_index")?;
        if used.is_some() {
            return Ok(if bound.as_deref() == Some(chat_index.as_slice()) { LinkRedemption::AlreadyLinked { client_id } } else { LinkRedemption::Refused });
        }
        let t = now();
        if row.get::<DateTime<Utc>>("expires_at")? <= t {
            return Ok(LinkRedemption::Refused);
        }
        let client = tx
            .fetch_one(
                Sql::new("SELECT c.client_id, c.data_key_id, dk.kek_id, dk.wrapped FROM client c JOIN data_key dk ON dk.data_key_id = c.data_key_id WHERE c.client_id = $1 AND c.practice_id = $2")
                    .bind(client_id)
                    .bind(actor.practice_id),
                "reading the client of a telegram link",
            )
            .await?;
        let k = row_key(&keys, &client)?;
        tx.execute(
            Sql::new("UPDATE client SET telegram_chat_id = $2, updated_at = $3 WHERE client_id = $1")
                .bind(client_id)
                .bind(k.seal("client", "telegram_chat_id", client_id.as_uuid(), &chat_id.to_string()))
                .bind(t),
            "linking a telegram chat",
        )
        .await?;
        tx.execute(
            Sql::new("UPDATE telegram_link SET used_at = $2, chat_index = $3, updated_at = $2 WHERE token_hash = $1").bind(token_hash(token)).bind(t).bind(chat_index),
            "using a telegram link",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "telegram_link.redeem", "client", Some(client_id.to_string())).await?;
        tx.commit().await?;
        Ok(LinkRedemption::Linked { client_id })
    }
}
