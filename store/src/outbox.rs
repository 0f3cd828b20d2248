//! The outbox: every outbound message (reminder, join link, portal notice, reply, opt-out
//! confirmation) is a row written in the same transaction as the change that caused it, so a
//! crash can lose neither the change nor its message (DESIGN, "Invariants"). The dispatcher in
//! `assistant` claims due rows ([`Store::claim_due`]), sends them and records the outcome
//! (`dispatch`); provider callbacks and reconciliation land in `delivery`.
//!
//! Recipient address and body are PHI: sealed under a per-row data key like `message.body`,
//! with a keyed blind index of the address beside them so the opt-out guard can match a row
//! to `channel_opt_out` without decrypting anything.
//!
//! A row's life: `pending` -> (claimed) `in_flight` -> `sent` -> `delivered`; or back to
//! `pending` with a later `next_attempt_at` after a failure that is safe to retry; or `failed`
//! (never retried); or `unknown` when the request may have left but no answer came (a timeout,
//! or a worker that died holding the lease). An `unknown` row is never claimed again until
//! [`Store::reconciled`] says what the provider did with it. `cancelled` rows were withdrawn,
//! or held back because the recipient opted out or the visit they were about was cancelled.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Result, StoreError,
    appointments::text_enum,
    blind_index,
    clients::row_key,
    db::Row,
    ids::{AppointmentId, ClientId, MessageId, OutboxMessageId, PracticeId},
    keyfile::{Key32, Keyring},
    types::E164,
};

/// Pure retry timing: exponential backoff with jitter, `Retry-After` honoured.
mod backoff;
/// Claiming and recording each attempt's outcome.
mod dispatch;
/// Provider status callbacks and reconciliation of unknown outcomes.
mod delivery;
/// Writing rows (in the caller's transaction) and the staff-side reads and withdrawals.
mod enqueue;

pub use backoff::Backoff;
pub use delivery::{CallbackOutcome, DeliveryReport, Reconciliation, Unreconciled};
pub use dispatch::{Claim, ClaimedOutbound};
pub(crate) use enqueue::enqueue_tx;

/// Largest body accepted, in bytes: a Telegram message is at most 4,096 characters, four
/// bytes each in UTF-8 (SMS bodies are capped lower, at 1,600 characters, by `channels`).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most rows one `list_client_outbound` returns.
pub const MAX_LISTED: i64 = 5000;
/// Most rows one `claim_due` (or `list_unreconciled`) call hands out.
pub const MAX_CLAIM_BATCH: usize = 500;
/// Longest idempotency key, sender key and console address, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;
pub const MAX_SENDER_KEY: usize = 100;
pub const MAX_CONSOLE_ADDRESS: usize = 200;
/// Longest worker id: it is written to the audit log as the request id, which allows 64.
pub const MAX_WORKER_ID: usize = 64;
/// Longest provider message id (Twilio SIDs are 34 characters).
pub const MAX_PROVIDER_ID: usize = 200;
/// How long a status callback for a provider id no row has (yet) is kept.
pub const EARLY_REPORT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// Shortest and longest claim lease. A lease must outlast the send's own timeout: a lease that
/// expires while the request is still running makes an outcome `unknown` that was not.
pub const MIN_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(1);
pub const MAX_LEASE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// A channel the outbox sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundChannel {
    Sms,
    Telegram,
    /// Development: recorded and shown to staff, no provider.
    Console,
}

/// Where a message goes; the variant fixes the channel, so address and channel cannot disagree.
/// `Debug` hides the address (it identifies a client).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "channel", content = "address")]
pub enum Recipient {
    Sms(E164),
    /// A Telegram chat id.
    Telegram(i64),
    /// A console-channel address (1-200 bytes, no control characters).
    Console(String),
}

/// Why the message is sent. Only `OptOutConfirmation` is ever sent to an opted-out address,
/// and only when written at or after the opt-out (the one confirmation carriers require).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Reminder,
    JoinLink,
    PortalNotice,
    Reply,
    OptOutConfirmation,
    HelpReply,
    WaitlistOffer,
    VerificationCode,
}

/// Where a row is in its life (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundStatus {
    Pending,
    InFlight,
    Sent,
    Delivered,
    Failed,
    /// The request may have reached the provider; reconcile before any retry.
    Unknown,
    Cancelled,
}

