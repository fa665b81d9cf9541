-- Intent before effect: an action is recorded (status 'requested', with its audit
-- event) before Seam is called, under Latchkey's own id, so Seam's
-- action_attempt_id is known only later and may never be. Followers claim open
-- actions through claimed_until (a lease), so each is followed by one worker at a
-- time, on any instance.
--
-- Rows from 001 keep their id (Seam's action_attempt_id, itself a UUID), which
-- also becomes their seam_action_attempt_id, so audit events keep pointing at them.

CREATE TABLE action_attempts_new (
    id                     TEXT PRIMARY KEY, -- Latchkey's UUID, used in URLs
    seam_action_attempt_id TEXT NULL UNIQUE, -- set once Seam accepted the action
    user_id                TEXT NOT NULL REFERENCES users (id),
    device_id              TEXT NOT NULL,
    action                 TEXT NOT NULL CHECK (action IN ('unlock', 'lock')),
    status                 TEXT NOT NULL DEFAULT 'requested'
                           CHECK (status IN ('requested', 'pending', 'success', 'error', 'timeout', 'unknown', 'not_sent')),
    error                  TEXT NOT NULL DEFAULT '',
    claimed_until          TEXT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    finished_at            TEXT NULL
);

INSERT INTO action_attempts_new
    (id, seam_action_attempt_id, user_id, device_id, action, status, error, claimed_until, created_at, updated_at, finished_at)
SELECT id, id, user_id, device_id, action, status, error, NULL, created_at, COALESCE(finished_at, created_at), finished_at
FROM action_attempts;

-- 001 kept one action per device in process memory only: should two be pending on
-- one device, all but the newest are settled 'unknown' before the rule below.
UPDATE action_attempts_new SET status = 'unknown', error = 'Seam may have acted — check the door',
    finished_at = updated_at
WHERE status = 'pending' AND EXISTS (
    SELECT 1 FROM action_attempts_new b
    WHERE b.device_id = action_attempts_new.device_id AND b.status = 'pending'
      AND (b.created_at > action_attempts_new.created_at
           OR (b.created_at = action_attempts_new.created_at AND b.id > action_attempts_new.id)));

DROP TABLE action_attempts;
ALTER TABLE action_attempts_new RENAME TO action_attempts;

-- At most one open action per device, whichever process or instance inserts it.
CREATE UNIQUE INDEX action_attempts_one_open_idx ON action_attempts (device_id)
    WHERE status IN ('requested', 'pending');
CREATE INDEX action_attempts_user_created_idx ON action_attempts (user_id, created_at);
CREATE INDEX action_attempts_device_created_idx ON action_attempts (device_id, created_at);
CREATE INDEX action_attempts_open_idx ON action_attempts (claimed_until)
    WHERE status IN ('requested', 'pending');
