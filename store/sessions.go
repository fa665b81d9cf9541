package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Sessions is the signed-in sessions' store for scs (an scs.CtxStore), on either
// database: every call takes the request's context, and expired rows are removed by
// DeleteExpiredSessions, run by the app's janitor, not by a goroutine of its own.
type Sessions struct{ db *DB }

var _ scs.CtxStore = (*Sessions)(nil)

// Sessions returns the session store on db.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// SessionUserKey is the session value holding the signed-in user's id. The store copies
// it into the sessions row, so FindCtx can load the user with the session.
const SessionUserKey = "user_id"

// sessionUserSlot receives the user FindCtx loaded with the session.
type sessionUserSlot struct {
	user User
	ok   bool
}

type sessionUserSlotKey struct{}

// WithSessionUserSlot returns ctx with room for the user a session load finds. Pass it
// to the session manager's Load; read the user back with SessionUser.
func WithSessionUserSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionUserSlotKey{}, &sessionUserSlot{})
}

// SessionUser returns the user loaded with the session in ctx's slot, if there was one.
// Callers must check the id against the session's own value.
func SessionUser(ctx context.Context) (User, bool) {
	s, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot)
	if s == nil || !s.ok {
		return User{}, false
	}
	return s.user, true
}

// FindCtx returns the session data of a token that has not expired. The session's user
// comes in the same query and goes to ctx's slot (WithSessionUserSlot), if it has one.
func (s *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	row := s.db.queryRowCached(ctx, `
SELECT COALESCE(u.id, ''), COALESCE(u.issuer, ''), COALESCE(u.subject, ''), COALESCE(u.email, ''),
       COALESCE(u.email_verified, FALSE), COALESCE(u.name, ''), COALESCE(u.is_admin, FALSE),
       COALESCE(u.created_at, s.expiry), COALESCE(u.last_login_at, s.expiry), COALESCE(u.time_zone, ''), s.data
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.token = $1 AND s.expiry > $2`,
		token, formatTime(time.Now()))
	u, err := scanUser(row, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", err)
	}
	if slot, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot); slot != nil && u.ID != "" {
		slot.user, slot.ok = u, true
	}
	return data, true, nil
}

// CommitCtx saves a session's data until expiry, with its user's id beside it.
func (s *Sessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	var userID sql.NullString
	if _, values, err := (SessionCodec{}).Decode(b); err == nil {
		if id, ok := values[SessionUserKey].(string); ok && id != "" {
			userID = sql.NullString{String: id, Valid: true}
		}
	}
	if _, err := s.db.sql.ExecContext(ctx, `
INSERT INTO sessions (token, data, expiry, user_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry, user_id = excluded.user_id`,
		token, b, formatTime(expiry), userID); err != nil {
		return fmt.Errorf("commit session: %w", err)
	}
	return nil
}

// DeleteCtx ends a session.
func (s *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if _, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE token = $1`, token); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Find, Commit and Delete satisfy scs.Store; scs calls the Ctx methods instead.
func (s *Sessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit saves a session (scs.Store); scs calls CommitCtx instead.
func (s *Sessions) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete ends a session (scs.Store); scs calls DeleteCtx instead.
func (s *Sessions) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteExpiredSessions removes sessions whose expiry passed before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expiry <= $1`, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
