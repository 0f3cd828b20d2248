-- Supervisor review of a trainee's signed note (DESIGN flow 4: "trainee: supervisor co-signs")
-- with "return with comments", without ever unlocking the note: the supervisor returns the
-- signed note with a comment, the trainee answers with an addendum (which resolves the
-- return), and the supervisor co-signs. The note itself never changes (0001's
-- note_signed_is_immutable still holds). The comment is PHI, sealed under the note's data key.
-- Keep in step with ../postgres/0009_note_review.sql.

CREATE TABLE note_return (
    note_return_id        BLOB PRIMARY KEY NOT NULL,
    note_id               BLOB NOT NULL REFERENCES note (note_id),
    reviewer_id           BLOB NOT NULL REFERENCES staff_user (staff_user_id),
    comment               BLOB NOT NULL,
    created_at            TEXT NOT NULL,
    resolved_at           TEXT,
    -- The author's addendum that answered the return.
    resolving_addendum_id BLOB REFERENCES note_addendum (note_addendum_id),
    CHECK ((resolved_at IS NULL) = (resolving_addendum_id IS NULL))
);
CREATE INDEX note_return_note ON note_return (note_id, created_at);
-- At most one unresolved return per note.
CREATE UNIQUE INDEX note_return_open ON note_return (note_id) WHERE resolved_at IS NULL;

-- The review lists (co-sign queue, returned notes, unsigned drafts) go by author and status.
CREATE INDEX note_author ON note (author_id, status, created_at);

-- A return is a record of supervision: append-only, except that it is resolved once.
CREATE TRIGGER note_return_append_only BEFORE UPDATE ON note_return
WHEN OLD.resolved_at IS NOT NULL OR NEW.resolved_at IS NULL
  OR NEW.note_return_id IS NOT OLD.note_return_id OR NEW.note_id IS NOT OLD.note_id
  OR NEW.reviewer_id IS NOT OLD.reviewer_id OR NEW.comment IS NOT OLD.comment
  OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'note_return is append-only; only resolved_at may be set, once');
END;

-- Only a signed, not yet co-signed note can be returned.
CREATE TRIGGER note_return_needs_signed_note BEFORE INSERT ON note_return
WHEN (SELECT status FROM note WHERE note_id = NEW.note_id) IS NOT 'signed'
BEGIN
    SELECT RAISE(ABORT, 'only a signed, not yet co-signed note can be returned');
END;

-- A returned note is co-signed only after its author's addendum resolved the return.
CREATE TRIGGER note_returned_is_not_cosigned BEFORE UPDATE ON note
WHEN NEW.status = 'cosigned' AND OLD.status <> 'cosigned'
 AND EXISTS (SELECT 1 FROM note_return r WHERE r.note_id = NEW.note_id AND r.resolved_at IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'the note was returned to its author; co-sign after their addendum');
END;
