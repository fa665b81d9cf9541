package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Action attempt actions and statuses, as Seam names them.
const (
	ActionUnlock = "unlock"
	ActionLock   = "lock"

	AttemptPending = "pending"
	AttemptSuccess = "success"
	AttemptError   = "error"
	AttemptTimeout = "timeout"
)

// Bounds for LatestActionAttempts.
const (
	defaultAttemptLimit = 10
	maxAttemptLimit     = 100
)

// ActionAttempt is an unlock or lock that a user started on a device; it
// answers only that user.
type ActionAttempt struct {
	ID         string // Seam's action_attempt_id
	UserID     string
	DeviceID   string
	Action     string // ActionUnlock or ActionLock
	Status     string // AttemptPending, AttemptSuccess, AttemptError or AttemptTimeout
	Error      string
	CreatedAt  time.Time
	FinishedAt *time.Time // nil while pending
}

const attemptColumns = `id, user_id, device_id, action, status, error, created_at, finished_at`

// CreateActionAttempt records an attempt Seam just accepted. An empty Status
// means pending; a zero CreatedAt means now. A reused id is ErrConflict.
func (db *DB) CreateActionAttempt(ctx context.Context, a ActionAttempt) error {
	if a.ID == "" || a.UserID == "" || a.DeviceID == "" {
		return errors.New("create action attempt: id, user id and device id are required")
	}
	if a.Action != ActionUnlock && a.Action != ActionLock {
		return fmt.Errorf("create action attempt %s: invalid action %q", a.ID, a.Action)
	}
	if a.Status == "" {
		a.Status = AttemptPending
	}
	var finished sql.NullString
	if a.FinishedAt != nil {
		finished = sql.NullString{String: formatTime(*a.FinishedAt), Valid: true}
	}
	_, err := db.sql.ExecContext(ctx, `
INSERT INTO action_attempts (`+attemptColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.UserID, a.DeviceID, a.Action, a.Status, a.Error, formatTime(nowOr(a.CreatedAt)), finished)
	if isUniqueViolation(err) {
		return fmt.Errorf("create action attempt %s: %w", a.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create action attempt %s: %w", a.ID, err)
	}
	return nil
}

// ActionAttemptForUser returns the attempt only if userID started it; a
// missing attempt and another user's are the same ErrNotFound.
func (db *DB) ActionAttemptForUser(ctx context.Context, userID, attemptID string) (ActionAttempt, error) {
	row := db.sql.QueryRowContext(ctx,
		`SELECT `+attemptColumns+` FROM action_attempts WHERE id = $1 AND user_id = $2`, attemptID, userID)
	a, err := scanAttempt(row)
	if errors.Is(err, sql.ErrNoRows) {
		return ActionAttempt{}, fmt.Errorf("action attempt %s: %w", attemptID, ErrNotFound)
	}
	if err != nil {
		return ActionAttempt{}, fmt.Errorf("action attempt %s: %w", attemptID, err)
	}
	return a, nil
}

// PendingActionAttempt returns the user's newest still-pending attempt on the
// device created at or after since, or ErrNotFound; it stops double clicks
// from starting a second unlock.
func (db *DB) PendingActionAttempt(ctx context.Context, userID, deviceID string, since time.Time) (ActionAttempt, error) {
	row := db.sql.QueryRowContext(ctx, `
SELECT `+attemptColumns+` FROM action_attempts
WHERE device_id = $1 AND status = 'pending' AND user_id = $2 AND created_at >= $3
ORDER BY created_at DESC, id DESC
LIMIT 1`, deviceID, userID, formatTime(since))
	a, err := scanAttempt(row)
	if errors.Is(err, sql.ErrNoRows) {
		return ActionAttempt{}, fmt.Errorf("pending action attempt on %s: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return ActionAttempt{}, fmt.Errorf("pending action attempt on %s: %w", deviceID, err)
	}
	return a, nil
}

// PendingActionAttempts returns every pending attempt, oldest first, so that
// following them resumes after a restart.
func (db *DB) PendingActionAttempts(ctx context.Context) ([]ActionAttempt, error) {
	return db.queryAttempts(ctx, "pending action attempts", `
SELECT `+attemptColumns+` FROM action_attempts WHERE status = 'pending' ORDER BY created_at, id`)
}

// FinishActionAttempt moves a pending attempt to its final status and reports
// whether it did; only the first caller sees true, so the outcome is audited
// exactly once however many pollers and followers race to it.
func (db *DB) FinishActionAttempt(ctx context.Context, id, status, errMsg string, at time.Time) (bool, error) {
	if status != AttemptSuccess && status != AttemptError && status != AttemptTimeout {
		return false, fmt.Errorf("finish action attempt %s: invalid final status %q", id, status)
	}
	res, err := db.sql.ExecContext(ctx, `
UPDATE action_attempts SET status = $2, error = $3, finished_at = $4
WHERE id = $1 AND status = 'pending'`, id, status, errMsg, formatTime(nowOr(at)))
	if err != nil {
		return false, fmt.Errorf("finish action attempt %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("finish action attempt %s: %w", id, err)
	}
	return n == 1, nil
}

// CountActionAttemptsSince counts the attempts the user started at or after
// since, for rate limiting.
func (db *DB) CountActionAttemptsSince(ctx context.Context, userID string, since time.Time) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM action_attempts WHERE user_id = $1 AND created_at >= $2`,
		userID, formatTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count action attempts: %w", err)
	}
	return n, nil
}

// LatestActionAttempts returns the user's newest attempts on the device (on
// all their devices when deviceID is empty), at most limit of them
// (10 when limit <= 0, never more than 100).
func (db *DB) LatestActionAttempts(ctx context.Context, userID, deviceID string, limit int) ([]ActionAttempt, error) {
	if limit <= 0 {
		limit = defaultAttemptLimit
	}
	limit = min(limit, maxAttemptLimit)
	return db.queryAttempts(ctx, "latest action attempts", `
SELECT `+attemptColumns+` FROM action_attempts
WHERE user_id = $1 AND ($2 = '' OR device_id = $2)
ORDER BY created_at DESC, id DESC
LIMIT $3`, userID, deviceID, limit)
}

func (db *DB) queryAttempts(ctx context.Context, what, query string, args ...any) ([]ActionAttempt, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []ActionAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func scanAttempt(s scanner) (ActionAttempt, error) {
	var a ActionAttempt
	var created string
	var finished sql.NullString
	if err := s.Scan(&a.ID, &a.UserID, &a.DeviceID, &a.Action, &a.Status, &a.Error, &created, &finished); err != nil {
		return ActionAttempt{}, err
	}
	var err error
	if a.CreatedAt, err = parseTime(created); err != nil {
		return ActionAttempt{}, err
	}
	if finished.Valid {
		t, err := parseTime(finished.String)
		if err != nil {
			return ActionAttempt{}, err
		}
		a.FinishedAt = &t
	}
	return a, nil
}
