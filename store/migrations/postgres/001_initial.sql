-- Latchkey's schema on PostgreSQL, as of SQLite migration 003.
--
-- Compatibility rule for every migration after this one (both dialects): a migration
-- must keep the previous release working on the migrated database (add tables and
-- nullable or defaulted columns; never drop, rename or retype what the previous release
-- reads or writes in the same release), so instances can be restarted one by one after
-- `latchkey migrate`.
--
-- Run by `latchkey migrate` as the owner role. The application role needs only
-- SELECT, INSERT, UPDATE, DELETE on the tables and USAGE on the sequences.

CREATE TABLE users (
    id             TEXT PRIMARY KEY, -- random UUID; also Seam's user_identifier_key
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name           TEXT NOT NULL DEFAULT '',
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    last_login_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE TABLE connect_webviews (
    id                   TEXT PRIMARY KEY, -- Seam's connect_webview_id
    user_id              TEXT NOT NULL REFERENCES users (id),
    url                  TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'authorized', 'failed')),
    connected_account_id TEXT NULL,
    error_code           TEXT NOT NULL DEFAULT '',
    error_message        TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);

CREATE INDEX connect_webviews_user_idx ON connect_webviews (user_id, created_at);

-- The ownership record: a connected account belongs to the one user whose Connect
-- Webview produced it, and never moves to another.
CREATE TABLE connected_accounts (
    id                 TEXT PRIMARY KEY, -- Seam's connected_account_id
    user_id            TEXT NOT NULL REFERENCES users (id),
    connect_webview_id TEXT NOT NULL DEFAULT '',
    device_count       INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX connected_accounts_user_idx ON connected_accounts (user_id);

CREATE TABLE action_attempts (
    id                     TEXT PRIMARY KEY, -- Latchkey's UUID, used in URLs
    seam_action_attempt_id TEXT NULL UNIQUE, -- set once Seam accepted the action
    user_id                TEXT NOT NULL REFERENCES users (id),
    device_id              TEXT NOT NULL,
    device_name            TEXT NOT NULL DEFAULT '',
    action                 TEXT NOT NULL CHECK (action IN ('unlock', 'lock')),
    status                 TEXT NOT NULL DEFAULT 'requested'
                           CHECK (status IN ('requested', 'pending', 'success', 'error', 'timeout', 'unknown', 'not_sent')),
    error                  TEXT NOT NULL DEFAULT '',
    claimed_until          TIMESTAMPTZ NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    finished_at            TIMESTAMPTZ NULL
);

-- At most one open action per device, whichever instance inserts it.
CREATE UNIQUE INDEX action_attempts_one_open_idx ON action_attempts (device_id)
    WHERE status IN ('requested', 'pending');
CREATE INDEX action_attempts_user_created_idx ON action_attempts (user_id, created_at);
CREATE INDEX action_attempts_device_created_idx ON action_attempts (device_id, created_at);
CREATE INDEX action_attempts_open_idx ON action_attempts (claimed_until)
    WHERE status IN ('requested', 'pending');

-- Append-only: no foreign keys, so the trail outlives what it mentions.
CREATE TABLE audit_events (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                TIMESTAMPTZ NOT NULL,
    actor_id          TEXT NULL,
    subject_user_id   TEXT NULL,
    action            TEXT NOT NULL,
    device_id         TEXT NULL,
    action_attempt_id TEXT NULL,
    outcome           TEXT NOT NULL,
    detail            TEXT NOT NULL DEFAULT '',
    remote_addr       TEXT NOT NULL DEFAULT '',
    user_agent        TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_subject_idx ON audit_events (subject_user_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_device_idx ON audit_events (device_id, id);
CREATE INDEX audit_events_actor_action_idx ON audit_events (actor_id, action, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Signed-in sessions (scs), through Latchkey's own store.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);

CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Per-user budgets counted in fixed windows, shared by every instance.
CREATE TABLE usage_counters (
    user_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    used         INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, window_start)
);

-- One row that /readyz rewrites (rate-limited) to prove the database takes writes.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMPTZ NOT NULL
);
