-- Reminders (issue 4): each practice's reminder rules, the reminder rows planned for each visit
-- (in the transaction that created or changed it), message templates, per-clinician telehealth
-- links, and when each recipient last wrote to us (it lifts the automated-text caps). No PHI is
-- stored in any of these tables: recipients are resolved from the client at send time, and the
-- inbound table holds only the keyed blind index of the address, like channel_opt_out.
-- Keep in step with ../sqlite/0005_reminders.sql.

CREATE TABLE reminder_rule (
    practice_id UUID PRIMARY KEY NOT NULL REFERENCES practice (practice_id),
    rules       TEXT NOT NULL,
    updated_by  UUID REFERENCES staff_user (staff_user_id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE reminder (
    reminder_id    UUID PRIMARY KEY NOT NULL,
    practice_id    UUID NOT NULL REFERENCES practice (practice_id),
    appointment_id UUID NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    client_id      UUID NOT NULL REFERENCES client (client_id),
    kind           TEXT NOT NULL CHECK (kind IN ('reminder', 'join')),
    minutes_before BIGINT NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('sms', 'telegram')),
    due_at         TIMESTAMPTZ NOT NULL,
    is_last        BOOLEAN NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('planned', 'done', 'skipped', 'withdrawn')),
    outcome        TEXT,
    queued         BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
-- What the scheduler's tick scans: only planned rows, by due time.
CREATE INDEX reminder_due ON reminder (due_at) WHERE status = 'planned';
CREATE INDEX reminder_appointment ON reminder (appointment_id);

CREATE TABLE message_template (
    practice_id UUID NOT NULL REFERENCES practice (practice_id),
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'telegram')),
    kind        TEXT NOT NULL CHECK (kind IN ('reminder', 'reminder_virtual', 'join')),
    body        TEXT NOT NULL,
    updated_by  UUID REFERENCES staff_user (staff_user_id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (practice_id, channel, kind)
);

CREATE TABLE clinician_join_link (
    staff_user_id UUID PRIMARY KEY NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    practice_id   UUID NOT NULL REFERENCES practice (practice_id),
    join_link     TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE recipient_inbound (
    practice_id     UUID NOT NULL REFERENCES practice (practice_id),
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'telegram', 'console')),
    address_index   BYTEA NOT NULL,
    last_inbound_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (practice_id, channel, address_index)
);

-- The automated-text caps count a recipient's recent reminders.
CREATE INDEX outbox_message_recipient_recent ON outbox_message (practice_id, recipient_index, created_at);
