package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// BenchmarkDevicesList50 measures GET /devices for a user with 50 devices on the
// sandbox, in-process through the real route table and middleware. Besides ns/op it
// reports seam-ns/op, the time of the same devices/list call made alone against the
// same sandbox, and own-ns/op, the rest: Latchkey's own work (session, database,
// ownership filter, rendering). Target: own-ns/op under 1 ms.
func BenchmarkDevicesList50(b *testing.B) {
	p := testportal.Start(b, testportal.Options{})
	c := p.SignIn(b, "alice")
	users, err := p.DB.ListUsers(b.Context())
	if err != nil || len(users) != 1 {
		b.Fatalf("users: %v %v", users, err)
	}
	userID := users[0].ID
	account, _ := p.Sandbox.AddConnectedAccount(userID, 50)
	if err := p.DB.RecordConnectedAccount(b.Context(), store.ConnectedAccount{ID: account, UserID: userID, ConnectWebviewID: "bench"}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, p.URL+"/devices", nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	res, _ := p.Get(b, c, "/devices") // warm up: device counts recorded once
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET /devices: %d", res.StatusCode)
	}
	handler := p.App.Handler()
	client := seam.New(testportal.SandboxKey, seam.WithEndpoint(p.App.SandboxURL()))

	var seamTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /devices: %d", rec.Code)
		}
		start := time.Now()
		if _, err := client.Devices.List(b.Context(), seam.ListDevicesParams{UserIdentifierKey: userID}); err != nil {
			b.Fatal(err)
		}
		seamTime += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	total := float64(b.Elapsed().Nanoseconds()) - float64(seamTime.Nanoseconds())
	seamPer := float64(seamTime.Nanoseconds()) / n
	b.ReportMetric(total/n, "ns/page")
	b.ReportMetric(seamPer, "seam-ns/op")
	b.ReportMetric(total/n-seamPer, "own-ns/op")
}
