package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// TestDoorChangesReachThePage: a change made at the door (the sandbox's control page:
// unlocked by hand, taken offline) reaches the portal as Seam's signed webhooks, and
// the customer's next page view shows it without asking Seam.
func TestDoorChangesReachThePage(t *testing.T) { pgtest.EachDialect(t, testDoorChangesReachThePage) }

func testDoorChangesReachThePage(t *testing.T) {
	p := startPortal(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	row := func() deviceRow {
		t.Helper()
		res, body := p.Get(t, alice.c, "/devices")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /devices: %d", res.StatusCode)
		}
		for _, r := range deviceRows(t, parseDoc(t, body)) {
			if r.name == "Front Door" {
				return r
			}
		}
		t.Fatal("Front Door not listed")
		return deviceRow{}
	}
	if r := row(); !slices.Equal(r.badges[:2], []string{"Online", "Locked"}) {
		t.Fatalf("before: %q", r.badges)
	}
	if err := p.Sandbox.SetLocked(front, false, sandbox.MethodManual); err != nil {
		t.Fatal(err)
	}
	if err := p.Sandbox.SetOnline(front, false); err != nil {
		t.Fatal(err)
	}
	// The webhooks are delivered and applied in the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := p.DB.UserDevice(t.Context(), alice.user.ID, front)
		if err == nil && containsAll(string(c.Device), `"locked":false`, `"online":false`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy did not change within 5 s: %s", c.Device)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := len(p.Sandbox.CallsTo("/devices/list"))
	r := row()
	if !slices.Equal(r.badges[:2], []string{"Offline", "Unlocked"}) {
		t.Errorf("after the door changed: %q, want Offline, Unlocked", r.badges)
	}
	if got := len(p.Sandbox.CallsTo("/devices/list")) - before; got != 0 {
		t.Errorf("the page asked Seam %d times", got)
	}
	// Each event was applied once.
	var events, applied int
	if err := p.DB.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*), COUNT(processed_at) FROM seam_events`).Scan(&events, &applied); err != nil {
		t.Fatal(err)
	}
	if events == 0 || applied != events {
		t.Errorf("%d events stored, %d applied", events, applied)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestActivityInTheOrderItHappened: an unlock and a lock at the door a moment later —
// often within one second — are listed newest first in the order they happened, not
// Latchkey's rows first and Seam's after (which put "Unlocked" on top of a page whose
// badge says Locked); the unlock is one entry, Seam's event of it is not repeated.
func TestActivityInTheOrderItHappened(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	attempt, _, _ := attemptFragment(t, body)
	if got := pollAttempt(t, p, alice.c, front, attempt); !strings.HasPrefix(got, "Front Door unlocked") {
		t.Fatalf("unlock ended %q", got)
	}
	if err := p.Sandbox.SetLocked(front, true, sandbox.MethodManual); err != nil {
		t.Fatal(err)
	}
	// The copy and Seam's event history can each get the lock first (a resync may read
	// the new state before the event arrives): wait until the page shows the event.
	var what, results []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		res, body := p.Get(t, alice.c, "/devices/"+front)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("device page: %d", res.StatusCode)
		}
		what, results = nil, nil
		for _, tr := range htmltest.Find(parseDoc(t, body), htmltest.ByTag(atom.Tr)) {
			if tds := htmltest.Find(tr, htmltest.ByTag(atom.Td)); len(tds) > 2 {
				what = append(what, htmltest.Text(tds[1]))
				results = append(results, htmltest.Text(tds[2]))
			}
		}
		if len(what) > 0 && what[0] == "Locked (manual)" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activity, newest first: %q; want the lock at the door on top", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Our one entry for the unlock is at its request and says how it ended; Seam's own
	// event of that unlock (its action_attempt_id is ours) is not a second entry.
	requested := slices.Index(what, "Unlock requested")
	if requested != 1 || results[requested] != "Unlocked" || slices.Contains(what, "Unlocked (remote)") {
		t.Errorf("activity, newest first: %q %q; want Locked (manual), Unlock requested → Unlocked, and no second entry for the unlock", what, results)
	}
}
