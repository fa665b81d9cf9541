package locks_test

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
)

func TestEventDuringARefreshStillApplies(t *testing.T) {
	pgtest.EachDialect(t, testEventDuringARefreshStillApplies)
}

// A lock that changes while Seam answers devices/list: the answer may show the old
// state, so the change's event, arriving later, must still apply to the copy — the
// copy is as of when the read began, not when it ended.
func testEventDuringARefreshStillApplies(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	readBegan := e.clock.Now()
	e.seam.onList = func() { e.clock.Advance(2 * time.Second) } // Seam takes its time
	if _, err := e.svc.SyncUser(t.Context(), alice.ID); err != nil {
		t.Fatal(err)
	}
	c, err := e.db.UserDevice(t.Context(), alice.ID, front)
	if err != nil {
		t.Fatal(err)
	}
	if !c.StateAt.Equal(readBegan) {
		t.Errorf("copy's state time = %s, want when the read began (%s)", c.StateAt, readBegan)
	}
	during := seam.Event{EventType: seam.EventLockUnlocked, DeviceID: front, OccurredAt: readBegan.Add(time.Second)}
	changed, err := locks.ApplyEvent(c.Device, c.StateAt, during)
	if err != nil {
		t.Fatal(err)
	}
	if changed == nil {
		t.Error("an unlock that happened while Seam answered was dropped as older than the copy")
	}
	before := seam.Event{EventType: seam.EventLockUnlocked, DeviceID: front, OccurredAt: readBegan.Add(-time.Second)}
	if changed, err := locks.ApplyEvent(c.Device, c.StateAt, before); err != nil || changed != nil {
		t.Errorf("an event from before the read changed the copy (%v)", err)
	}
}
