package auth

import (
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// sessionLastSeen is the unix time the signed-in session was last seen, written at most
// once per lastSeenEvery: it is the idle deadline's start, and the store copies it into
// the session's row (what /sessions shows as "last seen").
const sessionLastSeen = store.SessionLastSeenKey

// lastSeenEvery is how often a used session's last-seen time is written; idle timeouts
// are enforced to this precision.
const lastSeenEvery = time.Minute

// SaveSessions loads the signed-in session and saves it on our terms, replacing scs's
// LoadAndSave:
//   - the session is committed before the first byte of the response (so a failed save
//     can still become a proper error page), and only when it changed;
//   - a failed load or save is one clean page from onError — never an error page
//     followed by the real one;
//   - the idle timeout is enforced from a last-seen time written at most once a minute,
//     so a page view or a poll is not a database write (scs's own IdleTimeout makes
//     every request one);
//   - each save names the client (user agent and address, as the audit trail has
//     them), so the user's list of sessions says where each is used.
//
// sm must not have IdleTimeout set; idle is the idle timeout and now the clock.
func SaveSessions(sm *scs.SessionManager, idle time.Duration, now func() time.Time, onError func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Cookie")
			var token string
			if c, err := r.Cookie(sm.Cookie.Name); err == nil {
				token = c.Value
			}
			info := request.From(r.Context())
			ctx := store.WithSessionClient(store.WithSessionUserSlot(r.Context()), info.UserAgent, info.RemoteAddr)
			ctx, err := sm.Load(ctx, token)
			if err != nil {
				onError(w, r, err)
				return
			}
			if sm.Exists(ctx, sessionUserID) {
				t := now()
				last := time.Unix(sm.GetInt64(ctx, sessionLastSeen), 0)
				switch {
				case idle > 0 && sm.GetInt64(ctx, sessionLastSeen) != 0 && t.Sub(last) > idle:
					if err := sm.Destroy(ctx); err != nil {
						onError(w, r, err)
						return
					}
				case t.Sub(last) >= lastSeenEvery:
					sm.Put(ctx, sessionLastSeen, t.Unix())
				}
			}
			sr := r.WithContext(withSessionToken(ctx, token))
			sw := &savingWriter{ResponseWriter: w, sm: sm, r: sr, now: now, onError: onError}
			next.ServeHTTP(sw, sr)
			sw.save()
		})
	}
}

// savingWriter commits the session just before the response's first byte.
type savingWriter struct {
	http.ResponseWriter
	sm      *scs.SessionManager
	r       *http.Request
	now     func() time.Time
	onError func(http.ResponseWriter, *http.Request, error)
	saved   bool
	// failed: the save failed and its error page went out; the handler's own response
	// is dropped.
	failed bool
}

// save commits a changed session and writes its cookie, once. On failure it answers
// with the error page instead of whatever the handler was about to send.
func (s *savingWriter) save() {
	if s.saved {
		return
	}
	s.saved = true
	ctx := s.r.Context()
	switch s.sm.Status(ctx) {
	case scs.Modified:
		if s.sm.Exists(ctx, sessionUserID) && !s.sm.Exists(ctx, sessionLastSeen) {
			// Signed in by this request: it was seen now.
			s.sm.Put(ctx, sessionLastSeen, s.now().Unix())
		}
		token, expiry, err := s.sm.Commit(ctx)
		if err != nil {
			s.failed = true
			resetHeaders(s.ResponseWriter.Header())
			s.onError(s.ResponseWriter, s.r, err)
			return
		}
		s.sm.WriteSessionCookie(ctx, s.ResponseWriter, token, expiry)
	case scs.Destroyed:
		s.sm.WriteSessionCookie(ctx, s.ResponseWriter, "", time.Time{})
	}
}

func (s *savingWriter) WriteHeader(code int) {
	s.save()
	if !s.failed {
		s.ResponseWriter.WriteHeader(code)
	}
}

func (s *savingWriter) Write(b []byte) (int, error) {
	s.save()
	if s.failed {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (s *savingWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// keptHeaders survive a failed save: the security headers middleware set for every
// response, and the request id.
var keptHeaders = map[string]bool{
	"Content-Security-Policy":    true,
	"X-Content-Type-Options":     true,
	"Referrer-Policy":            true,
	"Strict-Transport-Security":  true,
	"X-Frame-Options":            true,
	"Permissions-Policy":         true,
	"Cross-Origin-Opener-Policy": true,
	"X-Request-Id":               true,
	"Vary":                       true,
	"Cache-Control":              true,
}

// resetHeaders drops what the handler set for its own answer (a redirect's Location,
// htmx headers, a session cookie), so the error page goes out alone.
func resetHeaders(h http.Header) {
	for k := range h {
		if !keptHeaders[k] {
			delete(h, k)
		}
	}
}
