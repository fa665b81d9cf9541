package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// controlsOf reads the lock/unlock buttons of one device on a page: its row on the
// list, or the controls of its device page.
func controlsOf(t *testing.T, doc *html.Node, deviceID string) []control {
	t.Helper()
	block := byID(doc, "controls-"+deviceID)
	if block == nil {
		t.Fatalf("no controls-%s block on the page", deviceID)
	}
	return controlsIn(doc, block)
}

// refusal is what a confirmation page or a POST answered when the action could not be
// started: its status and <h1>.
type refusal struct {
	status int
	title  string
}

func refusedWith(t *testing.T, res *http.Response, body string) refusal {
	t.Helper()
	return refusal{res.StatusCode, h1Text(t, parseDoc(t, body))}
}

// TestDisabledControls: for each reason a lock cannot be operated now — offline, its
// account disconnected, not remotely, an action pending, the action limit spent — the
// list and the device page show its one state-chosen control disabled with the reason
// (aria-describedby), and the confirmation page and the POST refuse with that reason
// without asking Seam to act.
func TestDisabledControls(t *testing.T) {
	p := testportal.Start(t, testportal.Options{ActionDelay: 3 * time.Second,
		Env: map[string]string{"LATCHKEY_ACTIONS_PER_MINUTE": "2", "LATCHKEY_SEAM_BUDGET": "1000/10s"}})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	john := connectLocks(t, p, alice, sandbox.JohnEmail)
	cut := connectLocks(t, p, alice, sandbox.DisconnectedEmail)
	p.SettleEvents(t)
	front, back, garage := jane.deviceID(t, "Front Door"), jane.deviceID(t, "Back Door"), jane.deviceID(t, "Garage Side Door")
	storage, shed := john.deviceID(t, "Storage Room"), cut.deviceID(t, "Shed Door")

	check := func(t *testing.T, id string, want control, refused refusal) {
		t.Helper()
		for _, path := range []string{"/devices", "/devices/" + id} {
			_, body := p.Get(t, alice.c, path)
			if got := controlsOf(t, parseDoc(t, body), id); len(got) != 1 || got[0] != want {
				t.Errorf("%s: controls %+v, want [%+v]", path, got, want)
			}
		}
		if refused.status == 0 {
			return
		}
		acts := len(p.Sandbox.CallsTo("/locks/unlock_door")) + len(p.Sandbox.CallsTo("/locks/lock_door"))
		if strings.HasPrefix(want.name, "Unlock") {
			res, body := p.Get(t, alice.c, "/devices/"+id+"/unlock")
			if got := refusedWith(t, res, body); got != refused {
				t.Errorf("confirmation page: %+v, want %+v", got, refused)
			}
		}
		verb := map[bool]string{true: "/unlock", false: "/lock"}[strings.HasPrefix(want.name, "Unlock")]
		res, body := p.Post(t, alice.c, "/devices/"+id+verb, nil)
		if got := refusedWith(t, res, body); got != refused {
			t.Errorf("POST %s: %+v, want %+v", verb, got, refused)
		}
		if got := len(p.Sandbox.CallsTo("/locks/unlock_door")) + len(p.Sandbox.CallsTo("/locks/lock_door")); got != acts {
			t.Errorf("a refused action reached Seam (%d lock/unlock calls, %d before)", got, acts)
		}
	}

	t.Run("enabled", func(t *testing.T) {
		check(t, front, control{name: "Unlock Front Door"}, refusal{})
		check(t, back, control{name: "Lock Back Door"}, refusal{})
		// The confirmation page's form, boosted by htmx, swaps the whole page: it gets
		// the redirect a plain form gets, not a status fragment that would replace it.
		h := htmxHeader("")
		h.Set("HX-Boosted", "true")
		res, body := testportal.Do(t, alice.c, http.MethodPost, p.URL+"/devices/"+back+"/lock", url.Values{}, h)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices/"+back {
			t.Errorf("boosted lock: %d to %q, want 303 to the device page\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
	})
	t.Run("offline", func(t *testing.T) {
		check(t, garage, control{name: "Unlock Garage Side Door", disabled: true, note: "Unavailable while the lock is offline."},
			refusal{http.StatusConflict, "This lock is offline"})
	})
	t.Run("account disconnected", func(t *testing.T) {
		check(t, shed, control{name: "Unlock Shed Door", disabled: true, note: "Unavailable: the lock's account is disconnected. Reconnect it first."},
			refusal{http.StatusConflict, "This lock's account is disconnected"})
	})
	t.Run("not remotely", func(t *testing.T) {
		check(t, storage, control{name: "Unlock Storage Room", disabled: true, note: "This lock cannot be unlocked remotely."},
			refusal{http.StatusConflict, "This lock cannot be unlocked remotely"})
	})
	t.Run("pending", func(t *testing.T) {
		// The sandbox holds the unlock pending for 3 s.
		res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("unlock: %d\n%s", res.StatusCode, body)
		}
		// The live region names the door: the list has many.
		// The door is named inside the role="status" line, the part that is announced.
		id, _, _ := attemptFragment(t, body)
		live := htmltest.Find(byID(parseDoc(t, body), "attempt-"+id), htmltest.HasAttr("role", "status"))
		if len(live) != 1 || htmltest.Text(live[0]) != "Front Door: Unlocking…" {
			t.Errorf("the status line: %d lines, %q, want one saying \"Front Door: Unlocking…\" (the door, for screen readers)", len(live), textsOf(live))
		}
		want := control{name: "Unlock Front Door", disabled: true, note: "Wait for the current request to finish."}
		for _, path := range []string{"/devices", "/devices/" + front} {
			_, body := p.Get(t, alice.c, path)
			if got := controlsOf(t, parseDoc(t, body), front); len(got) != 1 || got[0] != want {
				t.Errorf("%s: controls %+v, want [%+v]", path, got, want)
			}
		}
		res, body = p.Get(t, alice.c, "/devices/"+front+"/unlock")
		if got := refusedWith(t, res, body); got.status != http.StatusConflict || !strings.Contains(htmltest.Text(parseDoc(t, body)), "An unlock of Front Door is in progress") {
			t.Errorf("confirmation page while pending: %+v, want 409 saying the unlock is in progress", got)
		}
	})
	t.Run("limit spent", func(t *testing.T) {
		// The boosted lock and the pending unlock spent the two actions a minute.
		note := "You have reached the limit of 2 actions a minute. Reload the page in a minute to try again."
		for _, id := range []string{john.deviceID(t, "Main Entrance")} {
			check(t, id, control{name: "Unlock Main Entrance", disabled: true, note: note},
				refusal{http.StatusTooManyRequests, "Too many requests"})
		}
	})
}

