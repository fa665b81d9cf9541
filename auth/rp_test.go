package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/internal/testing/testop"
)

// TestRPSignsInAgainstMockOIDC runs the relying party against a second, independent
// OpenID Provider: the authorization request carries state, nonce and PKCE S256, the
// login cookie is set as required and removed by the callback, and the identity and
// return_to come back.
func TestRPSignsInAgainstMockOIDC(t *testing.T) {
	op := testop.Start(t, "")
	rp := newRP(t, op, nil)
	if !rp.Ready() {
		t.Fatal("Ready() = false after discovery against a running OP")
	}

	a := begin(t, rp, "/activity", nil)
	if got := a.authURL.Scheme + "://" + a.authURL.Host + a.authURL.Path; got != op.AuthorizationEndpoint() {
		t.Errorf("authorization URL %s, want the OP's endpoint %s", got, op.AuthorizationEndpoint())
	}
	q := a.authURL.Query()
	for key, want := range map[string]string{
		"response_type":         "code",
		"client_id":             op.ClientID,
		"redirect_uri":          "http://portal.test/auth/callback",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("authorization URL %s = %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		t.Errorf("scope %q lacks openid", q.Get("scope"))
	}
	for _, key := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(key)) < 32 {
			t.Errorf("authorization URL %s = %q, want a long random value", key, q.Get(key))
		}
	}
	if q.Get("state") == q.Get("nonce") {
		t.Error("state and nonce are the same value")
	}
	if q.Has("code_verifier") {
		t.Error("the PKCE verifier leaked into the authorization URL")
	}

	lc := cookieNamed(a.res, auth.LoginCookie)
	if lc == nil {
		t.Fatalf("Begin set no %s cookie; Set-Cookie: %v", auth.LoginCookie, a.res.Header.Values("Set-Cookie"))
	}
	if !lc.HttpOnly || lc.SameSite != http.SameSiteLaxMode || lc.MaxAge != 600 || lc.Secure || lc.Path != "/auth/callback" {
		t.Errorf("login cookie HttpOnly=%v SameSite=%v MaxAge=%d Secure=%v Path=%q; want true, Lax, 600, false, /auth/callback",
			lc.HttpOnly, lc.SameSite, lc.MaxAge, lc.Secure, lc.Path)
	}
	for _, secret := range []string{q.Get("state"), q.Get("nonce"), "/activity"} {
		if strings.Contains(lc.Value, secret) {
			t.Errorf("login cookie shows %q in clear", secret)
		}
	}

	op.QueueUser(testop.User{Sub: "sub-jane", Email: "Jane.Doe@Example.COM", EmailVerified: true, Name: "Jane Doe"})
	callback := authorize(t, a)
	id, returnTo, res, err := finish(t, rp, callback, a.cookies)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if returnTo != "/activity" {
		t.Errorf("return_to = %q, want /activity", returnTo)
	}
	want := auth.Identity{Issuer: op.Issuer(), Subject: "sub-jane", Email: "jane.doe@example.com", EmailVerified: true, Name: "Jane Doe"}
	got := *id
	got.RawIDToken = ""
	if time.Since(got.AuthTime) > time.Minute {
		t.Errorf("AuthTime = %v, want the test OP's auth_time (now)", got.AuthTime)
	}
	got.AuthTime = time.Time{}
	if got.RefreshToken == "" {
		t.Error("no refresh token (mockoidc grants one)")
	}
	got.RefreshToken = ""
	if got != want {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
	if strings.Count(id.RawIDToken, ".") != 2 {
		t.Errorf("RawIDToken %q is not a JWS (needed for id_token_hint)", id.RawIDToken)
	}
	if dc := cookieNamed(res, auth.LoginCookie); dc == nil || dc.MaxAge >= 0 {
		t.Errorf("the callback did not delete the login cookie; Set-Cookie: %v", res.Header.Values("Set-Cookie"))
	}

	// mockoidc advertises no end_session_endpoint: no RP-initiated logout.
	if u, ok := rp.EndSessionURL(id.RawIDToken); ok {
		t.Errorf("EndSessionURL = %q, true; want false without end_session_endpoint", u)
	}
}

