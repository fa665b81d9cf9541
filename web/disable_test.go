package web_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// twoPortals starts two portals on one PostgreSQL database and one Seam sandbox, as two
// instances behind a load balancer. A browser's cookies reach both: cookie jars, like
// browsers, do not tell 127.0.0.1's ports apart.
func twoPortals(t *testing.T, env map[string]string) (a, b *testportal.Portal, seamURL string) {
	t.Helper()
	dbURL := pgtest.URL(t)
	if err := store.Migrate(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{APIKey: testportal.SandboxKey, ActionDelay: 20 * time.Millisecond})
	seamSrv := httptest.NewServer(sb)
	t.Cleanup(seamSrv.Close)
	settings := map[string]string{"DATABASE_URL": dbURL, "SEAM_API_KEY": testportal.SandboxKey, "SEAM_ENDPOINT": seamSrv.URL,
		"SEAM_EVENTS_POLL_INTERVAL": "1h"}
	for k, v := range env {
		settings[k] = v
	}
	a = testportal.Start(t, testportal.Options{Env: settings})
	b = testportal.Start(t, testportal.Options{Env: settings})
	a.Sandbox, b.Sandbox = sb, sb
	return a, b, seamSrv.URL
}

// TestAdminDisablesAcrossInstances: on one instance an admin ends all of a customer's
// sessions, then disables them; on the other instance the customer is signed out at
// once, their open live stream closes, their unlock is refused (also for a request
// that loaded them before the disabling: inside the intent transaction), and signing
// in again is refused with a page saying whom to contact. Enabling restores access.
// Admins cannot disable themselves; customers cannot use the admin controls.
func TestAdminDisablesAcrossInstances(t *testing.T) {
	a, b, seamURL := twoPortals(t, map[string]string{"LATCHKEY_SUPPORT_CONTACT": "help@example.test"})
	alice := signIn(t, a, "alice")
	if res, body := a.Connect(t, alice.c, sandbox.JaneEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d\n%s", res.StatusCode, body)
	}
	devices, err := seam.New(testportal.SandboxKey, seam.WithEndpoint(seamURL)).Devices.List(t.Context(),
		seam.ListDevicesParams{UserIdentifierKey: alice.user.ID})
	if err != nil || len(devices) == 0 {
		t.Fatalf("alice's devices at Seam: %v, %v", devices, err)
	}
	front := devices[0].DeviceID
	checkSignedIn(t, b, alice.c, "alice on the other instance")
	admin := signIn(t, b, "admin")
	userPage := "/admin/users/" + alice.user.ID

	res, body := b.Get(t, admin.c, userPage)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "1 session open") || !strings.Contains(body, "Disable user") {
		t.Fatalf("admin's page of alice: %d, no session count or disable control", res.StatusCode)
	}

	// End all sessions (on b): alice is signed out on a at once.
	res, _ = b.Post(t, admin.c, userPage+"/end-sessions", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != userPage {
		t.Fatalf("end all sessions: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, body := b.Get(t, admin.c, userPage); !strings.Contains(body, "Ended 1 session of") {
		t.Error("no confirmation after ending the sessions")
	}
	checkSentToLogin(t, a, alice.c, "/devices")
	if n := countAudit(t, a, store.AuditAdminSessionsEnded); n != 1 {
		t.Errorf("%d admin.sessions_ended events", n)
	}

	// Alice signs in again and keeps a page open; the admin disables her.
	alice = signIn(t, a, "alice")
	stale := alice.user // what a request that raced the disabling loaded
	res, events := openStream(t, a, alice.c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("alice's /events: %d", res.StatusCode)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("alice's stream never said it was connected")
	}
	res, body = b.Get(t, admin.c, userPage+"/disable")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Yes, disable") {
		t.Fatalf("disable confirmation page: %d", res.StatusCode)
	}
	res, _ = b.Post(t, admin.c, userPage+"/disable", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != userPage {
		t.Fatalf("disable: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("the disabled user's live stream on the other instance did not close with sse-close")
	}
	checkSentToLogin(t, a, alice.c, "/devices")
	if res, _ := a.Post(t, alice.c, "/devices/"+front+"/unlock", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled alice's unlock: %d, want 401", res.StatusCode)
	}
	if _, err := a.App.Locks().Unlock(t.Context(), stale, front); !errors.Is(err, locks.ErrUserDisabled) {
		t.Errorf("an unlock for alice loaded before the disabling: %v, want ErrUserDisabled", err)
	}
	if calls := a.Sandbox.CallsTo("/locks/unlock_door"); len(calls) != 0 {
		t.Errorf("Seam was asked to unlock %d times", len(calls))
	}
	if _, body := b.Get(t, admin.c, "/admin/users"); !strings.Contains(body, ">Disabled</span>") {
		t.Error("the users list does not mark alice disabled")
	}
	res, body = b.Get(t, admin.c, userPage)
	if !strings.Contains(body, "Disabled") || !strings.Contains(body, "Enable user") || strings.Contains(body, "Disable user") {
		t.Errorf("admin's page of disabled alice: %d, no Disabled badge or Enable control", res.StatusCode)
	}

	// Signing in is refused, with a page saying whom to contact; no session is made.
	c := a.Client(t)
	steps := devSignIn(t, a, c, "alice", "/login")
	doc := checkPage(t, callbackStep(t, a, steps), http.StatusForbidden, "Your account is disabled")
	if text := htmltest.Text(doc); !strings.Contains(text, "help@example.test") {
		t.Errorf("the refusal page does not say whom to contact:\n%s", text)
	}
	if ids := publicIDs(t, a, alice.user.ID); len(ids) != 0 {
		t.Errorf("a refused sign-in left %d sessions", len(ids))
	}
	checkSentToLogin(t, a, c, "/devices")

	// Enabled (on b), alice signs in (on a) and unlocks again.
	res, _ = b.Post(t, admin.c, userPage+"/enable", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	alice = signIn(t, a, "alice")
	if res, _ := htmxPost(t, b, alice.c, "/devices/"+front+"/unlock"); res.StatusCode != http.StatusOK {
		t.Errorf("alice's unlock after enabling: %d", res.StatusCode)
	}

	for action, want := range map[string]int{
		store.AuditAdminUserDisabled: 1, store.AuditAdminUserEnabled: 1, store.AuditLoginRefusedDisabled: 1,
		store.AuditDeviceActionDisabled: 1,
	} {
		if n := countAudit(t, a, action); n != want {
			t.Errorf("%d %s events, want %d", n, action, want)
		}
	}
	for _, e := range auditEvents(t, a) {
		if strings.HasPrefix(e.Action, "admin.user_") || e.Action == store.AuditAdminSessionsEnded {
			if e.ActorID != admin.user.ID || e.SubjectUserID != alice.user.ID {
				t.Errorf("%s: actor %s subject %s, want the admin on alice", e.Action, e.ActorID, e.SubjectUserID)
			}
		}
	}

	// Both trails tell it, each from its side.
	if _, body := a.Get(t, alice.c, "/activity"); !strings.Contains(body, "An administrator disabled this account") || !strings.Contains(body, "This account is disabled.") {
		t.Error("alice's activity does not show the disabling and the refused sign-in")
	}
	if _, body := b.Get(t, admin.c, "/activity"); !strings.Contains(body, "Disabled a customer&#39;s account") && !strings.Contains(body, "Disabled a customer's account") {
		t.Error("the admin's activity does not show the disabling")
	}

	// An admin cannot disable themselves; a customer cannot use the controls.
	self := "/admin/users/" + admin.user.ID
	if _, body := b.Get(t, admin.c, self); strings.Contains(body, "Disable user") {
		t.Error("the admin's own page offers to disable them")
	}
	if res, _ := b.Post(t, admin.c, self+"/disable", nil); res.StatusCode != http.StatusConflict {
		t.Errorf("admin disabling themselves: %d, want 409", res.StatusCode)
	}
	if u, err := b.DB.UserByID(t.Context(), admin.user.ID); err != nil || u.Disabled() {
		t.Errorf("the admin was disabled: %v", err)
	}
	for _, path := range []string{userPage + "/disable", userPage + "/enable", userPage + "/end-sessions"} {
		if res, _ := a.Post(t, alice.c, path, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("customer POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	checkSignedIn(t, a, alice.c, "alice after trying the admin controls")
	res, _ = b.Post(t, admin.c, "/admin/users/not-a-uuid/disable", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("disable a malformed id: %d, want 404", res.StatusCode)
	}
}
