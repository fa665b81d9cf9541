package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/syncbuf"
)

// syncBuffer collects log output written from several goroutines (the portal, the
// dev IdP and the sandbox all log to it).
type syncBuffer struct{ syncbuf.Buffer }

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, rec)
	}
	return out
}

// envFrom is a getenv reading from m.
func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testEnv is a development configuration that touches nothing outside the test: an
// in-memory database, stand-ins on free loopback ports, JSON logs to parse.
func testEnv(overrides map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL":          "sqlite::memory:",
		"LATCHKEY_DEV_IDP_ADDR": "127.0.0.1:0",
		"LATCHKEY_SANDBOX_ADDR": "127.0.0.1:0",
		"LOG_FORMAT":            "json",
	}
	maps.Copy(env, overrides)
	return env
}

// testApp is the whole portal, in-process, with its log captured.
type testApp struct {
	*App
	logs *syncBuffer
}

// newTestApp builds the real portal from testEnv(overrides) with NewApp.
func newTestApp(t *testing.T, overrides map[string]string) *testApp {
	t.Helper()
	cfg, err := ParseConfig([]string{"latchkey"}, envFrom(testEnv(overrides)), io.Discard)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	logs := &syncBuffer{}
	app, err := NewApp(t.Context(), cfg, newLogger(cfg, logs))
	if err != nil {
		t.Fatalf("NewApp: %v\nlogs:\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testApp{App: app, logs: logs}
}

// request is a request to the portal under its canonical host name, so the
// development host redirect stays out of the way.
func (a *testApp) request(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = a.cfg.BaseURL.Host
	return r
}

// serve runs r through the portal's root handler.
func (a *testApp) serve(r *http.Request) *http.Response {
	return serveWith(a.Handler(), r)
}

func serveWith(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// readBody reads and closes resp's body.
func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

// parseHTML parses a whole page.
func parseHTML(t *testing.T, body []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// checkErrorPage asserts that resp is the HTML status page for status: an HTML
// content type, a titled document with one <h1>, and the status number shown.
func checkErrorPage(t *testing.T, resp *http.Response, status int) *html.Node {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body:\n%s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type = %q, want text/html", ct)
	}
	doc := parseHTML(t, body)
	if titles := htmltest.Find(doc, htmltest.ByTag(atom.Title)); len(titles) != 1 || htmltest.Text(titles[0]) == "" {
		t.Errorf("want one non-empty <title>, got %d", len(titles))
	}
	h1s := htmltest.Find(doc, htmltest.ByTag(atom.H1))
	if len(h1s) != 1 || htmltest.Text(h1s[0]) == "" {
		t.Fatalf("want one non-empty <h1>, got %d in:\n%s", len(h1s), body)
	}
	want := "Error " + strconv.Itoa(status)
	shown := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.P && htmltest.Text(n) == want })
	if len(shown) != 1 {
		t.Errorf("page does not show %q:\n%s", want, body)
	}
	return doc
}
