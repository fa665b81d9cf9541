package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Audit actions: what happened, in the words the activity pages show.
const (
	AuditLogin                   = "auth.login"
	AuditLogout                  = "auth.logout"
	AuditCallbackFailed          = "auth.callback_failed"
	AuditAdminViewUser           = "admin.view_user"
	AuditAdminListUsers          = "admin.list_users"
	AuditAdminExportActivity     = "admin.export_activity"
	AuditAdminAccessDenied       = "admin.access_denied"
	AuditExportActivity          = "activity.export"
	AuditAccessDenied            = "access.denied"
	AuditConnectStarted          = "connect.started"
	AuditConnectCompleted        = "connect.completed"
	AuditConnectFailed           = "connect.failed"
	AuditAccountReconnect        = "account.reconnect.started"
	AuditAccountRemoved          = "account.removed"
	AuditAccountRemoveFailed     = "account.remove.failed"
	AuditDeviceRenamed           = "device.renamed"
	AuditDeviceRenameFailed      = "device.rename.failed"
	AuditDeviceUnlockRequested   = "device.unlock.requested"
	AuditDeviceLockRequested     = "device.lock.requested"
	AuditDeviceUnlockSucceeded   = "device.unlock.succeeded"
	AuditDeviceUnlockFailed      = "device.unlock.failed"
	AuditDeviceLockSucceeded     = "device.lock.succeeded"
	AuditDeviceLockFailed        = "device.lock.failed"
	AuditDeviceUnlockSent        = "device.unlock.sent"
	AuditDeviceLockSent          = "device.lock.sent"
	AuditDeviceActionTimeout     = "device.action.timeout"
	AuditDeviceActionUnknown     = "device.action.unknown"
	AuditDeviceActionNotSent     = "device.action.not_sent"
	AuditDeviceActionRateLimited = "device.action.rate_limited"
	AuditDeviceActionBusy        = "device.action.busy"
	AuditDeviceActionUnavailable = "device.action.unavailable"
	AuditDeviceActionUnsupported = "device.action.unsupported"
	// AuditDeviceActionUnreachable is an action refused because the lock was offline
	// or its account disconnected.
	AuditDeviceActionUnreachable = "device.action.unreachable"
	AuditBudgetSpent             = "budget.spent"
	AuditDeviceActionDisabled    = "device.action.user_disabled"

	// Sessions and disabled users.
	AuditLogoutEverywhere     = "auth.logout_everywhere"
	AuditLoginRefusedDisabled = "auth.login_refused_disabled"
	AuditSessionEnded         = "session.ended"
	AuditSessionEndedOthers   = "session.ended_others"
	AuditAdminSessionsEnded   = "admin.sessions_ended"
	AuditAdminUserDisabled    = "admin.user_disabled"
	AuditAdminUserEnabled     = "admin.user_enabled"
	AuditAdminDisableRefused  = "admin.disable_refused"

	// The identity provider in charge.
	AuditIdPLogout         = "auth.idp_logout"
	AuditIdPLogoutRefused  = "auth.idp_logout_refused"
	AuditReauthRequired    = "auth.reauth_required"
	AuditIdPRefreshRefused = "auth.idp_refresh_refused"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Caps on client-controlled or free-form audit fields, so one request cannot
// bloat the append-only table.
const (
	maxUserAgentBytes  = 512
	maxDetailBytes     = 2048
	maxRemoteAddrBytes = 128
	maxIDBytes         = 256
	maxActionBytes     = 64
	maxNameBytes       = 256
	// maxClientStringBytes bounds a client's string quoted into a detail.
	maxClientStringBytes = 200
)

// Bounds for ListAudit.
const (
	defaultAuditLimit = 50
	maxAuditLimit     = 500
)

// AuditEvent is one line of the append-only audit log.
type AuditEvent struct {
	ID              int64
	At              time.Time
	ActorID         string // who did it; empty for anonymous or the server itself
	SubjectUserID   string // whose data or devices it concerned
	Action          string // one of the Audit* constants
	DeviceID        string
	ActionAttemptID string
	Outcome         string // OutcomeSuccess, OutcomeFailure or OutcomeDenied
	Detail          string
	RemoteAddr      string
	UserAgent       string
	// The names the event mentions as they were then, so the trail still reads right
	// after the device or connected account is gone; empty when it mentions none.
	DeviceName  string
	AccountName string
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	UserID   string // events where the user is the subject or the actor; empty = everyone
	DeviceID string // empty = every device
	Before   int64  // only events with a smaller id (the page cursor); 0 = from the newest
	Limit    int    // page size; <= 0 means 50, capped at 500
}

// AppendAudit adds an event and chains it. A zero At means now; empty ids and names
// are stored as NULL; over-long fields are cut, never rejected, so an audit line is
// not lost to a long User-Agent.
func (db *DB) AppendAudit(ctx context.Context, e AuditEvent) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.appendAudit(ctx, tx, e) })
}

