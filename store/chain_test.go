package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// newChainDBs opens n handles on one fresh, migrated database and returns its URL too,
// for VerifyAudit.
func newChainDBs(t *testing.T, n int) ([]*DB, string) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	if pgtest.Postgres(t) {
		url = pgtest.URL(t)
	}
	if err := Migrate(context.Background(), url); err != nil {
		t.Fatalf("Migrate: %v", err)
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
	return dbs, url
}

// appendN appends n events for one user, each with a different detail.
func appendN(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.AppendAudit(context.Background(), AuditEvent{ActorID: "u1", SubjectUserID: "u1", Action: AuditLogin,
			Outcome: OutcomeSuccess, Detail: fmt.Sprintf("event %d", i), DeviceID: "dev", DeviceName: "Front door"}); err != nil {
			t.Fatal(err)
		}
	}
}

// dropAppendOnly removes the triggers that refuse UPDATE and DELETE, as someone with
// the database's owner role could.
func dropAppendOnly(t *testing.T, db *DB) {
	t.Helper()
	stmts := []string{
		`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`,
		`DROP TRIGGER audit_chain_no_update`, `DROP TRIGGER audit_chain_no_delete`,
	}
	if db.dialect == postgresDialect {
		stmts = []string{
			`DROP TRIGGER audit_events_no_update ON audit_events`, `DROP TRIGGER audit_chain_no_update ON audit_chain`,
		}
	}
	for _, s := range stmts {
		if _, err := db.SQL().Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func mustVerify(t *testing.T, url, head string) ChainReport {
	t.Helper()
	rep, err := VerifyAudit(context.Background(), url, head)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	return rep
}

func TestAuditChainIntact(t *testing.T) { pgtest.EachDialect(t, testAuditChainIntact) }

func testAuditChainIntact(t *testing.T) {
	dbs, url := newChainDBs(t, 1)
	rep := mustVerify(t, url, "")
	if rep.Break != nil || rep.Rows != 0 || rep.Head != genesisHash {
		t.Fatalf("empty trail: %+v, want intact with the genesis as head", rep)
	}
	appendN(t, dbs[0], 5)
	rep = mustVerify(t, url, "")
	if rep.Break != nil || rep.Rows != 5 || !strings.HasPrefix(rep.Head, "v1:") || len(rep.Head) != 3+64 {
		t.Fatalf("report %+v, want 5 intact rows and a v1 head", rep)
	}
	// An earlier head is still in a chain that grew since.
	appendN(t, dbs[0], 1)
	if rep2 := mustVerify(t, url, rep.Head); rep2.Break != nil || rep2.Rows != 6 || rep2.Head == rep.Head {
		t.Fatalf("after one more: %+v", rep2)
	}
	// The names mentioned are kept.
	events, _, err := dbs[0].ListAudit(context.Background(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if events[0].DeviceName != "Front door" || events[0].AccountName != "" {
		t.Errorf("names read back: %+v", events[0])
	}
}

func TestVerifyAuditFindsTampering(t *testing.T) {
	pgtest.EachDialect(t, testVerifyAuditFindsTampering)
}

func testVerifyAuditFindsTampering(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper string // run after 6 rows (ids 1–6) were appended and the triggers dropped
		head   bool   // verify against the head printed before tampering
		row    int64  // the row the break must name; 0: the chain itself
		reason string
	}{
		{name: "edit", tamper: `UPDATE audit_events SET detail = 'nothing happened' WHERE id = 3`, row: 3, reason: "do not match"},
		{name: "edit a name", tamper: `UPDATE audit_events SET device_name = 'Back door' WHERE id = 2`, row: 2, reason: "do not match"},
		{name: "null for empty", tamper: `UPDATE audit_events SET account_name = '' WHERE id = 4`, row: 4, reason: "do not match"},
		{name: "delete", tamper: `DELETE FROM audit_events WHERE id = 4`, row: 4, reason: "missing"},
		{name: "reorder", tamper: `UPDATE audit_events SET detail = CASE id WHEN 2 THEN 'event 2' ELSE 'event 1' END WHERE id IN (2, 3)`,
			row: 2, reason: "do not match"},
		{name: "delete with its entry", tamper: `DELETE FROM audit_chain WHERE row_id = 3; DELETE FROM audit_events WHERE id = 3`,
			row: 0, reason: "missing from the chain"},
		{name: "unchain a row", tamper: `DELETE FROM audit_chain WHERE row_id = 5`, reason: "missing from the chain"},
		{name: "delete the newest", head: true,
			tamper: `DELETE FROM audit_chain WHERE row_id >= 5; DELETE FROM audit_events WHERE id >= 5`, reason: "not in the chain"},
		{name: "rewrite the genesis", tamper: `UPDATE audit_chain SET hash = 'v1:00' WHERE seq = 0`, reason: "genesis"},
		{name: "reorder the chain", tamper: `UPDATE audit_chain SET row_id = NULL WHERE row_id = 2; ` +
			`UPDATE audit_chain SET row_id = 2 WHERE row_id = 3; UPDATE audit_chain SET row_id = 3 WHERE row_id IS NULL AND seq > 0`,
			row: 3, reason: "do not match"},
		// Not a hash of any version: a break, not a newer release's encoding.
		{name: "a hash that is no hash", tamper: `UPDATE audit_chain SET hash = 'deleted' WHERE seq = 6`, row: 6, reason: "not a hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dbs, url := newChainDBs(t, 1)
			db := dbs[0]
			appendN(t, db, 6)
			before := mustVerify(t, url, "")
			if before.Break != nil || before.Rows != 6 {
				t.Fatalf("before tampering: %+v", before)
			}
			dropAppendOnly(t, db)
			for _, stmt := range strings.Split(tt.tamper, "; ") {
				if _, err := db.SQL().Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			head := ""
			if tt.head {
				head = before.Head
				// Without the head the shortened chain is consistent: only the kept head tells.
				if rep := mustVerify(t, url, ""); rep.Break != nil || rep.Rows != 4 || rep.Head == before.Head {
					t.Fatalf("shortened chain without a head: %+v", rep)
				}
			}
			rep := mustVerify(t, url, head)
			if rep.Break == nil {
				t.Fatalf("tampering not found: %+v", rep)
			}
			if rep.Break.RowID != tt.row || !strings.Contains(rep.Break.Error(), tt.reason) {
				t.Errorf("break = %v (row %d), want row %d and %q", rep.Break, rep.Break.RowID, tt.row, tt.reason)
			}
			// Only a break at the genesis names entry 0.
			if tt.reason != "genesis" && strings.Contains(rep.Break.Error(), "entry 0") {
				t.Errorf("break = %v: names the genesis entry, which is intact", rep.Break)
			}
		})
	}
}

func TestAuditChainStaysLinearUnderConcurrentAppends(t *testing.T) {
	pgtest.EachDialect(t, testAuditChainStaysLinearUnderConcurrentAppends)
}

func testAuditChainStaysLinearUnderConcurrentAppends(t *testing.T) {
	dbs, url := newChainDBs(t, 2) // two handles: two instances on one database
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			db := dbs[i%2]
			e := AuditEvent{ActorID: fmt.Sprintf("u%d", i), Action: AuditLogin, Outcome: OutcomeSuccess, Detail: fmt.Sprint(i)}
			var err error
			if i%3 == 0 {
				// Appends inside other writes' transactions chain too.
				_, err = db.AppendAuditOnce(ctx, e, time.Now().Add(-time.Minute))
			} else {
				err = db.AppendAudit(ctx, e)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := mustVerify(t, url, "")
	if rep.Break != nil || rep.Rows != n || rep.Pending != 0 {
		t.Fatalf("after %d concurrent appends: %+v", n, rep)
	}
}

// Rows written without the chain — before the migration, or by the previous release
// beside this one — are chained after the genesis in id order.
func TestAuditChainCatchesUpUnchainedRows(t *testing.T) {
	pgtest.EachDialect(t, testAuditChainCatchesUpUnchainedRows)
}

func testAuditChainCatchesUpUnchainedRows(t *testing.T) {
	ctx := context.Background()
	dbs, url := newChainDBs(t, 1)
	db := dbs[0]
	oldInsert := func(detail string) {
		t.Helper()
		// The previous release's statement, verbatim.
		if _, err := db.SQL().ExecContext(ctx, `
INSERT INTO audit_events (at, actor_id, subject_user_id, action, device_id, action_attempt_id, outcome, detail, remote_addr, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, formatTime(time.Now()), "u1", "u1", AuditLogin, nil, nil, OutcomeSuccess, detail, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	oldInsert("old 1")
	oldInsert("old 2")
	if rep := mustVerify(t, url, ""); rep.Break != nil || rep.Rows != 0 || rep.Pending != 2 {
		t.Fatalf("before chaining: %+v, want 2 pending rows", rep)
	}
	if n, err := db.ChainAudit(ctx); err != nil || n != 2 {
		t.Fatalf("ChainAudit = %d, %v; want 2", n, err)
	}
	oldInsert("old 3")
	appendN(t, db, 1) // chains the previous release's row first, then its own
	rep := mustVerify(t, url, "")
	if rep.Break != nil || rep.Rows != 4 || rep.Pending != 0 {
		t.Fatalf("after catching up: %+v", rep)
	}
	var rowIDs []int64
	rows, err := db.SQL().QueryContext(ctx, `SELECT row_id FROM audit_chain WHERE seq > 0 ORDER BY seq`)
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
	if fmt.Sprint(rowIDs) != "[1 2 3 4]" {
		t.Errorf("chained rows %v, want [1 2 3 4]", rowIDs)
	}

	// A previous-release row committed behind a newer chained one (the race during an
	// upgrade) is reported until `latchkey migrate` chains it.
	if db.dialect == postgresDialect {
		_, err = db.SQL().ExecContext(ctx, `INSERT INTO audit_events (id, at, action, outcome) OVERRIDING SYSTEM VALUE VALUES (100, now(), 'auth.login', 'success')`)
	} else {
		_, err = db.SQL().ExecContext(ctx, `INSERT INTO audit_events (id, at, action, outcome) VALUES (100, $1, 'auth.login', 'success')`, formatTime(time.Now()))
	}
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, db, 1) // id 101
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO audit_events (id, at, action, outcome) `+
		map[dialect]string{postgresDialect: `OVERRIDING SYSTEM VALUE `}[db.dialect]+`VALUES (50, $1, 'auth.login', 'success')`,
		formatTime(time.Now())); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, url, "")
	if rep.Break == nil || rep.Break.RowID != 50 || !strings.Contains(rep.Break.Error(), "not in the chain") ||
		strings.Contains(rep.Break.Error(), "entry 0") {
		t.Fatalf("row behind the chain: %+v, want row 50 reported", rep.Break)
	}
	if err := Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, url, ""); rep.Break != nil || rep.Rows != 7 {
		t.Fatalf("after latchkey migrate: %+v", rep)
	}
}

func TestVerifyAuditCannotCheck(t *testing.T) {
	ctx := context.Background()
	dbs, dbURL := newChainDBs(t, 1)
	appendN(t, dbs[0], 2)
	if _, err := dbs[0].SQL().Exec(`INSERT INTO audit_chain (seq, row_id, prev_hash, hash) VALUES (3, 100, 'x', 'v9:` + strings.Repeat("0f", 32) + `')`); err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyAudit(ctx, dbURL, ""); err == nil || !strings.Contains(err.Error(), `"v9"`) {
		t.Errorf("a hash of an unknown version: %+v, %v; want an error (cannot check)", rep, err)
	}
	for _, url := range []string{
		"sqlite:" + filepath.Join(t.TempDir(), "absent.db"),
		"sqlite::memory:",
		"mysql://x",
		"postgres://%zz",
	} {
		if rep, err := VerifyAudit(ctx, url, ""); err == nil {
			t.Errorf("VerifyAudit(%q) = %+v, want an error", url, rep)
		}
	}
}

func TestClientString(t *testing.T) {
	got := ClientString("path", "/admin/\x1b[31m\"x\"\n")
	if got != `path (client-supplied): "/admin/\x1b[31m\"x\"\n"` {
		t.Errorf("ClientString = %s", got)
	}
	long := ClientString("path", "/"+strings.Repeat("é", 300))
	if len(long) > 260 || !strings.HasSuffix(long, `…"`) {
		t.Errorf("long value not bounded: %d bytes: %s", len(long), long)
	}
	if bad := ClientString("path", "/\xff"); !strings.Contains(bad, `\ufffd`) && !strings.Contains(bad, "\uFFFD") {
		t.Errorf("invalid UTF-8 kept: %s", bad)
	}
}
