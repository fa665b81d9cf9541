package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// TestSessionCookieName: under https the session cookie is __Host-latchkey_session,
// Secure, Path=/ and without Domain; over http it keeps latchkey_session. SaveSessions
// and ReadSession read the configured name only, and SessionKey sees the token either
// way.
func TestSessionCookieName(t *testing.T) {
	tests := []struct {
		secure      bool
		name, other string
	}{
		{false, "latchkey_session", "__Host-latchkey_session"},
		{true, "__Host-latchkey_session", "latchkey_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.SessionCookieName(tt.secure); got != tt.name {
				t.Fatalf("SessionCookieName(%v) = %q, want %q", tt.secure, got, tt.name)
			}
			sm := auth.NewSessionManager(memstore.NewWithCleanupInterval(0), auth.SessionConfig{Lifetime: time.Hour, Secure: tt.secure})
			fail := func(w http.ResponseWriter, r *http.Request, err error) {
				t.Errorf("session error: %v", err)
				http.Error(w, "session error", http.StatusInternalServerError)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
				if err := auth.SignIn(r.Context(), sm, "user-1", "id-token"); err != nil {
					t.Error(err)
				}
			})
			mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
				if sm.Exists(r.Context(), store.SessionUserKey) && auth.SessionKey(r) != "" {
					_, _ = io.WriteString(w, "signed in")
				}
			})
			saved := auth.SaveSessions(sm, time.Hour, time.Now, fail)(mux)
			read := auth.ReadSession(sm)(mux)

			w := httptest.NewRecorder()
			saved.ServeHTTP(w, httptest.NewRequest("POST", "https://portal.test/signin", nil))
			cookies := w.Result().Cookies()
			if len(cookies) != 1 || cookies[0].Name != tt.name {
				t.Fatalf("signing in set %v, want one %s cookie", w.Result().Header.Values("Set-Cookie"), tt.name)
			}
			c := cookies[0]
			if c.Secure != tt.secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("session cookie Secure=%v Path=%q Domain=%q HttpOnly=%v SameSite=%v; want Secure=%v, /, no Domain, HttpOnly, Lax",
					c.Secure, c.Path, c.Domain, c.HttpOnly, c.SameSite, tt.secure)
			}
			me := func(h http.Handler, name string) string {
				r := httptest.NewRequest("GET", "https://portal.test/me", nil)
				r.AddCookie(&http.Cookie{Name: name, Value: c.Value})
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Body.String()
			}
			for _, h := range []struct {
				name string
				h    http.Handler
			}{{"SaveSessions", saved}, {"ReadSession", read}} {
				if got := me(h.h, tt.name); got != "signed in" {
					t.Errorf("%s with the %s cookie: %q, want signed in", h.name, tt.name, got)
				}
				if got := me(h.h, tt.other); got != "" {
					t.Errorf("%s read the token from %s: %q", h.name, tt.other, got)
				}
			}
		})
	}
}
