-- The customer's time zone (an IANA name such as Europe/Paris), reported by their
-- browser or chosen on /settings; '' means not known yet, and pages show UTC.
-- Compatible with the previous release: a defaulted column.
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';
