//! The audit log: who touched which PHI, when, from where, with what outcome. Events are
//! hash-chained (hash = SHA-256(prev_hash || canonical bytes)); the head (latest seq and hash,
//! HMAC'd with the audit key) lives in `audit_head`, updated in the same transaction, so edits
//! anywhere and truncation of the tail are both detectable (45 CFR 164.312(b) audit controls).
//! Rows hold ids only, never PHI.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    db::{Row, Sql, Tx},
    error::{Result, StoreError},
    ids::{AuditEventId, PracticeId, UserId},
    keyfile::Keyring,
};

/// Who is acting, and from where. Every PHI method takes one, so its audit event cannot be
/// forgotten.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub practice_id: PracticeId,
    /// `None` for the system itself (scheduler, inbound webhook before matching a user).
    pub user_id: Option<UserId>,
    pub ip: Option<IpAddr>,
    /// Correlates with the request's logs; 1-64 chars of `[A-Za-z0-9._:-]` (a uuid), so it
    /// cannot carry PHI; anything else fails the audited call with `Invalid`.
    pub request_id: Option<String>,
}

impl Actor {
    pub fn user(practice_id: PracticeId, user_id: UserId) -> Self {
        Self { practice_id, user_id: Some(user_id), ip: None, request_id: None }
    }
    pub fn system(practice_id: PracticeId) -> Self {
        Self { practice_id, user_id: None, ip: None, request_id: None }
    }
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

/// How the audited attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Denied,
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "ok" => Ok(Outcome::Ok),
            "denied" => Ok(Outcome::Denied),
            "error" => Ok(Outcome::Error),
            _ => Err(StoreError::Audit(format!("unknown outcome in audit_event: {s}"))),
        }
    }
}

/// What happened to which object. `action` and `object_type` are short codes
/// (`client.read`, `note`), `object_id` an id: no PHI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditAction {
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub outcome: Outcome,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub audit_event_id: AuditEventId,
    pub occurred_at: DateTime<Utc>,
    pub practice_id: Option<PracticeId>,
    pub user_id: Option<UserId>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub outcome: Outcome,
}

/// Result of [`crate::Store::verify_audit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuditReport {
    /// Every event and the head check out.
    Intact { events: u64 },
    /// The first event at `seq` does not match what was chained.
    Tampered { seq: i64, detail: TamperDetail },
    /// The head says the chain ends at `head_seq`, but it ends at `chain_end`.
    Truncated { head_seq: i64, chain_end: i64 },
    /// The head's MAC does not verify, or the head row is gone: the head itself was edited.
    HeadInvalid,
}

/// What is wrong with a tampered event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperDetail {
    /// No event with this seq (deleted from the middle of the chain).
    Missing,
    /// Its `prev_hash` differs from the previous event's hash.
    PrevHash,
    /// Its fields no longer hash to its stored `hash` (a field or the hash was edited).
    Content,
    /// It lies beyond the head (inserted without updating the head).
    BeyondHead,
}

/// Walking and checking the chain.
mod verify;
pub(crate) use verify::verify;

const GENESIS: [u8; 32] = [0; 32];
const LEN_NONE: u32 = u32::MAX;

/// Canonical bytes of an event: a version tag, then each field as big-endian u32 length and
/// bytes (`u32::MAX` for NULL), so no two different events encode the same.
fn canonical(e: &AuditEvent) -> Vec<u8> {
    let mut out = b"hearth-audit/1".to_vec();
    let mut put = |v: Option<&[u8]>| match v {
        Some(b) => {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&LEN_NONE.to_be_bytes()),
    };
    put(Some(&e.seq.to_be_bytes()));
    put(Some(e.audit_event_id.as_uuid().as_bytes()));
    put(Some(e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes()));
    put(e.practice_id.map(|p| *p.as_uuid().as_bytes()).as_ref().map(|b| &b[..]));
    put(e.user_id.map(|u| *u.as_uuid().as_bytes()).as_ref().map(|b| &b[..]));
    put(Some(e.action.as_bytes()));
    put(Some(e.object_type.as_bytes()));
    put(e.object_id.as_deref().map(str::as_bytes));
    put(e.ip.as_deref().map(str::as_bytes));
    put(e.request_id.as_deref().map(str::as_bytes));
    put(Some(e.outcome.as_str().as_bytes()));
    out
}

