-- The signed-in user's id beside each session, so a request loads its session and its
-- user in one query. Compatible with the previous release: a nullable column; a session
-- saved without it is read as before (the user by a second query).
ALTER TABLE sessions ADD COLUMN user_id TEXT;
