package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// Portal behaviour on the Seam sandbox (issue 6, point 8): connecting, the device
// list, lock/unlock end to end, Seam failures, activity and the admin pages. The
// ownership matrix is in ownership_test.go.

// --- Helpers shared with ownership_test.go ------------------------------------------

// customer is a signed-in dev IdP user: their browser and their record.
type customer struct {
	c    *http.Client
	user store.User
}

// signIn signs username (alice, bob or admin) in through the dev IdP.
func signIn(t *testing.T, p *testportal.Portal, username string) customer {
	t.Helper()
	c := p.SignIn(t, username)
	return customer{c: c, user: userBySubject(t, p, "dev-"+username)}
}

// htmxHeader is what htmx sends; target is the element it swaps ("" for none).
func htmxHeader(target string) http.Header {
	h := http.Header{}
	h.Set("HX-Request", "true")
	if target != "" {
		h.Set("HX-Target", target)
	}
	return h
}

// htmxGet is GET path as htmx would send it.
func htmxGet(t *testing.T, p *testportal.Portal, c *http.Client, path, target string) (*http.Response, string) {
	t.Helper()
	return testportal.Do(t, c, http.MethodGet, p.URL+path, nil, htmxHeader(target))
}

// htmxPost is POST path (an empty form) as htmx would send it.
func htmxPost(t *testing.T, p *testportal.Portal, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	return testportal.Do(t, c, http.MethodPost, p.URL+path, url.Values{}, htmxHeader(""))
}

// parseDoc parses a page or a fragment (the parser wraps fragments in html/body).
func parseDoc(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// byID is the element with id, or nil.
func byID(doc *html.Node, id string) *html.Node {
	found := htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "id") == id })
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

// hasClassPrefix reports whether one of n's classes starts with prefix.
func hasClassPrefix(n *html.Node, prefix string) bool {
	for c := range strings.FieldsSeq(htmltest.Attr(n, "class")) {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// deviceRow is one <li> of a device list, read through its structure.
type deviceRow struct {
	name      string
	href      string   // the device page link ("" in the admin's read-only list)
	badges    []string // Online/Offline, Locked/Unlocked, battery
	problems  []string
	unlock    bool // an enabled Unlock control (a form that posts …/unlock with htmx)
	lock      bool // an enabled Lock form (…/lock)
	reconnect bool // the "Reconnect this account" link (to /accounts)
	controls  []control
}

// control is one lock/unlock <button> of a device, as assistive technology meets it.
type control struct {
	name     string // the accessible name: its text, visually hidden parts included
	disabled bool
	note     string // the text aria-describedby points to ("" when none)
}

// controlsIn reads the lock/unlock buttons in n; doc resolves aria-describedby.
func controlsIn(doc, n *html.Node) []control {
	var out []control
	for _, b := range htmltest.Find(n, htmltest.ByTag(atom.Button)) {
		name := strings.Join(strings.Fields(htmltest.Text(b)), " ")
		if !strings.HasPrefix(name, "Unlock") && !strings.HasPrefix(name, "Lock") {
			continue
		}
		c := control{name: name, disabled: htmltest.HasAttrKey("disabled")(b)}
		if id := htmltest.Attr(b, "aria-describedby"); id != "" {
			if note := byID(doc, id); note != nil {
				c.note = htmltest.Text(note)
			}
		}
		out = append(out, c)
	}
	return out
}

// deviceRows reads the device list (<ul aria-label="Devices">) of a page or fragment.
func deviceRows(t *testing.T, doc *html.Node) []deviceRow {
	t.Helper()
	lists := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Ul && htmltest.Attr(n, "aria-label") == "Devices" })
	if len(lists) > 1 {
		t.Fatalf("%d device lists on one page", len(lists))
	}
	if len(lists) == 0 {
		return nil
	}
	var rows []deviceRow
	for li := range lists[0].ChildNodes() {
		if li.DataAtom != atom.Li {
			continue
		}
		var r deviceRow
		if h2 := htmltest.Find(li, htmltest.ByTag(atom.H2)); len(h2) == 1 {
			r.name = htmltest.Text(h2[0])
			if a := htmltest.Find(h2[0], htmltest.ByTag(atom.A)); len(a) == 1 {
				r.href = htmltest.Attr(a[0], "href")
			}
		}
		for _, b := range htmltest.Find(li, func(n *html.Node) bool { return hasClassPrefix(n, "badge-") }) {
			r.badges = append(r.badges, strings.TrimSpace(strings.TrimLeft(htmltest.Text(b), "●○ ")))
		}
		for _, ul := range htmltest.Find(li, func(n *html.Node) bool { return n.DataAtom == atom.Ul && htmltest.Attr(n, "aria-label") == "Problems" }) {
			for _, p := range htmltest.Find(ul, htmltest.ByTag(atom.Li)) {
				r.problems = append(r.problems, htmltest.Text(p))
			}
		}
		r.unlock = len(htmltest.Find(li, func(n *html.Node) bool {
			return strings.HasSuffix(htmltest.Attr(n, "hx-post"), "/unlock") || (n.DataAtom == atom.Form && strings.HasSuffix(htmltest.Attr(n, "action"), "/unlock"))
		})) > 0
		r.lock = len(htmltest.Find(li, func(n *html.Node) bool {
			return strings.HasSuffix(htmltest.Attr(n, "hx-post"), "/lock") || (n.DataAtom == atom.Form && strings.HasSuffix(htmltest.Attr(n, "action"), "/lock"))
		})) > 0
		r.controls = controlsIn(doc, li)
		r.reconnect = len(htmltest.Find(li, func(n *html.Node) bool {
			return n.DataAtom == atom.A && htmltest.Attr(n, "href") == "/accounts" && strings.Contains(htmltest.Text(n), "Reconnect")
		})) > 0
		rows = append(rows, r)
	}
	return rows
}

func rowNames(rows []deviceRow) []string {
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.name
	}
	return names
}

func rowNamed(t *testing.T, rows []deviceRow, name string) deviceRow {
	t.Helper()
	for _, r := range rows {
		if r.name == name {
			return r
		}
	}
	t.Fatalf("no device row %q in %q", name, rowNames(rows))
	return deviceRow{}
}

// sandboxDevices lists the user's devices straight from the sandbox (as Seam has them).
func sandboxDevices(t *testing.T, p *testportal.Portal, userID, accountID string) []seam.Device {
	t.Helper()
	client := seam.New(testportal.SandboxKey, seam.WithEndpoint(p.App.SandboxURL()))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	devices, err := client.Devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: userID, ConnectedAccountID: accountID})
	if err != nil {
		t.Fatalf("sandbox devices/list: %v", err)
	}
	return devices
}

// connection is one lock account connected through the portal.
type connection struct {
	webviewID string
	accountID string
	devices   map[string]seam.Device // by display name
}

