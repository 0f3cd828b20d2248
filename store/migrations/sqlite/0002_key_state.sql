-- Which master key (KEK) is active, so a process still holding a pre-rotation key file in
-- memory notices the rotation before wrapping new data keys (see store/src/crypto.rs).
CREATE TABLE key_state (
    key_state_id  INTEGER PRIMARY KEY NOT NULL CHECK (key_state_id = 1),
    active_kek_id TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
