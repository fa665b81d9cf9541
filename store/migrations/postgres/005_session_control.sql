-- Sessions a person controls: each session row gets a public id (named in URLs, never
-- the token), when it started and was last seen (written with the idle deadline, at
-- most once a minute), the client's user agent and address; users can be disabled.
-- Compatible with the previous release: nullable or defaulted columns only; a row the
-- previous release saves keeps its values or gets them at this release's next save.
ALTER TABLE sessions ADD COLUMN public_id TEXT NULL;
ALTER TABLE sessions ADD COLUMN created_at TIMESTAMPTZ NULL;
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMPTZ NULL;
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX sessions_public_id_idx ON sessions (public_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- A disabled user cannot sign in, has no sessions, and cannot act on their locks.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ NULL;
