package seam_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// BenchmarkDevicesList50 measures one devices/list for a user with 50 devices:
// the client encoding the request, the sandbox answering over loopback HTTP, and
// the client decoding 50 devices — the cost of rendering a user's device page.
func BenchmarkDevicesList50(b *testing.B) {
	const user, n = "bench-user", 50
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	srv, err := sandbox.Start(ctx, "127.0.0.1:0", sandbox.Options{APIKey: contractKey})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.Sandbox.AddConnectedAccount(user, n)
	c := seam.New(contractKey, seam.WithEndpoint(srv.URL), seam.WithRetry(3, time.Millisecond, 5*time.Millisecond))
	p := seam.ListDevicesParams{UserIdentifierKey: user}

	b.ReportAllocs()
	for b.Loop() {
		devs, err := c.Devices.List(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if len(devs) != n {
			b.Fatalf("%d devices, want %d", len(devs), n)
		}
	}
}
