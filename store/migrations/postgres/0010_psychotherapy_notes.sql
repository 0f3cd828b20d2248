-- Psychotherapy notes (45 CFR 164.501): a clinician's own process notes about a session, kept
-- apart from the rest of the record. DESIGN: "Psychotherapy notes are stored apart from the
-- record and are readable only by their author (and supervisor) or under a recorded
-- authorization". So they live in their own tables, under their own data keys, with no
-- reference from `note` or any other record table, and nothing outside
-- store/src/psychotherapy_notes.rs reads them. Who may read is decided in that module's SQL
-- (the author, or the author's supervisor); ClientScope alone never grants it.
-- Keep in step with ../sqlite/0010_psychotherapy_notes.sql.

CREATE TABLE psychotherapy_note (
    psychotherapy_note_id UUID PRIMARY KEY NOT NULL,
    practice_id           UUID NOT NULL REFERENCES practice (practice_id),
    client_id             UUID NOT NULL REFERENCES client (client_id),
    appointment_id        UUID REFERENCES appointment (appointment_id),
    author_id             UUID NOT NULL REFERENCES staff_user (staff_user_id),
    data_key_id           UUID NOT NULL REFERENCES data_key (data_key_id),
    -- The current text, sealed under the note's own data key; every version, this one
    -- included, is also in psychotherapy_note_version.
    body                  BYTEA NOT NULL,
    version               BIGINT NOT NULL CHECK (version >= 1),
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX psychotherapy_note_client ON psychotherapy_note (client_id, author_id);

CREATE TABLE psychotherapy_note_version (
    psychotherapy_note_version_id UUID PRIMARY KEY NOT NULL,
    psychotherapy_note_id         UUID NOT NULL REFERENCES psychotherapy_note (psychotherapy_note_id),
    version                       BIGINT NOT NULL,
    body                          BYTEA NOT NULL,
    created_at                    TIMESTAMPTZ NOT NULL,
    UNIQUE (psychotherapy_note_id, version)
);

-- Whose note it is decides who may read it: the author, client, practice and key never
-- change, and an edit moves the version on by exactly one (the store writes the matching
-- version row in the same transaction).
CREATE FUNCTION psychotherapy_note_owner_is_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.psychotherapy_note_id IS DISTINCT FROM OLD.psychotherapy_note_id OR NEW.practice_id IS DISTINCT FROM OLD.practice_id
        OR NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.appointment_id IS DISTINCT FROM OLD.appointment_id
        OR NEW.author_id IS DISTINCT FROM OLD.author_id OR NEW.data_key_id IS DISTINCT FROM OLD.data_key_id
        OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.version IS DISTINCT FROM OLD.version + 1 THEN
        RAISE EXCEPTION 'psychotherapy_note author, client and key are fixed; an edit adds one version';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER psychotherapy_note_owner_is_fixed BEFORE UPDATE ON psychotherapy_note
    FOR EACH ROW EXECUTE FUNCTION psychotherapy_note_owner_is_fixed();

-- Every version is kept: the history is append-only (refuse_update is from 0001 and names
-- the table).
CREATE TRIGGER psychotherapy_note_version_append_only BEFORE UPDATE OR DELETE ON psychotherapy_note_version
    FOR EACH ROW EXECUTE FUNCTION refuse_update();
