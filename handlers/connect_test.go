package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// fakeConnectSeam is the part of Seam the connect pages use, with one webview whose
// state the test sets.
type fakeConnectSeam struct {
	mu        sync.Mutex
	webview   seam.ConnectWebview
	devices   []seam.Device
	createErr error
	gets      atomic.Int32
}

func (f *fakeConnectSeam) GetOrCreate(_ context.Context, p seam.GetOrCreateClientSessionParams) (*seam.ClientSession, error) {
	return &seam.ClientSession{ClientSessionID: "cs-1", UserIdentifierKey: p.UserIdentifierKey}, nil
}

func (f *fakeConnectSeam) GrantAccess(context.Context, seam.GrantAccessParams) error { return nil }

func (f *fakeConnectSeam) Create(context.Context, seam.CreateConnectWebviewParams) (*seam.ConnectWebview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	wv := f.webview
	return &wv, nil
}

func (f *fakeConnectSeam) Get(_ context.Context, id string) (*seam.ConnectWebview, error) {
	f.gets.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	wv := f.webview
	wv.ConnectWebviewID = id
	return &wv, nil
}

func (f *fakeConnectSeam) List(context.Context, seam.ListDevicesParams) ([]seam.Device, error) {
	return f.devices, nil
}

func (f *fakeConnectSeam) set(fn func(wv *seam.ConnectWebview)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.webview)
}

const testWebviewID = "0b7a4c1e-8d7b-4f0e-9a53-2f1f6c9d0a11"

type connectEnv struct {
	h     *Handlers
	db    *store.DB
	seam  *fakeConnectSeam
	alice store.User
	bob   store.User
	now   time.Time
}

func newConnectEnv(t *testing.T) *connectEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Date(2030, 1, 2, 14, 0, 0, 0, time.UTC)
	users := make([]store.User, 2)
	for i, name := range []string{"alice", "bob"} {
		users[i], err = db.UpsertUserAtLogin(ctx, store.Login{Issuer: "https://idp.test", Subject: name, Email: name + "@example.com", Name: name}, now)
		if err != nil {
			t.Fatal(err)
		}
	}
	fs := &fakeConnectSeam{webview: seam.ConnectWebview{ConnectWebviewID: testWebviewID, URL: "http://127.0.0.1:8082/connect_webviews/view?x=1", Status: seam.WebviewPending}}
	env := &connectEnv{db: db, seam: fs, alice: users[0], bob: users[1], now: now}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := func() time.Time { return env.now }
	env.h = &Handlers{
		Log:      log,
		Now:      clock,
		Sessions: scs.New(),
		Store:    db,
		Locks:    &locks.Service{Store: db, Seam: locks.Seam{Devices: fs}, Now: clock},
		BaseURL:  "http://127.0.0.1:8080",
		Accounts: &accounts.Service{
			Store:   db,
			Seam:    accounts.Seam{ClientSessions: fs, ConnectWebviews: fs, Devices: fs},
			Log:     log,
			Now:     clock,
			BaseURL: "http://127.0.0.1:8080",
		},
		SessionControl: &accounts.Sessions{Store: db, Log: log, Now: clock},
	}
	return env
}

// do serves one request as user through the session middleware, like the route table.
func (e *connectEnv) do(t *testing.T, f Func, user store.User, method, target string, header http.Header, pathValues ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	for i := 0; i+1 < len(pathValues); i += 2 {
		r.SetPathValue(pathValues[i], pathValues[i+1])
	}
	r = r.WithContext(auth.WithUser(r.Context(), user))
	w := httptest.NewRecorder()
	e.h.Sessions.LoadAndSave(e.h.Handle(f)).ServeHTTP(w, r)
	return w
}

