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
	// TimeZone is the IANA zone pages show times in; "" until the browser reports it
	// or the user chooses one (pages then show UTC, labelled).
	TimeZone string
}

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
    last_login_at = excluded.last_login_at
RETURNING `+userColumns,
		uuid.NewString(), l.Issuer, l.Subject, l.Email, l.EmailVerified, l.Name, l.IsAdmin, at)
	u, err := scanUser(row)
	if err != nil {
		return User{}, fmt.Errorf("upsert user %s at %s: %w", l.Subject, l.Issuer, err)
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (User, error) {
	row := db.queryRowCached(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
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
SELECT u.id, u.issuer, u.subject, u.email, u.email_verified, u.name, u.is_admin, u.created_at, u.last_login_at, u.time_zone,
       COALESCE(a.devices, 0), COALESCE(a.accounts, 0)
FROM users u
LEFT JOIN (
    SELECT user_id, SUM(device_count) AS devices, COUNT(*) AS accounts
    FROM connected_accounts
    GROUP BY user_id
) a ON a.user_id = u.id
ORDER BY lower(u.email), u.email, u.id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []UserSummary
	for rows.Next() {
		var s UserSummary
		u, err := scanUser(rows, &s.DeviceCount, &s.AccountCount)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		s.User = u
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row of a query with scan (or reports the query's error), each
// failure wrapped with what was being read.
func collect[T any](what string, rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// scanUser reads userColumns, then any extra columns into extra.
func scanUser(s scanner, extra ...any) (User, error) {
	var u User
	var created, lastLogin string
	dest := append([]any{&u.ID, &u.Issuer, &u.Subject, &u.Email, &u.EmailVerified, &u.Name, &u.IsAdmin, &created, &lastLogin, &u.TimeZone}, extra...)
	if err := s.Scan(dest...); err != nil {
		return User{}, err
	}
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return User{}, err
	}
	if u.LastLoginAt, err = parseTime(lastLogin); err != nil {
		return User{}, err
	}
	return u, nil
}
