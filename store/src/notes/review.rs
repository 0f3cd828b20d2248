//! Supervisor review of a trainee's signed note, without ever unlocking it (DESIGN: "Signed
//! notes are immutable; corrections are addenda"). The supervisor returns the signed note with
//! a comment ([`Store::return_note`]); the author answers with an addendum, which resolves the
//! return ([`Store::add_addendum`]); then the supervisor co-signs ([`Store::cosign_note`],
//! refused while a return is unresolved). A note has at most one unresolved return. Comments
//! are PHI, sealed under the note's data key in `note_return`, which is append-only except
//! that a return is resolved once (migration 0009, with triggers that hold the same rules).
//!
//! Also the lists the review pages show: the co-sign queue, a trainee's returned notes, drafts
//! left unsigned, and a supervisor's supervisees. Lists return metadata only and write one
//! `note.list` event per note returned.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{FROM, MAX_NOTE_BYTES, META, NoteStatus, NoteSummary, author, summary};
use crate::{
    Actor, Result, Store, StoreError,
    clients::{ClientScope, SCOPE, row_key, scoped},
    crypto::RecordKey,
    db::{Row, Sql, Tx},
    ids::{AddendumId, NoteId, UserId},
    keyfile::Keyring,
    types::{now, truncate},
};

/// Most notes one review list returns. Lists are oldest first, so the rest follow as these
/// are handled.
pub const MAX_NOTES_LISTED: i64 = 500;
/// Most authors one [`Store::unsigned_notes`] call may name.
pub const MAX_UNSIGNED_AUTHORS: usize = 1000;

const T: &str = "note_return";

/// A supervisor's comment returning a signed note to its author. Debug hides the comment.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct NoteReturn {
    pub note_return_id: Uuid,
    pub note_id: NoteId,
    pub reviewer_id: UserId,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// When the author's addendum answered it; `None` while the return is open.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for NoteReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteReturn")
            .field("note_return_id", &self.note_return_id)
            .field("note_id", &self.note_id)
            .field("reviewer_id", &self.reviewer_id)
            .field("comment", &format_args!("<hidden>"))
            .field("created_at", &self.created_at)
            .field("resolved_at", &self.resolved_at)
            .finish()
    }
}

/// The author's supervisor (`staff_user.supervisor_id`).
pub(super) async fn supervisor_of(tx: &mut Tx, author: UserId) -> Result<Option<UserId>> {
    let r = tx.fetch_one(Sql::new("SELECT supervisor_id FROM staff_user WHERE staff_user_id = $1").bind(author), "reading the author").await?;
    Ok(r.get::<Option<Uuid>>("supervisor_id")?.map(UserId::from_uuid))
}

/// The note's unresolved return, if any.
pub(super) async fn open_return(tx: &mut Tx, note: NoteId) -> Result<Option<Uuid>> {
    let r = tx
        .fetch_optional(Sql::new("SELECT note_return_id FROM note_return WHERE note_id = $1 AND resolved_at IS NULL").bind(note), "checking for a returned note")
        .await?;
    r.map(|r| r.get("note_return_id")).transpose()
}

/// Marks the note's unresolved return (if any) answered by `addendum`; true if there was one.
pub(super) async fn resolve_return(tx: &mut Tx, note: NoteId, addendum: AddendumId, at: DateTime<Utc>) -> Result<bool> {
    let n = tx
        .execute(
            Sql::new("UPDATE note_return SET resolved_at = $2, resolving_addendum_id = $3 WHERE note_id = $1 AND resolved_at IS NULL").bind(note).bind(at).bind(addendum),
            "resolving a returned note",
        )
        .await?;
    Ok(n > 0)
}

fn check_comment(comment: &str) -> Result<()> {
    if comment.trim().is_empty() || comment.len() > MAX_NOTE_BYTES {
        return Err(StoreError::Invalid(format!("a return comment must be non-empty and at most {MAX_NOTE_BYTES} bytes")));
    }
    Ok(())
}

