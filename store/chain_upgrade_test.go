package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// TestAuditChainAfterUpgrade: a database whose trail was written before the chain
// existed is upgraded; `latchkey migrate` chains those rows after the genesis entry, in
// id order, and verify finds the trail intact, then finds an edit of one of them.
func TestAuditChainAfterUpgrade(t *testing.T) { pgtest.EachDialect(t, testAuditChainAfterUpgrade) }

func testAuditChainAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	d := sqliteDialect
	if pgtest.Postgres(t) {
		url, d = pgtest.URL(t), postgresDialect
	}
	raw := rawDB(t, url)

	// The schema as the release before the chain left it.
	ms, err := loadMigrations(migrationFiles, d.String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, schemaMigrationsDDL[d]); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasSuffix(m.name, "audit_chain.sql") {
			break
		}
		if err := applyMigration(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	for i := range 3 {
		if _, err := raw.ExecContext(ctx, `
INSERT INTO audit_events (at, actor_id, subject_user_id, action, device_id, action_attempt_id, outcome, detail, remote_addr, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, formatTime(time.Now()), "u1", "u1", AuditLogin, nil, nil, OutcomeSuccess,
			fmt.Sprintf("before the chain %d", i), "", ""); err != nil {
			t.Fatal(err)
		}
	}

	if err := Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, url, "")
	if rep.Break != nil || rep.Rows != 3 || rep.Pending != 0 {
		t.Fatalf("after the upgrade: %+v, want 3 rows chained, intact", rep)
	}
	var rowIDs []int64
	var genesis string
	if err := raw.QueryRowContext(ctx, `SELECT hash FROM audit_chain WHERE seq = 0 AND row_id IS NULL`).Scan(&genesis); err != nil || genesis != genesisHash {
		t.Fatalf("genesis entry: %q, %v", genesis, err)
	}
	rows, err := raw.QueryContext(ctx, `SELECT row_id FROM audit_chain WHERE seq > 0 ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		rowIDs = append(rowIDs, id)
	}
	if fmt.Sprint(rowIDs) != "[1 2 3]" {
		t.Errorf("chained rows %v, want [1 2 3] after the genesis", rowIDs)
	}

	drop := []string{`DROP TRIGGER audit_events_no_update`}
	if d == postgresDialect {
		drop = []string{`DROP TRIGGER audit_events_no_update ON audit_events`}
	}
	for _, s := range append(drop, `UPDATE audit_events SET detail = 'nothing' WHERE id = 2`) {
		if _, err := raw.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if rep := mustVerify(t, url, ""); rep.Break == nil || rep.Break.RowID != 2 {
		t.Errorf("an edited pre-chain row: %+v, want row 2 named", rep.Break)
	}
}

// rawDB opens the database at url without migrating it.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	if isPostgresURL(url) {
		db, err := openPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.sql
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
