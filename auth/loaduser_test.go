package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// countingUsers counts the second queries LoadUser makes for the signed-in user.
type countingUsers struct {
	db    *store.DB
	calls atomic.Int64
}

func (c *countingUsers) UserByID(ctx context.Context, id string) (store.User, error) {
	c.calls.Add(1)
	return c.db.UserByID(ctx, id)
}

// TestLoadUserComesWithTheSession: a signed-in page view loads its session and its user
// in one query; the fallback query serves only a session the store could not join (one
// saved by the previous release), and a session whose user is gone is ended.
func TestLoadUserComesWithTheSession(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	alice, err := db.UpsertUserAtLogin(ctx, store.Login{Issuer: "https://idp.test", Subject: "alice", Email: "alice@example.test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sm := auth.NewSessionManager(db.Sessions(), auth.SessionConfig{Lifetime: time.Hour})
	users := &countingUsers{db: db}
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		t.Errorf("session error: %v", err)
		http.Error(w, "session error", http.StatusInternalServerError)
	}
	m := &auth.Middleware{Sessions: sm, Users: users, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Deny: func(w http.ResponseWriter, r *http.Request, status int) { w.WriteHeader(status) }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		if err := auth.SignIn(r.Context(), sm, alice.ID, "id-token"); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := auth.UserFrom(r.Context()); ok {
			_, _ = io.WriteString(w, u.Email)
		}
	})
	h := auth.SaveSessions(sm, time.Hour, time.Now, fail)(m.LoadUser(mux))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/signin", nil))
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("signing in set no session cookie")
	}
	me := func() string {
		r := httptest.NewRequest("GET", "/me", nil)
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Body.String()
	}
	for range 3 {
		if got := me(); got != "alice@example.test" {
			t.Fatalf("page as alice shows %q", got)
		}
	}
	if n := users.calls.Load(); n != 0 {
		t.Errorf("signed-in page views made %d user queries besides the session's; want 0", n)
	}

	// A session row without the user's id (saved by the previous release) still works.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE sessions SET user_id = NULL`); err != nil {
		t.Fatal(err)
	}
	if got := me(); got != "alice@example.test" || users.calls.Load() != 1 {
		t.Errorf("old session: page shows %q after %d user queries; want alice after 1", got, users.calls.Load())
	}

	// A session of a disabled user (one a sign-in saved as the admin disabled them) is
	// signed out, and ended.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE sessions SET user_id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `UPDATE users SET disabled_at = $1`, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")); err != nil {
		t.Fatal(err)
	}
	if got := me(); got != "" {
		t.Errorf("a disabled user's page shows %q; want signed out", got)
	}
	if _, found, err := db.Sessions().FindCtx(ctx, cookie.Value); err != nil || found {
		t.Errorf("the disabled user's session was not ended: %v, %v", found, err)
	}
}
