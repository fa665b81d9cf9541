package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// SessionOIDCSIDKey is the session value holding the IdP's session id (the ID token's
// sid claim). The store copies it into the row's oidc_sid, so a back-channel logout
// naming that sid ends exactly the sessions it started.
const SessionOIDCSIDKey = "oidc_sid"

// ErrLogoutReplayed is a logout token whose jti was already accepted (on any instance).
var ErrLogoutReplayed = errors.New("logout token already used (jti seen before)")

// IdPLogout is a verified back-channel logout: which sessions to end, and the token's
// jti, remembered until JTIExpiry so a replay is refused.
type IdPLogout struct {
	Issuer, Subject string
	// SID ends the sessions started with that IdP session; with Subject too, only those
	// of that user. Without SID, every session of the user Issuer+Subject ends.
	SID       string
	JTI       string
	JTIExpiry time.Time
	At        time.Time
	// Audit, when given, is the event appended for each user whose sessions ended (SubjectUserID is
	// filled in; no actor: the IdP did it; an empty Detail says how many ended).
	Audit AuditEvent
}

// EndedSessions are the sessions a logout ended, by user: their tokens, to close their
// live streams.
type EndedSessions map[string][]string

// EndSessionsAtIdPLogout records the logout token's jti and deletes the sessions it
// names, in one transaction: a jti seen before is ErrLogoutReplayed and ends nothing,
// on every instance (the jti is the table's primary key).
func (db *DB) EndSessionsAtIdPLogout(ctx context.Context, l IdPLogout) (EndedSessions, error) {
	if l.JTI == "" || (l.Subject == "" && l.SID == "") {
		return nil, errors.New("idp logout: jti and a subject or sid are required")
	}
	ended := EndedSessions{}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Forget jtis past their expiry first, so the table stays small.
		if _, err := tx.ExecContext(ctx, `DELETE FROM logout_token_jtis WHERE expires_at <= $1`, formatTime(l.At)); err != nil {
			return fmt.Errorf("forget old jtis: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO logout_token_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`,
			l.JTI, formatTime(l.JTIExpiry))
		if err != nil {
			return fmt.Errorf("remember jti: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrLogoutReplayed
		}
		query := `DELETE FROM sessions WHERE `
		var args []any
		userOf := `user_id IN (SELECT id FROM users WHERE issuer = $1 AND subject = $2)`
		switch {
		case l.SID != "" && l.Subject != "":
			query += userOf + ` AND oidc_sid = $3`
			args = []any{l.Issuer, l.Subject, l.SID}
		case l.SID != "":
			query += `oidc_sid = $1 AND user_id IN (SELECT id FROM users WHERE issuer = $2)`
			args = []any{l.SID, l.Issuer}
		default:
			query += userOf
			args = []any{l.Issuer, l.Subject}
		}
		rows, err := tx.QueryContext(ctx, query+` RETURNING user_id, token`, args...)
		pairs, err := collect("delete sessions at idp logout", rows, err, func(s scanner) ([2]string, error) {
			var p [2]string
			return p, s.Scan(&p[0], &p[1])
		})
		if err != nil {
			return err
		}
		for _, p := range pairs {
			ended[p[0]] = append(ended[p[0]], p[1])
		}
		if l.Audit.Action == "" {
			return nil
		}
		for _, userID := range slices.Sorted(maps.Keys(ended)) {
			tokens := ended[userID]
			e := l.Audit
			e.SubjectUserID = userID // the actor is the IdP, not a user
			if e.Detail == "" {
				e.Detail = sessionsEnded(len(tokens))
			}
			if err := db.appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("idp logout: %w", err)
	}
	return ended, nil
}