fn chain_hash(prev: &[u8], e: &AuditEvent) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(e));
    h.finalize().to_vec()
}

fn head_mac(keys: &Keyring, seq: i64, hash: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(keys.audit_key.bytes()).expect("HMAC accepts any key length");
    m.update(b"hearth-audit-head/1");
    m.update(&seq.to_be_bytes());
    m.update(hash);
    m.finalize().into_bytes().to_vec()
}

fn check_code(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
    if ok { Ok(()) } else { Err(StoreError::Invalid(format!("audit {what} must be 1-64 chars of [A-Za-z0-9._:-]"))) }
}

/// Most events one batch may append (each batch is one transaction; see
/// [`crate::Store::append_audit_batch`]).
pub const MAX_AUDIT_BATCH: usize = 10_000;

/// Rows per multi-row `INSERT`: 13 binds each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind limits.
const INSERT_CHUNK: usize = 500;

/// Appends one event inside `tx`. Any failure is `StoreError::Audit`, and the caller's `?` then
/// drops `tx`, rolling back the audited change with it (fail closed).
pub(crate) async fn append(tx: &mut Tx, keys: &Keyring, actor: &Actor, a: &AuditAction) -> Result<i64> {
    let seqs = append_many(tx, keys, actor, std::slice::from_ref(a)).await?;
    seqs.first().copied().ok_or_else(|| StoreError::Audit("no audit event was appended".to_owned()))
}

/// Appends `actions` in order inside `tx`, reading and advancing the head once: the chain is
/// exactly what one `append` per action would have written, in fewer round trips.
pub(crate) async fn append_many(tx: &mut Tx, keys: &Keyring, actor: &Actor, actions: &[AuditAction]) -> Result<Vec<i64>> {
    if actions.len() > MAX_AUDIT_BATCH {
        return Err(StoreError::Invalid(format!("at most {MAX_AUDIT_BATCH} audit events per batch")));
    }
    for a in actions {
        check_code("action", &a.action)?;
        check_code("object_type", &a.object_type)?;
        if let Some(id) = &a.object_id {
            check_code("object_id", id)?;
        }
    }
    // The request id is stored verbatim and hashed into the chain: hold it to the same
    // code alphabet, so a client-supplied header cannot carry PHI into the log.
    if let Some(id) = &actor.request_id {
        check_code("request_id", id)?;
    }
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    append_inner(tx, keys, actor, actions).await.map_err(|e| match e {
        StoreError::Audit(_) => e,
        other => StoreError::Audit(other.to_string()),
    })
}

/// The head row every append chains onto, created once by `Store::migrate` for a new database.
/// It is never re-created here: a missing head means the log was tampered with, and appending
/// onto a fresh genesis head would hide that.
pub(crate) async fn create_genesis_head(tx: &mut Tx, keys: &Keyring) -> Result<()> {
    tx.execute(
        Sql::new(
            "INSERT INTO audit_head (audit_head_id, seq, hash, mac) SELECT 1, 0, $1, $2 \
             WHERE NOT EXISTS (SELECT 1 FROM audit_event) AND NOT EXISTS (SELECT 1 FROM practice) \
             ON CONFLICT (audit_head_id) DO NOTHING",
        )
        .bind(GENESIS.to_vec())
        .bind(head_mac(keys, 0, &GENESIS)),
        "creating the audit head",
    )
    .await
    .map(|_| ())
}

