// Package testportal starts the whole Latchkey portal in-process for tests and
// benchmarks: the real route table and middleware, a temp SQLite database, the embedded
// dev IdP and (unless another Seam is given) the Seam sandbox, all on 127.0.0.1:0.
// It also signs users in and connects lock accounts the way a browser would.
package testportal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/syncbuf"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/web"
)

// Password is the dev IdP password the portal is started with.
const Password = "test-password"

// SandboxKey is the API key the embedded Seam sandbox accepts.
const SandboxKey = "seam_test_sandbox_key"

// Options change how the portal starts.
type Options struct {
	// Env overrides settings (e.g. SEAM_API_KEY + SEAM_ENDPOINT for Seam's fake).
	Env map[string]string
	// ActionDelay is how long the sandbox's actions stay pending (default 20ms).
	ActionDelay time.Duration
	// TLS serves the portal over https (a test certificate its clients trust), with an
	// https base URL: Secure, __Host- cookies and HSTS as in production.
	TLS bool
}

// Portal is a running portal.
type Portal struct {
	URL     string
	App     *web.App
	DB      *store.DB
	Sandbox *sandbox.Sandbox
	logs    *syncbuf.Buffer
	// transport trusts the test certificate (TLS); nil means the default.
	transport http.RoundTripper
}

