-- Hearth store schema, PostgreSQL flavour. Ids are uuid, instants timestamptz,
-- PHI columns hold XChaCha20-Poly1305 envelopes (see store/src/crypto.rs). Keep in step with
-- ../sqlite/0001_initial.sql: the conformance suite runs every operation against both.

CREATE TABLE data_key (
    data_key_id UUID PRIMARY KEY NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX data_key_kek ON data_key (kek_id);

CREATE TABLE practice (
    practice_id UUID PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    phone       TEXT,
    time_zone   TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE staff_user (
    staff_user_id  UUID PRIMARY KEY NOT NULL,
    practice_id    UUID NOT NULL REFERENCES practice (practice_id),
    login_email    TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    roles          TEXT NOT NULL,
    supervisor_id  UUID REFERENCES staff_user (staff_user_id),
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL,
    data_key_id    UUID REFERENCES data_key (data_key_id),
    totp_secret    BYTEA,
    totp_last_step BIGINT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_user_practice ON staff_user (practice_id);

CREATE TABLE recovery_code (
    recovery_code_id UUID PRIMARY KEY NOT NULL,
    staff_user_id    UUID NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    code_hash        TEXT NOT NULL,
    used_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (staff_user_id, code_hash)
);

CREATE TABLE auth_session (
    auth_session_id UUID PRIMARY KEY NOT NULL,
    staff_user_id   UUID NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    token_hash      BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX auth_session_user ON auth_session (staff_user_id);

CREATE TABLE auth_throttle (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    failures     BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE client (
    client_id            UUID PRIMARY KEY NOT NULL,
    practice_id          UUID NOT NULL REFERENCES practice (practice_id),
    data_key_id          UUID NOT NULL REFERENCES data_key (data_key_id),
    first_name           BYTEA NOT NULL,
    last_name            BYTEA NOT NULL,
    preferred_name       BYTEA,
    date_of_birth        BYTEA,
    phone                BYTEA,
    phone_index          BYTEA,
    email                BYTEA,
    telegram_chat_id     BYTEA,
    time_zone            TEXT NOT NULL,
    channel_preferences  TEXT NOT NULL,
    texting_consent      BOOLEAN NOT NULL,
    primary_clinician_id UUID REFERENCES staff_user (staff_user_id),
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX client_practice ON client (practice_id, primary_clinician_id);
CREATE INDEX client_phone_index ON client (practice_id, phone_index);

CREATE TABLE client_contact (
    client_contact_id  UUID PRIMARY KEY NOT NULL,
    client_id          UUID NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    position           BIGINT NOT NULL,
    name               BYTEA NOT NULL,
    relation           BYTEA NOT NULL,
    phone              BYTEA,
    email              BYTEA,
    receives_reminders BOOLEAN NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX client_contact_client ON client_contact (client_id);

CREATE TABLE client_name_token (
    client_id UUID NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    token     BYTEA NOT NULL,
    PRIMARY KEY (client_id, token)
);
CREATE INDEX client_name_token_token ON client_name_token (token);

CREATE TABLE client_share (
    client_id     UUID NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    staff_user_id UUID NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, staff_user_id)
);
CREATE INDEX client_share_user ON client_share (staff_user_id);

CREATE TABLE availability_slot (
    availability_slot_id UUID PRIMARY KEY NOT NULL,
    practice_id          UUID NOT NULL REFERENCES practice (practice_id),
    clinician_id         UUID NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    weekday              BIGINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute         BIGINT NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute           BIGINT NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    time_zone            TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CHECK (end_minute > start_minute)
);

CREATE TABLE availability_exception (
    availability_exception_id UUID PRIMARY KEY NOT NULL,
    practice_id               UUID NOT NULL REFERENCES practice (practice_id),
    clinician_id              UUID NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    starts_at                 TIMESTAMPTZ NOT NULL,
    ends_at                   TIMESTAMPTZ NOT NULL,
    kind                      TEXT NOT NULL CHECK (kind IN ('unavailable', 'available')),
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE appointment (
    appointment_id UUID PRIMARY KEY NOT NULL,
    practice_id    UUID NOT NULL REFERENCES practice (practice_id),
    clinician_id   UUID NOT NULL REFERENCES staff_user (staff_user_id),
    starts_at      TIMESTAMPTZ NOT NULL,
    ends_at        TIMESTAMPTZ NOT NULL,
    time_zone      TEXT NOT NULL,
    modality       TEXT NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    location       TEXT,
    join_link      TEXT,
    service_code   TEXT,
    status         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX appointment_practice_start ON appointment (practice_id, starts_at);

CREATE TABLE appointment_client (
    appointment_id UUID NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    client_id      UUID NOT NULL REFERENCES client (client_id),
    PRIMARY KEY (appointment_id, client_id)
);
CREATE INDEX appointment_client_client ON appointment_client (client_id);

CREATE TABLE appointment_status_history (
    appointment_status_history_id UUID PRIMARY KEY NOT NULL,
    appointment_id                UUID NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    status                        TEXT NOT NULL,
    reason                        TEXT,
    changed_by                    UUID REFERENCES staff_user (staff_user_id),
    changed_at                    TIMESTAMPTZ NOT NULL
);
CREATE INDEX appointment_status_history_appointment ON appointment_status_history (appointment_id);

CREATE TABLE consent (
    consent_id  UUID PRIMARY KEY NOT NULL,
    practice_id UUID NOT NULL REFERENCES practice (practice_id),
    client_id   UUID NOT NULL REFERENCES client (client_id),
    kind        TEXT NOT NULL,
    data_key_id UUID NOT NULL REFERENCES data_key (data_key_id),
    details     BYTEA,
    granted_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    recorded_by UUID REFERENCES staff_user (staff_user_id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_client ON consent (client_id);

CREATE TABLE message (
    message_id  UUID PRIMARY KEY NOT NULL,
    practice_id UUID NOT NULL REFERENCES practice (practice_id),
    client_id   UUID NOT NULL REFERENCES client (client_id),
    data_key_id UUID NOT NULL REFERENCES data_key (data_key_id),
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel     TEXT NOT NULL,
    body        BYTEA NOT NULL,
    status      TEXT NOT NULL,
    provider_id TEXT,
    sent_by     UUID REFERENCES staff_user (staff_user_id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT message_provider_id_key UNIQUE (channel, provider_id)
);
CREATE INDEX message_client ON message (client_id, created_at);

CREATE TABLE note (
    note_id        UUID PRIMARY KEY NOT NULL,
    practice_id    UUID NOT NULL REFERENCES practice (practice_id),
    client_id      UUID NOT NULL REFERENCES client (client_id),
    appointment_id UUID REFERENCES appointment (appointment_id),
    author_id      UUID NOT NULL REFERENCES staff_user (staff_user_id),
    data_key_id    UUID NOT NULL REFERENCES data_key (data_key_id),
    format         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'signed', 'cosigned')),
    body           BYTEA NOT NULL,
    version        BIGINT NOT NULL,
    signed_at      TIMESTAMPTZ,
    signed_by      UUID REFERENCES staff_user (staff_user_id),
    cosigned_at    TIMESTAMPTZ,
    cosigned_by    UUID REFERENCES staff_user (staff_user_id),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX note_client ON note (client_id);

CREATE TABLE note_version (
    note_version_id UUID PRIMARY KEY NOT NULL,
    note_id         UUID NOT NULL REFERENCES note (note_id),
    version         BIGINT NOT NULL,
    body            BYTEA NOT NULL,
    edited_by       UUID REFERENCES staff_user (staff_user_id),
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (note_id, version)
);

CREATE TABLE note_addendum (
    note_addendum_id UUID PRIMARY KEY NOT NULL,
    note_id          UUID NOT NULL REFERENCES note (note_id),
    author_id        UUID NOT NULL REFERENCES staff_user (staff_user_id),
    body             BYTEA NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX note_addendum_note ON note_addendum (note_id);

-- A signed note is locked: its body and format never change and it never returns to draft;
-- corrections are addenda. Enforced here as well as in code, so raw SQL cannot bypass it.
CREATE FUNCTION note_signed_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (NEW.body IS DISTINCT FROM OLD.body
        OR NEW.format IS DISTINCT FROM OLD.format OR NEW.status = 'draft'
        OR NEW.client_id IS DISTINCT FROM OLD.client_id OR NEW.version IS DISTINCT FROM OLD.version) THEN
        RAISE EXCEPTION 'signed note is immutable; add an addendum instead';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER note_signed_is_immutable BEFORE UPDATE ON note
    FOR EACH ROW EXECUTE FUNCTION note_signed_is_immutable();

-- Note history and addenda are append-only.
CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER note_version_append_only BEFORE UPDATE ON note_version
    FOR EACH ROW EXECUTE FUNCTION refuse_update();
CREATE TRIGGER note_addendum_append_only BEFORE UPDATE ON note_addendum
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

CREATE TABLE audit_event (
    seq            BIGINT PRIMARY KEY NOT NULL,
    audit_event_id UUID NOT NULL UNIQUE,
    occurred_at    TIMESTAMPTZ NOT NULL,
    practice_id    UUID,
    user_id        UUID,
    action         TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    object_id      TEXT,
    ip             TEXT,
    request_id     TEXT,
    outcome        TEXT NOT NULL,
    prev_hash      BYTEA NOT NULL,
    hash           BYTEA NOT NULL
);
CREATE INDEX audit_event_object ON audit_event (practice_id, object_type, object_id);

CREATE TABLE audit_head (
    audit_head_id BIGINT PRIMARY KEY NOT NULL CHECK (audit_head_id = 1),
    seq           BIGINT NOT NULL,
    hash          BYTEA NOT NULL,
    mac           BYTEA NOT NULL
);
