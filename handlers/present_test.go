package handlers

import (
	"slices"
	"testing"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/views"
)

// TestControlsByState: one primary control chosen by the lock's state — Unlock when
// locked, Lock when unlocked, both when the state is unknown — and none when the lock
// can do neither remotely; an offline lock's controls are there, disabled, with why.
func TestControlsByState(t *testing.T) {
	locked, unlocked := true, false
	for _, c := range []struct {
		name     string
		d        seam.Device
		want     []views.Control
		wantNote string
	}{
		{"locked", seam.Device{CanRemotelyUnlock: true, CanRemotelyLock: true, Properties: seam.DeviceProperties{Online: true, Locked: &locked}},
			[]views.Control{{Unlock: true}}, ""},
		{"unlocked", seam.Device{CanRemotelyUnlock: true, CanRemotelyLock: true, Properties: seam.DeviceProperties{Online: true, Locked: &unlocked}},
			[]views.Control{{Unlock: false}}, ""},
		{"unknown", seam.Device{CanRemotelyUnlock: true, CanRemotelyLock: true, Properties: seam.DeviceProperties{Online: true}},
			[]views.Control{{Unlock: true}, {Unlock: false}}, ""},
		{"unknown, offline", seam.Device{CanRemotelyUnlock: true, CanRemotelyLock: true, Properties: seam.DeviceProperties{}},
			[]views.Control{{Unlock: true, Disabled: true}, {Unlock: false, Disabled: true}}, "Unavailable while the lock is offline."},
		{"unknown, lock only", seam.Device{CanRemotelyLock: true, Properties: seam.DeviceProperties{Online: true}},
			[]views.Control{{Unlock: true, Disabled: true}, {Unlock: false}}, "This lock cannot be unlocked remotely."},
		{"neither remotely", seam.Device{Properties: seam.DeviceProperties{Online: true, Locked: &locked}}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.d.DeviceID = "d1"
			v := deviceView(c.d)
			withControls(&v, c.d, locks.Allowance{Limit: 10, Left: 10})
			if !slices.Equal(v.Controls, c.want) || v.ControlsNote != c.wantNote {
				t.Errorf("controls %+v, note %q; want %+v, %q", v.Controls, v.ControlsNote, c.want, c.wantNote)
			}
		})
	}
}
