//! Psychotherapy notes (45 CFR 164.501): a clinician's own notes analysing a session, kept
//! apart from the rest of the record. DESIGN: they "are stored apart from the record and are
//! readable only by their author (and supervisor)". So they have their own tables
//! (`psychotherapy_note`, `psychotherapy_note_version`, migration 0010) and their own data keys,
//! nothing else in the store joins or returns them, and who may read one is decided here, in
//! SQL, by authorship alone: the author, or the author's supervisor (`staff_user.supervisor_id`,
//! in the same practice). A [`ClientScope`] never grants access — not a colleague the client is
//! shared with, not front desk, billers or admins with practice-wide scope — and a refused read
//! is `NotFound`, like another practice's object. Only the author edits; every version is kept,
//! sealed, in an append-only table.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    clients::{ClientScope, require_visible, row_key},
    crypto::RecordKey,
    db::{Row, Sql, Tx},
    ids::{AppointmentId, ClientId, PsychotherapyNoteId, UserId},
    types::now,
};

/// Longest psychotherapy note, in bytes (as for progress notes).
pub const MAX_PSYCHOTHERAPY_NOTE_BYTES: usize = 512 * 1024;

const T: &str = "psychotherapy_note";
const VT: &str = "psychotherapy_note_version";

/// A psychotherapy note with its text. Debug hides the text.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PsychotherapyNote {
    pub psychotherapy_note_id: PsychotherapyNoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub author_id: UserId,
    pub body: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for PsychotherapyNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsychotherapyNote")
            .field("psychotherapy_note_id", &self.psychotherapy_note_id)
            .field("client_id", &self.client_id)
            .field("appointment_id", &self.appointment_id)
            .field("author_id", &self.author_id)
            .field("body", &format_args!("<hidden>"))
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A psychotherapy note without its text (what a listing returns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PsychotherapyNoteSummary {
    pub psychotherapy_note_id: PsychotherapyNoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub author_id: UserId,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PsychotherapyNoteSummary {
    fn with_body(self, body: String) -> PsychotherapyNote {
        let Self { psychotherapy_note_id, client_id, appointment_id, author_id, version, created_at, updated_at } = self;
        PsychotherapyNote { psychotherapy_note_id, client_id, appointment_id, author_id, body, version, created_at, updated_at }
    }
}

const META: &str = "p.psychotherapy_note_id, p.client_id, p.appointment_id, p.author_id, p.version, p.created_at, p.updated_at";

/// Who may read: binds `$1` = the actor's practice, `$2` = the actor's user. The author (45 CFR
/// 164.508(a)(2)(i)(A): the originator's use for treatment) or the author's supervisor
/// ((i)(B): the practice's own training under supervision). Deliberately not
/// [`crate::scope::SCOPE`]: seeing the client is not enough.
const READABLE: &str = "p.practice_id = $1 AND (p.author_id = $2 OR EXISTS (SELECT 1 FROM staff_user a \
    WHERE a.staff_user_id = p.author_id AND a.practice_id = $1 AND a.supervisor_id = $2))";

fn summary(r: &Row) -> Result<PsychotherapyNoteSummary> {
    Ok(PsychotherapyNoteSummary {
        psychotherapy_note_id: PsychotherapyNoteId::from_uuid(r.get("psychotherapy_note_id")?),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        appointment_id: r.get::<Option<Uuid>>("appointment_id")?.map(AppointmentId::from_uuid),
        author_id: UserId::from_uuid(r.get("author_id")?),
        version: r.get("version")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() || body.len() > MAX_PSYCHOTHERAPY_NOTE_BYTES {
        return Err(StoreError::Invalid(format!("a psychotherapy note must be non-empty and at most {MAX_PSYCHOTHERAPY_NOTE_BYTES} bytes")));
    }
    Ok(())
}

fn author(actor: &Actor) -> Result<UserId> {
    actor.user_id.ok_or_else(|| StoreError::Invalid("psychotherapy notes are written by people: the actor needs a user_id".to_owned()))
}

impl Store {
    /// Reads a note's metadata and data key, `NotFound` unless `reader` may read it. On
    /// PostgreSQL `lock` holds the row until commit, so two edits cannot both pass the
    /// version check (SQLite's `BEGIN IMMEDIATE` already runs writers one at a time).
    async fn psychotherapy_note_row(tx: &mut Tx, actor: &Actor, reader: UserId, id: PsychotherapyNoteId, lock: bool) -> Result<Row> {
        let lock = if lock && tx.is_postgres() { " FOR UPDATE OF p" } else { "" };
        tx.fetch_one(
            Sql::dynamic(format!(
                "SELECT {META}, p.body, p.data_key_id, dk.kek_id, dk.wrapped FROM psychotherapy_note p \
                 JOIN data_key dk ON dk.data_key_id = p.data_key_id WHERE {READABLE} AND p.psychotherapy_note_id = $3{lock}"
            ))
            .bind(actor.practice_id)
            .bind(reader)
            .bind(id),
            "reading a psychotherapy note",
        )
        .await
    }

    async fn insert_psychotherapy_note_version(tx: &mut Tx, k: &RecordKey, id: PsychotherapyNoteId, version: i64, body: &str, t: DateTime<Utc>) -> Result<()> {
        let vid = Uuid::now_v7();
        tx.execute(
            Sql::new(
                "INSERT INTO psychotherapy_note_version (psychotherapy_note_version_id, psychotherapy_note_id, version, body, created_at) \
                 VALUES ($1,$2,$3,$4,$5)",
            )
            .bind(vid)
            .bind(id)
            .bind(version)
            .bind(k.seal(VT, "body", vid, body))
            .bind(t),
            "keeping a psychotherapy note version",
        )
        .await
        .map(|_| ())
    }

    /// Writes a psychotherapy note by the actor (who must be a user of the practice) about a
    /// client visible to them in `scope`, optionally tied to one of the client's appointments.
    pub async fn create_psychotherapy_note(
        &self,
        actor: &Actor,
        scope: ClientScope,
        client: ClientId,
        appointment: Option<AppointmentId>,
        body: &str,
    ) -> Result<PsychotherapyNote> {
        let by = author(actor)?;
        check_body(body)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        // The author decides who reads it later, so it must be a user of this practice.
        Self::user_in(&mut tx, actor.practice_id, by).await?;
        if let Some(a) = appointment {
            tx.fetch_one(
                Sql::new(
                    "SELECT 1 AS one FROM appointment_client ac JOIN appointment a ON a.appointment_id = ac.appointment_id \
                     WHERE ac.appointment_id = $1 AND ac.client_id = $2 AND a.practice_id = $3",
                )
                .bind(a)
                .bind(client)
                .bind(actor.practice_id),
                "checking the psychotherapy note's appointment",
            )
            .await?;
        }
        // Its own data key, never the client's or a progress note's.
        let k = RecordKey::create(&mut tx, &keys).await?;
        let (id, t) = (PsychotherapyNoteId::new(), now());
        tx.execute(
            Sql::new(
                "INSERT INTO psychotherapy_note (psychotherapy_note_id, practice_id, client_id, appointment_id, author_id, data_key_id, body, version, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,1,$8,$8)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(client)
            .bind(appointment)
            .bind(by)
            .bind(k.data_key_id)
            .bind(k.seal(T, "body", id.as_uuid(), body))
            .bind(t),
            "creating a psychotherapy note",
        )
        .await?;
        Self::insert_psychotherapy_note_version(&mut tx, &k, id, 1, body, t).await?;
        self.audit(&mut tx, &keys, actor, "psychotherapy_note.create", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(PsychotherapyNote { psychotherapy_note_id: id, client_id: client, appointment_id: appointment, author_id: by, body: body.to_owned(), version: 1, created_at: t, updated_at: t })
    }

    /// The client's psychotherapy notes the actor may read (their own, and those of users they
    /// supervise), newest first, without text. Anyone else gets an empty list; a client outside
    /// the practice is `NotFound`. One `psychotherapy_note.list` event per note returned, or
    /// one about the client when none is.
    pub async fn list_psychotherapy_notes(&self, actor: &Actor, client: ClientId) -> Result<Vec<PsychotherapyNoteSummary>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, ClientScope::Practice, client).await?;
        let rows = match actor.user_id {
            Some(reader) => {
                tx.fetch_all(
                    Sql::dynamic(format!("SELECT {META} FROM psychotherapy_note p WHERE {READABLE} AND p.client_id = $3 ORDER BY p.psychotherapy_note_id DESC"))
                        .bind(actor.practice_id)
                        .bind(reader)
                        .bind(client),
                    "listing psychotherapy notes",
                )
                .await?
            }
            None => Vec::new(),
        };
        let out = rows.iter().map(summary).collect::<Result<Vec<_>>>()?;
        if out.is_empty() {
            self.audit(&mut tx, &keys, actor, "psychotherapy_note.list", "client", Some(client.to_string())).await?;
        } else {
            self.audit_each(&mut tx, &keys, actor, "psychotherapy_note.list", T, out.iter().map(|n| n.psychotherapy_note_id.to_string())).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One psychotherapy note with its text: `NotFound` unless the actor wrote it or
    /// supervises its author. The HTTP layer audits refusals (`append_audit`).
    pub async fn get_psychotherapy_note(&self, actor: &Actor, id: PsychotherapyNoteId) -> Result<PsychotherapyNote> {
        let reader = actor.user_id.ok_or(StoreError::NotFound)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = Self::psychotherapy_note_row(&mut tx, actor, reader, id, false).await?;
        let body = row_key(&keys, &row)?.open(T, "body", id.as_uuid(), &row.get::<Vec<u8>>("body")?)?;
        let note = summary(&row)?.with_body(body);
        self.audit(&mut tx, &keys, actor, "psychotherapy_note.read", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(note)
    }

    /// Replaces the text; only the author may (a supervisor reads but does not edit: `State`).
    /// `expected_version` guards against lost updates (`Conflict { field: "version" }`). The
    /// new text is kept as the next version; earlier ones are never changed or deleted.
    pub async fn update_psychotherapy_note(&self, actor: &Actor, id: PsychotherapyNoteId, body: &str, expected_version: i64) -> Result<PsychotherapyNote> {
        let by = author(actor)?;
        check_body(body)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = Self::psychotherapy_note_row(&mut tx, actor, by, id, true).await?;
        let current = summary(&row)?;
        if current.author_id != by {
            return Err(StoreError::State("only the author can edit a psychotherapy note; their supervisor may read it".to_owned()));
        }
        if current.version != expected_version {
            return Err(StoreError::Conflict { field: "version".to_owned() });
        }
        let k = row_key(&keys, &row)?;
        let (v, t) = (expected_version + 1, now());
        let n = tx
            .execute(
                Sql::new("UPDATE psychotherapy_note SET body = $2, version = $3, updated_at = $4 WHERE psychotherapy_note_id = $1 AND version = $5")
                    .bind(id)
                    .bind(k.seal(T, "body", id.as_uuid(), body))
                    .bind(v)
                    .bind(t)
                    .bind(expected_version),
                "updating a psychotherapy note",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict { field: "version".to_owned() });
        }
        Self::insert_psychotherapy_note_version(&mut tx, &k, id, v, body, t).await?;
        self.audit(&mut tx, &keys, actor, "psychotherapy_note.update", T, Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(PsychotherapyNoteSummary { version: v, updated_at: t, ..current }.with_body(body.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text() {
        let t = now();
        let n = PsychotherapyNote {
            psychotherapy_note_id: PsychotherapyNoteId::new(),
            client_id: ClientId::new(),
            appointment_id: None,
            author_id: UserId::new(),
            body: "countertransference: the violet lighthouse".to_owned(),
            version: 1,
            created_at: t,
            updated_at: t,
        };
        let shown = format!("{n:?}");
        assert!(!shown.contains("lighthouse") && shown.contains("<hidden>"), "{shown}");
    }

    #[test]
    fn blank_and_oversized_text_is_refused() {
        assert!(check_body("  \n").is_err());
        assert!(check_body(&"a".repeat(MAX_PSYCHOTHERAPY_NOTE_BYTES + 1)).is_err());
        assert!(check_body(&"a".repeat(MAX_PSYCHOTHERAPY_NOTE_BYTES)).is_ok());
    }
}
