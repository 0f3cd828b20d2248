-- Secure messages through the client portal (issue 4, "Secure messages"; DESIGN flow 3).
-- message.read_at is the read receipt: when the recipient read it (the client, in the portal,
-- for outbound messages; staff, for the client's portal replies). portal_link holds the
-- SHA-256 of each single-use link token sent in a notice, its expiry and the second-factor
-- attempt count (locked at the limit), and the digest of the latest texted code with its expiry; portal_session the SHA-256 of a short portal session
-- token. No PHI in either. Keep in step with ../sqlite/0007_portal.sql.

ALTER TABLE message ADD COLUMN read_at TIMESTAMPTZ;

CREATE TABLE portal_link (
    token_hash      BYTEA PRIMARY KEY NOT NULL,
    practice_id     UUID NOT NULL REFERENCES practice (practice_id),
    client_id       UUID NOT NULL REFERENCES client (client_id),
    message_id      UUID NOT NULL REFERENCES message (message_id),
    expires_at      TIMESTAMPTZ NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_at       TIMESTAMPTZ,
    used_at         TIMESTAMPTZ,
    code_hash       BYTEA,
    code_expires_at TIMESTAMPTZ,
    codes_sent      BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX portal_link_client ON portal_link (client_id);

CREATE TABLE portal_session (
    token_hash  BYTEA PRIMARY KEY NOT NULL,
    practice_id UUID NOT NULL REFERENCES practice (practice_id),
    client_id   UUID NOT NULL REFERENCES client (client_id),
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX portal_session_client ON portal_session (client_id);
