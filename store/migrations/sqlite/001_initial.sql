-- Times are TEXT in one fixed-width UTC layout (2006-01-02T15:04:05.000000Z),
-- so they sort and compare correctly as strings. Booleans are 0/1.

CREATE TABLE users (
    id             TEXT PRIMARY KEY, -- random UUID; also Seam's user_identifier_key
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name           TEXT NOT NULL DEFAULT '',
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TEXT NOT NULL,
    last_login_at  TEXT NOT NULL,
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
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

CREATE INDEX connect_webviews_user_idx ON connect_webviews (user_id, created_at);

-- The ownership record: a connected account belongs to the one user whose
-- Connect Webview produced it, and never moves to another.
CREATE TABLE connected_accounts (
    id                 TEXT PRIMARY KEY, -- Seam's connected_account_id
    user_id            TEXT NOT NULL REFERENCES users (id),
    connect_webview_id TEXT NOT NULL DEFAULT '',
    device_count       INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE INDEX connected_accounts_user_idx ON connected_accounts (user_id);

CREATE TABLE action_attempts (
    id          TEXT PRIMARY KEY, -- Seam's action_attempt_id
    user_id     TEXT NOT NULL REFERENCES users (id),
    device_id   TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('unlock', 'lock')),
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'success', 'error', 'timeout')),
    error       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    finished_at TEXT NULL
);

CREATE INDEX action_attempts_device_status_idx ON action_attempts (device_id, status);
CREATE INDEX action_attempts_user_created_idx ON action_attempts (user_id, created_at);

-- Append-only: no foreign keys, so the trail outlives what it mentions.
CREATE TABLE audit_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                TEXT NOT NULL,
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

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- Exactly the table github.com/alexedwards/scs/sqlite3store expects.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);

CREATE INDEX sessions_expiry_idx ON sessions (expiry);
