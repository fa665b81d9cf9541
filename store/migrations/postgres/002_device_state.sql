-- The local copy of each customer's devices, kept current by Seam's events; the inbox
-- of those events (each applied once); and named leases with a cursor, for work one
-- instance at a time does (the events poller, a user's resync).

CREATE TABLE devices (
    id                   TEXT PRIMARY KEY, -- Seam's device_id
    user_id              TEXT NOT NULL REFERENCES users (id),
    connected_account_id TEXT NOT NULL,
    device               TEXT NOT NULL,    -- Seam's device object (JSON), with events applied
    state_at             TIMESTAMPTZ NOT NULL,
    synced_at            TIMESTAMPTZ NOT NULL
);

CREATE INDEX devices_user_idx ON devices (user_id);
CREATE INDEX devices_account_idx ON devices (connected_account_id);

CREATE TABLE seam_events (
    id                   TEXT PRIMARY KEY,
    delivery_id          TEXT NULL UNIQUE,
    event_type           TEXT NOT NULL,
    device_id            TEXT NULL,
    connected_account_id TEXT NULL,
    payload              TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    received_at          TIMESTAMPTZ NOT NULL,
    processed_at         TIMESTAMPTZ NULL
);

CREATE INDEX seam_events_unprocessed_idx ON seam_events (received_at) WHERE processed_at IS NULL;

CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    held_until TIMESTAMPTZ NOT NULL,
    position TEXT NOT NULL DEFAULT ''
);