// connectLocks runs the connect flow for u with a sandbox provider login and returns
// what it connected; the flow must end with a 303 to /devices.
func connectLocks(t *testing.T, p *testportal.Portal, u customer, email string) connection {
	t.Helper()
	before, err := p.DB.ConnectedAccountsForUser(t.Context(), u.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	res, body := p.Connect(t, u.c, email)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
		t.Fatalf("connect %s: %d to %q, want 303 to /devices\n%s", email, res.StatusCode, res.Header.Get("Location"), body)
	}
	after, err := p.DB.ConnectedAccountsForUser(t.Context(), u.user.ID)
	if err != nil || len(after) != len(before)+1 {
		t.Fatalf("connect %s: %d accounts recorded after, %d before (%v)", email, len(after), len(before), err)
	}
	conn := connection{
		webviewID: res.Request.URL.Query().Get("connect_webview_id"),
		accountID: after[len(after)-1].ID,
		devices:   map[string]seam.Device{},
	}
	for _, d := range sandboxDevices(t, p, u.user.ID, conn.accountID) {
		conn.devices[d.DisplayName] = d
	}
	return conn
}

// deviceID is the id of the connected device named name.
func (c connection) deviceID(t *testing.T, name string) string {
	t.Helper()
	d, ok := c.devices[name]
	if !ok {
		t.Fatalf("no device %q connected", name)
	}
	return d.DeviceID
}

// lastAuditID is the newest audit event's id (0 for none).
func lastAuditID(t *testing.T, p *testportal.Portal) int64 {
	t.Helper()
	events, _, err := p.DB.ListAudit(t.Context(), store.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		return 0
	}
	return events[0].ID
}

// auditSince returns the events written after the event with id after, oldest first.
func auditSince(t *testing.T, p *testportal.Portal, after int64) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	for _, e := range auditEvents(t, p) {
		if e.ID > after {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

// auditFor returns the events with action (and, when not empty, attempt).
func auditFor(t *testing.T, p *testportal.Portal, action, attempt string) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	for _, e := range auditEvents(t, p) {
		if e.Action == action && (attempt == "" || e.ActionAttemptID == attempt) {
			out = append(out, e)
		}
	}
	return out
}

// attemptFragment reads an action status fragment: the attempt's id, the URL it polls
// ("" once it stopped) and its status line.
func attemptFragment(t *testing.T, body string) (id, poll, status string) {
	t.Helper()
	doc := parseDoc(t, body)
	divs := htmltest.Find(doc, func(n *html.Node) bool { return strings.HasPrefix(htmltest.Attr(n, "id"), "attempt-") })
	if len(divs) != 1 {
		t.Fatalf("want one attempt-… element in the fragment, got %d:\n%s", len(divs), body)
	}
	lines := htmltest.Find(divs[0], func(n *html.Node) bool {
		return htmltest.Attr(n, "role") == "status" || htmltest.Attr(n, "role") == "alert"
	})
	if len(lines) != 1 {
		t.Fatalf("want one status line (role=status|alert) in the fragment, got %d:\n%s", len(lines), body)
	}
	return strings.TrimPrefix(htmltest.Attr(divs[0], "id"), "attempt-"), htmltest.Attr(divs[0], "hx-get"), visibleText(lines[0])
}

// visibleText is n's text as it is seen: without the screen-reader-only parts (an
// action's line names its door for screen readers only; TestDisabledControls checks it).
func visibleText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && slices.Contains(strings.Fields(htmltest.Attr(n, "class")), "sr-only") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// pollAttempt polls the attempt's status fragment as htmx does until it stops asking
// to be polled, and returns the last status line. The sandbox's actions take 20 ms.
func pollAttempt(t *testing.T, p *testportal.Portal, c *http.Client, deviceID, attemptID string) string {
	t.Helper()
	path := "/devices/" + deviceID + "/actions/" + attemptID
	deadline := time.Now().Add(3 * time.Second)
	for {
		res, body := htmxGet(t, p, c, path, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("poll %s: %d\n%s", path, res.StatusCode, body)
		}
		_, poll, status := attemptFragment(t, body)
		if poll == "" {
			return status
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll %s: still pending after 3 s (%q)", path, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// followOnce runs one step of the app's action follower, as its ticker would.
func followOnce(t *testing.T, p *testportal.Portal) {
	t.Helper()
	if _, err := p.App.Follower().Step(t.Context()); err != nil {
		t.Fatalf("follower step: %v", err)
	}
}

// latestAttempt is the user's newest action attempt on the device.
func latestAttempt(t *testing.T, p *testportal.Portal, userID, deviceID string) store.ActionAttempt {
	t.Helper()
	attempts, err := p.DB.LatestActionAttempts(t.Context(), userID, deviceID, 1)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("latest attempt of %s on %s: %v (%d found)", userID, deviceID, err, len(attempts))
	}
	return attempts[0]
}

// listedDevices is what /devices shows the client: device id → name.
func listedDevices(t *testing.T, p *testportal.Portal, c *http.Client) map[string]string {
	t.Helper()
	res, body := p.Get(t, c, "/devices")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /devices: %d\n%s", res.StatusCode, body)
	}
	out := map[string]string{}
	for _, r := range deviceRows(t, parseDoc(t, body)) {
		id, ok := strings.CutPrefix(r.href, "/devices/")
		if !ok {
			t.Fatalf("device row %q links to %q", r.name, r.href)
		}
		out[id] = r.name
	}
	return out
}

// listedDeviceID is the id of the device /devices shows the client under name.
func listedDeviceID(t *testing.T, p *testportal.Portal, c *http.Client, name string) string {
	t.Helper()
	for id, n := range listedDevices(t, p, c) {
		if n == name {
			return id
		}
	}
	t.Fatalf("/devices lists no %q", name)
	return ""
}

// auditWhere returns the events of q (up to 500) for which match is true.
func auditWhere(t *testing.T, p *testportal.Portal, q store.AuditQuery, match func(store.AuditEvent) bool) []store.AuditEvent {
	t.Helper()
	q.Limit = 500
	events, _, err := p.DB.ListAudit(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// h1s are the texts of a page's <h1> elements.
func h1s(doc *html.Node) []string {
	var out []string
	for _, n := range htmltest.Find(doc, htmltest.ByTag(atom.H1)) {
		out = append(out, htmltest.Text(n))
	}
	return out
}

// flash is the one-time message of a page ("" when none).
func flash(doc *html.Node) string {
	main := byID(doc, "main")
	if main == nil {
		return ""
	}
	for c := range main.ChildNodes() {
		if c.Type == html.ElementNode && htmltest.Attr(c, "role") == "status" {
			return htmltest.Text(c)
		}
	}
	return ""
}

// h1Text is the text of the page's only <h1>.
// alertTitle is the title of the error fragment htmx swaps in (role="alert"), or "".
func alertTitle(t *testing.T, body string) string {
	t.Helper()
	alerts := htmltest.Find(parseDoc(t, body), func(n *html.Node) bool { return htmltest.Attr(n, "role") == "alert" })
	if len(alerts) != 1 {
		return ""
	}
	ps := htmltest.Find(alerts[0], htmltest.ByTag(atom.P))
	if len(ps) == 0 {
		return ""
	}
	return htmltest.Text(ps[0])
}

func h1Text(t *testing.T, doc *html.Node) string {
	t.Helper()
	h1 := htmltest.Find(doc, htmltest.ByTag(atom.H1))
	if len(h1) != 1 {
		t.Fatalf("want one <h1>, got %d", len(h1))
	}
	return htmltest.Text(h1[0])
}

// noLeak fails when a body shows a Go error, a stack trace or a secret-looking value.
func noLeak(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", ".go:", "panic", "seam devices/list", "Bearer ", testportal.SandboxKey, "<nil>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page shows %q:\n%s", bad, body)
		}
	}
}

// --- Connect -------------------------------------------------------------------------

// TestConnectFlow: connecting ends on /devices with "Connected: 3 locks" shown once;
// reloading the return URL changes nothing; another user's webview id is not found.
func TestConnectFlow(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	conn := connectLocks(t, p, alice, sandbox.JaneEmail)

	res, body := p.Get(t, alice.c, "/devices")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /devices after connecting: %d", res.StatusCode)
	}
	doc := parseDoc(t, body)
	if got := flash(doc); got != "Connected: 3 locks" {
		t.Errorf("flash after connecting = %q, want %q", got, "Connected: 3 locks")
	}
	if rows := deviceRows(t, doc); len(rows) != 3 {
		t.Errorf("GET /devices after connecting: %d device rows, want 3", len(rows))
	}
	if _, body := p.Get(t, alice.c, "/devices"); flash(parseDoc(t, body)) != "" {
		t.Error("the flash is shown again on the next page")
	}

	t.Run("reloading the return URL is harmless", func(t *testing.T) {
		completed := len(auditFor(t, p, store.AuditConnectCompleted, ""))
		webviewCalls := len(p.Sandbox.CallsTo("/connect_webviews/get"))
		returnURL := "/connect/return?connect_webview_id=" + url.QueryEscape(conn.webviewID)
		for range 2 {
			res, body := p.Get(t, alice.c, returnURL)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
				t.Fatalf("reload %s: %d to %q, want 303 to /devices\n%s", returnURL, res.StatusCode, res.Header.Get("Location"), body)
			}
		}
		if got := len(auditFor(t, p, store.AuditConnectCompleted, "")); got != completed {
			t.Errorf("%s events: %d after reloading, %d before", store.AuditConnectCompleted, got, completed)
		}
		if got := len(p.Sandbox.CallsTo("/connect_webviews/get")); got != webviewCalls {
			t.Errorf("reloading asked Seam about the webview again (%d calls, %d before)", got, webviewCalls)
		}
		accounts, err := p.DB.ConnectedAccountsForUser(t.Context(), alice.user.ID)
		if err != nil || len(accounts) != 1 {
			t.Errorf("alice's accounts after reloading: %d (%v), want 1", len(accounts), err)
		}
		_, body = p.Get(t, alice.c, "/devices")
		doc := parseDoc(t, body)
		if got := flash(doc); got != "Connected: 3 locks" {
			t.Errorf("flash after a reload = %q, want %q", got, "Connected: 3 locks")
		}
		if got := h1Text(t, doc); got != "Your devices" {
			t.Errorf("the page after a reload has <h1> %q, want the devices page", got)
		}
	})

	t.Run("another user's webview id", func(t *testing.T) {
		mark := lastAuditID(t, p)
		calls := len(p.Sandbox.Calls())
		res, body := p.Get(t, bob.c, "/connect/return?connect_webview_id="+url.QueryEscape(conn.webviewID))
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("bob on alice's return URL: %d, want 404\n%s", res.StatusCode, body)
		}
		if got := h1Text(t, parseDoc(t, body)); got != "Page not found" {
			t.Errorf("bob on alice's return URL: <h1> %q, want the not-found page", got)
		}
		if got := len(p.Sandbox.Calls()); got != calls {
			t.Errorf("bob's request reached Seam (%d calls, %d before)", got, calls)
		}
		denied := 0
		for _, e := range auditSince(t, p, mark) {
			if e.Action == store.AuditAccessDenied && e.ActorID == bob.user.ID && e.Outcome == store.OutcomeDenied {
				denied++
			}
		}
		if denied != 1 {
			t.Errorf("%d access.denied events for bob, want 1", denied)
		}
		if accounts, _ := p.DB.ConnectedAccountsForUser(t.Context(), bob.user.ID); len(accounts) != 0 {
			t.Errorf("bob owns %d accounts after using alice's webview id, want 0", len(accounts))
		}
		if _, body := p.Get(t, bob.c, "/devices"); len(deviceRows(t, parseDoc(t, body))) != 0 {
			t.Error("bob's /devices shows devices")
		}
	})
}

