package store

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestExpireConnectWebviews(t *testing.T) { pgtest.EachDialect(t, testExpireConnectWebviews) }

// testExpireConnectWebviews: only the user's pending webviews created before the bound
// end, failed with the code expired; a reconnecting webview keeps the account it names.
func testExpireConnectWebviews(t *testing.T) {
	ctx := t.Context()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, w := range []ConnectWebview{
		{ID: "cw_old", UserID: alice.ID, CreatedAt: t0},
		{ID: "cw_recent", UserID: alice.ID, CreatedAt: t0.Add(90 * time.Minute), ReconnectsAccountID: "ca_1"},
		{ID: "cw_bob", UserID: bob.ID, CreatedAt: t0},
	} {
		if err := db.CreateConnectWebview(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Hour)
	n, err := db.ExpireConnectWebviews(ctx, alice.ID, now.Add(-time.Hour), now)
	if err != nil || n != 1 {
		t.Fatalf("ExpireConnectWebviews = %d, %v; want 1", n, err)
	}
	old, _ := db.ConnectWebviewForUser(ctx, alice.ID, "cw_old")
	if old.Status != WebviewFailed || old.ErrorCode != WebviewExpired || !old.UpdatedAt.Equal(now) {
		t.Errorf("abandoned webview = %+v, want failed/expired at %s", old, now)
	}
	recent, _ := db.ConnectWebviewForUser(ctx, alice.ID, "cw_recent")
	if recent.Status != WebviewPending || recent.ReconnectsAccountID != "ca_1" {
		t.Errorf("recent webview = %+v, want pending, reconnecting ca_1", recent)
	}
	if b, _ := db.ConnectWebviewForUser(ctx, bob.ID, "cw_bob"); b.Status != WebviewPending {
		t.Errorf("bob's webview = %+v, want untouched", b)
	}
	if n, err := db.ExpireConnectWebviews(ctx, alice.ID, now.Add(-time.Hour), now); err != nil || n != 0 {
		t.Errorf("second ExpireConnectWebviews = %d, %v; want 0", n, err)
	}
}

func TestRemoveConnectedAccount(t *testing.T) { pgtest.EachDialect(t, testRemoveConnectedAccount) }

// testRemoveConnectedAccount: the ownership record, the account's devices and the audit
// go together; another user's account is not found and nothing changes.
func testRemoveConnectedAccount(t *testing.T) {
	ctx := t.Context()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, a := range []ConnectedAccount{{ID: "a1", UserID: alice.ID}, {ID: "a2", UserID: alice.ID}, {ID: "b1", UserID: bob.ID}} {
		if err := db.RecordConnectedAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	dev := func(id, user, account string) DeviceCopy {
		return DeviceCopy{ID: id, UserID: user, ConnectedAccountID: account, Device: []byte(`{"device_id":"` + id + `"}`), StateAt: t0}
	}
	if err := db.SyncDevices(ctx, alice.ID, []string{"a1", "a2"}, []DeviceCopy{dev("d1", alice.ID, "a1"), dev("d2", alice.ID, "a2")}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncDevices(ctx, bob.ID, []string{"b1"}, []DeviceCopy{dev("d9", bob.ID, "b1")}, t0); err != nil {
		t.Fatal(err)
	}
	audit := AuditEvent{ActorID: alice.ID, SubjectUserID: alice.ID, Action: AuditAccountRemoved, Outcome: OutcomeSuccess, Detail: "August jane@example.com", At: t0}
	if err := db.RemoveConnectedAccount(ctx, alice.ID, "b1", audit); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing bob's account as alice: %v, want ErrNotFound", err)
	}
	if err := db.RemoveConnectedAccount(ctx, alice.ID, "a1", audit); err != nil {
		t.Fatal(err)
	}
	if owns, _ := db.UserOwnsConnectedAccount(ctx, alice.ID, "a1"); owns {
		t.Error("alice still owns the removed account")
	}
	devices, err := db.UserDevices(ctx, alice.ID)
	if err != nil || len(devices) != 1 || devices[0].ID != "d2" {
		t.Errorf("alice's copy after removal = %+v, %v; want only d2", devices, err)
	}
	if bobs, _ := db.UserDevices(ctx, bob.ID); len(bobs) != 1 {
		t.Errorf("bob's copy = %+v, want d9 untouched", bobs)
	}
	if n := countAudit(t, db, alice.ID, AuditAccountRemoved); n != 1 {
		t.Errorf("%d account.removed events, want 1", n)
	}
}
