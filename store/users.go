package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// User is a person who signed in through the OpenID Provider.
type User struct {
	ID            string // random UUID, also Seam's user_identifier_key
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	IsAdmin       bool
	CreatedAt     time.Time
	LastLoginAt   time.Time
	// DisabledAt is when an admin disabled the user; nil while they may sign in.
	DisabledAt *time.Time
	// TimeZone is the IANA zone pages show times in; "" until the browser reports it
	// or the user chooses one (pages then show UTC, labelled).
	TimeZone string
	// ListingVersion is raised by the database on every change to the user's devices or
	// action attempts (migration 014), so a device list read at one version still holds
	// at the same version. Only the session load reads it, and only on SQLite; 0 means
	// unknown (nothing may be cached on it).
	ListingVersion int64
}

// Disabled reports whether an admin disabled the user: they cannot sign in, have no
// session, and cannot act on their locks.
func (u User) Disabled() bool { return u.DisabledAt != nil }

// Login is what a verified ID token says about the person signing in.
type Login struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	IsAdmin       bool
}

// UserSummary is a user with the size of what they connected, for admins.
type UserSummary struct {
	User
	DeviceCount  int
	AccountCount int
}

const userColumns = `id, issuer, subject, email, email_verified, name, is_admin, created_at, last_login_at, time_zone`

// userSelect is what scanUser reads: userColumns and whether the user is disabled.
const userSelect = userColumns + `, disabled_at`

