package views

import (
	"bytes"
	"context"
	"testing"
)

// benchDevice is a device row as /devices shows one: online, a battery, a control.
func benchDevice(id, name string, state LockState, online bool) Device {
	d := Device{
		ID: id, URL: "/devices/" + id, ConfirmUnlockURL: "/devices/" + id + "/unlock",
		UnlockURL: "/devices/" + id + "/unlock", LockURL: "/devices/" + id + "/lock",
		ActionTarget: "action-" + id, BadgeID: "lock-" + id,
		Name: name, Model: "August Wi-Fi Smart Lock", Manufacturer: "August",
		Online: online, LockState: state, HasBattery: true, BatteryPercent: 64,
		CanUnlock: true, CanLock: true,
	}
	if state == LockLocked {
		d.Controls = []Control{{Unlock: true, Disabled: !online}}
	} else {
		d.Controls = []Control{{}}
	}
	if !online {
		d.Problems = []Problem{{Text: "The lock is disconnected: it cannot be reached right now.", Severe: true}}
		d.ControlsNote = "Unavailable while the lock is offline."
	}
	return d
}

// BenchmarkRenderDevicesPage renders /devices of a customer with 3 locks: the page's
// rendering alone, without the database or HTTP (BenchmarkDevicesPage3 in web has all).
func BenchmarkRenderDevicesPage(b *testing.B) {
	p := Page{Title: "Your devices", Path: "/devices", RequestID: "0123456789abcdef",
		User:   &User{ID: "u1", Name: "Alice Anders", Email: "alice@example.com"},
		Assets: Assets{CSS: "/static/css/app.css?v=1", HTMX: "/static/js/htmx.min.js?v=1", SSE: "/static/js/sse.js?v=1", Scripts: []string{"/static/js/focus.js?v=1"}, Icon: "/static/img/favicon.svg?v=1"},
		Clock:  NewClock("", "")}
	list := DeviceList{Total: 3, BaseURL: "/devices", Devices: []Device{
		benchDevice("03b39184-d2d7-494b-81c3-7ea66aae4adf", "Back Door", LockUnlocked, true),
		benchDevice("fd514989-1793-4266-a334-3e47876605a1", "Front Door", LockLocked, true),
		benchDevice("f09cb7f2-e577-427d-a14d-e67942113bd6", "Garage Side Door", LockLocked, false),
	}}
	var buf bytes.Buffer
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := DevicesPage(p, list).Render(ctx, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "B/page")
}
