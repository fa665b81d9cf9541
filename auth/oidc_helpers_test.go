package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/latchkey/latchkey/auth"
)

// testOP is github.com/oauth2-proxy/mockoidc — an OpenID Provider independent of the
// dev IdP — with hooks to serve what a broken or hostile provider would: a token
// response whose ID token was rewritten, a failing token endpoint, or an extra
// end_session_endpoint in discovery. mockoidc signs in whichever user is queued.
type testOP struct {
	*mockoidc.MockOIDC

	mu         sync.Mutex
	tamper     func(idToken string) string // "" drops the id_token
	failToken  bool
	endSession string
}

// startOP starts a mockoidc provider on addr ("" = 127.0.0.1:0) until the test ends.
func startOP(t testing.TB, addr string) *testOP {
	t.Helper()
	m, err := mockoidc.NewServer(nil) // mockoidc's fixed key: no RSA key generation per test
	if err != nil {
		t.Fatal(err)
	}
	op := &testOP{MockOIDC: m}
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

// setTamper makes the token endpoint rewrite the ID token with f (nil = leave it).
func (op *testOP) setTamper(f func(string) string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.tamper = f
}

// setFailToken makes the token endpoint answer 500.
func (op *testOP) setFailToken(fail bool) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.failToken = fail
}

// regrant lets code be redeemed again, as a lax provider would; the relying party's
// own replay check must then be what refuses it.
func (op *testOP) regrant(t testing.TB, code string) {
	t.Helper()
	sess, err := op.SessionStore.GetSessionByID(code)
	if err != nil {
		t.Fatalf("mockoidc has no session for code %q: %v", code, err)
	}
	sess.Granted = false
}

func (op *testOP) rewrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		tamper, fail, endSession := op.tamper, op.failToken, op.endSession
		op.mu.Unlock()
		switch {
		case r.URL.Path == mockoidc.TokenEndpoint && fail:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"server_error","error_description":"secret-looking detail"}`))
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

// rewriteJSON serves next into a buffer and passes its JSON body through edit.
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
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// flipSignature breaks a JWS's signature, keeping it well-formed.
func flipSignature(jws string) string {
	parts := strings.Split(jws, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(sig) == 0 {
		return jws + "x"
	}
	sig[len(sig)/2] ^= 0x01
	parts[len(parts)-1] = base64.RawURLEncoding.EncodeToString(sig)
	return strings.Join(parts, ".")
}

// unsigned replaces the header with alg "none" and drops the signature.
func unsigned(jws string) string {
	parts := strings.Split(jws, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
}

// craftedUser is a mockoidc user whose ID token carries exactly the claims a test
// chooses, and whose standard claims (nonce, aud, exp, iss) edit may change.
type craftedUser struct {
	sub               string
	email             string
	emailVerified     any // bool, "true"/"false" or nil (claim absent)
	name              string
	preferredUsername string
	extra             map[string]any // e.g. groups
	edit              func(c *mockoidc.IDTokenClaims)
}

func (u craftedUser) ID() string { return u.sub }

func (u craftedUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.sub})
}

func (u craftedUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.edit != nil {
		u.edit(base)
	}
	return &craftedClaims{IDTokenClaims: base, user: u}, nil
}

// craftedClaims is the ID token body: the standard claims plus the user's own.
type craftedClaims struct {
	*mockoidc.IDTokenClaims
	user craftedUser
}

func (c *craftedClaims) MarshalJSON() ([]byte, error) {
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
	set("email", c.user.email)
	set("email_verified", c.user.emailVerified)
	set("name", c.user.name)
	set("preferred_username", c.user.preferredUsername)
	maps.Copy(all, c.user.extra)
	return json.Marshal(all)
}

// newRP is a relying party for op with a fresh random session key; edit adjusts the
// configuration. Its background discovery stops when the test ends.
func newRP(t testing.TB, op *testOP, edit func(*auth.RPConfig)) *auth.RP {
	t.Helper()
	cfg := auth.RPConfig{
		Issuer:        op.Issuer(),
		ClientID:      op.ClientID,
		ClientSecret:  op.ClientSecret,
		RedirectURL:   "http://portal.test/auth/callback",
		PostLogoutURL: "http://portal.test/",
		AdminClaim:    "groups=latchkey-admin",
		SessionKey:    randomKey(t),
		Logger:        slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rp, err := auth.NewRP(ctx, cfg)
	if err != nil {
		t.Fatalf("NewRP: %v", err)
	}
	return rp
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// attempt is one started sign-in: the IdP URL Begin returned and the cookies a
// browser holds afterwards.
type attempt struct {
	authURL *url.URL
	res     *http.Response // Begin's response (its Set-Cookie)
	cookies []*http.Cookie
}

// begin runs rp.Begin for a browser holding cookies.
func begin(t testing.TB, rp *auth.RP, returnTo string, cookies []*http.Cookie) attempt {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://portal.test/login", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	target, err := rp.Begin(rec, r, returnTo)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("Begin returned %q: %v", target, err)
	}
	res := rec.Result()
	return attempt{authURL: u, res: res, cookies: browserCookies(cookies, res)}
}

// browserCookies is what a browser holds after res: old cookies updated, deleted
// ones gone.
func browserCookies(old []*http.Cookie, res *http.Response) []*http.Cookie {
	byName := map[string]*http.Cookie{}
	for _, c := range old {
		byName[c.Name] = c
	}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(byName, c.Name)
			continue
		}
		byName[c.Name] = c
	}
	var out []*http.Cookie
	for _, c := range byName {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// authorize visits the IdP's authorization URL (mockoidc approves at once) and
// returns the callback URL it redirects to.
func authorize(t testing.TB, a attempt) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(a.authURL.String())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: status %d, Location %v, want a redirect to the callback", res.StatusCode, err)
	}
	return loc
}

// finish runs rp.Finish on the callback URL for a browser holding cookies.
func finish(t testing.TB, rp *auth.RP, callback *url.URL, cookies []*http.Cookie) (*auth.Identity, string, *http.Response, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, callback.String(), nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	id, returnTo, err := rp.Finish(rec, r)
	return id, returnTo, rec.Result(), err
}

// signIn runs a whole sign-in of user with rp against op and returns Finish's result.
func signIn(t testing.TB, rp *auth.RP, op *testOP, user mockoidc.User) (*auth.Identity, error) {
	t.Helper()
	a := begin(t, rp, "", nil)
	op.QueueUser(user)
	id, _, _, err := finish(t, rp, authorize(t, a), a.cookies)
	return id, err
}

// withQuery returns u with key set to value ("" removes it).
func withQuery(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	c.RawQuery = q.Encode()
	return &c
}

// cookieNamed returns the Set-Cookie of res named name, or nil.
func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
