package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/seamfake"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// accountCardView is one account of /accounts as a customer reads it.
type accountCardView struct {
	text  string
	locks []string // link texts
	hrefs []string
	// actions are the names of its Reconnect and Remove controls.
	actions []string
}

// accountCards reads /accounts for c: account id → its card.
func accountCards(t *testing.T, p *testportal.Portal, c *http.Client) (map[string]accountCardView, *html.Node) {
	t.Helper()
	res, body := p.Get(t, c, "/accounts")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /accounts: %d\n%s", res.StatusCode, body)
	}
	noLeak(t, body)
	doc := parseDoc(t, body)
	out := map[string]accountCardView{}
	for _, li := range htmltest.Find(doc, func(n *html.Node) bool { return strings.HasPrefix(htmltest.Attr(n, "id"), "account-") }) {
		v := accountCardView{text: strings.Join(strings.Fields(htmltest.Text(li)), " ")}
		for _, a := range htmltest.Find(li, func(n *html.Node) bool {
			return n.Type == html.ElementNode && n.Data == "a" && strings.HasPrefix(htmltest.Attr(n, "href"), "/devices/")
		}) {
			v.locks = append(v.locks, htmltest.Text(a))
			v.hrefs = append(v.hrefs, htmltest.Attr(a, "href"))
		}
		for _, n := range htmltest.Find(li, func(n *html.Node) bool {
			return n.Type == html.ElementNode && (n.Data == "button" || n.Data == "a" && strings.HasSuffix(htmltest.Attr(n, "href"), "/remove"))
		}) {
			v.actions = append(v.actions, htmltest.Text(n))
		}
		out[strings.TrimPrefix(htmltest.Attr(li, "id"), "account-")] = v
	}
	return out, doc
}

// reconnect posts the reconnect button of an account and returns the new webview's id.
func reconnect(t *testing.T, p *testportal.Portal, u customer, accountID string) string {
	t.Helper()
	res, body := p.Post(t, u.c, "/accounts/"+accountID+"/reconnect", nil)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/connect/") {
		t.Fatalf("POST reconnect: %d to %q\n%s", res.StatusCode, loc, body)
	}
	return strings.TrimPrefix(loc, "/connect/")
}

