package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// begin records an action for userID on device at created, with a generous limit.
func begin(t *testing.T, db *DB, userID, device, action string, created time.Time) (ActionAttempt, error) {
	t.Helper()
	return db.BeginAction(context.Background(), NewAction{
		Attempt: ActionAttempt{ID: uuid.NewString(), UserID: userID, DeviceID: device, Action: action, CreatedAt: created},
		Limit:   100, Window: time.Minute,
		Audit: AuditEvent{ActorID: userID, SubjectUserID: userID, Action: "device." + action + ".requested", DeviceID: device,
			Outcome: OutcomeSuccess},
	})
}

func auditCount(t *testing.T, db *DB, action, attemptID string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = $1 AND action_attempt_id = $2`,
		action, attemptID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBeginActionRecordsIntentWithItsAuditEvent(t *testing.T) {
	pgtest.EachDialect(t, testBeginActionRecordsIntentWithItsAuditEvent)
}

func testBeginActionRecordsIntentWithItsAuditEvent(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a, err := begin(t, db, alice.ID, "d1", ActionUnlock, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != AttemptRequested || a.SeamID != "" || !a.CreatedAt.Equal(t0) {
		t.Errorf("begun action %+v, want requested at t0 without a Seam id", a)
	}
	got, err := db.ActionAttemptForUser(t.Context(), alice.ID, a.ID)
	if err != nil || got.Status != AttemptRequested || got.Action != ActionUnlock || got.DeviceID != "d1" {
		t.Fatalf("stored action %+v, %v", got, err)
	}
	if n := auditCount(t, db, AuditDeviceUnlockRequested, a.ID); n != 1 {
		t.Errorf("%d requested audit events, want 1 committed with the row", n)
	}
}

// TestBeginActionWithoutAuditRecordsNothing: if the audit event cannot be written,
// the action is not recorded either (and so is never sent).
func TestBeginActionWithoutAuditRecordsNothing(t *testing.T) {
	pgtest.EachDialect(t, testBeginActionWithoutAuditRecordsNothing)
}

func testBeginActionWithoutAuditRecordsNothing(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	_, err := db.BeginAction(t.Context(), NewAction{
		Attempt: ActionAttempt{ID: uuid.NewString(), UserID: alice.ID, DeviceID: "d1", Action: ActionUnlock},
		Limit:   10, Window: time.Minute,
		Audit: AuditEvent{}, // no action: the audit insert fails
	})
	if err == nil {
		t.Fatal("BeginAction with an unwritable audit event succeeded")
	}
	if open, err := db.OpenActionAttempts(t.Context()); err != nil || len(open) != 0 {
		t.Errorf("open actions after the failed begin: %v, %v; want none", open, err)
	}
}

func TestBeginActionOneOpenPerDevice(t *testing.T) {
	pgtest.EachDialect(t, testBeginActionOneOpenPerDevice)
}

func testBeginActionOneOpenPerDevice(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Now()
	first, err := begin(t, db, alice.ID, "d1", ActionUnlock, t0)
	if err != nil {
		t.Fatal(err)
	}
	var open *OpenActionError
	if _, err := begin(t, db, alice.ID, "d1", ActionLock, t0.Add(time.Second)); !errors.As(err, &open) || open.Open.ID != first.ID {
		t.Fatalf("a second action on d1: %v, want *OpenActionError with %s", err, first.ID)
	}
	if _, err := begin(t, db, alice.ID, "d2", ActionLock, t0.Add(time.Second)); err != nil {
		t.Errorf("an action on another device: %v", err)
	}
	// Pending is open too; a final status frees the device.
	if _, changed, err := db.TransitionAction(t.Context(), Transition{ID: first.ID, From: []string{AttemptRequested}, To: AttemptPending, SeamID: "seam-1"}); err != nil || !changed {
		t.Fatalf("to pending: %v %v", changed, err)
	}
	if _, err := begin(t, db, alice.ID, "d1", ActionLock, t0.Add(2*time.Second)); !errors.As(err, &open) {
		t.Fatalf("an action while one is pending: %v, want *OpenActionError", err)
	}
	if _, _, err := db.TransitionAction(t.Context(), Transition{ID: first.ID, From: []string{AttemptPending}, To: AttemptSuccess}); err != nil {
		t.Fatal(err)
	}
	if _, err := begin(t, db, alice.ID, "d1", ActionLock, t0.Add(3*time.Second)); err != nil {
		t.Errorf("an action after the first ended: %v", err)
	}
}

// TestOpenActionIndexHoldsWithoutBeginAction: the rule is the database's, not the
// method's: a writer that skips the check still cannot open a second action.
func TestOpenActionIndexHoldsWithoutBeginAction(t *testing.T) {
	pgtest.EachDialect(t, testOpenActionIndexHoldsWithoutBeginAction)
}

func testOpenActionIndexHoldsWithoutBeginAction(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	now := formatTime(time.Now())
	insert := func(id, status string) error {
		_, err := db.sql.Exec(`INSERT INTO action_attempts (id, user_id, device_id, action, status, created_at, updated_at)
VALUES ($1, $2, 'd1', 'unlock', $3, $4, $4)`, id, alice.ID, status, now)
		return err
	}
	if err := insert("a1", AttemptPending); err != nil {
		t.Fatal(err)
	}
	if err := insert("a2", AttemptRequested); !isUniqueViolation(err) {
		t.Errorf("second open action: %v, want a unique violation", err)
	}
	if err := insert("a3", AttemptSuccess); err != nil {
		t.Errorf("a finished action beside an open one: %v", err)
	}
}

func TestBeginActionLimitCountsEveryStatus(t *testing.T) {
	pgtest.EachDialect(t, testBeginActionLimitCountsEveryStatus)
}

func testBeginActionLimitCountsEveryStatus(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	statuses := []string{AttemptNotSent, AttemptUnknown, AttemptError}
	for i, st := range statuses {
		a, err := db.BeginAction(t.Context(), NewAction{
			Attempt: ActionAttempt{ID: uuid.NewString(), UserID: alice.ID, DeviceID: fmt.Sprintf("d%d", i), Action: ActionUnlock,
				CreatedAt: t0.Add(time.Duration(i) * 10 * time.Second)},
			Limit: 3, Window: time.Minute,
			Audit: AuditEvent{Action: AuditDeviceUnlockRequested, Outcome: OutcomeSuccess},
		})
		if err != nil {
			t.Fatalf("action %d: %v", i, err)
		}
		if _, _, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested}, To: st}); err != nil {
			t.Fatal(err)
		}
	}
	try := func(user User, at time.Time) error {
		_, err := db.BeginAction(t.Context(), NewAction{
			Attempt: ActionAttempt{ID: uuid.NewString(), UserID: user.ID, DeviceID: "d9-" + user.ID, Action: ActionLock, CreatedAt: at},
			Limit:   3, Window: time.Minute,
			Audit: AuditEvent{Action: AuditDeviceLockRequested, Outcome: OutcomeSuccess},
		})
		return err
	}
	var le *LimitError
	if err := try(alice, t0.Add(30*time.Second)); !errors.As(err, &le) || le.Count != 3 || !le.Oldest.Equal(t0) {
		t.Fatalf("4th action within the minute: %v, want *LimitError{3, t0}", err)
	}
	if err := try(bob, t0.Add(30*time.Second)); err != nil {
		t.Errorf("bob's action: %v; the limit is per user", err)
	}
	// A minute after the first, it no longer counts.
	if err := try(alice, t0.Add(time.Minute)); err != nil {
		t.Errorf("an action once the oldest left the window: %v", err)
	}
}

// TestBeginActionConcurrentLimit: many goroutines at once never get more than the limit
// recorded, and one device never gets two open actions.
func TestBeginActionConcurrentLimit(t *testing.T) {
	pgtest.EachDialect(t, testBeginActionConcurrentLimit)
}

func testBeginActionConcurrentLimit(t *testing.T) {
	dbs := newTestDBs(t, 2)
	alice := newUser(t, dbs[0], "alice", "alice@example.test")
	var ok, open, limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 27 {
		wg.Go(func() {
			_, err := dbs[i%2].BeginAction(context.Background(), NewAction{
				Attempt: ActionAttempt{ID: uuid.NewString(), UserID: alice.ID, DeviceID: fmt.Sprintf("d%d", i%9), Action: ActionUnlock},
				Limit:   5, Window: time.Minute,
				Audit: AuditEvent{Action: AuditDeviceUnlockRequested, Outcome: OutcomeSuccess},
			})
			var oe *OpenActionError
			var le *LimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &oe):
				open.Add(1)
			case errors.As(err, &le):
				limited.Add(1)
			default:
				t.Errorf("begin: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Errorf("%d actions recorded (%d open-refused, %d limited), want exactly the limit 5", ok.Load(), open.Load(), limited.Load())
	}
	var rows int
	if err := dbs[1].sql.QueryRow(`SELECT COUNT(*) FROM action_attempts`).Scan(&rows); err != nil || rows != 5 {
		t.Errorf("%d rows, %v; want 5", rows, err)
	}
}

func TestTransitionActionChangesAndAuditsOnce(t *testing.T) {
	pgtest.EachDialect(t, testTransitionActionChangesAndAuditsOnce)
}

func testTransitionActionChangesAndAuditsOnce(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	a, err := begin(t, db, alice.ID, "d1", ActionUnlock, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested}, To: AttemptPending,
		SeamID: "seam-1", Audit: AuditEvent{Action: AuditDeviceUnlockSent, Outcome: OutcomeSuccess}}); err != nil || !changed {
		t.Fatalf("to pending: %v %v", changed, err)
	}
	// Many followers and pollers race to record the outcome; one wins and audits.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			after, changed, err := db.TransitionAction(context.Background(), Transition{ID: a.ID, From: []string{AttemptPending},
				To: AttemptSuccess, Audit: AuditEvent{ActorID: alice.ID, Action: AuditDeviceUnlockSucceeded, Outcome: OutcomeSuccess}})
			if err != nil {
				t.Error(err)
				return
			}
			if after.Status != AttemptSuccess || after.FinishedAt == nil || after.SeamID != "seam-1" {
				t.Errorf("after: %+v", after)
			}
			if changed {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d transitions reported a change, want 1", wins.Load())
	}
	if n := auditCount(t, db, AuditDeviceUnlockSucceeded, a.ID); n != 1 {
		t.Errorf("%d succeeded audit events, want exactly 1", n)
	}
	if n := auditCount(t, db, AuditDeviceUnlockSent, a.ID); n != 1 {
		t.Errorf("%d sent audit events, want 1", n)
	}
	// A late error does not overwrite the success.
	if after, changed, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested, AttemptPending}, To: AttemptError, Error: "late"}); err != nil || changed || after.Status != AttemptSuccess {
		t.Errorf("late error: %+v %v %v", after, changed, err)
	}
	if _, _, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptPending}, To: "open"}); err == nil {
		t.Error("invalid status accepted")
	}
	if _, _, err := db.TransitionAction(t.Context(), Transition{ID: "missing", From: []string{AttemptPending}, To: AttemptError}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing action: %v, want ErrNotFound", err)
	}
}

// TestTransitionActionWithoutAuditChangesNothing: a status change and its audit event
// commit together or not at all.
func TestTransitionActionWithoutAuditChangesNothing(t *testing.T) {
	pgtest.EachDialect(t, testTransitionActionWithoutAuditChangesNothing)
}

func testTransitionActionWithoutAuditChangesNothing(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	a, err := begin(t, db, alice.ID, "d1", ActionUnlock, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested}, To: AttemptSuccess,
		Audit: AuditEvent{Action: AuditDeviceUnlockSucceeded}}) // no outcome: the audit insert fails
	if err == nil {
		t.Fatal("transition with an unwritable audit event succeeded")
	}
	if got, _ := db.ActionAttemptForUser(t.Context(), alice.ID, a.ID); got.Status != AttemptRequested {
		t.Errorf("status %q after the failed transition, want requested", got.Status)
	}
}

func TestClaimOpenActionsLease(t *testing.T) { pgtest.EachDialect(t, testClaimOpenActionsLease) }

func testClaimOpenActionsLease(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	lease := t0.Add(30 * time.Second)
	held, err := db.BeginAction(t.Context(), NewAction{
		Attempt: ActionAttempt{ID: uuid.NewString(), UserID: alice.ID, DeviceID: "d1", Action: ActionUnlock, CreatedAt: t0, ClaimedUntil: &lease},
		Limit:   10, Window: time.Minute, Audit: AuditEvent{Action: AuditDeviceUnlockRequested, Outcome: OutcomeSuccess},
	})
	if err != nil {
		t.Fatal(err)
	}
	free, err := begin(t, db, alice.ID, "d2", ActionLock, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done, _ := begin(t, db, alice.ID, "d3", ActionLock, t0.Add(2*time.Second))
	if _, _, err := db.TransitionAction(t.Context(), Transition{ID: done.ID, From: []string{AttemptRequested}, To: AttemptSuccess}); err != nil {
		t.Fatal(err)
	}
	ids := func(as []ActionAttempt) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		slices.Sort(out)
		return out
	}

	// Worker 1 at t0+5s: only the free one (the other is under its sender's lease).
	got, err := db.ClaimOpenActions(t.Context(), t0.Add(5*time.Second), t0.Add(15*time.Second), 10)
	if err != nil || !slices.Equal(ids(got), []string{free.ID}) {
		t.Fatalf("claim 1: %v %v, want [%s]", ids(got), err, free.ID)
	}
	// Worker 2 at the same moment gets nothing: both are leased.
	if got, err := db.ClaimOpenActions(t.Context(), t0.Add(5*time.Second), t0.Add(15*time.Second), 10); err != nil || len(got) != 0 {
		t.Fatalf("claim 2: %v %v, want none", ids(got), err)
	}
	// After both leases pass (worker 1 died), worker 2 takes both over.
	got, err = db.ClaimOpenActions(t.Context(), t0.Add(31*time.Second), t0.Add(40*time.Second), 10)
	want := []string{held.ID, free.ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(ids(got), want) {
		t.Fatalf("claim after the leases: %v %v, want %v", ids(got), err, want)
	}
	// Released early, it is claimable again at once.
	if err := db.ReleaseAction(t.Context(), free.ID, t0.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ClaimOpenActions(t.Context(), t0.Add(32*time.Second), t0.Add(40*time.Second), 10); err != nil || !slices.Equal(ids(got), []string{free.ID}) {
		t.Fatalf("claim after release: %v %v", ids(got), err)
	}
}

// TestClaimOpenActionsConcurrent: workers claiming at once never share an action.
func TestClaimOpenActionsConcurrent(t *testing.T) {
	pgtest.EachDialect(t, testClaimOpenActionsConcurrent)
}

func testClaimOpenActionsConcurrent(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db := dbs[0]
	alice := newUser(t, db, "alice", "alice@example.test")
	now := time.Now()
	for i := range 40 {
		if _, err := begin(t, db, alice.ID, fmt.Sprintf("d%d", i), ActionUnlock, now.Add(-time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			got, err := dbs[i%2].ClaimOpenActions(context.Background(), now, now.Add(time.Minute), 10)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range got {
				seen[a.ID]++
			}
		})
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d actions claimed, want all 40", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("action %s claimed %d times", id, n)
		}
	}
}

func TestLatestActionAttempts(t *testing.T) { pgtest.EachDialect(t, testLatestActionAttempts) }

func testLatestActionAttempts(t *testing.T) {
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var made []string
	for i, device := range []string{"d1", "d2", "d1", "d1"} {
		a, err := begin(t, db, alice.ID, device, ActionUnlock, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.TransitionAction(t.Context(), Transition{ID: a.ID, From: []string{AttemptRequested}, To: AttemptSuccess}); err != nil {
			t.Fatal(err)
		}
		made = append(made, a.ID)
	}
	if _, err := begin(t, db, bob.ID, "d1", ActionUnlock, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		device string
		limit  int
		want   []string
	}{
		{"", 0, []string{made[3], made[2], made[1], made[0]}},
		{"d1", 2, []string{made[3], made[2]}},
		{"d2", 10, []string{made[1]}},
		{"d9", 10, nil},
	} {
		got, err := db.LatestActionAttempts(t.Context(), alice.ID, tt.device, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("LatestActionAttempts(%q, %d) = %v, want %v", tt.device, tt.limit, ids, tt.want)
		}
	}
	if _, err := db.ActionAttemptForUser(t.Context(), bob.ID, made[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob reading alice's action: %v, want ErrNotFound", err)
	}
}

// TestMigration002KeepsOldAttempts: rows written by 001 survive the rebuild under their
// id (also their Seam id), and duplicate pending rows of one device are settled.
func TestMigration002KeepsOldAttempts(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:/m002-"+uuid.NewString()+"?vfs=memdb&"+memoryPragmas)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if err := applyMigration(t.Context(), conn, ms[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `
INSERT INTO users (id, issuer, subject, created_at, last_login_at) VALUES ('u1', 'i', 's', 'x', 'x');
INSERT INTO action_attempts (id, user_id, device_id, action, status, error, created_at, finished_at) VALUES
 ('old-done', 'u1', 'd1', 'unlock', 'success', '', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:02.000000Z'),
 ('old-pending-1', 'u1', 'd2', 'unlock', 'pending', '', '2026-01-01T00:00:00.000000Z', NULL),
 ('old-pending-2', 'u1', 'd2', 'lock', 'pending', '', '2026-01-01T00:01:00.000000Z', NULL);`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:3] {
		if err := applyMigration(t.Context(), conn, m); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][2]string{}
	rows, err := conn.QueryContext(t.Context(), `SELECT id, seam_action_attempt_id, status FROM action_attempts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, seamID, status string
		if err := rows.Scan(&id, &seamID, &status); err != nil {
			t.Fatal(err)
		}
		got[id] = [2]string{seamID, status}
	}
	want := map[string][2]string{
		"old-done":      {"old-done", AttemptSuccess},
		"old-pending-1": {"old-pending-1", AttemptUnknown},
		"old-pending-2": {"old-pending-2", AttemptPending},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s after 002: %v, want %v", id, got[id], w)
		}
	}
}