func (e *connectEnv) audits(t *testing.T, userID, action string) int {
	t.Helper()
	events, _, err := e.db.ListAudit(context.Background(), store.AuditQuery{UserID: userID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Action == action {
			n++
		}
	}
	return n
}

var htmxHeader = http.Header{"Hx-Request": {"true"}}

// h1Text is the text of the page's one <h1>.
func h1Text(t *testing.T, doc *html.Node) string {
	t.Helper()
	h1s := htmltest.Find(doc, htmltest.ByTag(atom.H1))
	if len(h1s) != 1 {
		t.Errorf("page has %d <h1>, want 1", len(h1s))
		return ""
	}
	return htmltest.Text(h1s[0])
}

// errorTitle is the title of an error: the <h1> of the error page, or the first <p> of
// the error fragment (<div role="alert">).
func errorTitle(t *testing.T, doc *html.Node) string {
	t.Helper()
	for _, alert := range htmltest.Find(doc, htmltest.HasAttr("role", "alert")) {
		if alert.DataAtom == atom.Div {
			if ps := htmltest.Find(alert, htmltest.ByTag(atom.P)); len(ps) > 0 {
				return htmltest.Text(ps[0])
			}
		}
	}
	return h1Text(t, doc)
}

// links are the <a> elements for which match is true.
func links(doc *html.Node, match func(*html.Node) bool) []*html.Node {
	return htmltest.Find(doc, func(n *html.Node) bool {
		return htmltest.ByTag(atom.A)(n) && match(n)
	})
}

// linkText matches an <a> whose text contains s.
func linkText(s string) func(*html.Node) bool {
	return func(n *html.Node) bool { return strings.Contains(htmltest.Text(n), s) }
}

// connectForms are the forms that POST to /connect.
func connectForms(doc *html.Node) []*html.Node {
	return htmltest.Find(doc, func(n *html.Node) bool {
		return htmltest.ByTag(atom.Form)(n) && htmltest.Attr(n, "action") == "/connect" && strings.EqualFold(htmltest.Attr(n, "method"), "post")
	})
}

// pollers are the elements that would make htmx poll: any with an hx-trigger attribute
// (or its data-hx-trigger spelling).
func pollers(doc *html.Node) []*html.Node {
	return htmltest.Find(doc, func(n *html.Node) bool {
		return htmltest.HasAttrKey("hx-trigger")(n) || htmltest.HasAttrKey("data-hx-trigger")(n)
	})
}

// activityRows is the number of <tr> in the <tbody> of the activity table.
func activityRows(doc *html.Node) int {
	rows := 0
	for _, s := range htmltest.Find(doc, htmltest.HasAttr("aria-label", "Activity")) {
		for _, tbody := range htmltest.Find(s, htmltest.ByTag(atom.Tbody)) {
			rows += len(htmltest.Find(tbody, htmltest.ByTag(atom.Tr)))
		}
	}
	return rows
}

// TestConnectPages walks the connect pages through a successful connection: each
// answers with the status, redirect or fragment the browser (with or without htmx) needs.
func TestConnectPages(t *testing.T) {
	e := newConnectEnv(t)
	w := e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/connect/"+testWebviewID {
		t.Fatalf("POST /connect = %d %q", w.Code, w.Header().Get("Location"))
	}

	w = e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID)
	doc := htmltest.Parse(t, w.Body.String())
	if len(htmltest.Find(doc, htmltest.ByTag(atom.Iframe))) != 1 {
		t.Error("webview page lacks the <iframe>")
	}
	if len(htmltest.Find(doc, htmltest.HasAttr("data-seam-origin", "http://127.0.0.1:8082"))) != 1 {
		t.Error(`webview page lacks data-seam-origin="http://127.0.0.1:8082"`)
	}
	if st := htmltest.Find(doc, htmltest.ByID("connect-status")); len(st) != 1 || htmltest.Attr(st[0], "hx-trigger") != "every 2s" {
		t.Errorf("webview page: %d #connect-status, want one with hx-trigger=\"every 2s\"", len(st))
	}
	if len(links(doc, htmltest.HasAttr("target", "_blank"))) == 0 {
		t.Error(`webview page lacks a link with target="_blank"`)
	}

	status := "/connect/" + testWebviewID + "/status"
	if w := e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status+"?shown=waiting", htmxHeader, "webview", testWebviewID); w.Code != http.StatusNoContent {
		t.Errorf("unchanged poll = %d, want 204", w.Code)
	}
	w = e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status, htmxHeader, "webview", testWebviewID)
	if st := htmltest.Find(htmltest.Parse(t, w.Body.String()), htmltest.ByID("connect-status")); w.Code != http.StatusOK || len(st) != 1 || !strings.Contains(htmltest.Text(st[0]), "Waiting for you") {
		t.Errorf("first poll = %d %q", w.Code, w.Body.String())
	}

	const account = "acc-1"
	e.seam.set(func(wv *seam.ConnectWebview) { wv.Status, wv.ConnectedAccountID = seam.WebviewAuthorized, account })
	e.seam.devices = []seam.Device{{DeviceID: "d1", ConnectedAccountID: account}, {DeviceID: "d2", ConnectedAccountID: account}, {DeviceID: "x", ConnectedAccountID: "other"}}
	returnURL := "/connect/return?connect_webview_id=" + testWebviewID
	w = e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status+"?shown=waiting", htmxHeader, "webview", testWebviewID)
	if got := w.Header().Get("HX-Redirect"); got != returnURL {
		t.Errorf("authorized poll HX-Redirect = %q, want %q", got, returnURL)
	}
	w = e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status, nil, "webview", testWebviewID)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != returnURL {
		t.Errorf("authorized poll without htmx = %d %q, want 303 to %s", w.Code, w.Header().Get("Location"), returnURL)
	}

	for i := range 2 {
		w = e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, returnURL, nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/devices" {
			t.Errorf("return %d = %d %q, want 303 to /devices", i, w.Code, w.Header().Get("Location"))
		}
	}
	if w := e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID); w.Code != http.StatusSeeOther {
		t.Errorf("authorized webview page = %d, want 303", w.Code)
	}
	w = e.do(t, e.h.ConnectIndex, e.alice, http.MethodGet, "/connect", nil)
	// /connect counts the accounts and sends to /accounts, where each has its provider,
	// login and status; it does not list them by a bare id.
	doc = htmltest.Parse(t, w.Body.String())
	text := htmltest.Text(doc)
	toAccounts := htmltest.Find(doc, func(n *html.Node) bool {
		return htmltest.ByTag(atom.A)(n) && htmltest.Attr(n, "href") == "/accounts" && htmltest.Text(n) == "Lock accounts"
	})
	if w.Code != http.StatusOK || !strings.Contains(text, "You have added 1 lock account.") || len(toAccounts) != 1 || strings.Contains(text, "acc-1") {
		t.Errorf("GET /connect = %d, %q: want the account counted, a link to Lock accounts, no bare id", w.Code, text)
	}
}