// TestAccountsPage: /accounts (in the navigation) shows each of the user's accounts
// with provider, login, status and locks; a disconnected account says why in words,
// and so does its lock's page; another user's account is not there, and every action
// on it is the same 404 as a missing one.
func TestAccountsPage(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice, bob := signIn(t, p, "alice"), signIn(t, p, "bob")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	john := connectLocks(t, p, alice, sandbox.JohnEmail)
	bobs := connectLocks(t, p, bob, sandbox.JohnEmail)

	cards, doc := accountCards(t, p, alice.c)
	if len(cards) != 2 {
		t.Fatalf("alice's /accounts shows %d accounts, want 2: %v", len(cards), cards)
	}
	nav := htmltest.Find(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "a" && htmltest.Attr(n, "href") == "/accounts" && htmltest.Attr(n, "aria-current") == "page"
	})
	if len(nav) != 1 {
		t.Error("the navigation has no current link to /accounts")
	}
	for id, want := range map[string][]string{
		jane.accountID: {"August", sandbox.JaneEmail, "Connected"},
		john.accountID: {"Schlage", sandbox.JohnEmail, "Connected"},
	} {
		for _, w := range want {
			if !strings.Contains(cards[id].text, w) {
				t.Errorf("account %s card %q lacks %q", id, cards[id].text, w)
			}
		}
	}
	// Each card's buttons name its account: every card has a Reconnect and a Remove.
	if got, want := cards[john.accountID].actions, []string{"Reconnect Schlage account " + sandbox.JohnEmail, "Remove Schlage account " + sandbox.JohnEmail}; !slices.Equal(got, want) {
		t.Errorf("john's account's actions are named %q, want %q", got, want)
	}
	if got := cards[jane.accountID].locks; !slices.Equal(got, []string{"Back Door", "Front Door", "Garage Side Door"}) {
		t.Errorf("jane's account lists locks %v, want them by name", got)
	}
	if !slices.Contains(cards[jane.accountID].hrefs, "/devices/"+jane.deviceID(t, "Front Door")) {
		t.Errorf("jane's account does not link Front Door's page: %v", cards[jane.accountID].hrefs)
	}
	if _, ok := cards[bobs.accountID]; ok {
		t.Error("alice's /accounts shows bob's account")
	}

	// The provider signs Latchkey out of jane's account.
	if err := p.Sandbox.DisconnectAccount(jane.accountID); err != nil {
		t.Fatal(err)
	}
	p.SettleEvents(t)
	cards, _ = accountCards(t, p, alice.c)
	if c := cards[jane.accountID].text; !strings.Contains(c, "Needs reconnecting") ||
		!strings.Contains(c, "The provider signed Latchkey out; reconnect to keep using these locks.") {
		t.Errorf("disconnected account's card = %q", c)
	}
	if c := cards[john.accountID].text; strings.Contains(c, "Needs reconnecting") {
		t.Errorf("john's account is shown as needing reconnecting: %q", c)
	}
	res, body := p.Get(t, alice.c, "/devices/"+jane.deviceID(t, "Front Door"))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Its lock account needs reconnecting") {
		t.Errorf("Front Door's page (%d) does not say its account needs reconnecting", res.StatusCode)
	}

	// Seam down: the list still shows, with the status the copy knows.
	p.Sandbox.InjectFault(sandbox.Fault{Path: "connected_accounts/list", Status: http.StatusServiceUnavailable})
	cards, doc = accountCards(t, p, alice.c)
	p.Sandbox.ClearFaults()
	if len(cards) != 2 || !strings.Contains(cards[jane.accountID].text, "Needs reconnecting") ||
		!strings.Contains(htmltest.Text(doc), "could not be reached just now") {
		t.Errorf("with Seam down, /accounts = %v", cards)
	}

	// Bob cannot see, reconnect or remove alice's account; a malformed id is the same.
	before := len(p.Sandbox.CallsTo("/connected_accounts/delete"))
	for _, id := range []string{jane.accountID, "not-an-id%00", "00000000-0000-4000-8000-000000000000"} {
		for _, req := range []struct{ method, path string }{
			{http.MethodGet, "/accounts/" + id + "/remove"},
			{http.MethodPost, "/accounts/" + id + "/remove"},
			{http.MethodPost, "/accounts/" + id + "/reconnect"},
		} {
			res, body := testportal.Do(t, bob.c, req.method, p.URL+req.path, url.Values{}, nil)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("bob %s %s: %d, want 404", req.method, req.path, res.StatusCode)
			}
			noLeak(t, body)
		}
	}
	if n := len(p.Sandbox.CallsTo("/connected_accounts/delete")); n != before {
		t.Errorf("bob's attempts reached Seam's delete %d times", n-before)
	}
	if owns, _ := p.DB.UserOwnsConnectedAccount(t.Context(), alice.user.ID, jane.accountID); !owns {
		t.Error("alice lost her account to bob's attempts")
	}
	if denied := auditWhere(t, p, store.AuditQuery{UserID: bob.user.ID}, func(e store.AuditEvent) bool {
		return e.Action == store.AuditAccessDenied
	}); len(denied) == 0 {
		t.Error("bob's attempts on alice's account were not audited")
	}
}

