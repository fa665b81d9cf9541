package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

// settleTest moves an attempt to status with the outcome's audit row, as locks does.
func settleTest(t *testing.T, db *DB, a ActionAttempt, status, auditAction, outcome, reason string) {
	t.Helper()
	_, changed, err := db.TransitionAction(context.Background(), Transition{ID: a.ID, From: []string{AttemptRequested, AttemptPending},
		To: status, Error: reason, At: time.Now(),
		Audit: AuditEvent{ActorID: a.UserID, SubjectUserID: a.UserID, Action: auditAction, DeviceID: a.DeviceID,
			Outcome: outcome, Detail: reason}})
	if err != nil || !changed {
		t.Fatalf("settle %s: changed=%v err=%v", status, changed, err)
	}
}

func TestTrailIsOneEntryPerActionWithItsOutcome(t *testing.T) {
	pgtest.EachDialect(t, testTrailIsOneEntryPerActionWithItsOutcome)
}

func testTrailIsOneEntryPerActionWithItsOutcome(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.com")
	bob := newUser(t, db, "bob", "bob@example.com")
	now := time.Now()

	ok, err := begin(t, db, alice.ID, "dev-a", ActionUnlock, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.TransitionAction(ctx, Transition{ID: ok.ID, From: []string{AttemptRequested}, To: AttemptPending, SeamID: "seam-1",
		At: now, Audit: AuditEvent{ActorID: alice.ID, SubjectUserID: alice.ID, Action: AuditDeviceUnlockSent, DeviceID: "dev-a", Outcome: OutcomeSuccess}}); err != nil {
		t.Fatal(err)
	}
	settleTest(t, db, ok, AttemptSuccess, AuditDeviceUnlockSucceeded, OutcomeSuccess, "")
	failed, err := begin(t, db, alice.ID, "dev-a", ActionUnlock, now)
	if err != nil {
		t.Fatal(err)
	}
	settleTest(t, db, failed, AttemptError, AuditDeviceUnlockFailed, OutcomeFailure, "device_offline")
	open, err := begin(t, db, alice.ID, "dev-b", ActionLock, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(ctx, AuditEvent{ActorID: alice.ID, SubjectUserID: alice.ID, Action: AuditDeviceActionBusy, DeviceID: "dev-b",
		ActionAttemptID: open.ID, Outcome: OutcomeDenied}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(ctx, AuditEvent{ActorID: alice.ID, SubjectUserID: alice.ID, Action: AuditLogin, Outcome: OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	if _, err := begin(t, db, bob.ID, "dev-z", ActionUnlock, now); err != nil {
		t.Fatal(err)
	}

	entries, more, err := db.Trail(ctx, TrailQuery{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	if more {
		t.Error("more beyond the only page")
	}
	var got []string
	for _, e := range entries {
		s := e.Action
		if e.Attempt != nil {
			s += ":" + e.Attempt.Status + ":" + e.Attempt.Error
		}
		got = append(got, s)
	}
	want := []string{AuditLogin, AuditDeviceActionBusy, AuditDeviceLockRequested + ":requested:",
		AuditDeviceUnlockRequested + ":error:device_offline", AuditDeviceUnlockRequested + ":success:"}
	if len(got) != len(want) {
		t.Fatalf("trail = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}

	for outcome, wantN := range map[string]int{TrailSucceeded: 2, TrailFailed: 1, TrailInProgress: 1, TrailRefused: 1, TrailUnknown: 0} {
		es, _, err := db.Trail(ctx, TrailQuery{UserID: alice.ID, Outcome: outcome})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != wantN {
			t.Errorf("outcome %s: %d entries, want %d", outcome, len(es), wantN)
		}
	}
	es, _, err := db.Trail(ctx, TrailQuery{UserID: alice.ID, DeviceID: "dev-a"})
	if err != nil || len(es) != 2 {
		t.Errorf("device dev-a: %d entries, err %v; want 2", len(es), err)
	}
	if _, _, err := db.Trail(ctx, TrailQuery{UserID: alice.ID, Outcome: "x' OR 1=1 --"}); err == nil {
		t.Error("an unknown outcome was accepted")
	}

	// Keyset pages of two: 2 + 2 + 1 going older, no entry twice, none lost; and back
	// newer from the last page, the same pages in reverse.
	seen := map[int64]bool{}
	var before int64
	var pages [][]int64
	for page := 0; ; page++ {
		es, more, err := db.Trail(ctx, TrailQuery{UserID: alice.ID, Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range es {
			if seen[e.ID] {
				t.Errorf("entry %d on two pages", e.ID)
			}
			seen[e.ID] = true
			ids = append(ids, e.ID)
		}
		pages = append(pages, ids)
		if !more {
			break
		}
		if page > 3 {
			t.Fatal("pages never end")
		}
		before = es[len(es)-1].ID
	}
	if len(seen) != 5 || len(pages) != 3 {
		t.Errorf("%d entries over %d pages, want 5 over 3", len(seen), len(pages))
	}
	after := pages[len(pages)-1][0]
	for i := len(pages) - 2; i >= 0; i-- {
		es, more, err := db.Trail(ctx, TrailQuery{UserID: alice.ID, Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(pages[i]) {
			t.Errorf("newer page %d = %v, want %v", i, ids, pages[i])
		}
		if more != (i > 0) {
			t.Errorf("newer page %d: more = %v", i, more)
		}
		after = ids[0]
	}

	// The export: every entry, oldest first, alice's only.
	var all []int64
	if err := db.EachTrail(ctx, alice.ID, func(e TrailEntry) error {
		all = append(all, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[0] != entries[4].ID || all[4] != entries[0].ID {
		t.Errorf("EachTrail = %v", all)
	}
}

func TestSetUserTimeZone(t *testing.T) {
	pgtest.EachDialect(t, testSetUserTimeZone)
}

func testSetUserTimeZone(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.com")
	bob := newUser(t, db, "bob", "bob@example.com")
	if alice.TimeZone != "" {
		t.Errorf("a new user's zone = %q, want none", alice.TimeZone)
	}
	if err := db.SetUserTimeZone(ctx, alice.ID, "Asia/Kolkata"); err != nil {
		t.Fatal(err)
	}
	a, err := db.UserByID(ctx, alice.ID)
	if err != nil || a.TimeZone != "Asia/Kolkata" {
		t.Errorf("alice's zone = %q, %v", a.TimeZone, err)
	}
	b, err := db.UserByID(ctx, bob.ID)
	if err != nil || b.TimeZone != "" {
		t.Errorf("bob's zone = %q, %v; want untouched", b.TimeZone, err)
	}
	// A login keeps the zone.
	again, err := db.UpsertUserAtLogin(ctx, Login{Issuer: alice.Issuer, Subject: alice.Subject, Email: alice.Email}, time.Now())
	if err != nil || again.TimeZone != "Asia/Kolkata" {
		t.Errorf("after login zone = %q, %v", again.TimeZone, err)
	}
	if err := db.SetUserTimeZone(ctx, "no-such-user", "UTC"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}
