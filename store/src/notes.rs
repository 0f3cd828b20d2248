//! Clinical notes. A draft may be edited (every version kept in `note_version`); once signed
//! the note is locked — body, format and status can never go back, enforced here and by a
//! database trigger — and corrections are addenda. A trainee's signed note is co-signed by
//! their supervisor, who may first return it with a comment ([`Store::return_note`]); the trainee
//! answers with an addendum and the note itself never changes. Listing returns metadata only,
//! without decrypting bodies, so roles that must not see clinical text (front desk, billers)
//! can be served without touching it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    clients::{ClientScope, SCOPE, require_visible, row_key, scoped},
    crypto::RecordKey,
    db::{Row, Sql, Tx},
    ids::{AddendumId, AppointmentId, ClientId, NoteId, UserId},
    keyfile::Keyring,
    types::now,
};

/// Supervisor review: returning a signed note with a comment, and the lists the review pages
/// show (co-sign queue, returned notes, unsigned drafts, supervisees).
mod review;
pub use review::{MAX_NOTES_LISTED, MAX_UNSIGNED_AUTHORS, NoteReturn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    Draft,
    Signed,
    Cosigned,
}

impl NoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteStatus::Draft => "draft",
            NoteStatus::Signed => "signed",
            NoteStatus::Cosigned => "cosigned",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "draft" => Ok(NoteStatus::Draft),
            "signed" => Ok(NoteStatus::Signed),
            "cosigned" => Ok(NoteStatus::Cosigned),
            _ => Err(StoreError::Invalid(format!("stored note status '{s}' is unknown"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNote {
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    /// SOAP, DAP, BIRP, GIRP or a custom format name.
    pub format: String,
    pub body: String,
}

/// Note metadata, no clinical text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteSummary {
    pub note_id: NoteId,
    pub client_id: ClientId,
    pub appointment_id: Option<AppointmentId>,
    pub author_id: UserId,
    pub format: String,
    pub status: NoteStatus,
    pub version: i64,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_by: Option<UserId>,
    pub cosigned_at: Option<DateTime<Utc>>,
    pub cosigned_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    #[serde(flatten)]
    pub summary: NoteSummary,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteVersion {
    pub version: i64,
    pub body: String,
    pub edited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addendum {
    pub addendum_id: AddendumId,
    pub note_id: NoteId,
    pub author_id: UserId,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Longest note or addendum body, in bytes (a long session's note is a few tens of KB).
pub const MAX_NOTE_BYTES: usize = 512 * 1024;
pub const MAX_FORMAT: usize = 40;

fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() || body.len() > MAX_NOTE_BYTES {
        return Err(StoreError::Invalid(format!("note text must be non-empty and at most {MAX_NOTE_BYTES} bytes")));
    }
    Ok(())
}

fn author(actor: &Actor) -> Result<UserId> {
    actor.user_id.ok_or_else(|| StoreError::Invalid("notes are written and signed by people: the actor needs a user_id".to_owned()))
}

const META: &str = "n.note_id, n.client_id, n.appointment_id, n.author_id, n.format, n.status, n.version, n.signed_at, n.signed_by, \
    n.cosigned_at, n.cosigned_by, n.created_at, n.updated_at";
const FROM: &str = "note n JOIN client c ON c.client_id = n.client_id";

fn summary(r: &Row) -> Result<NoteSummary> {
    let uid = |col: &'static str| -> Result<Option<UserId>> { Ok(r.get::<Option<Uuid>>(col)?.map(UserId::from_uuid)) };
    Ok(NoteSummary {
        note_id: NoteId::from_uuid(r.get("note_id")?),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        appointment_id: r.get::<Option<Uuid>>("appointment_id")?.map(AppointmentId::from_uuid),
        author_id: UserId::from_uuid(r.get("author_id")?),
        format: r.get("format")?,
        status: NoteStatus::parse(&r.get::<String>("status")?)?,
        version: r.get("version")?,
        signed_at: r.get("signed_at")?,
        signed_by: uid("signed_by")?,
        cosigned_at: r.get("cosigned_at")?,
        cosigned_by: uid("cosigned_by")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

impl Store {
    /// Reads a note (metadata, key, sealed body) within scope.
    async fn note_row(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Row> {
        Self::read_note_row(tx, actor, scope, id, false).await
    }

    /// Like [`Store::note_row`], and on PostgreSQL locks the note until commit, so that a
    /// return, a co-signature and an addendum that resolves a return see each other's effect
    /// rather than each checking a state the other is about to change. (SQLite's
    /// `BEGIN IMMEDIATE` already runs writers one at a time.)
    async fn note_row_for_update(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Row> {
        Self::read_note_row(tx, actor, scope, id, true).await
    }

    async fn read_note_row(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: NoteId, lock: bool) -> Result<Row> {
        let lock = if lock && tx.is_postgres() { " FOR UPDATE OF n" } else { "" };
        tx.fetch_one(
            scoped(
                format!(
                    "SELECT {META}, n.body, n.data_key_id, dk.kek_id, dk.wrapped FROM {FROM} JOIN data_key dk ON dk.data_key_id = n.data_key_id \
                     WHERE {SCOPE} AND n.note_id = $3{lock}"
                ),
                actor,
                scope,
            )
            .bind(id),
            "reading a note",
        )
        .await
    }

    fn open_note(keys: &Keyring, r: &Row) -> Result<(Note, RecordKey)> {
        let s = summary(r)?;
        let k = row_key(keys, r)?;
        let body = k.open("note", "body", s.note_id.as_uuid(), &r.get::<Vec<u8>>("body")?)?;
        Ok((Note { summary: s, body }, k))
    }

    async fn insert_version(tx: &mut Tx, k: &RecordKey, note: NoteId, version: i64, body: &str, by: UserId, t: DateTime<Utc>) -> Result<()> {
        let vid = Uuid::now_v7();
        tx.execute(
            Sql::new("INSERT INTO note_version (note_version_id, note_id, version, body, edited_by, created_at) VALUES ($1,$2,$3,$4,$5,$6)")
                .bind(vid)
                .bind(note)
                .bind(version)
                .bind(k.seal("note_version", "body", vid, body))
                .bind(by)
                .bind(t),
            "keeping a note version",
        )
        .await
        .map(|_| ())
    }

    pub async fn create_note(&self, actor: &Actor, scope: ClientScope, new: &NewNote) -> Result<Note> {
        let by = author(actor)?;
        check_body(&new.body)?;
        if new.format.trim().is_empty() || new.format.len() > MAX_FORMAT {
            return Err(StoreError::Invalid(format!("note format must be 1-{MAX_FORMAT} characters")));
        }
        let keys = self.keys();
        let id = NoteId::new();
        let t = now();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, new.client_id).await?;
        if let Some(a) = new.appointment_id {
            tx.fetch_one(
                Sql::new("SELECT 1 AS one FROM appointment_client ac JOIN appointment a ON a.appointment_id = ac.appointment_id WHERE ac.appointment_id = $1 AND ac.client_id = $2 AND a.practice_id = $3")
                    .bind(a)
                    .bind(new.client_id)
                    .bind(actor.practice_id),
                "checking the note's appointment",
            )
            .await?;
        }
        let k = RecordKey::create(&mut tx, &keys).await?;
        tx.execute(
            Sql::new(
                "INSERT INTO note (note_id, practice_id, client_id, appointment_id, author_id, data_key_id, format, status, body, version, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,'draft',$8,1,$9,$9)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(new.client_id)
            .bind(new.appointment_id)
            .bind(by)
            .bind(k.data_key_id)
            .bind(new.format.trim())
            .bind(k.seal("note", "body", id.as_uuid(), &new.body))
            .bind(t),
            "creating a note",
        )
        .await?;
        Self::insert_version(&mut tx, &k, id, 1, &new.body, by, t).await?;
        self.audit(&mut tx, &keys, actor, "note.create", "note", Some(id.to_string())).await?;
        let (note, _) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, ClientScope::Practice, id).await?)?;
        tx.commit().await?;
        Ok(note)
    }

    pub async fn get_note(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Note> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, _) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        self.audit(&mut tx, &keys, actor, "note.read", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(note)
    }

    /// Metadata only; the body is not decrypted.
    pub async fn get_note_summary(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<NoteSummary> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx.fetch_one(scoped(format!("SELECT {META} FROM {FROM} WHERE {SCOPE} AND n.note_id = $3"), actor, scope).bind(id), "reading a note").await?;
        self.audit(&mut tx, &keys, actor, "note.read_meta", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        summary(&row)
    }

    /// A client's notes, newest first, metadata only.
    pub async fn list_notes(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<NoteSummary>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let rows = tx
            .fetch_all(scoped(format!("SELECT {META} FROM {FROM} WHERE {SCOPE} AND n.client_id = $3 ORDER BY n.note_id DESC"), actor, scope).bind(client), "listing notes")
            .await?;
        self.audit(&mut tx, &keys, actor, "note.list", "client", Some(client.to_string())).await?;
        tx.commit().await?;
        rows.iter().map(summary).collect()
    }

    /// Replaces a draft's body; `expected_version` guards against lost updates.
    pub async fn update_note_body(&self, actor: &Actor, scope: ClientScope, id: NoteId, body: &str, expected_version: i64) -> Result<Note> {
        let by = author(actor)?;
        check_body(body)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, k) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        if note.summary.status != NoteStatus::Draft {
            return Err(StoreError::State("a signed note cannot be edited; add an addendum instead".to_owned()));
        }
        if note.summary.version != expected_version {
            return Err(StoreError::Conflict { field: "version".to_owned() });
        }
        let (v, t) = (expected_version + 1, now());
        tx.execute(
            Sql::new("UPDATE note SET body = $2, version = $3, updated_at = $4 WHERE note_id = $1 AND status = 'draft' AND version = $5")
                .bind(id)
                .bind(k.seal("note", "body", id.as_uuid(), body))
                .bind(v)
                .bind(t)
                .bind(expected_version),
            "updating a note",
        )
        .await?;
        Self::insert_version(&mut tx, &k, id, v, body, by, t).await?;
        self.audit(&mut tx, &keys, actor, "note.update", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Note { summary: NoteSummary { version: v, updated_at: t, ..note.summary }, body: body.to_owned() })
    }

    /// Signs a draft as the actor. The system never signs: the actor must be a user.
    pub async fn sign_note(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Note> {
        let by = author(actor)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, _) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        if note.summary.status != NoteStatus::Draft {
            return Err(StoreError::State("the note is already signed".to_owned()));
        }
        let t = now();
        tx.execute(
            Sql::new("UPDATE note SET status = 'signed', signed_at = $2, signed_by = $3, updated_at = $2 WHERE note_id = $1 AND status = 'draft'").bind(id).bind(t).bind(by),
            "signing a note",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "note.sign", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Note { summary: NoteSummary { status: NoteStatus::Signed, signed_at: Some(t), signed_by: Some(by), updated_at: t, ..note.summary }, ..note })
    }

    /// Co-signs a signed note; the actor must be the author's supervisor, and the note must
    /// have no unresolved return ([`Store::return_note`]).
    pub async fn cosign_note(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Note> {
        let by = author(actor)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, _) = Self::open_note(&keys, &Self::note_row_for_update(&mut tx, actor, scope, id).await?)?;
        if note.summary.status != NoteStatus::Signed {
            return Err(StoreError::State("only a signed, not yet co-signed note can be co-signed".to_owned()));
        }
        if review::supervisor_of(&mut tx, note.summary.author_id).await? != Some(by) {
            return Err(StoreError::State("only the author's supervisor can co-sign this note".to_owned()));
        }
        if review::open_return(&mut tx, id).await?.is_some() {
            return Err(StoreError::State("the note was returned to its author; co-sign after their addendum".to_owned()));
        }
        let t = now();
        tx.execute(
            Sql::new("UPDATE note SET status = 'cosigned', cosigned_at = $2, cosigned_by = $3, updated_at = $2 WHERE note_id = $1 AND status = 'signed'").bind(id).bind(t).bind(by),
            "co-signing a note",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "note.cosign", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Note { summary: NoteSummary { status: NoteStatus::Cosigned, cosigned_at: Some(t), cosigned_by: Some(by), updated_at: t, ..note.summary }, ..note })
    }

    /// Appends an addendum to a signed note. The author's addendum answers (resolves) an
    /// unresolved return of the note, in the same transaction.
    pub async fn add_addendum(&self, actor: &Actor, scope: ClientScope, id: NoteId, body: &str) -> Result<Addendum> {
        let by = author(actor)?;
        check_body(body)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, k) = Self::open_note(&keys, &Self::note_row_for_update(&mut tx, actor, scope, id).await?)?;
        if note.summary.status == NoteStatus::Draft {
            return Err(StoreError::State("a draft is edited, not amended; addenda are for signed notes".to_owned()));
        }
        let a = Addendum { addendum_id: AddendumId::new(), note_id: id, author_id: by, body: body.to_owned(), created_at: now() };
        tx.execute(
            Sql::new("INSERT INTO note_addendum (note_addendum_id, note_id, author_id, body, created_at) VALUES ($1,$2,$3,$4,$5)")
                .bind(a.addendum_id)
                .bind(id)
                .bind(by)
                .bind(k.seal("note_addendum", "body", a.addendum_id.as_uuid(), body))
                .bind(a.created_at),
            "adding an addendum",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "note.addendum", "note", Some(id.to_string())).await?;
        if by == note.summary.author_id && review::resolve_return(&mut tx, id, a.addendum_id, a.created_at).await? {
            self.audit(&mut tx, &keys, actor, "note.return_resolved", "note", Some(id.to_string())).await?;
        }
        tx.commit().await?;
        Ok(a)
    }

    pub async fn list_addenda(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Vec<Addendum>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (_, k) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        let rows = tx
            .fetch_all(Sql::new("SELECT note_addendum_id, author_id, body, created_at FROM note_addendum WHERE note_id = $1 ORDER BY note_addendum_id").bind(id), "listing addenda")
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                let aid: Uuid = r.get("note_addendum_id")?;
                Ok(Addendum {
                    addendum_id: AddendumId::from_uuid(aid),
                    note_id: id,
                    author_id: UserId::from_uuid(r.get("author_id")?),
                    body: k.open("note_addendum", "body", aid, &r.get::<Vec<u8>>("body")?)?,
                    created_at: r.get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "note.read_addenda", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Every version of the note's body, oldest first.
    pub async fn note_versions(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Vec<NoteVersion>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (_, k) = Self::open_note(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        let rows = tx
            .fetch_all(Sql::new("SELECT note_version_id, version, body, edited_by, created_at FROM note_version WHERE note_id = $1 ORDER BY version").bind(id), "listing note versions")
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                let vid: Uuid = r.get("note_version_id")?;
                Ok(NoteVersion {
                    version: r.get("version")?,
                    body: k.open("note_version", "body", vid, &r.get::<Vec<u8>>("body")?)?,
                    edited_by: r.get::<Option<Uuid>>("edited_by")?.map(UserId::from_uuid),
                    created_at: r.get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "note.read_versions", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }
}