async fn append_inner(tx: &mut Tx, keys: &Keyring, actor: &Actor, actions: &[AuditAction]) -> Result<Vec<i64>> {
    // PostgreSQL: the head row lock serialises appenders; SQLite: BEGIN IMMEDIATE already did.
    let lock = if tx.is_postgres() {
        "SELECT seq, hash FROM audit_head WHERE audit_head_id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_head WHERE audit_head_id = 1"
    };
    let head = tx.fetch_optional(Sql::new(lock), "locking the audit head").await?.ok_or_else(|| {
        StoreError::Audit("the audit head row is missing: run Store::migrate on a new database; otherwise the audit log was tampered with".to_owned())
    })?;
    let (mut seq, mut prev_hash): (i64, Vec<u8>) = (head.get("seq")?, head.get("hash")?);
    let occurred_at = crate::types::now();
    let mut rows = Vec::with_capacity(actions.len());
    for a in actions {
        seq += 1;
        let event = AuditEvent {
            seq,
            audit_event_id: AuditEventId::new(),
            occurred_at,
            practice_id: Some(actor.practice_id),
            user_id: actor.user_id,
            action: a.action.clone(),
            object_type: a.object_type.clone(),
            object_id: a.object_id.clone(),
            ip: actor.ip.map(|ip| ip.to_string()),
            request_id: actor.request_id.clone(),
            outcome: a.outcome,
        };
        let hash = chain_hash(&prev_hash, &event);
        rows.push((event, std::mem::replace(&mut prev_hash, hash.clone()), hash));
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let cols: Vec<String> = (1..=13).map(|c| format!("${}", i * 13 + c)).collect();
                format!("({})", cols.join(","))
            })
            .collect();
        // Only placeholders are concatenated; every value is bound.
        let mut q = Sql::dynamic(format!(
            "INSERT INTO audit_event (seq, audit_event_id, occurred_at, practice_id, user_id, action, object_type, \
             object_id, ip, request_id, outcome, prev_hash, hash) VALUES {}",
            values.join(",")
        ));
        for (e, prev, hash) in chunk {
            q = q
                .bind(e.seq)
                .bind(e.audit_event_id)
                .bind(e.occurred_at)
                .bind(e.practice_id)
                .bind(e.user_id)
                .bind(e.action.clone())
                .bind(e.object_type.clone())
                .bind(e.object_id.clone())
                .bind(e.ip.clone())
                .bind(e.request_id.clone())
                .bind(e.outcome.as_str())
                .bind(prev.clone())
                .bind(hash.clone());
        }
        tx.execute(q, "inserting audit events").await?;
    }
    tx.execute(
        Sql::new("UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE audit_head_id = 1")
            .bind(seq)
            .bind(prev_hash.clone())
            .bind(head_mac(keys, seq, &prev_hash)),
        "advancing the audit head",
    )
    .await?;
    Ok(rows.iter().map(|(e, _, _)| e.seq).collect())
}

pub(crate) fn event_from_row(r: &Row) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: r.get("seq")?,
        audit_event_id: AuditEventId::from_uuid(r.get("audit_event_id")?),
        occurred_at: r.get("occurred_at")?,
        practice_id: r.get::<Option<Uuid>>("practice_id")?.map(PracticeId::from_uuid),
        user_id: r.get::<Option<Uuid>>("user_id")?.map(UserId::from_uuid),
        action: r.get("action")?,
        object_type: r.get("object_type")?,
        object_id: r.get("object_id")?,
        ip: r.get("ip")?,
        request_id: r.get("request_id")?,
        outcome: Outcome::parse(&r.get::<String>("outcome")?)?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "seq, audit_event_id, occurred_at, practice_id, user_id, action, object_type, object_id, ip, request_id, outcome";

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            seq: 1,
            audit_event_id: AuditEventId::new(),
            occurred_at: crate::types::now(),
            practice_id: Some(PracticeId::new()),
            user_id: None,
            action: "client.read".into(),
            object_type: "client".into(),
            object_id: Some("x".into()),
            ip: None,
            request_id: None,
            outcome: Outcome::Ok,
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let e = event();
        let base = chain_hash(&GENESIS, &e);
        let mut f = e.clone();
        f.action = "client.reae".into();
        assert_ne!(base, chain_hash(&GENESIS, &f));
        let mut g = e.clone();
        g.object_id = None;
        assert_ne!(base, chain_hash(&GENESIS, &g), "NULL differs from any string");
        let mut h = e.clone();
        h.outcome = Outcome::Denied;
        assert_ne!(base, chain_hash(&GENESIS, &h));
        assert_ne!(base, chain_hash(&[1; 32], &e), "the previous hash is chained in");
    }

    #[test]
    fn codes_with_spaces_or_too_long_are_refused() {
        assert!(check_code("action", "client.read").is_ok());
        assert!(check_code("action", "Jane Doe").is_err());
        assert!(check_code("action", &"a".repeat(65)).is_err());
        assert!(check_code("request_id", "0f8e2c5a9b1d4e6f8a0b2c4d6e8f0a1b").is_ok());
        assert!(check_code("request_id", "Jane Doe, DOB 1979-03-28").is_err());
    }
}