// --- The device list -----------------------------------------------------------------

// TestDevicesList: /devices shows exactly alice's three sandbox locks with their state
// as Seam reports it, and ?q= filters without JavaScript and as an htmx fragment.
func TestDevicesList(t *testing.T) {
	// Many filtered lists in a row: more Seam calls than a customer's default budget.
	p := testportal.Start(t, testportal.Options{Env: map[string]string{"LATCHKEY_SEAM_BUDGET": "1000/10s"}})
	bob := signIn(t, p, "bob")
	connectLocks(t, p, bob, sandbox.JohnEmail) // someone else's locks in the same workspace
	alice := signIn(t, p, "alice")
	conn := connectLocks(t, p, alice, sandbox.JaneEmail)

	_, body := p.Get(t, alice.c, "/devices")
	rows := deviceRows(t, parseDoc(t, body))
	var want []string
	for name := range conn.devices {
		want = append(want, name)
	}
	slices.Sort(want)
	if got := rowNames(rows); !slices.Equal(got, want) || len(got) != 3 {
		t.Fatalf("device rows %q, want the sandbox's %q (3, by name)", got, want)
	}
	for _, r := range rows {
		d := conn.devices[r.name]
		if r.href != "/devices/"+d.DeviceID {
			t.Errorf("%s links to %q, want /devices/%s", r.name, r.href, d.DeviceID)
		}
		online := map[bool]string{true: "Online", false: "Offline"}[d.Properties.Online]
		locked := map[bool]string{true: "Locked", false: "Unlocked"}[*d.Properties.Locked]
		battery := fmt.Sprintf("Battery %d%%", int(d.Properties.Battery.Level*100+0.5))
		if len(r.badges) != 3 || r.badges[0] != online || r.badges[1] != locked || r.badges[2] != battery {
			t.Errorf("%s badges %q, want [%s %s %s]", r.name, r.badges, online, locked, battery)
		}
		// One control, chosen by the state; an offline lock's is disabled, saying why.
		verb := map[bool]string{true: "Unlock", false: "Lock"}[*d.Properties.Locked]
		want := control{name: verb + " " + r.name}
		if !d.Properties.Online {
			want = control{name: verb + " " + r.name, disabled: true, note: "Unavailable while the lock is offline."}
		}
		if len(r.controls) != 1 || r.controls[0] != want {
			t.Errorf("%s controls %+v, want [%+v]", r.name, r.controls, want)
		}
		wantProblems := 0
		if !d.Properties.Online {
			wantProblems = 1
		}
		if len(r.problems) != wantProblems {
			t.Errorf("%s problems %q, want %d", r.name, r.problems, wantProblems)
		}
	}
	garage := rowNamed(t, rows, "Garage Side Door")
	if len(garage.problems) != 1 || !strings.Contains(garage.problems[0], "disconnected") {
		t.Errorf("offline Garage Side Door problems %q, want its device_disconnected error in words", garage.problems)
	}
	if strings.Contains(body, "Main Entrance") || strings.Contains(body, "Storage Room") {
		t.Error("alice's /devices shows bob's locks")
	}

	filters := []struct {
		q    string
		want []string
	}{
		{"", want},
		{"front", []string{"Front Door"}},
		{"  FRONT ", []string{"Front Door"}},
		{"door", want},
		{"wi-fi", want}, // the model
		{"garage side", []string{"Garage Side Door"}},
		{"entrance", nil}, // bob's lock: never, whatever the filter
		{"zzz", nil},
	}
	for _, f := range filters {
		t.Run("q="+f.q, func(t *testing.T) {
			path := "/devices?q=" + url.QueryEscape(f.q)
			res, body := p.Get(t, alice.c, path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, res.StatusCode)
			}
			doc := parseDoc(t, body)
			if got := rowNames(deviceRows(t, doc)); !slices.Equal(got, f.want) {
				t.Errorf("GET %s rows %q, want %q", path, got, f.want)
			}
			if in := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Input && htmltest.Attr(n, "name") == "q" }); len(in) != 1 || htmltest.Attr(in[0], "value") != strings.TrimSpace(f.q) {
				t.Errorf("GET %s: the filter field does not keep the query", path)
			}
			if len(f.want) == 0 && !strings.Contains(htmltest.Text(doc), "No device matches") {
				t.Errorf("GET %s: no \"No device matches\" message", path)
			}

			res, frag := htmxGet(t, p, alice.c, path, "device-list")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("htmx GET %s: %d", path, res.StatusCode)
			}
			fdoc := parseDoc(t, frag)
			var top []*html.Node
			for c := range htmltest.Find(fdoc, htmltest.ByTag(atom.Body))[0].ChildNodes() {
				if c.Type == html.ElementNode {
					top = append(top, c)
				}
			}
			// The list, and the count announced in the page's status region (out of band).
			if len(top) != 2 || htmltest.Attr(top[0], "id") != "device-list" || htmltest.Attr(top[1], "id") != "device-filter-status" ||
				htmltest.Attr(top[1], "hx-swap-oob") != "true" || htmltest.Attr(top[1], "role") != "status" {
				t.Fatalf("htmx GET %s: want the #device-list fragment and the status, got:\n%s", path, frag)
			}
			wantStatus := fmt.Sprintf("%d of 3 devices shown.", len(f.want))
			switch len(f.want) {
			case 0:
				wantStatus = "No device matches."
			case 3:
				wantStatus = "3 devices shown."
			}
			if got := htmltest.Text(top[1]); got != wantStatus {
				t.Errorf("htmx GET %s: announced %q, want %q", path, got, wantStatus)
			}
			if len(htmltest.Find(fdoc, htmltest.ByTag(atom.Nav))) != 0 || len(htmltest.Find(fdoc, htmltest.ByTag(atom.Title))) != 0 ||
				len(htmltest.Find(fdoc, func(n *html.Node) bool { return htmltest.Attr(n, "role") == "search" })) != 0 {
				t.Errorf("htmx GET %s: the fragment carries page chrome:\n%s", path, frag)
			}
			if got := rowNames(deviceRows(t, fdoc)); !slices.Equal(got, f.want) {
				t.Errorf("htmx GET %s rows %q, want %q", path, got, f.want)
			}
		})
	}
}