/// Why the last attempt did not end in `sent`; mirrors `channels`' failure classes, plus the
/// three the store itself assigns (`OutcomeUnknown`, `LeaseExpired`, `Undecryptable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    RetryLater,
    NeverRetry,
    /// The provider says the recipient opted out (Twilio 21610): recorded as an opt-out too.
    OptedOut,
    BadNumber,
    Misconfigured,
    /// The request left but no answer came ([`Store::mark_unknown`]).
    OutcomeUnknown,
    /// The worker holding the claim died or stalled past its lease.
    LeaseExpired,
    /// The row's ciphertext does not open (tampering or a lost key): failed, never sent.
    Undecryptable,
}

text_enum!(OutboundChannel { Sms = "sms", Telegram = "telegram", Console = "console" });
text_enum!(Purpose {
    Reminder = "reminder", JoinLink = "join_link", PortalNotice = "portal_notice", Reply = "reply",
    OptOutConfirmation = "opt_out_confirmation", HelpReply = "help_reply", WaitlistOffer = "waitlist_offer",
    VerificationCode = "verification_code"
});
text_enum!(OutboundStatus {
    Pending = "pending", InFlight = "in_flight", Sent = "sent", Delivered = "delivered", Failed = "failed",
    Unknown = "unknown", Cancelled = "cancelled"
});
text_enum!(ErrorClass {
    RetryLater = "retry_later", NeverRetry = "never_retry", OptedOut = "opted_out", BadNumber = "bad_number",
    Misconfigured = "misconfigured", OutcomeUnknown = "outcome_unknown", LeaseExpired = "lease_expired",
    Undecryptable = "undecryptable"
});

impl Recipient {
    pub fn channel(&self) -> OutboundChannel {
        match self {
            Recipient::Sms(_) => OutboundChannel::Sms,
            Recipient::Telegram(_) => OutboundChannel::Telegram,
            Recipient::Console(_) => OutboundChannel::Console,
        }
    }

    /// The address as sealed in `outbox_message.recipient`.
    pub(crate) fn address(&self) -> String {
        match self {
            Recipient::Sms(p) => p.as_str().to_owned(),
            Recipient::Telegram(id) => id.to_string(),
            Recipient::Console(a) => a.clone(),
        }
    }

    fn from_parts(channel: OutboundChannel, address: &str, row_id: Uuid) -> Result<Self> {
        let bad = || StoreError::Decrypt { table: "outbox_message", column: "recipient", row_id: row_id.to_string() };
        Ok(match channel {
            OutboundChannel::Sms => Recipient::Sms(E164::parse(address).map_err(|_| bad())?),
            OutboundChannel::Telegram => Recipient::Telegram(address.parse().map_err(|_| bad())?),
            OutboundChannel::Console => Recipient::Console(address.to_owned()),
        })
    }

    /// Keyed blind index of the address. For SMS it is the same as `client.phone_index`.
    pub(crate) fn index(&self, key: &Key32) -> Vec<u8> {
        match self {
            Recipient::Sms(p) => blind_index::phone(key, p),
            Recipient::Telegram(id) => blind_index::telegram_chat(key, *id),
            Recipient::Console(a) => blind_index::console_address(key, a),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if let Recipient::Console(a) = self
            && (a.is_empty() || a.len() > MAX_CONSOLE_ADDRESS || a.chars().any(char::is_control))
        {
            return Err(StoreError::Invalid(format!("a console address must be 1-{MAX_CONSOLE_ADDRESS} bytes without control characters")));
        }
        Ok(())
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Recipient::Sms(_) => "Sms(..)",
            Recipient::Telegram(_) => "Telegram(..)",
            Recipient::Console(_) => "Console(..)",
        })
    }
}

/// True when `s` is 1-`max` bytes of `[A-Za-z0-9._:-]` plus `extra`: short codes that can be
/// logged and indexed, and that cannot carry a name or a sentence.
fn is_code(s: &str, max: usize, extra: &[u8]) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b) || extra.contains(&b))
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $extra:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self> {
                if is_code(s, $max, $extra) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(StoreError::Invalid(format!(concat!($what, " must be 1-{} bytes of [A-Za-z0-9._:-]{}"), $max, if $extra.is_empty() { "" } else { " or +" })))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(k: $name) -> Self {
                k.0
            }
        }
    };
}

