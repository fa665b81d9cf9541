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
// It is exact, not a cache with a lifetime. The database's version is the header of
// its WAL-index (walIndex), which every commit by any connection — the portal's pool,
// or another process such as the latchkey command — rewrites; where it cannot be read,
// SQLite's data_version, read on a connection of the memo's own that never writes. An
// entry is used only while no commit at all happened since it was read: a session
// ended, a user disabled or demoted, a refresh recorded, is seen by the very next
// request, as without the memo. The version is read before the query whose row is
// kept, so a commit between the two is never missed. Expiry is checked at every use.
// An error reading the version only means querying as before.
//
// PostgreSQL has no such counter that costs less than the query: every page view
// queries there (several instances share the rows, and so the rule).
type sessionMemo struct {
	// conn is the memo's own connection (its own pool of one), held for the DB's
	// life: data_version compares commits with this connection's earlier reads, and
	// while it is open SQLite keeps the WAL-index file wal maps.
	pool *sql.DB
	conn *sql.Conn
	// wal is the mapped WAL-index; nil where it could not be mapped.
	wal *walIndex

	mu      sync.Mutex
	stmt    *sql.Stmt
	version memoVersion
	valid   bool
	entries map[string]memoSession
}

// memoVersion is the database's version: the WAL-index header, or (where it cannot
// be read) data_version. The two kinds never compare equal.
type memoVersion struct {
	wal  walIndexVersion
	data int64
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

// openSessionMemo opens the memo's connection to the SQLite file at path (dsn is the
// driver's name for it) and maps its WAL-index.
func openSessionMemo(ctx context.Context, path, dsn string) (*sessionMemo, error) {
	pool, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open session memo: %w", err)
	}
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err == nil {
		var stmt *sql.Stmt
		if stmt, err = conn.PrepareContext(ctx, `PRAGMA data_version`); err == nil {
			m := &sessionMemo{pool: pool, conn: conn, stmt: stmt, entries: map[string]memoSession{}}
			// The read opens the WAL-index, which the mapping then finds.
			if _, ok := m.dataVersion(ctx); ok {
				m.wal, _ = openWALIndex(path)
			}
			return m, nil
		}
		conn.Close()
	}
	pool.Close()
	return nil, fmt.Errorf("open session memo: %w", err)
}

// current reads the database's version and forgets every entry read before a change.
// It reports the version, or false when it cannot be read.
func (m *sessionMemo) current(ctx context.Context) (memoVersion, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v memoVersion
	var ok bool
	if m.wal != nil {
		v.wal, ok = m.wal.version()
	}
	if !ok {
		// A writer between the header's two copies, or no mapping: ask SQLite.
		if v.data, ok = m.dataVersion(ctx); !ok {
			m.valid = false
			clear(m.entries)
			return memoVersion{}, false
		}
	}
	if !m.valid || v != m.version {
		clear(m.entries)
		m.version, m.valid = v, true
	}
	return v, true
}

// dataVersion is SQLite's data_version on the memo's connection.
func (m *sessionMemo) dataVersion(ctx context.Context) (int64, bool) {
	var v int64
	if err := m.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return 0, false
	}
	return v, true
}

// get returns the session of token read at version v, if it has not expired.
func (m *sessionMemo) get(token string, v memoVersion, now time.Time) (memoSession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.entries[token]
	if !ok || !m.valid || m.version != v || !now.Before(s.expiry) {
		return memoSession{}, false
	}
	return s, true
}

// put keeps the session of token, read after the version v was.
func (m *sessionMemo) put(token string, v memoVersion, s memoSession) {
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
	if m.wal != nil {
		_ = m.wal.close()
	}
	_ = m.stmt.Close()
	_ = m.conn.Close()
	return m.pool.Close()
}
