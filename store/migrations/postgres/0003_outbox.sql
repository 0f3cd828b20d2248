-- The outbox: every outbound message (reminder, join link, portal notice, reply, opt-out
-- confirmation) is a row here, written in the same transaction as the change that caused it,
-- then claimed and sent by the dispatcher. Recipient and body are PHI: sealed under the row's
-- data key like message.body; recipient_index is the keyed blind index of the address, so the
-- opt-out guard can match without decrypting. Keep in step with ../sqlite/0003_outbox.sql.

CREATE TABLE outbox_message (
    outbox_message_id  UUID PRIMARY KEY NOT NULL,
    practice_id        UUID NOT NULL REFERENCES practice (practice_id),
    client_id          UUID REFERENCES client (client_id),
    appointment_id     UUID REFERENCES appointment (appointment_id),
    message_id         UUID REFERENCES message (message_id),
    data_key_id        UUID NOT NULL REFERENCES data_key (data_key_id),
    channel            TEXT NOT NULL CHECK (channel IN ('sms', 'telegram', 'console')),
    recipient          BYTEA NOT NULL,
    recipient_index    BYTEA NOT NULL,
    body               BYTEA NOT NULL,
    purpose            TEXT NOT NULL,
    sender_key         TEXT NOT NULL,
    idempotency_key    TEXT NOT NULL,
    status             TEXT NOT NULL
        CHECK (status IN ('pending', 'in_flight', 'sent', 'delivered', 'failed', 'unknown', 'cancelled')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMPTZ NOT NULL,
    attempt_started_at TIMESTAMPTZ,
    lease_expires_at   TIMESTAMPTZ,
    claimed_by         TEXT,
    last_error_class   TEXT,
    cancel_reason      TEXT,
    provider_id        TEXT,
    sent_at            TIMESTAMPTZ,
    delivered_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT outbox_message_idempotency_key_key UNIQUE (practice_id, idempotency_key),
    CONSTRAINT outbox_message_provider_id_key UNIQUE (channel, provider_id)
);
-- What claims scan: due pending rows (all, or one sender's), expired leases; and what
-- reconciliation lists.
CREATE INDEX outbox_message_due ON outbox_message (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_message_sender_due ON outbox_message (sender_key, next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_message_lease ON outbox_message (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX outbox_message_unknown ON outbox_message (attempt_started_at) WHERE status = 'unknown';
CREATE INDEX outbox_message_client ON outbox_message (client_id);
CREATE INDEX outbox_message_appointment ON outbox_message (appointment_id);

-- Recipients who opted out of a channel (STOP and its synonyms, or the provider's own opt-out
-- error such as Twilio 21610): nothing is sent to them on that channel until they opt back in
-- (START). Keyed by the blind index of the address; for SMS that is the same index as
-- client.phone_index, so a client's opt-out state can be found by joining on it.
CREATE TABLE channel_opt_out (
    practice_id   UUID NOT NULL REFERENCES practice (practice_id),
    channel       TEXT NOT NULL CHECK (channel IN ('sms', 'telegram', 'console')),
    address_index BYTEA NOT NULL,
    source        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (practice_id, channel, address_index)
);

-- Status callbacks that arrived before their message's provider id was recorded (a provider can
-- call back before the dispatcher's mark_sent commits). mark_sent and reconciled apply and
-- delete them; unclaimed ones are deleted after outbox::EARLY_REPORT_RETENTION.
CREATE TABLE early_delivery_report (
    channel     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sent', 'delivered', 'failed')),
    error_class TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, provider_id, status)
);
CREATE INDEX early_delivery_report_created ON early_delivery_report (created_at);
