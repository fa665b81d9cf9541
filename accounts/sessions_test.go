package accounts_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// sessionsEnv is the session use cases over a real SQLite store, recording what they
// tell the live streams.
type sessionsEnv struct {
	db    *store.DB
	svc   *accounts.Sessions
	ended map[string][]string // user id → tokens
}

func newSessionsEnv(t *testing.T) *sessionsEnv {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &sessionsEnv{db: db, ended: map[string][]string{}}
	e.svc = &accounts.Sessions{Store: db, Now: time.Now, Ended: func(userID string, tokens []string) {
		e.ended[userID] = append(e.ended[userID], tokens...)
	}}
	return e
}

func (e *sessionsEnv) user(t *testing.T, name string, admin bool) store.User {
	t.Helper()
	u, err := e.db.UpsertUserAtLogin(t.Context(), store.Login{Issuer: "https://idp.test", Subject: name, Email: name + "@example.test", IsAdmin: admin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// session saves a signed-in session of u's under token, as the session middleware would.
func (e *sessionsEnv) session(t *testing.T, u store.User, token string) {
	t.Helper()
	blob, err := (scs.GobCodec{}).Encode(time.Now().Add(time.Hour), map[string]any{store.SessionUserKey: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Sessions().CommitCtx(store.WithSessionClient(t.Context(), "ua", "192.0.2.1"), token, blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func (e *sessionsEnv) audited(t *testing.T, action string) []store.AuditEvent {
	t.Helper()
	events, _, err := e.db.ListAudit(t.Context(), store.AuditQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, ev := range events {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

// TestEndSession: a user ends their own session by public id (its stream is told, the
// client is named in the trail); another user's, a malformed or an unknown id is
// ErrSessionNotFound, ends nothing and is audited as refused; ending the asking
// session says so.
func TestEndSession(t *testing.T) {
	e := newSessionsEnv(t)
	alice, bob := e.user(t, "alice", false), e.user(t, "bob", false)
	e.session(t, alice, "a1")
	e.session(t, alice, "a2")
	e.session(t, bob, "b1")
	ctx := request.With(t.Context(), &request.Info{RemoteAddr: "203.0.113.9", UserAgent: "Firefox"})
	list, err := e.svc.List(ctx, alice, "a1")
	if err != nil || len(list) != 2 || !list[0].Current {
		t.Fatalf("List = %+v, %v", list, err)
	}
	bobs, _ := e.svc.List(ctx, bob, "")
	for _, id := range []string{bobs[0].PublicID, "", "../../b1", "b1", uuid.NewString(), "AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := e.svc.End(ctx, alice, id, "a1"); !errors.Is(err, accounts.ErrSessionNotFound) {
			t.Errorf("End(%q) = %v, want ErrSessionNotFound", id, err)
		}
	}
	if got, _ := e.svc.List(ctx, bob, ""); len(got) != 1 {
		t.Error("bob's session was ended")
	}
	denied := e.audited(t, store.AuditAccessDenied)
	if n := len(denied); n != 6 {
		t.Errorf("%d refusals audited, want 6", n)
	}
	// The id in the URL is the client's to write: its detail says so, quoted.
	for _, ev := range denied {
		if !strings.HasPrefix(ev.Detail, "session id (client-supplied): \"") {
			t.Errorf("refusal detail %q does not mark the id as the client's", ev.Detail)
		}
	}

	current, err := e.svc.End(ctx, alice, list[1].PublicID, "a1")
	if err != nil || current {
		t.Fatalf("End(other) = %v, %v", current, err)
	}
	if len(e.ended[alice.ID]) != 1 || e.ended[alice.ID][0] != "a2" {
		t.Errorf("streams told %v, want a2", e.ended[alice.ID])
	}
	ev := e.audited(t, store.AuditSessionEnded)
	if len(ev) != 1 || ev[0].ActorID != alice.ID || ev[0].SubjectUserID != alice.ID || ev[0].RemoteAddr != "203.0.113.9" || ev[0].UserAgent != "Firefox" {
		t.Errorf("session.ended events: %+v", ev)
	}
	current, err = e.svc.End(ctx, alice, list[0].PublicID, "a1")
	if err != nil || !current {
		t.Errorf("End(current) = %v, %v; want true", current, err)
	}
	if _, err := e.svc.EndOthers(ctx, alice, ""); err == nil {
		t.Error("EndOthers without a current session ended every session")
	}
}

// TestDisableUser: admins disable and enable others, never themselves; an unknown
// user is ErrUserNotFound; disabling ends the sessions and tells their streams.
func TestDisableUser(t *testing.T) {
	e := newSessionsEnv(t)
	admin, alice := e.user(t, "admin", true), e.user(t, "alice", false)
	e.session(t, alice, "a1")
	e.session(t, admin, "adm")
	ctx := context.Background()

	if _, err := e.svc.Disable(ctx, admin, admin.ID); !errors.Is(err, accounts.ErrDisableSelf) {
		t.Errorf("self-disable = %v, want ErrDisableSelf", err)
	}
	if u, _ := e.db.UserByID(ctx, admin.ID); u.Disabled() {
		t.Fatal("the admin disabled themselves")
	}
	if n := len(e.audited(t, store.AuditAdminDisableRefused)); n != 1 {
		t.Errorf("%d admin.disable_refused events", n)
	}
	for _, f := range []func() error{
		func() error { _, err := e.svc.Disable(ctx, admin, uuid.NewString()); return err },
		func() error { _, err := e.svc.Enable(ctx, admin, uuid.NewString()); return err },
		func() error { _, err := e.svc.EndAllOf(ctx, admin, uuid.NewString()); return err },
	} {
		if err := f(); !errors.Is(err, accounts.ErrUserNotFound) {
			t.Errorf("unknown user: %v, want ErrUserNotFound", err)
		}
	}

	u, err := e.svc.Disable(ctx, admin, alice.ID)
	if err != nil || !u.Disabled() {
		t.Fatalf("Disable = %+v, %v", u, err)
	}
	if len(e.ended[alice.ID]) != 1 {
		t.Errorf("streams told %v", e.ended[alice.ID])
	}
	if list, _ := e.svc.List(ctx, alice, ""); len(list) != 0 {
		t.Errorf("alice still has %d sessions", len(list))
	}
	if u, err := e.svc.Enable(ctx, admin, alice.ID); err != nil || u.Disabled() {
		t.Errorf("Enable = %+v, %v", u, err)
	}
	if n, err := e.svc.EndAllOf(ctx, admin, alice.ID); err != nil || n != 0 {
		t.Errorf("EndAllOf with no session = %d, %v", n, err)
	}
	ev := e.audited(t, store.AuditAdminSessionsEnded)
	if len(ev) != 1 || ev[0].Detail != "no session to end" || ev[0].ActorID != admin.ID || ev[0].SubjectUserID != alice.ID {
		t.Errorf("admin.sessions_ended events: %+v", ev)
	}
}