/// Metadata and the record key of a note, without decrypting its body.
fn note_meta(keys: &Keyring, r: &Row) -> Result<(NoteSummary, RecordKey)> {
    Ok((summary(r)?, row_key(keys, r)?))
}

impl Store {
    /// Returns a signed note to its author with a comment; the note itself does not change.
    /// The actor must be the author's supervisor and the note signed, not co-signed, with no
    /// unresolved return — otherwise `State`. `NotFound` outside `scope`; `Invalid` for an
    /// empty comment or one over [`MAX_NOTE_BYTES`]. Audited as `note.return`.
    pub async fn return_note(&self, actor: &Actor, scope: ClientScope, id: NoteId, comment: &str) -> Result<NoteReturn> {
        let by = author(actor)?;
        check_comment(comment)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (note, k) = note_meta(&keys, &Self::note_row_for_update(&mut tx, actor, scope, id).await?)?;
        match note.status {
            NoteStatus::Signed => {}
            NoteStatus::Draft => return Err(StoreError::State("a draft cannot be returned: its author is still editing it; only a signed note can be".to_owned())),
            NoteStatus::Cosigned => return Err(StoreError::State("the note is already co-signed and cannot be returned; add an addendum instead".to_owned())),
        }
        if supervisor_of(&mut tx, note.author_id).await? != Some(by) {
            return Err(StoreError::State("only the author's supervisor can return this note".to_owned()));
        }
        if open_return(&mut tx, id).await?.is_some() {
            return Err(StoreError::State("the note was already returned and its author has not answered yet; wait for their addendum".to_owned()));
        }
        let r = NoteReturn { note_return_id: Uuid::now_v7(), note_id: id, reviewer_id: by, comment: comment.to_owned(), created_at: now(), resolved_at: None };
        tx.execute(
            Sql::new("INSERT INTO note_return (note_return_id, note_id, reviewer_id, comment, created_at) VALUES ($1,$2,$3,$4,$5)")
                .bind(r.note_return_id)
                .bind(id)
                .bind(by)
                .bind(k.seal(T, "comment", r.note_return_id, comment))
                .bind(r.created_at),
            "returning a note",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "note.return", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Every return of the note, resolved or not, oldest first. Audited as `note.read_returns`.
    pub async fn note_returns(&self, actor: &Actor, scope: ClientScope, id: NoteId) -> Result<Vec<NoteReturn>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let (_, k) = note_meta(&keys, &Self::note_row(&mut tx, actor, scope, id).await?)?;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT note_return_id, reviewer_id, comment, created_at, resolved_at FROM note_return WHERE note_id = $1 ORDER BY created_at, note_return_id")
                    .bind(id),
                "listing a note's returns",
            )
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                let rid: Uuid = r.get("note_return_id")?;
                Ok(NoteReturn {
                    note_return_id: rid,
                    note_id: id,
                    reviewer_id: UserId::from_uuid(r.get("reviewer_id")?),
                    comment: k.open(T, "comment", rid, &r.get::<Vec<u8>>("comment")?)?,
                    created_at: r.get("created_at")?,
                    resolved_at: r.get("resolved_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "note.read_returns", "note", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The supervisor's co-sign queue: signed, not co-signed notes visible in `scope` whose
    /// author's supervisor is `supervisor`, without an unresolved return, oldest signed first,
    /// at most [`MAX_NOTES_LISTED`]. Metadata only; one `note.list` event per note.
    pub async fn cosign_queue(&self, actor: &Actor, scope: ClientScope, supervisor: UserId) -> Result<Vec<NoteSummary>> {
        let q = scoped(
            format!(
                "SELECT {META} FROM {FROM} JOIN staff_user a ON a.staff_user_id = n.author_id \
                 WHERE {SCOPE} AND n.status = 'signed' AND a.supervisor_id = $3 \
                 AND NOT EXISTS (SELECT 1 FROM note_return r WHERE r.note_id = n.note_id AND r.resolved_at IS NULL) \
                 ORDER BY n.signed_at, n.note_id LIMIT $4"
            ),
            actor,
            scope,
        )
        .bind(supervisor)
        .bind(MAX_NOTES_LISTED);
        self.list_note_summaries(actor, q, "listing the co-sign queue").await
    }

    /// The author's signed notes with an unresolved return (waiting for their addendum),
    /// visible in `scope`, oldest signed first, at most [`MAX_NOTES_LISTED`]. Metadata only;
    /// one `note.list` event per note.
    pub async fn returned_notes(&self, actor: &Actor, scope: ClientScope, author: UserId) -> Result<Vec<NoteSummary>> {
        let q = scoped(
            format!(
                "SELECT {META} FROM {FROM} WHERE {SCOPE} AND n.author_id = $3 AND n.status = 'signed' \
                 AND EXISTS (SELECT 1 FROM note_return r WHERE r.note_id = n.note_id AND r.resolved_at IS NULL) \
                 ORDER BY n.signed_at, n.note_id LIMIT $4"
            ),
            actor,
            scope,
        )
        .bind(author)
        .bind(MAX_NOTES_LISTED);
        self.list_note_summaries(actor, q, "listing returned notes").await
    }

    /// Drafts by any of `authors`, visible in `scope`, created before `created_before` (for
    /// compliance alerts such as "unsigned after 24 h"), oldest first, at most
    /// [`MAX_NOTES_LISTED`]. `Invalid` for more than [`MAX_UNSIGNED_AUTHORS`] authors; no
    /// authors, no notes. Metadata only; one `note.list` event per note.
    pub async fn unsigned_notes(&self, actor: &Actor, scope: ClientScope, authors: &[UserId], created_before: DateTime<Utc>) -> Result<Vec<NoteSummary>> {
        if authors.len() > MAX_UNSIGNED_AUTHORS {
            return Err(StoreError::Invalid(format!("name at most {MAX_UNSIGNED_AUTHORS} authors per call")));
        }
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are concatenated; the ids are bound.
        let list = (0..authors.len()).map(|i| format!("${}", i + 5)).collect::<Vec<_>>().join(",");
        let mut q = scoped(
            format!(
                "SELECT {META} FROM {FROM} WHERE {SCOPE} AND n.status = 'draft' AND n.created_at < $3 AND n.author_id IN ({list}) \
                 ORDER BY n.created_at, n.note_id LIMIT $4"
            ),
            actor,
            scope,
        )
        // Stored times are microseconds; compare like with like on both backends.
        .bind(truncate(created_before))
        .bind(MAX_NOTES_LISTED);
        for a in authors {
            q = q.bind(*a);
        }
        self.list_note_summaries(actor, q, "listing unsigned notes").await
    }

    /// The users whose supervisor is `supervisor` (disabled ones included: their signed notes
    /// still need co-signing), by display name. `NotFound` unless `supervisor` is a user of the
    /// actor's practice. Staff records are not PHI; not audited, like `list_users`.
    pub async fn supervisees(&self, actor: &Actor, supervisor: UserId) -> Result<Vec<UserId>> {
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, supervisor).await?;
        let rows = tx
            .fetch_all(
                Sql::new("SELECT staff_user_id FROM staff_user WHERE practice_id = $1 AND supervisor_id = $2 ORDER BY display_name, staff_user_id")
                    .bind(actor.practice_id)
                    .bind(supervisor),
                "listing supervisees",
            )
            .await?;
        tx.commit().await?;
        rows.iter().map(|r| Ok(UserId::from_uuid(r.get("staff_user_id")?))).collect()
    }

    async fn list_note_summaries(&self, actor: &Actor, q: Sql, context: &'static str) -> Result<Vec<NoteSummary>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(q, context).await?;
        let out = rows.iter().map(summary).collect::<Result<Vec<_>>>()?;
        self.audit_each(&mut tx, &keys, actor, "note.list", "note", out.iter().map(|n| n.note_id.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }
}
