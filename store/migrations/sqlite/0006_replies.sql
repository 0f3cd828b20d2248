-- Reply conversations (issue 4, "Replies"): what a client was last offered by text (slots to
-- pick from, a waitlist opening) so a restart loses nothing; alerts to staff about client
-- messages the conversation could not handle (the message itself is an inbound `message` row,
-- the staff inbox); and the waitlist with its offers. State rows hold ids and times only.
-- Keep in step with ../postgres/0006_replies.sql.

CREATE TABLE reply_conversation (
    practice_id BLOB NOT NULL REFERENCES practice (practice_id),
    client_id   BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (practice_id, client_id)
);

CREATE TABLE staff_alert (
    staff_alert_id BLOB PRIMARY KEY NOT NULL,
    practice_id    BLOB NOT NULL REFERENCES practice (practice_id),
    staff_user_id  BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    client_id      BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    message_id     BLOB NOT NULL REFERENCES message (message_id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('client_message')),
    created_at     TEXT NOT NULL,
    seen_at        TEXT
);
CREATE INDEX staff_alert_unseen ON staff_alert (staff_user_id, created_at) WHERE seen_at IS NULL;

CREATE TABLE waitlist_entry (
    waitlist_entry_id BLOB PRIMARY KEY NOT NULL,
    practice_id       BLOB NOT NULL REFERENCES practice (practice_id),
    clinician_id      BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    client_id         BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    created_at        TEXT NOT NULL,
    UNIQUE (clinician_id, client_id)
);

CREATE TABLE waitlist_offer (
    waitlist_offer_id     BLOB PRIMARY KEY NOT NULL,
    practice_id           BLOB NOT NULL REFERENCES practice (practice_id),
    clinician_id          BLOB NOT NULL REFERENCES staff_user (staff_user_id) ON DELETE CASCADE,
    source_appointment_id BLOB NOT NULL REFERENCES appointment (appointment_id) ON DELETE CASCADE,
    starts_at             TEXT NOT NULL,
    ends_at               TEXT NOT NULL,
    time_zone             TEXT NOT NULL,
    modality              TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('open', 'taken')),
    taken_by              BLOB REFERENCES client (client_id) ON DELETE SET NULL,
    booked_appointment_id BLOB REFERENCES appointment (appointment_id) ON DELETE SET NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

CREATE TABLE waitlist_offer_recipient (
    waitlist_offer_id BLOB NOT NULL REFERENCES waitlist_offer (waitlist_offer_id) ON DELETE CASCADE,
    client_id         BLOB NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (waitlist_offer_id, client_id)
);
