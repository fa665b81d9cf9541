package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newTestDB opens a fresh database of the test's dialect: a SQLite file in a temporary
// directory, or a new PostgreSQL database (migrated as its owner would).
func newTestDB(t testing.TB) *DB {
	t.Helper()
	return newTestDBs(t, 1)[0]
}

// newTestDBs opens n handles on one fresh database, as n instances of Latchkey would.
func newTestDBs(t testing.TB, n int) []*DB {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	if pgtest.Postgres(t) {
		url = pgtest.URL(t)
		if err := Migrate(context.Background(), url); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	dbs := make([]*DB, n)
	for i := range dbs {
		db, err := Open(context.Background(), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

// newUser creates a user signed in at issuer "https://idp.test" as subject.
func newUser(t testing.TB, db *DB, subject, email string) User {
	t.Helper()
	u, err := db.UpsertUserAtLogin(context.Background(), Login{Issuer: "https://idp.test", Subject: subject, Email: email}, time.Now())
	if err != nil {
		t.Fatalf("UpsertUserAtLogin(%s): %v", subject, err)
	}
	return u
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	u := newUser(t, db, "alice", "alice@example.test")
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err = Open(ctx, url)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer db.Close()
	if _, err := db.UserByID(ctx, u.ID); err != nil {
		t.Errorf("user lost across reopen: %v", err)
	}
	ms, err := loadMigrations(migrationFiles, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || n == 0 {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bad := migration{version: 999, name: "999_bad.sql", sql: `CREATE TABLE half_done (a TEXT); SELECT nope FROM nowhere;`}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := applyMigration(ctx, conn, bad); err == nil {
		t.Fatal("applyMigration of a broken migration succeeded")
	}
	var tables, recorded int
	db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&tables)
	db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = 999`).Scan(&recorded)
	if tables != 0 || recorded != 0 {
		t.Errorf("broken migration left table=%d recorded=%d, want 0 and 0", tables, recorded)
	}
}

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"ordered by number", fstest.MapFS{
			"migrations/sqlite/010_c.sql": {Data: []byte("x")},
			"migrations/sqlite/002_b.sql": {Data: []byte("x")},
			"migrations/sqlite/001_a.sql": {Data: []byte("x")},
		}, []int{1, 2, 10}, ""},
		{"bad name", fstest.MapFS{"migrations/sqlite/init.sql": {Data: []byte("x")}}, nil, "NNN_name.sql"},
		{"duplicate version", fstest.MapFS{
			"migrations/sqlite/001_a.sql": {Data: []byte("x")},
			"migrations/sqlite/01_b.sql":  {Data: []byte("x")},
		}, nil, "share version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files, "sqlite")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenRejectsBadDatabaseURL(t *testing.T) {
	tests := []struct {
		url, wantErr string
	}{
		{"mysql://db.example/latchkey", `unsupported scheme "mysql" (want sqlite:PATH or postgres://…)`},
		{"postgres://latchkey:hunter2@127.0.0.1:1/latchkey?connect_timeout=1", "failed to connect"},
		{"postgresql://latchkey:hunter2@127.0.0.1:1/latchkey?pool_max_conns=0", "pool_max_conns must be a whole number"},
		{"postgres://latchkey:hunter2@[::1/latchkey", "not a valid postgres:// URL"},
		{"", "not of the form sqlite:PATH"},
		{"latchkey.db", "not of the form sqlite:PATH"},
		{"sqlite:", "missing path"},
		{"sqlite://host/latchkey.db", "has a host part"},
		{"sqlite:data/x.db?mode=ro", "must not contain '?'"},
		{"sqlite:file:x.db", "plain file path"},
		{"SQLITE:x.db", `unsupported scheme "SQLITE"`},
		{"sqlite://latchkey:hunter2@db/latchkey", "has a host part"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			db, err := Open(context.Background(), tt.url)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") {
				t.Errorf("Open(%q) = %q, want it to start with DATABASE_URL: and contain %q", tt.url, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) error reveals the password: %q", tt.url, err)
			}
		})
	}
}

func TestOpenCreatesPrivateParentDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(dir, "latchkey.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("directory mode = %v, want no group/other access", perm)
	}
}

func TestOpenAbsoluteURLForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open(sqlite://%s): %v", path, err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %s: %v", path, err)
	}
}

// Every pooled connection, not only the first, must carry the pragmas.
func TestEveryConnectionHasPragmas(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	for i := range 3 {
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var fk, busy int
		var journal string
		if err := conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || busy != 5000 || journal != "wal" {
			t.Errorf("connection %d: foreign_keys=%d busy_timeout=%d journal_mode=%s, want 1 5000 wal", i, fk, busy, journal)
		}
	}
}

func TestMemoryDatabaseIsSharedByThePoolAndPrivateToOpen(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatalf("Open memory: %v", err)
	}
	defer a.Close()
	b, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatalf("Open second memory: %v", err)
	}
	defer b.Close()

	u := newUser(t, a, "alice", "alice@example.test")
	// Several connections at once must all see the same database.
	conns := make([]interface{ Close() error }, 0, 3)
	for range 3 {
		conn, err := a.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = $1`, u.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("pooled connection sees %d users, want 1", n)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if _, err := b.UserByID(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second in-memory database sees the first one's user: err = %v", err)
	}
	// Writers on the in-memory database queue rather than fail.
	concurrentAudit(t, a, 10, 5)
}

func TestConcurrentWriters(t *testing.T) {
	concurrentAudit(t, newTestDB(t), 20, 10)
}

// concurrentAudit appends from writers goroutines at once and checks all landed.
func concurrentAudit(t *testing.T, db *DB, writers, each int) {
	t.Helper()
	ctx := context.Background()
	var before int
	db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&before)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for range each {
				errs <- db.AppendAudit(ctx, AuditEvent{ActorID: "writer", Action: AuditLogin, Outcome: OutcomeSuccess, Detail: strings.Repeat("x", w)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent AppendAudit: %v", err)
		}
	}
	var after int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if got := after - before; got != writers*each {
		t.Errorf("%d events stored, want %d", got, writers*each)
	}
}

func TestPing(t *testing.T) {
	db := newTestDB(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	db.Close()
	if err := db.Ping(context.Background()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

// Instances starting together against one new file must not trip over each
// other's migrations (the check-then-apply runs in an immediate transaction).
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	const instances = 8
	var wg sync.WaitGroup
	errs := make(chan error, instances)
	for range instances {
		wg.Go(func() {
			db, err := Open(context.Background(), url)
			if err == nil {
				err = db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := loadMigrations(migrationFiles, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.sql.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}
