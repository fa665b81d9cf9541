package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testop"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/store"
)

// refreshTokenOf is the refresh token kept with the user's one session.
func refreshTokenOf(t *testing.T, p *testportal.Portal, userID string) string {
	t.Helper()
	var rt *string
	if err := p.DB.SQL().QueryRowContext(t.Context(), `SELECT oidc_refresh_token FROM sessions WHERE user_id = $1`, userID).Scan(&rt); err != nil {
		t.Fatal(err)
	}
	if rt == nil {
		return ""
	}
	return *rt
}

// dueNow makes the user's sessions due for a re-check, with no lease running.
func dueNow(t *testing.T, p *testportal.Portal, userID string) {
	t.Helper()
	if _, err := p.DB.SQL().ExecContext(t.Context(),
		`UPDATE sessions SET oidc_refreshed_at = NULL, oidc_refresh_lease = NULL, oidc_refresh_lease_until = NULL WHERE user_id = $1`, userID); err != nil {
		t.Fatal(err)
	}
}

// TestRecheckAtDevIdP: the dev IdP grants a refresh token (offline_access), kept in
// the session's row; once OIDC_RECHECK_INTERVAL passed, the next page views refresh
// exactly once — four at the same time rotate the token once (a second use would be
// refused and sign her out) — and a refusal ends the session, audited.
func TestRecheckAtDevIdP(t *testing.T) { pgtest.EachDialect(t, testRecheckAtDevIdP) }

func testRecheckAtDevIdP(t *testing.T) {
	p := startPortal(t, testportal.Options{Env: map[string]string{"OIDC_RECHECK_INTERVAL": "1s"}})
	alice := signIn(t, p, "alice")
	rt1 := refreshTokenOf(t, p, alice.user.ID)
	if rt1 == "" {
		t.Fatal("no refresh token kept with the session")
	}
	// Not due yet: a page view does not refresh.
	p.Get(t, alice.c, "/devices")
	if refreshTokenOf(t, p, alice.user.ID) != rt1 {
		t.Error("refreshed before the interval passed")
	}
	time.Sleep(1100 * time.Millisecond)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if res, _ := p.Get(t, alice.c, "/devices"); res.StatusCode != http.StatusOK {
				t.Errorf("GET /devices during the re-check: %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	rt2 := refreshTokenOf(t, p, alice.user.ID)
	if rt2 == "" || rt2 == rt1 {
		t.Errorf("refresh token after the re-check: rotated %v", rt2 != rt1)
	}
	if res, _ := p.Get(t, alice.c, "/devices"); res.StatusCode != http.StatusOK {
		t.Fatalf("alice signed out by the re-check: %d", res.StatusCode)
	}
	if strings.Contains(p.Logs(), "refused its refresh") {
		t.Error("a refresh token was used twice")
	}

	// The IdP refuses (a token it does not know): the session ends at once.
	if _, err := p.DB.SQL().ExecContext(t.Context(), `UPDATE sessions SET oidc_refresh_token = 'revoked' WHERE user_id = $1`, alice.user.ID); err != nil {
		t.Fatal(err)
	}
	dueNow(t, p, alice.user.ID)
	checkSentToLogin(t, p, alice.c, "/devices")
	if n := countAudit(t, p, store.AuditIdPRefreshRefused); n != 1 {
		t.Errorf("%d auth.idp_refresh_refused events, want 1", n)
	}
}

// TestRecheckClaims: against mockoidc, a refresh's new ID token updates admin rights;
// the IdP failing keeps the session (and its rights); a refresh without an ID token
// keeps the account but drops admin rights for that session.
func TestRecheckClaims(t *testing.T) {
	p, op := startMockPortal(t, map[string]string{"OIDC_RECHECK_INTERVAL": "1s"})
	c := p.Client(t)
	extra := map[string]any{"groups": []any{"latchkey-admin"}}
	res, _ := p.get(t, c, mockCallback(t, p, op, c, "", testop.User{Sub: "boss", Email: "boss@example.com", EmailVerified: true, Extra: extra}))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	boss := userBySubject(t, p.Portal, "boss")
	admin := func() int {
		t.Helper()
		res, _ := p.Get(t, c, "/admin/users")
		return res.StatusCode
	}
	if got := admin(); got != http.StatusOK {
		t.Fatalf("admin page: %d", got)
	}
	if refreshTokenOf(t, p.Portal, boss.ID) == "" {
		t.Fatal("no refresh token kept")
	}

	// The IdP fails: the session and its rights stay.
	op.FailToken(true)
	dueNow(t, p.Portal, boss.ID)
	if got := admin(); got != http.StatusOK {
		t.Errorf("admin page while the IdP fails: %d, want 200 (session kept)", got)
	}
	if !strings.Contains(p.Logs(), "keeping the session") || strings.Contains(p.Logs(), testop.FailDescription) {
		t.Error("the failure is not logged, or its detail leaked")
	}
	op.FailToken(false)

	// Demoted at the IdP: the next re-check takes the admin rights away.
	delete(extra, "groups")
	dueNow(t, p.Portal, boss.ID)
	if got := admin(); got != http.StatusForbidden {
		t.Errorf("admin page after demotion at the IdP: %d, want 403", got)
	}
	if u := userBySubject(t, p.Portal, "boss"); u.IsAdmin {
		t.Error("the user record is still admin")
	}

	// Admin again, but the refresh brings no ID token: rights dropped, account kept.
	extra["groups"] = []any{"latchkey-admin"}
	op.Tamper(func(string) string { return "" })
	dueNow(t, p.Portal, boss.ID)
	if got := admin(); got != http.StatusForbidden {
		t.Errorf("admin page after a refresh without ID token: %d, want 403", got)
	}
	if res, _ := p.Get(t, c, "/devices"); res.StatusCode != http.StatusOK {
		t.Errorf("the account was not kept: /devices %d", res.StatusCode)
	}
}

// sessionDue makes c's session due for a re-check, with no lease running; its other
// sessions stay as they are.
func sessionDue(t *testing.T, p *testportal.Portal, c *http.Client) {
	t.Helper()
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	token := ""
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "latchkey_session" {
			token = ck.Value
		}
	}
	res, err := p.DB.SQL().ExecContext(t.Context(),
		`UPDATE sessions SET oidc_refreshed_at = NULL, oidc_refresh_lease = NULL, oidc_refresh_lease_until = NULL WHERE token = $1`, token)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("no session row for the client's cookie (%d rows)", n)
	}
}

