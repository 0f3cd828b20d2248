-- Inbound messages from clients (and unknown senders) for the staff inbox, one row per provider
-- message: the unique (practice, channel, provider_id) is how webhook retries are
-- deduplicated (Twilio MessageSid, Telegram update_id). Sender and body are PHI: sealed under
-- the row's data key like message.body; sender_index is the keyed blind index of the address
-- (for SMS the same as client.phone_index). kind records what the gateway did with it:
-- opt_out / opt_in / help keywords, or text for staff to read. Keep in step with the other
-- backend's 0004_inbound.sql.

CREATE TABLE inbound_message (
    inbound_message_id UUID PRIMARY KEY NOT NULL,
    practice_id        UUID NOT NULL REFERENCES practice (practice_id),
    client_id          UUID REFERENCES client (client_id),
    data_key_id        UUID NOT NULL REFERENCES data_key (data_key_id),
    channel            TEXT NOT NULL CHECK (channel IN ('sms', 'telegram', 'console')),
    provider_id        TEXT NOT NULL,
    sender             BYTEA NOT NULL,
    sender_index       BYTEA NOT NULL,
    body               BYTEA NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('opt_out', 'opt_in', 'help', 'text')),
    status             TEXT NOT NULL CHECK (status IN ('new', 'read')),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (practice_id, channel, provider_id)
);
CREATE INDEX inbound_message_inbox ON inbound_message (practice_id, status, created_at);
CREATE INDEX inbound_message_client ON inbound_message (client_id);

-- One-time Telegram deep links (t.me/<bot>?start=<token>) that connect a client's chat to their
-- record. Only the SHA-256 of the token is stored. Single use: the first chat to redeem it is
-- bound to it (chat_index, the blind index of the chat id); it expires at expires_at.
CREATE TABLE telegram_link (
    token_hash  BYTEA PRIMARY KEY NOT NULL,
    practice_id UUID NOT NULL REFERENCES practice (practice_id),
    client_id   UUID NOT NULL REFERENCES client (client_id),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    chat_index  BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX telegram_link_client ON telegram_link (client_id);