// TestRPLoginCookieSecure: under https the login cookie is __Host-latchkey_login,
// Secure, Path=/ and without Domain (what browsers demand of a __Host- cookie), and the
// callback reads and deletes it by that name; over http it keeps latchkey_login on
// /auth/callback.
func TestRPLoginCookieSecure(t *testing.T) {
	op := testop.Start(t, "")
	tests := []struct {
		secure     bool
		name, path string
	}{
		{false, "latchkey_login", "/auth/callback"},
		{true, "__Host-latchkey_login", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.LoginCookieName(tt.secure); got != tt.name {
				t.Fatalf("LoginCookieName(%v) = %q, want %q", tt.secure, got, tt.name)
			}
			rp := newRP(t, op, func(c *auth.RPConfig) { c.Secure = tt.secure })
			a := begin(t, rp, "/devices", nil)
			if len(a.res.Cookies()) != 1 {
				t.Fatalf("Begin set %v, want one cookie", a.res.Header.Values("Set-Cookie"))
			}
			lc := cookieNamed(a.res, tt.name)
			if lc == nil {
				t.Fatalf("Begin set no %s cookie; Set-Cookie: %v", tt.name, a.res.Header.Values("Set-Cookie"))
			}
			if lc.Secure != tt.secure || lc.Path != tt.path || lc.Domain != "" || !lc.HttpOnly {
				t.Errorf("login cookie Secure=%v Path=%q Domain=%q HttpOnly=%v; want %v, %q, no Domain, HttpOnly",
					lc.Secure, lc.Path, lc.Domain, lc.HttpOnly, tt.secure, tt.path)
			}
			op.QueueUser(testop.User{Sub: "sub-host", Email: "host@example.com", EmailVerified: true})
			id, returnTo, res, err := finish(t, rp, authorize(t, a), a.cookies)
			if err != nil || id.Subject != "sub-host" || returnTo != "/devices" {
				t.Fatalf("Finish with the %s cookie: %v, %v, %q", tt.name, err, id, returnTo)
			}
			dc := cookieNamed(res, tt.name)
			if dc == nil || dc.MaxAge >= 0 || dc.Path != tt.path || dc.Secure != tt.secure {
				t.Errorf("the callback did not delete %s on %s; Set-Cookie: %v", tt.name, tt.path, res.Header.Values("Set-Cookie"))
			}
		})
	}
	t.Run("the other name is not read", func(t *testing.T) {
		rp := newRP(t, op, func(c *auth.RPConfig) { c.Secure = true })
		a := begin(t, rp, "", nil)
		// The same sealed value under the http name, as a sibling subdomain could plant it.
		planted := []*http.Cookie{{Name: auth.LoginCookie, Value: a.cookies[0].Value}}
		op.QueueUser(testop.User{Sub: "sub-planted"})
		if _, _, _, err := finish(t, rp, authorize(t, a), planted); !errors.Is(err, auth.ErrLoginExpired) {
			t.Fatalf("Finish with only latchkey_login under https: %v, want ErrLoginExpired", err)
		}
	})
}