// TestConnectNotOwnedIs404: another user's webview, or a garbled id, is the not-found
// page on every connect route.
func TestConnectNotOwnedIs404(t *testing.T) {
	e := newConnectEnv(t)
	if w := e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("POST /connect = %d", w.Code)
	}
	e.seam.set(func(wv *seam.ConnectWebview) { wv.Status, wv.ConnectedAccountID = seam.WebviewAuthorized, "acc-1" })
	for _, target := range []string{
		"/connect/return?connect_webview_id=" + testWebviewID, // alice's
		"/connect/return",
		"/connect/return?connect_webview_id=%3Cscript%3E",
	} {
		w := e.do(t, e.h.ConnectReturn, e.bob, http.MethodGet, target, nil)
		if title := errorTitle(t, htmltest.Parse(t, w.Body.String())); w.Code != http.StatusNotFound || title != "Page not found" {
			t.Errorf("bob GET %s = %d %q, want the 404 page", target, w.Code, title)
		}
	}
	for _, f := range []Func{e.h.ConnectWebview, e.h.ConnectStatus} {
		if w := e.do(t, f, e.bob, http.MethodGet, "/connect/x", nil, "webview", testWebviewID); w.Code != http.StatusNotFound {
			t.Errorf("bob on alice's webview = %d, want 404", w.Code)
		}
	}
}

// TestStartConnectSeamDown: a Seam failure is the "cannot be reached" page with a retry,
// never Seam's words.
func TestStartConnectSeamDown(t *testing.T) {
	e := newConnectEnv(t)
	e.seam.createErr = &seam.Error{Status: http.StatusInternalServerError, Type: "internal_error", Message: "boom"}
	w := e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	body := w.Body.String()
	if title := errorTitle(t, htmltest.Parse(t, body)); w.Code != http.StatusServiceUnavailable || !strings.Contains(title, "cannot be reached") {
		t.Errorf("POST /connect with Seam down = %d %q\n%s", w.Code, title, body)
	}
	if strings.Contains(body, "boom") { // a leak: anywhere in the raw bytes
		t.Errorf("POST /connect with Seam down shows Seam's words\n%s", body)
	}
}