// TestDevicesListProblems: john's low battery is flagged and the lock that cannot be
// unlocked remotely has its Unlock button disabled, saying so (and refuses a forged
// POST without asking Seam); a disconnected account offers "Reconnect".
func TestDevicesListProblems(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	bob := signIn(t, p, "bob")
	john := connectLocks(t, p, bob, sandbox.JohnEmail)
	connectLocks(t, p, bob, sandbox.DisconnectedEmail)

	_, body := p.Get(t, bob.c, "/devices")
	rows := deviceRows(t, parseDoc(t, body))
	if len(rows) != 3 {
		t.Fatalf("bob's rows %q, want john's 2 locks and the disconnected account's 1", rowNames(rows))
	}
	main := rowNamed(t, rows, "Main Entrance")
	if !slices.Contains(main.badges, "Battery low: 15%") {
		t.Errorf("Main Entrance badges %q, want \"Battery low: 15%%\"", main.badges)
	}
	if len(main.problems) != 1 || !strings.Contains(main.problems[0], "Battery is low") {
		t.Errorf("Main Entrance problems %q, want the low battery warning", main.problems)
	}
	if !main.unlock {
		t.Error("Main Entrance has no Unlock button")
	}
	storage := rowNamed(t, rows, "Storage Room")
	if want := (control{name: "Unlock Storage Room", disabled: true, note: "This lock cannot be unlocked remotely."}); storage.unlock || len(storage.controls) != 1 || storage.controls[0] != want {
		t.Errorf("Storage Room (locked, cannot be unlocked remotely) controls %+v, want [%+v]", storage.controls, want)
	}
	if main.reconnect || storage.reconnect {
		t.Error("john's healthy account offers Reconnect")
	}
	shed := rowNamed(t, rows, "Shed Door")
	if !shed.reconnect {
		t.Errorf("Shed Door (account_disconnected) has no Reconnect link; problems %q", shed.problems)
	}
	if !slices.ContainsFunc(shed.problems, func(s string) bool { return strings.Contains(s, "disconnected") }) {
		t.Errorf("Shed Door problems %q, want the disconnected account in words", shed.problems)
	}

	storageID := john.deviceID(t, "Storage Room")
	unlocks := len(p.Sandbox.CallsTo("/locks/unlock_door"))
	res, body := p.Post(t, bob.c, "/devices/"+storageID+"/unlock", nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(h1Text(t, parseDoc(t, body)), "cannot be unlocked remotely") {
		t.Errorf("forged unlock of Storage Room: %d, want 409 \"cannot be unlocked remotely\"\n%s", res.StatusCode, body)
	}
	if res, _ := p.Get(t, bob.c, "/devices/"+storageID+"/unlock"); res.StatusCode != http.StatusConflict {
		t.Errorf("confirmation page for Storage Room: %d, want 409", res.StatusCode)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != unlocks {
		t.Errorf("Seam got %d unlock calls for a lock that cannot be unlocked remotely", got-unlocks)
	}
}

// --- Lock and unlock -----------------------------------------------------------------

// TestUnlockWithHTMX: the fragment says "Unlocking…" and polls the attempt until it says
// "Front Door unlocked at …" (the live region names the door); Seam got one call; requested and succeeded are audited once each,
// also after the server-side follower had its turn.
func TestUnlockWithHTMX(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")

	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("htmx unlock: %d\n%s", res.StatusCode, body)
	}
	attempt, poll, status := attemptFragment(t, body)
	if status != "Unlocking…" {
		t.Errorf("first status %q, want \"Unlocking…\"", status)
	}
	if want := "/devices/" + front + "/actions/" + attempt; poll != want {
		t.Errorf("the fragment polls %q, want %q", poll, want)
	}
	if div := byID(parseDoc(t, body), "attempt-"+attempt); htmltest.Attr(div, "hx-trigger") != "load delay:1s" {
		t.Errorf("poll trigger %q, want once a second", htmltest.Attr(div, "hx-trigger"))
	}
	calls := p.Sandbox.CallsTo("/locks/unlock_door")
	if len(calls) != 1 || !strings.Contains(string(calls[0].Body), front) {
		t.Fatalf("Seam unlock calls %d, want 1 for %s", len(calls), front)
	}

	final := pollAttempt(t, p, alice.c, front, attempt)
	if !regexp.MustCompile(`^Front Door unlocked at \d{2}:\d{2} UTC$`).MatchString(final) {
		t.Errorf("final status %q, want \"Front Door unlocked at …\"", final)
	}
	_, body = htmxGet(t, p, alice.c, "/devices/"+front+"/actions/"+attempt, "")
	if badge := byID(parseDoc(t, body), "lock-"+front); badge == nil || htmltest.Attr(badge, "hx-swap-oob") != "true" || htmltest.Text(badge) != "Unlocked" {
		t.Errorf("the finished fragment does not update the lock badge to Unlocked:\n%s", body)
	}

	requested := auditFor(t, p, store.AuditDeviceUnlockRequested, attempt)
	if len(requested) != 1 || requested[0].ActorID != alice.user.ID || requested[0].DeviceID != front {
		t.Errorf("%s events for the attempt: %+v, want one by alice on %s", store.AuditDeviceUnlockRequested, requested, front)
	}
	// The follower finds the attempt finished and must not audit it again.
	followOnce(t, p)
	if got := auditFor(t, p, store.AuditDeviceUnlockSucceeded, attempt); len(got) != 1 {
		t.Errorf("%d %s events for the attempt, want exactly 1", len(got), store.AuditDeviceUnlockSucceeded)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 1 {
		t.Errorf("Seam got %d unlock calls, want 1", got)
	}
}

// TestUnlockPlainForm: without JavaScript the POST answers 303 to the device page,
// which shows the request and its status.
func TestUnlockPlainForm(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")

	res, body := p.Get(t, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("confirmation page: %d", res.StatusCode)
	}
	forms := htmltest.Find(parseDoc(t, body), func(n *html.Node) bool {
		return n.DataAtom == atom.Form && htmltest.Attr(n, "action") == "/devices/"+front+"/unlock" && strings.EqualFold(htmltest.Attr(n, "method"), "post")
	})
	if len(forms) != 1 || len(htmltest.Find(forms[0], htmltest.ByTag(atom.Button))) != 1 {
		t.Fatalf("confirmation page: want one POST form with a button to unlock:\n%s", body)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 0 {
		t.Fatalf("the confirmation page called Seam to unlock (%d calls)", got)
	}

	res, _ = p.Post(t, alice.c, "/devices/"+front+"/unlock", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices/"+front {
		t.Fatalf("plain unlock: %d to %q, want 303 to /devices/%s", res.StatusCode, res.Header.Get("Location"), front)
	}
	res, body = p.Get(t, alice.c, "/devices/"+front)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("device page: %d", res.StatusCode)
	}
	doc := parseDoc(t, body)
	if got := flash(doc); !strings.HasPrefix(got, "Unlock requested for Front Door") {
		t.Errorf("flash %q, want \"Unlock requested for Front Door…\"", got)
	}
	slot := byID(doc, "action-"+front)
	if slot == nil {
		t.Fatal("device page has no action status slot")
	}
	var buf strings.Builder
	if err := html.Render(&buf, slot); err != nil {
		t.Fatal(err)
	}
	if _, _, status := attemptFragment(t, buf.String()); status != "Unlocking…" && !strings.HasPrefix(status, "Front Door unlocked at ") {
		t.Errorf("device page action status %q, want Unlocking… or Front Door unlocked at …", status)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 1 {
		t.Errorf("Seam got %d unlock calls, want 1", got)
	}
}

// TestSecondSubmitWhilePending: while an unlock is pending (the sandbox holds it 2 s),
// more submits — at once and after — show that attempt; Seam is called once.
func TestSecondSubmitWhilePending(t *testing.T) {
	p := testportal.Start(t, testportal.Options{ActionDelay: 2 * time.Second})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	path := "/devices/" + front + "/unlock"

	type answer struct {
		status int
		body   string
	}
	answers := make([]answer, 3)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			res, body := htmxPost(t, p, alice.c, path)
			answers[i] = answer{res.StatusCode, body}
		})
	}
	wg.Wait()
	calls := p.Sandbox.CallsTo("/locks/unlock_door")
	if len(calls) != 1 {
		t.Fatalf("3 submits at once: Seam got %d unlock calls, want 1", len(calls))
	}
	attempts, err := p.DB.LatestActionAttempts(t.Context(), alice.user.ID, front, 10)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("recorded attempts %d (%v), want 1", len(attempts), err)
	}
	attempt := attempts[0].ID
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			if id, _, status := attemptFragment(t, a.body); id != attempt || status != "Unlocking…" {
				t.Errorf("submit %d: attempt %s %q, want %s \"Unlocking…\"", i, id, status, attempt)
			}
		default:
			t.Errorf("submit %d: %d, want 200 with the open attempt\n%s", i, a.status, a.body)
		}
	}

	res, body := htmxPost(t, p, alice.c, path)
	if id, _, status := attemptFragment(t, body); res.StatusCode != http.StatusOK || id != attempt || status != "Unlocking…" {
		t.Errorf("a later htmx submit: %d, attempt %s %q; want 200 with %s pending", res.StatusCode, id, status, attempt)
	}
	res, _ = p.Post(t, alice.c, path, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices/"+front {
		t.Errorf("a later plain submit: %d to %q, want 303 to the device page", res.StatusCode, res.Header.Get("Location"))
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 1 {
		t.Errorf("Seam got %d unlock calls in all, want 1", got)
	}
	if got := auditFor(t, p, store.AuditDeviceUnlockRequested, ""); len(got) != 1 {
		t.Errorf("%d %s events, want 1", len(got), store.AuditDeviceUnlockRequested)
	}
}

