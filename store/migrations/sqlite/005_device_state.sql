-- The local copy of each customer's devices, kept current by Seam's events; the inbox
-- of those events (each applied once); and named leases with a cursor, for work one
-- instance at a time does (the events poller, a user's resync).

CREATE TABLE devices (
    id                   TEXT PRIMARY KEY, -- Seam's device_id
    user_id              TEXT NOT NULL REFERENCES users (id),
    connected_account_id TEXT NOT NULL,
    device               TEXT NOT NULL,    -- Seam's device object (JSON), with events applied
    state_at             TEXT NOT NULL,    -- Seam's time of the newest state applied
    synced_at            TEXT NOT NULL     -- when Latchkey last read it from Seam
);

CREATE INDEX devices_user_idx ON devices (user_id);
CREATE INDEX devices_account_idx ON devices (connected_account_id);

CREATE TABLE seam_events (
    id                   TEXT PRIMARY KEY, -- Seam's event_id
    delivery_id          TEXT NULL UNIQUE, -- svix-id, for webhook deliveries
    event_type           TEXT NOT NULL,
    device_id            TEXT NULL,
    connected_account_id TEXT NULL,
    payload              TEXT NOT NULL,
    created_at           TEXT NOT NULL,    -- Seam's created_at
    received_at          TEXT NOT NULL,
    processed_at         TEXT NULL
);

CREATE INDEX seam_events_unprocessed_idx ON seam_events (received_at) WHERE processed_at IS NULL;

CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    held_until TEXT NOT NULL,
    position TEXT NOT NULL DEFAULT ''
);
