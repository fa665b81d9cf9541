package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// UserLoader finds the signed-in user's record.
type UserLoader interface {
	UserByID(ctx context.Context, id string) (store.User, error)
}

// Middleware loads the signed-in user and guards pages.
type Middleware struct {
	Sessions *scs.SessionManager
	Users    UserLoader
	Log      *slog.Logger
	// Deny renders the page for a refused request (401, 403, 500).
	Deny func(w http.ResponseWriter, r *http.Request, status int)
	// Audit records refusals that matter (a customer on an admin page).
	Audit func(r *http.Request, e store.AuditEvent)
	// ReauthAfter is how long after their last authentication at the IdP a user may
	// still pass RequireRecentAuth (UNLOCK_REAUTH_AFTER); 0 lets everyone through.
	ReauthAfter time.Duration
	// Now is the clock for RequireRecentAuth; time.Now when nil.
	Now func() time.Time
}

type userKey struct{}

// UserFrom returns the signed-in user, if any.
func UserFrom(ctx context.Context) (store.User, bool) {
	u, ok := ctx.Value(userKey{}).(store.User)
	return u, ok
}

// WithUser returns ctx carrying u as the signed-in user.
func WithUser(ctx context.Context, u store.User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// LoadUser puts the signed-in user, if any, into the request context. It runs inside
// the session manager's LoadAndSave. A session whose user no longer exists, or was
// disabled, is ended: the request goes on signed out.
func (m *Middleware) LoadUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := m.Sessions.GetString(r.Context(), sessionUserID)
		if id == "" {
			next.ServeHTTP(w, r)
			return
		}
		u, ok := store.SessionUser(r.Context())
		var err error
		if !ok || u.ID != id {
			u, err = m.Users.UserByID(r.Context(), id)
		}
		if errors.Is(err, store.ErrNotFound) {
			m.Log.WarnContext(r.Context(), "session names an unknown user; ending it")
			_ = m.Sessions.Destroy(r.Context())
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			m.Log.ErrorContext(r.Context(), "load signed-in user", "error", err)
			m.Deny(w, r, http.StatusInternalServerError)
			return
		}
		if u.Disabled() {
			// Disabling deleted the user's sessions; one saved by a sign-in that raced it
			// is ended here, on whichever instance sees it.
			m.Log.InfoContext(r.Context(), "session of a disabled user; ending it", "user_id", u.ID)
			_ = m.Sessions.Destroy(r.Context())
			next.ServeHTTP(w, r)
			return
		}
		request.From(r.Context()).SetUserID(u.ID)
		// Nothing of a signed-in user's may stay in a shared cache or the back button.
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
	})
}

// RequireUser lets signed-in users through. An anonymous GET goes to sign-in and comes
// back; any other anonymous request gets the 401 page.
func (m *Middleware) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			target := r.URL.RequestURI()
			if r.Header.Get("HX-Request") == "true" {
				// A poll or fragment cannot host the login page: send the whole page.
				if cur := r.Header.Get("HX-Current-URL"); cur != "" {
					if u, err := url.Parse(cur); err == nil && SafeReturnTo(u.RequestURI()) != "" {
						target = u.RequestURI()
					}
				}
				// A 303 would be followed inside the XHR and end at the IdP's origin.
				w.Header().Set("HX-Redirect", "/login?return_to="+url.QueryEscape(target))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?return_to="+url.QueryEscape(target), http.StatusSeeOther)
			return
		}
		m.Deny(w, r, http.StatusUnauthorized)
	})
}

// RequireAdmin lets admins through and answers 403 to everyone else. It expects
// RequireUser in front of it.
func (m *Middleware) RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if ok && u.IsAdmin {
			next.ServeHTTP(w, r)
			return
		}
		if ok && m.Audit != nil {
			m.Audit(r, store.AuditEvent{ActorID: u.ID, SubjectUserID: u.ID, Action: store.AuditAdminAccessDenied,
				Outcome: store.OutcomeDenied, Detail: store.ClientString("path", r.URL.Path)})
		}
		m.Deny(w, r, http.StatusForbidden)
	})
}

// RequireRecentAuth is step-up before a sensitive action (an unlock): a user whose last
// authentication at the IdP (the ID token's auth_time, kept with the session) is older
// than ReauthAfter, or unknown, is sent to sign in again — /login?reauth=1, which asks
// the IdP for max_age=0 and prompt=login — and back to this path (for the unlock, its
// confirmation page). An htmx request gets HX-Redirect instead of a 303, which the XHR
// would follow to the IdP's origin. It expects RequireUser in front of it.
func (m *Middleware) RequireRecentAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if m.ReauthAfter <= 0 || !ok {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now
		if m.Now != nil {
			now = m.Now
		}
		at := AuthTime(r.Context(), m.Sessions)
		if !at.IsZero() && now().Sub(at) <= m.ReauthAfter {
			next.ServeHTTP(w, r)
			return
		}
		if m.Audit != nil {
			m.Audit(r, store.AuditEvent{ActorID: u.ID, SubjectUserID: u.ID, Action: store.AuditReauthRequired,
				Outcome: store.OutcomeDenied, Detail: store.ClientString("path", r.URL.Path)})
		}
		target := "/login?reauth=1&return_to=" + url.QueryEscape(r.URL.Path)
		w.Header().Set("Cache-Control", "no-store")
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", target)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// SignIn starts a fresh session for the user: a new token (no fixation), the user id
// and the ID token for RP-initiated logout.
func SignIn(ctx context.Context, sm *scs.SessionManager, userID, rawIDToken string) error {
	if err := sm.RenewToken(ctx); err != nil {
		return err
	}
	sm.Put(ctx, sessionUserID, userID)
	sm.Put(ctx, sessionIDToken, rawIDToken)
	return nil
}

// RememberIdPSession keeps, with the session just started, the IdP's session id (sid,
// which a back-channel logout names) and when the user authenticated there (auth_time,
// which step-up before unlocking checks).
func RememberIdPSession(ctx context.Context, sm *scs.SessionManager, id *Identity) {
	// A renewed session carries the previous sign-in's values: replace or drop them.
	if id.SID != "" {
		sm.Put(ctx, sessionOIDCSID, id.SID)
	} else {
		sm.Remove(ctx, sessionOIDCSID)
	}
	if !id.AuthTime.IsZero() {
		sm.Put(ctx, sessionAuthTime, id.AuthTime.Unix())
	} else {
		sm.Remove(ctx, sessionAuthTime)
	}
	if id.RefreshToken != "" {
		// The store moves it into the session's row at the first save.
		sm.Put(ctx, store.SessionRefreshTokenKey, id.RefreshToken)
	}
}

// AuthTime is when the session's user last authenticated at the IdP; zero when the IdP
// did not say.
func AuthTime(ctx context.Context, sm *scs.SessionManager) time.Time {
	if t := sm.GetInt64(ctx, sessionAuthTime); t > 0 {
		return time.Unix(t, 0)
	}
	return time.Time{}
}

// SignOut ends the session and returns the ID token it held, for the logout hint.
func SignOut(ctx context.Context, sm *scs.SessionManager) (idToken string, err error) {
	idToken = sm.GetString(ctx, sessionIDToken)
	return idToken, sm.Destroy(ctx)
}

// SetFlash stores a one-time message shown on the next page.
func SetFlash(ctx context.Context, sm *scs.SessionManager, msg string) {
	sm.Put(ctx, sessionFlash, msg)
}

// PopFlash returns and clears the one-time message.
func PopFlash(ctx context.Context, sm *scs.SessionManager) string {
	return sm.PopString(ctx, sessionFlash)
}
