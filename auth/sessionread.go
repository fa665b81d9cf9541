package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/store"
)

// ReadSession loads the signed-in session without ever saving it: for the live-page
// stream, which must neither extend the session's idle deadline nor write anything.
// A session that cannot be loaded is treated as none.
func ReadSession(sm *scs.SessionManager) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var token string
			if c, err := r.Cookie(sm.Cookie.Name); err == nil {
				token = c.Value
			}
			ctx, err := sm.Load(store.WithSessionUserSlot(r.Context()), token)
			if err != nil {
				ctx, _ = sm.Load(r.Context(), "")
			}
			next.ServeHTTP(w, r.WithContext(withSessionToken(ctx, token)))
		})
	}
}

type tokenKey struct{}

func withSessionToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// SessionKey names the request's session without revealing its token (a hash), for
// telling a session's streams that it ended; "" without a session. The token is the
// one ReadSession or SaveSessions read from the configured cookie.
func SessionKey(r *http.Request) string {
	token, _ := r.Context().Value(tokenKey{}).(string)
	return TokenKey(token)
}

// TokenKey names the session with token as SessionKey does, for telling the live
// streams of a session ended elsewhere (on /sessions, by an admin) that it ended.
func TokenKey(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("latchkey session key:" + token))
	return hex.EncodeToString(sum[:16])
}

// SessionAlive reports whether the session behind the request still stands: not
// destroyed (sign-out, ended from /sessions or by an admin), not past its lifetime, not
// idle longer than idle since it was last seen, and its user not disabled.
func SessionAlive(_ context.Context, sm *scs.SessionManager, token string, idle time.Duration, now time.Time) bool {
	if token == "" {
		return false
	}
	// A fresh context: the request's own holds the session as it was loaded.
	sctx, err := sm.Load(store.WithSessionUserSlot(context.WithoutCancel(context.Background())), token)
	if err != nil || !sm.Exists(sctx, sessionUserID) {
		return false
	}
	if u, ok := store.SessionUser(sctx); ok && u.Disabled() {
		return false
	}
	if last := sm.GetInt64(sctx, sessionLastSeen); idle > 0 && last != 0 && now.Sub(time.Unix(last, 0)) > idle {
		return false
	}
	return true
}

// SessionToken is the request's session token as ReadSession (or SaveSessions) saw it.
func SessionToken(r *http.Request) string {
	token, _ := r.Context().Value(tokenKey{}).(string)
	return token
}