// TestActionRateLimit: with 2 actions a minute, the third gets the 429 page with
// Retry-After, is audited, and never reaches Seam.
func TestActionRateLimit(t *testing.T) {
	p := testportal.Start(t, testportal.Options{Env: map[string]string{"LATCHKEY_ACTIONS_PER_MINUTE": "2"}})
	alice := signIn(t, p, "alice")
	conn := connectLocks(t, p, alice, sandbox.JaneEmail)

	if res, _ := htmxPost(t, p, alice.c, "/devices/"+conn.deviceID(t, "Front Door")+"/unlock"); res.StatusCode != http.StatusOK {
		t.Fatalf("action 1: %d", res.StatusCode)
	}
	if res, _ := p.Post(t, alice.c, "/devices/"+conn.deviceID(t, "Back Door")+"/lock", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("action 2: %d", res.StatusCode)
	}
	calls := len(p.Sandbox.Calls())
	garage := conn.deviceID(t, "Garage Side Door")
	res, body := p.Post(t, alice.c, "/devices/"+garage+"/unlock", nil)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("action 3: %d, want 429\n%s", res.StatusCode, body)
	}
	if got, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || got < 50 || got > 60 {
		t.Errorf("Retry-After %q, want the seconds until the oldest counted action is a minute old (50–60)", res.Header.Get("Retry-After"))
	}
	doc := parseDoc(t, body)
	if got := h1Text(t, doc); got != "Too many requests" {
		t.Errorf("429 page <h1> %q", got)
	}
	if !strings.Contains(htmltest.Text(doc), "at most 2 times a minute") {
		t.Errorf("the 429 page does not say the limit:\n%s", htmltest.Text(doc))
	}
	if got := len(p.Sandbox.Calls()); got != calls {
		t.Errorf("the refused action reached Seam (%d calls, %d before)", got, calls)
	}
	limited := auditFor(t, p, store.AuditDeviceActionRateLimited, "")
	// The lock is named as it was (from the local copy: no Seam call is spent on it).
	if len(limited) != 1 || limited[0].ActorID != alice.user.ID || limited[0].DeviceID != garage || limited[0].DeviceName != "Garage Side Door" {
		t.Errorf("%s events %+v, want one by alice on %s", store.AuditDeviceActionRateLimited, limited, garage)
	}
	if res, body := htmxPost(t, p, alice.c, "/devices/"+garage+"/unlock"); res.StatusCode != http.StatusTooManyRequests || alertTitle(t, body) != "Too many requests" {
		t.Errorf("htmx action 4: %d, want 429 with the message in the fragment", res.StatusCode)
	}
}

