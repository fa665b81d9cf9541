-- Each user's listing version: raised by the database itself on every change to a row
-- of their devices or action attempts, whichever code or process writes it (the
-- `latchkey` CLI included), so a page can tell from the version loaded with the session
-- whether the device list it read before still holds. SQLite only: on PostgreSQL such a
-- trigger would make every write of a user's devices or attempts take their users row's
-- lock, and two transactions writing two of one user's devices in opposite orders could
-- deadlock; there the version reads as 0 (unknown) and nothing is cached.
ALTER TABLE users ADD COLUMN listing_version INTEGER NOT NULL DEFAULT 1;

CREATE TRIGGER devices_listing_insert AFTER INSERT ON devices
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER devices_listing_update AFTER UPDATE ON devices
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id IN (OLD.user_id, NEW.user_id);
END;

CREATE TRIGGER devices_listing_delete AFTER DELETE ON devices
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id = OLD.user_id;
END;

CREATE TRIGGER action_attempts_listing_insert AFTER INSERT ON action_attempts
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER action_attempts_listing_update AFTER UPDATE ON action_attempts
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id IN (OLD.user_id, NEW.user_id);
END;

CREATE TRIGGER action_attempts_listing_delete AFTER DELETE ON action_attempts
BEGIN
    UPDATE users SET listing_version = listing_version + 1 WHERE id = OLD.user_id;
END;
