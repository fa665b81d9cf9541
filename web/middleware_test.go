package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
)

// cspDirectives splits a Content-Security-Policy into its directives.
func cspDirectives(policy string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[f[0]] = f[1:]
		}
	}
	return out
}

func TestSecurityHeaders(t *testing.T) {
	bases := []struct {
		name    string
		baseURL string
		hsts    bool
	}{
		{"http base URL", "", false},
		{"https base URL", "https://127.0.0.1:8443", true},
	}
	for _, base := range bases {
		t.Run(base.name, func(t *testing.T) {
			app := newTestApp(t, map[string]string{"LATCHKEY_BASE_URL": base.baseURL})
			crossSite := app.request(http.MethodPost, "/logout", nil)
			crossSite.Header.Set("Sec-Fetch-Site", "cross-site")
			requests := []struct {
				name   string
				req    *http.Request
				status int
			}{
				{"landing page", app.request(http.MethodGet, "/", nil), http.StatusOK},
				{"static file", app.request(http.MethodGet, app.static.URL("css/app.css"), nil), http.StatusOK},
				{"unknown static file", app.request(http.MethodGet, "/static/nope.css", nil), http.StatusNotFound},
				{"not found page", app.request(http.MethodGet, "/no-such-page", nil), http.StatusNotFound},
				{"method not allowed page", app.request(http.MethodDelete, "/healthz", nil), http.StatusMethodNotAllowed},
				{"cross-origin refusal", crossSite, http.StatusForbidden},
				{"health probe", app.request(http.MethodGet, "/healthz", nil), http.StatusOK},
			}
			for _, rt := range requests {
				t.Run(rt.name, func(t *testing.T) {
					resp := app.serve(rt.req)
					resp.Body.Close()
					if resp.StatusCode != rt.status {
						t.Fatalf("status = %d, want %d", resp.StatusCode, rt.status)
					}
					checkSecurityHeaders(t, resp.Header, base.hsts)
				})
			}
		})
	}
}