code_type!(
    /// Names one intended message, unique per practice, so the same reminder is never enqueued
    /// twice: e.g. `reminder:<appointment id>:<client id>:48h`. The first enqueue wins; later
    /// ones with the key return [`Enqueued::AlreadyQueued`]. Ids and codes only, never PHI.
    IdempotencyKey, MAX_IDEMPOTENCY_KEY, b"", "idempotency key"
);
code_type!(
    /// The sending identity that per-sender rate limits apply to, e.g. `sms:+15550001111` (the
    /// practice's number) or `telegram:bot`.
    SenderKey, MAX_SENDER_KEY, b"+", "sender key"
);
code_type!(
    /// Names the dispatcher process holding a claim (e.g. `host-1:4242`); recorded on the row
    /// and as the request id of the audit events its claims write.
    WorkerId, MAX_WORKER_ID, b"", "worker id"
);

/// A message to enqueue.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOutbound {
    /// `None` only for an address not matched to a client (e.g. an opt-out confirmation to an
    /// unknown number).
    pub client_id: Option<ClientId>,
    pub recipient: Recipient,
    pub body: String,
    pub purpose: Purpose,
    pub appointment_id: Option<AppointmentId>,
    /// The thread message this notifies about (set by [`Store::record_message_with_notice`]).
    pub message_id: Option<MessageId>,
    pub sender_key: SenderKey,
    pub idempotency_key: IdempotencyKey,
    /// Not before this instant (quiet hours, a scheduled join message); `None` is now.
    pub not_before: Option<DateTime<Utc>>,
}

impl fmt::Debug for NewOutbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOutbound")
            .field("client_id", &self.client_id)
            .field("recipient", &self.recipient)
            .field("body_bytes", &self.body.len())
            .field("purpose", &self.purpose)
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

/// What `enqueue` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "outbox_message_id", rename_all = "snake_case")]
pub enum Enqueued {
    /// A new row; it will be sent.
    Created(OutboxMessageId),
    /// The idempotency key was already used: nothing new was written; this is the first row.
    AlreadyQueued(OutboxMessageId),
}

impl Enqueued {
    pub fn id(self) -> OutboxMessageId {
        match self {
            Enqueued::Created(id) | Enqueued::AlreadyQueued(id) => id,
        }
    }
}

/// A stored outbound message, decrypted (for staff views and tests). `Debug` hides the body
/// and the address.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OutboundMessage {
    pub outbox_message_id: OutboxMessageId,
    pub practice_id: PracticeId,
    pub client_id: Option<ClientId>,
    pub appointment_id: Option<AppointmentId>,
    pub message_id: Option<MessageId>,
    pub recipient: Recipient,
    pub body: String,
    pub purpose: Purpose,
    pub sender_key: SenderKey,
    pub idempotency_key: IdempotencyKey,
    pub status: OutboundStatus,
    /// Attempts started (claims), including the current one.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub attempt_started_at: Option<DateTime<Utc>>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    pub last_error_class: Option<ErrorClass>,
    /// Why a `cancelled` row was held back: `opted_out`, `appointment_cancelled` or `withdrawn`.
    pub cancel_reason: Option<String>,
    pub provider_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("outbox_message_id", &self.outbox_message_id)
            .field("recipient", &self.recipient)
            .field("purpose", &self.purpose)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("last_error_class", &self.last_error_class)
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

/// What `cancel_outbound` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "status", rename_all = "snake_case")]
pub enum Withdrawal {
    /// It was pending and will not be sent.
    Cancelled,
    /// It had already left `pending` (claimed, sent, failed…): nothing changed.
    TooLate(OutboundStatus),
}

pub(crate) const T: &str = "outbox_message";

pub(crate) const COLUMNS: &str = "o.outbox_message_id, o.practice_id, o.client_id, o.appointment_id, o.message_id, o.channel, o.recipient, o.body, \
    o.purpose, o.sender_key, o.idempotency_key, o.status, o.attempts, o.next_attempt_at, o.attempt_started_at, o.lease_expires_at, \
    o.claimed_by, o.last_error_class, o.cancel_reason, o.provider_id, o.sent_at, o.delivered_at, o.created_at, o.updated_at, \
    o.data_key_id, dk.kek_id, dk.wrapped";
pub(crate) const FROM: &str = "outbox_message o JOIN data_key dk ON dk.data_key_id = o.data_key_id";

/// Opens the recipient and body of a row that selected them with its key columns.
pub(crate) fn open_row(keys: &Keyring, r: &Row) -> Result<(Recipient, String)> {
    let id: Uuid = r.get("outbox_message_id")?;
    let k = row_key(keys, r)?;
    let channel = OutboundChannel::parse(&r.get::<String>("channel")?)?;
    let address = k.open(T, "recipient", id, &r.get::<Vec<u8>>("recipient")?)?;
    let body = k.open(T, "body", id, &r.get::<Vec<u8>>("body")?)?;
    Ok((Recipient::from_parts(channel, &address, id)?, body))
}

