package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const testKey = "seam_test_key_123"

// clock is an injectable Options.Now that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a sandbox behind an httptest server, with a raw JSON client.
type env struct {
	t   *testing.T
	sb  *Sandbox
	srv *httptest.Server
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	sb := New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = sb.Close() }) // runs first
	return &env{t: t, sb: sb, srv: srv}
}

// response is a decoded API answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

// call POSTs body (marshalled unless it is already a string) with the test key.
func (e *env) call(path string, body any) response {
	e.t.Helper()
	return e.do(context.Background(), http.MethodPost, path, body, "Bearer "+testKey)
}

func (e *env) do(ctx context.Context, method, path string, body any, auth string) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal body: %v", err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+"/"+strings.TrimPrefix(path, "/"), r)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	out := response{status: res.StatusCode, header: res.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		e.t.Fatalf("%s %s: body is not a JSON object (%v): %s", method, path, err, raw)
	}
	return out
}

// ok calls and fails the test unless the answer is 200 with "ok": true.
func (e *env) ok(path string, body any) map[string]any {
	e.t.Helper()
	res := e.call(path, body)
	if res.status != http.StatusOK || res.body["ok"] != true {
		e.t.Fatalf("%s: status %d, body %v", path, res.status, res.body)
	}
	return res.body
}

// dig walks a decoded JSON value along keys and array indexes ("devices.0.device_id").
func dig(v any, path string) any {
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path string) string { s, _ := dig(v, path).(string); return s }

func list(v any, path string) []any { l, _ := dig(v, path).([]any); return l }

// ids collects one string field of each element of a list.
func ids(v any, path, field string) []string {
	var out []string
	for _, item := range list(v, path) {
		out = append(out, str(item, field))
	}
	return out
}

// expectError checks Seam's error envelope.
func expectError(t *testing.T, res response, status int, typ string) {
	t.Helper()
	if res.status != status || str(res.body, "error.type") != typ || res.body["ok"] != false {
		t.Fatalf("want %d %s, got %d %v", status, typ, res.status, res.body)
	}
	if str(res.body, "error.message") == "" {
		t.Errorf("error without message: %v", res.body)
	}
	if res.header.Get("seam-request-id") == "" {
		t.Errorf("no seam-request-id header")
	}
}

// connectUser runs the guide's flow for one user and signs in on the webview with
// CompleteWebview; it returns the webview id and the new connected account id.
func (e *env) connectUser(userKey, email string) (webviewID, accountID string) {
	e.t.Helper()
	e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": userKey})
	wv := e.ok("connect_webviews/create", map[string]any{"custom_redirect_url": "http://portal.test/connect/return"})
	webviewID = str(wv, "connect_webview.connect_webview_id")
	e.ok("client_sessions/grant_access", map[string]any{"user_identifier_key": userKey, "connect_webview_ids": []string{webviewID}})
	accountID, err := e.sb.CompleteWebview(webviewID, email, LoginPassword)
	if err != nil {
		e.t.Fatalf("complete webview: %v", err)
	}
	return webviewID, accountID
}

// page is a fetched webview page.
type webPage struct {
	status int
	header http.Header
	doc    *html.Node
	url    *url.URL
}

func (e *env) getPage(rawURL string) webPage {
	e.t.Helper()
	res, err := http.Get(rawURL)
	if err != nil {
		e.t.Fatalf("GET %s: %v", rawURL, err)
	}
	return e.readPage(res)
}

func (e *env) postForm(rawURL string, form url.Values) webPage {
	e.t.Helper()
	res, err := http.PostForm(rawURL, form)
	if err != nil {
		e.t.Fatalf("POST %s: %v", rawURL, err)
	}
	return e.readPage(res)
}

func (e *env) readPage(res *http.Response) webPage {
	e.t.Helper()
	defer res.Body.Close()
	doc, err := html.Parse(res.Body)
	if err != nil {
		e.t.Fatalf("parse page: %v", err)
	}
	return webPage{status: res.StatusCode, header: res.Header, doc: doc, url: res.Request.URL}
}

// find returns the elements with the given tag whose attributes include attrs.
func (p webPage) find(tag string, attrs ...string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && hasAttrs(n, attrs) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return out
}

func hasAttrs(n *html.Node, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, ok := attr(n, pairs[i]); !ok || v != pairs[i+1] {
			return false
		}
	}
	return true
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// formValues returns the hidden inputs of the page's first form.
func (p webPage) formValues(t *testing.T) url.Values {
	t.Helper()
	forms := p.find("form")
	if len(forms) == 0 {
		t.Fatalf("page has no form")
	}
	v := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			if typ, _ := attr(n, "type"); typ == "hidden" {
				name, _ := attr(n, "name")
				val, _ := attr(n, "value")
				v.Set(name, val)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(forms[0])
	return v
}
