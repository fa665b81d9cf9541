-- A tamper-evident trail. Each audit row keeps the names it mentions as they were, so
-- the trail reads right after a device or account is gone; and each row is chained:
-- audit_chain holds, in the order rows were chained, a versioned hash over the row's
-- fields and the previous entry's hash (computed by Latchkey, see store/chain.go).
-- Entry 0 is the genesis; rows older than this migration are chained after it at the
-- next start. Compatible with the previous release: nullable columns and a new table.
ALTER TABLE audit_events ADD COLUMN device_name TEXT NULL;
ALTER TABLE audit_events ADD COLUMN account_name TEXT NULL;

CREATE TABLE audit_chain (
    seq       INTEGER PRIMARY KEY,        -- 0 is the genesis, then 1, 2, … with no gaps
    row_id    INTEGER NULL UNIQUE,        -- the audit_events row; NULL for the genesis
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL               -- "v1:" and the hex SHA-256
);

INSERT INTO audit_chain (seq, row_id, prev_hash, hash)
VALUES (0, NULL, '', 'v1:f6f88663a71d549a427a89e3a718004a799b137463c22de07e907f4bda87ba54');

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;

CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is append-only');
END;
