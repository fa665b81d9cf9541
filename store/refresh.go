package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SessionRefreshTokenKey is the session value a sign-in puts the IdP's refresh token
// in; the store moves it into the row's oidc_refresh_token when the session is first
// saved and keeps it out of the session's data from then on.
const SessionRefreshTokenKey = "oidc_refresh_token"

// ErrRefreshLeaseLost: the session ended, or another instance holds its refresh now.
var ErrRefreshLeaseLost = errors.New("store: the session's refresh lease was lost")

// RefreshLease is a claimed right to use a session's refresh token once.
type RefreshLease struct {
	SessionToken string
	RefreshToken string
	ID           string
}

// ClaimSessionRefresh claims the refresh of the session with token sessionToken when it
// has a refresh token, was last refreshed at least interval before now, and no lease is
// running: one instance at a time wins (the UPDATE is the compare-and-swap), for
// leaseFor. ok is false when there is nothing to do or another instance has it.
func (db *DB) ClaimSessionRefresh(ctx context.Context, sessionToken string, now time.Time, interval, leaseFor time.Duration) (RefreshLease, bool, error) {
	l := RefreshLease{SessionToken: sessionToken, ID: rand.Text()}
	err := db.sql.QueryRowContext(ctx, `
UPDATE sessions SET oidc_refresh_lease = $2, oidc_refresh_lease_until = $3
WHERE token = $1 AND oidc_refresh_token IS NOT NULL AND expiry > $4
  AND (oidc_refreshed_at IS NULL OR oidc_refreshed_at <= $5)
  AND (oidc_refresh_lease_until IS NULL OR oidc_refresh_lease_until <= $4)
RETURNING oidc_refresh_token`,
		sessionToken, l.ID, formatTime(now.Add(leaseFor)), formatTime(now), formatTime(now.Add(-interval))).Scan(&l.RefreshToken)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshLease{}, false, nil
	}
	if err != nil {
		return RefreshLease{}, false, fmt.Errorf("claim session refresh: %w", err)
	}
	return l, true, nil
}

// RefreshDone is what a refresh at the IdP brought.
type RefreshDone struct {
	Lease RefreshLease
	At    time.Time
	// NewRefreshToken replaces the old one ("" keeps it: the IdP did not rotate).
	NewRefreshToken string
	// Claims are the new ID token's, for the session's user; nil when the IdP sent no
	// ID token: the session then keeps the account but loses admin rights until the
	// next sign-in.
	Claims *Login
}

// CompleteSessionRefresh stores a refresh's outcome under the lease that claimed it
// (ErrRefreshLeaseLost otherwise): the new refresh token and refresh time, the admin
// flag, and the new claims on the session's user (only when the ID token is the same
// issuer and subject). It returns the session's user as they now are.
func (db *DB) CompleteSessionRefresh(ctx context.Context, d RefreshDone) (User, error) {
	var u User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var userID string
		err := tx.QueryRowContext(ctx, `
UPDATE sessions SET oidc_refresh_token = COALESCE(NULLIF($3, ''), oidc_refresh_token), oidc_refreshed_at = $4,
    oidc_refresh_lease = NULL, oidc_refresh_lease_until = NULL, oidc_admin_dropped = $5
WHERE token = $1 AND oidc_refresh_lease = $2
RETURNING COALESCE(user_id, '')`,
			d.Lease.SessionToken, d.Lease.ID, d.NewRefreshToken, formatTime(d.At), d.Claims == nil).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrRefreshLeaseLost
		}
		if err != nil {
			return err
		}
		if c := d.Claims; c != nil {
			res, err := tx.ExecContext(ctx, `
UPDATE users SET email = $4, email_verified = $5, name = $6, is_admin = $7
WHERE id = $1 AND issuer = $2 AND subject = $3`,
				userID, c.Issuer, c.Subject, c.Email, c.EmailVerified, c.Name, c.IsAdmin)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errors.New("the refreshed ID token names another user")
			}
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `
SELECT u.id, u.issuer, u.subject, u.email, u.email_verified, u.name, u.is_admin AND NOT s.oidc_admin_dropped,
       u.created_at, u.last_login_at, u.time_zone, u.disabled_at
FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1`, d.Lease.SessionToken))
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("complete session refresh: %w", err)
	}
	return u, nil
}

// EndRefusedSession deletes the session whose refresh the IdP refused, under the lease
// that claimed it, with audit appended in the same transaction; it returns the user
// whose session ended ("" when the lease was lost, and nothing was ended).
func (db *DB) EndRefusedSession(ctx context.Context, l RefreshLease, audit AuditEvent) (string, error) {
	var userID string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE token = $1 AND oidc_refresh_lease = $2 RETURNING COALESCE(user_id, '')`,
			l.SessionToken, l.ID).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		audit.SubjectUserID, audit.ActorID = userID, userID
		return db.appendAudit(ctx, tx, audit)
	})
	if err != nil {
		return "", fmt.Errorf("end refused session: %w", err)
	}
	return userID, nil
}