// TestRPRefusesBadIDTokens signs in through a real OP whose ID token was crafted or
// rewritten; everything but the valid token is refused as ErrInvalidToken, and the
// attempt is spent either way.
func TestRPRefusesBadIDTokens(t *testing.T) {
	op := testop.Start(t, "")
	now := time.Now()
	tests := []struct {
		name   string
		edit   func(c *mockoidc.IDTokenClaims)
		sub    string
		tamper func(string) string
		rpEdit func(*auth.RPConfig)
		ok     bool
	}{
		{name: "valid", ok: true},
		{name: "wrong nonce", edit: func(c *mockoidc.IDTokenClaims) { c.Nonce = "not-the-nonce-of-this-attempt" }},
		{name: "no nonce", edit: func(c *mockoidc.IDTokenClaims) { c.Nonce = "" }},
		{name: "another audience", edit: func(c *mockoidc.IDTokenClaims) { c.Audience = jwt.ClaimStrings{"another-client"} }},
		{name: "expired", edit: func(c *mockoidc.IDTokenClaims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.NotBefore = jwt.NewNumericDate(now.Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		}},
		{name: "not valid yet", edit: func(c *mockoidc.IDTokenClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }},
		{name: "expired by the RP's clock", rpEdit: func(c *auth.RPConfig) {
			c.Now = func() time.Time { return time.Now().Add(op.AccessTTL + time.Minute) }
		}},
		{name: "wrong issuer", edit: func(c *mockoidc.IDTokenClaims) { c.Issuer = "https://evil.example/oidc" }},
		{name: "no subject", sub: "-"},
		{name: "bad signature", tamper: testop.FlipSignature},
		{name: "unsigned (alg none)", tamper: testop.Unsigned},
		{name: "not a JWT", tamper: func(string) string { return "not-a-jwt" }},
		{name: "no id_token", tamper: func(string) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newRP(t, op, tt.rpEdit)
			op.Tamper(tt.tamper)
			defer op.Tamper(nil)
			sub := "sub-" + strings.ReplaceAll(tt.name, " ", "-")
			if tt.sub == "-" {
				sub = ""
			}
			a := begin(t, rp, "/devices", nil)
			op.QueueUser(testop.User{Sub: sub, Email: "x@example.com", EmailVerified: true, Edit: tt.edit})
			callback := authorize(t, a)
			id, _, res, err := finish(t, rp, callback, a.cookies)
			if tt.ok {
				if err != nil || id == nil || id.Subject != sub {
					t.Fatalf("Finish = %+v, %v; want the identity of %s", id, err, sub)
				}
				return
			}
			var ce *auth.CallbackError
			if !errors.Is(err, auth.ErrInvalidToken) || !errors.As(err, &ce) {
				t.Fatalf("Finish error = %v, want a *CallbackError of kind ErrInvalidToken", err)
			}
			if id != nil {
				t.Errorf("Finish returned identity %+v along with an error", id)
			}
			// The attempt is spent even though it failed: replaying the callback, with
			// or without the old cookie, is a stale sign-in.
			for _, jar := range [][]*http.Cookie{a.cookies, browserCookies(a.cookies, res)} {
				if _, _, _, err := finish(t, rp, callback, jar); !errors.Is(err, auth.ErrLoginExpired) {
					t.Errorf("replay after a refused token: %v, want ErrLoginExpired", err)
				}
			}
		})
	}
}

