package store

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

var _ scs.CtxStore = (*Sessions)(nil)

func TestSessionsRoundTrip(t *testing.T) { pgtest.EachDialect(t, testSessionsRoundTrip) }

func testSessionsRoundTrip(t *testing.T) {
	db := newTestDB(t)
	s := db.Sessions()
	ctx := t.Context()
	data := []byte("session payload")
	if err := s.CommitCtx(ctx, "token-1", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.CommitCtx(ctx, "token-expired", data, time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("Commit expired: %v", err)
	}
	got, found, err := s.FindCtx(ctx, "token-1")
	if err != nil || !found || !bytes.Equal(got, data) {
		t.Fatalf("Find = %q, %v, %v; want %q, true, nil", got, found, err, data)
	}
	if _, found, err := s.FindCtx(ctx, "token-expired"); err != nil || found {
		t.Errorf("Find(expired) found = %v, err = %v; want false, nil", found, err)
	}
	// Committing again replaces the data and the expiry.
	if err := s.CommitCtx(ctx, "token-1", []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.FindCtx(ctx, "token-1"); string(got) != "v2" {
		t.Errorf("after a second commit: %q", got)
	}
	if n, err := db.DeleteExpiredSessions(ctx, time.Now()); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if err := s.DeleteCtx(ctx, "token-1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, found, err := s.FindCtx(ctx, "token-1"); err != nil || found {
		t.Errorf("Find after Delete: found = %v, err = %v; want false, nil", found, err)
	}
	// A cancelled request's context reaches the database.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.FindCtx(cancelled, "token-1"); err == nil {
		t.Error("FindCtx with a cancelled context succeeded")
	}
}

func TestSessionLoadsItsUser(t *testing.T) { pgtest.EachDialect(t, testSessionLoadsItsUser) }

// A session saved by scs with a user id brings that user back in the same query; one
// without (anonymous, or saved by the previous release) brings none, and the caller
// loads the user itself.
func testSessionLoadsItsUser(t *testing.T) {
	db := newTestDB(t)
	s := db.Sessions()
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	blob, err := (scs.GobCodec{}).Encode(time.Now().Add(time.Hour), map[string]any{SessionUserKey: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitCtx(ctx, "signed-in", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	slot := WithSessionUserSlot(ctx)
	if _, found, err := s.FindCtx(slot, "signed-in"); err != nil || !found {
		t.Fatalf("Find = %v, %v", found, err)
	}
	u, ok := SessionUser(slot)
	if !ok || u.ID != alice.ID || u.Email != "alice@example.test" || u.CreatedAt.IsZero() {
		t.Fatalf("SessionUser = %+v, %v; want alice", u, ok)
	}

	for name, data := range map[string][]byte{"anonymous": mustEncode(t, map[string]any{"flash": "x"}), "old release": []byte("opaque")} {
		if err := s.CommitCtx(ctx, name, data, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		slot := WithSessionUserSlot(ctx)
		if got, found, err := s.FindCtx(slot, name); err != nil || !found || !bytes.Equal(got, data) {
			t.Fatalf("%s: Find = %q, %v, %v", name, got, found, err)
		}
		if u, ok := SessionUser(slot); ok {
			t.Errorf("%s: SessionUser = %+v; want none", name, u)
		}
	}

	// A session whose user is gone brings no user (the middleware then ends it).
	if _, err := db.sql.ExecContext(ctx, `UPDATE sessions SET user_id = 'no-such-user' WHERE token = 'signed-in'`); err != nil {
		t.Fatal(err)
	}
	slot = WithSessionUserSlot(ctx)
	if _, found, err := s.FindCtx(slot, "signed-in"); err != nil || !found {
		t.Fatalf("Find = %v, %v", found, err)
	}
	if u, ok := SessionUser(slot); ok {
		t.Errorf("SessionUser of a deleted user = %+v; want none", u)
	}
}

func mustEncode(t *testing.T, values map[string]any) []byte {
	t.Helper()
	b, err := (scs.GobCodec{}).Encode(time.Now().Add(time.Hour), values)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
