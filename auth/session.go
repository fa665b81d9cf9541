package auth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"

	"github.com/latchkey/latchkey/store"
)

// Cookie names over http (development). The dev IdP runs on another port of the same
// host, and browsers do not separate cookies by port, so it uses names of its own.
const (
	SessionCookie = "latchkey_session"
	LoginCookie   = "latchkey_login"
)

// hostPrefix is put before both names under https: browsers accept a __Host- cookie
// only when it is Secure, has Path=/ and no Domain, so a sibling subdomain can neither
// plant nor shadow it.
const hostPrefix = "__Host-"

// SessionCookieName is the signed-in session's cookie name: __Host-latchkey_session
// when the base URL is https (secure), latchkey_session otherwise.
func SessionCookieName(secure bool) string { return cookieName(SessionCookie, secure) }

// LoginCookieName is the login attempt's cookie name: __Host-latchkey_login when the
// base URL is https (secure), latchkey_login otherwise.
func LoginCookieName(secure bool) string { return cookieName(LoginCookie, secure) }

func cookieName(name string, secure bool) string {
	if secure {
		return hostPrefix + name
	}
	return name
}

// Keys in the signed-in session.
const (
	sessionUserID  = store.SessionUserKey
	sessionIDToken = "id_token"
	sessionFlash   = "flash"
	// sessionOIDCSID is the IdP's session id; the store copies it into the row.
	sessionOIDCSID = store.SessionOIDCSIDKey
	// sessionAuthTime is the unix time the user last authenticated at the IdP.
	sessionAuthTime = "auth_time"
)

// loginAttemptMaxAge bounds how long a sign-in at the IdP may take.
const loginAttemptMaxAge = 10 * time.Minute

// SessionConfig shapes the signed-in session. The idle timeout is SaveSessions's.
type SessionConfig struct {
	Lifetime time.Duration
	// Secure marks the cookie Secure (the base URL is https).
	Secure bool
	// ErrorFunc renders a failure of the session store (our 500 page).
	ErrorFunc func(http.ResponseWriter, *http.Request, error)
}

// NewSessionManager returns the server-side session manager: sessions live in the
// database (table sessions), so signing out or deleting rows revokes them. Serve it
// with SaveSessions, not its own LoadAndSave.
func NewSessionManager(sessions scs.Store, cfg SessionConfig) *scs.SessionManager {
	sm := scs.New()
	sm.Store = sessions
	sm.Codec = store.SessionCodec{}
	sm.Lifetime = cfg.Lifetime
	sm.Cookie.Name = SessionCookieName(cfg.Secure)
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.Secure
	sm.Cookie.Path = "/"
	sm.Cookie.Domain = "" // host-only, as __Host- requires
	sm.Cookie.Persist = false
	if cfg.ErrorFunc != nil {
		sm.ErrorFunc = cfg.ErrorFunc
	}
	return sm
}

// newLoginStore returns the cookie store for login attempts: encrypted and
// authenticated with keys derived from the session key, readable with the previous key
// during a rotation, and short-lived. Its cookie is named LoginCookieName(secure).
func newLoginStore(key, previous []byte, secure bool) (*sessions.CookieStore, error) {
	pairs, err := cookieKeys(key)
	if err != nil {
		return nil, err
	}
	if len(previous) > 0 {
		old, err := cookieKeys(previous)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, old...)
	}
	store := sessions.NewCookieStore(pairs...)
	// MaxAge sets both the cookie's and the codecs' limit; Options.MaxAge alone would
	// leave old cookies decodable for the default 30 days.
	store.MaxAge(int(loginAttemptMaxAge.Seconds()))
	// Over http the cookie goes only to the callback; a __Host- cookie (https) must
	// have Path=/.
	path := "/auth/callback"
	if secure {
		path = "/"
	}
	store.Options = &sessions.Options{
		Path:     path,
		MaxAge:   int(loginAttemptMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode, // Strict would drop it on the IdP's redirect back
	}
	return store, nil
}

// cookieKeys derives an HMAC key and an AES-256 key from the root secret with HKDF.
func cookieKeys(root []byte) ([][]byte, error) {
	hashKey, err := hkdf.Key(sha256.New, root, nil, "latchkey login cookie hmac", 32)
	if err != nil {
		return nil, err
	}
	blockKey, err := hkdf.Key(sha256.New, root, nil, "latchkey login cookie aes", 32)
	if err != nil {
		return nil, err
	}
	return [][]byte{hashKey, blockKey}, nil
}
