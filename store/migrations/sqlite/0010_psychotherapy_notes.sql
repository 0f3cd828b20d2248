-- Psychotherapy notes (45 CFR 164.501): a clinician's own process notes about a session, kept
-- apart from the rest of the record. DESIGN: "Psychotherapy notes are stored apart from the
-- record and are readable only by their author (and supervisor) or under a recorded
-- authorization". So they live in their own tables, under their own data keys, with no
-- reference from `note` or any other record table, and nothing outside
-- store/src/psychotherapy_notes.rs reads them. Who may read is decided in that module's SQL
-- (the author, or the author's supervisor); ClientScope alone never grants it.
-- Keep in step with ../postgres/0010_psychotherapy_notes.sql.

CREATE TABLE psychotherapy_note (
    psychotherapy_note_id BLOB PRIMARY KEY NOT NULL,
    practice_id           BLOB NOT NULL REFERENCES practice (practice_id),
    client_id             BLOB NOT NULL REFERENCES client (client_id),
    appointment_id        BLOB REFERENCES appointment (appointment_id),
    author_id             BLOB NOT NULL REFERENCES staff_user (staff_user_id),
    data_key_id           BLOB NOT NULL REFERENCES data_key (data_key_id),
    -- The current text, sealed under the note's own data key; every version, this one
    -- included, is also in psychotherapy_note_version.
    body                  BLOB NOT NULL,
    version               INTEGER NOT NULL CHECK (version >= 1),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX psychotherapy_note_client ON psychotherapy_note (client_id, author_id);

CREATE TABLE psychotherapy_note_version (
    psychotherapy_note_version_id BLOB PRIMARY KEY NOT NULL,
    psychotherapy_note_id         BLOB NOT NULL REFERENCES psychotherapy_note (psychotherapy_note_id),
    version                       INTEGER NOT NULL,
    body                          BLOB NOT NULL,
    created_at                    TEXT NOT NULL,
    UNIQUE (psychotherapy_note_id, version)
);

-- Whose note it is decides who may read it: the author, client, practice and key never
-- change, and an edit moves the version on by exactly one (the store writes the matching
-- version row in the same transaction).
CREATE TRIGGER psychotherapy_note_owner_is_fixed BEFORE UPDATE ON psychotherapy_note
WHEN NEW.psychotherapy_note_id IS NOT OLD.psychotherapy_note_id OR NEW.practice_id IS NOT OLD.practice_id
  OR NEW.client_id IS NOT OLD.client_id OR NEW.appointment_id IS NOT OLD.appointment_id
  OR NEW.author_id IS NOT OLD.author_id OR NEW.data_key_id IS NOT OLD.data_key_id
  OR NEW.created_at IS NOT OLD.created_at OR NEW.version IS NOT OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'psychotherapy_note author, client and key are fixed; an edit adds one version');
END;

-- Every version is kept: the history is append-only.
CREATE TRIGGER psychotherapy_note_version_append_only BEFORE UPDATE ON psychotherapy_note_version
BEGIN
    SELECT RAISE(ABORT, 'psychotherapy_note_version is append-only');
END;
CREATE TRIGGER psychotherapy_note_version_kept BEFORE DELETE ON psychotherapy_note_version
BEGIN
    SELECT RAISE(ABORT, 'psychotherapy_note_version is append-only');
END;
