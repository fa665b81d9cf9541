// Package testop is an OpenID Provider for tests: github.com/oauth2-proxy/mockoidc —
// independent of the dev IdP — with hooks to serve what a broken or hostile provider
// would, and users whose ID tokens carry exactly the claims a test chooses.
//
// It is shared by package auth's and package web's tests, so it must import neither.
package testop

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// FailDescription is the error_description a failing token endpoint returns; it must
// never reach an error message or a page.
const FailDescription = "secret-looking detail"

// OP is a running mockoidc provider; it signs in whichever user is queued
// (QueueUser) and approves every authorization request at once.
type OP struct {
	*mockoidc.MockOIDC

	mu         sync.Mutex
	tamper     func(idToken string) string // "" drops the id_token
	failToken  bool
	endSession string
	// rotate: each refresh answers a new refresh token and spends the one used
	// (RotateRefreshTokens); alias maps a token handed out to mockoidc's own.
	rotate    bool
	slow      time.Duration
	alias     map[string]string
	spent     map[string]bool
	refreshes int
	reused    int
}

// RotateRefreshTokens makes the provider rotate refresh tokens as most do (mockoidc
// keeps the first): each refresh answers a new one, and a token used before is
// refused with invalid_grant — the provider's evidence of a token used twice. Each
// refresh takes slow, as at a remote provider, so that concurrent ones overlap.
func (op *OP) RotateRefreshTokens(slow time.Duration) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.rotate, op.slow, op.alias, op.spent = true, slow, map[string]string{}, map[string]bool{}
}

// RefreshGrants says how many refreshes the provider granted, and how many it refused
// because the token had been used already (RotateRefreshTokens).
func (op *OP) RefreshGrants() (granted, reused int) {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.refreshes, op.reused
}

// readForm reads a token request's form and leaves its body as it was, for mockoidc.
func readForm(r *http.Request) url.Values {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	form, _ := url.ParseQuery(string(b))
	return form
}

// rotateRefresh serves a refresh_token grant under rotation (its ID token passed
// through tamper, when set).
func (op *OP) rotateRefresh(w http.ResponseWriter, r *http.Request, next http.Handler, form url.Values, tamper func(string) string) {
	used := form.Get("refresh_token")
	op.mu.Lock()
	if op.spent[used] {
		op.reused++
		op.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token already used"}`))
		return
	}
	op.spent[used] = true
	own := used
	if a, ok := op.alias[used]; ok {
		own = a
	}
	slow := op.slow
	op.mu.Unlock()
	time.Sleep(slow)
	form.Set("refresh_token", own)
	body := form.Encode()
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	rewriteJSON(w, r, next, func(resp map[string]any) {
		fresh := rand.Text()
		op.mu.Lock()
		op.alias[fresh] = own
		op.refreshes++
		op.mu.Unlock()
		resp["refresh_token"] = fresh
		if tamper != nil {
			raw, _ := resp["id_token"].(string)
			if v := tamper(raw); v != "" {
				resp["id_token"] = v
			} else {
				delete(resp, "id_token")
			}
		}
	})
}

// Start starts a provider on addr ("" = 127.0.0.1:0) until the test ends.
func Start(t testing.TB, addr string) *OP {
	t.Helper()
	m, err := mockoidc.NewServer(nil) // mockoidc's fixed key: no RSA key generation per test
	if err != nil {
		t.Fatal(err)
	}
	op := &OP{MockOIDC: m}
	if err := m.AddMiddleware(op.rewrite); err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return op
}

// Tamper makes the token endpoint rewrite the ID token with f (nil = leave it; f
// returning "" drops the id_token).
func (op *OP) Tamper(f func(idToken string) string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.tamper = f
}

// FailToken makes the token endpoint answer 500 with FailDescription.
func (op *OP) FailToken(fail bool) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.failToken = fail
}

// EndSession makes discovery advertise endpoint as end_session_endpoint ("" = none),
// which mockoidc does not do by itself.
func (op *OP) EndSession(endpoint string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.endSession = endpoint
}

// Regrant lets code be redeemed again, as a lax provider would; the relying party's
// own replay check must then be what refuses it.
func (op *OP) Regrant(t testing.TB, code string) {
	t.Helper()
	sess, err := op.SessionStore.GetSessionByID(code)
	if err != nil {
		t.Fatalf("mockoidc has no session for code %q: %v", code, err)
	}
	sess.Granted = false
}

