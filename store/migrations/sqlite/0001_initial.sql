-- Hearth store schema, SQLite flavour. Ids are 16-byte UUID blobs, instants RFC 3339 UTC text,
-- PHI columns hold XChaCha20-Poly1305 envelopes (see store/src/crypto.rs). Keep in step with
-- ../postgres/0001_initial.sql: the conformance suite runs every operation against both.

CREATE TABLE data_key (
    data_key_id BLOB PRIMARY KEY NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX data_key_kek ON data_key (kek_id);

CREATE TABLE practice (
    practice_id BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    phone       TEXT,
    time_zone   TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE staff_user (
    staff_user_id  BLOB PRIMARY KEY NOT NULL,
    practice_id    BLOB NOT NULL REFERENCES practice (practice_id),
    login_email    TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    roles          TEXT NOT NULL,
    supervisor_id  BLOB REFERENCES staff_user (staff_user_id),
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL,
    data_key_id    BLOB REFERENCES data_key (data_key_id),
    totp_secret    BLOB,
    totp_last_step INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX staff_user_practice ON staff_user (practice_id);

CREATE TABLE recovery_code (
    recovery_code_id BLOB PRIMARY KEY NOT NULL,
    staff_user_id    BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    code_hash        TEXT NOT NULL,
    used_at          TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (staff_user_id, code_hash)
);

CREATE TABLE auth_session (
    auth_session_id BLOB PRIMARY KEY NOT NULL,
    staff_user_id   BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    token_hash      BLOB NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX auth_session_user ON auth_session (staff_user_id);

CREATE TABLE auth_throttle (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    window_start TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE client (
    client_id            BLOB PRIMARY KEY NOT NULL,
    practice_id          BLOB NOT NULL REFERENCES practice (practice_id),
    data_key_id          BLOB NOT NULL REFERENCES data_key (data_key_id),
    first_name           BLOB NOT NULL,
    last_name            BLOB NOT NULL,
    preferred_name       BLOB,
    date_of_birth        BLOB,
    phone                BLOB,
    phone_index          BLOB,
    email                BLOB,
    telegram_chat_id     BLOB,
    time_zone            TEXT NOT NULL,
    channel_preferences  TEXT NOT NULL,
    texting_consent      BOOLEAN NOT NULL,
    primary_clinician_id BLOB REFERENCES staff_user (staff_user_id),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX client_practice ON client (practice_id, primary_clinician_id);
CREATE INDEX client_phone_index ON client (practice_id, phone_index);

CREATE TABLE client_contact (
    client_contact_id  BLOB PRIMARY KEY NOT NULL,
    client_id          BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    position           INTEGER NOT NULL,
    name               BLOB NOT NULL,
    relation           BLOB NOT NULL,
    phone              BLOB,
    email              BLOB,
    receives_reminders BOOLEAN NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX client_contact_client ON client_contact (client_id);

CREATE TABLE client_name_token (
    client_id BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    token     BLOB NOT NULL,
    PRIMARY KEY (client_id, token)
);
CREATE INDEX client_name_token_token ON client_name_token (token);

CREATE TABLE client_share (
    client_id     BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    staff_user_id BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (client_id, staff_user_id)
);
CREATE INDEX client_share_user ON client_share (staff_user_id);

CREATE TABLE availability_slot (
    availability_slot_id BLOB PRIMARY KEY NOT NULL,
    practice_id          BLOB NOT NULL REFERENCES practice (practice_id),
    clinician_id         BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    weekday              INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute         INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute           INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    time_zone            TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    CHECK (end_minute > start_minute)
);

CREATE TABLE availability_exception (
    availability_exception_id BLOB PRIMARY KEY NOT NULL,
    practice_id               BLOB NOT NULL REFERENCES practice (practice_id),
    clinician_id              BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    starts_at                 TEXT NOT NULL,
    ends_at                   TEXT NOT NULL,
    kind                      TEXT NOT NULL CHECK (kind IN ('unavailable', 'available')),
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);

CREATE TABLE appointment (
    appointment_id BLOB PRIMARY KEY NOT NULL,
    practice_id    BLOB NOT NULL REFERENCES practice (practice_id),
    clinician_id   BLOB NOT NULL REFERENCES staff_user (staff_user_id),
    starts_at      TEXT NOT NULL,
    ends_at        TEXT NOT NULL,
    time_zone      TEXT NOT NULL,
    modality       TEXT NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    location       TEXT,
    join_link      TEXT,
    service_code   TEXT,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX appointment_practice_start ON appointment (practice_id, starts_at);

CREATE TABLE appointment_client (
    appointment_id BLOB NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    client_id      BLOB NOT NULL REFERENCES client (client_id),
    PRIMARY KEY (appointment_id, client_id)
);
CREATE INDEX appointment_client_client ON appointment_client (client_id);

CREATE TABLE appointment_status_history (
    appointment_status_history_id BLOB PRIMARY KEY NOT NULL,
    appointment_id                BLOB NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    status                        TEXT NOT NULL,
    reason                        TEXT,
    changed_by                    BLOB REFERENCES staff_user (staff_user_id),
    changed_at                    TEXT NOT NULL
);
CREATE INDEX appointment_status_history_appointment ON appointment_status_history (appointment_id);

CREATE TABLE consent (
    consent_id  BLOB PRIMARY KEY NOT NULL,
    practice_id BLOB NOT NULL REFERENCES practice (practice_id),
    client_id   BLOB NOT NULL REFERENCES client (client_id),
    kind        TEXT NOT NULL,
    data_key_id BLOB NOT NULL REFERENCES data_key (data_key_id),
    details     BLOB,
    granted_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    recorded_by BLOB REFERENCES staff_user (staff_user_id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX consent_client ON consent (client_id);

CREATE TABLE message (
    message_id  BLOB PRIMARY KEY NOT NULL,
    practice_id BLOB NOT NULL REFERENCES practice (practice_id),
    client_id   BLOB NOT NULL REFERENCES client (client_id),
    data_key_id BLOB NOT NULL REFERENCES data_key (data_key_id),
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel     TEXT NOT NULL,
    body        BLOB NOT NULL,
    status      TEXT NOT NULL,
    provider_id TEXT,
    sent_by     BLOB REFERENCES staff_user (staff_user_id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (channel, provider_id)
);
CREATE INDEX message_client ON message (client_id, created_at);

CREATE TABLE note (
    note_id        BLOB PRIMARY KEY NOT NULL,
    practice_id    BLOB NOT NULL REFERENCES practice (practice_id),
    client_id      BLOB NOT NULL REFERENCES client (client_id),
    appointment_id BLOB REFERENCES appointment (appointment_id),
    author_id      BLOB NOT NULL REFERENCES staff_user (staff_user_id),
    data_key_id    BLOB NOT NULL REFERENCES data_key (data_key_id),
    format         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'signed', 'cosigned')),
    body           BLOB NOT NULL,
    version        INTEGER NOT NULL,
    signed_at      TEXT,
    signed_by      BLOB REFERENCES staff_user (staff_user_id),
    cosigned_at    TEXT,
    cosigned_by    BLOB REFERENCES staff_user (staff_user_id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX note_client ON note (client_id);

CREATE TABLE note_version (
    note_version_id BLOB PRIMARY KEY NOT NULL,
    note_id         BLOB NOT NULL REFERENCES note (note_id),
    version         INTEGER NOT NULL,
    body            BLOB NOT NULL,
    edited_by       BLOB REFERENCES staff_user (staff_user_id),
    created_at      TEXT NOT NULL,
    UNIQUE (note_id, version)
);

CREATE TABLE note_addendum (
    note_addendum_id BLOB PRIMARY KEY NOT NULL,
    note_id          BLOB NOT NULL REFERENCES note (note_id),
    author_id        BLOB NOT NULL REFERENCES staff_user (staff_user_id),
    body             BLOB NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX note_addendum_note ON note_addendum (note_id);

-- A signed note is locked: its body and format never change and it never returns to draft;
-- corrections are addenda. Enforced here as well as in code, so raw SQL cannot bypass it.
CREATE TRIGGER note_signed_is_immutable BEFORE UPDATE ON note
WHEN OLD.status <> 'draft'
 AND (NEW.body IS NOT OLD.body OR NEW.format IS NOT OLD.format OR NEW.status = 'draft'
      OR NEW.client_id IS NOT OLD.client_id OR NEW.version IS NOT OLD.version)
BEGIN
    SELECT RAISE(ABORT, 'signed note is immutable; add an addendum instead');
END;

-- Note history and addenda are append-only.
CREATE TRIGGER note_version_append_only BEFORE UPDATE ON note_version
BEGIN
    SELECT RAISE(ABORT, 'note_version is append-only');
END;
CREATE TRIGGER note_addendum_append_only BEFORE UPDATE ON note_addendum
BEGIN
    SELECT RAISE(ABORT, 'note_addendum is append-only');
END;

CREATE TABLE audit_event (
    seq            INTEGER PRIMARY KEY NOT NULL,
    audit_event_id BLOB NOT NULL UNIQUE,
    occurred_at    TEXT NOT NULL,
    practice_id    BLOB,
    user_id        BLOB,
    action         TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    object_id      TEXT,
    ip             TEXT,
    request_id     TEXT,
    outcome        TEXT NOT NULL,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL
);
CREATE INDEX audit_event_object ON audit_event (practice_id, object_type, object_id);

CREATE TABLE audit_head (
    audit_head_id INTEGER PRIMARY KEY NOT NULL CHECK (audit_head_id = 1),
    seq           INTEGER NOT NULL,
    hash          BLOB NOT NULL,
    mac           BLOB NOT NULL
);