// TestRPRefusesStaleCallbacks covers the callbacks that do not belong to a live login
// attempt of this browser, and the provider's own refusals.
func TestRPRefusesStaleCallbacks(t *testing.T) {
	op := testop.Start(t, "")
	tests := []struct {
		name string
		// callback returns the callback URL and the cookies the browser sends with it.
		callback func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie)
		want     error
	}{
		{"tampered state", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			cb := authorize(t, a)
			return withQuery(cb, "state", cb.Query().Get("state")+"x"), a.cookies
		}, auth.ErrLoginExpired},
		{"state of another browser's attempt", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			mine, theirs := begin(t, rp, "", nil), begin(t, rp, "", nil)
			return authorize(t, theirs), mine.cookies
		}, auth.ErrLoginExpired},
		{"no state", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			return withQuery(authorize(t, a), "state", ""), a.cookies
		}, auth.ErrLoginExpired},
		{"no login cookie", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			return authorize(t, begin(t, rp, "", nil)), nil
		}, auth.ErrLoginExpired},
		{"login cookie sealed with another key", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, newRP(t, op, nil), "", nil)
			return authorize(t, a), a.cookies
		}, auth.ErrLoginExpired},
		{"forged login cookie", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			return authorize(t, a), []*http.Cookie{{Name: auth.LoginCookie, Value: a.cookies[0].Value[:20] + "AAAA" + a.cookies[0].Value[24:]}}
		}, auth.ErrLoginExpired},
		{"replayed, cookie deleted as told", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			cb := authorize(t, a)
			_, _, res, err := finish(t, rp, cb, a.cookies)
			if err != nil {
				t.Fatalf("first callback: %v", err)
			}
			return cb, browserCookies(a.cookies, res)
		}, auth.ErrLoginExpired},
		{"replayed with the old cookie kept", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			cb := authorize(t, a)
			if _, _, _, err := finish(t, rp, cb, a.cookies); err != nil {
				t.Fatalf("first callback: %v", err)
			}
			// An OP that lets a code be redeemed twice: the RP alone must refuse.
			op.Regrant(t, cb.Query().Get("code"))
			return cb, a.cookies
		}, auth.ErrLoginExpired},
		{"code unknown to the OP", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			return withQuery(authorize(t, a), "code", "made-up-code"), a.cookies
		}, auth.ErrLoginExpired},
		{"IdP answered with an error", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			cb := withQuery(authorize(t, a), "code", "")
			return withQuery(cb, "error", "access_denied"), a.cookies
		}, auth.ErrIdPRefused},
		{"no code", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			return withQuery(authorize(t, a), "code", ""), a.cookies
		}, auth.ErrInvalidToken},
		{"token endpoint fails", func(t *testing.T, rp *auth.RP) (*url.URL, []*http.Cookie) {
			a := begin(t, rp, "", nil)
			cb := authorize(t, a)
			op.FailToken(true)
			t.Cleanup(func() { op.FailToken(false) })
			return cb, a.cookies
		}, auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newRP(t, op, nil)
			cb, cookies := tt.callback(t, rp)
			id, _, _, err := finish(t, rp, cb, cookies)
			if !errors.Is(err, tt.want) || id != nil {
				t.Fatalf("Finish = %+v, %v; want %v", id, err, tt.want)
			}
			if strings.Contains(err.Error(), testop.FailDescription) || strings.Contains(err.Error(), op.ClientSecret) {
				t.Errorf("error %q repeats the provider's response body", err)
			}
		})
	}
}

// TestRPSeveralTabs lets sign-ins started in several tabs finish in any order, and
// keeps only the newest few attempts so the cookie stays small.
func TestRPSeveralTabs(t *testing.T) {
	op := testop.Start(t, "")
	rp := newRP(t, op, nil)
	var tabs []attempt
	var cookies []*http.Cookie
	for range 4 {
		a := begin(t, rp, "", cookies)
		cookies = a.cookies
		tabs = append(tabs, a)
	}
	callbacks := make([]*url.URL, len(tabs))
	for i, a := range tabs {
		callbacks[i] = authorize(t, a)
	}
	// Newest first, then an older one; the oldest fell out of the cookie.
	for _, i := range []int{3, 1, 2} {
		_, _, res, err := finish(t, rp, callbacks[i], cookies)
		if err != nil {
			t.Fatalf("tab %d: %v", i, err)
		}
		cookies = browserCookies(cookies, res)
	}
	if _, _, _, err := finish(t, rp, callbacks[0], cookies); !errors.Is(err, auth.ErrLoginExpired) {
		t.Errorf("the oldest of 4 attempts: %v, want ErrLoginExpired", err)
	}
}

// TestRPLoginCookieKeyRotation reads login cookies sealed with SESSION_KEY_PREVIOUS.
func TestRPLoginCookieKeyRotation(t *testing.T) {
	op := testop.Start(t, "")
	oldKey := randomKey(t)
	before := newRP(t, op, func(c *auth.RPConfig) { c.SessionKey = oldKey })
	after := newRP(t, op, func(c *auth.RPConfig) { c.SessionKeyPrevious = oldKey })
	a := begin(t, before, "/devices", nil)
	if _, rt, _, err := finish(t, after, authorize(t, a), a.cookies); err != nil || rt != "/devices" {
		t.Fatalf("cookie from before the rotation: return_to %q, %v; want /devices, nil", rt, err)
	}
}

