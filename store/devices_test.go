package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestSyncDevices(t *testing.T) { pgtest.EachDialect(t, testSyncDevices) }

func testSyncDevices(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	dev := func(id, user, account string) DeviceCopy {
		return DeviceCopy{ID: id, UserID: user, ConnectedAccountID: account, Device: []byte(`{"device_id":"` + id + `"}`), StateAt: t0}
	}
	if err := db.SyncDevices(t.Context(), alice.ID, []string{"a1"}, []DeviceCopy{dev("d1", alice.ID, "a1"), dev("d2", alice.ID, "a1")}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncDevices(t.Context(), bob.ID, []string{"b1"}, []DeviceCopy{dev("d9", bob.ID, "b1")}, t0); err != nil {
		t.Fatal(err)
	}
	// A later sync without d2 removes it; bob's copy is untouched.
	if err := db.SyncDevices(t.Context(), alice.ID, []string{"a1"}, []DeviceCopy{dev("d1", alice.ID, "a1")}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := db.UserDevices(t.Context(), alice.ID)
	if err != nil || len(got) != 1 || got[0].ID != "d1" || !got[0].SyncedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("alice's copy %+v, %v; want d1 synced at t0+1m", got, err)
	}
	if _, err := db.UserDevice(t.Context(), alice.ID, "d9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice reading bob's device: %v, want ErrNotFound", err)
	}
	// A sync naming another user's device cannot take it.
	if err := db.SyncDevices(t.Context(), alice.ID, []string{"a1"}, []DeviceCopy{dev("d9", alice.ID, "a1")}, t0); !errors.Is(err, ErrConflict) {
		t.Errorf("alice syncing bob's device: %v, want ErrConflict", err)
	}
	if d, err := db.UserDevice(t.Context(), bob.ID, "d9"); err != nil || d.UserID != bob.ID {
		t.Errorf("bob's device after the refused sync: %+v %v", d, err)
	}
	if oldest, ok, err := db.OldestSync(t.Context(), alice.ID); err != nil || !ok || !oldest.Equal(t0.Add(time.Minute)) {
		t.Errorf("OldestSync = %v %v %v", oldest, ok, err)
	}
	if err := db.DeleteDevices(t.Context(), "b1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.UserDevices(t.Context(), bob.ID); len(got) != 0 {
		t.Errorf("bob's devices after deleting his account's: %v", got)
	}
}

func TestApplyEventOnce(t *testing.T) { pgtest.EachDialect(t, testApplyEventOnce) }