// TestRecheckAcrossInstances: two portals on one PostgreSQL, one IdP that rotates
// refresh tokens and refuses a second use of one, as the dev IdP and most IdPs do.
// Page views of a due session on both instances at once refresh exactly once, and the
// session stays signed in on both. When the IdP demotes the admin, the re-check of one
// session on one instance takes admin rights away on the other instance too, from
// another session of the same user that was not re-checked.
func TestRecheckAcrossInstances(t *testing.T) {
	op := testop.Start(t, "")
	op.RotateRefreshTokens(300 * time.Millisecond)
	a, b, _ := twoPortals(t, map[string]string{"OIDC_ISSUER": op.Issuer(), "OIDC_CLIENT_ID": op.ClientID,
		"OIDC_CLIENT_SECRET": op.ClientSecret, "OIDC_RECHECK_INTERVAL": "1h"})
	extra := map[string]any{"groups": []any{"latchkey-admin"}}
	boss := testop.User{Sub: "boss", Email: "boss@example.com", EmailVerified: true, Extra: extra}
	signInAt := func(p *testportal.Portal) *http.Client {
		t.Helper()
		c := p.Client(t)
		if res, _ := (mockPortal{p}).get(t, c, mockCallback(t, mockPortal{p}, op, c, "", boss)); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in at %s: %d", p.URL, res.StatusCode)
		}
		return c
	}
	laptop, phone := signInAt(a), signInAt(b)
	for _, p := range []*testportal.Portal{a, b} {
		if res, _ := p.Get(t, laptop, "/admin/users"); res.StatusCode != http.StatusOK {
			t.Fatalf("admin page at %s: %d", p.URL, res.StatusCode)
		}
	}

	sessionDue(t, a, laptop)
	var wg sync.WaitGroup
	for i := range 8 {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Go(func() {
			if res, _ := p.Get(t, laptop, "/devices"); res.StatusCode != http.StatusOK {
				t.Errorf("GET /devices at %s during the re-check: %d", p.URL, res.StatusCode)
			}
		})
	}
	wg.Wait()
	if granted, reused := op.RefreshGrants(); granted != 1 || reused != 0 {
		t.Errorf("the IdP granted %d refreshes and refused %d reused tokens; want 1 and 0", granted, reused)
	}
	checkSignedIn(t, a, laptop, "laptop at a after the re-check")
	checkSignedIn(t, b, laptop, "laptop at b after the re-check")

	// Demoted at the IdP: the laptop's next re-check, at b, updates the user for all.
	delete(extra, "groups")
	sessionDue(t, b, laptop)
	if res, _ := b.Get(t, laptop, "/admin/users"); res.StatusCode != http.StatusForbidden {
		t.Errorf("laptop's admin page at b after demotion: %d, want 403", res.StatusCode)
	}
	if res, _ := a.Get(t, phone, "/admin/users"); res.StatusCode != http.StatusForbidden {
		t.Errorf("phone's admin page at a after demotion: %d, want 403", res.StatusCode)
	}
	if granted, reused := op.RefreshGrants(); granted != 2 || reused != 0 {
		t.Errorf("the IdP granted %d refreshes and refused %d; want 2 and 0 (the phone was not re-checked)", granted, reused)
	}
	checkSignedIn(t, a, phone, "phone at a after the demotion")
}