func checkAudit(e AuditEvent) error {
	if e.Action == "" || e.Outcome == "" {
		return errors.New("append audit: action and outcome are required")
	}
	return nil
}

// appendAudit is AppendAudit inside the caller's transaction, which then holds the
// chain's lock until it ends: callers append last, after their other locks.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, e AuditEvent) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	if err := db.lockAuditChain(ctx, tx); err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	_, err := tx.ExecContext(ctx, `
INSERT INTO audit_events (at, actor_id, subject_user_id, action, device_id, action_attempt_id, outcome, detail, remote_addr, user_agent,
    device_name, account_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		formatTime(nowOr(e.At)),
		nullString(clean(e.ActorID, maxIDBytes)),
		nullString(clean(e.SubjectUserID, maxIDBytes)),
		clean(e.Action, maxActionBytes),
		nullString(clean(e.DeviceID, maxIDBytes)),
		nullString(clean(e.ActionAttemptID, maxIDBytes)),
		clean(e.Outcome, maxActionBytes),
		clean(e.Detail, maxDetailBytes),
		clean(e.RemoteAddr, maxRemoteAddrBytes),
		clean(e.UserAgent, maxUserAgentBytes),
		nullString(clean(e.DeviceName, maxNameBytes)),
		nullString(clean(e.AccountName, maxNameBytes)),
	)
	if err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	if _, err := chainPending(ctx, tx, false); err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns one page of events, newest first, and the cursor for the
// next page (the Before of the next query), or 0 when this is the last page.
func (db *DB) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, int64, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.UserID != "" {
		p := arg(q.UserID)
		where = append(where, "(subject_user_id = "+p+" OR actor_id = "+p+")")
	}
	if q.DeviceID != "" {
		where = append(where, "device_id = "+arg(q.DeviceID))
	}
	if q.Before > 0 {
		where = append(where, "id < "+arg(q.Before))
	}
	query := `SELECT ` + auditColumns + `
FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	// One extra row tells whether another page exists.
	query += " ORDER BY id DESC LIMIT " + arg(limit+1)

	// The query's text is one of a few (which filters are set): prepared once each.
	rows, err := db.queryCached(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	out, err := collect("list audit", rows, nil, scanAudit)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// EachAudit calls fn with each event where userID is the subject or the actor, oldest
// first, streaming (an export of years of activity is never held in memory); it stops
// at fn's first error and returns it.
func (db *DB) EachAudit(ctx context.Context, userID string, fn func(AuditEvent) error) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+auditColumns+`
FROM audit_events WHERE subject_user_id = $1 OR actor_id = $1 ORDER BY id`, userID)
	return each("each audit", rows, err, scanAudit, fn)
}

// auditColumns are the columns scanAudit reads.
const auditColumns = `id, at, actor_id, subject_user_id, action, device_id, action_attempt_id, outcome, detail, remote_addr, user_agent,
device_name, account_name`

func scanAudit(s scanner) (AuditEvent, error) {
	var e AuditEvent
	var at string
	var actor, subject, device, attempt, deviceName, accountName sql.NullString
	if err := s.Scan(&e.ID, &at, &actor, &subject, &e.Action, &device, &attempt,
		&e.Outcome, &e.Detail, &e.RemoteAddr, &e.UserAgent, &deviceName, &accountName); err != nil {
		return AuditEvent{}, err
	}
	var err error
	if e.At, err = parseTime(at); err != nil {
		return AuditEvent{}, err
	}
	e.ActorID, e.SubjectUserID, e.DeviceID, e.ActionAttemptID = actor.String, subject.String, device.String, attempt.String
	e.DeviceName, e.AccountName = deviceName.String, accountName.String
	return e, nil
}

// ClientString puts a string a client chose (a path, a query value) into an audit
// detail: bounded, quoted so no control character or look-alike text passes as
// Latchkey's own words, and labelled as the client's, e.g.
// `path (client-supplied): "/admin/x"`.
func ClientString(label, s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxClientStringBytes {
		s = clean(s, maxClientStringBytes) + "…"
	}
	return label + " (client-supplied): " + strconv.Quote(s)
}

// clean makes s storable in any SQL database (valid UTF-8, no NUL) and cuts
// it to at most limit bytes without splitting a character.
func clean(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