// TestReconnectSameAccount: reconnecting a disconnected account opens a webview for
// its provider only; signing in with the same login gives back the same account, with
// its locks working again; a plain connection of the same login still adds a new one.
func TestReconnectSameAccount(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	front := jane.deviceID(t, "Front Door")
	if err := p.Sandbox.DisconnectAccount(jane.accountID); err != nil {
		t.Fatal(err)
	}
	p.SettleEvents(t)

	p.Sandbox.ResetCalls()
	webviewID := reconnect(t, p, alice, jane.accountID)
	creates := p.Sandbox.CallsTo("/connect_webviews/create")
	if len(creates) != 1 {
		t.Fatalf("%d connect_webviews/create calls, want 1", len(creates))
	}
	var body struct {
		AcceptedProviders []string          `json:"accepted_providers"`
		CustomMetadata    map[string]string `json:"custom_metadata"`
	}
	if err := json.Unmarshal(creates[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(body.AcceptedProviders, []string{"august"}) || body.CustomMetadata[sandbox.ReconnectMetadataKey] != jane.accountID {
		t.Errorf("reconnect webview created with %+v, want August only, reconnecting %s", body, jane.accountID)
	}

	got, err := p.Sandbox.CompleteWebview(webviewID, sandbox.JaneEmail, sandbox.LoginPassword)
	if err != nil || got != jane.accountID {
		t.Fatalf("signing in again as jane gave account %q (%v), want %s", got, err, jane.accountID)
	}
	res, _ := p.Get(t, alice.c, "/connect/return?connect_webview_id="+url.QueryEscape(webviewID))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/accounts" {
		t.Fatalf("return from the reconnect: %d to %q, want 303 to /accounts", res.StatusCode, res.Header.Get("Location"))
	}
	p.SettleEvents(t)
	cards, doc := accountCards(t, p, alice.c)
	if f := flash(doc); f != "Reconnected your lock account." {
		t.Errorf("flash = %q", f)
	}
	if len(cards) != 1 || !strings.Contains(cards[jane.accountID].text, "Connected") || strings.Contains(cards[jane.accountID].text, "Needs reconnecting") {
		t.Errorf("after reconnecting, /accounts = %v", cards)
	}
	if _, body := p.Get(t, alice.c, "/devices/"+front); strings.Contains(body, "needs reconnecting") {
		t.Error("Front Door's page still says its account needs reconnecting")
	}
	if done := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool {
		return e.Action == store.AuditConnectCompleted && strings.Contains(e.Detail, "reconnected")
	}); len(done) != 1 {
		t.Errorf("%d audited reconnections, want 1", len(done))
	}
	if started := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool {
		return e.Action == store.AuditAccountReconnect
	}); len(started) != 1 || started[0].AccountName != "August account "+sandbox.JaneEmail {
		t.Errorf("account.reconnect events: %+v, want 1 naming the account", started)
	}

	// A plain new connection of the same login is a new account, as before.
	again := connectLocks(t, p, alice, sandbox.JaneEmail)
	if again.accountID == jane.accountID {
		t.Error("a plain connection reused the account")
	}
}

