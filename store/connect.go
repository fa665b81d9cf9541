package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Connect Webview statuses as Latchkey records them.
const (
	WebviewPending    = "pending"
	WebviewAuthorized = "authorized"
	WebviewFailed     = "failed"
)

// ConnectWebview is a Seam Connect Webview that Latchkey issued to a user.
type ConnectWebview struct {
	ID                 string // Seam's connect_webview_id
	UserID             string
	URL                string
	Status             string // WebviewPending, WebviewAuthorized or WebviewFailed
	ConnectedAccountID string // set once authorized
	// ReconnectsAccountID is the user's account this webview reconnects; empty for a
	// new connection.
	ReconnectsAccountID string
	ErrorCode           string
	ErrorMessage        string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// ConnectedAccount records that a Seam connected account belongs to a user:
// the ownership check behind every device route.
type ConnectedAccount struct {
	ID               string // Seam's connected_account_id
	UserID           string
	ConnectWebviewID string
	DeviceCount      int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func validWebviewStatus(s string) bool {
	return s == WebviewPending || s == WebviewAuthorized || s == WebviewFailed
}

// CreateConnectWebview records a webview just issued to w.UserID. An empty
// Status means pending; zero times mean now. A reused id is ErrConflict.
func (db *DB) CreateConnectWebview(ctx context.Context, w ConnectWebview) error {
	if w.ID == "" || w.UserID == "" {
		return errors.New("create connect webview: id and user id are required")
	}
	if w.Status == "" {
		w.Status = WebviewPending
	}
	if !validWebviewStatus(w.Status) {
		return fmt.Errorf("create connect webview %s: invalid status %q", w.ID, w.Status)
	}
	created := nowOr(w.CreatedAt)
	updated := created
	if !w.UpdatedAt.IsZero() {
		updated = w.UpdatedAt
	}
	_, err := db.sql.ExecContext(ctx, `
INSERT INTO connect_webviews (id, user_id, url, status, connected_account_id, error_code, error_message, created_at, updated_at, reconnects_account_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		w.ID, w.UserID, w.URL, w.Status, nullString(w.ConnectedAccountID), w.ErrorCode, w.ErrorMessage,
		formatTime(created), formatTime(updated), nullString(w.ReconnectsAccountID))
	if isUniqueViolation(err) {
		return fmt.Errorf("create connect webview %s: %w", w.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create connect webview %s: %w", w.ID, err)
	}
	return nil
}

const webviewColumns = `id, user_id, url, status, connected_account_id, error_code, error_message, created_at, updated_at, reconnects_account_id`

// ConnectWebviewForUser returns the webview only if userID owns it; a missing
// webview and another user's are the same ErrNotFound.
func (db *DB) ConnectWebviewForUser(ctx context.Context, userID, webviewID string) (ConnectWebview, error) {
	row := db.sql.QueryRowContext(ctx,
		`SELECT `+webviewColumns+` FROM connect_webviews WHERE id = $1 AND user_id = $2`, webviewID, userID)
	w, err := scanWebview(row)
	if errors.Is(err, sql.ErrNoRows) {
		return ConnectWebview{}, fmt.Errorf("connect webview %s: %w", webviewID, ErrNotFound)
	}
	if err != nil {
		return ConnectWebview{}, fmt.Errorf("connect webview %s: %w", webviewID, err)
	}
	return w, nil
}

// WebviewEnd is how a Connect Webview ended, for FinishConnectWebview.
type WebviewEnd struct {
	WebviewID string
	// UserID is the webview's owner; another user's webview is not found.
	UserID string
	// Status is WebviewAuthorized or WebviewFailed.
	Status string
	// ConnectedAccountID is the account Seam confirmed (required when authorized). It is
	// recorded as the user's, with DeviceCount.
	ConnectedAccountID string
	DeviceCount        int
	// ErrorCode and ErrorMessage say why it failed.
	ErrorCode    string
	ErrorMessage string
	// At is when it ended; zero means now.
	At time.Time
	// Audit is appended in the same transaction, only by the call that ends the webview.
	Audit AuditEvent
}

// FinishConnectWebview ends a pending webview in one transaction: it moves the webview
// to end.Status only if it is still pending, records the connected account as the
// user's (when authorized) and appends end.Audit. changed reports whether this call
// ended the webview; one that had already ended is returned as it was recorded, so of
// any number of concurrent or repeated calls, from any instance, exactly one changes it
// and audits. Another user's webview, or none, is ErrNotFound; an account another user
// owns is ErrConflict, and then nothing changes.
func (db *DB) FinishConnectWebview(ctx context.Context, end WebviewEnd) (wv ConnectWebview, changed bool, err error) {
	switch {
	case end.WebviewID == "" || end.UserID == "":
		return ConnectWebview{}, false, errors.New("finish connect webview: webview id and user id are required")
	case end.Status != WebviewAuthorized && end.Status != WebviewFailed:
		return ConnectWebview{}, false, fmt.Errorf("finish connect webview %s: invalid final status %q", end.WebviewID, end.Status)
	case end.Status == WebviewAuthorized && end.ConnectedAccountID == "":
		return ConnectWebview{}, false, fmt.Errorf("finish connect webview %s: authorized without a connected account", end.WebviewID)
	}
	at := nowOr(end.At)
	if end.Audit.At.IsZero() {
		end.Audit.At = at
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		// The status condition is the rule: whoever moves the webview off pending first
		// ended it, and only that transaction records and audits.
		res, err := tx.ExecContext(ctx, `
UPDATE connect_webviews SET
    status = $3,
    connected_account_id = $4,
    error_code = $5,
    error_message = $6,
    updated_at = $7
WHERE id = $1 AND user_id = $2 AND status = 'pending'`,
			end.WebviewID, end.UserID, end.Status, nullString(end.ConnectedAccountID), end.ErrorCode, end.ErrorMessage,
			formatTime(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			if end.Status == WebviewAuthorized {
				if err := recordConnectedAccount(ctx, tx, ConnectedAccount{
					ID: end.ConnectedAccountID, UserID: end.UserID, ConnectWebviewID: end.WebviewID,
					DeviceCount: end.DeviceCount, CreatedAt: at,
				}); err != nil {
					return err
				}
			}
			if err := db.appendAudit(ctx, tx, end.Audit); err != nil {
				return err
			}
		}
		wv, err = scanWebview(tx.QueryRowContext(ctx,
			`SELECT `+webviewColumns+` FROM connect_webviews WHERE id = $1 AND user_id = $2`, end.WebviewID, end.UserID))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		changed = n == 1
		return err
	})
	if err != nil {
		return ConnectWebview{}, false, fmt.Errorf("finish connect webview %s: %w", end.WebviewID, err)
	}
	return wv, changed, nil
}

// WebviewExpired is the error code of a webview abandoned while pending: ExpireConnectWebviews
// ends it failed with this code.
const WebviewExpired = "expired"

// ExpireConnectWebviews ends the user's webviews still pending that were created before
// the given time: failed, with the error code WebviewExpired, so they are no longer
// offered as pending. A webview finishing at the same moment wins or loses as in
// FinishConnectWebview (the status condition); it returns how many expired.
func (db *DB) ExpireConnectWebviews(ctx context.Context, userID string, before, now time.Time) (int, error) {
	res, err := db.sql.ExecContext(ctx, `
UPDATE connect_webviews SET status = 'failed', error_code = $3, updated_at = $4
WHERE user_id = $1 AND status = 'pending' AND created_at < $2`,
		userID, formatTime(before), WebviewExpired, formatTime(nowOr(now)))
	if err != nil {
		return 0, fmt.Errorf("expire connect webviews: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire connect webviews: %w", err)
	}
	return int(n), nil
}

// RemoveConnectedAccount ends the user's ownership of an account (deleted at Seam): in
// one transaction its devices leave the copy, its ownership record is deleted and
// audit is appended. The trail keeps what it needs (the detail names the account);
// webviews keep their history. An account the user does not own is ErrNotFound.
func (db *DB) RemoveConnectedAccount(ctx context.Context, userID, accountID string, audit AuditEvent) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockKey(ctx, tx, "devices:"+userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM connected_accounts WHERE id = $1 AND user_id = $2`, accountID, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE connected_account_id = $1 AND user_id = $2`, accountID, userID); err != nil {
			return err
		}
		if audit.At.IsZero() {
			audit.At = time.Now()
		}
		return db.appendAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("remove connected account %s: %w", accountID, err)
	}
	return nil
}

// ListConnectWebviews returns the user's webviews, newest first.
func (db *DB) ListConnectWebviews(ctx context.Context, userID string) ([]ConnectWebview, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+webviewColumns+` FROM connect_webviews WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	return collect("list connect webviews", rows, err, scanWebview)
}

func scanWebview(s scanner) (ConnectWebview, error) {
	var w ConnectWebview
	var account, reconnects sql.NullString
	var created, updated string
	if err := s.Scan(&w.ID, &w.UserID, &w.URL, &w.Status, &account, &w.ErrorCode, &w.ErrorMessage, &created, &updated, &reconnects); err != nil {
		return ConnectWebview{}, err
	}
	w.ConnectedAccountID, w.ReconnectsAccountID = account.String, reconnects.String
	var err error
	if w.CreatedAt, err = parseTime(created); err != nil {
		return ConnectWebview{}, err
	}
	if w.UpdatedAt, err = parseTime(updated); err != nil {
		return ConnectWebview{}, err
	}
	return w, nil
}

// RecordConnectedAccount records that a.UserID owns connected account a.ID.
// Recording it again for the same user refreshes device_count and
// updated_at; an account already owned by another user is ErrConflict and
// stays theirs, because ownership is never re-assigned.
func (db *DB) RecordConnectedAccount(ctx context.Context, a ConnectedAccount) error {
	return recordConnectedAccount(ctx, db.sql, a)
}

// recordConnectedAccount is RecordConnectedAccount on db or inside a transaction.
func recordConnectedAccount(ctx context.Context, ex execer, a ConnectedAccount) error {
	if a.ID == "" || a.UserID == "" {
		return errors.New("record connected account: id and user id are required")
	}
	created := nowOr(a.CreatedAt)
	updated := created
	if !a.UpdatedAt.IsZero() {
		updated = a.UpdatedAt
	}
	// The conditional DO UPDATE touches no row when the owner differs, which
	// is how a foreign claim shows up without a second query.
	res, err := ex.ExecContext(ctx, `
INSERT INTO connected_accounts (id, user_id, connect_webview_id, device_count, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    device_count = excluded.device_count,
    updated_at = excluded.updated_at
WHERE connected_accounts.user_id = excluded.user_id`,
		a.ID, a.UserID, a.ConnectWebviewID, a.DeviceCount, formatTime(created), formatTime(updated))
	if err != nil {
		return fmt.Errorf("record connected account %s: %w", a.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record connected account %s: %w", a.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("record connected account %s: owned by another user: %w", a.ID, ErrConflict)
	}
	return nil
}

// ConnectedAccountsForUser returns the accounts the user owns, oldest first.
func (db *DB) ConnectedAccountsForUser(ctx context.Context, userID string) ([]ConnectedAccount, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT id, user_id, connect_webview_id, device_count, created_at, updated_at
FROM connected_accounts WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("connected accounts: %w", err)
	}
	defer rows.Close()
	var out []ConnectedAccount
	for rows.Next() {
		var a ConnectedAccount
		var created, updated string
		if err := rows.Scan(&a.ID, &a.UserID, &a.ConnectWebviewID, &a.DeviceCount, &created, &updated); err != nil {
			return nil, fmt.Errorf("connected accounts: %w", err)
		}
		if a.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("connected accounts: %w", err)
		}
		if a.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, fmt.Errorf("connected accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("connected accounts: %w", err)
	}
	return out, nil
}

// UserOwnsConnectedAccount is Latchkey's own ownership check (the third one
// in DESIGN.md): true only for an account recorded for this user.
func (db *DB) UserOwnsConnectedAccount(ctx context.Context, userID, accountID string) (bool, error) {
	if userID == "" || accountID == "" {
		return false, nil
	}
	var owns bool
	err := db.sql.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM connected_accounts WHERE id = $1 AND user_id = $2)`, accountID, userID,
	).Scan(&owns)
	if err != nil {
		return false, fmt.Errorf("connected account %s ownership: %w", accountID, err)
	}
	return owns, nil
}

// SetDeviceCounts stores how many devices each of the user's accounts has
// (accountID → count). Accounts the user does not own are left untouched.
func (db *DB) SetDeviceCounts(ctx context.Context, userID string, counts map[string]int, now time.Time) error {
	if len(counts) == 0 {
		return nil
	}
	at := formatTime(nowOr(now))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			`UPDATE connected_accounts SET device_count = $1, updated_at = $2 WHERE id = $3 AND user_id = $4`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, n := range counts {
			if _, err := stmt.ExecContext(ctx, n, at, id, userID); err != nil {
				return fmt.Errorf("account %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set device counts: %w", err)
	}
	return nil
}
