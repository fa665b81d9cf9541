package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testop"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/store"
)

// idpOrigin is the dev IdP's origin, where the portal's /login sends browsers.
func idpOrigin(t *testing.T, p *testportal.Portal) string {
	t.Helper()
	res, _ := p.Get(t, p.Client(t), "/login")
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("GET /login: %d without Location", res.StatusCode)
	}
	return loc.Scheme + "://" + loc.Host
}

// signedIn reports whether c's session still opens /devices.
func signedIn(t *testing.T, p *testportal.Portal, c *http.Client) bool {
	t.Helper()
	res, _ := p.Get(t, c, "/devices")
	switch res.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		if !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Fatalf("GET /devices: 303 to %s", res.Header.Get("Location"))
		}
		return false
	}
	t.Fatalf("GET /devices: %d", res.StatusCode)
	return false
}

func idpLogouts(t *testing.T, p *testportal.Portal, userID string) []string {
	t.Helper()
	var details []string
	if err := p.DB.EachAudit(t.Context(), userID, func(e store.AuditEvent) error {
		if e.Action == store.AuditIdPLogout {
			details = append(details, e.Detail)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return details
}

// TestBackchannelLogoutThroughDevIdP: a dev user signing out at the dev IdP's sign-out
// page makes it post a signed logout token (with that sign-in's sid) to the portal,
// which ends exactly the session that sign-in started — not the same user's other
// session, not another user's — audited on the user's trail.
func TestBackchannelLogoutThroughDevIdP(t *testing.T) {
	pgtest.EachDialect(t, testBackchannelLogoutThroughDevIdP)
}

func testBackchannelLogoutThroughDevIdP(t *testing.T) {
	p := startPortal(t, testportal.Options{})
	laptop := p.SignIn(t, "alice")
	phone := p.SignIn(t, "alice")
	bob := p.SignIn(t, "bob")
	idp := idpOrigin(t, p)

	// Discovery advertises back-channel logout, with sid.
	res, body := testportal.Do(t, p.Client(t), http.MethodGet, idp+"/.well-known/openid-configuration", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"backchannel_logout_supported":true`) ||
		!strings.Contains(body, `"backchannel_logout_session_supported":true`) {
		t.Errorf("discovery (%d) does not advertise back-channel logout: %s", res.StatusCode, body)
	}

	res, body = testportal.Do(t, laptop, http.MethodGet, idp+"/signout", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `action="/signout"`) {
		t.Fatalf("dev IdP sign-out page: %d %s", res.StatusCode, body)
	}
	res, _ = testportal.Do(t, laptop, http.MethodPost, idp+"/signout", url.Values{}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /signout at the dev IdP: %d", res.StatusCode)
	}
	if signedIn(t, p, laptop) {
		t.Error("the session the dev IdP sign-out named is still signed in")
	}
	if !signedIn(t, p, phone) {
		t.Error("alice's other sign-in (another IdP session) was ended too")
	}
	if !signedIn(t, p, bob) {
		t.Error("bob's session was ended")
	}
	alice := userBySubject(t, p, "dev-alice")
	if got := idpLogouts(t, p, alice.ID); len(got) != 1 || got[0] != "1 session ended" {
		t.Errorf("alice's trail: idp logouts %q, want one with 1 session ended", got)
	}
	if !strings.Contains(p.Logs(), "back-channel logout accepted") {
		t.Error("no log line for the accepted logout")
	}
	// Signing out again at the IdP (no session there any more) ends nothing else.
	testportal.Do(t, laptop, http.MethodPost, idp+"/signout", url.Values{}, nil)
	if !signedIn(t, p, phone) || !signedIn(t, p, bob) {
		t.Error("a second sign-out at the IdP ended other sessions")
	}
}

// TestBackchannelLogoutRefusesBadTokens: the endpoint takes no session and no origin
// check (a server posts to it), and a token that is not a valid logout token is 400,
// no-store, logged without the token, and ends nothing.
func TestBackchannelLogoutRefusesBadTokens(t *testing.T) {
	p := startPortal(t, testportal.Options{})
	alice := p.SignIn(t, "alice")
	for _, tt := range []struct {
		name string
		form url.Values
		hdr  http.Header
	}{
		{"no token", url.Values{}, nil},
		{"garbage", url.Values{"logout_token": {"not-a-jwt-SECRETISH"}}, nil},
		{"forged JWS", url.Values{"logout_token": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZXYtYWxpY2UifQ.SECRETISH"}},
			http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, p.URL+"/auth/backchannel-logout", strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.hdr {
				req.Header[k] = v
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", res.StatusCode)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
	if !signedIn(t, p, alice) {
		t.Error("a refused logout token ended a session")
	}
	logs := p.Logs()
	if !strings.Contains(logs, "back-channel logout refused") {
		t.Error("no log line for the refusals")
	}
	if strings.Contains(logs, "SECRETISH") {
		t.Error("the logs contain the posted token")
	}
	// A GET is not the endpoint.
	res, _ := p.Get(t, p.Client(t), "/auth/backchannel-logout")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.StatusCode)
	}
}

// postLogout posts a logout token as an IdP would (no browser headers).
func postLogout(t *testing.T, p *testportal.Portal, token string) int {
	t.Helper()
	res, err := http.PostForm(p.URL+"/auth/backchannel-logout", url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return res.StatusCode
}

// TestBackchannelLogoutTokens: against mockoidc's keys, a good token naming a sid ends
// exactly the session whose ID token carried it; one naming only a sub ends every
// session of that user and no one else's; the same token again (replayed jti), one for
// another audience, or one with a nonce is 400 and ends nothing.
func TestBackchannelLogoutTokens(t *testing.T) {
	p, op := startMockPortal(t, nil)
	signInMock := func(sub, sid string) *http.Client {
		t.Helper()
		c := p.Client(t)
		user := testop.User{Sub: sub, Email: sub + "@example.com", EmailVerified: true, Extra: map[string]any{"sid": sid}}
		if res, _ := p.get(t, c, mockCallback(t, p, op, c, "", user)); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in of %s: %d", sub, res.StatusCode)
		}
		return c
	}
	jane1, jane2 := signInMock("jane", "sid-j1"), signInMock("jane", "sid-j2")
	joe := signInMock("joe", "sid-joe")
	now := time.Now()

	bad := map[string]string{
		"wrong audience": op.Sign(t, func() jwt.MapClaims { c := op.LogoutClaims("jane", "", now); c["aud"] = "other-client"; return c }()),
		"nonce present":  op.Sign(t, func() jwt.MapClaims { c := op.LogoutClaims("jane", "", now); c["nonce"] = "n"; return c }()),
		"bad signature":  testop.FlipSignature(op.Sign(t, op.LogoutClaims("jane", "", now))),
	}
	for name, tok := range bad {
		if got := postLogout(t, p.Portal, tok); got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, got)
		}
	}
	if !signedIn(t, p.Portal, jane1) || !signedIn(t, p.Portal, jane2) {
		t.Fatal("a refused token ended a session")
	}

	bySID := op.Sign(t, op.LogoutClaims("jane", "sid-j1", now))
	if got := postLogout(t, p.Portal, bySID); got != http.StatusOK {
		t.Fatalf("logout by sid: %d", got)
	}
	if signedIn(t, p.Portal, jane1) || !signedIn(t, p.Portal, jane2) || !signedIn(t, p.Portal, joe) {
		t.Error("logout by sid did not end exactly jane's first session")
	}
	if got := postLogout(t, p.Portal, bySID); got != http.StatusBadRequest {
		t.Errorf("replayed token: %d, want 400", got)
	}

	jane3 := signInMock("jane", "")
	if got := postLogout(t, p.Portal, op.Sign(t, op.LogoutClaims("jane", "", now))); got != http.StatusOK {
		t.Fatalf("logout by sub: %d", got)
	}
	if signedIn(t, p.Portal, jane2) || signedIn(t, p.Portal, jane3) {
		t.Error("logout by sub left a session of jane's")
	}
	if !signedIn(t, p.Portal, joe) {
		t.Error("logout by jane's sub ended joe's session")
	}
}

// TestBackchannelLogoutAcrossInstances: two portals on one PostgreSQL, one IdP. A logout
// token posted to one instance ends the session used on the other — its open live
// stream closes with sse-close — and the same token posted to the other instance is a
// replay: 400.
func TestBackchannelLogoutAcrossInstances(t *testing.T) {
	op := testop.Start(t, "")
	a, b, _ := twoPortals(t, map[string]string{"OIDC_ISSUER": op.Issuer(), "OIDC_CLIENT_ID": op.ClientID, "OIDC_CLIENT_SECRET": op.ClientSecret})
	ma := mockPortal{a}
	c := a.Client(t)
	user := testop.User{Sub: "alice", Email: "alice@example.com", EmailVerified: true, Extra: map[string]any{"sid": "sid-a"}}
	if res, _ := ma.get(t, c, mockCallback(t, ma, op, c, "", user)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on a: %d", res.StatusCode)
	}
	res, events := openStream(t, a, c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream on a: %d", res.StatusCode)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the stream never said it was connected")
	}
	tok := op.Sign(t, op.LogoutClaims("alice", "sid-a", time.Now()))
	if got := postLogout(t, b, tok); got != http.StatusOK {
		t.Fatalf("logout at b: %d", got)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("the ended session's stream on a did not close")
	}
	checkSentToLogin(t, a, c, "/devices")
	if got := postLogout(t, a, tok); got != http.StatusBadRequest {
		t.Errorf("the same token at a: %d, want 400 (replayed jti)", got)
	}
}
