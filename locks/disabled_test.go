package locks_test

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"
)

// TestDisabledUserCannotAct: a request that loaded its user before an admin disabled
// them (on another instance) is refused inside the intent transaction with the typed
// error: nothing recorded, nothing sent to Seam, the refusal audited. Enabled again,
// the user acts as before.
func TestDisabledUserCannotAct(t *testing.T) { pgtest.EachDialect(t, testDisabledUserCannotAct) }

func testDisabledUserCannotAct(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	other, err := store.Open(t.Context(), e.url) // a second instance's handle
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, _, err := other.SetUserDisabled(t.Context(), store.UserDisabling{UserID: alice.ID, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, act := range []func() (locks.Result, error){
		func() (locks.Result, error) { return e.svc.Unlock(t.Context(), alice, front) },
		func() (locks.Result, error) { return e.svc.Lock(t.Context(), alice, front) },
	} {
		if _, err := act(); !errors.Is(err, locks.ErrUserDisabled) {
			t.Fatalf("action of a disabled user: %v; want ErrUserDisabled", err)
		}
	}
	if calls := e.seam.calls(); len(calls) != 0 {
		t.Errorf("Seam was asked to act: %v", calls)
	}
	var n int
	if err := e.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM action_attempts`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d actions recorded (%v)", n, err)
	}
	events, _, err := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range events {
		// The lock is named as it was, for the trail after it is gone.
		if ev.Action == store.AuditDeviceActionDisabled && ev.Outcome == store.OutcomeDenied && ev.DeviceID == front &&
			ev.DeviceName == "Front Door" {
			refused++
		}
	}
	if refused == 0 {
		t.Error("the refusal was not audited")
	}

	if _, _, err := other.SetUserDisabled(t.Context(), store.UserDisabling{UserID: alice.ID, Disabled: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Unlock(t.Context(), alice, front); err != nil {
		t.Errorf("unlock after enabling: %v", err)
	}
}
