package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConnectWebviewLifecycle(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"cw_old", "cw_new"} {
		if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: id, UserID: alice.ID, URL: "https://connect.test/" + id, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := db.ConnectWebviewForUser(ctx, alice.ID, "cw_old")
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != WebviewPending || w.URL != "https://connect.test/cw_old" || !w.UpdatedAt.Equal(t0) {
		t.Errorf("created webview = %+v", w)
	}

	t1 := t0.Add(time.Hour)
	if err := db.UpdateConnectWebview(ctx, "cw_old", WebviewAuthorized, "ca_1", "", "", t1); err != nil {
		t.Fatal(err)
	}
	// A later update without an account id keeps the recorded one.
	if err := db.UpdateConnectWebview(ctx, "cw_old", WebviewAuthorized, "", "", "", t1); err != nil {
		t.Fatal(err)
	}
	w, err = db.ConnectWebviewForUser(ctx, alice.ID, "cw_old")
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != WebviewAuthorized || w.ConnectedAccountID != "ca_1" || !w.UpdatedAt.Equal(t1) || !w.CreatedAt.Equal(t0) {
		t.Errorf("updated webview = %+v", w)
	}
	if err := db.UpdateConnectWebview(ctx, "cw_new", WebviewFailed, "", "login_failed", "Bad password", t1); err != nil {
		t.Fatal(err)
	}

	list, err := db.ListConnectWebviews(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "cw_new" || list[1].ID != "cw_old" {
		t.Fatalf("ListConnectWebviews = %+v, want cw_new then cw_old", list)
	}
	if list[0].ErrorCode != "login_failed" || list[0].ErrorMessage != "Bad password" || list[0].ConnectedAccountID != "" {
		t.Errorf("failed webview = %+v", list[0])
	}
}

func TestConnectWebviewErrors(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	mallory := newUser(t, db, "mallory", "mallory@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_a", UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}

	_, errOther := db.ConnectWebviewForUser(ctx, mallory.ID, "cw_a")
	_, errMissing := db.ConnectWebviewForUser(ctx, mallory.ID, "cw_missing")
	if !errors.Is(errOther, ErrNotFound) || !errors.Is(errMissing, ErrNotFound) {
		t.Errorf("another user's webview: %v; missing: %v; want ErrNotFound for both", errOther, errMissing)
	}
	if list, _ := db.ListConnectWebviews(ctx, mallory.ID); len(list) != 0 {
		t.Errorf("mallory lists %d webviews, want 0", len(list))
	}
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_a", UserID: mallory.ID}); !errors.Is(err, ErrConflict) {
		t.Errorf("re-creating cw_a for mallory: err = %v, want ErrConflict", err)
	}
	if w, err := db.ConnectWebviewForUser(ctx, alice.ID, "cw_a"); err != nil || w.UserID != alice.ID {
		t.Errorf("cw_a after conflict: %+v, %v", w, err)
	}
	if err := db.UpdateConnectWebview(ctx, "cw_missing", WebviewAuthorized, "", "", "", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("updating a missing webview: err = %v, want ErrNotFound", err)
	}
	if err := db.UpdateConnectWebview(ctx, "cw_a", "done", "", "", "", time.Now()); err == nil {
		t.Error("updating to an unknown status succeeded")
	}
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_x", UserID: "no-such-user"}); err == nil {
		t.Error("creating a webview for an unknown user succeeded (foreign keys off?)")
	}
}

func TestRecordConnectedAccountOwnership(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	mallory := newUser(t, db, "mallory", "mallory@example.test")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	if err := db.RecordConnectedAccount(ctx, ConnectedAccount{ID: "ca_1", UserID: alice.ID, ConnectWebviewID: "cw_1", DeviceCount: 2, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// Recording again for the same owner is fine and refreshes the count.
	if err := db.RecordConnectedAccount(ctx, ConnectedAccount{ID: "ca_1", UserID: alice.ID, ConnectWebviewID: "cw_1", DeviceCount: 4, CreatedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("re-recording for the owner: %v", err)
	}
	// Another user's claim is refused and changes nothing.
	err := db.RecordConnectedAccount(ctx, ConnectedAccount{ID: "ca_1", UserID: mallory.ID, ConnectWebviewID: "cw_m", DeviceCount: 9})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("mallory claiming ca_1: err = %v, want ErrConflict", err)
	}

	for _, tt := range []struct {
		user, account string
		want          bool
	}{
		{alice.ID, "ca_1", true},
		{mallory.ID, "ca_1", false},
		{alice.ID, "ca_unknown", false},
		{"", "ca_1", false},
	} {
		got, err := db.UserOwnsConnectedAccount(ctx, tt.user, tt.account)
		if err != nil || got != tt.want {
			t.Errorf("UserOwnsConnectedAccount(%q, %q) = %v, %v; want %v", tt.user, tt.account, got, err, tt.want)
		}
	}
	accounts, err := db.ConnectedAccountsForUser(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := ConnectedAccount{ID: "ca_1", UserID: alice.ID, ConnectWebviewID: "cw_1", DeviceCount: 4, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	if len(accounts) != 1 || accounts[0] != want {
		t.Errorf("alice's accounts = %+v, want [%+v]", accounts, want)
	}
	if accounts, _ := db.ConnectedAccountsForUser(ctx, mallory.ID); len(accounts) != 0 {
		t.Errorf("mallory's accounts = %+v, want none", accounts)
	}
}

func TestSetDeviceCountsOnlyTouchesTheUsersAccounts(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	bob := newUser(t, db, "bob", "bob@example.test")
	for _, a := range []ConnectedAccount{{ID: "ca_a", UserID: alice.ID, DeviceCount: 1}, {ID: "ca_b", UserID: bob.ID, DeviceCount: 1}} {
		if err := db.RecordConnectedAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetDeviceCounts(ctx, alice.ID, map[string]int{"ca_a": 7, "ca_b": 99, "ca_none": 3}, time.Now()); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, u := range []User{alice, bob} {
		accounts, err := db.ConnectedAccountsForUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts {
			counts[a.ID] = a.DeviceCount
		}
	}
	if counts["ca_a"] != 7 || counts["ca_b"] != 1 || len(counts) != 2 {
		t.Errorf("device counts = %v, want ca_a:7 ca_b:1", counts)
	}
}
