package accounts_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

const (
	sandboxKey = "seam_test_accounts_key"
	baseURL    = "https://latchkey.test"
	clientAddr = "203.0.113.7"
	clientUA   = "accounts-test-browser"
)

// env is an accounts.Service on the in-process Seam sandbox and an in-memory database.
type env struct {
	svc   *accounts.Service
	db    *store.DB
	sb    *sandbox.Sandbox
	alice store.User
	bob   store.User
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	sb := sandbox.New(sandbox.Options{APIKey: sandboxKey})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)

	e := &env{db: db, sb: sb, now: time.Now().UTC().Truncate(time.Second)}
	for name, u := range map[string]*store.User{"alice": &e.alice, "bob": &e.bob} {
		if *u, err = db.UpsertUserAtLogin(ctx, store.Login{Issuer: "https://idp.test", Subject: name, Email: name + "@example.com"}, e.now); err != nil {
			t.Fatal(err)
		}
	}
	client := seam.New(sandboxKey, seam.WithEndpoint(srv.URL))
	e.svc = &accounts.Service{
		Store: db,
		Seam: accounts.Seam{
			ClientSessions:    client.ClientSessions,
			ConnectWebviews:   client.ConnectWebviews,
			Devices:           client.Devices,
			ConnectedAccounts: client.ConnectedAccounts,
		},
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     func() time.Time { return e.now },
		BaseURL: baseURL + "/",
	}
	return e
}

// ctx is a request's context as web's middleware leaves it.
func (e *env) ctx() context.Context {
	return request.With(context.Background(), &request.Info{ID: "req-1", RemoteAddr: clientAddr, UserAgent: clientUA})
}

// start issues a webview to user and returns its id.
func (e *env) start(t *testing.T, user store.User) string {
	t.Helper()
	wv, err := e.svc.Start(e.ctx(), user)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return wv.ID
}

// signIn finishes the webview at Seam as the user would, with a sandbox login.
func (e *env) signIn(t *testing.T, webviewID, email string) string {
	t.Helper()
	account, err := e.sb.CompleteWebview(webviewID, email, sandbox.LoginPassword)
	if err != nil && !errors.Is(err, sandbox.ErrProviderLoginFailed) {
		t.Fatalf("CompleteWebview: %v", err)
	}
	return account
}

