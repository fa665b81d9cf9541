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
