package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// TestPostgresRoles: `latchkey migrate` runs as the owner role; the application role,
// without DDL rights, then runs Latchkey, and cannot alter the audit trail.
func TestPostgresRoles(t *testing.T) {
	ownerURL, appURL := pgtest.OwnerAndAppURLs(t)
	ctx := context.Background()

	if _, err := Open(ctx, appURL); !errors.Is(err, ErrSchemaTooOld) || !strings.Contains(err.Error(), "latchkey migrate") {
		t.Fatalf("Open before migrate: %v, want ErrSchemaTooOld saying to run latchkey migrate", err)
	}
	if err := Migrate(ctx, appURL); err == nil {
		t.Fatal("the application role could migrate (it must have no DDL rights)")
	}
	if err := Migrate(ctx, ownerURL); err != nil {
		t.Fatalf("Migrate as owner: %v", err)
	}
	db, err := Open(ctx, appURL)
	if err != nil {
		t.Fatalf("Open as the application role: %v", err)
	}
	defer db.Close()
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.AppendAudit(ctx, AuditEvent{ActorID: alice.ID, Action: AuditLogin, Outcome: OutcomeSuccess}); err != nil {
		t.Fatalf("append audit as the application role: %v", err)
	}
	if err := db.Sessions().CommitCtx(ctx, "tok", []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("commit a session as the application role: %v", err)
	}
	for _, stmt := range []string{
		`CREATE TABLE sneaky (a TEXT)`,
		`UPDATE audit_events SET detail = 'edited'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		if _, err := db.SQL().ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s as the application role succeeded", stmt)
		}
	}
}

// TestPostgresMigrateConcurrently: two `latchkey migrate` at once apply each migration
// once (the advisory lock), and a second run is a no-op.
func TestPostgresMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := Migrate(ctx, url); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := loadMigrations(migrationFiles, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Errorf("schema_migrations has %d rows (%v), want %d", n, err, len(ms))
	}
	// A database newer than this binary (a later release migrated it) is accepted.
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	newer, err := Open(ctx, url)
	if err != nil {
		t.Fatalf("Open on a newer schema: %v", err)
	}
	newer.Close()
}

// TestPostgresURLSettings: pool size and statement timeout come from the URL.
func TestPostgresURLSettings(t *testing.T) {
	url := pgtest.URL(t)
	if err := Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := Open(context.Background(), url+sep+"pool_max_conns=3&statement_timeout=250")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Stats().MaxOpenConnections; got != 3 {
		t.Errorf("pool size %d, want 3", got)
	}
	if _, err := db.SQL().ExecContext(context.Background(), `SELECT pg_sleep(1)`); err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Errorf("a 1 s statement under a 250 ms timeout: %v", err)
	}
}
