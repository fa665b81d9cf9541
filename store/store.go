// Package store is Latchkey's database access: users, Connect Webviews,
// connected-account ownership, action attempts, budgets, the audit log and the
// signed-in sessions. One API over two databases: SQLite (modernc.org/sqlite, no
// cgo; the embedded default, one process) and PostgreSQL (pgx; several instances).
// The SQL is written once wherever both understand it; times travel as text in one
// fixed-width UTC layout (TEXT columns in SQLite, TIMESTAMPTZ in PostgreSQL).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is returned (possibly wrapped) when a row does not exist or
// belongs to another user; callers cannot tell the two apart on purpose.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned (possibly wrapped) when a write would break a
// uniqueness rule, such as recording another user's connected account.
var ErrConflict = errors.New("store: conflict")

// DB is Latchkey's database handle; it is safe for concurrent use.
type DB struct {
	sql *sql.DB
	// pin keeps an in-memory database alive while the pool recycles its
	// other connections; nil for file databases.
	pin *sql.Conn
	// dialect says which database this is.
	dialect dialect
	// stmts holds the hot queries' statements (query text → *sql.Stmt), prepared once:
	// see prepared.
	stmts sync.Map
	// pgConfig opens the extra connection that listens for changes (PostgreSQL).
	pgConfig *pgx.ConnConfig
	// memo keeps sessions read while a SQLite file has not changed; nil otherwise.
	memo *sessionMemo
}

// dialect is the kind of database behind a DB.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// String is the dialect's name, also its migrations' directory.
func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// Pool sizes for a file database: WAL lets readers run beside the one
// writer, and busy_timeout queues writers instead of failing them.
const (
	maxOpenConns    = 8
	connMaxIdleTime = 10 * time.Minute
)

// filePragmas go into every connection's DSN so each pooled connection
// gets them, not only the first one.
const filePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// memoryPragmas omit WAL and synchronous, which mean nothing without a file.
const memoryPragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"

// Open connects to databaseURL and returns the ready database. SQLite
// (sqlite:PATH or sqlite::memory:) is migrated on the spot; PostgreSQL
// (postgres://… or postgresql://…) only has its schema version checked: migrating
// it is `latchkey migrate`'s job (Migrate), run with the owner role.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	if isPostgresURL(databaseURL) {
		db, err := openPostgres(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		if _, err := checkSchema(ctx, db.sql, postgresDialect); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
	return openSQLite(ctx, databaseURL)
}

