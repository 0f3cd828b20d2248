//! The client portal's side of secure messages (DESIGN flow 3): a staff message stored with its
//! notice and a single-use link, the link's second factor (date of birth) with an attempt limit,
//! short portal sessions, the client's view of the thread (read receipts, each read audited),
//! the client's replies, and the staff's unread counts.
//!
//! Only SHA-256 digests of link and session tokens are stored, so a copy of the database opens
//! nothing. The caller (the assistant) makes the tokens and writes the notice text.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    Actor, AuditAction, Outcome, Result, Store, StoreError,
    audit,
    clients::{Channel, ClientScope, SCOPE, scoped},
    db::Sql,
    ids::{ClientId, PracticeId},
    messages::{COLUMNS, Direction, FROM, Message, MessageStatus, NewMessage, check_new, from_row, insert_message},
    outbox::{Enqueued, IdempotencyKey, NewOutbound, Purpose, Recipient, SenderKey, enqueue_tx},
    scope::require_visible,
    types::truncate,
};

/// How long a link in a notice works (single use within it).
pub const LINK_TTL: Duration = Duration::minutes(30);
/// How long a portal session lasts after the second factor; there is no renewal.
pub const SESSION_TTL: Duration = Duration::minutes(15);
/// Wrong second factors before a link is locked for good (the practice sends a new one).
pub const MAX_FACTOR_ATTEMPTS: i64 = 5;
/// How long a texted code works.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Codes that may be texted for one link (each replaces the one before).
pub const MAX_CODES_PER_LINK: i64 = 3;
/// Tokens are 43 base64url characters (256 bits); anything else is refused before any query.
pub const MAX_TOKEN_BYTES: usize = 128;

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn check_token(token: &str) -> Result<()> {
    if token.len() < 32 || token.len() > MAX_TOKEN_BYTES {
        return Err(StoreError::Invalid(format!("token must be 32-{MAX_TOKEN_BYTES} bytes")));
    }
    Ok(())
}

/// A single-use link to go out with a staff message.
#[derive(Clone, Debug)]
pub struct PortalLinkGrant<'a> {
    /// The random token in the link (the assistant makes it; only its digest is stored).
    pub token: &'a str,
    pub expires_at: DateTime<Utc>,
    /// The notice carrying the link (purpose `PortalNotice`).
    pub notice: NewOutbound,
}

/// What a link token opens, before the second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Ask for the second factor.
    AskFactor { practice_id: PracticeId, attempts_left: i64 },
    /// Too many wrong answers: the practice must send a new link.
    Locked,
    /// Unknown, expired or already used: say nothing about whom it was for.
    Refused,
}

/// The outcome of a second-factor answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorCheck {
    /// Right: the link is spent and the session token now opens the thread.
    Verified { client_id: ClientId },
    /// Wrong: this many tries remain.
    Wrong { attempts_left: i64 },
    /// Wrong once too often (now or before): locked.
    Locked,
    /// No such link, expired, used, or the client has no date of birth on file.
    Refused,
}

/// The second factor a client offers.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    DateOfBirth(NaiveDate),
    /// The 6-digit code texted by [`Store::issue_portal_code`].
    Code(&'a str),
}

/// What asking for a texted code did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeIssue {
    /// Queued to the client's phone; it works for [`CODE_TTL`].
    Queued,
    /// No phone with texting consent on file: use the date of birth.
    NoPhone,
    /// [`MAX_CODES_PER_LINK`] already sent for this link.
    TooMany,
    Locked,
    Refused,
}

/// The code's digest, keyed by the link token (not stored), so a copy of the database cannot be
/// searched for the code.
fn code_digest(token: &str, code: &str) -> Vec<u8> {
    Sha256::digest(format!("code|{token}|{code}").as_bytes()).to_vec()
}

/// A live portal session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortalSession {
    pub practice_id: PracticeId,
    pub client_id: ClientId,
    pub expires_at: DateTime<Utc>,
}