// TestRecheckKeepsRotatedToken: when the IdP rotated the refresh token but its new ID
// token does not verify (a key the portal could not fetch, a forged answer), the old
// token is spent all the same: the new one is kept, so the next re-check is not a
// reuse that signs the user out; without a verified ID token the session loses admin
// rights, which the next verified one gives back.
func TestRecheckKeepsRotatedToken(t *testing.T) {
	p, op := startMockPortal(t, map[string]string{"OIDC_RECHECK_INTERVAL": "1h"})
	op.RotateRefreshTokens(0)
	c := p.Client(t)
	boss := testop.User{Sub: "boss", Email: "boss@example.com", EmailVerified: true, Extra: map[string]any{"groups": []any{"latchkey-admin"}}}
	if res, _ := p.get(t, c, mockCallback(t, p, op, c, "", boss)); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	op.Tamper(testop.FlipSignature)
	sessionDue(t, p.Portal, c)
	if res, _ := p.Get(t, c, "/admin/users"); res.StatusCode != http.StatusForbidden {
		t.Errorf("admin page after a refresh whose ID token does not verify: %d, want 403", res.StatusCode)
	}
	checkSignedIn(t, p.Portal, c, "after a refresh whose ID token does not verify")

	op.Tamper(nil)
	sessionDue(t, p.Portal, c)
	if res, _ := p.Get(t, c, "/admin/users"); res.StatusCode != http.StatusOK {
		t.Errorf("admin page after a verified refresh: %d, want 200", res.StatusCode)
	}
	if granted, reused := op.RefreshGrants(); granted != 2 || reused != 0 {
		t.Errorf("the IdP granted %d refreshes and refused %d reused tokens; want 2 and 0", granted, reused)
	}
	if n := countAudit(t, p.Portal, store.AuditIdPRefreshRefused); n != 0 {
		t.Errorf("%d sessions ended by a refusal", n)
	}
	boss2 := userBySubject(t, p.Portal, "boss")
	if rt := refreshTokenOf(t, p.Portal, boss2.ID); rt == "" || strings.Contains(p.Logs(), rt) {
		t.Error("no refresh token kept, or the logs contain it")
	}
	if !strings.Contains(p.Logs(), "did not verify") {
		t.Error("the unverified ID token is not logged")
	}
}
