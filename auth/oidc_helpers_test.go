package auth_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/internal/testing/testop"
)

// newRP is a relying party for op with a fresh random session key; edit adjusts the
// configuration. Its background discovery stops when the test ends.
func newRP(t testing.TB, op *testop.OP, edit func(*auth.RPConfig)) *auth.RP {
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
func signIn(t testing.TB, rp *auth.RP, op *testop.OP, user mockoidc.User) (*auth.Identity, error) {
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