/// A thread message with its read receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadMessage {
    #[serde(flatten)]
    pub message: Message,
    /// When the recipient read it: the client (outbound), staff (the client's replies).
    pub read_at: Option<DateTime<Utc>>,
}

/// Unread portal replies of one client, for staff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UnreadReplies {
    pub client_id: ClientId,
    pub unread: i64,
}

fn denied(action: &str, client: ClientId) -> AuditAction {
    AuditAction { action: action.to_owned(), object_type: "client".to_owned(), object_id: Some(client.to_string()), outcome: Outcome::Denied }
}

impl Store {
    /// Stores a staff message to a client and, in the same transaction, its notice and the
    /// link's digest (`grant`); with `None` (no channel may reach the client) the message is
    /// stored alone. Audited `message.create`.
    pub async fn send_secure_message(&self, actor: &Actor, scope: ClientScope, new: &NewMessage, grant: Option<&PortalLinkGrant<'_>>) -> Result<(Message, Option<Enqueued>)> {
        check_new(new)?;
        if let Some(g) = grant {
            check_token(g.token)?;
            crate::outbox::check(&g.notice)?;
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let m = insert_message(&mut tx, &keys, actor, scope, new).await?;
        let mut queued = None;
        if let Some(g) = grant {
            let t = crate::types::now();
            tx.execute(
                Sql::new("INSERT INTO portal_link (token_hash, practice_id, client_id, message_id, expires_at, failed_attempts, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,0,$6,$6)")
                    .bind(digest(g.token))
                    .bind(actor.practice_id)
                    .bind(new.client_id)
                    .bind(m.message_id)
                    .bind(truncate(g.expires_at))
                    .bind(t),
                "recording a portal link",
            )
            .await?;
            let notice = NewOutbound { message_id: Some(m.message_id), client_id: Some(new.client_id), ..g.notice.clone() };
            queued = Some(enqueue_tx(&mut tx, &keys, actor, &notice, t).await?);
        }
        self.audit(&mut tx, &keys, actor, "message.create", "message", Some(m.message_id.to_string())).await?;
        tx.commit().await?;
        Ok((m, queued))
    }

    /// What a link token opens at `now` (reads nothing about the client).
    pub async fn portal_link(&self, token: &str, now: DateTime<Utc>) -> Result<LinkState> {
        if check_token(token).is_err() {
            return Ok(LinkState::Refused);
        }
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(Sql::new("SELECT practice_id, expires_at, failed_attempts, locked_at, used_at FROM portal_link WHERE token_hash = $1").bind(digest(token)), "reading a portal link")
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(LinkState::Refused) };
        if row.get::<Option<DateTime<Utc>>>("used_at")?.is_some() || row.get::<DateTime<Utc>>("expires_at")? <= now {
            return Ok(LinkState::Refused);
        }
        if row.get::<Option<DateTime<Utc>>>("locked_at")?.is_some() {
            return Ok(LinkState::Locked);
        }
        Ok(LinkState::AskFactor { practice_id: PracticeId::from_uuid(row.get("practice_id")?), attempts_left: MAX_FACTOR_ATTEMPTS - row.get::<i64>("failed_attempts")? })
    }

    /// Checks a date of birth against the link's client. Right: spends the link and records
    /// `session_token` (digest only) as a portal session until `now + SESSION_TTL`. Wrong:
    /// counts the attempt, locking at [`MAX_FACTOR_ATTEMPTS`]. Audited `portal.verify` (Ok or
    /// Denied) on the client.
    pub async fn verify_portal_dob(&self, token: &str, dob: NaiveDate, session_token: &str, now: DateTime<Utc>) -> Result<FactorCheck> {
        self.verify_portal_factor(token, SecondFactor::DateOfBirth(dob), session_token, now).await
    }

