package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Actions a user can start on a lock.
const (
	ActionUnlock = "unlock"
	ActionLock   = "lock"
)

// Action attempt statuses. Requested and pending are open; the others are final.
const (
	// AttemptRequested: recorded with its audit event, Seam not (yet) known to have it.
	AttemptRequested = "requested"
	// AttemptPending: Seam accepted it and is working on it.
	AttemptPending = "pending"
	AttemptSuccess = "success"
	AttemptError   = "error"
	// AttemptTimeout: Seam still said pending when the follow bound passed.
	AttemptTimeout = "timeout"
	// AttemptUnknown: it may have reached Seam, but no answer was recorded.
	AttemptUnknown = "unknown"
	// AttemptNotSent: Latchkey did not send it, or Seam refused it before acting.
	AttemptNotSent = "not_sent"
)

// IsOpenStatus reports whether an attempt in status may still change.
func IsOpenStatus(status string) bool {
	return status == AttemptRequested || status == AttemptPending
}

func validAttemptStatus(s string) bool {
	switch s {
	case AttemptRequested, AttemptPending, AttemptSuccess, AttemptError, AttemptTimeout, AttemptUnknown, AttemptNotSent:
		return true
	}
	return false
}

// Bounds for LatestActionAttempts.
const (
	defaultAttemptLimit = 10
	maxAttemptLimit     = 100
)

// ActionAttempt is an unlock or lock that a user started on a device; it
// answers only that user.
type ActionAttempt struct {
	ID       string // Latchkey's UUID, used in URLs
	SeamID   string // Seam's action_attempt_id, once Seam accepted it
	UserID   string
	DeviceID string
	// DeviceName is the device's name when the action was requested.
	DeviceName string
	Action     string // ActionUnlock or ActionLock
	Status     string // one of the Attempt* statuses
	Error      string
	// ClaimedUntil is the lease of whoever is working on the attempt (the request
	// that sends it, then a follower); nil when nobody holds it.
	ClaimedUntil *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	FinishedAt   *time.Time // nil while open
}

// Open reports whether the attempt may still change.
func (a ActionAttempt) Open() bool { return IsOpenStatus(a.Status) }

const attemptColumns = `id, seam_action_attempt_id, user_id, device_id, device_name, action, status, error, claimed_until, created_at, updated_at, finished_at`

// NewAction is an action to record before Seam is told about it.
type NewAction struct {
	// Attempt is the row: ID, UserID, DeviceID, Action, CreatedAt and the sender's
	// lease (ClaimedUntil) are used; its status is always AttemptRequested.
	Attempt ActionAttempt
	// Limit is how many actions the user may start in Window before CreatedAt.
	Limit  int
	Window time.Duration
	// Audit is committed with the row (device.<action>.requested).
	Audit AuditEvent
}

// OpenActionError says a device already has an open action, which it carries.
type OpenActionError struct{ Open ActionAttempt }

func (e *OpenActionError) Error() string {
	return fmt.Sprintf("device %s has an open %s action (%s)", e.Open.DeviceID, e.Open.Action, e.Open.Status)
}

// LimitError says the user reached the action limit; Oldest is the oldest action
// counted, so the caller can say when the next one will be allowed.
type LimitError struct {
	Count  int
	Oldest time.Time
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("action limit reached: %d actions since %s", e.Count, e.Oldest.Format(time.RFC3339))
}