// UpsertUserAtLogin finds the user by (issuer, subject) or creates one with a
// new random id, and refreshes what the IdP may have changed since: email,
// its verification, name and admin status, which are re-evaluated at every login.
func (db *DB) UpsertUserAtLogin(ctx context.Context, l Login, now time.Time) (User, error) {
	if l.Issuer == "" || l.Subject == "" {
		return User{}, errors.New("upsert user: issuer and subject are required")
	}
	at := formatTime(nowOr(now))
	row := db.sql.QueryRowContext(ctx, `
INSERT INTO users (`+userColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, '')
ON CONFLICT (issuer, subject) DO UPDATE SET
    email = excluded.email,
    email_verified = excluded.email_verified,
    name = excluded.name,
    is_admin = excluded.is_admin,
    last_login_at = CASE WHEN users.disabled_at IS NULL THEN excluded.last_login_at ELSE users.last_login_at END
RETURNING `+userSelect,
		uuid.NewString(), l.Issuer, l.Subject, l.Email, l.EmailVerified, l.Name, l.IsAdmin, at)
	u, err := scanUser(row)
	if err != nil {
		return User{}, fmt.Errorf("upsert user %s at %s: %w", l.Subject, l.Issuer, err)
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (User, error) {
	row := db.queryRowCached(ctx, `SELECT `+userSelect+` FROM users WHERE id = $1`, id)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// SetUserTimeZone remembers the IANA zone the user's pages show times in ("" forgets
// it). The caller validates the name; an unknown user is ErrNotFound.
func (db *DB) SetUserTimeZone(ctx context.Context, userID, zone string) error {
	res, err := db.sql.ExecContext(ctx, `UPDATE users SET time_zone = $1 WHERE id = $2`, clean(zone, maxTimeZoneBytes), userID)
	if err != nil {
		return fmt.Errorf("set time zone of %s: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set time zone of %s: %w", userID, ErrNotFound)
	}
	return nil
}

// maxTimeZoneBytes bounds a stored zone name (the longest IANA name is about 30).
const maxTimeZoneBytes = 64

// ListUsers returns every user ordered by email, with their connected
// accounts and devices counted in the same query.
func (db *DB) ListUsers(ctx context.Context) ([]UserSummary, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT u.id, u.issuer, u.subject, u.email, u.email_verified, u.name, u.is_admin, u.created_at, u.last_login_at, u.time_zone, u.disabled_at,
       COALESCE(a.devices, 0), COALESCE(a.accounts, 0)
FROM users u
LEFT JOIN (
    SELECT user_id, SUM(device_count) AS devices, COUNT(*) AS accounts
    FROM connected_accounts
    GROUP BY user_id
) a ON a.user_id = u.id
ORDER BY lower(u.email), u.email, u.id`)
	return collect("list users", rows, err, func(s scanner) (UserSummary, error) {
		var sum UserSummary
		u, err := scanUser(s, &sum.DeviceCount, &sum.AccountCount)
		sum.User = u
		return sum, err
	})
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row of a query with scan (or reports the query's error), each
// failure wrapped with what was being read.
func collect[T any](what string, rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	var out []T
	if err := each(what, rows, err, scan, func(v T) error { out = append(out, v); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// each streams a query's rows: scan reads each, fn takes it. Query and scan errors are
// wrapped with what; fn's own error ends the walk and is returned as it is.
func each[T any](what string, rows *sql.Rows, err error, scan func(scanner) (T, error), fn func(T) error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// scanUser reads userSelect, then any extra columns into extra.
func scanUser(s scanner, extra ...any) (User, error) {
	// One allocation for everything Scan writes to (it runs on every page view).
	var v struct {
		u                  User
		created, lastLogin string
		disabled           sql.NullString
	}
	u := &v.u
	dest := append([]any{&u.ID, &u.Issuer, &u.Subject, &u.Email, &u.EmailVerified, &u.Name, &u.IsAdmin, &v.created, &v.lastLogin, &u.TimeZone, &v.disabled}, extra...)
	if err := s.Scan(dest...); err != nil {
		return User{}, err
	}
	var err error
	if u.DisabledAt, err = parseNullTime(v.disabled); err != nil {
		return User{}, err
	}
	if u.CreatedAt, err = parseTime(v.created); err != nil {
		return User{}, err
	}
	if u.LastLoginAt, err = parseTime(v.lastLogin); err != nil {
		return User{}, err
	}
	return *u, nil
}

// ErrUserDisabled is returned (possibly wrapped) for a write on behalf of a user an
// admin disabled: checked inside the transaction that records the write.
var ErrUserDisabled = errors.New("store: user disabled")

// UserDisabling disables or enables a user, with the audit event that says so.
type UserDisabling struct {
	UserID   string
	Disabled bool
	At       time.Time
	// Audit is appended in the same transaction; an empty Detail says how many sessions
	// ended.
	Audit AuditEvent
}

// SetUserDisabled disables or enables the user. Disabling deletes every session of
// theirs in the same transaction (so every instance treats them as signed out at once)
// and takes the lock BeginAction holds, so an action being recorded for them either
// commits first or sees them disabled. It returns the user as they are now and the
// ended sessions' tokens. Disabling a disabled user keeps the first time.
func (db *DB) SetUserDisabled(ctx context.Context, d UserDisabling) (User, []string, error) {
	var u User
	var tokens []string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockUserActions(ctx, tx, d.UserID); err != nil {
			return err
		}
		set, args := `disabled_at = NULL`, []any{d.UserID}
		if d.Disabled {
			set, args = `disabled_at = COALESCE(disabled_at, $2)`, append(args, formatTime(nowOr(d.At)))
		}
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET `+set+` WHERE id = $1 RETURNING `+userSelect, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if d.Disabled {
			if tokens, err = deleteSessions(ctx, tx, EndSessions{UserID: d.UserID}); err != nil {
				return err
			}
			if d.Audit.Detail == "" {
				d.Audit.Detail = sessionsEnded(len(tokens))
			}
		}
		if d.Audit.Action == "" {
			return nil
		}
		return db.appendAudit(ctx, tx, d.Audit)
	})
	if err != nil {
		return User{}, nil, fmt.Errorf("set user %s disabled=%t: %w", d.UserID, d.Disabled, err)
	}
	return u, tokens, nil
}

// checkNotDisabled refuses, inside tx, a write on behalf of a disabled user.
func checkNotDisabled(ctx context.Context, tx *sql.Tx, userID string) error {
	var disabled sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT disabled_at FROM users WHERE id = $1`, userID).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the foreign key refuses an unknown user
	}
	if err != nil {
		return err
	}
	if disabled.Valid {
		return ErrUserDisabled
	}
	return nil
}
