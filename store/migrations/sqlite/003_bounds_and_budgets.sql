-- The device's name as it was when the action was requested, so every later word
-- about the action ("We could not confirm whether Front Door unlocked") can name it
-- without asking Seam.
ALTER TABLE action_attempts ADD COLUMN device_name TEXT NOT NULL DEFAULT '';

-- Per-user budgets counted in fixed windows, shared by every instance: Seam calls a
-- customer's requests make, Connect Webviews they create. Spending is one upsert that
-- refuses to go past the limit; rows of past windows are deleted as the user spends.
CREATE TABLE usage_counters (
    user_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    window_start TEXT NOT NULL,
    used         INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, window_start)
);

-- One row that /readyz rewrites (rate-limited) to prove the database takes writes.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);

-- Refusals are audited at most once per user and kind in a window: looked up by
-- actor, action and time.
CREATE INDEX audit_events_actor_action_idx ON audit_events (actor_id, action, at);
