package devidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testing/syncbuf"
)

const (
	testPassword   = "correct horse battery staple"
	testClientID   = "latchkey"
	testSecret     = "client-secret-for-tests"
	testRedirect   = "http://127.0.0.1:1/auth/callback"
	testPostLogout = "http://127.0.0.1:1/"
	testAdminGroup = "latchkey-admin"
)

// env is one running dev IdP with a relying party configured against it.
type env struct {
	t        *testing.T
	srv      *Server
	provider *oidc.Provider
	conf     oauth2.Config
	browser  *http.Client
	logs     *syncbuf.Buffer
}

func testConfig(logs io.Writer) Config {
	return Config{
		Password:               testPassword,
		ClientID:               testClientID,
		ClientSecret:           testSecret,
		RedirectURIs:           []string{testRedirect},
		PostLogoutRedirectURIs: []string{testPostLogout},
		AdminGroup:             testAdminGroup,
		Logger:                 slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the configuration edited first.
func newEnvWith(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	if edit != nil {
		edit(&cfg)
	}
	srv, err := Start(t.Context(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, srv.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t:        t,
		srv:      srv,
		provider: provider,
		conf: oauth2.Config{
			ClientID:     testClientID,
			ClientSecret: testSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  testRedirect,
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
		},
		browser: &http.Client{
			Jar:           jar,
			Timeout:       30 * time.Second, // generous: the suite runs under -race beside a browser
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logs: logs,
	}
}

// with returns a copy of e that reports to t (a subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// attempt is what the relying party keeps between the redirect and the callback.
type attempt struct {
	state, nonce, verifier string
}

func newAttempt() attempt {
	return attempt{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
}

func (e *env) authURL(a attempt) string {
	return e.conf.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
}

func (e *env) get(rawURL string) *http.Response {
	e.t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		e.t.Fatalf("GET %s: %v", rawURL, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d, no Location: %v", resp.Request.Method, resp.Request.URL, resp.StatusCode, err)
	}
	return loc
}

// openLogin follows the authorization request to the login page and returns it.
func (e *env) openLogin(authURL string) (loginURL *url.URL, form loginForm) {
	e.t.Helper()
	resp := e.get(authURL)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loginURL = location(e.t, resp)
	page := e.get(loginURL.String())
	if page.StatusCode != http.StatusOK {
		e.t.Fatalf("login page: status %d", page.StatusCode)
	}
	return loginURL, parseLoginForm(e.t, page.Body)
}

func (e *env) submit(loginURL *url.URL, id, username, password string) *http.Response {
	e.t.Helper()
	resp, err := e.browser.PostForm(loginURL.ResolveReference(&url.URL{Path: "/login"}).String(),
		url.Values{"id": {id}, "username": {username}, "password": {password}})
	if err != nil {
		e.t.Fatalf("POST login: %v", err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// signIn runs the browser side of a code flow and returns the authorization code.
func (e *env) signIn(a attempt, username string) string {
	e.t.Helper()
	loginURL, form := e.openLogin(e.authURL(a))
	resp := e.submit(loginURL, form.id, username, testPassword)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: status %d, want 303", resp.StatusCode)
	}
	cb := e.get(location(e.t, resp).String())
	if cb.StatusCode != http.StatusFound {
		e.t.Fatalf("callback: status %d, want 302", cb.StatusCode)
	}
	back := location(e.t, cb)
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != testRedirect {
		e.t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	if q.Get("state") != a.state {
		e.t.Fatalf("state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("code") == "" {
		e.t.Fatalf("no code in %s (error=%s)", back, q.Get("error"))
	}
	return q.Get("code")
}

func (e *env) exchange(code, verifier string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(e.t.Context(), 5*time.Second)
	defer cancel()
	return e.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
}

type idClaims struct {
	Subject           string   `json:"sub"`
	Nonce             string   `json:"nonce"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func (e *env) verify(tok *oauth2.Token) (*oidc.IDToken, idClaims) {
	e.t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		e.t.Fatal("token response has no id_token")
	}
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: testClientID}).Verify(e.t.Context(), raw)
	if err != nil {
		e.t.Fatalf("verify ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	return idt, c
}

// loginForm is what the login page offers, read from its HTML structure.
type loginForm struct {
	id, username, errorText string
	hasPassword             bool
	text                    string
}

func parseLoginForm(t *testing.T, r io.Reader) loginForm {
	t.Helper()
	doc, err := html.Parse(r)
	if err != nil {
		t.Fatalf("parse login page: %v", err)
	}
	var f loginForm
	var text strings.Builder
	for n := range doc.Descendants() {
		if n.Type == html.TextNode {
			text.WriteString(n.Data + " ")
		}
		if n.Type != html.ElementNode {
			continue
		}
		attr := func(k string) string {
			for _, a := range n.Attr {
				if a.Key == k {
					return a.Val
				}
			}
			return ""
		}
		switch {
		case n.Data == "input" && attr("name") == "id":
			f.id = attr("value")
		case n.Data == "input" && attr("name") == "username":
			f.username = attr("value")
		case n.Data == "input" && attr("name") == "password" && attr("type") == "password":
			f.hasPassword = true
		case attr("role") == "alert" && n.FirstChild != nil:
			f.errorText = n.FirstChild.Data
		}
	}
	f.text = text.String()
	if f.id == "" || !f.hasPassword {
		t.Fatalf("no login form (id=%q, password field=%v)", f.id, f.hasPassword)
	}
	return f
}

func TestCodeFlowIDTokenClaims(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		user      string
		authStyle oauth2.AuthStyle
		want      idClaims
	}{
		{"alice", oauth2.AuthStyleInHeader, idClaims{Subject: "dev-alice", Email: "alice@example.com", Name: "Alice Anders", PreferredUsername: "alice"}},
		{"bob", oauth2.AuthStyleInParams, idClaims{Subject: "dev-bob", Email: "bob@example.com", Name: "Bob Brown", PreferredUsername: "bob"}},
		{"admin", oauth2.AuthStyleInParams, idClaims{Subject: "dev-admin", Email: "admin@example.com", Name: "Ada Admin", PreferredUsername: "admin", Groups: []string{testAdminGroup}}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			e := e.with(t)
			e.conf.Endpoint.AuthStyle = tt.authStyle // client_secret_basic, then client_secret_post
			a := newAttempt()
			tok, err := e.exchange(e.signIn(a, tt.user), a.verifier)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			idt, got := e.verify(tok)
			if got.Nonce != a.nonce {
				t.Errorf("nonce = %q, want %q", got.Nonce, a.nonce)
			}
			if !got.EmailVerified {
				t.Error("email_verified is not true")
			}
			tt.want.Nonce, tt.want.EmailVerified = a.nonce, true
			if len(tt.want.Groups) == 0 && len(got.Groups) == 0 {
				got.Groups = nil
			}
			if !slices.Equal(got.Groups, tt.want.Groups) || got.Subject != tt.want.Subject ||
				got.Email != tt.want.Email || got.Name != tt.want.Name || got.PreferredUsername != tt.want.PreferredUsername {
				t.Errorf("claims = %+v, want %+v", got, tt.want)
			}
			if exp := time.Until(idt.Expiry); exp > 6*time.Minute || exp < 3*time.Minute {
				t.Errorf("ID token expires in %v, want about 5m", exp)
			}
			if exp := time.Until(tok.Expiry); exp > 16*time.Minute || exp < 13*time.Minute {
				t.Errorf("access token expires in %v, want about 15m", exp)
			}

			ui, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var uc idClaims
			if err := ui.Claims(&uc); err != nil {
				t.Fatal(err)
			}
			if ui.Subject != tt.want.Subject || ui.Email != tt.want.Email || !ui.EmailVerified ||
				slices.Contains(uc.Groups, testAdminGroup) != slices.Contains(tt.want.Groups, testAdminGroup) {
				t.Errorf("userinfo = %+v groups %v, want %+v", ui, uc.Groups, tt.want)
			}
		})
	}
}

func TestDiscoveryAdvertisesWhatTheFlowUses(t *testing.T) {
	e := newEnv(t)
	var d struct {
		Issuer            string   `json:"issuer"`
		EndSession        string   `json:"end_session_endpoint"`
		PKCEMethods       []string `json:"code_challenge_methods_supported"`
		AuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
		Claims            []string `json:"claims_supported"`
		SigningAlgorithms []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := e.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != e.srv.URL || !strings.HasPrefix(d.Issuer, "http://127.0.0.1:") || strings.HasSuffix(d.Issuer, "/") {
		t.Errorf("issuer = %q, server URL %q", d.Issuer, e.srv.URL)
	}
	if d.Issuer != e.srv.Provider.Issuer() {
		t.Errorf("Provider.Issuer() = %q, discovery %q", e.srv.Provider.Issuer(), d.Issuer)
	}
	for _, c := range []struct {
		name string
		list []string
		want string
	}{
		{"code_challenge_methods_supported", d.PKCEMethods, "S256"},
		{"token_endpoint_auth_methods_supported", d.AuthMethods, "client_secret_basic"},
		{"token_endpoint_auth_methods_supported", d.AuthMethods, "client_secret_post"},
		{"claims_supported", d.Claims, "groups"},
		{"id_token_signing_alg_values_supported", d.SigningAlgorithms, "RS256"},
	} {
		if !slices.Contains(c.list, c.want) {
			t.Errorf("%s = %v, want %s", c.name, c.list, c.want)
		}
	}
	if d.EndSession == "" {
		t.Error("no end_session_endpoint")
	}
}

func TestWrongPasswordReshowsForm(t *testing.T) {
	e := newEnv(t)
	a := newAttempt()
	loginURL, form := e.openLogin(e.authURL(a))
	resp := e.submit(loginURL, form.id, "alice", "not the password")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 with the form", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("wrong password redirected to %s", loc)
	}
	again := parseLoginForm(t, resp.Body)
	if again.errorText == "" {
		t.Error("no error message shown")
	}
	if again.username != "alice" {
		t.Errorf("username field = %q, want alice kept", again.username)
	}
	if again.id != form.id {
		t.Errorf("auth request id changed from %q to %q", form.id, again.id)
	}
	if strings.Contains(e.logs.String(), "not the password") {
		t.Error("the typed password appears in the logs")
	}

	// The same pending request still completes with the right password.
	ok := e.submit(loginURL, again.id, "alice", testPassword)
	if ok.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password after a wrong one: status %d, want 303", ok.StatusCode)
	}
}

func TestUnknownOrUsedAuthRequestIsRefused(t *testing.T) {
	e := newEnv(t)
	a := newAttempt()
	code := e.signIn(a, "alice")
	if code == "" {
		t.Fatal("no code")
	}
	loginURL := &url.URL{Scheme: "http", Host: strings.TrimPrefix(e.srv.URL, "http://"), Path: "/login"}
	for _, id := range []string{"no-such-request", ""} {
		resp := e.submit(loginURL, id, "alice", testPassword)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("id %q: status %d, want 400", id, resp.StatusCode)
		}
	}
}

func TestCodeExchangeFailures(t *testing.T) {
	tests := []struct {
		name string
		// redeem runs the exchanges that must all fail after a successful sign-in.
		redeem func(e *env, a attempt, code string) []error
	}{
		{"wrong PKCE verifier, and the code is burnt afterwards", func(e *env, a attempt, code string) []error {
			_, wrong := e.exchange(code, oauth2.GenerateVerifier())
			_, right := e.exchange(code, a.verifier)
			return []error{wrong, right}
		}},
		{"missing PKCE verifier", func(e *env, a attempt, code string) []error {
			ctx, cancel := context.WithTimeout(e.t.Context(), 5*time.Second)
			defer cancel()
			_, err := e.conf.Exchange(ctx, code)
			return []error{err}
		}},
		{"code reuse", func(e *env, a attempt, code string) []error {
			if _, err := e.exchange(code, a.verifier); err != nil {
				e.t.Fatalf("first exchange: %v", err)
			}
			_, err := e.exchange(code, a.verifier)
			return []error{err}
		}},
		{"wrong client secret", func(e *env, a attempt, code string) []error {
			e.conf.ClientSecret = "wrong"
			_, err := e.exchange(code, a.verifier)
			return []error{err}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			a := newAttempt()
			code := e.signIn(a, "alice")
			for i, err := range tt.redeem(e, a, code) {
				if err == nil {
					t.Errorf("exchange %d succeeded, want an error", i+1)
				}
			}
			if strings.Contains(e.logs.String(), code) {
				t.Error("the authorization code appears in the logs")
			}
		})
	}
}

func TestCallbackReplayIssuesNoSecondCode(t *testing.T) {
	e := newEnv(t)
	a := newAttempt()
	loginURL, form := e.openLogin(e.authURL(a))
	callback := location(t, e.submit(loginURL, form.id, "bob", testPassword)).String()
	first := location(t, e.get(callback)).Query()
	if first.Get("code") == "" {
		t.Fatalf("first callback gave no code: %v", first)
	}
	resp := e.get(callback)
	if resp.StatusCode == http.StatusFound {
		if code := location(t, resp).Query().Get("code"); code != "" {
			t.Fatal("replaying the login callback issued a second code")
		}
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name         string
		mutate       func(q url.Values)
		wantRedirect bool // an error sent back to the (registered) redirect_uri
		wantError    string
	}{
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:1/evil") }, false, ""},
		{"redirect_uri differing by a trailing slash", func(q url.Values) { q.Set("redirect_uri", testRedirect+"/") }, false, ""},
		{"unknown client", func(q url.Values) { q.Set("client_id", "someone-else") }, false, ""},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, true, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, true, "invalid_request"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "id_token") }, false, ""},
		{"prompt=none", func(q url.Values) { q.Set("prompt", "none") }, true, "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			u, err := url.Parse(e.authURL(newAttempt()))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			tt.mutate(q)
			u.RawQuery = q.Encode()
			resp := e.get(u.String())
			if !tt.wantRedirect {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q, want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc := location(t, resp)
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
				t.Fatalf("redirected to %s, want the registered redirect URI", loc)
			}
			if got := loc.Query().Get("error"); got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
		})
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t)
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := e.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	other := newEnv(t) // a token signed by another start must not be honoured
	tokens := func(env *env) (string, *oauth2.Token) {
		a := newAttempt()
		tok, err := env.exchange(env.signIn(a, "alice"), a.verifier)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		return tok.Extra("id_token").(string), tok
	}
	hint, tok := tokens(e)
	foreignHint, _ := tokens(other)

	tests := []struct {
		name   string
		params url.Values
		want   string // Location; "" means 400 without a redirect
	}{
		{"registered post_logout_redirect_uri with id_token_hint",
			url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {testPostLogout}, "state": {"s1"}}, testPostLogout + "?state=s1"},
		{"registered post_logout_redirect_uri with client_id",
			url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}, testPostLogout},
		{"unregistered post_logout_redirect_uri",
			url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:1/evil"}}, ""},
		{"id_token_hint from another provider",
			url.Values{"id_token_hint": {foreignHint}, "post_logout_redirect_uri": {testPostLogout}}, ""},
		{"no client named: the provider's own page",
			url.Values{"post_logout_redirect_uri": {testPostLogout}}, e.srv.URL + "/logged-out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			resp := e.get(d.EndSession + "?" + tt.params.Encode())
			if tt.want == "" {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q, want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302", resp.StatusCode)
			}
			if got := location(t, resp).String(); got != tt.want {
				t.Errorf("Location = %s, want %s", got, tt.want)
			}
		})
	}
	// The id_token_hint logout above ended alice's tokens for the client.
	if _, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("access token still answers userinfo after end_session")
	}
	page := e.get(e.srv.URL + "/logged-out")
	if page.StatusCode != http.StatusOK || page.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("logged-out page: status %d, CSP %q", page.StatusCode, page.Header.Get("Content-Security-Policy"))
	}
}

func TestEachStartHasItsOwnSigningKey(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	keys := func(e *env) jose.JSONWebKeySet {
		var d struct {
			JWKS string `json:"jwks_uri"`
		}
		if err := e.provider.Claims(&d); err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.NewDecoder(e.get(d.JWKS).Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 || set.Keys[0].Algorithm != "RS256" || set.Keys[0].KeyID == "" {
			t.Fatalf("JWKS = %+v, want one RS256 key with a kid", set.Keys)
		}
		return set
	}
	ka, kb := keys(a), keys(b)
	if ka.Keys[0].KeyID == kb.Keys[0].KeyID {
		t.Error("both starts use the same key id")
	}
	pa, pb := ka.Keys[0].Key.(*rsa.PublicKey), kb.Keys[0].Key.(*rsa.PublicKey)
	if pa.Equal(pb) {
		t.Error("both starts use the same RSA key")
	}

	// A token from start A must not verify against start B's keys.
	att := newAttempt()
	tok, err := a.exchange(a.signIn(att, "alice"), att.verifier)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := b.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(a.srv.URL, oidc.NewRemoteKeySet(t.Context(), d.JWKS), &oidc.Config{ClientID: testClientID})
	if _, err := v.Verify(t.Context(), tok.Extra("id_token").(string)); err == nil {
		t.Error("start A's ID token verified with start B's keys")
	}
}

func TestLoginPageIsStrictAndCookieless(t *testing.T) {
	e := newEnv(t)
	a := newAttempt()
	loginURL, _ := e.openLogin(e.authURL(a))
	resp := e.get(loginURL.String())
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self' http://127.0.0.1:1"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(string(body), "<script") {
		t.Errorf("login page allows or has inline script: CSP %q", csp)
	}
	// The browser hashes the <style> element's text; the CSP must name that hash.
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no <style> element")
	}
	sum := sha256.Sum256(m[1])
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}
	form := parseLoginForm(t, bytes.NewReader(body))
	for _, u := range Users() {
		if !strings.Contains(form.text, u.Username) {
			t.Errorf("login page does not hint user %q", u.Username)
		}
	}
	if strings.Contains(string(body), testPassword) {
		t.Error("login page shows the dev password")
	}

	code := e.signIn(a, "alice")
	if _, err := e.exchange(code, a.verifier); err != nil {
		t.Fatal(err)
	}
	issuer, _ := url.Parse(e.srv.URL)
	// The one cookie is the sign-in's session (for the sign-out page), prefixed devidp_
	// so it never collides with the portal's on another port of the same host.
	for _, c := range e.browser.Jar.Cookies(issuer) {
		if c.Name != sessionCookie || !strings.HasPrefix(c.Name, "devidp_") {
			t.Errorf("the dev IdP set cookie %s; only %s is needed", c.Name, sessionCookie)
		}
	}
}

func TestCrossSiteLoginPostRefused(t *testing.T) {
	e := newEnv(t)
	loginURL, form := e.openLogin(e.authURL(newAttempt()))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, loginURL.ResolveReference(&url.URL{Path: "/login"}).String(),
		strings.NewReader(url.Values{"id": {form.id}, "username": {"alice"}, "password": {testPassword}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login POST: status %d, want 403", resp.StatusCode)
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	a := newAttempt()
	code := e.signIn(a, "admin")
	tok, err := e.exchange(code, a.verifier)
	if err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "dev idp sign-in") {
		t.Errorf("sign-in not logged: %s", logs)
	}
	for name, secret := range map[string]string{
		"password": testPassword, "client secret": testSecret, "code": code,
		"access token": tok.AccessToken, "ID token": tok.Extra("id_token").(string),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := Start(ctx, "127.0.0.1:0", testConfig(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("listening right after Start: %v", err)
	}
	resp.Body.Close()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(srv.URL + "/.well-known/openid-configuration")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after context end: %v", err)
	}
}

func TestNewRejectsUnsafeConfig(t *testing.T) {
	base := testConfig(io.Discard)
	base.Issuer = "http://127.0.0.1:8081"
	if _, err := New(base); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"trailing slash", func(c *Config) { c.Issuer = "http://127.0.0.1:8081/" }},
		{"plain http off loopback", func(c *Config) { c.Issuer = "http://dev.example.com" }},
		{"no password", func(c *Config) { c.Password = "" }},
		{"no client secret", func(c *Config) { c.ClientSecret = "" }},
		{"no redirect URI", func(c *Config) { c.RedirectURIs = nil }},
		{"relative redirect URI", func(c *Config) { c.RedirectURIs = []string{"/auth/callback"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mutate(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