// checkSecurityHeaders asserts the headers every Latchkey response carries.
func checkSecurityHeaders(t *testing.T, h http.Header, hsts bool) {
	t.Helper()
	policy := h.Get("Content-Security-Policy")
	if policy == "" {
		t.Fatal("no Content-Security-Policy")
	}
	for _, unsafe := range []string{"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'strict-dynamic'"} {
		if strings.Contains(policy, unsafe) {
			t.Errorf("CSP allows %s: %s", unsafe, policy)
		}
	}
	csp := cspDirectives(policy)
	for directive, want := range map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"frame-ancestors": "'none'",
		"object-src":      "'none'",
		"base-uri":        "'none'",
	} {
		if got := strings.Join(csp[directive], " "); got != want {
			t.Errorf("CSP %s = %q, want %q (policy %s)", directive, got, want, policy)
		}
	}
	// Frames come from one named origin (the Seam webview) at most, never a wildcard.
	for _, src := range csp["frame-src"] {
		if src != "'none'" && !regexp.MustCompile(`^https?://[^*/]+$`).MatchString(src) {
			t.Errorf("CSP frame-src allows %q", src)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if got := h.Get("Referrer-Policy"); got != "same-origin" && got != "no-referrer" && got != "strict-origin-when-cross-origin" {
		t.Errorf("Referrer-Policy = %q", got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", got)
	}
	sts := h.Get("Strict-Transport-Security")
	switch {
	case !hsts && sts != "":
		t.Errorf("HSTS sent for an http base URL: %q", sts)
	case hsts:
		m := regexp.MustCompile(`^max-age=(\d+)`).FindStringSubmatch(sts)
		if m == nil {
			t.Fatalf("Strict-Transport-Security = %q, want max-age", sts)
		}
		if age, _ := strconv.Atoi(m[1]); age < 365*24*3600 {
			t.Errorf("HSTS max-age %d is shorter than a year", age)
		}
	}
}

func TestCrossOriginProtection(t *testing.T) {
	app := newTestApp(t, nil)
	self := "http://" + app.cfg.BaseURL.Host
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		status  int // what the route answers when the request is let through
		refused bool
	}{
		{"cross-site POST", http.MethodPost, "/logout", map[string]string{"Sec-Fetch-Site": "cross-site"}, 0, true},
		{"same-site POST (a sibling subdomain)", http.MethodPost, "/logout", map[string]string{"Sec-Fetch-Site": "same-site"}, 0, true},
		{"old browser POST from another origin", http.MethodPost, "/logout", map[string]string{"Origin": "https://evil.example"}, 0, true},
		{"old browser POST from another port", http.MethodPost, "/logout", map[string]string{"Origin": "http://127.0.0.1:9999"}, 0, true},
		{"cross-site DELETE", http.MethodDelete, "/logout", map[string]string{"Sec-Fetch-Site": "cross-site"}, 0, true},
		{"cross-site POST to an unknown path", http.MethodPost, "/no-such-page", map[string]string{"Sec-Fetch-Site": "cross-site"}, 0, true},

		{"same-origin POST", http.MethodPost, "/logout", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": self}, http.StatusSeeOther, false},
		{"old browser same-origin POST", http.MethodPost, "/logout", map[string]string{"Origin": self}, http.StatusSeeOther, false},
		{"non-browser POST", http.MethodPost, "/logout", nil, http.StatusSeeOther, false},
		{"same-origin POST to a GET route", http.MethodPost, "/healthz", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusMethodNotAllowed, false},
		{"same-origin POST to an unknown path", http.MethodPost, "/no-such-page", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusNotFound, false},
		{"cross-site GET (a link)", http.MethodGet, "/", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.request(tt.method, tt.path, strings.NewReader(""))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			resp := app.serve(r)
			if tt.refused {
				checkErrorPage(t, resp, http.StatusForbidden)
				checkSecurityHeaders(t, resp.Header, false)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want the route's own %d", resp.StatusCode, tt.status)
			}
		})
	}
	if !strings.Contains(app.logs.String(), "cross-origin request refused") {
		t.Error("refusals are not logged")
	}
}

// wrapLikeRoutes puts inner behind the middleware routes() puts around the router
// (less the development host redirect), so tests can mount handlers the product lacks.
func wrapLikeRoutes(a *testApp, inner http.Handler) http.Handler {
	return chain(inner,
		realIP(a.cfg.TrustedProxies),
		accessLog(a.log),
		recoverPanics(a.log, a.handlers),
		securityHeaders(a.csp, a.cfg.HTTPS()),
		limitBody,
		crossOrigin(a.handlers, a.log),
	)
}

func TestPanicBecomesErrorPageAndServingContinues(t *testing.T) {
	app := newTestApp(t, nil)
	inner := http.NewServeMux()
	inner.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json") // half-prepared answer
		panic("kaboom: nil map in widget")
	})
	inner.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	inner.HandleFunc("GET /fine", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "fine")
	})
	srv := httptest.NewServer(wrapLikeRoutes(app, inner))
	defer srv.Close()
	client := srv.Client()

	get := func(path string) (*http.Response, error) { return client.Get(srv.URL + path) }

	resp, err := get("/boom")
	if err != nil {
		t.Fatalf("GET /boom: %v", err)
	}
	requestID := resp.Header.Get("X-Request-Id")
	checkErrorPage(t, resp, http.StatusInternalServerError)
	checkSecurityHeaders(t, resp.Header, false)

	var logged map[string]any
	for _, rec := range app.logs.records(t) {
		if rec["msg"] == "panic serving request" {
			logged = rec
		}
	}
	switch {
	case logged == nil:
		t.Errorf("panic not logged:\n%s", app.logs)
	case !strings.Contains(logged["panic"].(string), "kaboom"):
		t.Errorf("logged panic value = %v", logged["panic"])
	case !strings.Contains(logged["stack"].(string), "middleware_test.go"):
		t.Errorf("logged stack does not reach the panicking handler:\n%v", logged["stack"])
	case logged["request_id"] != requestID:
		t.Errorf("panic logged with request_id %v, response has %q", logged["request_id"], requestID)
	}

	for range 2 {
		resp, err = get("/fine")
		if err != nil {
			t.Fatalf("GET /fine after a panic: %v", err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || string(body) != "fine" {
			t.Fatalf("after a panic: %d %q", resp.StatusCode, body)
		}
	}

	// http.ErrAbortHandler asks the server to drop the response; no 500 page for it.
	if resp, err := get("/abort"); err == nil {
		resp.Body.Close()
		t.Errorf("ErrAbortHandler answered %d instead of aborting", resp.StatusCode)
	}
	if resp, err := get("/fine"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after an abort: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestAccessLog(t *testing.T) {
	app := newTestApp(t, nil)
	r := app.request(http.MethodGet, "/no-such-page?q=1", nil)
	r.Header.Set("X-Forwarded-For", "198.51.100.7") // not believed: no trusted proxies
	resp := app.serve(r)
	body := readBody(t, resp)
	id := resp.Header.Get("X-Request-Id")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("X-Request-Id = %q, want 32 hex digits", id)
	}
	again := app.serve(app.request(http.MethodGet, "/healthz", nil))
	again.Body.Close()
	if id2 := again.Header.Get("X-Request-Id"); id2 == id || id2 == "" {
		t.Errorf("second request id %q, first %q", id2, id)
	}

	var line map[string]any
	for _, rec := range app.logs.records(t) {
		if rec["msg"] == "request" && rec["request_id"] == id {
			if line != nil {
				t.Fatal("two access log lines for one request")
			}
			line = rec
		}
	}
	if line == nil {
		t.Fatalf("no access log line with request_id %s:\n%s", id, app.logs)
	}
	want := map[string]any{
		"method":      "GET",
		"path":        "/no-such-page",
		"status":      float64(http.StatusNotFound),
		"bytes":       float64(len(body)),
		"remote_addr": "192.0.2.1", // httptest's peer, not the forged X-Forwarded-For
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v (%T), want %v", k, line[k], line[k], v)
		}
	}
	if d, ok := line["duration"].(float64); !ok || d <= 0 {
		t.Errorf("access log duration = %v, want a positive number", line["duration"])
	}
	// The error page shows the same id, for support.
	doc := parseHTML(t, body)
	var shown bool
	for _, c := range htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Code }) {
		shown = shown || htmltest.Text(c) == id
	}
	if !shown {
		t.Errorf("the error page does not show request id %s", id)
	}
}

