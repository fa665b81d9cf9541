-- The connected account a Connect Webview reconnects (NULL for a new connection), so
-- its completion can check that Seam returned the same account. Compatible with the
-- previous release: a nullable column it does not read.
ALTER TABLE connect_webviews ADD COLUMN reconnects_account_id TEXT NULL;
