package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/static"
)

const immutable = "public, max-age=31536000, immutable"

// contentHash is the fingerprint a URL must carry for a body: hex of the first 8
// bytes of its SHA-256.
func contentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}

func TestStaticFiles(t *testing.T) {
	app := newTestApp(t, nil)
	css, err := fs.ReadFile(static.FS, "css/app.css")
	if err != nil {
		t.Fatal(err)
	}
	js, err := fs.ReadFile(static.FS, "js/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	ico, err := fs.ReadFile(static.FS, "img/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		target      string
		contentType string
		cache       string
		body        []byte
	}{
		// Browsers ask for /favicon.ico whatever the page links; it is revalidated.
		{"favicon at the root", "/favicon.ico", "image/vnd.microsoft.icon", "no-cache", ico},
		{"stylesheet, fingerprinted", "/static/css/app.css?v=" + contentHash(css), "text/css; charset=utf-8", immutable, css},
		{"htmx, fingerprinted", "/static/js/htmx.min.js?v=" + contentHash(js), "text/javascript; charset=utf-8", immutable, js},
		{"stylesheet, no fingerprint", "/static/css/app.css", "text/css; charset=utf-8", "no-cache", css},
		{"htmx, stale fingerprint", "/static/js/htmx.min.js?v=0123456789abcdef", "text/javascript; charset=utf-8", "no-cache", js},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := app.serve(app.request(http.MethodGet, tt.target, nil))
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if string(body) != string(tt.body) {
				t.Errorf("body is not the embedded file (%d bytes, want %d)", len(body), len(tt.body))
			}
			etag := resp.Header.Get("ETag")
			if etag != `"`+contentHash(tt.body)+`"` {
				t.Fatalf("ETag = %q, want the content hash", etag)
			}

			// Revalidation: the same ETag is a 304 without a body; another is the file.
			r := app.request(http.MethodGet, tt.target, nil)
			r.Header.Set("If-None-Match", etag)
			resp = app.serve(r)
			if body := readBody(t, resp); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", etag, resp.StatusCode, len(body))
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("304 Cache-Control = %q, want %q", got, tt.cache)
			}
			r = app.request(http.MethodGet, tt.target, nil)
			r.Header.Set("If-None-Match", `"0000000000000000"`)
			resp = app.serve(r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("stale If-None-Match: %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestPagesLinkFingerprintedAssets(t *testing.T) {
	app := newTestApp(t, nil)
	resp := app.serve(app.request(http.MethodGet, "/", nil))
	doc := parseHTML(t, readBody(t, resp))
	var assets []string
	for _, n := range htmltest.Find(doc, func(n *html.Node) bool {
		return (n.DataAtom == atom.Link && (htmltest.Attr(n, "rel") == "stylesheet" || htmltest.Attr(n, "rel") == "icon")) ||
			(n.DataAtom == atom.Script && htmltest.Attr(n, "src") != "")
	}) {
		assets = append(assets, htmltest.Attr(n, "href")+htmltest.Attr(n, "src"))
	}
	if len(assets) < 4 {
		t.Fatalf("landing page links %v, want the stylesheet, the icon, htmx and the focus script", assets)
	}
	for _, a := range assets {
		u, err := url.Parse(a)
		if err != nil || !strings.HasPrefix(u.Path, "/static/") || u.Query().Get("v") == "" {
			t.Errorf("asset URL %q is not a fingerprinted /static/ URL", a)
			continue
		}
		resp := app.serve(app.request(http.MethodGet, a, nil))
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != immutable {
			t.Errorf("%s: %d, Cache-Control %q; want 200 and immutable", a, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if v := u.Query().Get("v"); v != contentHash(body) {
			t.Errorf("%s: ?v=%s, but the content hashes to %s", a, v, contentHash(body))
		}
	}
}

func TestStaticNotFound(t *testing.T) {
	app := newTestApp(t, nil)
	for _, target := range []string{
		"/static/nope.css",
		"/static/css/",          // a directory
		"/static/css",           // a directory, no slash
		"/static/js/",           // a directory
		"/static/",              // the root
		"/static/static.go",     // the package source is not embedded
		"/static/css/input.css", // the Tailwind input is left out
		"/static/css/app.css/",
	} {
		t.Run(target, func(t *testing.T) {
			resp := app.serve(app.request(http.MethodGet, target, nil))
			checkErrorPage(t, resp, http.StatusNotFound)
			if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
				t.Errorf("a 404 is cacheable forever: %q", cc)
			}
		})
	}
}
