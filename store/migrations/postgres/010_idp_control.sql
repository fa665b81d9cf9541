-- The identity provider stays in charge: each session row names the IdP's session
-- (the ID token's sid) so a back-channel logout can end exactly it, and every logout
-- token's jti is remembered until it expires so a replay is refused on every instance.
-- Compatible with the previous release: a nullable column and a new table only.
ALTER TABLE sessions ADD COLUMN oidc_sid TEXT NULL;
CREATE INDEX sessions_oidc_sid_idx ON sessions (oidc_sid);

CREATE TABLE logout_token_jtis (
    jti        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX logout_token_jtis_expires_idx ON logout_token_jtis (expires_at);