// TestFailedActionShowsSeamsReason: an attempt Seam ends in error shows Seam's reason.
func TestFailedActionShowsSeamsReason(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	p.Sandbox.FailNextAction(front, "lock_jammed", "The bolt is jammed")

	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("htmx unlock: %d\n%s", res.StatusCode, body)
	}
	attempt, _, _ := attemptFragment(t, body)
	if got := pollAttempt(t, p, alice.c, front, attempt); got != "Could not unlock: The bolt is jammed" {
		t.Errorf("final status %q, want Seam's reason", got)
	}
	failed := auditFor(t, p, store.AuditDeviceUnlockFailed, attempt)
	if len(failed) != 1 || failed[0].Detail != "The bolt is jammed" || failed[0].Outcome != store.OutcomeFailure {
		t.Errorf("%s events %+v, want one with Seam's reason", store.AuditDeviceUnlockFailed, failed)
	}
}

// TestFollowerRecordsOutcome: a plain POST whose result nobody polls is still followed
// to its end and audited once by the server (Seam's event, or the follower that ticks
// every second).
func TestFollowerRecordsOutcome(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	back := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Back Door")

	if res, _ := p.Post(t, alice.c, "/devices/"+back+"/lock", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("plain lock: %d", res.StatusCode)
	}
	attempts, err := p.DB.LatestActionAttempts(t.Context(), alice.user.ID, back, 1)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("attempts %v %v", attempts, err)
	}
	id := attempts[0].ID
	deadline := time.Now().Add(3 * time.Second)
	var a store.ActionAttempt
	for {
		if a, err = p.DB.ActionAttemptForUser(t.Context(), alice.user.ID, id); err != nil {
			t.Fatal(err)
		}
		if a.Status != store.AttemptPending || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a.Status != store.AttemptSuccess || a.FinishedAt == nil {
		t.Fatalf("attempt %s after 3 s: %s (finished %v), want success recorded by the follower", id, a.Status, a.FinishedAt)
	}
	followOnce(t, p)
	succeeded := auditFor(t, p, store.AuditDeviceLockSucceeded, id)
	if len(succeeded) != 1 || succeeded[0].ActorID != alice.user.ID || succeeded[0].DeviceID != back {
		t.Errorf("%s events %+v, want one for alice's attempt", store.AuditDeviceLockSucceeded, succeeded)
	}
}

// --- Seam failures -------------------------------------------------------------------

// TestDevicesWhenSeamFails: an outage (503) or a rate limit (429) at Seam changes
// nothing for pages that read the local copy; when the copy must first be filled from
// Seam (nothing synced yet), the devices page stays, says so with "Try again", answers
// 503, and shows no error text or anyone's devices.
func TestDevicesWhenSeamFails(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	bob := signIn(t, p, "bob")
	connectLocks(t, p, bob, sandbox.JohnEmail)
	alice := signIn(t, p, "alice")
	conn := connectLocks(t, p, alice, sandbox.JaneEmail)
	front := conn.deviceID(t, "Front Door")

	t.Run("pages read the copy", func(t *testing.T) {
		p.Sandbox.InjectFault(sandbox.Fault{Path: "/devices/list", Status: http.StatusServiceUnavailable})
		defer p.Sandbox.ClearFaults()
		before := len(p.Sandbox.CallsTo("/devices/list"))
		for _, path := range []string{"/devices", "/devices/" + front} {
			if res, _ := p.Get(t, alice.c, path); res.StatusCode != http.StatusOK {
				t.Errorf("GET %s with Seam down: %d, want 200 from the copy", path, res.StatusCode)
			}
		}
		if got := len(p.Sandbox.CallsTo("/devices/list")) - before; got != 0 {
			t.Errorf("the pages asked Seam %d times", got)
		}
	})

	cases := []struct {
		name  string
		fault sandbox.Fault
		say   string
	}{
		{"outage", sandbox.Fault{Path: "/devices/list", Status: http.StatusServiceUnavailable}, "could not reach the lock service"},
		// Retry-After 0 keeps the client's retries instant; the page is what is tested.
		{"rate limited", sandbox.Fault{Path: "/devices/list", Status: http.StatusTooManyRequests, RetryAfter: "0"}, "asked us to slow down"},
	}
	for _, tc := range cases {
		t.Run("first sync: "+tc.name, func(t *testing.T) {
			// Nothing in the copy yet: the page must ask Seam.
			if err := p.DB.DeleteDevices(t.Context(), conn.accountID); err != nil {
				t.Fatal(err)
			}
			p.Sandbox.InjectFault(tc.fault)
			res, body := p.Get(t, alice.c, "/devices?q=door")
			p.Sandbox.ClearFaults()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("GET /devices: %d, want 503\n%s", res.StatusCode, body)
			}
			doc := parseDoc(t, body)
			if got := h1Text(t, doc); got != "Your devices" {
				t.Errorf("<h1> %q, want the devices page kept", got)
			}
			alerts := htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "role") == "alert" })
			if len(alerts) != 1 || !strings.Contains(htmltest.Text(alerts[0]), "cannot be shown") || !strings.Contains(htmltest.Text(alerts[0]), tc.say) {
				t.Fatalf("want one alert saying the devices cannot be shown (%q):\n%s", tc.say, body)
			}
			retry := htmltest.Find(alerts[0], func(n *html.Node) bool { return n.DataAtom == atom.A && htmltest.Text(n) == "Try again" })
			if len(retry) != 1 || htmltest.Attr(retry[0], "href") != "/devices?q=door" {
				t.Errorf("want a Try again link to /devices?q=door in the alert")
			}
			if rows := deviceRows(t, doc); len(rows) != 0 {
				t.Errorf("%d device rows shown during the failure", len(rows))
			}
			for _, other := range []string{"Main Entrance", "Storage Room", "bob@example.com"} {
				if strings.Contains(body, other) {
					t.Errorf("the page shows another user's %q", other)
				}
			}
			noLeak(t, body)

			res, body = p.Get(t, alice.c, htmltest.Attr(retry[0], "href"))
			if res.StatusCode != http.StatusOK || len(deviceRows(t, parseDoc(t, body))) != 3 {
				t.Errorf("Try again after the failure: %d, want 200 with 3 devices", res.StatusCode)
			}
		})
	}
}