// TestLiveControls: the controls a live update pushes are the state-aware ones the page
// renders: when Front Door goes offline, the stream carries its controls block out of
// band with the Unlock button disabled and the reason beside it.
func TestLiveControls(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	p.SettleEvents(t)

	_, events := openStream(t, p, alice.c)
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the stream never said it was connected")
	}
	if err := p.Sandbox.SetOnline(front, false); err != nil {
		t.Fatal(err)
	}
	ev, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool {
		return ev.name == "change" && strings.Contains(ev.data, `id="controls-`+front+`"`) && strings.Contains(ev.data, "Offline")
	})
	if !ok {
		t.Fatal("the stream never carried Front Door's controls after it went offline")
	}
	doc := parseDoc(t, ev.data)
	blocks := htmltest.Find(doc, htmltest.HasAttr("id", "controls-"+front))
	var oob *html.Node
	for _, b := range blocks {
		if htmltest.Attr(b, "hx-swap-oob") == "true" {
			oob = b
		}
	}
	if oob == nil {
		t.Fatalf("no out-of-band controls-%s block in the change:\n%s", front, ev.data)
	}
	want := control{name: "Unlock Front Door", disabled: true, note: "Unavailable while the lock is offline."}
	if got := controlsIn(doc, oob); len(got) != 1 || got[0] != want {
		t.Errorf("live controls %+v, want [%+v]", got, want)
	}
}

