-- Secure messages through the client portal (issue 4, "Secure messages"; DESIGN flow 3).
-- message.read_at is the read receipt: when the recipient read it (the client, in the portal,
-- for outbound messages; staff, for the client's portal replies). portal_link holds the
-- SHA-256 of each single-use link token sent in a notice, its expiry and the second-factor
-- attempt count (locked at the limit), and the digest of the latest texted code with its expiry; portal_session the SHA-256 of a short portal session
-- token. No PHI in either. Keep in step with ../postgres/0007_portal.sql.

ALTER TABLE message ADD COLUMN read_at TEXT;

CREATE TABLE portal_link (
    token_hash      BLOB PRIMARY KEY NOT NULL,
    practice_id     BLOB NOT NULL REFERENCES practice (practice_id),
    client_id       BLOB NOT NULL REFERENCES client (client_id),
    message_id      BLOB NOT NULL REFERENCES message (message_id),
    expires_at      TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_at       TEXT,
    used_at         TEXT,
    code_hash       BLOB,
    code_expires_at TEXT,
    codes_sent      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX portal_link_client ON portal_link (client_id);

CREATE TABLE portal_session (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    practice_id BLOB NOT NULL REFERENCES practice (practice_id),
    client_id   BLOB NOT NULL REFERENCES client (client_id),
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX portal_session_client ON portal_session (client_id);
