package store

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// sessionUser is the user as a page request loads them: with their session.
func sessionUser(t *testing.T, db *DB, userID string) User {
	t.Helper()
	token := "listing-" + userID
	b := mustEncode(t, map[string]any{SessionUserKey: userID})
	if err := db.Sessions().CommitCtx(context.Background(), token, b, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx := WithSessionUserSlot(context.Background())
	if _, found, err := db.Sessions().FindCtx(ctx, token); err != nil || !found {
		t.Fatalf("FindCtx = %v, %v", found, err)
	}
	u, ok := SessionUser(ctx)
	if !ok || u.ID != userID {
		t.Fatalf("SessionUser = %+v, %v; want %s", u, ok, userID)
	}
	return u
}

func TestListingVersion(t *testing.T) { pgtest.EachDialect(t, testListingVersion) }

// Every kind of write to a user's devices or action attempts raises the listing
// version the session brings (SQLite), whichever handle makes it, and only theirs; on
// PostgreSQL it is always 0, unknown.
func testListingVersion(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db, other := dbs[0], dbs[1]
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	for _, u := range []User{alice, bob} {
		if err := db.RecordConnectedAccount(ctx, ConnectedAccount{ID: "acc-" + u.ID, UserID: u.ID, ConnectWebviewID: "wv"}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	dev := func(id, name string) DeviceCopy {
		return DeviceCopy{ID: id, UserID: alice.ID, ConnectedAccountID: "acc-" + alice.ID, Device: []byte(`{"display_name":"` + name + `"}`), StateAt: t0}
	}
	sync := func(h *DB, devices ...DeviceCopy) func() error {
		return func() error { return h.SyncDevices(ctx, alice.ID, []string{"acc-" + alice.ID}, devices, t0) }
	}
	var attempt ActionAttempt
	writes := []struct {
		name  string
		write func() error
	}{
		{"device inserted", sync(db, dev("d1", "Front"), dev("d2", "Back"))},
		{"devices synced again (upsert update)", sync(db, dev("d1", "Front"), dev("d2", "Back"))},
		{"device renamed in the copy", func() error {
			return db.UpdateDevice(ctx, "d1", func(DeviceCopy) ([]byte, time.Time, error) {
				return []byte(`{"display_name":"Porch"}`), t0, nil
			})
		}},
		{"device gone from a sync (delete)", sync(db, dev("d1", "Porch"))},
		{"attempt inserted", func() (err error) { attempt, err = begin(t, db, alice.ID, "d1", ActionUnlock, t0); return err }},
		{"attempt updated", func() error {
			_, _, err := db.TransitionAction(ctx, Transition{ID: attempt.ID, From: []string{AttemptRequested}, To: AttemptSuccess})
			return err
		}},
		{"attempt deleted", func() error {
			_, err := db.sql.ExecContext(ctx, `DELETE FROM action_attempts WHERE id = $1`, attempt.ID)
			return err
		}},
		{"device written by another handle", sync(other, dev("d1", "Porch"), dev("d3", "Garage"))},
		{"attempt written by another handle", func() error {
			_, err := begin(t, other, alice.ID, "d3", ActionLock, t0)
			return err
		}},
		{"account removed with its devices", func() error {
			return db.RemoveConnectedAccount(ctx, alice.ID, "acc-"+alice.ID, AuditEvent{ActorID: alice.ID, Action: "account.removed", Outcome: OutcomeSuccess})
		}},
	}
	postgres := pgtest.Postgres(t)
	before, bobBefore := sessionUser(t, db, alice.ID).ListingVersion, sessionUser(t, db, bob.ID).ListingVersion
	if postgres != (before == 0) || (postgres != (bobBefore == 0)) {
		t.Fatalf("versions at start: %d, %d; want 0 exactly on PostgreSQL", before, bobBefore)
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		after := sessionUser(t, db, alice.ID).ListingVersion
		switch {
		case postgres && after != 0:
			t.Errorf("%s: version %d on PostgreSQL; want 0 (unknown)", w.name, after)
		case !postgres && after <= before:
			t.Errorf("%s: version %d after %d; want it raised", w.name, after, before)
		}
		before = after
	}
	if got := sessionUser(t, db, bob.ID).ListingVersion; got != bobBefore {
		t.Errorf("bob's version %d after alice's writes; want %d", got, bobBefore)
	}
}

// Another process's write, through its own connection and not the store's code, raises
// the version too: the triggers are in the database file. The writer is a separate OS
// process, as the latchkey command or an operator's sqlite3 would be.
func TestListingVersionSeesAnotherProcess(t *testing.T) {
	path := t.TempDir() + "/latchkey.db"
	db, err := Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice := newUser(t, db, "alice", "alice@example.test")
	before := sessionUser(t, db, alice.ID).ListingVersion
	inChildProcess(t, path, `INSERT INTO devices (id, user_id, connected_account_id, device, state_at, synced_at, revision)
VALUES ('d1', '`+alice.ID+`', 'acc', '{}', '2026-11-30T12:00:00.000000Z', '2026-11-30T12:00:00.000000Z', 1)`)
	if after := sessionUser(t, db, alice.ID).ListingVersion; after <= before {
		t.Errorf("version %d after another process inserted a device, %d before; want it raised", after, before)
	}
}
