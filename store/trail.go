package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Trail outcomes: what a trail entry came to, for the activity filters. An action's
// is its attempt's status now; any other event's is its audit outcome.
const (
	TrailSucceeded  = "succeeded"
	TrailFailed     = "failed"
	TrailUnknown    = "unknown"
	TrailNotSent    = "not_sent"
	TrailRefused    = "refused"
	TrailInProgress = "in_progress"
)

// trailStates are the raw states (attempt statuses and audit outcomes) each trail
// outcome covers; the values are constants, written into the query's text.
var trailStates = map[string][]string{
	TrailSucceeded:  {AttemptSuccess, OutcomeSuccess},
	TrailFailed:     {AttemptError, OutcomeFailure},
	TrailUnknown:    {AttemptTimeout, AttemptUnknown},
	TrailNotSent:    {AttemptNotSent},
	TrailRefused:    {OutcomeDenied},
	TrailInProgress: {AttemptRequested, AttemptPending},
}

// ValidTrailOutcome reports whether s is one of the Trail* outcomes.
func ValidTrailOutcome(s string) bool {
	_, ok := trailStates[s]
	return ok
}

// actionRequests are the audit actions that start an action attempt: each is the one
// trail entry of its attempt.
var actionRequests = []string{AuditDeviceUnlockRequested, AuditDeviceLockRequested}

// actionSteps are the audit actions that record an attempt's later steps; the trail
// shows them as the outcome of the request's entry, not as entries of their own.
var actionSteps = []string{
	AuditDeviceUnlockSent, AuditDeviceLockSent,
	AuditDeviceUnlockSucceeded, AuditDeviceUnlockFailed,
	AuditDeviceLockSucceeded, AuditDeviceLockFailed,
	AuditDeviceActionTimeout, AuditDeviceActionUnknown, AuditDeviceActionNotSent,
}

// TrailQuery selects trail entries, newest first.
type TrailQuery struct {
	UserID   string // entries where the user is the subject or the actor (required)
	DeviceID string // empty = every device
	Outcome  string // one of the Trail* outcomes; empty = all
	Before   int64  // only entries with a smaller id (the older page's cursor)
	After    int64  // only entries with a larger id (the newer page's cursor); Before wins
	Limit    int    // page size; <= 0 means 50, capped at 500
}

// TrailEntry is one line of a readable trail: an audit event and, when it is the
// request of a lock or unlock, that action's attempt as it stands now (its status,
// error and end), so one action is one entry with its outcome.
type TrailEntry struct {
	AuditEvent
	// Attempt is set for an action's request; its ID is empty when the attempt's
	// row is missing (the outcome is then unknown).
	Attempt *ActionAttempt
}

// Trail returns one page of a user's trail (one entry per action, every other audit
// event as it is), newest first, and whether more entries lie beyond it in the page's
// direction (older, or newer with After). It is one query: audit rows left-joined with
// the attempts they requested.
func (db *DB) Trail(ctx context.Context, q TrailQuery) ([]TrailEntry, bool, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	newer := q.Before <= 0 && q.After > 0
	query, args, err := trailQuery(q, newer, limit+1) // one extra row tells whether more exist
	if err != nil {
		return nil, false, err
	}
	rows, err := db.queryCached(ctx, query, args...)
	out, err := collect("trail", rows, err, scanTrail)
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if newer {
		slices.Reverse(out)
	}
	return out, more, nil
}

// EachTrail calls fn with each entry of the user's trail, oldest first, streaming (an
// export of years is never held in memory); it stops at fn's first error.
func (db *DB) EachTrail(ctx context.Context, userID string, fn func(TrailEntry) error) error {
	query, args, err := trailQuery(TrailQuery{UserID: userID}, true, 0)
	if err != nil {
		return err
	}
	rows, err := db.sql.QueryContext(ctx, query, args...)
	return each("each trail", rows, err, scanTrail, fn)
}

// trailQuery is the query of q's entries, oldest first when ascending, at most limit
// of them (0 = all).
func trailQuery(q TrailQuery, ascending bool, limit int) (string, []any, error) {
	if q.UserID == "" {
		return "", nil, fmt.Errorf("trail: a user is required")
	}
	if q.Outcome != "" && !ValidTrailOutcome(q.Outcome) {
		return "", nil, fmt.Errorf("trail: unknown outcome %q", q.Outcome)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	p := arg(q.UserID)
	where := []string{
		"(e.subject_user_id = " + p + " OR e.actor_id = " + p + ")",
		// A step is told with its request; a step row without an attempt (older data) is
		// an entry of its own.
		"(e.action NOT IN (" + sqlList(actionSteps) + ") OR e.action_attempt_id IS NULL)",
	}
	if q.DeviceID != "" {
		where = append(where, "e.device_id = "+arg(q.DeviceID))
	}
	if q.Outcome != "" {
		// The entry's state: its attempt's status, unknown for a request whose attempt
		// is missing, otherwise the event's own outcome.
		where = append(where, `CASE WHEN t.id IS NOT NULL THEN t.status
     WHEN e.action IN (`+sqlList(actionRequests)+`) THEN '`+AttemptUnknown+`'
     ELSE e.outcome END IN (`+sqlList(trailStates[q.Outcome])+`)`)
	}
	switch {
	case q.Before > 0:
		where = append(where, "e.id < "+arg(q.Before))
	case q.After > 0:
		where = append(where, "e.id > "+arg(q.After))
	}
	cols := "e." + strings.ReplaceAll(auditColumns, ", ", ", e.")
	cols = strings.ReplaceAll(cols, "\n", "\ne.")
	query := `SELECT ` + cols + `, t.` + strings.ReplaceAll(attemptColumns, ", ", ", t.") + `
FROM audit_events e
LEFT JOIN action_attempts t ON t.id = e.action_attempt_id AND e.action IN (` + sqlList(actionRequests) + `)
WHERE ` + strings.Join(where, " AND ")
	if ascending {
		query += " ORDER BY e.id"
	} else {
		query += " ORDER BY e.id DESC"
	}
	if limit > 0 {
		query += " LIMIT " + arg(limit)
	}
	return query, args, nil
}

func scanTrail(s scanner) (TrailEntry, error) {
	var te TrailEntry
	var f attemptFields
	e, err := scanAudit(auditScanner{s, f.dest(nil)})
	if err != nil {
		return te, err
	}
	te.AuditEvent = e
	if isActionRequest(e.Action) {
		a := &ActionAttempt{}
		if f.id.Valid {
			if *a, err = f.attempt(); err != nil {
				return te, err
			}
		}
		te.Attempt = a
	}
	return te, nil
}

func isActionRequest(action string) bool {
	return slices.Contains(actionRequests, action)
}

// auditScanner scans an audit row followed by extra columns.
type auditScanner struct {
	s     scanner
	extra []any
}

func (a auditScanner) Scan(dest ...any) error { return a.s.Scan(append(dest, a.extra...)...) }

// sqlList is constant strings as an SQL list: 'a', 'b'. Only for the package's own
// constants, which hold no quote.
func sqlList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + v + "'"
	}
	return strings.Join(quoted, ", ")
}
