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

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
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

// TestConnectPages walks the connect pages through a successful connection: each
// answers with the status, redirect or fragment the browser (with or without htmx) needs.
func TestConnectPages(t *testing.T) {
	e := newConnectEnv(t)
	w := e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/connect/"+testWebviewID {
		t.Fatalf("POST /connect = %d %q", w.Code, w.Header().Get("Location"))
	}

	w = e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID)
	body := w.Body.String()
	for _, want := range []string{`<iframe`, `data-seam-origin="http://127.0.0.1:8082"`, `hx-trigger="every 2s"`, `target="_blank"`} {
		if !strings.Contains(body, want) {
			t.Errorf("webview page lacks %s", want)
		}
	}

	status := "/connect/" + testWebviewID + "/status"
	if w := e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status+"?shown=waiting", htmxHeader, "webview", testWebviewID); w.Code != http.StatusNoContent {
		t.Errorf("unchanged poll = %d, want 204", w.Code)
	}
	if w := e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, status, htmxHeader, "webview", testWebviewID); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Waiting for you") {
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
	if body := w.Body.String(); w.Code != http.StatusOK || !strings.Contains(body, "Account acc-1") {
		t.Errorf("GET /connect = %d, lacks the connected account", w.Code)
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
		if w := e.do(t, e.h.ConnectReturn, e.bob, http.MethodGet, target, nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "Page not found") {
			t.Errorf("bob GET %s = %d, want the 404 page", target, w.Code)
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
	if body := w.Body.String(); w.Code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be reached") || strings.Contains(body, "boom") {
		t.Errorf("POST /connect with Seam down = %d\n%s", w.Code, body)
	}
}

func TestConnectReturnFailureShowsMessageAsText(t *testing.T) {
	e := newConnectEnv(t)
	e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	for _, target := range []string{
		"/connect/return?connect_webview_id=" + testWebviewID + "&error_code=weird_thing&error_message=%3Cb%3Ehi%3C%2Fb%3E",
		"/connect/return?connect_webview_id=" + testWebviewID, // a reload shows the recorded failure
	} {
		w := e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, target, nil)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, "Connecting did not work") || !strings.Contains(body, `action="/connect"`) {
			t.Fatalf("failed return = %d\n%s", w.Code, body)
		}
		if strings.Contains(body, "<b>hi") || !strings.Contains(body, "&lt;b&gt;hi") {
			t.Error("error_message not shown as plain text")
		}
	}
}

func TestConnectPendingAndExpired(t *testing.T) {
	e := newConnectEnv(t)
	e.do(t, e.h.StartConnect, e.alice, http.MethodPost, "/connect", nil)
	if w := e.do(t, e.h.ConnectReturn, e.alice, http.MethodGet, "/connect/return?connect_webview_id="+testWebviewID, nil); !strings.Contains(w.Body.String(), "Almost there") {
		t.Errorf("pending return lacks Almost there: %d", w.Code)
	}
	e.now = e.now.Add(accounts.PollBound)
	w := e.do(t, e.h.ConnectWebview, e.alice, http.MethodGet, "/connect/"+testWebviewID, nil, "webview", testWebviewID)
	if body := w.Body.String(); strings.Contains(body, "hx-trigger") || !strings.Contains(body, "expired") {
		t.Error("expired webview page still polls or does not say expired")
	}
	w = e.do(t, e.h.ConnectStatus, e.alice, http.MethodGet, "/connect/"+testWebviewID+"/status?shown=waiting", htmxHeader, "webview", testWebviewID)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "hx-trigger") {
		t.Errorf("expired poll = %d, still polling: %v", w.Code, strings.Contains(w.Body.String(), "hx-trigger"))
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
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Count(body, "<tr>") != 26 || !strings.Contains(body, "/activity?before=") || strings.Contains(body, "Newest") {
		t.Fatalf("first page = %d, rows %d", w.Code, strings.Count(body, "<tr>"))
	}
	i := strings.Index(body, "/activity?before=")
	next := body[i : i+len("/activity?before=")+strings.IndexByte(body[i+len("/activity?before="):], '"')]
	w = e.do(t, e.h.Activity, e.alice, http.MethodGet, next, nil)
	if body := w.Body.String(); strings.Count(body, "<tr>") != 6 || !strings.Contains(body, "Newest") || strings.Contains(body, "Older") {
		t.Errorf("second page rows %d", strings.Count(body, "<tr>"))
	}
	for _, q := range []string{"abc", "-5", "99999999999999999999999"} {
		if w := e.do(t, e.h.Activity, e.alice, http.MethodGet, "/activity?before="+q, nil); w.Code != http.StatusOK {
			t.Errorf("before=%s = %d", q, w.Code)
		}
	}
	// Bob sees none of alice's trail.
	if w := e.do(t, e.h.Activity, e.bob, http.MethodGet, "/activity", nil); strings.Count(w.Body.String(), "<tr>") != 0 {
		t.Error("bob sees alice's activity")
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
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "alice@example.com") {
			t.Fatalf("view %d = %d", i, w.Code)
		}
	}
	if n := e.audits(t, e.alice.ID, store.AuditAdminViewUser); n != 2 {
		t.Errorf("admin.view_user audited %d times, want 2", n)
	}
	w := e.do(t, e.h.AdminUsers, admin, http.MethodGet, "/admin/users", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "/admin/users/"+e.alice.ID) || e.seam.gets.Load() != 0 {
		t.Errorf("admin users = %d", w.Code)
	}
}
