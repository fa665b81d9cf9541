package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/views"
)

// TestLiveFragmentsKeepNamedDevicesBesideAllDevices: changes reach a stream coalesced.
// When a sync's "all devices" arrives together with a device that left the copy (its
// account was removed), the page is still told to drop that device — in whichever
// order the two were signalled.
func TestLiveFragmentsKeepNamedDevicesBesideAllDevices(t *testing.T) {
	env := newConnectEnv(t)
	// The copy holds none of alice's devices any more: the account was removed.
	env.h.Locks = &locks.Service{Store: env.db, Copy: env.db, Seam: locks.Seam{Devices: env.seam}, Now: env.h.Now}
	const gone = "5fbe882d-3c1a-4b7e-9f2d-0a1b2c3d4e5f"
	for _, batch := range [][]string{{events.AllDevices, gone}, {gone, events.AllDevices}} {
		html, err := env.h.liveFragments(context.Background(), env.alice, views.NewClock("", ""), batch)
		if err != nil {
			t.Fatalf("%v: %v", batch, err)
		}
		if !strings.Contains(html, `id="device-`+gone+`"`) || !strings.Contains(html, `hx-swap-oob="delete"`) {
			t.Errorf("changes %q: fragments %q; want the removed device taken off the page", batch, html)
		}
	}
}
