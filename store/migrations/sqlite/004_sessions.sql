-- Sessions move from scs's sqlite3store (expiry as a Julian day) to Latchkey's own
-- store (store/sessions.go), which both dialects share: expiry in the fixed-width text
-- layout of every other time. Signed-in sessions survive, to the second.
-- (SQLite runs one process, migrated at start; the compatibility rule for rolling
-- restarts, stated in postgres/001_initial.sql, concerns PostgreSQL.)
CREATE TABLE sessions_new (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry TEXT NOT NULL
);

INSERT INTO sessions_new (token, data, expiry)
SELECT token, data, strftime('%Y-%m-%dT%H:%M:%S', expiry) || '.000000Z' FROM sessions;

DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE INDEX sessions_expiry_idx ON sessions (expiry);