    /// Checks a second factor (date of birth, or the latest texted code while it is fresh);
    /// see [`Store::verify_portal_dob`]. Both kinds share the attempt count.
    pub async fn verify_portal_factor(&self, token: &str, factor: SecondFactor<'_>, session_token: &str, now: DateTime<Utc>) -> Result<FactorCheck> {
        if check_token(token).is_err() {
            return Ok(FactorCheck::Refused);
        }
        check_token(session_token)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT practice_id, client_id, expires_at, failed_attempts, locked_at, used_at, code_hash, code_expires_at FROM portal_link WHERE token_hash = $1{lock}");
        let Some(row) = tx.fetch_optional(Sql::dynamic(sql).bind(digest(token)), "reading a portal link").await? else {
            return Ok(FactorCheck::Refused);
        };
        if row.get::<Option<DateTime<Utc>>>("used_at")?.is_some() || row.get::<DateTime<Utc>>("expires_at")? <= now {
            return Ok(FactorCheck::Refused);
        }
        if row.get::<Option<DateTime<Utc>>>("locked_at")?.is_some() {
            return Ok(FactorCheck::Locked);
        }
        let practice = PracticeId::from_uuid(row.get("practice_id")?);
        let client_id = ClientId::from_uuid(row.get("client_id")?);
        let actor = Actor::system(practice);
        let right = match factor {
            SecondFactor::DateOfBirth(dob) => {
                let client = self.read_client(&mut tx, &keys, &actor, ClientScope::Practice, client_id).await?;
                let Some(on_file) = client.date_of_birth else { return Ok(FactorCheck::Refused) };
                on_file == dob
            }
            SecondFactor::Code(code) => {
                let stored: Option<Vec<u8>> = row.get("code_hash")?;
                let fresh = row.get::<Option<DateTime<Utc>>>("code_expires_at")?.is_some_and(|t| t > now);
                fresh && stored.is_some_and(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h.as_slice(), code_digest(token, code.trim()).as_slice())))
            }
        };
        if !right {
            let failed = row.get::<i64>("failed_attempts")? + 1;
            let locked = (failed >= MAX_FACTOR_ATTEMPTS).then_some(now);
            tx.execute(
                Sql::new("UPDATE portal_link SET failed_attempts = $2, locked_at = $3, updated_at = $4 WHERE token_hash = $1").bind(digest(token)).bind(failed).bind(locked).bind(now),
                "counting a wrong second factor",
            )
            .await?;
            audit::append(&mut tx, &keys, &actor, &denied("portal.verify", client_id)).await?;
            tx.commit().await?;
            return Ok(if locked.is_some() { FactorCheck::Locked } else { FactorCheck::Wrong { attempts_left: MAX_FACTOR_ATTEMPTS - failed } });
        }
        // Conditional, so two right answers racing (SQLite has no FOR UPDATE) spend it once.
        let spent = tx
            .execute(Sql::new("UPDATE portal_link SET used_at = $2, code_hash = NULL, updated_at = $2 WHERE token_hash = $1 AND used_at IS NULL").bind(digest(token)).bind(now), "spending a portal link")
            .await?;
        if spent != 1 {
            return Ok(FactorCheck::Refused);
        }
        tx.execute(
            Sql::new("INSERT INTO portal_session (token_hash, practice_id, client_id, expires_at, created_at) VALUES ($1,$2,$3,$4,$5)")
                .bind(digest(session_token))
                .bind(practice)
                .bind(client_id)
                .bind(truncate(now + SESSION_TTL))
                .bind(now),
            "opening a portal session",
        )
        .await?;
        self.audit(&mut tx, &keys, &actor, "portal.verify", "client", Some(client_id.to_string())).await?;
        tx.commit().await?;
        Ok(FactorCheck::Verified { client_id })
    }

    /// Texts a fresh 6-digit `code` (made by the caller) for a link, replacing any earlier one:
    /// an outbox row (purpose `VerificationCode`) to the client's phone, only with texting
    /// consent (an opted-out number is cancelled at claim, as every outbox row), in the same
    /// transaction as the code's digest. `body` is the whole text and must hold no PHI.
    /// Audited `portal.code` on the client.
    pub async fn issue_portal_code(&self, token: &str, code: &str, body: &str, sender_key: SenderKey, now: DateTime<Utc>) -> Result<CodeIssue> {
        if check_token(token).is_err() {
            return Ok(CodeIssue::Refused);
        }
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Invalid("code must be 6 digits".to_owned()));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT practice_id, client_id, expires_at, locked_at, used_at, codes_sent FROM portal_link WHERE token_hash = $1{lock}");
        let Some(row) = tx.fetch_optional(Sql::dynamic(sql).bind(digest(token)), "reading a portal link").await? else {
            return Ok(CodeIssue::Refused);
        };
        if row.get::<Option<DateTime<Utc>>>("used_at")?.is_some() || row.get::<DateTime<Utc>>("expires_at")? <= now {
            return Ok(CodeIssue::Refused);
        }
        if row.get::<Option<DateTime<Utc>>>("locked_at")?.is_some() {
            return Ok(CodeIssue::Locked);
        }
        let sent: i64 = row.get("codes_sent")?;
        if sent >= MAX_CODES_PER_LINK {
            return Ok(CodeIssue::TooMany);
        }
        let actor = Actor::system(PracticeId::from_uuid(row.get("practice_id")?));
        let client_id = ClientId::from_uuid(row.get("client_id")?);
        let client = self.read_client(&mut tx, &keys, &actor, ClientScope::Practice, client_id).await?;
        let (Some(phone), true) = (client.phone, client.texting_consent) else { return Ok(CodeIssue::NoPhone) };
        tx.execute(
            Sql::new("UPDATE portal_link SET code_hash = $2, code_expires_at = $3, codes_sent = $4, updated_at = $5 WHERE token_hash = $1")
                .bind(digest(token))
                .bind(code_digest(token, code))
                .bind(truncate(now + CODE_TTL))
                .bind(sent + 1)
                .bind(now),
            "recording a texted code",
        )
        .await?;
        let notice = NewOutbound {
            client_id: Some(client_id),
            recipient: Recipient::Sms(phone),
            body: body.to_owned(),
            purpose: Purpose::VerificationCode,
            appointment_id: None,
            message_id: None,
            sender_key,
            idempotency_key: IdempotencyKey::parse(&format!("portal_code:{}", uuid::Uuid::new_v4().simple()))?,
            not_before: None,
        };
        crate::outbox::check(&notice)?;
        enqueue_tx(&mut tx, &keys, &actor, &notice, now).await?;
        self.audit(&mut tx, &keys, &actor, "portal.code", "client", Some(client_id.to_string())).await?;
        tx.commit().await?;
        Ok(CodeIssue::Queued)
    }

    /// The live portal session for this token at `now`, if any.
    pub async fn portal_session(&self, session_token: &str, now: DateTime<Utc>) -> Result<Option<PortalSession>> {
        if check_token(session_token).is_err() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(Sql::new("SELECT practice_id, client_id, expires_at FROM portal_session WHERE token_hash = $1").bind(digest(session_token)), "reading a portal session")
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: DateTime<Utc> = row.get("expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(PortalSession { practice_id: PracticeId::from_uuid(row.get("practice_id")?), client_id: ClientId::from_uuid(row.get("client_id")?), expires_at }))
    }

    /// Ends a portal session (sign out).
    pub async fn end_portal_session(&self, session_token: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.execute(Sql::new("DELETE FROM portal_session WHERE token_hash = $1").bind(digest(session_token)), "ending a portal session").await?;
        tx.commit().await
    }

    /// The thread as the client sees it in the portal: secure messages not yet read get their
    /// read receipt now; every message shown is audited `portal.read` (actor without a user:
    /// the client).
    pub async fn portal_thread(&self, session: &PortalSession, now: DateTime<Utc>) -> Result<Vec<ThreadMessage>> {
        let actor = Actor::system(session.practice_id);
        let keys = self.keys();
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new("UPDATE message SET read_at = $3, status = $4, updated_at = $3 WHERE practice_id = $1 AND client_id = $2 AND direction = 'outbound' AND channel = 'portal' AND read_at IS NULL")
                .bind(session.practice_id)
                .bind(session.client_id)
                .bind(truncate(now))
                .bind(MessageStatus::Read.as_str()),
            "recording read receipts",
        )
        .await?;
        let out = thread_rows(&mut tx, &keys, &actor, ClientScope::Practice, session.client_id).await?;
        self.audit_each(&mut tx, &keys, &actor, "portal.read", "message", out.iter().map(|m| m.message.message_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A reply written by the client in the portal: stored encrypted in the thread (inbound,
    /// channel portal, unread by staff), with a staff alert to the client's primary clinician
    /// (when they have one) in the same transaction. Audited `message.create`.
    pub async fn portal_reply(&self, session: &PortalSession, body: &str) -> Result<Message> {
        let new = NewMessage { client_id: session.client_id, direction: Direction::Inbound, channel: Channel::Portal, body: body.to_owned(), status: MessageStatus::Received, provider_id: None };
        check_new(&new)?;
        let actor = Actor::system(session.practice_id);
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let m = insert_message(&mut tx, &keys, &actor, ClientScope::Practice, &new).await?;
        self.audit(&mut tx, &keys, &actor, "message.create", "message", Some(m.message_id.to_string())).await?;
        let clinician = tx
            .fetch_one(Sql::new("SELECT primary_clinician_id FROM client WHERE client_id = $1 AND practice_id = $2").bind(session.client_id).bind(session.practice_id), "finding the client's clinician")
            .await?
            .get::<Option<uuid::Uuid>>("primary_clinician_id")?;
        if let Some(user) = clinician {
            crate::replies::alert_staff(&mut tx, &keys, &actor, crate::ids::UserId::from_uuid(user), session.client_id, m.message_id, crate::types::now()).await?;
        }
        tx.commit().await?;
        Ok(m)
    }

    /// The thread as staff see it, with read receipts; the client's portal replies count as
    /// read by staff from now on. Audited `message.thread` on the client.
    pub async fn staff_thread(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<ThreadMessage>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let out = thread_rows(&mut tx, &keys, actor, scope, client).await?;
        tx.execute(
            Sql::new("UPDATE message SET read_at = $3 WHERE practice_id = $1 AND client_id = $2 AND direction = 'inbound' AND channel = 'portal' AND read_at IS NULL")
                .bind(actor.practice_id)
                .bind(client)
                .bind(crate::types::now()),
            "marking portal replies read by staff",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "message.thread", "client", Some(client.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Clients in scope with portal replies staff have not read yet (the staff alert).
    /// Audited `message.unread` per client listed.
    pub async fn unread_portal_replies(&self, actor: &Actor, scope: ClientScope) -> Result<Vec<UnreadReplies>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                scoped(
                    format!("SELECT m.client_id, COUNT(*) AS unread FROM message m JOIN client c ON c.client_id = m.client_id WHERE {SCOPE} AND m.direction = 'inbound' AND m.channel = 'portal' AND m.read_at IS NULL GROUP BY m.client_id ORDER BY m.client_id"),
                    actor,
                    scope,
                ),
                "counting unread portal replies",
            )
            .await?;
        let out = rows.iter().map(|r| Ok(UnreadReplies { client_id: ClientId::from_uuid(r.get("client_id")?), unread: r.get("unread")? })).collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "message.unread", "client", out.iter().map(|u| u.client_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }
}

async fn thread_rows(tx: &mut crate::db::Tx, keys: &crate::keyfile::Keyring, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<ThreadMessage>> {
    let rows = tx
        .fetch_all(
            scoped(format!("SELECT {COLUMNS}, m.read_at FROM {FROM} WHERE {SCOPE} AND m.client_id = $3 ORDER BY m.message_id LIMIT $4"), actor, scope).bind(client).bind(crate::messages::MAX_THREAD),
            "reading a thread",
        )
        .await?;
    rows.iter().map(|r| Ok(ThreadMessage { message: from_row(keys, r)?, read_at: r.get("read_at")? })).collect()
}