func TestAccessLogNamesForwardedClientFromTrustedProxy(t *testing.T) {
	app := newTestApp(t, map[string]string{"TRUSTED_PROXIES": "192.0.2.0/24"}) // httptest's peer
	r := app.request(http.MethodGet, "/healthz", nil)
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp := app.serve(r)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	for _, rec := range app.logs.records(t) {
		if rec["msg"] == "request" && rec["request_id"] == id {
			if rec["remote_addr"] != "198.51.100.7" {
				t.Errorf("remote_addr = %v, want the forwarded client", rec["remote_addr"])
			}
			return
		}
	}
	t.Fatalf("no access log line for %s", id)
}

func TestRealIP(t *testing.T) {
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one entry per header line
		proto   string
		client  string // "" means RemoteAddr is left exactly as it was
		https   bool
	}{
		{"no trusted proxies", nil, "10.0.0.5:4000", []string{"198.51.100.7"}, "https", "", false},
		{"untrusted peer", private, "203.0.113.9:4000", []string{"198.51.100.7"}, "https", "", false},
		{"trusted peer", private, "10.0.0.5:4000", []string{"198.51.100.7"}, "", "198.51.100.7", false},
		{"trusted peer, https", private, "10.0.0.5:4000", []string{"198.51.100.7"}, "HTTPS", "198.51.100.7", true},
		{"forged hops left of the client", private, "10.0.0.5:4000", []string{"6.6.6.6, 198.51.100.7"}, "", "198.51.100.7", false},
		{"chain of our proxies", private, "10.0.0.5:4000", []string{"198.51.100.7, 10.9.9.9", "10.0.0.8"}, "", "198.51.100.7", false},
		{"several header lines", private, "10.0.0.5:4000", []string{"6.6.6.6", "198.51.100.7"}, "", "198.51.100.7", false},
		{"garbage hop stops the walk", private, "10.0.0.5:4000", []string{"198.51.100.7, bogus"}, "", "10.0.0.5", false},
		{"no header from a trusted peer", private, "10.0.0.5:4000", nil, "", "10.0.0.5", false},
		{"IPv4-mapped trusted peer", private, "[::ffff:10.0.0.5]:4000", []string{"198.51.100.7"}, "", "198.51.100.7", false},
		{"IPv6", private, "[::1]:4000", []string{"2001:db8::7"}, "", "2001:db8::7", false},
		{"all hops trusted", private, "10.0.0.5:4000", []string{"10.1.1.1"}, "", "10.1.1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			h := realIP(tt.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if tt.client == "" {
				if got.RemoteAddr != tt.peer {
					t.Errorf("RemoteAddr = %q, want it untouched (%q)", got.RemoteAddr, tt.peer)
				}
			} else {
				ap, err := netip.ParseAddrPort(got.RemoteAddr)
				if err != nil || ap.Addr().String() != tt.client {
					t.Errorf("RemoteAddr = %q, want client %s", got.RemoteAddr, tt.client)
				}
			}
			if isHTTPS := got.URL.Scheme == "https"; isHTTPS != tt.https {
				t.Errorf("https = %v, want %v", isHTTPS, tt.https)
			}
			if r.RemoteAddr != tt.peer {
				t.Error("the caller's request was modified")
			}
		})
	}
}