// TestRPAdminDecision makes users admins by the configured claim, or by email only
// when the provider says the email is verified.
func TestRPAdminDecision(t *testing.T) {
	op := testop.Start(t, "")
	listed := func(c *auth.RPConfig) { c.AdminEmails = []string{"boss@example.com"} }
	tests := []struct {
		name   string
		user   testop.User
		rpEdit func(*auth.RPConfig)
		admin  bool
	}{
		{"groups list has the admin group", testop.User{Extra: map[string]any{"groups": []string{"staff", "latchkey-admin"}}}, nil, true},
		{"groups list without it", testop.User{Extra: map[string]any{"groups": []string{"staff"}}}, nil, false},
		{"groups as one string", testop.User{Extra: map[string]any{"groups": "latchkey-admin"}}, nil, true},
		{"group name only as a prefix", testop.User{Extra: map[string]any{"groups": []string{"latchkey-admins"}}}, nil, false},
		{"no groups", testop.User{}, nil, false},
		{"admin claim disabled", testop.User{Extra: map[string]any{"groups": []string{"latchkey-admin"}}},
			func(c *auth.RPConfig) { c.AdminClaim = "" }, false},
		{"another admin claim", testop.User{Extra: map[string]any{"role": "owner"}},
			func(c *auth.RPConfig) { c.AdminClaim = "role=owner" }, true},
		{"listed email, verified", testop.User{Email: "boss@example.com", EmailVerified: true}, listed, true},
		{"listed email in other case, verified", testop.User{Email: "Boss@Example.com", EmailVerified: true}, listed, true},
		{"listed email, verified as the string true", testop.User{Email: "boss@example.com", EmailVerified: "true"}, listed, true},
		{"listed email, not verified", testop.User{Email: "boss@example.com", EmailVerified: false}, listed, false},
		{"listed email, verified as the string false", testop.User{Email: "boss@example.com", EmailVerified: "false"}, listed, false},
		{"listed email, verification not stated", testop.User{Email: "boss@example.com"}, listed, false},
		{"unlisted email, verified", testop.User{Email: "someone@example.com", EmailVerified: true}, listed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newRP(t, op, tt.rpEdit)
			u := tt.user
			u.Sub = "sub-admin-check"
			id, err := signIn(t, rp, op, u)
			if err != nil {
				t.Fatalf("sign-in: %v", err)
			}
			if id.IsAdmin != tt.admin {
				t.Errorf("IsAdmin = %v, want %v", id.IsAdmin, tt.admin)
			}
		})
	}
}

// TestRPNameFallsBackToPreferredUsername names users whose provider sends no "name".
func TestRPNameFallsBackToPreferredUsername(t *testing.T) {
	op := testop.Start(t, "")
	rp := newRP(t, op, nil)
	id, err := signIn(t, rp, op, testop.User{Sub: "s", PreferredUsername: "jdoe"})
	if err != nil || id.Name != "jdoe" {
		t.Fatalf("identity %+v, %v; want Name jdoe", id, err)
	}
}

