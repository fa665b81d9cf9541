package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// sessionMemo keeps the sessions FindCtx read from a SQLite file, with their users,
// for as long as the database has not changed: the session query was a fifth of a
// page view's CPU profile, and almost every page view finds what the previous one did.
//
// It is exact, not a cache with a lifetime. SQLite's data_version, read on a
// connection of its own that never writes, changes with every commit by any other
// connection — the portal's pool, or another process such as the latchkey command —
// so an entry is used only while no commit at all happened since it was read: a
// session ended, a user disabled or demoted, a refresh recorded, is seen by the very
// next request, as without the memo. The version is read before the query whose row is
// kept, so a commit between the two is never missed. Expiry is checked at every use.
// An error reading the version only means querying as before.
//
// PostgreSQL has no such counter that costs less than the query: every page view
// queries there (several instances share the rows, and so the rule).
type sessionMemo struct {
	// conn is the memo's own connection (its own pool of one), held for the DB's
	// life: data_version compares commits with this connection's earlier reads.
	pool *sql.DB
	conn *sql.Conn

	mu      sync.Mutex
	stmt    *sql.Stmt
	version int64
	valid   bool
	entries map[string]memoSession
}

// memoSession is one row FindCtx read: the session's data, expiry and user.
type memoSession struct {
	data        []byte
	expiry      time.Time
	user        User
	hasUser     bool
	hasRefresh  bool
	refreshedAt sql.NullString
}

// maxMemoSessions bounds the memo: past it, it starts again empty.
const maxMemoSessions = 10000

// openSessionMemo opens the memo's connection to the SQLite file at dsn.
func openSessionMemo(ctx context.Context, dsn string) (*sessionMemo, error) {
	pool, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open session memo: %w", err)
	}
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err == nil {
		var stmt *sql.Stmt
		if stmt, err = conn.PrepareContext(ctx, `PRAGMA data_version`); err == nil {
			return &sessionMemo{pool: pool, conn: conn, stmt: stmt, entries: map[string]memoSession{}}, nil
		}
		conn.Close()
	}
	pool.Close()
	return nil, fmt.Errorf("open session memo: %w", err)
}

// current reads the database's version and forgets every entry read before a change.
// It reports the version, or false when it cannot be read.
func (m *sessionMemo) current(ctx context.Context) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v int64
	if err := m.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		m.valid = false
		clear(m.entries)
		return 0, false
	}
	if !m.valid || v != m.version {
		clear(m.entries)
		m.version, m.valid = v, true
	}
	return v, true
}

// get returns the session of token read at version v, if it has not expired.
func (m *sessionMemo) get(token string, v int64, now time.Time) (memoSession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.entries[token]
	if !ok || !m.valid || m.version != v || !now.Before(s.expiry) {
		return memoSession{}, false
	}
	return s, true
}

// put keeps the session of token, read after the version v was.
func (m *sessionMemo) put(token string, v int64, s memoSession) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.valid || m.version != v {
		return
	}
	if len(m.entries) >= maxMemoSessions {
		clear(m.entries)
	}
	m.entries[token] = s
}

func (m *sessionMemo) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.valid = false
	clear(m.entries)
	_ = m.stmt.Close()
	_ = m.conn.Close()
	return m.pool.Close()
}
