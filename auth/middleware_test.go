package auth_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// TestRequireUserAndAdmin checks the guards alone: who gets through, and what everyone
// else gets — a 303 to sign-in for a page, HX-Redirect for htmx, 401 for a form post,
// 403 for a customer on an admin page.
func TestRequireUserAndAdmin(t *testing.T) {
	customer := &store.User{ID: "u-customer"}
	admin := &store.User{ID: "u-admin", IsAdmin: true}
	tests := []struct {
		name       string
		method     string
		target     string
		header     map[string]string
		user       *store.User
		adminOnly  bool
		wantStatus int // 200 = reached the page
		wantLoc    string
		wantHX     string
	}{
		{name: "anonymous GET", method: "GET", target: "/devices",
			wantStatus: http.StatusSeeOther, wantLoc: "/login?return_to=%2Fdevices"},
		{name: "anonymous GET keeps the query", method: "GET", target: "/devices?q=front+door",
			wantStatus: http.StatusSeeOther, wantLoc: "/login?return_to=%2Fdevices%3Fq%3Dfront%2Bdoor"},
		{name: "anonymous HEAD", method: "HEAD", target: "/devices/d1",
			wantStatus: http.StatusSeeOther, wantLoc: "/login?return_to=%2Fdevices%2Fd1"},
		{name: "anonymous POST", method: "POST", target: "/devices/d1/unlock", wantStatus: http.StatusUnauthorized},
		{name: "anonymous POST from htmx", method: "POST", target: "/devices/d1/unlock",
			header: map[string]string{"HX-Request": "true"}, wantStatus: http.StatusUnauthorized},
		{name: "anonymous htmx poll", method: "GET", target: "/devices/d1/actions/a1",
			header:     map[string]string{"HX-Request": "true"},
			wantStatus: http.StatusUnauthorized, wantHX: "/login?return_to=%2Fdevices%2Fd1%2Factions%2Fa1"},
		{name: "anonymous htmx poll returns to the page it sits on", method: "GET", target: "/devices/d1/actions/a1",
			header:     map[string]string{"HX-Request": "true", "HX-Current-URL": "http://portal.test/devices/d1?tab=x"},
			wantStatus: http.StatusUnauthorized, wantHX: "/login?return_to=%2Fdevices%2Fd1%3Ftab%3Dx"},
		{name: "anonymous htmx poll from an unsafe current URL", method: "GET", target: "/devices/d1/actions/a1",
			header:     map[string]string{"HX-Request": "true", "HX-Current-URL": "http://portal.test//evil.example/x"},
			wantStatus: http.StatusUnauthorized, wantHX: "/login?return_to=%2Fdevices%2Fd1%2Factions%2Fa1"},
		{name: "customer GET", method: "GET", target: "/devices", user: customer, wantStatus: http.StatusOK},
		{name: "customer POST", method: "POST", target: "/devices/d1/unlock", user: customer, wantStatus: http.StatusOK},
		{name: "customer on an admin page", method: "GET", target: "/admin/users", user: customer, adminOnly: true,
			wantStatus: http.StatusForbidden},
		{name: "admin on an admin page", method: "GET", target: "/admin/users", user: admin, adminOnly: true,
			wantStatus: http.StatusOK},
		{name: "anonymous on an admin page", method: "GET", target: "/admin/users", adminOnly: true,
			wantStatus: http.StatusSeeOther, wantLoc: "/login?return_to=%2Fadmin%2Fusers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var denied int
			m := &auth.Middleware{
				Log: slog.New(slog.DiscardHandler),
				Deny: func(w http.ResponseWriter, _ *http.Request, status int) {
					denied = status
					w.WriteHeader(status)
				},
			}
			page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			var h http.Handler = page
			if tt.adminOnly {
				h = m.RequireAdmin(h)
			}
			h = m.RequireUser(h)

			r := httptest.NewRequest(tt.method, "http://portal.test"+tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.user != nil {
				r = r.WithContext(auth.WithUser(r.Context(), *tt.user))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLoc {
				t.Errorf("Location %q, want %q", got, tt.wantLoc)
			}
			if got := rec.Header().Get("HX-Redirect"); got != tt.wantHX {
				t.Errorf("HX-Redirect %q, want %q", got, tt.wantHX)
			}
			// 401 and 403 are rendered by Deny (the HTML page), never written bare.
			if (tt.wantStatus == http.StatusForbidden || (tt.wantStatus == http.StatusUnauthorized && tt.wantHX == "")) && denied != tt.wantStatus {
				t.Errorf("Deny called with %d, want %d", denied, tt.wantStatus)
			}
		})
	}
}