// Start runs the portal until the test ends.
func Start(t testing.TB, opts Options) *Portal {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var ts *httptest.Server
	if opts.TLS {
		// httptest brings the certificate and a client that trusts it; the handler is
		// set once the app exists.
		ts = httptest.NewUnstartedServer(nil)
		ts.Listener.Close()
		ts.Listener = ln
		base = "https://" + ln.Addr().String()
	}
	delay := opts.ActionDelay
	if delay == 0 {
		delay = 20 * time.Millisecond
	}
	env := map[string]string{
		"LATCHKEY_ADDR":                 ln.Addr().String(),
		"LATCHKEY_BASE_URL":             base,
		"DATABASE_URL":                  "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_DEV_IDP_ADDR":         "127.0.0.1:0",
		"LATCHKEY_SANDBOX_ADDR":         "127.0.0.1:0",
		"LATCHKEY_SANDBOX_ACTION_DELAY": delay.String(),
		"DEV_PASSWORD":                  Password,
		"SEAM_SANDBOX_API_KEY":          SandboxKey,
		"LOG_LEVEL":                     "debug",
		// A scripted client does in a second what a person does in minutes, and the
		// budgets count in fixed windows: with the defaults (20/10s) whether a test
		// passes would depend on where a window boundary falls. Tests of the budgets
		// set their own.
		"LATCHKEY_SEAM_BUDGET":    "1000/10s",
		"LATCHKEY_WEBVIEW_BUDGET": "100/10m",
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg, err := web.ParseConfig([]string{"latchkey"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := web.NewApp(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	var transport http.RoundTripper
	if ts != nil {
		ts.Config = srv
		ts.StartTLS()
		transport = ts.Client().Transport
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() {
		_ = srv.Close()
		cancel()
		_ = app.Close()
		if t.Failed() {
			t.Logf("portal logs:\n%s", logs.String())
		}
	})
	return &Portal{URL: base, App: app, DB: app.DB(), Sandbox: app.Sandbox(), logs: logs, transport: transport}
}

// Logs is everything the portal logged so far.
func (p *Portal) Logs() string { return p.logs.String() }

// Client is a browser without JavaScript: a cookie jar, and redirects left to the test.
func (p *Portal) Client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     p.transport,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Do sends a request the way a browser on the portal's page would (same-origin fetch
// metadata), and returns the response with its body read.
func Do(t testing.TB, c *http.Client, method, rawURL string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// Get is Do with GET.
func (p *Portal) Get(t testing.TB, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	return Do(t, c, http.MethodGet, p.URL+path, nil, nil)
}

// Post is Do with POST and a form.
func (p *Portal) Post(t testing.TB, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return Do(t, c, http.MethodPost, p.URL+path, form, nil)
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// SignIn signs username in through the dev IdP, following every redirect by hand, and
// returns the signed-in client and where the portal sent it at the end.
func (p *Portal) SignIn(t testing.TB, username string) *http.Client {
	t.Helper()
	c := p.Client(t)
	final := p.SignInWith(t, c, username, "/login")
	if final != p.URL+"/devices" {
		t.Fatalf("sign-in of %s ended at %s, want %s/devices", username, final, p.URL)
	}
	return c
}

// SignInWith runs the sign-in from start (a portal path) with c and returns the last
// URL the portal redirected to.
func (p *Portal) SignInWith(t testing.TB, c *http.Client, username, start string) string {
	t.Helper()
	res, _ := p.Get(t, c, start)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET %s: status %d, want 303 to the IdP", start, res.StatusCode)
	}
	next := resolve(t, res)
	// The IdP sends the browser to its login page.
	for range 5 {
		res, _ = Do(t, c, http.MethodGet, next.String(), nil, nil)
		if res.StatusCode < 300 || res.StatusCode >= 400 {
			break
		}
		next = resolve(t, res)
	}
	loginURL := next.String()
	res, page := Do(t, c, http.MethodGet, loginURL, nil, nil)
	m := hiddenID.FindStringSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("dev IdP login page %s: status %d, no auth request id", loginURL, res.StatusCode)
	}
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {Password}}
	u, _ := url.Parse(loginURL)
	res, _ = Do(t, c, http.MethodPost, u.Scheme+"://"+u.Host+"/login", form, nil)
	// Follow the IdP's redirects back to the portal's callback and on.
	var last string
	for range 10 {
		if res.StatusCode < 300 || res.StatusCode >= 400 {
			break
		}
		last = resolve(t, res).String()
		res, _ = Do(t, c, http.MethodGet, last, nil, nil)
	}
	return last
}

// Connect runs the connect flow: POST /connect, the customer's provider sign-in at the
// sandbox (as its webview form would), then Seam's redirect back to /connect/return.
// It returns the final response (a 303 to /devices when it worked) and its body.
func (p *Portal) Connect(t testing.TB, c *http.Client, email string) (*http.Response, string) {
	t.Helper()
	res, _ := p.Post(t, c, "/connect", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /connect: status %d, want 303", res.StatusCode)
	}
	webviewPath := res.Header.Get("Location")
	webviewID := strings.TrimPrefix(webviewPath, "/connect/")
	if _, err := p.Sandbox.CompleteWebview(webviewID, email, sandbox.LoginPassword); err != nil {
		t.Fatalf("sandbox login %s: %v", email, err)
	}
	res, body := p.Get(t, c, "/connect/return?connect_webview_id="+url.QueryEscape(webviewID))
	p.SettleEvents(t)
	return res, body
}

// SettleEvents waits until the Seam events that reached the portal (the sandbox's
// webhooks) have all been applied and no more arrive for a while, so that what a test
// counts next (Seam calls, database writes) is its own. It does nothing without a DB.
func (p *Portal) SettleEvents(t testing.TB) {
	t.Helper()
	if p.DB == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	last, quiet := -1, 0
	for quiet < 5 {
		var stored, open int
		if err := p.DB.SQL().QueryRowContext(t.Context(),
			`SELECT COUNT(*), COUNT(*) - COUNT(processed_at) FROM seam_events`).Scan(&stored, &open); err != nil {
			t.Fatal(err)
		}
		if stored == last && open == 0 {
			quiet++
		} else {
			quiet = 0
		}
		last = stored
		if time.Now().After(deadline) {
			t.Fatalf("Seam's events did not settle: %d stored, %d not applied", stored, open)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func resolve(t testing.TB, res *http.Response) *url.URL {
	t.Helper()
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d without Location", res.Request.Method, res.Request.URL, res.StatusCode)
	}
	return loc
}

// String makes errors print the portal's URL.
func (p *Portal) String() string { return fmt.Sprintf("portal at %s", p.URL) }