// --- Activity ------------------------------------------------------------------------

// TestActivity: /activity is the user's own trail, newest first, 25 a page, with links
// between pages, and nothing of bob's.
func TestActivity(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	connectLocks(t, p, alice, sandbox.JaneEmail)
	// bob's own events, one of them about an id alice also uses.
	if res, _ := p.Get(t, bob.c, "/devices/"+uuid.NewString()); res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's probe: %d", res.StatusCode)
	}
	start := time.Now().UTC()
	for i := 1; i <= 30; i++ {
		for _, u := range []customer{alice, bob} {
			name := strings.Split(u.user.Email, "@")[0]
			if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{
				At: start.Add(time.Duration(i) * time.Second), ActorID: u.user.ID, SubjectUserID: u.user.ID,
				Action: store.AuditConnectCompleted, Outcome: store.OutcomeSuccess, Detail: fmt.Sprintf("%s event %02d", name, i),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var details, whats []string
	var times []string
	path := "/activity"
	for page := 1; path != ""; page++ {
		if page > 5 {
			t.Fatal("more than 5 activity pages")
		}
		res, body := p.Get(t, alice.c, path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		doc := parseDoc(t, body)
		rows := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Tr && n.Parent.DataAtom == atom.Tbody })
		if page == 1 && len(rows) != 25 {
			t.Errorf("page 1 has %d rows, want 25", len(rows))
		}
		for _, r := range rows {
			cells := htmltest.Find(r, htmltest.ByTag(atom.Td))
			if len(cells) < 2 {
				t.Fatalf("activity row with %d cells", len(cells))
			}
			tm := htmltest.Find(cells[0], htmltest.ByTag(atom.Time))
			if len(tm) != 1 {
				t.Fatal("activity row without <time>")
			}
			times = append(times, htmltest.Attr(tm[0], "datetime"))
			whats = append(whats, htmltest.Text(cells[1]))
			if d := htmltest.Find(cells[1], htmltest.ByTag(atom.Span)); len(d) == 1 {
				details = append(details, htmltest.Text(d[0]))
			}
		}
		if strings.Contains(body, "bob") {
			t.Errorf("alice's activity page %d mentions bob", page)
		}
		links := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.A && htmltest.Text(n) == "Older →" })
		newest := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.A && htmltest.Text(n) == "« Newest" })
		if (page > 1) != (len(newest) == 1) {
			t.Errorf("page %d: %d \"« Newest\" links", page, len(newest))
		}
		path = ""
		if len(links) == 1 {
			path = htmltest.Attr(links[0], "href")
		}
	}
	if !slices.IsSortedFunc(times, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("activity is not newest first: %q", times)
	}
	var want []string
	for i := 30; i >= 1; i-- {
		want = append(want, fmt.Sprintf("alice event %02d", i))
	}
	if len(details) < 30 || !slices.Equal(details[:30], want) {
		t.Errorf("alice's events in order %q, want %q", details, want)
	}
	logins := 0
	for _, w := range whats {
		if w == "Signed in" {
			logins++
		}
	}
	if logins != 1 {
		t.Errorf("%d \"Signed in\" rows over alice's pages, want her 1", logins)
	}
	if !slices.ContainsFunc(whats, func(w string) bool { return strings.HasPrefix(w, "Connected a lock account") }) {
		t.Errorf("alice's activity does not show her connection: %q", whats)
	}
}

// --- Admin ---------------------------------------------------------------------------