// refreshOf is the content of the page's <meta http-equiv="refresh"> inside <noscript>
// in <head> ("" when there is none), read as a browser without JavaScript reads it.
func refreshOf(t *testing.T, body string) string {
	t.Helper()
	doc, err := html.ParseWithOptions(strings.NewReader(body), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range htmltest.Find(doc, htmltest.HasAttr("http-equiv", "refresh")) {
		if m.Parent == nil || m.Parent.DataAtom != atom.Noscript || m.Parent.Parent == nil || m.Parent.Parent.DataAtom != atom.Head {
			t.Errorf("a refresh <meta> outside <head><noscript>:\n%s", body)
		}
		out = append(out, htmltest.Attr(m, "content"))
	}
	if len(out) > 1 {
		t.Errorf("%d refresh <meta> elements, want at most 1", len(out))
	}
	return strings.Join(out, ",")
}

// checkAgainIn reports whether n offers a "Check again" link to href, for browsers
// without JavaScript too.
func checkAgainIn(t *testing.T, body, href string) bool {
	t.Helper()
	doc, err := html.ParseWithOptions(strings.NewReader(body), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	return len(htmltest.Find(doc, func(n *html.Node) bool {
		return n.DataAtom == atom.A && htmltest.Text(n) == "Check again" && htmltest.Attr(n, "href") == href
	})) > 0
}

// TestPendingPagesWithoutJavaScript: a page showing an action in progress (list and
// device page) and the connect page that waits for Seam ("Almost there") offer "Check
// again" and reload themselves in browsers without JavaScript; pages with nothing
// pending, and the sign-in window (a reload would lose what the customer typed in
// it), do not reload.
func TestPendingPagesWithoutJavaScript(t *testing.T) {
	p := testportal.Start(t, testportal.Options{ActionDelay: 3 * time.Second})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	front, back := jane.deviceID(t, "Front Door"), jane.deviceID(t, "Back Door")

	for _, path := range []string{"/devices", "/devices/" + front, "/connect", "/activity"} {
		if _, body := p.Get(t, alice.c, path); refreshOf(t, body) != "" {
			t.Errorf("%s with nothing pending reloads itself", path)
		}
	}

	if res, _ := p.Post(t, alice.c, "/devices/"+front+"/unlock", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	for _, path := range []string{"/devices/" + front, "/devices"} {
		_, body := p.Get(t, alice.c, path)
		if got := refreshOf(t, body); got != "3" {
			t.Errorf("%s with the unlock pending: refresh %q, want \"3\"", path, got)
		}
		if !checkAgainIn(t, body, "/devices/"+front) {
			t.Errorf("%s with the unlock pending offers no \"Check again\" link to the device page", path)
		}
	}
	if _, body := p.Get(t, alice.c, "/devices/"+back); refreshOf(t, body) != "" {
		t.Error("Back Door's page reloads itself while only Front Door has an action pending")
	}

	res, _ := p.Post(t, alice.c, "/connect", nil)
	window := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(window, "/connect/") {
		t.Fatalf("start connecting: %d to %q", res.StatusCode, window)
	}
	_, body := p.Get(t, alice.c, window)
	if refreshOf(t, body) != "" {
		t.Error("the sign-in window page reloads itself (and would lose the customer's sign-in)")
	}
	if !strings.Contains(htmltest.Text(parseDoc(t, body)), "choose “I have finished signing in”") {
		t.Error("the sign-in window page does not say what to do when signing in is done")
	}
	returnURL := "/connect/return?connect_webview_id=" + strings.TrimPrefix(window, "/connect/")
	_, body = p.Get(t, alice.c, returnURL)
	if got := h1Text(t, parseDoc(t, body)); got != "Almost there" {
		t.Fatalf("return before signing in: %q, want Almost there", got)
	}
	if got := refreshOf(t, body); got != "5" {
		t.Errorf("Almost there: refresh %q, want \"5\"", got)
	}
	if !checkAgainIn(t, body, returnURL) {
		t.Error("Almost there offers no \"Check again\" link")
	}
}

// TestCapabilityBadgesOnlyOffered: the sandbox's locks support access codes too, but
// the portal offers only locking and unlocking, so only that badge shows.
func TestCapabilityBadgesOnlyOffered(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	if caps := jane.devices["Front Door"].CapabilitiesSupported; !slices.Contains(caps, "access_code") {
		t.Fatalf("the sandbox's Front Door supports %q; the test needs access_code among them", caps)
	}
	_, body := p.Get(t, alice.c, "/devices/"+jane.deviceID(t, "Front Door"))
	doc := parseDoc(t, body)
	status := byID(doc, "status-"+jane.deviceID(t, "Front Door"))
	if status == nil {
		t.Fatal("no Status card")
	}
	var badges []string
	for _, b := range htmltest.Find(status, func(n *html.Node) bool { return htmltest.Attr(n, "class") == "badge-slate" }) {
		badges = append(badges, htmltest.Text(b))
	}
	if !slices.Equal(badges, []string{"Lock and unlock"}) {
		t.Errorf("capability badges %q, want only [Lock and unlock]", badges)
	}
	if strings.Contains(htmltest.Text(doc), "Access codes") {
		t.Error("the device page mentions access codes, which the portal does not offer")
	}
}

// textsOf is the text of each node.
func textsOf(nodes []*html.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = htmltest.Text(n)
	}
	return out
}