fn from_row(keys: &Keyring, r: &Row) -> Result<OutboundMessage> {
    let (recipient, body) = open_row(keys, r)?;
    Ok(OutboundMessage {
        outbox_message_id: OutboxMessageId::from_uuid(r.get("outbox_message_id")?),
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        client_id: r.get::<Option<Uuid>>("client_id")?.map(ClientId::from_uuid),
        appointment_id: r.get::<Option<Uuid>>("appointment_id")?.map(AppointmentId::from_uuid),
        message_id: r.get::<Option<Uuid>>("message_id")?.map(MessageId::from_uuid),
        recipient,
        body,
        purpose: Purpose::parse(&r.get::<String>("purpose")?)?,
        sender_key: SenderKey::parse(&r.get::<String>("sender_key")?)?,
        idempotency_key: IdempotencyKey::parse(&r.get::<String>("idempotency_key")?)?,
        status: OutboundStatus::parse(&r.get::<String>("status")?)?,
        attempts: r.get("attempts")?,
        next_attempt_at: r.get("next_attempt_at")?,
        attempt_started_at: r.get("attempt_started_at")?,
        lease_expires_at: r.get("lease_expires_at")?,
        claimed_by: r.get("claimed_by")?,
        last_error_class: r.get::<Option<String>>("last_error_class")?.map(|c| ErrorClass::parse(&c)).transpose()?,
        cancel_reason: r.get("cancel_reason")?,
        provider_id: r.get("provider_id")?,
        sent_at: r.get("sent_at")?,
        delivered_at: r.get("delivered_at")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub(crate) fn check(new: &NewOutbound) -> Result<()> {
    if new.body.is_empty() || new.body.len() > MAX_BODY_BYTES {
        return Err(StoreError::Invalid(format!("outbound body must be 1-{MAX_BODY_BYTES} bytes")));
    }
    new.recipient.check()
}

pub(crate) fn check_provider_id(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > MAX_PROVIDER_ID {
        return Err(StoreError::Invalid(format!("provider_id must be 1-{MAX_PROVIDER_ID} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_short_codes_that_cannot_carry_a_name() {
        assert!(IdempotencyKey::parse("reminder:0190a8f2-7c1e-7000-8000-000000000001:48h").is_ok());
        for bad in ["", "Jane Doe", "reminder for +15551234567", &"k".repeat(MAX_IDEMPOTENCY_KEY + 1)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn sender_keys_may_hold_the_practice_number() {
        assert_eq!(SenderKey::parse("sms:+15550001111").expect("valid").as_str(), "sms:+15550001111");
        assert!(SenderKey::parse("sms: +1555").is_err());
        assert!(WorkerId::parse("host+1").is_err(), "worker ids go into the audit request id, which has no +");
    }

    #[test]
    fn recipients_hide_their_address_in_debug_output() {
        let shown = format!("{:?}", Recipient::Telegram(424242421));
        assert!(!shown.contains("4242"), "{shown}");
        let new = NewOutbound {
            client_id: None,
            recipient: Recipient::Sms(E164::parse("+15559876543").expect("valid")),
            body: "see you at the violet lighthouse".into(),
            purpose: Purpose::Reminder,
            appointment_id: None,
            message_id: None,
            sender_key: SenderKey::parse("sms:main").expect("valid"),
            idempotency_key: IdempotencyKey::parse("k1").expect("valid"),
            not_before: None,
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains("violet") && !shown.contains("9876543"), "{shown}");
    }

    #[test]
    fn a_recipient_round_trips_through_its_stored_address() {
        let id = Uuid::now_v7();
        for r in [Recipient::Sms(E164::parse("+15559876543").expect("valid")), Recipient::Telegram(-1001234), Recipient::Console("front-desk".into())] {
            assert_eq!(Recipient::from_parts(r.channel(), &r.address(), id).expect("parses"), r);
        }
        assert!(matches!(Recipient::from_parts(OutboundChannel::Telegram, "abc", id), Err(StoreError::Decrypt { column: "recipient", .. })));
    }

    #[test]
    fn console_addresses_are_bounded_and_single_line() {
        assert!(Recipient::Console("desk".into()).check().is_ok());
        assert!(Recipient::Console(String::new()).check().is_err());
        assert!(Recipient::Console("a\nb".into()).check().is_err());
        assert!(Recipient::Console("x".repeat(MAX_CONSOLE_ADDRESS + 1)).check().is_err());
    }
}
