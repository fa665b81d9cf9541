package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// TestUnlockStepUp: with UNLOCK_REAUTH_AFTER set, an unlock (its confirmation page and
// its POST) by a user whose sign-in at the IdP is older is sent to sign in again —
// max_age=0 and prompt=login at the dev IdP, which asks for the password — and back to
// the confirmation page; htmx gets HX-Redirect; nothing is sent to Seam meanwhile. Lock
// needs no step-up. Each demand is audited. Someone else signing in at that prompt is a
// normal sign-in of theirs.
func TestUnlockStepUp(t *testing.T) { pgtest.EachDialect(t, testUnlockStepUp) }

func testUnlockStepUp(t *testing.T) {
	const after = 2 * time.Second
	p := startPortal(t, testportal.Options{Env: map[string]string{"UNLOCK_REAUTH_AFTER": after.String()}})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	front, back := jane.deviceID(t, "Front Door"), jane.deviceID(t, "Back Door")
	confirm := "/devices/" + front + "/unlock"
	login := "/login?reauth=1&return_to=" + url.QueryEscape(confirm)

	// Just signed in: the confirmation page opens.
	if res, _ := p.Get(t, alice.c, confirm); res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s right after sign-in: %d", confirm, res.StatusCode)
	}
	time.Sleep(after + 1100*time.Millisecond) // auth_time has a resolution of a second

	res, _ := p.Get(t, alice.c, confirm)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != login {
		t.Fatalf("GET %s with an old sign-in: %d to %q, want 303 to %q", confirm, res.StatusCode, res.Header.Get("Location"), login)
	}
	res, _ = htmxPost(t, p, alice.c, confirm)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != login || res.Header.Get("Location") != "" {
		t.Errorf("htmx POST %s: %d HX-Redirect %q Location %q, want 401 with HX-Redirect %q",
			confirm, res.StatusCode, res.Header.Get("HX-Redirect"), res.Header.Get("Location"), login)
	}
	res, _ = p.Post(t, alice.c, confirm, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != login {
		t.Errorf("POST %s: %d to %q", confirm, res.StatusCode, res.Header.Get("Location"))
	}
	if calls := p.Sandbox.CallsTo("/locks/unlock_door"); len(calls) != 0 {
		t.Errorf("%d unlock calls reached Seam without a fresh sign-in", len(calls))
	}
	if n := countAudit(t, p, store.AuditReauthRequired); n != 3 {
		t.Errorf("%d auth.reauth_required events, want 3", n)
	}
	// Locking needs no step-up. (Another door: an action left open on the front door
	// would refuse its confirmation page below as busy.)
	if res, _ := p.Post(t, alice.c, "/devices/"+back+"/lock", nil); res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == login {
		t.Error("lock asked for a fresh sign-in")
	}

	// The sign-in link asks the IdP to authenticate again, and comes back to the page.
	res, _ = p.Get(t, alice.c, login)
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("GET %s: %d without Location", login, res.StatusCode)
	}
	if q := loc.Query(); q.Get("max_age") != "0" || q.Get("prompt") != "login" {
		t.Errorf("reauth sign-in asks the IdP for %q, want max_age=0 and prompt=login", loc.RawQuery)
	}
	if final := p.SignInWith(t, alice.c, "alice", login); final != p.URL+confirm {
		t.Fatalf("re-sign-in ended at %s, want %s", final, p.URL+confirm)
	}
	if res, _ := p.Get(t, alice.c, confirm); res.StatusCode != http.StatusOK {
		t.Errorf("GET %s after signing in again: %d", confirm, res.StatusCode)
	}

	// Bob signing in at alice's prompt is bob's sign-in: alice's door is not his.
	time.Sleep(after + 1100*time.Millisecond)
	if final := p.SignInWith(t, alice.c, "bob", login); final != p.URL+confirm {
		t.Fatalf("bob's sign-in ended at %s", final)
	}
	if res, _ := p.Get(t, alice.c, confirm); res.StatusCode != http.StatusNotFound {
		t.Errorf("bob at alice's unlock page: %d, want 404", res.StatusCode)
	}
}
