-- Scribe jobs (DESIGN flow 4): a session recording, a dictation or a pasted transcript on its
-- way to a draft note. scribe_job holds only ids, codes and timing (no PHI); the payloads (the
-- input audio or text, the WebVTT transcript, the draft JSON) live in scribe_payload, one row
-- per (job, part), each sealed under its own data key, so retention deletes one part (and
-- shreds its key) without touching the others. Workers claim jobs with a lease: queued and due,
-- or running with an expired lease (a worker that died). Keep in step with
-- ../sqlite/0008_scribe_jobs.sql.

CREATE TABLE scribe_job (
    scribe_job_id   UUID PRIMARY KEY NOT NULL,
    practice_id     UUID NOT NULL REFERENCES practice (practice_id),
    client_id       UUID NOT NULL REFERENCES client (client_id),
    appointment_id  UUID REFERENCES appointment (appointment_id),
    requested_by    UUID NOT NULL REFERENCES staff_user (staff_user_id),
    kind            TEXT NOT NULL CHECK (kind IN ('session_recording', 'dictation', 'transcript')),
    format          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress        BIGINT NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    stage           TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    lease_seconds   BIGINT,
    error           TEXT,
    note_id         UUID REFERENCES note (note_id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
-- What claims scan (few rows: only unfinished jobs), the review queue, and retention.
CREATE INDEX scribe_job_active ON scribe_job (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX scribe_job_queue ON scribe_job (practice_id, status, created_at);
CREATE INDEX scribe_job_client ON scribe_job (client_id);
CREATE INDEX scribe_job_finished ON scribe_job (practice_id, finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE scribe_payload (
    scribe_job_id UUID NOT NULL REFERENCES scribe_job (scribe_job_id),
    part          TEXT NOT NULL CHECK (part IN ('input', 'transcript', 'draft')),
    data_key_id   UUID NOT NULL REFERENCES data_key (data_key_id),
    media_type    TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    body          BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scribe_job_id, part)
);
