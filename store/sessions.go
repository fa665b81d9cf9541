package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sessions is the signed-in sessions' store for scs (an scs.CtxStore), on either
// database: every call takes the request's context, and expired rows are removed by
// DeleteExpiredSessions, run by the app's janitor, not by a goroutine of its own.
type Sessions struct{ db *DB }

// Sessions returns the session store on db.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// FindCtx returns the session data of a token that has not expired.
func (s *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	err := s.db.queryRowCached(ctx, `SELECT data FROM sessions WHERE token = $1 AND expiry > $2`,
		token, formatTime(time.Now())).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", err)
	}
	return data, true, nil
}

// CommitCtx saves a session's data until expiry.
func (s *Sessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if _, err := s.db.sql.ExecContext(ctx, `
INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
		token, b, formatTime(expiry)); err != nil {
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
