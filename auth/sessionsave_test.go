package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// countingStore is a session store that counts commits and can be made to fail them.
type countingStore struct {
	*memstore.MemStore
	mu      sync.Mutex
	commits int
	fail    bool
}

func (s *countingStore) Commit(token string, b []byte, expiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("database is locked")
	}
	s.commits++
	return s.MemStore.Commit(token, b, expiry)
}

type saveEnv struct {
	sm    *scs.SessionManager
	store *countingStore
	now   time.Time
	h     http.Handler
	// errors counts the error pages onError wrote.
	errors int
}

// newSaveEnv serves: /login puts a user in the session; /redirect answers 303;
// anything else says who is signed in.
func newSaveEnv(t *testing.T) *saveEnv {
	t.Helper()
	e := &saveEnv{store: &countingStore{MemStore: memstore.NewWithCleanupInterval(0)}, now: time.Unix(1_800_000_000, 0)}
	e.sm = scs.New()
	e.sm.Store = e.store
	e.sm.Lifetime = 12 * time.Hour
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		e.sm.Put(r.Context(), sessionUserID, "u1")
		w.Write([]byte("signed in"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		e.sm.Put(r.Context(), sessionFlash, "done")
		w.Header().Set("HX-Trigger", "x")
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("user=" + e.sm.GetString(r.Context(), sessionUserID)))
	})
	e.h = SaveSessions(e.sm, 30*time.Minute, func() time.Time { return e.now }, func(w http.ResponseWriter, r *http.Request, err error) {
		e.errors++
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<h1>Something went wrong</h1>"))
	})(mux)
	return e
}

func (e *saveEnv) get(t *testing.T, path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			return c
		}
	}
	return nil
}

// TestSaveSessionsWritesOncePerMinute: page views of a signed-in session write the
// store at most once a minute, and the session stays valid.
func TestSaveSessionsWritesOncePerMinute(t *testing.T) {
	e := newSaveEnv(t)
	w := e.get(t, "/login", nil)
	cookie := sessionCookie(t, w)
	if cookie == nil || e.store.commits != 1 {
		t.Fatalf("login: cookie %v, %d commits; want a cookie and 1 commit", cookie, e.store.commits)
	}
	for i := range 30 {
		e.now = e.now.Add(time.Second)
		if w := e.get(t, "/", cookie); w.Body.String() != "user=u1" {
			t.Fatalf("view %d: %q", i, w.Body.String())
		}
	}
	if e.store.commits != 1 {
		t.Errorf("30 views in 30 s: %d commits, want none beyond the login's", e.store.commits-1)
	}
	e.now = e.now.Add(31 * time.Second)
	e.get(t, "/", cookie)
	e.get(t, "/", cookie)
	if e.store.commits != 2 {
		t.Errorf("views a minute after the last write: %d commits in all, want 2", e.store.commits)
	}
}

// TestSaveSessionsIdleTimeout: a session idle longer than the timeout is ended.
func TestSaveSessionsIdleTimeout(t *testing.T) {
	e := newSaveEnv(t)
	cookie := sessionCookie(t, e.get(t, "/login", nil))
	e.get(t, "/", cookie) // records last seen
	e.now = e.now.Add(29 * time.Minute)
	if got := e.get(t, "/", cookie).Body.String(); got != "user=u1" {
		t.Fatalf("after 29 idle minutes: %q, want still signed in", got)
	}
	e.now = e.now.Add(31 * time.Minute)
	w := e.get(t, "/", cookie)
	if got := w.Body.String(); got != "user=" {
		t.Errorf("after 31 idle minutes: %q, want signed out", got)
	}
	if c := sessionCookie(t, w); c == nil || c.MaxAge >= 0 {
		t.Errorf("cookie %v, want it cleared", c)
	}
}

// TestSaveSessionsFailedSaveIsOneCleanPage: when the session cannot be saved, the
// answer is the error page alone: not the handler's body, not its redirect.
func TestSaveSessionsFailedSaveIsOneCleanPage(t *testing.T) {
	e := newSaveEnv(t)
	e.store.fail = true
	for _, path := range []string{"/login", "/redirect"} {
		w := e.get(t, path, nil)
		if w.Code != http.StatusInternalServerError || w.Body.String() != "<h1>Something went wrong</h1>" ||
			w.Header().Get("Location") != "" || w.Header().Get("HX-Trigger") != "" || sessionCookie(t, w) != nil {
			t.Errorf("GET %s with a failing store: %d %q (Location %q), want the error page alone", path, w.Code, w.Body.String(), w.Header().Get("Location"))
		}
	}
	if e.errors != 2 {
		t.Errorf("%d error pages, want 2", e.errors)
	}
}
