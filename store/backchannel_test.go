package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// signedInAt saves a session of user's started in the IdP session sid.
func signedInAt(t *testing.T, db *DB, user User, token, sid string) {
	t.Helper()
	blob := mustEncode(t, map[string]any{SessionUserKey: user.ID, SessionOIDCSIDKey: sid, SessionLastSeenKey: time.Now().Unix()})
	if err := db.Sessions().CommitCtx(t.Context(), token, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func sessionExists(t *testing.T, db *DB, token string) bool {
	t.Helper()
	_, found, err := db.Sessions().FindCtx(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEndSessionsAtIdPLogout(t *testing.T) { pgtest.EachDialect(t, testEndSessionsAtIdPLogout) }

// A logout by sid ends exactly the sessions of that IdP session; by sub, every session
// of that user and no one else's; a jti is accepted once, across two handles (two
// instances); each ending is audited on the user's trail.
func testEndSessionsAtIdPLogout(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db, other := dbs[0], dbs[1]
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	signedInAt(t, db, alice, "a1", "sid-a1")
	signedInAt(t, db, alice, "a2", "sid-a2")
	signedInAt(t, db, alice, "a3", "sid-a3")
	signedInAt(t, db, bob, "b1", "sid-b1")
	now := time.Now()
	logout := func(sub, sid, jti string) IdPLogout {
		return IdPLogout{Issuer: "https://idp.test", Subject: sub, SID: sid, JTI: jti, JTIExpiry: now.Add(10 * time.Minute), At: now,
			Audit: AuditEvent{Action: AuditIdPLogout, Outcome: OutcomeSuccess}}
	}

	ended, err := db.EndSessionsAtIdPLogout(ctx, logout("", "sid-a1", "jti-1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != 1 || !slices.Equal(ended[alice.ID], []string{"a1"}) {
		t.Errorf("by sid ended %v, want alice's a1", ended)
	}
	if sessionExists(t, db, "a1") || !sessionExists(t, db, "a2") || !sessionExists(t, db, "b1") {
		t.Error("by sid: wrong sessions ended")
	}

	// The same jti again, on the other instance: refused, nothing ends.
	if _, err := other.EndSessionsAtIdPLogout(ctx, logout("alice", "", "jti-1")); !errors.Is(err, ErrLogoutReplayed) {
		t.Fatalf("replayed jti on another handle: %v, want ErrLogoutReplayed", err)
	}
	if !sessionExists(t, db, "a2") || !sessionExists(t, db, "a3") {
		t.Error("a replayed token ended sessions")
	}

	// sid and sub together: only when that sid is that user's.
	if ended, err := other.EndSessionsAtIdPLogout(ctx, logout("bob", "sid-a2", "jti-2")); err != nil || len(ended) != 0 {
		t.Errorf("bob's sub with alice's sid ended %v, %v", ended, err)
	}
	// By sub: every session of alice's, none of bob's.
	ended, err = other.EndSessionsAtIdPLogout(ctx, logout("alice", "", "jti-3"))
	if err != nil {
		t.Fatal(err)
	}
	got := ended[alice.ID]
	slices.Sort(got)
	if len(ended) != 1 || !slices.Equal(got, []string{"a2", "a3"}) {
		t.Errorf("by sub ended %v, want alice's a2 and a3", ended)
	}
	if !sessionExists(t, db, "b1") || sessionExists(t, db, "a3") {
		t.Error("by sub: wrong sessions ended")
	}
	// Another issuer's subject of the same name is someone else.
	ended, err = db.EndSessionsAtIdPLogout(ctx, IdPLogout{Issuer: "https://other.test", Subject: "bob", JTI: "jti-4", JTIExpiry: now.Add(time.Minute), At: now})
	if err != nil || len(ended) != 0 || !sessionExists(t, db, "b1") {
		t.Errorf("another issuer's bob ended %v, %v", ended, err)
	}

	var details []string
	if err := db.EachAudit(ctx, alice.ID, func(e AuditEvent) error {
		if e.Action == AuditIdPLogout {
			details = append(details, e.Detail)
			if e.ActorID != "" || e.SubjectUserID != alice.ID {
				t.Errorf("audit actor %q subject %q", e.ActorID, e.SubjectUserID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(details)
	if !slices.Equal(details, []string{"1 session ended", "2 sessions ended"}) {
		t.Errorf("alice's trail has idp logouts %q", details)
	}

	// An expired jti is forgotten at the next logout; a fresh one is remembered.
	if _, err := db.EndSessionsAtIdPLogout(ctx, IdPLogout{Issuer: "https://idp.test", Subject: "bob", JTI: "jti-1", JTIExpiry: now.Add(time.Hour), At: now.Add(11 * time.Minute)}); err != nil {
		t.Errorf("a jti past its expiry is still refused: %v", err)
	}
}
