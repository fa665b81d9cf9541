package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// signedIn saves a session of user's as scs would, from a client, and returns its token.
func signedIn(t *testing.T, db *DB, user User, token, userAgent, addr string, lastSeen time.Time) string {
	t.Helper()
	blob := mustEncode(t, map[string]any{SessionUserKey: user.ID, SessionLastSeenKey: lastSeen.Unix()})
	ctx := WithSessionClient(t.Context(), userAgent, addr)
	if err := db.Sessions().CommitCtx(ctx, token, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return token
}

func sessionByToken(t *testing.T, db *DB, user User, token string) SessionInfo {
	t.Helper()
	list, err := db.UserSessions(t.Context(), user.ID, token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Current {
			return s
		}
	}
	t.Fatalf("session %s not listed for %s", token, user.Email)
	return SessionInfo{}
}

func TestSessionRowsSayWhereTheyAreUsed(t *testing.T) {
	pgtest.EachDialect(t, testSessionRowsSayWhereTheyAreUsed)
}

// A new session gets a public id, its start, last-seen time (the idle deadline's start
// from the session's data), user agent and address; later saves move last-seen and the
// client but keep the id and start; long user agents are cut.
func testSessionRowsSayWhereTheyAreUsed(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	seen := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	before := time.Now().Add(-time.Second)
	signedIn(t, db, alice, "tok-a", "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0", "203.0.113.7", seen)
	s := sessionByToken(t, db, alice, "tok-a")
	if !ValidSessionPublicID(s.PublicID) || s.PublicID == "tok-a" {
		t.Errorf("public id %q", s.PublicID)
	}
	if s.CreatedAt.Before(before) || !s.LastSeenAt.Equal(seen) {
		t.Errorf("created %v (want after %v), last seen %v (want %v)", s.CreatedAt, before, s.LastSeenAt, seen)
	}
	if s.UserAgent != "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0" || s.ClientAddr != "203.0.113.7" {
		t.Errorf("client %q from %q", s.UserAgent, s.ClientAddr)
	}

	// The next save (a minute later, from another address, with a huge user agent).
	later := seen.Add(time.Minute)
	huge := string(make([]byte, 10000))
	signedIn(t, db, alice, "tok-a", "X"+huge, "198.51.100.1", later)
	s2 := sessionByToken(t, db, alice, "tok-a")
	if s2.PublicID != s.PublicID || !s2.CreatedAt.Equal(s.CreatedAt) {
		t.Errorf("id or start changed: %q %v → %q %v", s.PublicID, s.CreatedAt, s2.PublicID, s2.CreatedAt)
	}
	if !s2.LastSeenAt.Equal(later) || s2.ClientAddr != "198.51.100.1" || len(s2.UserAgent) > maxSessionUserAgentBytes {
		t.Errorf("after the second save: seen %v, addr %q, user agent %d bytes", s2.LastSeenAt, s2.ClientAddr, len(s2.UserAgent))
	}
	// A save outside a request (no client) keeps the client it knew.
	if err := db.Sessions().CommitCtx(t.Context(), "tok-a", mustEncode(t, map[string]any{SessionUserKey: alice.ID}), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s3 := sessionByToken(t, db, alice, "tok-a"); s3.ClientAddr != "198.51.100.1" {
		t.Errorf("a save without a client erased the address: %q", s3.ClientAddr)
	}
	// Every session has its own public id.
	signedIn(t, db, alice, "tok-b", "curl/8", "192.0.2.1", seen)
	if b := sessionByToken(t, db, alice, "tok-b"); b.PublicID == s.PublicID || !ValidSessionPublicID(b.PublicID) {
		t.Errorf("second session's id %q (first %q)", b.PublicID, s.PublicID)
	}

	// A row saved by the previous release (no public id, no times) gets them at its next save.
	if _, err := db.sql.ExecContext(t.Context(), `INSERT INTO sessions (token, data, expiry, user_id) VALUES ('old', $1, $2, $3)`,
		mustEncode(t, map[string]any{SessionUserKey: alice.ID}), formatTime(time.Now().Add(time.Hour)), alice.ID); err != nil {
		t.Fatal(err)
	}
	if old := sessionByToken(t, db, alice, "old"); old.PublicID != "" || !old.CreatedAt.IsZero() {
		t.Errorf("an old row reads %+v", old)
	}
	slot := WithSessionUserSlot(t.Context())
	if _, found, err := db.Sessions().FindCtx(slot, "old"); err != nil || !found {
		t.Fatal(found, err)
	}
	if err := db.Sessions().CommitCtx(slot, "old", mustEncode(t, map[string]any{SessionUserKey: alice.ID}), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if old := sessionByToken(t, db, alice, "old"); !ValidSessionPublicID(old.PublicID) || old.CreatedAt.IsZero() {
		t.Errorf("the old row after a save: %+v", old)
	}
}

func TestEndedSessionStaysEnded(t *testing.T) { pgtest.EachDialect(t, testEndedSessionStaysEnded) }

// A request that loaded a session before it was ended (elsewhere) and saves it after
// does not bring it back; a brand-new token is still inserted.
func testEndedSessionStaysEnded(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	signedIn(t, db, alice, "tok", "ua", "192.0.2.1", time.Now())
	slot := WithSessionUserSlot(t.Context())
	if _, found, err := db.Sessions().FindCtx(slot, "tok"); err != nil || !found {
		t.Fatal(found, err)
	}
	if _, err := db.EndUserSessions(t.Context(), EndSessions{UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}
	blob := mustEncode(t, map[string]any{SessionUserKey: alice.ID, SessionLastSeenKey: time.Now().Unix()})
	if err := db.Sessions().CommitCtx(slot, "tok", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := db.Sessions().FindCtx(t.Context(), "tok"); err != nil || found {
		t.Errorf("the ended session came back: found %v, %v", found, err)
	}
	if err := db.Sessions().CommitCtx(slot, "renewed", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := db.Sessions().FindCtx(t.Context(), "renewed"); err != nil || !found {
		t.Errorf("a new token was not saved: %v, %v", found, err)
	}
}

func TestEndUserSessions(t *testing.T) { pgtest.EachDialect(t, testEndUserSessions) }

// Users see and end only their own sessions: another user's public id is not found
// and ends nothing; "all others" keeps the asking session; each end is audited with
// the ending, in one transaction.
func testEndUserSessions(t *testing.T) {
	db := newTestDB(t)
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	now := time.Now()
	for _, tok := range []string{"a1", "a2", "a3"} {
		signedIn(t, db, alice, tok, "ua", "192.0.2.1", now)
	}
	signedIn(t, db, bob, "b1", "ua", "192.0.2.2", now)
	if err := db.Sessions().CommitCtx(ctx, "a-expired", mustEncode(t, map[string]any{SessionUserKey: alice.ID}), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	list, err := db.UserSessions(ctx, alice.ID, "a2", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || !list[0].Current {
		t.Fatalf("alice's sessions: %+v; want 3, the current one first", list)
	}
	bobs := sessionByToken(t, db, bob, "b1")

	audit := AuditEvent{ActorID: alice.ID, SubjectUserID: alice.ID, Action: AuditSessionEnded, Outcome: OutcomeSuccess}
	if _, err := db.EndUserSessions(ctx, EndSessions{UserID: alice.ID, PublicID: bobs.PublicID, Audit: audit}); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice ending bob's session: %v; want ErrNotFound", err)
	}
	if _, found, _ := db.Sessions().FindCtx(ctx, "b1"); !found {
		t.Fatal("bob's session was ended by alice")
	}

	a3 := sessionByToken(t, db, alice, "a3")
	tokens, err := db.EndUserSessions(ctx, EndSessions{UserID: alice.ID, PublicID: a3.PublicID, Audit: audit})
	if err != nil || len(tokens) != 1 || tokens[0] != "a3" {
		t.Fatalf("end a3 = %v, %v", tokens, err)
	}
	if _, found, _ := db.Sessions().FindCtx(ctx, "a3"); found {
		t.Error("a3 still found")
	}
	// Ending it again: not found.
	if _, err := db.EndUserSessions(ctx, EndSessions{UserID: alice.ID, PublicID: a3.PublicID, Audit: audit}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ending an ended session: %v", err)
	}

	audit.Action = AuditSessionEndedOthers
	tokens, err = db.EndUserSessions(ctx, EndSessions{UserID: alice.ID, Except: "a2", Audit: audit})
	if err != nil || len(tokens) != 2 { // a1 and the expired one
		t.Fatalf("end others = %v, %v", tokens, err)
	}
	if _, found, _ := db.Sessions().FindCtx(ctx, "a2"); !found {
		t.Error("end others ended the asking session")
	}
	if _, found, _ := db.Sessions().FindCtx(ctx, "b1"); !found {
		t.Error("end others ended bob's session")
	}
	events, _, err := db.ListAudit(ctx, AuditQuery{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action+": "+e.Detail)
	}
	want := []string{AuditSessionEndedOthers + ": 2 sessions ended", AuditSessionEnded + ": 1 session ended"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

func TestDisabledUser(t *testing.T) { pgtest.EachDialect(t, testDisabledUser) }

// Disabling a user ends their sessions in the same transaction, is read with the
// session's user, refuses their actions inside the intent transaction on any handle,
// and does not move their last sign-in; enabling lets them act again.
func testDisabledUser(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db, other := dbs[0], dbs[1]
	ctx := t.Context()
	alice := newUser(t, db, "alice", "alice@example.test")
	admin := newUser(t, db, "admin", "admin@example.test")
	signedIn(t, db, alice, "a1", "ua", "192.0.2.1", time.Now())
	signedIn(t, db, alice, "a2", "ua", "192.0.2.1", time.Now())
	slot := WithSessionUserSlot(ctx)
	if _, _, err := db.Sessions().FindCtx(slot, "a1"); err != nil {
		t.Fatal(err)
	}
	if u, ok := SessionUser(slot); !ok || u.Disabled() {
		t.Fatalf("before: %+v %v", u, ok)
	}

	at := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
	u, tokens, err := db.SetUserDisabled(ctx, UserDisabling{UserID: alice.ID, Disabled: true, At: at,
		Audit: AuditEvent{ActorID: admin.ID, SubjectUserID: alice.ID, Action: AuditAdminUserDisabled, Outcome: OutcomeSuccess}})
	if err != nil || !u.Disabled() || !u.DisabledAt.Equal(at) || len(tokens) != 2 {
		t.Fatalf("disable = %+v, %v, %v", u, tokens, err)
	}
	for _, tok := range []string{"a1", "a2"} {
		if _, found, _ := other.Sessions().FindCtx(ctx, tok); found {
			t.Errorf("session %s survived the disabling", tok)
		}
	}
	if got, err := other.UserByID(ctx, alice.ID); err != nil || !got.Disabled() {
		t.Errorf("UserByID = %+v, %v; want disabled", got, err)
	}
	// A session saved after the disabling (a sign-in that raced it) reads its user disabled.
	signedIn(t, db, alice, "raced", "ua", "192.0.2.1", time.Now())
	slot = WithSessionUserSlot(ctx)
	if _, _, err := other.Sessions().FindCtx(slot, "raced"); err != nil {
		t.Fatal(err)
	}
	if u, ok := SessionUser(slot); !ok || !u.Disabled() {
		t.Errorf("the session's user = %+v, %v; want disabled", u, ok)
	}
	// Disabling again keeps the first time.
	if u, _, err := db.SetUserDisabled(ctx, UserDisabling{UserID: alice.ID, Disabled: true, At: time.Now()}); err != nil || !u.DisabledAt.Equal(at) {
		t.Errorf("disable again = %v, %v", u.DisabledAt, err)
	}

	// The intent transaction refuses, on the other handle; nothing is recorded.
	_, err = begin(t, other, alice.ID, "dev-1", ActionUnlock, time.Now())
	if !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("BeginAction for a disabled user: %v; want ErrUserDisabled", err)
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM action_attempts WHERE user_id = $1`, alice.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d actions recorded (%v)", n, err)
	}

	// Signing in while disabled does not count as a sign-in.
	back, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "alice", Email: "alice@example.test"}, time.Now().Add(time.Hour))
	if err != nil || !back.Disabled() || !back.LastLoginAt.Equal(alice.LastLoginAt) {
		t.Errorf("login while disabled = %+v, %v; last login want %v", back, err, alice.LastLoginAt)
	}

	u, tokens, err = other.SetUserDisabled(ctx, UserDisabling{UserID: alice.ID, Disabled: false,
		Audit: AuditEvent{ActorID: admin.ID, SubjectUserID: alice.ID, Action: AuditAdminUserEnabled, Outcome: OutcomeSuccess}})
	if err != nil || u.Disabled() || len(tokens) != 0 {
		t.Fatalf("enable = %+v, %v, %v", u, tokens, err)
	}
	if _, err := begin(t, db, alice.ID, "dev-1", ActionUnlock, time.Now()); err != nil {
		t.Errorf("BeginAction after enabling: %v", err)
	}
	if _, _, err := db.SetUserDisabled(ctx, UserDisabling{UserID: uuid.NewString(), Disabled: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("disabling nobody: %v", err)
	}
	events, _, _ := db.ListAudit(ctx, AuditQuery{UserID: alice.ID})
	var actions []string
	for _, e := range events {
		if e.ActorID == admin.ID {
			actions = append(actions, e.Action+": "+e.Detail)
		}
	}
	if len(actions) != 2 || actions[0] != AuditAdminUserEnabled+": " || actions[1] != AuditAdminUserDisabled+": 2 sessions ended" {
		t.Errorf("audit = %q", actions)
	}
}