func testApplyEventOnce(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db := dbs[0]
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := db.SyncDevices(t.Context(), alice.ID, []string{"a1"}, []DeviceCopy{{ID: "d1", UserID: alice.ID, ConnectedAccountID: "a1", Device: []byte(`0`), StateAt: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	e := SeamEvent{ID: "ev1", DeliveryID: "msg_1", Type: "lock.locked", DeviceID: "d1", Payload: []byte(`{}`), CreatedAt: t0}
	if stored, err := db.StoreEvent(t.Context(), e); err != nil || !stored {
		t.Fatalf("StoreEvent = %v %v", stored, err)
	}
	for _, dup := range []SeamEvent{e, {ID: "ev1", Type: "lock.locked", Payload: []byte(`{}`)}, {ID: "ev-other", DeliveryID: "msg_1", Type: "lock.locked", Payload: []byte(`{}`)}} {
		if stored, err := db.StoreEvent(t.Context(), dup); err != nil || stored {
			t.Errorf("duplicate %s/%s stored = %v %v, want not stored", dup.ID, dup.DeliveryID, stored, err)
		}
	}
	var applied atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			ok, err := dbs[i%2].ApplyEvent(t.Context(), "ev1", "d1", t0, func(d DeviceCopy, found bool) ([]byte, time.Time, error) {
				if !found {
					t.Error("device not found")
				}
				n := len(d.Device)
				return []byte(string(d.Device) + "+"), t0.Add(time.Duration(n) * time.Second), nil
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				applied.Add(1)
			}
		})
	}
	wg.Wait()
	if applied.Load() != 1 {
		t.Errorf("applied %d times, want 1", applied.Load())
	}
	if d, _ := db.UserDevice(t.Context(), alice.ID, "d1"); string(d.Device) != "0+" {
		t.Errorf("device after the event: %q, want one change", d.Device)
	}
	if left, err := db.UnprocessedEvents(t.Context(), 10); err != nil || len(left) != 0 {
		t.Errorf("unprocessed after applying: %v %v", left, err)
	}
}

func TestLeases(t *testing.T) { pgtest.EachDialect(t, testLeases) }

func testLeases(t *testing.T) {
	db := newTestDB(t)
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if _, ok, err := db.TakeLease(t.Context(), "poller", "a", t0, t0.Add(30*time.Second)); err != nil || !ok {
		t.Fatalf("a takes the free lease: %v %v", ok, err)
	}
	if err := db.SetLeaseCursor(t.Context(), "poller", "a", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.TakeLease(t.Context(), "poller", "b", t0.Add(10*time.Second), t0.Add(40*time.Second)); ok {
		t.Error("b took a held lease")
	}
	if cur, ok, _ := db.TakeLease(t.Context(), "poller", "a", t0.Add(10*time.Second), t0.Add(40*time.Second)); !ok || cur != "c1" {
		t.Errorf("a renews: %v %q", ok, cur)
	}
	if cur, ok, _ := db.TakeLease(t.Context(), "poller", "b", t0.Add(41*time.Second), t0.Add(70*time.Second)); !ok || cur != "c1" {
		t.Errorf("b after a's lease passed: %v %q, want it with a's cursor", ok, cur)
	}
	if err := db.SetLeaseCursor(t.Context(), "poller", "a", "stale"); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseLease(t.Context(), "poller", "b", t0.Add(42*time.Second)); err != nil {
		t.Fatal(err)
	}
	if cur, ok, _ := db.TakeLease(t.Context(), "poller", "a", t0.Add(43*time.Second), t0.Add(70*time.Second)); !ok || cur != "c1" {
		t.Errorf("a after b released: %v %q (a's stale write must not have landed)", ok, cur)
	}
}

// TestDeviceListing: beside each of the user's copied devices, their newest action on it
// since the time asked for — not an older one, not another user's, and none for a
// device without one — and the count of the user's actions since another time.
func TestDeviceListing(t *testing.T) {
	pgtest.EachDialect(t, testDeviceListing)
}

func testDeviceListing(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	dev := func(id, user string) DeviceCopy {
		return DeviceCopy{ID: id, UserID: user, ConnectedAccountID: "acc-" + user, Device: []byte(`{}`), StateAt: t0}
	}
	if err := db.SyncDevices(t.Context(), alice.ID, []string{"acc-" + alice.ID}, []DeviceCopy{dev("d1", alice.ID), dev("d2", alice.ID), dev("d3", alice.ID)}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncDevices(t.Context(), bob.ID, []string{"acc-" + bob.ID}, []DeviceCopy{dev("d9", bob.ID)}, t0); err != nil {
		t.Fatal(err)
	}
	act := func(user, device, action string, at time.Time) ActionAttempt {
		t.Helper()
		a, err := begin(t, db, user, device, action, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested}, To: AttemptSuccess}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	act(alice.ID, "d1", ActionUnlock, t0.Add(-10*time.Minute)) // before the window
	act(alice.ID, "d1", ActionUnlock, t0.Add(time.Minute))
	newest := act(alice.ID, "d1", ActionLock, t0.Add(2*time.Minute))
	old := act(alice.ID, "d2", ActionLock, t0.Add(-time.Hour)) // only before the window
	act(bob.ID, "d9", ActionUnlock, t0.Add(3*time.Minute))
	act(alice.ID, "d9", ActionUnlock, t0.Add(3*time.Minute)) // not in alice's copy

	listing, err := db.UserDeviceListing(t.Context(), alice.ID, t0.Add(-5*time.Minute), t0)
	if err != nil {
		t.Fatal(err)
	}
	// Since t0: the unlock at +1m, the lock at +2m and the unlock of d9 at +3m, which is
	// alice's action although d9 is not in her copy.
	if !listing.Counted || listing.RecentActions != 3 || !listing.OldestRecent.Equal(t0.Add(time.Minute)) {
		t.Errorf("counted %v: %d actions since t0, oldest %v; want 3, oldest t0+1m", listing.Counted, listing.RecentActions, listing.OldestRecent)
	}
	refs := listing.Refs
	if len(refs) != 3 || refs[0].ID != "d1" || refs[1].ID != "d2" || refs[2].ID != "d3" {
		t.Fatalf("refs %+v, want d1, d2, d3", refs)
	}
	if l := refs[0].Latest; l == nil || l.ID != newest.ID || l.Action != ActionLock || l.Status != AttemptSuccess || !l.CreatedAt.Equal(newest.CreatedAt) {
		t.Errorf("d1's latest %+v, want the lock at t0+2m (%s)", l, newest.ID)
	}
	if refs[1].Latest != nil || refs[2].Latest != nil {
		t.Errorf("d2, d3 latest %+v %+v, want none in the window", refs[1].Latest, refs[2].Latest)
	}
	plain, err := db.UserDeviceRefs(t.Context(), alice.ID)
	if err != nil || len(plain) != 3 || plain[0].Revision != refs[0].Revision || !plain[0].SyncedAt.Equal(refs[0].SyncedAt) {
		t.Errorf("plain refs %+v (%v) disagree with %+v", plain, err, refs)
	}
	// A wider window reaches d2's older action.
	listing, err = db.UserDeviceListing(t.Context(), alice.ID, t0.Add(-2*time.Hour), t0.Add(time.Hour))
	if err != nil || listing.Refs[1].Latest == nil || listing.Refs[1].Latest.ID != old.ID {
		t.Fatalf("d2's latest over two hours: %+v, %v; want %s", listing, err, old.ID)
	}
	if listing.RecentActions != 0 || !listing.OldestRecent.IsZero() {
		t.Errorf("%d actions since t0+1h, oldest %v; want none", listing.RecentActions, listing.OldestRecent)
	}
	// A user without copied devices: nothing counted (the counts ride on device rows).
	carol := newUser(t, db, "carol", "carol@example.test")
	if l, err := db.UserDeviceListing(t.Context(), carol.ID, t0, t0); err != nil || l.Counted || len(l.Refs) != 0 {
		t.Errorf("carol's listing %+v, %v; want empty and not counted", l, err)
	}
}
