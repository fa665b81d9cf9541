package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFinishActionAttemptChangesOnce(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.CreateActionAttempt(ctx, ActionAttempt{ID: "aa_1", UserID: alice.ID, DeviceID: "d1", Action: ActionUnlock}); err != nil {
		t.Fatal(err)
	}
	// Many followers and pollers race to record the outcome; one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			changed, err := db.FinishActionAttempt(ctx, "aa_1", AttemptSuccess, "", time.Now())
			if err != nil {
				t.Error(err)
			}
			if changed {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d callers changed the attempt, want exactly 1", wins.Load())
	}
	changed, err := db.FinishActionAttempt(ctx, "aa_1", AttemptError, "late", time.Now())
	if err != nil || changed {
		t.Errorf("finishing again = %v, %v; want false, nil", changed, err)
	}
	a, err := db.ActionAttemptForUser(ctx, alice.ID, "aa_1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != AttemptSuccess || a.Error != "" || a.FinishedAt == nil {
		t.Errorf("attempt = %+v, want success with FinishedAt", a)
	}
	if changed, err := db.FinishActionAttempt(ctx, "aa_missing", AttemptSuccess, "", time.Now()); err != nil || changed {
		t.Errorf("finishing a missing attempt = %v, %v; want false, nil", changed, err)
	}
	if _, err := db.FinishActionAttempt(ctx, "aa_1", AttemptPending, "", time.Now()); err == nil {
		t.Error("finishing to pending succeeded")
	}
}

func TestActionAttemptForUserHidesOtherUsers(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	mallory := newUser(t, db, "mallory", "mallory@example.test")
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := ActionAttempt{ID: "aa_1", UserID: alice.ID, DeviceID: "d1", Action: ActionLock, Status: AttemptPending, CreatedAt: created}
	if err := db.CreateActionAttempt(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := db.ActionAttemptForUser(ctx, alice.ID, "aa_1")
	if err != nil || got.FinishedAt != nil || got.ID != want.ID || got.UserID != want.UserID || got.DeviceID != want.DeviceID ||
		got.Action != want.Action || got.Status != want.Status || !got.CreatedAt.Equal(created) {
		t.Errorf("ActionAttemptForUser = %+v, %v; want %+v", got, err, want)
	}
	if _, err := db.ActionAttemptForUser(ctx, mallory.ID, "aa_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("mallory reading alice's attempt: err = %v, want ErrNotFound", err)
	}
	if _, err := db.ActionAttemptForUser(ctx, alice.ID, "aa_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing attempt: err = %v, want ErrNotFound", err)
	}
	if err := db.CreateActionAttempt(ctx, ActionAttempt{ID: "aa_1", UserID: mallory.ID, DeviceID: "d1", Action: ActionLock}); !errors.Is(err, ErrConflict) {
		t.Errorf("reusing an attempt id: err = %v, want ErrConflict", err)
	}
	if err := db.CreateActionAttempt(ctx, ActionAttempt{ID: "aa_2", UserID: alice.ID, DeviceID: "d1", Action: "open"}); err == nil {
		t.Error("creating an attempt with an unknown action succeeded")
	}
}

func TestPendingActionAttempt(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, a := range []ActionAttempt{
		{ID: "old", UserID: alice.ID, DeviceID: "d1", Action: ActionUnlock, CreatedAt: t0.Add(-time.Minute)},
		{ID: "mid", UserID: alice.ID, DeviceID: "d1", Action: ActionUnlock, CreatedAt: t0.Add(time.Second)},
		{ID: "new", UserID: alice.ID, DeviceID: "d1", Action: ActionLock, CreatedAt: t0.Add(2 * time.Second)},
		{ID: "other_device", UserID: alice.ID, DeviceID: "d2", Action: ActionUnlock, CreatedAt: t0.Add(3 * time.Second)},
		{ID: "bobs", UserID: bob.ID, DeviceID: "d1", Action: ActionUnlock, CreatedAt: t0.Add(4 * time.Second)},
	} {
		if err := db.CreateActionAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want string) {
		t.Helper()
		a, err := db.PendingActionAttempt(ctx, alice.ID, "d1", t0)
		if want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("PendingActionAttempt = %+v, %v; want ErrNotFound", a, err)
			}
			return
		}
		if err != nil || a.ID != want {
			t.Errorf("PendingActionAttempt = %q, %v; want %q", a.ID, err, want)
		}
	}
	check("new")
	db.FinishActionAttempt(ctx, "new", AttemptSuccess, "", t0)
	check("mid")
	db.FinishActionAttempt(ctx, "mid", AttemptTimeout, "", t0)
	check("") // "old" is pending but before since; bob's is not alice's

	pending, err := db.PendingActionAttempts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range pending {
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, []string{"old", "other_device", "bobs"}) {
		t.Errorf("PendingActionAttempts = %v, want [old other_device bobs]", ids)
	}
}

func TestCountAndLatestActionAttempts(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"a0", "a1", "a2", "a3", "a4"} {
		device := "d1"
		if i == 4 {
			device = "d2"
		}
		if err := db.CreateActionAttempt(ctx, ActionAttempt{ID: id, UserID: alice.ID, DeviceID: device, Action: ActionUnlock, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateActionAttempt(ctx, ActionAttempt{ID: "b0", UserID: bob.ID, DeviceID: "d1", Action: ActionUnlock, CreatedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		since time.Time
		want  int
	}{{t0, 5}, {t0.Add(2 * time.Minute), 3}, {t0.Add(90 * time.Second), 3}, {t0.Add(time.Hour), 0}} {
		n, err := db.CountActionAttemptsSince(ctx, alice.ID, tt.since)
		if err != nil || n != tt.want {
			t.Errorf("CountActionAttemptsSince(%v) = %d, %v; want %d", tt.since, n, err, tt.want)
		}
	}
	for _, tt := range []struct {
		device string
		limit  int
		want   []string
	}{
		{"d1", 2, []string{"a3", "a2"}},
		{"d1", 0, []string{"a3", "a2", "a1", "a0"}},
		{"", 3, []string{"a4", "a3", "a2"}},
		{"d9", 5, nil},
	} {
		got, err := db.LatestActionAttempts(ctx, alice.ID, tt.device, tt.limit)
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
}