func (op *OP) rewrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		tamper, fail, endSession, rotate := op.tamper, op.failToken, op.endSession, op.rotate
		op.mu.Unlock()
		if r.URL.Path == mockoidc.TokenEndpoint && rotate && !fail {
			if form := readForm(r); form.Get("grant_type") == "refresh_token" {
				op.rotateRefresh(w, r, next, form, tamper)
				return
			}
		}
		switch {
		case r.URL.Path == mockoidc.TokenEndpoint && fail:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"server_error","error_description":"` + FailDescription + `"}`))
		case r.URL.Path == mockoidc.TokenEndpoint && tamper != nil:
			rewriteJSON(w, r, next, func(body map[string]any) {
				raw, _ := body["id_token"].(string)
				if v := tamper(raw); v != "" {
					body["id_token"] = v
				} else {
					delete(body, "id_token")
				}
			})
		case r.URL.Path == mockoidc.DiscoveryEndpoint && endSession != "":
			rewriteJSON(w, r, next, func(body map[string]any) { body["end_session_endpoint"] = endSession })
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// rewriteJSON serves next into a buffer and passes its JSON body through edit; error
// responses pass unchanged.
func rewriteJSON(w http.ResponseWriter, r *http.Request, next http.Handler, edit func(map[string]any)) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	var body map[string]any
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &body) == nil {
		edit(body)
		b, _ := json.Marshal(body)
		rec.Body = bytes.NewBuffer(b)
	}
	maps.Copy(w.Header(), rec.Header())
	w.Header().Del("Content-Length") // the body's length changed
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// FlipSignature breaks a JWS's signature, keeping it well-formed.
func FlipSignature(jws string) string {
	parts := strings.Split(jws, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(sig) == 0 {
		return jws + "x"
	}
	sig[len(sig)/2] ^= 0x01
	parts[len(parts)-1] = base64.RawURLEncoding.EncodeToString(sig)
	return strings.Join(parts, ".")
}

// Unsigned replaces a JWS's header with alg "none" and drops its signature.
func Unsigned(jws string) string {
	parts := strings.Split(jws, ".")
	if len(parts) < 2 {
		return jws
	}
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
}

// User is a mockoidc user whose ID token carries exactly the claims a test chooses;
// empty fields leave their claim out.
type User struct {
	Sub               string
	Email             string
	EmailVerified     any // bool, "true"/"false" or nil (claim absent)
	Name              string
	PreferredUsername string
	Extra             map[string]any                  // any other claims, e.g. groups; they win over the fields above
	Edit              func(c *mockoidc.IDTokenClaims) // may change the standard claims (nonce, aud, exp, iss)
}

// ID is the user's subject.
func (u User) ID() string { return u.Sub }

// Userinfo is only the subject: the relying parties under test read the ID token.
func (u User) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.Sub})
}

// Claims is the ID token body: mockoidc's standard claims, after Edit, plus the user's own.
func (u User) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.Edit != nil {
		u.Edit(base)
	}
	return &claims{IDTokenClaims: base, user: u}, nil
}

// claims marshals the standard claims and the user's into one flat JSON object.
type claims struct {
	*mockoidc.IDTokenClaims
	user User
}

// MarshalJSON flattens the user's claims into the standard ones.
func (c *claims) MarshalJSON() ([]byte, error) {
	std, err := json.Marshal(c.IDTokenClaims)
	if err != nil {
		return nil, err
	}
	all := map[string]any{}
	if err := json.Unmarshal(std, &all); err != nil {
		return nil, err
	}
	set := func(k string, v any) {
		if v != nil && v != "" {
			all[k] = v
		}
	}
	set("email", c.user.Email)
	set("email_verified", c.user.EmailVerified)
	set("name", c.user.Name)
	set("preferred_username", c.user.PreferredUsername)
	// The user authenticated just now, as a provider that asked for the password says;
	// Extra may replace it (nil sends null, i.e. no auth_time).
	all["auth_time"] = time.Now().Unix()
	maps.Copy(all, c.user.Extra)
	return json.Marshal(all)
}

// BackchannelLogoutEvent is the events member a logout token carries.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutClaims are a well-formed logout token's claims for the subject and sid
// ("" leaves either out), issued now by this provider to its client; tests edit
// the map to break one rule at a time.
func (op *OP) LogoutClaims(sub, sid string, now time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":    op.Issuer(),
		"aud":    op.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// Sign signs claims with the provider's key, as its ID tokens are.
func (op *OP) Sign(t testing.TB, claims jwt.Claims) string {
	t.Helper()
	s, err := op.Keypair.SignJWT(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
