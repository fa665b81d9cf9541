-- A tamper-evident trail. Each audit row keeps the names it mentions as they were, so
-- the trail reads right after a device or account is gone; and each row is chained:
-- audit_chain holds, in the order rows were chained, a versioned hash over the row's
-- fields and the previous entry's hash (computed by Latchkey, see store/chain.go).
-- Entry 0 is the genesis; rows older than this migration, and rows the previous release
-- writes while it still runs, are chained after it (by `latchkey migrate` and by every
-- append of this release). Compatible with the previous release: nullable columns and a
-- new table it does not know.
ALTER TABLE audit_events ADD COLUMN device_name TEXT NULL;
ALTER TABLE audit_events ADD COLUMN account_name TEXT NULL;

CREATE TABLE audit_chain (
    seq       BIGINT PRIMARY KEY,         -- 0 is the genesis, then 1, 2, … with no gaps
    row_id    BIGINT NULL UNIQUE,         -- the audit_events row; NULL for the genesis
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL               -- "v1:" and the hex SHA-256
);

INSERT INTO audit_chain (seq, row_id, prev_hash, hash)
VALUES (0, NULL, '', 'v1:f6f88663a71d549a427a89e3a718004a799b137463c22de07e907f4bda87ba54');

CREATE FUNCTION audit_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_chain is append-only';
END;
$$;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append_only();