// audits is the user's audit events of action, oldest first.
func (e *env) audits(t *testing.T, user store.User, action string) []store.AuditEvent {
	t.Helper()
	events, _, err := e.db.ListAudit(context.Background(), store.AuditQuery{UserID: user.ID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Action == action {
			out = append(out, events[i])
		}
	}
	return out
}

func (e *env) webview(t *testing.T, user store.User, id string) store.ConnectWebview {
	t.Helper()
	wv, err := e.db.ConnectWebviewForUser(context.Background(), user.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return wv
}

func (e *env) ownershipRows(t *testing.T, accountID string) int {
	t.Helper()
	var n int
	if err := e.db.SQL().QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM connected_accounts WHERE id = $1`, accountID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartIssuesAWebviewToTheUser(t *testing.T) {
	e := newEnv(t)
	wv, err := e.svc.Start(e.ctx(), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if wv.UserID != e.alice.ID || wv.Status != store.WebviewPending || !strings.HasPrefix(wv.URL, "http") {
		t.Errorf("Start = %+v", wv)
	}
	if got := e.webview(t, e.alice, wv.ID); got.URL != wv.URL || got.Status != store.WebviewPending {
		t.Errorf("recorded webview = %+v", got)
	}
	var paths []string
	for _, c := range e.sb.Calls() {
		paths = append(paths, c.Path)
	}
	if want := "/client_sessions/get_or_create /connect_webviews/create /client_sessions/grant_access"; strings.Join(paths, " ") != want {
		t.Errorf("Seam calls = %v, want %s", paths, want)
	}
	if body := string(e.sb.CallsTo("/connect_webviews/create")[0].Body); !strings.Contains(body, `"custom_redirect_url":"`+baseURL+`/connect/return"`) {
		t.Errorf("create body = %s, want the return URL under %s", body, baseURL)
	}
	started := e.audits(t, e.alice, store.AuditConnectStarted)
	if len(started) != 1 {
		t.Fatalf("%d connect.started events, want 1", len(started))
	}
	if a := started[0]; a.ActorID != e.alice.ID || a.SubjectUserID != e.alice.ID || a.RemoteAddr != clientAddr || a.UserAgent != clientUA || a.Outcome != store.OutcomeSuccess {
		t.Errorf("connect.started = %+v, want alice from %s with %s", a, clientAddr, clientUA)
	}
}

func TestStartSeamFailure(t *testing.T) {
	for _, path := range []string{"client_sessions/get_or_create", "connect_webviews/create", "client_sessions/grant_access"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t)
			e.sb.InjectFault(sandbox.Fault{Path: path, Status: http.StatusBadRequest, Type: "invalid_input", Message: "no"})
			_, err := e.svc.Start(e.ctx(), e.alice)
			var se *seam.Error
			if !errors.Is(err, accounts.ErrSeam) || !errors.As(err, &se) || se.Type != "invalid_input" {
				t.Fatalf("Start = %v, want ErrSeam wrapping Seam's invalid_input", err)
			}
			failed := e.audits(t, e.alice, store.AuditConnectFailed)
			if len(failed) != 1 || !strings.HasSuffix(failed[0].Detail, "invalid_input: no") || failed[0].RemoteAddr != clientAddr {
				t.Errorf("connect.failed events = %+v, want one naming Seam's error", failed)
			}
			if list, _ := e.db.ListConnectWebviews(context.Background(), e.alice.ID); len(list) != 0 {
				t.Errorf("recorded %d webviews after a failed start", len(list))
			}
		})
	}
}

func TestCompleteConnectsOnce(t *testing.T) {
	e := newEnv(t)
	id := e.start(t, e.alice)
	account := e.signIn(t, id, sandbox.JaneEmail)

	want := accounts.Outcome{WebviewID: id, Status: store.WebviewAuthorized, AccountID: account, DeviceCount: 3}
	out, err := e.svc.Complete(e.ctx(), e.alice, id, "")
	if err != nil || out != want {
		t.Fatalf("Complete = %+v, %v; want %+v", out, err, want)
	}
	if wv := e.webview(t, e.alice, id); wv.Status != store.WebviewAuthorized || wv.ConnectedAccountID != account {
		t.Errorf("webview after completing = %+v", wv)
	}
	owned, err := e.db.ConnectedAccountsForUser(context.Background(), e.alice.ID)
	if err != nil || len(owned) != 1 || owned[0].ID != account || owned[0].ConnectWebviewID != id || owned[0].DeviceCount != 3 {
		t.Errorf("alice's accounts = %+v, %v", owned, err)
	}

	// A reload reads Latchkey's record: same outcome, Seam not asked, nothing audited.
	e.sb.ResetCalls()
	out, err = e.svc.Complete(e.ctx(), e.alice, id, "")
	if err != nil || out != want {
		t.Errorf("Complete again = %+v, %v; want %+v", out, err, want)
	}
	if calls := e.sb.Calls(); len(calls) != 0 {
		t.Errorf("completing again called Seam %d times", len(calls))
	}
	completed := e.audits(t, e.alice, store.AuditConnectCompleted)
	if len(completed) != 1 {
		t.Fatalf("%d connect.completed events, want 1", len(completed))
	}
	if c := completed[0]; c.Detail != "account "+account[:8]+", 3 locks" || c.ActorID != e.alice.ID || c.RemoteAddr != clientAddr || c.UserAgent != clientUA {
		t.Errorf("connect.completed = %+v", c)
	}
	if c := completed[0]; c.AccountName != "August account "+sandbox.JaneEmail {
		t.Errorf("connect.completed names the account %q, want it as /accounts names it", c.AccountName)
	}
}

// TestCompleteConcurrently: the frame's message, the status poll and reloads (on any
// instance) may all finish the same webview at once; it is recorded and audited once.
func TestCompleteConcurrently(t *testing.T) {
	e := newEnv(t)
	id := e.start(t, e.alice)
	account := e.signIn(t, id, sandbox.JaneEmail)

	const n = 20
	outs := make([]accounts.Outcome, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			outs[i], errs[i] = e.svc.Complete(e.ctx(), e.alice, id, "")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || outs[i].Status != store.WebviewAuthorized || outs[i].AccountID != account || outs[i].DeviceCount != 3 {
			t.Errorf("Complete %d = %+v, %v", i, outs[i], errs[i])
		}
	}
	if got := e.ownershipRows(t, account); got != 1 {
		t.Errorf("%d ownership rows, want 1", got)
	}
	if got := len(e.audits(t, e.alice, store.AuditConnectCompleted)); got != 1 {
		t.Errorf("%d connect.completed events, want 1", got)
	}
}

// TestCompleteFailure: only Seam's record ends a webview as failed. A return whose query
// claims a failure while Seam says pending (forged, or early) leaves it pending, stores
// and audits nothing; once Seam says failed, the query's code explains it only when it
// is a known code, and its message is never kept.
func TestCompleteFailure(t *testing.T) {
	long := strings.Repeat("é", 400)
	for _, tt := range []struct {
		name  string
		email string // sandbox login to sign in with first; "" leaves the webview pending at Seam
		code  string // what the redirect's query says
		want  accounts.Outcome
	}{
		{name: "a forged cancel on a pending webview", code: " User_Cancelled ",
			want: accounts.Outcome{Status: store.WebviewPending, DeviceCount: -1}},
		{name: "a forged unknown code on a pending webview", code: "weird_thing",
			want: accounts.Outcome{Status: store.WebviewPending, DeviceCount: -1}},
		{name: "a garbled code is ignored", code: "<script>",
			want: accounts.Outcome{Status: store.WebviewPending, DeviceCount: -1}},
		{name: "no news yet",
			want: accounts.Outcome{Status: store.WebviewPending, DeviceCount: -1}},
		{name: "the provider refused, as Seam says", email: sandbox.FailEmail, code: accounts.FailureProviderLogin,
			want: accounts.Outcome{Status: store.WebviewFailed, ErrorCode: accounts.FailureProviderLogin, DeviceCount: -1}},
		{name: "Seam says failed, the query says nothing", email: sandbox.FailEmail,
			want: accounts.Outcome{Status: store.WebviewFailed, DeviceCount: -1}},
		{name: "Seam says failed, the query's unknown code is dropped", email: sandbox.FailEmail, code: "weird_thing" + long,
			want: accounts.Outcome{Status: store.WebviewFailed, DeviceCount: -1}},
		{name: "Seam says failed, an unknown short code is dropped", email: sandbox.FailEmail, code: "weird_thing",
			want: accounts.Outcome{Status: store.WebviewFailed, DeviceCount: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.start(t, e.alice)
			if tt.email != "" {
				e.signIn(t, id, tt.email)
			}
			tt.want.WebviewID = id
			out, err := e.svc.Complete(e.ctx(), e.alice, id, tt.code)
			if err != nil || out != tt.want {
				t.Fatalf("Complete = %+v, %v; want %+v", out, err, tt.want)
			}
			wv := e.webview(t, e.alice, id)
			if wv.Status != tt.want.Status || wv.ErrorCode != tt.want.ErrorCode || wv.ErrorMessage != "" {
				t.Errorf("recorded webview = %+v", wv)
			}
			// A reload without the query shows the recorded outcome and audits nothing new.
			if out, err := e.svc.Complete(e.ctx(), e.alice, id, ""); err != nil || out != tt.want {
				t.Errorf("Complete again = %+v, %v; want %+v", out, err, tt.want)
			}
			wantFailed := 0
			if tt.want.Status == store.WebviewFailed {
				wantFailed = 1
			}
			if got := len(e.audits(t, e.alice, store.AuditConnectFailed)); got != wantFailed {
				t.Errorf("%d connect.failed events, want %d", got, wantFailed)
			}
			if got := len(e.audits(t, e.alice, store.AuditConnectCompleted)); got != 0 {
				t.Errorf("%d connect.completed events, want 0", got)
			}
			if tt.want.Status == store.WebviewPending {
				if p, err := e.svc.Progress(e.ctx(), e.alice, id); err != nil || p != accounts.Waiting {
					t.Errorf("Progress after the return = %q, %v; want waiting", p, err)
				}
			}
		})
	}
}

// TestForgedFailureThenConnect: a forged failure on a pending webview does not stand in
// the way of the real sign-in that follows.
func TestForgedFailureThenConnect(t *testing.T) {
	e := newEnv(t)
	id := e.start(t, e.alice)
	if out, err := e.svc.Complete(e.ctx(), e.alice, id, accounts.FailureInvalidCredentials); err != nil || out.Status != store.WebviewPending {
		t.Fatalf("forged return = %+v, %v; want pending", out, err)
	}
	account := e.signIn(t, id, sandbox.JaneEmail)
	out, err := e.svc.Complete(e.ctx(), e.alice, id, "")
	if err != nil || out.Status != store.WebviewAuthorized || out.AccountID != account {
		t.Fatalf("Complete after the real sign-in = %+v, %v; want authorized with %s", out, err, account)
	}
	if got := len(e.audits(t, e.alice, store.AuditConnectFailed)); got != 0 {
		t.Errorf("%d connect.failed events, want 0", got)
	}
}

func TestCompleteAccountTaken(t *testing.T) {
	e := newEnv(t)
	id := e.start(t, e.alice)
	account := e.signIn(t, id, sandbox.JaneEmail)
	if err := e.db.RecordConnectedAccount(context.Background(), store.ConnectedAccount{ID: account, UserID: e.bob.ID, ConnectWebviewID: "cw_bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Complete(e.ctx(), e.alice, id, ""); !errors.Is(err, accounts.ErrAccountTaken) {
		t.Fatalf("Complete = %v, want ErrAccountTaken", err)
	}
	denied := e.audits(t, e.alice, store.AuditAccessDenied)
	if len(denied) != 1 || denied[0].Outcome != store.OutcomeDenied || !strings.Contains(denied[0].Detail, "already belongs to another user") {
		t.Errorf("access.denied events = %+v, want one", denied)
	}
	if got := len(e.audits(t, e.alice, store.AuditConnectCompleted)); got != 0 {
		t.Errorf("%d connect.completed events, want 0", got)
	}
	if wv := e.webview(t, e.alice, id); wv.Status != store.WebviewPending {
		t.Errorf("alice's webview = %+v, want it still pending", wv)
	}
	if owns, _ := e.db.UserOwnsConnectedAccount(context.Background(), e.bob.ID, account); !owns {
		t.Error("the account is no longer bob's")
	}
}

// TestNotOwned: a webview id that is not the user's is refused the same way by every
// use case, audited, and never sent to Seam.
func TestNotOwned(t *testing.T) {
	e := newEnv(t)
	alices := e.start(t, e.alice)
	e.sb.ResetCalls()
	calls := map[string]func(id string) error{
		"Webview": func(id string) error { _, err := e.svc.Webview(e.ctx(), e.bob, id); return err },
		"Progress": func(id string) error {
			_, err := e.svc.Progress(e.ctx(), e.bob, id)
			return err
		},
		"Complete": func(id string) error {
			_, err := e.svc.Complete(e.ctx(), e.bob, id, "user_cancelled")
			return err
		},
	}
	denied := 0
	for name, call := range calls {
		for _, id := range []string{alices, "", "<script>", "0b7a4c1e-8d7b-4f0e-9a53-2f1f6c9d0a11", strings.Repeat("a", 200)} {
			if err := call(id); !errors.Is(err, accounts.ErrNotOwned) {
				t.Errorf("%s(bob, %q) = %v, want ErrNotOwned", name, id, err)
			}
			denied++
		}
	}
	events := e.audits(t, e.bob, store.AuditAccessDenied)
	if len(events) != denied {
		t.Errorf("%d access.denied events for bob, want %d", len(events), denied)
	}
	for _, ev := range events {
		if ev.ActorID != e.bob.ID || ev.Outcome != store.OutcomeDenied || ev.RemoteAddr != clientAddr {
			t.Errorf("access.denied = %+v", ev)
		}
	}
	if got := len(e.sb.Calls()); got != 0 {
		t.Errorf("Seam was asked %d times about ids that are not bob's", got)
	}
	if wv := e.webview(t, e.alice, alices); wv.Status != store.WebviewPending {
		t.Errorf("alice's webview after bob's tries = %+v", wv)
	}
}

func TestProgress(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	id := e.start(t, e.alice)
	progress := func(want accounts.Progress) {
		t.Helper()
		if got, err := e.svc.Progress(ctx, e.alice, id); err != nil || got != want {
			t.Errorf("Progress = %q, %v; want %q", got, err, want)
		}
	}
	progress(accounts.Waiting)
	e.sb.InjectFault(sandbox.Fault{Path: "connect_webviews/get", Status: http.StatusInternalServerError, Times: 1})
	progress(accounts.Unavailable)
	e.signIn(t, id, sandbox.JaneEmail)
	progress(accounts.Connected)
	if _, err := e.svc.Complete(ctx, e.alice, id, ""); err != nil {
		t.Fatal(err)
	}
	e.sb.ResetCalls()
	progress(accounts.Connected)

	id = e.start(t, e.alice)
	e.signIn(t, id, sandbox.FailEmail)
	progress(accounts.Ended)

	// An old webview stops polling without asking Seam.
	id = e.start(t, e.alice)
	e.now = e.now.Add(accounts.PollBound)
	e.sb.ResetCalls()
	progress(accounts.Expired)
	if got := len(e.sb.Calls()); got != 0 {
		t.Errorf("Seam asked %d times about an expired webview", got)
	}
}

func TestWebview(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	id := e.start(t, e.alice)
	wv, err := e.svc.Webview(ctx, e.alice, id)
	if err != nil || wv.Progress != accounts.Waiting || wv.Origin == "" || !strings.HasPrefix(wv.URL, wv.Origin+"/") {
		t.Errorf("Webview = %+v, %v; want waiting with the URL's origin", wv, err)
	}
	e.signIn(t, id, sandbox.JaneEmail)
	if _, err := e.svc.Complete(ctx, e.alice, id, ""); err != nil {
		t.Fatal(err)
	}
	if wv, err := e.svc.Webview(ctx, e.alice, id); err != nil || wv.Progress != accounts.Connected {
		t.Errorf("Webview after connecting = %+v, %v", wv, err)
	}

	for _, url := range []string{"javascript:alert(1)", "https://user:pw@seam.test/x", "/relative", ""} {
		id := "cw-bad-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r
			}
			return '-'
		}, url)
		if err := e.db.CreateConnectWebview(context.Background(), store.ConnectWebview{ID: id, UserID: e.alice.ID, URL: url, CreatedAt: e.now}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Webview(ctx, e.alice, id); !errors.Is(err, accounts.ErrWebviewUnusable) {
			t.Errorf("Webview with URL %q = %v, want ErrWebviewUnusable", url, err)
		}
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t)
	first := e.start(t, e.alice)
	account := e.signIn(t, first, sandbox.JohnEmail)
	if _, err := e.svc.Complete(e.ctx(), e.alice, first, ""); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	second := e.start(t, e.alice)
	e.start(t, e.bob)

	o, err := e.svc.Overview(e.ctx(), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Webviews) != 2 || o.Webviews[0].ID != second || o.Webviews[1].ID != first {
		t.Errorf("webviews = %+v, want %s then %s", o.Webviews, second, first)
	}
	if len(o.Accounts) != 1 || o.Accounts[0].ID != account || o.Accounts[0].DeviceCount != 2 {
		t.Errorf("accounts = %+v, want %s with 2 locks", o.Accounts, account)
	}
}