// TestAdminPages: /admin/users counts devices from Latchkey's records without calling
// Seam; one user's page is read-only and audited; customers get 403; bad ids 404.
func TestAdminPages(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	admin := signIn(t, p, "admin")
	aliceConn := connectLocks(t, p, alice, sandbox.JaneEmail)
	connectLocks(t, p, bob, sandbox.JohnEmail)

	t.Run("users", func(t *testing.T) {
		p.Sandbox.ResetCalls()
		res, body := p.Get(t, admin.c, "/admin/users")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /admin/users: %d", res.StatusCode)
		}
		if calls := p.Sandbox.Calls(); len(calls) != 0 {
			t.Errorf("GET /admin/users called Seam %d times (first %s), want none", len(calls), calls[0].Path)
		}
		want := map[string][2]string{ // email → devices, accounts
			"alice@example.com": {"3", "1"}, "bob@example.com": {"2", "1"}, "admin@example.com": {"0", "0"},
		}
		rows := htmltest.Find(parseDoc(t, body), func(n *html.Node) bool { return n.DataAtom == atom.Tr && n.Parent.DataAtom == atom.Tbody })
		if len(rows) != len(want) {
			t.Fatalf("%d user rows, want %d", len(rows), len(want))
		}
		for _, r := range rows {
			cells := htmltest.Find(r, htmltest.ByTag(atom.Td))
			if len(cells) != 5 {
				t.Fatalf("user row with %d cells, want 5", len(cells))
			}
			email := htmltest.Text(cells[1])
			w, ok := want[email]
			if !ok {
				t.Errorf("unexpected user row %q", email)
				continue
			}
			if got := [2]string{htmltest.Text(cells[2]), htmltest.Text(cells[3])}; got != w {
				t.Errorf("%s: devices, accounts %q, want %q", email, got, w)
			}
			if email == "alice@example.com" {
				if a := htmltest.Find(cells[0], htmltest.ByTag(atom.A)); len(a) != 1 || htmltest.Attr(a[0], "href") != "/admin/users/"+alice.user.ID {
					t.Errorf("alice's row does not link to her page")
				}
			}
			if len(htmltest.Find(cells[4], htmltest.ByTag(atom.Time))) != 1 {
				t.Errorf("%s: no last sign-in time", email)
			}
		}
	})

	t.Run("one user", func(t *testing.T) {
		mark := lastAuditID(t, p)
		res, body := p.Get(t, admin.c, "/admin/users/"+alice.user.ID)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /admin/users/alice: %d", res.StatusCode)
		}
		doc := parseDoc(t, body)
		if got := h1Text(t, doc); got != "Alice Anders" {
			t.Errorf("<h1> %q, want alice's name", got)
		}
		rows := deviceRows(t, doc)
		var want []string
		for name := range aliceConn.devices {
			want = append(want, name)
		}
		slices.Sort(want)
		if got := rowNames(rows); !slices.Equal(got, want) {
			t.Errorf("alice's devices on the admin page %q, want %q", got, want)
		}
		for _, r := range rows {
			if r.unlock || r.lock || r.href != "" || r.reconnect {
				t.Errorf("%s on the admin page: unlock %v, lock %v, link %q, reconnect %v; want read-only", r.name, r.unlock, r.lock, r.href, r.reconnect)
			}
		}
		// Nothing on the page acts on the devices: the only controls that post are
		// sign-out and the admin's controls over the account (sessions, disabling).
		if acts := htmltest.Find(doc, func(n *html.Node) bool {
			return htmltest.Attr(n, "hx-post") != "" || (n.DataAtom == atom.Form && strings.EqualFold(htmltest.Attr(n, "method"), "post") &&
				htmltest.Attr(n, "action") != "/logout" && htmltest.Attr(n, "action") != "/admin/users/"+alice.user.ID+"/end-sessions")
		}); len(acts) != 0 {
			t.Errorf("the admin page has %d controls that post", len(acts))
		}
		if strings.Contains(body, "Main Entrance") {
			t.Error("alice's admin page shows bob's lock")
		}
		views := 0
		for _, e := range auditSince(t, p, mark) {
			if e.Action == store.AuditAdminViewUser && e.ActorID == admin.user.ID && e.SubjectUserID == alice.user.ID {
				views++
			}
		}
		if views != 1 {
			t.Errorf("%d %s events (admin on alice), want 1", views, store.AuditAdminViewUser)
		}
	})

	t.Run("customers get 403", func(t *testing.T) {
		for _, path := range []string{"/admin/users", "/admin/users/" + bob.user.ID, "/admin/users/" + alice.user.ID} {
			res, body := p.Get(t, alice.c, path)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("alice GET %s: %d, want 403", path, res.StatusCode)
			}
			if strings.Contains(body, "bob@example.com") || strings.Contains(body, "Main Entrance") {
				t.Errorf("alice GET %s: the 403 page shows bob's data", path)
			}
		}
	})

	t.Run("bad user ids", func(t *testing.T) {
		for _, id := range []string{uuid.NewString(), "not-a-uuid", "%00", "..%2Fusers", strings.Repeat("a", 300), alice.user.ID + "x"} {
			mark := lastAuditID(t, p)
			calls := len(p.Sandbox.Calls())
			res, body := p.Get(t, admin.c, "/admin/users/"+id)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("admin GET /admin/users/%.40s: %d, want 404", id, res.StatusCode)
				continue
			}
			if got := h1Text(t, parseDoc(t, body)); got != "Page not found" {
				t.Errorf("admin GET /admin/users/%.40s: <h1> %q", id, got)
			}
			if got := len(p.Sandbox.Calls()); got != calls {
				t.Errorf("admin GET /admin/users/%.40s reached Seam", id)
			}
			for _, e := range auditSince(t, p, mark) {
				if e.Action == store.AuditAdminViewUser {
					t.Errorf("admin GET /admin/users/%.40s audited a view of %q", id, e.SubjectUserID)
				}
			}
		}
	})
}

// TestDroppedConnectionStillRecorded: Seam takes 1 s to answer unlock_door; twelve
// browsers that give up after 200 ms submit at once. The one that started the action
// gives up; the others are answered at once with that open action. The door is
// unlocked once at Seam, and the action is recorded with both of its audit rows, as
// the client that asked.
func TestDroppedConnectionStillRecorded(t *testing.T) {
	p := testportal.Start(t, testportal.Options{ActionDelay: 10 * time.Second})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	p.Sandbox.InjectFault(sandbox.Fault{Path: "locks/unlock_door", Latency: time.Second})

	impatient := *alice.c
	impatient.Timeout = 200 * time.Millisecond
	var gaveUp atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, p.URL+"/devices/"+front+"/unlock", nil)
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("HX-Request", "true")
			req.Header.Set("User-Agent", "impatient-browser")
			res, err := impatient.Do(req)
			if err != nil {
				gaveUp.Add(1)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("a submit beside the open action: %d, want 200 with it", res.StatusCode)
			}
		})
	}
	wg.Wait()
	if gaveUp.Load() == 0 {
		t.Fatal("no browser gave up: Seam's latency was not in the way")
	}

	deadline := time.Now().Add(5 * time.Second)
	var a store.ActionAttempt
	for {
		a = latestAttempt(t, p, alice.user.ID, front)
		if a.Status != store.AttemptRequested || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a.Status != store.AttemptPending || a.SeamID == "" {
		t.Fatalf("after the browsers left: %s %s (Seam id %q), want pending at Seam", a.Action, a.Status, a.SeamID)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 1 {
		t.Errorf("Seam got %d unlock calls, want 1", got)
	}
	for _, action := range []string{store.AuditDeviceUnlockRequested, store.AuditDeviceUnlockSent} {
		got := auditFor(t, p, action, a.ID)
		if len(got) != 1 || got[0].ActorID != alice.user.ID || got[0].UserAgent != "impatient-browser" {
			t.Errorf("%s events %+v, want one by alice from the impatient browser", action, got)
		}
	}
}

// TestLockDuringUnlock: a Lock while an Unlock of the same door is open is refused
// with 409 naming the unlock, as a fragment for htmx and as a page without it; Seam
// never gets the lock.
func TestLockDuringUnlock(t *testing.T) {
	p := testportal.Start(t, testportal.Options{ActionDelay: 10 * time.Second})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	if res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock"); res.StatusCode != http.StatusOK {
		t.Fatalf("unlock: %d\n%s", res.StatusCode, body)
	}
	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/lock")
	if res.StatusCode != http.StatusConflict || alertTitle(t, body) != "Another request for this lock is in progress" ||
		!strings.Contains(htmltest.Text(parseDoc(t, body)), "An unlock of Front Door is in progress.") {
		t.Errorf("htmx lock during unlock: %d, want 409 naming the unlock\n%s", res.StatusCode, body)
	}
	res, body = p.Post(t, alice.c, "/devices/"+front+"/lock", nil)
	doc := parseDoc(t, body)
	if res.StatusCode != http.StatusConflict || h1Text(t, doc) != "Another request for this lock is in progress" ||
		!strings.Contains(htmltest.Text(doc), "An unlock of Front Door is in progress.") {
		t.Errorf("plain lock during unlock: %d, want the 409 page naming the unlock\n%s", res.StatusCode, body)
	}
	if got := len(p.Sandbox.CallsTo("/locks/lock_door")); got != 0 {
		t.Errorf("Seam got %d lock calls, want none", got)
	}
}