// TestConnectReturnForgedFailureKeepsWaiting: a return whose query says the webview
// failed while Seam says pending (a forged link, or an early message) shows nothing of
// the query, records nothing, and keeps waiting with the status line polling Seam.
func TestConnectReturnForgedFailureKeepsWaiting(t *testing.T) {
	e := newConnectEnv(t)
	e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	forged := "/connect/return?connect_webview_id=" + testWebviewID + "&error_code=" + accounts.FailureUserCancelled +
		"&error_message=Your+account+is+locked%2C+call+%2B1-555-0100"
	w := e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, forged, nil)
	body := w.Body.String()
	doc := htmltest.Parse(t, body)
	if w.Code != http.StatusOK || h1Text(t, doc) != "Almost there" {
		t.Fatalf("forged failure on a pending webview = %d %q, want Almost there", w.Code, h1Text(t, doc))
	}
	for _, text := range []string{"555-0100", "account is locked", connectErrorWords[accounts.FailureUserCancelled], "did not work"} {
		if strings.Contains(body, text) {
			t.Errorf("the waiting page shows %q from the forged query", text)
		}
	}
	polls := pollers(doc)
	if len(polls) != 1 || !strings.HasPrefix(htmltest.Attr(polls[0], "hx-get"), "/connect/"+testWebviewID+"/status") {
		t.Errorf("the waiting page has %d pollers, want one asking /connect/%s/status", len(polls), testWebviewID)
	}
	wv, err := e.db.ConnectWebviewForUser(context.Background(), e.alice.ID, testWebviewID)
	if err != nil || wv.Status != store.WebviewPending || wv.ErrorCode != "" || wv.ErrorMessage != "" {
		t.Errorf("webview after the forged return = %+v, %v; want pending with no error", wv, err)
	}
	if events, _, err := e.db.ListAudit(context.Background(), store.AuditQuery{UserID: e.alice.ID, Limit: 50}); err != nil {
		t.Fatal(err)
	} else {
		for _, ev := range events {
			if ev.Action == store.AuditConnectFailed {
				t.Errorf("a forged failure was audited: %+v", ev)
			}
		}
	}
	// The webview page keeps its frame and its poll.
	w = e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID)
	if doc := htmltest.Parse(t, w.Body.String()); len(pollers(doc)) != 1 || len(htmltest.Find(doc, htmltest.ByTag(atom.Iframe))) != 1 {
		t.Errorf("the webview page after a forged failure lost its frame or its poll")
	}
}

// TestConnectReturnFailureShowsSeamsVerdict: when Seam says the webview failed, the
// page says so in Latchkey's words — a known code from the redirect picks them — and
// never shows the redirect's message.
func TestConnectReturnFailureShowsSeamsVerdict(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"a known code", "&error_code=" + accounts.FailureProviderLogin + "&error_message=%3Cb%3Ehi%3C%2Fb%3E+call+555-0100",
			connectErrorWords[accounts.FailureProviderLogin]},
		{"an unknown code", "&error_code=weird_thing&error_message=%3Cb%3Ehi%3C%2Fb%3E+call+555-0100",
			"The lock service reports that the sign-in to your lock provider failed."},
		{"no query", "", "The lock service reports that the sign-in to your lock provider failed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newConnectEnv(t)
			e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
			e.seam.set(func(wv *seam.ConnectWebview) { wv.Status = seam.WebviewFailed })
			for _, target := range []string{
				"/connect/return?connect_webview_id=" + testWebviewID + tt.query,
				"/connect/return?connect_webview_id=" + testWebviewID, // a reload shows the recorded failure
			} {
				w := e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, target, nil)
				body := w.Body.String()
				doc := htmltest.Parse(t, body)
				if w.Code != http.StatusOK || h1Text(t, doc) != "Connecting did not work" || len(connectForms(doc)) != 1 {
					t.Fatalf("failed return = %d, want the failure page with a form posting to /connect\n%s", w.Code, body)
				}
				shown := htmltest.Find(doc, func(n *html.Node) bool {
					return htmltest.ByTag(atom.P)(n) && htmltest.Text(n) == tt.want
				})
				if len(shown) != 1 {
					t.Errorf("GET %s: the page does not say %q", target, tt.want)
				}
				if strings.Contains(body, "hi</b>") || strings.Contains(body, "555-0100") || strings.Contains(body, "weird") {
					t.Errorf("GET %s shows the query's text", target)
				}
			}
			wv, err := e.db.ConnectWebviewForUser(context.Background(), e.alice.ID, testWebviewID)
			if err != nil || wv.Status != store.WebviewFailed || wv.ErrorMessage != "" {
				t.Errorf("recorded webview = %+v, %v; want failed without a message", wv, err)
			}
		})
	}
}

