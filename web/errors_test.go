package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/handlers"
)

func TestRouterErrorPages(t *testing.T) {
	app := newTestApp(t, nil)
	tests := []struct {
		method, target string
		status         int
		allow          []string // for 405
	}{
		{http.MethodGet, "/no-such-page", http.StatusNotFound, nil},
		{http.MethodGet, "/index.html", http.StatusNotFound, nil},
		{http.MethodGet, "/auth/nope", http.StatusNotFound, nil},
		{http.MethodPost, "/no-such-page", http.StatusNotFound, nil},
		{http.MethodDelete, "/healthz", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
		{http.MethodPost, "/login", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
		{http.MethodGet, "/logout", http.StatusMethodNotAllowed, []string{"POST"}},
		{http.MethodPut, "/", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			resp := app.serve(app.request(tt.method, tt.target, nil))
			checkErrorPage(t, resp, tt.status)
			var allow []string
			for _, m := range strings.Split(resp.Header.Get("Allow"), ",") {
				if m = strings.TrimSpace(m); m != "" {
					allow = append(allow, m)
				}
			}
			slices.Sort(allow)
			if !slices.Equal(allow, tt.allow) {
				t.Errorf("Allow = %q, want %v", resp.Header.Get("Allow"), tt.allow)
			}
		})
	}
}

func TestRouterCleansPaths(t *testing.T) {
	app := newTestApp(t, nil)
	resp := app.serve(app.request(http.MethodGet, "/static", nil))
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/static/" {
		t.Errorf("GET /static: %d to %q, want the router's redirect to /static/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestHealthz(t *testing.T) {
	app := newTestApp(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp := app.serve(app.request(method, "/healthz", nil))
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /healthz = %d, want 200", method, resp.StatusCode)
		}
		if method == http.MethodGet && strings.TrimSpace(string(body)) != "ok" {
			t.Errorf("GET /healthz body %q", body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s /healthz Cache-Control %q, want no-store", method, cc)
		}
	}
}

func TestReadyzOnTheApp(t *testing.T) {
	app := newTestApp(t, nil)
	resp := app.serve(app.request(http.MethodGet, "/readyz", nil))
	var got struct{ Status, Database string }
	if err := json.Unmarshal(readBody(t, resp), &got); err != nil {
		t.Fatalf("readyz body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || got.Status != "ok" || got.Database != "ok" {
		t.Errorf("readyz with a working database: %d %+v", resp.StatusCode, got)
	}
}

// pinger is a database that answers with err.
type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func TestReadyz(t *testing.T) {
	secretish := errors.New("dial tcp 10.0.0.9:5432: password authentication failed for user latchkey")
	tests := []struct {
		name   string
		health handlers.Health
		status int
		body   map[string]string
	}{
		{"no database configured", handlers.Health{}, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "database": "not configured"}},
		{"database answers", handlers.Health{Database: pinger{}}, http.StatusOK,
			map[string]string{"status": "ok", "database": "ok"}},
		{"database does not answer", handlers.Health{Database: pinger{secretish}}, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "database": "unreachable"}},
		// A Seam outage is reported but must not take the portal out of rotation.
		{"seam down", handlers.Health{Database: pinger{}, Seam: func(context.Context) error { return errors.New("seam: 503") }}, http.StatusOK,
			map[string]string{"status": "ok", "database": "ok", "seam": "unreachable"}},
		{"seam up", handlers.Health{Database: pinger{}, Seam: func(context.Context) error { return nil }}, http.StatusOK,
			map[string]string{"status": "ok", "database": "ok", "seam": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &handlers.Handlers{Log: slog.New(slog.DiscardHandler), Health: tt.health}
			rec := httptest.NewRecorder()
			h.Readyz(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if !maps.Equal(body, tt.body) {
				t.Errorf("body = %v, want %v", body, tt.body)
			}
			if strings.Contains(rec.Body.String(), "password") {
				t.Errorf("readyz shows the database error: %s", rec.Body)
			}
		})
	}
}
