package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// memoDB opens a SQLite file database, whose sessions the memo keeps.
func memoDB(t *testing.T) (*DB, string) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if db.memo == nil {
		t.Fatal("a SQLite file database has no session memo")
	}
	return db, url
}

// aliceSession commits a session "tok" of a new user alice and returns a find of it that
// reports its data, its user and whether it was found.
func aliceSession(t *testing.T, db *DB) (User, []byte, func() ([]byte, User, bool)) {
	t.Helper()
	s := db.Sessions()
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	data := mustEncode(t, map[string]any{SessionUserKey: alice.ID})
	if err := s.CommitCtx(ctx, "tok", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return alice, data, func() ([]byte, User, bool) {
		t.Helper()
		slot := WithSessionUserSlot(ctx)
		got, found, err := s.FindCtx(slot, "tok")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := SessionUser(slot)
		return got, u, found
	}
}

// poison replaces the memo's copy of token's data, so a test sees whether FindCtx
// answered from the memo (the poisoned bytes) or from the database.
func poison(t *testing.T, db *DB, token string) []byte {
	t.Helper()
	db.memo.mu.Lock()
	defer db.memo.mu.Unlock()
	e, ok := db.memo.entries[token]
	if !ok {
		t.Fatalf("the memo does not hold %s", token)
	}
	e.data = []byte("from the memo")
	db.memo.entries[token] = e
	return e.data
}

// TestSessionMemoServesUntilTheDatabaseChanges: a session read once is answered from
// the memo while nothing is committed; any commit — by this process's pool, by another
// handle on the file (another process), ending, disabling — is seen by the next find.
func TestSessionMemoServesUntilTheDatabaseChanges(t *testing.T) {
	db, url := memoDB(t)
	ctx := t.Context()
	alice, data, find := aliceSession(t, db)
	if got, u, found := find(); !found || !bytes.Equal(got, data) || u.ID != alice.ID {
		t.Fatalf("first find: %q %+v %v", got, u, found)
	}
	// Nothing changed: the memo answers, with the user.
	poisoned := poison(t, db, "tok")
	if got, u, found := find(); !found || !bytes.Equal(got, poisoned) || u.ID != alice.ID {
		t.Fatalf("find while nothing changed = %q, %+v, %v; want the memo's entry", got, u, found)
	}

	// A commit through this handle's pool.
	if err := db.SetUserTimeZone(ctx, alice.ID, "Europe/Paris"); err != nil {
		t.Fatal(err)
	}
	if got, u, found := find(); !found || !bytes.Equal(got, data) || u.TimeZone != "Europe/Paris" {
		t.Fatalf("find after a commit = %q, %+v, %v; want the row as it is now", got, u, found)
	}

	// The memo answers again once it holds the row as it is since.
	poisoned = poison(t, db, "tok")
	if got, _, _ := find(); !bytes.Equal(got, poisoned) {
		t.Fatalf("find after the memo was refilled = %q; want the memo's entry", got)
	}

	// A commit by another handle on the file, as another process would.
	other, err := sql.Open("sqlite", url[len("sqlite:"):])
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `UPDATE users SET is_admin = TRUE WHERE id = ?`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if got, u, found := find(); !found || !bytes.Equal(got, data) || !u.IsAdmin {
		t.Fatalf("find after another process's commit = %q, %+v, %v; want the row as it is now", got, u, found)
	}

	// Ended by another process: gone at the next find.
	find()
	if _, err := other.ExecContext(ctx, `DELETE FROM sessions WHERE token = 'tok'`); err != nil {
		t.Fatal(err)
	}
	if got, _, found := find(); found {
		t.Fatalf("find after the session was deleted elsewhere = %q; want none", got)
	}
}

// TestSessionMemoHonoursExpiry: an entry is not used past the session's expiry, though
// nothing was committed since.
func TestSessionMemoHonoursExpiry(t *testing.T) {
	db, _ := memoDB(t)
	s := db.Sessions()
	ctx := t.Context()
	if err := s.CommitCtx(ctx, "short", []byte("x"), time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.FindCtx(ctx, "short"); err != nil || !found {
		t.Fatalf("find = %v %v", found, err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, found, err := s.FindCtx(ctx, "short"); err != nil || found {
		t.Fatalf("find past the expiry = %v %v; want none", found, err)
	}
}

// TestSessionMemoConcurrent: many goroutines commit, find, end and find again their
// own sessions while others do the same; a session is found after its commit and never
// after its deletion returned.
func TestSessionMemoConcurrent(t *testing.T) {
	db, _ := memoDB(t)
	s := db.Sessions()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				tok := fmt.Sprintf("g%d-%d", g, i)
				data := []byte(tok)
				if err := s.CommitCtx(ctx, tok, data, time.Now().Add(time.Hour)); err != nil {
					errs <- err
					return
				}
				for range 3 {
					got, found, err := s.FindCtx(ctx, tok)
					if err != nil || !found || !bytes.Equal(got, data) {
						errs <- fmt.Errorf("%s after commit: %q %v %v", tok, got, found, err)
						return
					}
				}
				if err := s.DeleteCtx(ctx, tok); err != nil {
					errs <- err
					return
				}
				if got, found, err := s.FindCtx(ctx, tok); err != nil || found {
					errs <- fmt.Errorf("%s after delete: %q %v %v", tok, got, found, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWALIndexSeesEveryCommit: the WAL-index header the memo reads changes with every
// commit — through the pool, through another connection to the file, after the WAL was
// checkpointed and truncated (the next commit restarts it) — and not without one.
func TestWALIndexSeesEveryCommit(t *testing.T) {
	db, url := memoDB(t)
	if db.memo.wal == nil {
		t.Fatal("the WAL-index is not mapped")
	}
	ctx := t.Context()
	other, err := sql.Open("sqlite", url[len("sqlite:"):]+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	alice := newUser(t, db, "alice", "alice@example.test")
	version := func() walIndexVersion {
		t.Helper()
		v, ok := db.memo.wal.version()
		if !ok {
			t.Fatal("the WAL-index header cannot be read while nothing writes")
		}
		return v
	}
	seen := map[walIndexVersion]bool{}
	last := version()
	seen[last] = true
	for i := range 60 {
		var err error
		switch i % 3 {
		case 0:
			err = db.SetUserTimeZone(ctx, alice.ID, fmt.Sprintf("Etc/GMT+%d", i%12))
		case 1:
			_, err = other.ExecContext(ctx, `UPDATE users SET name = ? WHERE id = ?`, fmt.Sprint("n", i), alice.ID)
		case 2:
			if _, err = other.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err == nil {
				_, err = db.sql.ExecContext(ctx, `UPDATE users SET email = ? WHERE id = ?`, fmt.Sprint(i, "@example.test"), alice.ID)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		v := version()
		if seen[v] {
			t.Fatalf("commit %d left the WAL-index header as it was before", i)
		}
		seen[v] = true
		// Reads do not change it.
		if _, err := db.UserByID(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if again := version(); again != v {
			t.Fatalf("a read after commit %d changed the WAL-index header", i)
		}
	}
}

// TestWALIndexDistrustsTornAndReplacedFiles: the header is used only when both of its
// copies agree, it was initialised, and the file mapped is still the one at the path.
func TestWALIndexDistrustsTornAndReplacedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	header := func(first, second byte) []byte {
		b := make([]byte, 32<<10)
		for i := range 48 {
			b[i], b[48+i] = first, second
		}
		return b
	}
	if err := os.WriteFile(path+"-shm", header(7, 7), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWALIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if _, ok := w.version(); !ok {
		t.Fatal("an initialised header whose copies agree is not read")
	}
	f, err := os.OpenFile(path+"-shm", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{8}, 50); err != nil { // the second copy, mid-update
		t.Fatal(err)
	}
	if _, ok := w.version(); ok {
		t.Error("a header whose copies differ is read")
	}
	if _, err := f.WriteAt(header(0, 0)[:96], 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, ok := w.version(); ok {
		t.Error("an uninitialised header is read")
	}
	next := path + "-shm.new"
	if err := os.WriteFile(next, header(7, 7), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path+"-shm"); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.version(); ok {
		t.Error("the mapping of a file no longer at the path is read")
	}
	w2, err := openWALIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.close()
	if _, ok := w2.version(); !ok {
		t.Error("the new file's header is not read")
	}
}

// childSQLEnv names the statement TestSQLiteChildProcess runs, and childDBEnv the file.
const (
	childSQLEnv = "LATCHKEY_STORE_CHILD_SQL"
	childDBEnv  = "LATCHKEY_STORE_CHILD_DB"
)

// TestSQLiteChildProcess is not a test of its own: run by inChildProcess as a separate
// OS process, it executes one statement on the database file, as the latchkey command
// or an operator's sqlite3 would while the portal runs.
func TestSQLiteChildProcess(t *testing.T) {
	stmt, path := os.Getenv(childSQLEnv), os.Getenv(childDBEnv)
	if stmt == "" || path == "" {
		t.Skip("only run as a child process")
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// inChildProcess runs stmt on the SQLite file at path in another process.
func inChildProcess(t *testing.T, path, stmt string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childSQLEnv+"="+stmt, childDBEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

// TestSessionMemoSeesAnotherProcess: while the portal's memo holds a session, another
// OS process (its own connection, its own mapping of the WAL-index) demotes the user,
// then ends the session; each is seen by the very next find — the memo was serving
// hits in between (proved by poisoning the entry).
func TestSessionMemoSeesAnotherProcess(t *testing.T) {
	db, url := memoDB(t)
	path := url[len("sqlite:"):]
	alice, data, find := aliceSession(t, db)
	if _, err := db.sql.ExecContext(t.Context(), `UPDATE users SET is_admin = TRUE WHERE id = ?`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, u, found := find(); !found || !u.IsAdmin {
		t.Fatalf("first find: %+v %v", u, found)
	}
	poisoned := poison(t, db, "tok")
	if got, _, _ := find(); !bytes.Equal(got, poisoned) {
		t.Fatal("the memo does not answer while nothing changed")
	}

	inChildProcess(t, path, `UPDATE users SET is_admin = FALSE WHERE id = '`+alice.ID+`'`)
	if got, u, found := find(); !found || u.IsAdmin || !bytes.Equal(got, data) {
		t.Fatalf("after another process demoted alice: %q %+v %v; want the row as it is now", got, u, found)
	}
	poison(t, db, "tok")
	inChildProcess(t, path, `DELETE FROM sessions WHERE token = 'tok'`)
	if got, _, found := find(); found {
		t.Fatalf("after another process ended the session: found %q", got)
	}
}