// TestRPEndSessionURL builds the RP-initiated logout URL when discovery advertises
// end_session_endpoint, keeping the endpoint's own query.
func TestRPEndSessionURL(t *testing.T) {
	op := testop.Start(t, "")
	op.EndSession(op.Addr() + "/oidc/logout?tenant=t1")
	rp := newRP(t, op, nil)
	raw, ok := rp.EndSessionURL("the.id.token")
	if !ok {
		t.Fatal("EndSessionURL: ok = false with an advertised end_session_endpoint")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != op.Addr()+"/oidc/logout" {
		t.Fatalf("EndSessionURL = %q, want the advertised endpoint", raw)
	}
	q := u.Query()
	for key, want := range map[string]string{
		"tenant":                   "t1",
		"client_id":                op.ClientID,
		"post_logout_redirect_uri": "http://portal.test/",
		"id_token_hint":            "the.id.token",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if raw, _ := rp.EndSessionURL(""); strings.Contains(raw, "id_token_hint") {
		t.Errorf("EndSessionURL(\"\") = %q, want no id_token_hint", raw)
	}
}

// TestRPDiscoveryRefusals keeps sign-in unavailable when discovery does not give what
// the RP needs, instead of failing NewRP.
func TestRPDiscoveryRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(op *testop.OP, c *auth.RPConfig)
	}{
		{"issuer differs (trailing slash)", func(op *testop.OP, c *auth.RPConfig) { c.Issuer = op.Issuer() + "/" }},
		{"no PKCE S256", func(op *testop.OP, _ *auth.RPConfig) { op.CodeChallengeMethodsSupported = []string{"plain"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := testop.Start(t, "")
			rp := newRP(t, op, func(c *auth.RPConfig) { tt.setup(op, c) })
			if rp.Ready() {
				t.Fatal("Ready() = true, want false")
			}
			checkNotReady(t, rp)
		})
	}
}

// TestRPDiscoveryRetried starts the RP while the issuer is down: sign-in answers "not
// ready", and once the provider listens on the same address the RP becomes ready by
// itself. The first retry waits 1 s (not configurable), which this test spends once.
func TestRPDiscoveryRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the address is free again: the issuer is down

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rp, err := auth.NewRP(ctx, auth.RPConfig{
		Issuer:      "http://" + addr + mockoidc.IssuerBase,
		ClientID:    "latchkey",
		RedirectURL: "http://portal.test/auth/callback",
		SessionKey:  randomKey(t),
		HTTPClient:  &http.Client{Timeout: time.Second},
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("NewRP with the issuer down: %v (want a not-ready RP)", err)
	}
	if rp.Ready() {
		t.Fatal("Ready() = true with the issuer down")
	}
	checkNotReady(t, rp)

	op := testop.Start(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for !rp.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("Ready() still false 5 s after the issuer came up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := begin(t, rp, "", nil); !strings.HasPrefix(a.authURL.String(), op.AuthorizationEndpoint()+"?") {
		t.Errorf("Begin after recovery: %s, want the OP's authorization endpoint", a.authURL)
	}
}

// checkNotReady expects Begin and Finish to answer ErrNotReady.
func checkNotReady(t *testing.T, rp *auth.RP) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, "http://portal.test/login", nil)
	if _, err := rp.Begin(discardWriter{}, r, ""); !errors.Is(err, auth.ErrNotReady) {
		t.Errorf("Begin: %v, want ErrNotReady", err)
	}
	r, _ = http.NewRequest(http.MethodGet, "http://portal.test/auth/callback?state=s&code=c", nil)
	if _, _, err := rp.Finish(discardWriter{}, r); !errors.Is(err, auth.ErrNotReady) {
		t.Errorf("Finish: %v, want ErrNotReady", err)
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// TestRPReauth: BeginReauth asks the IdP for max_age=0 and prompt=login (Begin asks for
// neither), and its Finish requires an auth_time, not older than the request: go-oidc
// does not check it. A normal sign-in takes any auth_time.
func TestRPReauth(t *testing.T) {
	op := testop.Start(t, "")
	rp := newRP(t, op, nil)
	plain := begin(t, rp, "", nil)
	if q := plain.authURL.Query(); q.Has("max_age") || q.Has("prompt") {
		t.Errorf("Begin asks for %q", plain.authURL.RawQuery)
	}
	beginReauth := func(t *testing.T) attempt {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "http://portal.test/login?reauth=1", nil)
		rec := httptest.NewRecorder()
		target, err := rp.BeginReauth(rec, r, "/devices/d1/unlock")
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		res := rec.Result()
		return attempt{authURL: u, res: res, cookies: browserCookies(nil, res)}
	}
	tests := []struct {
		name     string
		authTime any // the ID token's auth_time claim; nil = absent
		wantErr  string
	}{
		{"fresh", time.Now().Unix(), ""},
		{"within the skew", time.Now().Add(-30 * time.Second).Unix(), ""},
		{"missing", nil, "no auth_time"},
		{"old", time.Now().Add(-10 * time.Minute).Unix(), "older than the re-authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := beginReauth(t)
			if q := a.authURL.Query(); q.Get("max_age") != "0" || q.Get("prompt") != "login" {
				t.Errorf("BeginReauth asks for %q, want max_age=0 and prompt=login", a.authURL.RawQuery)
			}
			op.QueueUser(testop.User{Sub: "sub-jane", Extra: map[string]any{"auth_time": tt.authTime}})
			id, returnTo, _, err := finish(t, rp, authorize(t, a), a.cookies)
			if tt.wantErr == "" {
				if err != nil || returnTo != "/devices/d1/unlock" || id.AuthTime.IsZero() {
					t.Fatalf("Finish = %+v, %q, %v", id, returnTo, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Finish error %v, want ErrInvalidToken saying %q", err, tt.wantErr)
			}
		})
	}
	// An auth_time ahead of our clock (the IdP's clock runs fast) counts as now: it
	// must not excuse the user from step-up for as long as it is ahead.
	op.QueueUser(testop.User{Sub: "sub-jane", Extra: map[string]any{"auth_time": time.Now().Add(time.Hour).Unix()}})
	ahead := begin(t, rp, "", nil)
	if id, _, _, err := finish(t, rp, authorize(t, ahead), ahead.cookies); err != nil || id.AuthTime.After(time.Now()) {
		if err == nil {
			t.Logf("AuthTime %v", id.AuthTime)
		}
		t.Errorf("auth_time an hour ahead: Finish error %v; want a sign-in whose AuthTime is not in the future", err)
	}
	// A normal sign-in does not require auth_time.
	op.QueueUser(testop.User{Sub: "sub-jane", Extra: map[string]any{"auth_time": nil}})
	a := begin(t, rp, "", nil)
	if _, _, _, err := finish(t, rp, authorize(t, a), a.cookies); err != nil {
		t.Errorf("a sign-in without max_age refused a token without auth_time: %v", err)
	}
}

// TestRPRefresh: a refresh token from the sign-in refreshes at the IdP with a verified
// ID token of the same user; an unknown token is refused as ErrRefreshRefused only when
// the IdP says invalid_grant (mockoidc says invalid_request for a malformed one: a
// failure, not a refusal); a failing IdP is an error that is not a refusal; no ID token
// is no identity; an ID token of another subject is an error.
func TestRPRefresh(t *testing.T) {
	op := testop.Start(t, "")
	rp := newRP(t, op, nil)
	user := testop.User{Sub: "sub-jane", Email: "jane@example.com", EmailVerified: true, Extra: map[string]any{"groups": []any{"latchkey-admin"}}}
	a := begin(t, rp, "", nil)
	op.QueueUser(user)
	id, _, _, err := finish(t, rp, authorize(t, a), a.cookies)
	if err != nil {
		t.Fatal(err)
	}
	if id.RefreshToken == "" {
		t.Fatal("no refresh token from the sign-in")
	}
	got, err := rp.Refresh(t.Context(), id.RefreshToken, "sub-jane")
	if err != nil || got.Identity == nil || !got.Identity.IsAdmin || got.RefreshToken == "" {
		t.Fatalf("Refresh = %+v, %v", got, err)
	}
	if got, err := rp.Refresh(t.Context(), id.RefreshToken, "someone-else"); err == nil || errors.Is(err, auth.ErrRefreshRefused) ||
		got == nil || got.RefreshToken == "" || got.Identity != nil {
		t.Errorf("refresh naming another subject: %+v, %v; want an error with the new refresh token (the old one is spent) and no identity", got, err)
	}
	op.Tamper(testop.FlipSignature)
	if got, err := rp.Refresh(t.Context(), id.RefreshToken, "sub-jane"); err == nil || got == nil || got.RefreshToken == "" || got.Identity != nil {
		t.Errorf("refresh with an ID token that does not verify: %+v, %v; want an error with the new refresh token and no identity", got, err)
	}
	op.Tamper(nil)
	op.FailToken(true)
	if _, err := rp.Refresh(t.Context(), id.RefreshToken, "sub-jane"); err == nil || errors.Is(err, auth.ErrRefreshRefused) || strings.Contains(err.Error(), testop.FailDescription) {
		t.Errorf("refresh while the IdP fails: %v, want an error that is not a refusal and hides the detail", err)
	}
	op.FailToken(false)
	op.Tamper(func(string) string { return "" })
	if got, err := rp.Refresh(t.Context(), id.RefreshToken, "sub-jane"); err != nil || got.Identity != nil {
		t.Errorf("refresh without ID token = %+v, %v", got, err)
	}
}