// TestReconnectDifferentAccount: signing in to another account through a reconnect
// webview records that account as a new one, and the page says so.
func TestReconnectDifferentAccount(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	webviewID := reconnect(t, p, alice, jane.accountID)
	other, err := p.Sandbox.CompleteWebview(webviewID, sandbox.BuildingEmail, sandbox.LoginPassword)
	if err != nil || other == jane.accountID {
		t.Fatalf("signing in as the building gave %q (%v)", other, err)
	}
	res, _ := p.Get(t, alice.c, "/connect/return?connect_webview_id="+url.QueryEscape(webviewID))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/accounts" {
		t.Fatalf("return: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	p.SettleEvents(t)
	cards, doc := accountCards(t, p, alice.c)
	if f := flash(doc); f != "You signed in to a different account; it was added as a new one." {
		t.Errorf("flash = %q", f)
	}
	if _, ok := cards[other]; len(cards) != 2 || !ok {
		t.Errorf("after signing in to another account, /accounts = %v", cards)
	}
	if !strings.Contains(cards[other].text, sandbox.BuildingEmail) {
		t.Errorf("the new account's card = %q", cards[other].text)
	}

	// Signing in to another account alice already has gives that one back, and the
	// page says the one to reconnect was not.
	webviewID = reconnect(t, p, alice, jane.accountID)
	again, err := p.Sandbox.CompleteWebview(webviewID, sandbox.BuildingEmail, sandbox.LoginPassword)
	if err != nil || again != other {
		t.Fatalf("signing in as the building again gave %q (%v), want %s", again, err, other)
	}
	if res, _ := p.Get(t, alice.c, "/connect/return?connect_webview_id="+url.QueryEscape(webviewID)); res.Header.Get("Location") != "/accounts" {
		t.Fatalf("return: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	p.SettleEvents(t)
	cards, doc = accountCards(t, p, alice.c)
	if f := flash(doc); !strings.Contains(f, "one you had already connected") || len(cards) != 2 {
		t.Errorf("after signing in to an account already connected: flash %q, %d accounts", f, len(cards))
	}
}

// TestRemoveAccount: a confirmation page names the locks; removing deletes the account
// at Seam, ends the ownership record, takes its locks off /devices and off an open
// stream, and is audited by name; the other account stays.
func TestRemoveAccount(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	john := connectLocks(t, p, alice, sandbox.JohnEmail)
	front := jane.deviceID(t, "Front Door")

	_, events := openStream(t, p, alice.c)
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the stream never said it was connected")
	}

	path := "/accounts/" + jane.accountID + "/remove"
	res, body := p.Get(t, alice.c, path)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Remove August account?") || !strings.Contains(body, "Garage Side Door") {
		t.Fatalf("confirmation page: %d\n%s", res.StatusCode, body)
	}
	if n := len(p.Sandbox.CallsTo("/connected_accounts/delete")); n != 0 {
		t.Fatalf("the confirmation page deleted at Seam (%d calls)", n)
	}

	res, _ = p.Post(t, alice.c, path, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/accounts" {
		t.Fatalf("POST remove: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if calls := p.Sandbox.CallsTo("/connected_accounts/delete"); len(calls) != 1 || calls[0].Status != http.StatusOK {
		t.Errorf("connected_accounts/delete calls: %+v", calls)
	}
	client := seam.New(testportal.SandboxKey, seam.WithEndpoint(p.App.SandboxURL()))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := client.ConnectedAccounts.Get(ctx, jane.accountID); !seam.IsNotFound(err) {
		t.Errorf("the account still exists at Seam: %v", err)
	}
	if owns, _ := p.DB.UserOwnsConnectedAccount(t.Context(), alice.user.ID, jane.accountID); owns {
		t.Error("alice still owns the removed account")
	}
	cards, doc := accountCards(t, p, alice.c)
	if _, ok := cards[john.accountID]; len(cards) != 1 || !ok {
		t.Errorf("after removal, /accounts = %v", cards)
	}
	if f := flash(doc); !strings.Contains(f, "Removed your August account "+sandbox.JaneEmail) {
		t.Errorf("flash = %q", f)
	}
	listed := listedDevices(t, p, alice.c)
	if _, ok := listed[front]; ok || len(listed) != 2 {
		t.Errorf("/devices after removal = %v, want john's two locks only", listed)
	}
	if res, _ := p.Get(t, alice.c, "/devices/"+front); res.StatusCode != http.StatusNotFound {
		t.Errorf("removed lock's page: %d, want 404", res.StatusCode)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool {
		return ev.name == "change" && strings.Contains(ev.data, `id="device-`+front+`"`) && strings.Contains(ev.data, `hx-swap-oob="delete"`)
	}); !ok {
		t.Error("the open stream never took Front Door off the page")
	}
	removed := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool { return e.Action == store.AuditAccountRemoved })
	if len(removed) != 1 || !strings.Contains(removed[0].Detail, "August") || !strings.Contains(removed[0].Detail, sandbox.JaneEmail) ||
		!strings.Contains(removed[0].Detail, "Front Door") || removed[0].Outcome != store.OutcomeSuccess ||
		removed[0].AccountName != "August account "+sandbox.JaneEmail {
		t.Errorf("account.removed events: %+v", removed)
	}
	// The trail names the removed account as it was, though it is gone now.
	if !trailNames(t, p, alice.c, "Removed a lock account", "August account "+sandbox.JaneEmail) {
		t.Error("/activity does not name the removed account")
	}
	// Removing again is a 404: the account is no longer hers.
	if res, _ := p.Post(t, alice.c, path, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("second removal: %d, want 404", res.StatusCode)
	}
}

// TestRemoveAccountSeamOutage: when Seam cannot delete, the customer gets a clear page
// and nothing is removed in Latchkey.
func TestRemoveAccountSeamOutage(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	p.Sandbox.InjectFault(sandbox.Fault{Path: "connected_accounts/delete", Status: http.StatusServiceUnavailable})
	defer p.Sandbox.ClearFaults()

	res, body := p.Post(t, alice.c, "/accounts/"+jane.accountID+"/remove", nil)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("remove with Seam down: %d, want 503", res.StatusCode)
	}
	noLeak(t, body)
	if h := h1Text(t, parseDoc(t, body)); h != "Your locks cannot be reached right now" {
		t.Errorf("error page title %q", h)
	}
	if owns, _ := p.DB.UserOwnsConnectedAccount(t.Context(), alice.user.ID, jane.accountID); !owns {
		t.Error("the ownership record ended although Seam did not delete")
	}
	if listed := listedDevices(t, p, alice.c); len(listed) != 3 {
		t.Errorf("/devices after the failed removal = %v, want jane's 3 locks", listed)
	}
	if failed := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool {
		return e.Action == store.AuditAccountRemoveFailed
	}); len(failed) != 1 || failed[0].AccountName != "August account "+sandbox.JaneEmail {
		t.Errorf("account.remove.failed events: %+v, want 1 naming the account", failed)
	}
}