// BeginAction records an action as requested, with its audit event, in one
// transaction that first refuses it when the device has an open action
// (*OpenActionError), the user reached the limit (*LimitError) or an admin disabled
// the user (ErrUserDisabled). Every row the user created in the window counts,
// whatever its status. The partial unique index on open actions holds the first rule
// even against a writer that skipped this method.
func (db *DB) BeginAction(ctx context.Context, n NewAction) (ActionAttempt, error) {
	a := n.Attempt
	if a.ID == "" || a.UserID == "" || a.DeviceID == "" {
		return ActionAttempt{}, errors.New("begin action: id, user id and device id are required")
	}
	if a.Action != ActionUnlock && a.Action != ActionLock {
		return ActionAttempt{}, fmt.Errorf("begin action %s: invalid action %q", a.ID, a.Action)
	}
	if n.Limit <= 0 || n.Window <= 0 {
		return ActionAttempt{}, fmt.Errorf("begin action %s: limit and window are required", a.ID)
	}
	a.Status, a.Error, a.SeamID, a.FinishedAt = AttemptRequested, "", "", nil
	a.CreatedAt = nowOr(a.CreatedAt)
	a.UpdatedAt = a.CreatedAt
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockUserActions(ctx, tx, a.UserID); err != nil {
			return err
		}
		// Under the same lock as SetUserDisabled: a user disabled before this
		// transaction is seen here, on any instance.
		if err := checkNotDisabled(ctx, tx, a.UserID); err != nil {
			return err
		}
		open, err := scanAttempt(tx.QueryRowContext(ctx, `
SELECT `+attemptColumns+` FROM action_attempts
WHERE device_id = $1 AND status IN ('requested', 'pending')`, a.DeviceID))
		switch {
		case err == nil:
			return &OpenActionError{Open: open}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var count int
		var oldest sql.NullString
		if err := tx.QueryRowContext(ctx, `
SELECT COUNT(*), MIN(created_at) FROM action_attempts WHERE user_id = $1 AND created_at > $2`,
			a.UserID, formatTime(a.CreatedAt.Add(-n.Window))).Scan(&count, &oldest); err != nil {
			return err
		}
		if count >= n.Limit {
			le := &LimitError{Count: count, Oldest: a.CreatedAt}
			if oldest.Valid {
				if le.Oldest, err = parseTime(oldest.String); err != nil {
					return err
				}
			}
			return le
		}
		// DO NOTHING rather than an error: a PostgreSQL transaction would be aborted
		// half-way by a unique violation.
		res, err := tx.ExecContext(ctx, `
INSERT INTO action_attempts (id, user_id, device_id, device_name, action, status, claimed_until, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING`,
			a.ID, a.UserID, a.DeviceID, clean(a.DeviceName, maxDetailBytes), a.Action, a.Status, nullTime(a.ClaimedUntil),
			formatTime(a.CreatedAt), formatTime(a.UpdatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrConflict
		}
		n.Audit.ActionAttemptID = a.ID
		if n.Audit.At.IsZero() {
			n.Audit.At = a.CreatedAt
		}
		return db.appendAudit(ctx, tx, n.Audit)
	})
	var oe *OpenActionError
	var le *LimitError
	switch {
	case errors.As(err, &oe), errors.As(err, &le):
		return ActionAttempt{}, err
	case errors.Is(err, ErrUserDisabled):
		return ActionAttempt{}, fmt.Errorf("begin action %s: %w", a.ID, err)
	case errors.Is(err, ErrConflict):
		// Another writer opened an action on the device between our check and insert.
		if open, qerr := db.openAction(ctx, a.DeviceID); qerr == nil {
			return ActionAttempt{}, &OpenActionError{Open: open}
		}
		return ActionAttempt{}, fmt.Errorf("begin action %s: %w", a.ID, err)
	case err != nil:
		return ActionAttempt{}, fmt.Errorf("begin action %s: %w", a.ID, err)
	}
	a.UpdatedAt = a.CreatedAt
	return a, nil
}

// CountActionsSince counts the actions the user started after since and returns the
// oldest of them: a cheap check before asking Seam anything, which BeginAction repeats
// atomically with its insert.
func (db *DB) CountActionsSince(ctx context.Context, userID string, since time.Time) (int, time.Time, error) {
	var count int
	var oldest sql.NullString
	if err := db.sql.QueryRowContext(ctx, `
SELECT COUNT(*), MIN(created_at) FROM action_attempts WHERE user_id = $1 AND created_at > $2`,
		userID, formatTime(since)).Scan(&count, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("count actions: %w", err)
	}
	var t time.Time
	if oldest.Valid {
		var err error
		if t, err = parseTime(oldest.String); err != nil {
			return 0, time.Time{}, fmt.Errorf("count actions: %w", err)
		}
	}
	return count, t, nil
}

// lockUserActions serialises one user's BeginAction calls, so the limit is
// counted atomically with the insert. SQLite's immediate transaction already
// holds the database's one write lock; PostgreSQL takes a per-user advisory
// transaction lock here.
func (db *DB) lockUserActions(ctx context.Context, tx *sql.Tx, userID string) error {
	return db.lockKey(ctx, tx, "actions:"+userID)
}

func (db *DB) openAction(ctx context.Context, deviceID string) (ActionAttempt, error) {
	return scanAttempt(db.sql.QueryRowContext(ctx, `
SELECT `+attemptColumns+` FROM action_attempts
WHERE device_id = $1 AND status IN ('requested', 'pending')`, deviceID))
}

// Transition moves an attempt to a new status.
type Transition struct {
	ID string
	// From are the statuses the attempt must be in for the change to happen.
	From []string
	To   string
	// SeamID is recorded when not empty.
	SeamID string
	Error  string
	At     time.Time
	// ClaimedUntil replaces the lease; nil releases it.
	ClaimedUntil *time.Time
	// Audit is appended in the same transaction when the attempt changed; the
	// attempt's id is filled in. An empty Action appends nothing.
	Audit AuditEvent
}