func TestCanonicalHostRedirectInDevelopment(t *testing.T) {
	app := newTestApp(t, nil)
	canonical := app.cfg.BaseURL.Host // 127.0.0.1:8080
	tests := []struct {
		method, host, target string
		status               int
		location             string
	}{
		{http.MethodGet, "localhost:8080", "/login?return_to=%2Fdevices", http.StatusTemporaryRedirect, "http://" + canonical + "/login?return_to=%2Fdevices"},
		{http.MethodGet, "localhost:8080", "/", http.StatusTemporaryRedirect, "http://" + canonical + "/"},
		{http.MethodPost, "localhost:8080", "/logout", http.StatusTemporaryRedirect, "http://" + canonical + "/logout"},
		{http.MethodGet, "localhost:8080", "/healthz", http.StatusOK, ""},
		{http.MethodGet, "10.0.0.1:8080", "/readyz", http.StatusOK, ""},
		{http.MethodGet, canonical, "/", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			resp := app.serve(r)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			checkSecurityHeaders(t, resp.Header, false)
		})
	}
}

func TestBodyLimit(t *testing.T) {
	app := newTestApp(t, nil)
	form := app.handlers.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return err
		}
		_, _ = io.WriteString(w, strconv.Itoa(len(r.PostForm.Get("note"))))
		return nil
	})
	h := wrapLikeRoutes(app, form)
	tests := []struct {
		name   string
		size   int
		status int
	}{
		{"small form", 1000, http.StatusOK},
		{"just under the limit", maxBodyBytes - len("note="), http.StatusOK},
		{"over the limit", maxBodyBytes + 1, http.StatusRequestEntityTooLarge},
		{"far over the limit", 4 * maxBodyBytes, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "note=" + strings.Repeat("x", tt.size)
			r := httptest.NewRequest(http.MethodPost, "/note", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp := serveWith(h, r)
			if tt.status == http.StatusOK {
				got := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || string(got) != strconv.Itoa(tt.size) {
					t.Fatalf("got %d %q, want the whole form read", resp.StatusCode, got)
				}
				return
			}
			checkErrorPage(t, resp, tt.status)
		})
	}
}
