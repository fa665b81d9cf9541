-- The identity provider stays in charge: each session row names the IdP's session
-- (the ID token's sid) so a back-channel logout can end exactly it, and every logout
-- token's jti is remembered until it expires so a replay is refused on every instance.
-- Compatible with the previous release: a nullable column and a new table only.
ALTER TABLE sessions ADD COLUMN oidc_sid TEXT;
CREATE INDEX sessions_oidc_sid_idx ON sessions (oidc_sid);

CREATE TABLE logout_token_jtis (
    jti        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX logout_token_jtis_expires_idx ON logout_token_jtis (expires_at);

-- Refresh-token re-checks: the IdP's refresh token stays server-side with its session,
-- with when it was last used; a lease (random id and deadline) makes one instance at a
-- time use it, so a rotating token is never used twice; a refresh that brought no ID
-- token drops the session's admin rights until the next sign-in.
ALTER TABLE sessions ADD COLUMN oidc_refresh_token TEXT;
ALTER TABLE sessions ADD COLUMN oidc_refreshed_at TEXT;
ALTER TABLE sessions ADD COLUMN oidc_refresh_lease TEXT;
ALTER TABLE sessions ADD COLUMN oidc_refresh_lease_until TEXT;
ALTER TABLE sessions ADD COLUMN oidc_admin_dropped BOOLEAN NOT NULL DEFAULT FALSE;