// TransitionAction applies t and returns the attempt as it is afterwards, and
// whether this call changed it. Only the first of racing callers sees true, and
// the audit event is committed only with the change, so each outcome is
// audited exactly once; if the audit write fails, nothing changes.
func (db *DB) TransitionAction(ctx context.Context, t Transition) (ActionAttempt, bool, error) {
	if !validAttemptStatus(t.To) || len(t.From) == 0 {
		return ActionAttempt{}, false, fmt.Errorf("transition action %s: invalid transition %v → %q", t.ID, t.From, t.To)
	}
	at := nowOr(t.At)
	var finished sql.NullString
	if !IsOpenStatus(t.To) {
		finished = sql.NullString{String: formatTime(at), Valid: true}
	}
	args := []any{t.ID, t.To, t.Error, nullTime(t.ClaimedUntil), formatTime(at), finished, t.SeamID}
	placeholders := make([]string, len(t.From))
	for i, s := range t.From {
		args = append(args, s)
		placeholders[i] = fmt.Sprintf("$%d", len(args))
	}
	var changed bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE action_attempts
SET status = $2, error = $3, claimed_until = $4, updated_at = $5, finished_at = $6,
    seam_action_attempt_id = COALESCE(NULLIF($7, ''), seam_action_attempt_id)
WHERE id = $1 AND status IN (`+strings.Join(placeholders, ", ")+`)`, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		changed = n == 1
		if !changed || t.Audit.Action == "" {
			return nil
		}
		t.Audit.ActionAttemptID = t.ID
		if t.Audit.At.IsZero() {
			t.Audit.At = at
		}
		return db.appendAudit(ctx, tx, t.Audit)
	})
	if err != nil {
		return ActionAttempt{}, false, fmt.Errorf("transition action %s to %s: %w", t.ID, t.To, err)
	}
	a, err := scanAttempt(db.sql.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM action_attempts WHERE id = $1`, t.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionAttempt{}, false, fmt.Errorf("transition action %s: %w", t.ID, ErrNotFound)
	}
	if err != nil {
		return ActionAttempt{}, changed, fmt.Errorf("transition action %s: %w", t.ID, err)
	}
	return a, changed, nil
}