// TestRenameDevice: the owner renames a lock with htmx (the form and heading update in
// place, another open page hears it live) or a plain form (303 back with a
// confirmation); Seam, /devices and the trail have the new name. Refused names never
// reach Seam; another user's lock is a 404.
func TestRenameDevice(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice, bob := signIn(t, p, "alice"), signIn(t, p, "bob")
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	front := jane.deviceID(t, "Front Door")
	path := "/devices/" + front + "/rename"

	_, events := openStream(t, p, alice.c)
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the stream never said it was connected")
	}

	res, body := testportal.Do(t, alice.c, http.MethodPost, p.URL+path, url.Values{"name": {"  Porch Door  "}}, htmxHeader("rename-"+front))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("htmx rename: %d\n%s", res.StatusCode, body)
	}
	doc := parseDoc(t, body)
	if f := byID(doc, "rename-"+front); f == nil || !strings.Contains(htmltest.Text(f), "Renamed to Porch Door.") {
		t.Errorf("htmx rename answered without the confirmed form:\n%s", body)
	}
	if h := byID(doc, "device-title-"+front); h == nil || htmltest.Text(h) != "Porch Door" || htmltest.Attr(h, "hx-swap-oob") != "true" {
		t.Errorf("htmx rename answered without the new heading out of band:\n%s", body)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool {
		return ev.name == "change" && strings.Contains(ev.data, `id="device-`+front+`"`) && strings.Contains(ev.data, "Porch Door")
	}); !ok {
		t.Error("the open page never heard the new name")
	}
	for _, d := range sandboxDevices(t, p, alice.user.ID, jane.accountID) {
		if d.DeviceID == front && d.DisplayName != "Porch Door" {
			t.Errorf("Seam names the lock %q", d.DisplayName)
		}
	}
	if name := listedDevices(t, p, alice.c)[front]; name != "Porch Door" {
		t.Errorf("/devices names it %q", name)
	}
	renamed := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool { return e.Action == store.AuditDeviceRenamed })
	// Both names are the customer's words: bounded, quoted and marked as theirs.
	if len(renamed) != 1 || renamed[0].DeviceID != front ||
		renamed[0].Detail != `old name (client-supplied): "Front Door" → new name (client-supplied): "Porch Door"` ||
		renamed[0].DeviceName != "Front Door" {
		t.Errorf("device.renamed events: %+v", renamed)
	}

	// Without JavaScript: 303 back to the lock, which confirms.
	res, _ = p.Post(t, alice.c, path, url.Values{"name": {"Front Porch Türe 🚪"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices/"+front {
		t.Fatalf("plain rename: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = p.Get(t, alice.c, "/devices/"+front)
	doc = parseDoc(t, body)
	if f := flash(doc); f != "Renamed to Front Porch Türe 🚪." {
		t.Errorf("flash after the plain rename = %q", f)
	}
	if h := h1Text(t, doc); h != "Front Porch Türe 🚪" {
		t.Errorf("device page heading = %q", h)
	}

	// Refused names: the form says why (htmx) or a page does; Seam is never asked.
	updates := len(p.Sandbox.CallsTo("/devices/update"))
	for name, why := range map[string]string{
		"   ":                     "Enter a name.",
		strings.Repeat("x", 65):   "Use at most 64 characters.",
		"Back\x07Door":            "no control or invisible characters",
		"Door\u202Eroop":          "no control or invisible characters",
		"Zero\u200bWidth":         "no control or invisible characters",
		string([]byte{0xff, 'a'}): "not valid text",
	} {
		res, body := testportal.Do(t, alice.c, http.MethodPost, p.URL+path, url.Values{"name": {name}}, htmxHeader("rename-"+front))
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, why) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Errorf("htmx rename to %q: %d, want 422 saying %q\n%s", name, res.StatusCode, why, body)
		}
		res, body = p.Post(t, alice.c, path, url.Values{"name": {name}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, why) {
			t.Errorf("plain rename to %q: %d, want 422 saying %q", name, res.StatusCode, why)
		}
	}
	if n := len(p.Sandbox.CallsTo("/devices/update")) - updates; n != 0 {
		t.Errorf("refused names reached Seam %d times", n)
	}
	if ok := len([]rune(strings.Repeat("é", 64))) == 64; ok {
		if res, _ := p.Post(t, alice.c, path, url.Values{"name": {strings.Repeat("é", 64)}}); res.StatusCode != http.StatusSeeOther {
			t.Errorf("64 characters (128 bytes) refused: %d", res.StatusCode)
		}
	}

	// Bob cannot rename alice's lock.
	for _, h := range []http.Header{nil, htmxHeader("rename-" + front)} {
		res, body := testportal.Do(t, bob.c, http.MethodPost, p.URL+path, url.Values{"name": {"Mine now"}}, h)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("bob renaming alice's lock: %d, want 404", res.StatusCode)
		}
		noLeak(t, body)
	}
	if res, _ := p.Post(t, bob.c, "/devices/not-a-device/rename", url.Values{"name": {"x"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("renaming a malformed id: %d, want 404", res.StatusCode)
	}
	for _, d := range sandboxDevices(t, p, alice.user.ID, jane.accountID) {
		if d.DeviceID == front && d.DisplayName == "Mine now" {
			t.Error("bob renamed alice's lock at Seam")
		}
	}
}

// TestAbandonedConnectionsExpire: a connection attempt left pending past the bound is
// recorded as expired the next time the attempts are listed, and no longer offered.
func TestAbandonedConnectionsExpire(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	var ids []string
	for range 2 {
		res, _ := p.Post(t, alice.c, "/connect", nil)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /connect: %d", res.StatusCode)
		}
		ids = append(ids, strings.TrimPrefix(res.Header.Get("Location"), "/connect/"))
	}
	old := time.Now().Add(-2 * time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z")
	if _, err := p.DB.SQL().ExecContext(t.Context(), `UPDATE connect_webviews SET created_at = $1 WHERE id = $2`, old, ids[0]); err != nil {
		t.Fatal(err)
	}
	res, body := p.Get(t, alice.c, "/connect")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /connect: %d", res.StatusCode)
	}
	if strings.Count(body, "Continue signing in") != 1 || !strings.Contains(body, "abandoned and has expired") {
		t.Errorf("/connect after one attempt expired:\n%s", body)
	}
	for i, want := range []string{store.WebviewFailed, store.WebviewPending} {
		wv, err := p.DB.ConnectWebviewForUser(t.Context(), alice.user.ID, ids[i])
		if err != nil || wv.Status != want {
			t.Errorf("webview %d: %+v (%v), want %s", i, wv, err, want)
		}
	}
	// The expired attempt's return URL now says it ended.
	res, body = p.Get(t, alice.c, "/connect/return?connect_webview_id="+url.QueryEscape(ids[0]))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "abandoned and has expired") {
		t.Errorf("return URL of the expired attempt: %d", res.StatusCode)
	}
}

// TestRenameSeamOutage: when Seam cannot rename, the name stays as it was everywhere,
// the customer is told in words, and the failure is audited.
func TestRenameSeamOutage(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	p.Sandbox.InjectFault(sandbox.Fault{Path: "devices/update", Status: http.StatusServiceUnavailable})
	defer p.Sandbox.ClearFaults()

	res, body := testportal.Do(t, alice.c, http.MethodPost, p.URL+"/devices/"+front+"/rename", url.Values{"name": {"Porch"}}, htmxHeader("rename-"+front))
	if res.StatusCode != http.StatusServiceUnavailable || alertTitle(t, body) != "Your locks cannot be reached right now" {
		t.Errorf("htmx rename with Seam down: %d %q", res.StatusCode, alertTitle(t, body))
	}
	noLeak(t, body)
	if name := listedDevices(t, p, alice.c)[front]; name != "Front Door" {
		t.Errorf("/devices names it %q after the failed rename", name)
	}
	if failed := auditWhere(t, p, store.AuditQuery{UserID: alice.user.ID}, func(e store.AuditEvent) bool {
		return e.Action == store.AuditDeviceRenameFailed && e.DeviceID == front
	}); len(failed) != 1 {
		t.Errorf("%d device.rename.failed events, want 1", len(failed))
	}
}

// TestAccountsOnSeamFake: against Seam's own fake, /accounts describes the user's
// account, and removing it deletes it there and here.
func TestAccountsOnSeamFake(t *testing.T) {
	f := seamfake.Start(t)
	p := testportal.Start(t, testportal.Options{Env: map[string]string{
		"SEAM_API_KEY":  f.APIKey,
		"SEAM_ENDPOINT": f.URL,
	}})
	alice := signIn(t, p, "alice")
	// The fake has no client_sessions/grant_access, so its accounts are recorded for
	// alice directly, as the ownership matrix does.
	accountID := f.ConnectAccount(t).ConnectedAccountID
	if err := p.DB.RecordConnectedAccount(t.Context(), store.ConnectedAccount{ID: accountID, UserID: alice.user.ID, ConnectWebviewID: "seed"}); err != nil {
		t.Fatal(err)
	}
	cards, doc := accountCards(t, p, alice.c)
	if len(cards) != 1 || strings.Contains(htmltest.Text(doc), "could not be reached") || !strings.Contains(cards[accountID].text, "Connected") {
		t.Fatalf("/accounts on the fake = %v", cards)
	}
	if c := cards[accountID]; !strings.Contains(c.text, "@example.com") || !slices.Contains(c.locks, "Smart Device") {
		t.Errorf("the fake's account on /accounts: %q, locks %v; want its email and its lock", c.text, c.locks)
	}
	if res, body := p.Post(t, alice.c, "/accounts/"+accountID+"/remove", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove on the fake: %d\n%s", res.StatusCode, body)
	}
	for _, a := range f.Database(t).ConnectedAccounts {
		if a.ConnectedAccountID == accountID {
			t.Error("the fake still has the removed account")
		}
	}
	if owns, _ := p.DB.UserOwnsConnectedAccount(t.Context(), alice.user.ID, accountID); owns {
		t.Error("alice still owns the removed account")
	}
}
