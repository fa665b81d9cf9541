package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestSpendWithinWindow(t *testing.T) { pgtest.EachDialect(t, testSpendWithinWindow) }

func testSpendWithinWindow(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	for i := range 3 {
		ok, reset, err := db.Spend(t.Context(), alice.ID, BudgetSeamCalls, t0.Add(time.Duration(i)*time.Second), time.Minute, 3)
		if err != nil || !ok || !reset.Equal(time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)) {
			t.Fatalf("spend %d: %v %v %v, want spent until 12:01", i, ok, reset, err)
		}
	}
	if ok, reset, err := db.Spend(t.Context(), alice.ID, BudgetSeamCalls, t0.Add(5*time.Second), time.Minute, 3); err != nil || ok || reset.Sub(t0) != 50*time.Second {
		t.Errorf("4th in the window: %v %v %v, want refused until the window ends", ok, reset, err)
	}
	if ok, _, err := db.Spend(t.Context(), alice.ID, BudgetWebviews, t0, time.Minute, 3); err != nil || !ok {
		t.Errorf("another kind: %v %v, want its own budget", ok, err)
	}
	if ok, _, err := db.Spend(t.Context(), bob.ID, BudgetSeamCalls, t0, time.Minute, 3); err != nil || !ok {
		t.Errorf("another user: %v %v, want their own budget", ok, err)
	}
	if ok, _, err := db.Spend(t.Context(), alice.ID, BudgetSeamCalls, t0.Add(time.Minute), time.Minute, 3); err != nil || !ok {
		t.Errorf("next window: %v %v, want a fresh budget", ok, err)
	}
	var rows int
	if err := db.sql.QueryRow(`SELECT COUNT(*) FROM usage_counters WHERE user_id = $1 AND kind = $2`, alice.ID, BudgetSeamCalls).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d rows of alice's Seam budget (%v), want the past window deleted", rows, err)
	}
}

// TestSpendConcurrent: two handles on one file (two instances) spending at once never
// spend past the limit.
func TestSpendConcurrent(t *testing.T) { pgtest.EachDialect(t, testSpendConcurrent) }

func testSpendConcurrent(t *testing.T) {
	dbs := newTestDBs(t, 2)
	alice := newUser(t, dbs[0], "alice", "alice@example.test")
	now := time.Now()
	var spent atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			ok, _, err := dbs[i%2].Spend(context.Background(), alice.ID, BudgetSeamCalls, now, time.Minute, 15)
			if err != nil {
				t.Error(err)
			}
			if ok {
				spent.Add(1)
			}
		})
	}
	wg.Wait()
	if spent.Load() != 15 {
		t.Errorf("%d spent, want exactly the limit 15", spent.Load())
	}
}

func TestAppendAuditOnce(t *testing.T) { pgtest.EachDialect(t, testAppendAuditOnce) }

func testAppendAuditOnce(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	write := func(action string, at time.Time) bool {
		t.Helper()
		ok, err := db.AppendAuditOnce(t.Context(), AuditEvent{At: at, ActorID: alice.ID, Action: action, Outcome: OutcomeDenied,
			Detail: fmt.Sprint(at)}, at.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !write(AuditDeviceActionRateLimited, t0) {
		t.Error("first refusal not written")
	}
	if write(AuditDeviceActionRateLimited, t0.Add(30*time.Second)) {
		t.Error("a repeat within the minute was written")
	}
	if !write(AuditAccessDenied, t0.Add(30*time.Second)) {
		t.Error("another kind within the minute was not written")
	}
	if !write(AuditDeviceActionRateLimited, t0.Add(61*time.Second)) {
		t.Error("a repeat after the minute was not written")
	}
	if ok, err := db.AppendAuditOnce(t.Context(), AuditEvent{Action: AuditAccessDenied, Outcome: OutcomeDenied}, t0); err != nil || !ok {
		t.Errorf("an event without an actor: %v %v, want always written", ok, err)
	}
}

func TestProbeWrite(t *testing.T) { pgtest.EachDialect(t, testProbeWrite) }

func testProbeWrite(t *testing.T) {
	db := newTestDB(t)
	for range 2 {
		if err := db.ProbeWrite(t.Context(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if err := db.ProbeWrite(context.Background(), time.Now()); err == nil {
		t.Error("write probe on a closed database succeeded")
	}
}