// Migrate applies the pending migrations of the database at databaseURL. On
// PostgreSQL run it with the owner role before starting (or restarting) instances.
func Migrate(ctx context.Context, databaseURL string) error {
	if isPostgresURL(databaseURL) {
		db, err := openPostgres(ctx, databaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := migrate(ctx, db.sql, postgresDialect); err != nil {
			return err
		}
		// Rows from before the audit chain, or written by the previous release since.
		if _, err := db.ChainAudit(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	}
	db, err := openSQLite(ctx, databaseURL)
	if err != nil {
		return err
	}
	if _, err := db.ChainAudit(ctx); err != nil {
		db.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	return db.Close()
}

func openSQLite(ctx context.Context, databaseURL string) (*DB, error) {
	dsn, memory, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{sql: sqlDB}
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxOpenConns)
	if memory {
		// An in-memory database disappears with its last connection, so one
		// stays pinned for the life of the DB.
		db.pin, err = sqlDB.Conn(ctx)
		if err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open in-memory database: %w", err)
		}
	} else {
		sqlDB.SetConnMaxIdleTime(connMaxIdleTime)
		// Not for a memory database: another connection would open another database.
		if db.memo, err = openSessionMemo(ctx, strings.TrimSuffix(dsn, "?"+filePragmas), dsn); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	if err := db.firstPing(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, sqlDB, sqliteDialect); err != nil {
		db.Close()
		return nil, err
	}
	// Rows from before the audit chain are chained at the first start after it.
	if _, err := db.chainAudit(ctx, false); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// parseDatabaseURL turns a DATABASE_URL into a driver DSN, creating the
// database file's directory when needed.
func parseDatabaseURL(databaseURL string) (dsn string, memory bool, err error) {
	scheme, rest, ok := strings.Cut(databaseURL, ":")
	if !ok || scheme == "" {
		// The value is not echoed: a mistyped URL may hold a password.
		return "", false, errors.New("DATABASE_URL: not of the form sqlite:PATH")
	}
	if scheme != "sqlite" {
		return "", false, fmt.Errorf("DATABASE_URL: unsupported scheme %q (want sqlite:PATH or postgres://…)", scheme)
	}
	if rest == ":memory:" {
		// The memdb VFS with a name starting with "/" is one database shared
		// by every connection of this process, with real locking (unlike
		// cache=shared, whose table locks ignore busy_timeout).
		return "file:/latchkey-" + rand.Text() + "?vfs=memdb&" + memoryPragmas, true, nil
	}
	// sqlite:///abs/path is the URL spelling of sqlite:/abs/path.
	if strings.HasPrefix(rest, "///") {
		rest = rest[2:]
	}
	switch {
	case rest == "":
		return "", false, errors.New("DATABASE_URL: missing path (want sqlite:PATH)")
	case strings.HasPrefix(rest, "//"):
		return "", false, errors.New("DATABASE_URL: sqlite://HOST/... has a host part (want sqlite:PATH or sqlite:///ABSOLUTE/PATH)")
	case strings.ContainsAny(rest, "?\x00"):
		// The driver would read anything after "?" as its own parameters.
		return "", false, fmt.Errorf("DATABASE_URL: path %q must not contain '?' or NUL", rest)
	case strings.HasPrefix(rest, "file:"):
		return "", false, fmt.Errorf("DATABASE_URL: path %q must be a plain file path", rest)
	}
	if dir := filepath.Dir(rest); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("DATABASE_URL: create directory: %w", err)
		}
	}
	return rest + "?" + filePragmas, false, nil
}

// SQL returns the underlying pool, for tests and tools that inspect the database.
func (db *DB) SQL() *sql.DB { return db.sql }

// Stats reports the connection pool's use, for the metrics.
func (db *DB) Stats() sql.DBStats { return db.sql.Stats() }

// Ping reports whether the database answers; it backs /readyz.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// firstPing opens the first connection. On a brand-new file that connection
// switches the journal to WAL, which SQLite refuses with SQLITE_BUSY (without
// waiting on busy_timeout) while another process does the same, so it is
// retried a few times.
func (db *DB) firstPing(ctx context.Context) error {
	const attempts = 10
	for i := 1; ; i++ {
		err := db.Ping(ctx)
		if err == nil || !isBusy(err) || i == attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping database: %w", ctx.Err())
		case <-time.After(time.Duration(i) * 10 * time.Millisecond):
		}
	}
}

// prepared returns query's statement, prepared on first use and kept for the life of
// the DB: database/sql prepares it once on each pooled connection that runs it and keeps
// it there (SQLite then skips parsing and planning, the largest cost of a small query;
// with PostgreSQL it is pgx's named prepared statement, as its own cache would make).
// Only fixed query texts belong here: the cache is never trimmed.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// queryCached is QueryContext through the prepared statement of query.
func (db *DB) queryCached(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// queryRowCached is QueryRowContext through the prepared statement of query; when it
// cannot be prepared the query runs unprepared, so its Scan reports the error.
func (db *DB) queryRowCached(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return db.sql.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// Close releases every connection; an in-memory database is gone after it.
func (db *DB) Close() error {
	db.stmts.Range(func(k, s any) bool {
		_ = s.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	var pinErr, memoErr error
	if db.pin != nil {
		pinErr = db.pin.Close()
	}
	if db.memo != nil {
		memoErr = db.memo.close()
	}
	if err := errors.Join(pinErr, memoErr, db.sql.Close()); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// inTx runs fn in one transaction, which the DSN's _txlock=immediate opens
// as a writer so it never fails half-way on a lock upgrade.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// execer runs a statement on the pool or inside a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isUniqueViolation reports whether err is a primary-key or UNIQUE failure.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// timeLayout is fixed-width UTC with microseconds (PostgreSQL's precision), so
// that stored times compare correctly as text.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// formatTime is how every time is written to the database.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a time written by formatTime.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// nowOr returns t, or the current time when t is zero.
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t.UTC()
}

// nullString stores "" as NULL, for optional references.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
