//! Channel opt-outs: a recipient who texted STOP (or a synonym), or whom the provider reports
//! as unsubscribed (Twilio 21610), gets nothing more on that channel until they opt back in
//! (START). Keyed by practice, channel and the keyed blind index of the address, so no
//! address is stored here at all. The outbox's claim checks this table for every row it hands
//! out (DESIGN: "An opted-out number is never sent to again until START").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Actor, Result, Store, StoreError,
    appointments::text_enum,
    audit::{self, AuditAction, Outcome},
    db::{Sql, Tx},
    keyfile::Keyring,
    outbox::{Enqueued, NewOutbound, OutboundChannel, Purpose, Recipient, enqueue_tx},
    types::now,
};

/// Who recorded the opt-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// The recipient sent an opt-out keyword (STOP, CANCEL, …).
    Keyword,
    /// The provider refused a send because the recipient unsubscribed.
    Provider,
    /// Staff recorded it (e.g. the client asked by phone).
    Staff,
}

text_enum!(OptOutSource { Keyword = "keyword", Provider = "provider", Staff = "staff" });

/// What recording an opt-out did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutChange {
    /// Newly opted out.
    Recorded,
    /// Already opted out (since the first time; that time is kept).
    AlreadyOptedOut,
}

/// What clearing an opt-out did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptInChange {
    /// Was opted out; may be sent to again.
    Cleared,
    WasNotOptedOut,
}

const T: &str = "channel_opt_out";

fn audit_action(action: &str, index: &[u8]) -> AuditAction {
    // The object id is the blind index in hex: it names the opt-out without the address.
    AuditAction { action: action.to_owned(), object_type: T.to_owned(), object_id: Some(hex::encode(index)), outcome: Outcome::Ok }
}

/// Records an opt-out inside `tx` at time `t` (kept if one already exists).
pub(crate) async fn record_opt_out(tx: &mut Tx, keys: &Keyring, actor: &Actor, channel: OutboundChannel, index: &[u8], source: OptOutSource, t: DateTime<Utc>) -> Result<OptOutChange> {
    let n = tx
        .execute(
            Sql::new(
                "INSERT INTO channel_opt_out (practice_id, channel, address_index, source, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$5) \
                 ON CONFLICT (practice_id, channel, address_index) DO NOTHING",
            )
            .bind(actor.practice_id)
            .bind(channel.as_str())
            .bind(index.to_vec())
            .bind(source.as_str())
            .bind(t),
            "recording an opt-out",
        )
        .await?;
    audit::append(tx, keys, actor, &audit_action("opt_out.set", index)).await?;
    Ok(if n == 1 { OptOutChange::Recorded } else { OptOutChange::AlreadyOptedOut })
}

impl Store {
    /// Opts `recipient` out of its channel for the actor's practice.
    pub async fn set_opt_out(&self, actor: &Actor, recipient: &Recipient, source: OptOutSource) -> Result<OptOutChange> {
        recipient.check()?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let change = record_opt_out(&mut tx, &keys, actor, recipient.channel(), &recipient.index(&keys.index_key), source, now()).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// The STOP flow in one transaction: records the opt-out of `confirmation.recipient` and,
    /// only if it is new, enqueues the one confirmation (which the opt-out guard lets through
    /// because it is written at the same instant). A repeated STOP gets no second confirmation.
    pub async fn opt_out_and_confirm(&self, actor: &Actor, source: OptOutSource, confirmation: &NewOutbound) -> Result<(OptOutChange, Option<Enqueued>)> {
        if confirmation.purpose != Purpose::OptOutConfirmation {
            return Err(StoreError::Invalid("the message sent with an opt-out must have purpose opt_out_confirmation".to_owned()));
        }
        crate::outbox::check(confirmation)?;
        let keys = self.keys();
        let t = now();
        let r = &confirmation.recipient;
        let mut tx = self.begin().await?;
        let change = record_opt_out(&mut tx, &keys, actor, r.channel(), &r.index(&keys.index_key), source, t).await?;
        let queued = match change {
            OptOutChange::Recorded => Some(enqueue_tx(&mut tx, &keys, actor, confirmation, t).await?),
            OptOutChange::AlreadyOptedOut => None,
        };
        tx.commit().await?;
        Ok((change, queued))
    }

    /// Opts `recipient` back in (START / UNSTOP).
    pub async fn clear_opt_out(&self, actor: &Actor, recipient: &Recipient) -> Result<OptInChange> {
        recipient.check()?;
        let keys = self.keys();
        let index = recipient.index(&keys.index_key);
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("DELETE FROM channel_opt_out WHERE practice_id = $1 AND channel = $2 AND address_index = $3")
                    .bind(actor.practice_id)
                    .bind(recipient.channel().as_str())
                    .bind(index.clone()),
                "clearing an opt-out",
            )
            .await?;
        audit::append(&mut tx, &keys, actor, &audit_action("opt_out.clear", &index)).await?;
        tx.commit().await?;
        Ok(if n > 0 { OptInChange::Cleared } else { OptInChange::WasNotOptedOut })
    }

    /// Whether `recipient` is opted out of its channel; audited as `opt_out.read`.
    pub async fn is_opted_out(&self, actor: &Actor, recipient: &Recipient) -> Result<bool> {
        recipient.check()?;
        let keys = self.keys();
        let index = recipient.index(&keys.index_key);
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(
                Sql::new("SELECT 1 AS one FROM channel_opt_out WHERE practice_id = $1 AND channel = $2 AND address_index = $3")
                    .bind(actor.practice_id)
                    .bind(recipient.channel().as_str())
                    .bind(index.clone()),
                "reading an opt-out",
            )
            .await?;
        audit::append(&mut tx, &keys, actor, &audit_action("opt_out.read", &index)).await?;
        tx.commit().await?;
        Ok(row.is_some())
    }
}
