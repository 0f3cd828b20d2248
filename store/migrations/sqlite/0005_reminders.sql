-- Reminders (issue 4): each practice's reminder rules, the reminder rows planned for each visit
-- (in the transaction that created or changed it), message templates, per-clinician telehealth
-- links, and when each recipient last wrote to us (it lifts the automated-text caps). No PHI is
-- stored in any of these tables: recipients are resolved from the client at send time, and the
-- inbound table holds only the keyed blind index of the address, like channel_opt_out.
-- Keep in step with ../postgres/0005_reminders.sql.

CREATE TABLE reminder_rule (
    practice_id BLOB PRIMARY KEY NOT NULL REFERENCES practice (practice_id),
    rules       TEXT NOT NULL,
    updated_by  BLOB REFERENCES staff_user (staff_user_id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE reminder (
    reminder_id    BLOB PRIMARY KEY NOT NULL,
    practice_id    BLOB NOT NULL REFERENCES practice (practice_id),
    appointment_id BLOB NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    client_id      BLOB NOT NULL REFERENCES client (client_id),
    kind           TEXT NOT NULL CHECK (kind IN ('reminder', 'join')),
    minutes_before INTEGER NOT NULL,
    channel        TEXT NOT NULL CHECK (channel IN ('sms', 'telegram')),
    due_at         TEXT NOT NULL,
    is_last        BOOLEAN NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('planned', 'done', 'skipped', 'withdrawn')),
    outcome        TEXT,
    queued         INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- What the scheduler's tick scans: only planned rows, by due time.
CREATE INDEX reminder_due ON reminder (due_at) WHERE status = 'planned';
CREATE INDEX reminder_appointment ON reminder (appointment_id);

CREATE TABLE message_template (
    practice_id BLOB NOT NULL REFERENCES practice (practice_id),
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'telegram')),
    kind        TEXT NOT NULL CHECK (kind IN ('reminder', 'reminder_virtual', 'join')),
    body        TEXT NOT NULL,
    updated_by  BLOB REFERENCES staff_user (staff_user_id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (practice_id, channel, kind)
);

CREATE TABLE clinician_join_link (
    staff_user_id BLOB PRIMARY KEY NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    practice_id   BLOB NOT NULL REFERENCES practice (practice_id),
    join_link     TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE recipient_inbound (
    practice_id     BLOB NOT NULL REFERENCES practice (practice_id),
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'telegram', 'console')),
    address_index   BLOB NOT NULL,
    last_inbound_at TEXT NOT NULL,
    PRIMARY KEY (practice_id, channel, address_index)
);

-- The automated-text caps count a recipient's recent reminders.
CREATE INDEX outbox_message_recipient_recent ON outbox_message (practice_id, recipient_index, created_at);
