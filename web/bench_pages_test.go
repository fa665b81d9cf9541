package web_test

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/web"
)

// pageBench is a portal with one signed-in customer whose locks are connected and
// copied: a warm session and a fresh copy, as a customer browsing the portal has.
type pageBench struct {
	p       *testportal.Portal
	handler http.Handler
	// devices is GET /devices with the customer's session cookie; device is the page
	// of one of the customer's locks.
	devices, device *http.Request
}

// newPageBench starts the portal (Seam's events poller held back, so that every Seam
// call seen is the pages'), signs alice in and connects the sandbox login email.
func newPageBench(tb testing.TB, email string) *pageBench {
	tb.Helper()
	if _, ok := tb.(*testing.B); ok {
		// The collector as the portal process sets it (Run), then as it was.
		tb.Cleanup(web.TuneGC(os.Getenv))
	}
	p := testportal.Start(tb, testportal.Options{Env: map[string]string{
		"SEAM_EVENTS_POLL_INTERVAL": "1h",
		"LATCHKEY_FOLLOW_INTERVAL":  "1h",
		"LOG_LEVEL":                 "info",
	}})
	c := p.SignIn(tb, "alice")
	if res, body := p.Connect(tb, c, email); res.StatusCode != http.StatusSeeOther {
		tb.Fatalf("connect %s: %d\n%s", email, res.StatusCode, body)
	}
	users, err := p.DB.ListUsers(tb.Context())
	if err != nil || len(users) != 1 {
		tb.Fatalf("users: %v %v", users, err)
	}
	copies, err := p.DB.UserDevices(tb.Context(), users[0].ID)
	if err != nil || len(copies) == 0 {
		tb.Fatalf("copied devices: %d %v", len(copies), err)
	}
	newReq := func(path string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, p.URL+path, nil)
		for _, ck := range c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return req
	}
	p.SettleEvents(tb)
	b := &pageBench{p: p, handler: p.App.Handler(), devices: newReq("/devices"), device: newReq("/devices/" + copies[0].ID)}
	// Warm up: the session is seen (its last-seen written), the pages render once.
	for _, req := range []*http.Request{b.devices, b.device} {
		if code, body := b.serve(req); code != http.StatusOK {
			tb.Fatalf("GET %s: %d\n%s", req.URL.Path, code, body)
		}
	}
	return b
}

// serve runs req through the portal's whole handler chain in-process.
func (b *pageBench) serve(req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func benchPage(b *testing.B, email string, device bool) {
	pb := newPageBench(b, email)
	req := pb.devices
	if device {
		req = pb.device
	}
	b.ReportAllocs()
	b.ResetTimer()
	size := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		pb.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", req.URL.Path, rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "B/page")
}

// BenchmarkDevicesPage3 is GET /devices of a customer with 3 locks (the sandbox's
// jane@example.com), in-process through the real route table and middleware, with a
// warm session and a fresh copy: Latchkey's own work only, no Seam call. Target ≤ 0.2 ms.
func BenchmarkDevicesPage3(b *testing.B) { benchPage(b, sandbox.JaneEmail, false) }

// BenchmarkDevicesPage50 is BenchmarkDevicesPage3 with 50 locks (building@example.com).
// Target ≤ 0.5 ms.
func BenchmarkDevicesPage50(b *testing.B) { benchPage(b, sandbox.BuildingEmail, false) }

// BenchmarkDevicePage is the page of one of the 3 locks.
func BenchmarkDevicePage(b *testing.B) { benchPage(b, sandbox.JaneEmail, true) }

// TestFreshPagesCallNoSeamAndWriteNothing: with the copy fresh and the session warm,
// the device list (whole page and htmx fragment) and the device page make no Seam call
// and write nothing to the database (no session save, no device-count record).
func TestFreshPagesCallNoSeamAndWriteNothing(t *testing.T) {
	pb := newPageBench(t, sandbox.JaneEmail)
	fragment := pb.devices.Clone(t.Context())
	fragment.Header.Set("HX-Request", "true")
	fragment.Header.Set("HX-Target", "device-list")
	pb.p.Sandbox.ResetCalls()
	writes := newWriteCounter(t, pb.p.DB)
	before := writes.version(t)
	for range 3 {
		for _, req := range []*http.Request{pb.devices, fragment, pb.device} {
			code, body := pb.serve(req)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", req.URL.Path, code, body)
			}
			if req == pb.devices && !strings.Contains(body, "Front Door") {
				t.Errorf("GET /devices lacks the copied locks")
			}
		}
	}
	if calls := pb.p.Sandbox.Calls(); len(calls) != 0 {
		t.Errorf("page views made %d Seam calls, want none: %+v", len(calls), calls)
	}
	if after := writes.version(t); after != before {
		t.Errorf("page views wrote to the database (data_version %d → %d), want no write", before, after)
	}
}

// writeCounter tells whether anything was committed to the SQLite database: PRAGMA
// data_version, read on a connection of its own, changes whenever another connection
// commits.
type writeCounter struct {
	conn *sql.Conn
}

func newWriteCounter(t *testing.T, db *store.DB) *writeCounter {
	t.Helper()
	conn, err := db.SQL().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &writeCounter{conn: conn}
}

func (w *writeCounter) version(t *testing.T) int64 {
	t.Helper()
	var v int64
	if err := w.conn.QueryRowContext(t.Context(), `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