func TestConnectPendingAndExpired(t *testing.T) {
	e := newConnectEnv(t)
	e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	w := e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, "/connect/return?connect_webview_id="+testWebviewID, nil)
	if title := h1Text(t, htmltest.Parse(t, w.Body.String())); title != "Almost there" {
		t.Errorf("pending return = %d %q, want Almost there", w.Code, title)
	}
	e.now = e.now.Add(accounts.PollBound)
	w = e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID)
	doc := htmltest.Parse(t, w.Body.String())
	expired := htmltest.Find(doc, func(n *html.Node) bool {
		return htmltest.ByTag(atom.H2)(n) && strings.Contains(htmltest.Text(n), "expired")
	})
	if p := pollers(doc); len(p) != 0 || len(expired) != 1 {
		t.Errorf("expired webview page: %d elements still poll, %d headings say expired (want 0, 1)", len(p), len(expired))
	}
	w = e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, "/connect/"+testWebviewID+"/status?shown=waiting", htmxHeader, "webview", testWebviewID)
	doc = htmltest.Parse(t, w.Body.String())
	st := htmltest.Find(doc, htmltest.ByID("connect-status"))
	if p := pollers(doc); w.Code != http.StatusOK || len(st) != 1 || len(p) != 0 {
		t.Errorf("expired poll = %d, %d #connect-status, %d elements still polling; want 200, 1, 0", w.Code, len(st), len(p))
	}
}

func TestActivityPagination(t *testing.T) {
	e := newConnectEnv(t)
	for i := range 30 {
		if err := e.db.AppendAudit(context.Background(), store.AuditEvent{At: e.now.Add(time.Duration(i) * time.Second),
			ActorID: e.alice.ID, SubjectUserID: e.alice.ID, Action: store.AuditLogin, Outcome: store.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	w := e.do(t, e.h.Activity, e.alice, http.MethodGet, "/activity", nil)
	doc := htmltest.Parse(t, w.Body.String())
	older := links(doc, func(n *html.Node) bool { return strings.HasPrefix(htmltest.Attr(n, "href"), "/activity?before=") })
	if rows := activityRows(doc); w.Code != http.StatusOK || rows != 25 || len(older) != 1 || len(links(doc, linkText("Newest"))) != 0 || strings.Contains(htmltest.Text(doc), "Newest") {
		t.Fatalf("first page = %d, rows %d, %d links to older", w.Code, rows, len(older))
	}
	w = e.do(t, e.h.Activity, e.alice, http.MethodGet, htmltest.Attr(older[0], "href"), nil)
	doc = htmltest.Parse(t, w.Body.String())
	if rows := activityRows(doc); rows != 5 || len(links(doc, linkText("Newest"))) != 1 || len(links(doc, linkText("Older"))) != 0 || strings.Contains(htmltest.Text(doc), "Older") {
		t.Errorf("second page rows %d", rows)
	}
	for _, q := range []string{"abc", "-5", "99999999999999999999999"} {
		if w := e.do(t, e.h.Activity, e.alice, http.MethodGet, "/activity?before="+q, nil); w.Code != http.StatusOK {
			t.Errorf("before=%s = %d", q, w.Code)
		}
	}
	// Bob sees none of alice's trail.
	w = e.do(t, e.h.Activity, e.bob, http.MethodGet, "/activity", nil)
	if rows := htmltest.Find(htmltest.Parse(t, w.Body.String()), htmltest.ByTag(atom.Tr)); len(rows) != 0 {
		t.Errorf("bob sees alice's activity: %d rows", len(rows))
	}
}

func TestAdminUserNotFoundAndAudit(t *testing.T) {
	e := newConnectEnv(t)
	admin := e.bob
	for _, id := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
		if w := e.do(t, e.h.AdminUser, admin, http.MethodGet, "/admin/users/"+id, nil, "id", id); w.Code != http.StatusNotFound {
			t.Errorf("admin user %s = %d, want 404", id, w.Code)
		}
	}
	for i := range 2 {
		w := e.do(t, e.h.AdminUser, admin, http.MethodGet, "/admin/users/"+e.alice.ID, nil, "id", e.alice.ID)
		email := htmltest.Find(htmltest.Parse(t, w.Body.String()), func(n *html.Node) bool {
			return htmltest.ByTag(atom.Dd)(n) && strings.Contains(htmltest.Text(n), "alice@example.com")
		})
		if w.Code != http.StatusOK || len(email) != 1 {
			t.Fatalf("view %d = %d, %d <dd> with alice's email", i, w.Code, len(email))
		}
	}
	if n := e.audits(t, e.alice.ID, store.AuditAdminViewUser); n != 2 {
		t.Errorf("admin.view_user audited %d times, want 2", n)
	}
	w := e.do(t, e.h.AdminUsers, admin, http.MethodGet, "/admin/users", nil)
	alice := links(htmltest.Parse(t, w.Body.String()), htmltest.HasAttr("href", "/admin/users/"+e.alice.ID))
	if w.Code != http.StatusOK || len(alice) != 1 || e.seam.gets.Load() != 0 {
		t.Errorf("admin users = %d, %d links to alice", w.Code, len(alice))
	}
}
