-- Supervisor review of a trainee's signed note (DESIGN flow 4: "trainee: supervisor co-signs")
-- with "return with comments", without ever unlocking the note: the supervisor returns the
-- signed note with a comment, the trainee answers with an addendum (which resolves the
-- return), and the supervisor co-signs. The note itself never changes (0001's
-- note_signed_is_immutable still holds). The comment is PHI, sealed under the note's data key.
-- Keep in step with ../sqlite/0009_note_review.sql.

CREATE TABLE note_return (
    note_return_id        UUID PRIMARY KEY NOT NULL,
    note_id               UUID NOT NULL REFERENCES note (note_id),
    reviewer_id           UUID NOT NULL REFERENCES staff_user (staff_user_id),
    comment               BYTEA NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    resolved_at           TIMESTAMPTZ,
    -- The author's addendum that answered the return.
    resolving_addendum_id UUID REFERENCES note_addendum (note_addendum_id),
    CHECK ((resolved_at IS NULL) = (resolving_addendum_id IS NULL))
);
CREATE INDEX note_return_note ON note_return (note_id, created_at);
-- At most one unresolved return per note.
CREATE UNIQUE INDEX note_return_open ON note_return (note_id) WHERE resolved_at IS NULL;

-- The review lists (co-sign queue, returned notes, unsigned drafts) go by author and status.
CREATE INDEX note_author ON note (author_id, status, created_at);

-- A return is a record of supervision: append-only, except that it is resolved once.
CREATE FUNCTION note_return_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.resolved_at IS NOT NULL OR NEW.resolved_at IS NULL
        OR NEW.note_return_id IS DISTINCT FROM OLD.note_return_id OR NEW.note_id IS DISTINCT FROM OLD.note_id
        OR NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id OR NEW.comment IS DISTINCT FROM OLD.comment
        OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'note_return is append-only; only resolved_at may be set, once';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER note_return_append_only BEFORE UPDATE ON note_return
    FOR EACH ROW EXECUTE FUNCTION note_return_append_only();

-- Only a signed, not yet co-signed note can be returned.
CREATE FUNCTION note_return_needs_signed_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM note WHERE note_id = NEW.note_id) IS DISTINCT FROM 'signed' THEN
        RAISE EXCEPTION 'only a signed, not yet co-signed note can be returned';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER note_return_needs_signed_note BEFORE INSERT ON note_return
    FOR EACH ROW EXECUTE FUNCTION note_return_needs_signed_note();

-- A returned note is co-signed only after its author's addendum resolved the return.
CREATE FUNCTION note_returned_is_not_cosigned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'cosigned' AND OLD.status <> 'cosigned'
        AND EXISTS (SELECT 1 FROM note_return r WHERE r.note_id = NEW.note_id AND r.resolved_at IS NULL) THEN
        RAISE EXCEPTION 'the note was returned to its author; co-sign after their addendum';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER note_returned_is_not_cosigned BEFORE UPDATE ON note
    FOR EACH ROW EXECUTE FUNCTION note_returned_is_not_cosigned();