// ClaimOpenActions takes the lease, until the given time, of at most limit open
// attempts whose lease is free or has passed at now, oldest first, in one UPDATE
// … RETURNING:
// each is followed by one worker at a time, and a dead worker's attempts go to
// whoever claims after its lease.
func (db *DB) ClaimOpenActions(ctx context.Context, now, until time.Time, limit int) ([]ActionAttempt, error) {
	if limit <= 0 {
		return nil, nil
	}
	// On PostgreSQL, SKIP LOCKED lets workers claiming at the same moment take
	// different actions instead of queueing on the same rows; SQLite has one writer.
	skipLocked := ""
	if db.dialect == postgresDialect {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	return db.queryAttempts(ctx, "claim open actions", `
UPDATE action_attempts SET claimed_until = $1
WHERE id IN (
    SELECT id FROM action_attempts
    WHERE status IN ('requested', 'pending') AND (claimed_until IS NULL OR claimed_until <= $2)
    ORDER BY created_at, id
    LIMIT $3`+skipLocked+`)
  AND status IN ('requested', 'pending') AND (claimed_until IS NULL OR claimed_until <= $2)
RETURNING `+attemptColumns, formatTime(until), formatTime(now), limit)
}

// ReleaseAction ends a lease early (at until), so the next claim after that may
// take the attempt; it does nothing to a finished attempt.
func (db *DB) ReleaseAction(ctx context.Context, id string, until time.Time) error {
	if _, err := db.sql.ExecContext(ctx, `
UPDATE action_attempts SET claimed_until = $2 WHERE id = $1 AND status IN ('requested', 'pending')`,
		id, formatTime(until)); err != nil {
		return fmt.Errorf("release action %s: %w", id, err)
	}
	return nil
}

// ActionAttemptForUser returns the attempt only if userID started it; a
// missing attempt and another user's are the same ErrNotFound.
func (db *DB) ActionAttemptForUser(ctx context.Context, userID, attemptID string) (ActionAttempt, error) {
	row := db.queryRowCached(ctx,
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

// ActionBySeamID returns the attempt Seam knows by seamID, or ErrNotFound.
func (db *DB) ActionBySeamID(ctx context.Context, seamID string) (ActionAttempt, error) {
	a, err := scanAttempt(db.sql.QueryRowContext(ctx,
		`SELECT `+attemptColumns+` FROM action_attempts WHERE seam_action_attempt_id = $1`, seamID))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionAttempt{}, fmt.Errorf("action attempt with Seam id %s: %w", seamID, ErrNotFound)
	}
	if err != nil {
		return ActionAttempt{}, fmt.Errorf("action attempt with Seam id %s: %w", seamID, err)
	}
	return a, nil
}

// LatestUnknownAction returns the newest action of kind on the device left unknown
// and created before the given time, or ErrNotFound.
func (db *DB) LatestUnknownAction(ctx context.Context, deviceID, action string, before time.Time) (ActionAttempt, error) {
	a, err := scanAttempt(db.sql.QueryRowContext(ctx, `
SELECT `+attemptColumns+` FROM action_attempts
WHERE device_id = $1 AND action = $2 AND status = 'unknown' AND created_at < $3
ORDER BY created_at DESC, id DESC LIMIT 1`, deviceID, action, formatTime(before)))
	if errors.Is(err, sql.ErrNoRows) {
		return ActionAttempt{}, fmt.Errorf("unknown %s on %s: %w", action, deviceID, ErrNotFound)
	}
	if err != nil {
		return ActionAttempt{}, fmt.Errorf("unknown %s on %s: %w", action, deviceID, err)
	}
	return a, nil
}

// OpenActionAttempts returns every open attempt, oldest first.
func (db *DB) OpenActionAttempts(ctx context.Context) ([]ActionAttempt, error) {
	return db.queryAttempts(ctx, "open action attempts", `
SELECT `+attemptColumns+` FROM action_attempts WHERE status IN ('requested', 'pending') ORDER BY created_at, id`)
}

// LatestActionAttempts returns the user's newest attempts on the device (on
// all their devices when deviceID is empty), at most limit of them
// (10 when limit <= 0, never more than 100).
func (db *DB) LatestActionAttempts(ctx context.Context, userID, deviceID string, limit int) ([]ActionAttempt, error) {
	if limit <= 0 {
		limit = defaultAttemptLimit
	}
	limit = min(limit, maxAttemptLimit)
	rows, err := db.queryCached(ctx, `
SELECT `+attemptColumns+` FROM action_attempts
WHERE user_id = $1 AND ($2 = '' OR device_id = $2)
ORDER BY created_at DESC, id DESC
LIMIT $3`, userID, deviceID, limit)
	return collect("latest action attempts", rows, err, scanAttempt)
}

func (db *DB) queryAttempts(ctx context.Context, what, query string, args ...any) ([]ActionAttempt, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	return collect(what, rows, err, scanAttempt)
}

func scanAttempt(s scanner) (ActionAttempt, error) {
	var f attemptFields
	if err := s.Scan(f.dest(nil)...); err != nil {
		return ActionAttempt{}, err
	}
	return f.attempt()
}

// attemptFields receives the attemptColumns of a row; all NULL when an outer join found
// no attempt (and NULL columns cost the driver no allocation).
type attemptFields struct {
	id, seamID, userID, deviceID, deviceName, action, status, error sql.NullString
	claimed, created, updated, finished                             sql.NullString
}

// dest appends the fields' addresses to d, for Scan.
func (f *attemptFields) dest(d []any) []any {
	return append(d, &f.id, &f.seamID, &f.userID, &f.deviceID, &f.deviceName, &f.action, &f.status, &f.error,
		&f.claimed, &f.created, &f.updated, &f.finished)
}

func (f *attemptFields) attempt() (ActionAttempt, error) {
	a := ActionAttempt{ID: f.id.String, SeamID: f.seamID.String, UserID: f.userID.String, DeviceID: f.deviceID.String,
		DeviceName: f.deviceName.String, Action: f.action.String, Status: f.status.String, Error: f.error.String}
	var err error
	if a.CreatedAt, err = parseTime(f.created.String); err != nil {
		return ActionAttempt{}, err
	}
	if a.UpdatedAt, err = parseTime(f.updated.String); err != nil {
		return ActionAttempt{}, err
	}
	if a.ClaimedUntil, err = parseNullTime(f.claimed); err != nil {
		return ActionAttempt{}, err
	}
	if a.FinishedAt, err = parseNullTime(f.finished); err != nil {
		return ActionAttempt{}, err
	}
	return a, nil
}

// nullTime stores nil as NULL.
func nullTime(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(*t), Valid: true}
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
