package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestConnectWebviewLifecycle(t *testing.T) { pgtest.EachDialect(t, testConnectWebviewLifecycle) }

func testConnectWebviewLifecycle(t *testing.T) {
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
	if _, _, err := db.FinishConnectWebview(ctx, WebviewEnd{WebviewID: "cw_old", UserID: alice.ID, Status: WebviewAuthorized,
		ConnectedAccountID: "ca_1", At: t1, Audit: AuditEvent{Action: AuditConnectCompleted, Outcome: OutcomeSuccess}}); err != nil {
		t.Fatal(err)
	}
	w, err = db.ConnectWebviewForUser(ctx, alice.ID, "cw_old")
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != WebviewAuthorized || w.ConnectedAccountID != "ca_1" || !w.UpdatedAt.Equal(t1) || !w.CreatedAt.Equal(t0) {
		t.Errorf("updated webview = %+v", w)
	}
	if _, _, err := db.FinishConnectWebview(ctx, WebviewEnd{WebviewID: "cw_new", UserID: alice.ID, Status: WebviewFailed,
		ErrorCode: "login_failed", ErrorMessage: "Bad password", At: t1, Audit: AuditEvent{Action: AuditConnectFailed, Outcome: OutcomeFailure}}); err != nil {
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

func TestConnectWebviewErrors(t *testing.T) { pgtest.EachDialect(t, testConnectWebviewErrors) }

func testConnectWebviewErrors(t *testing.T) {
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
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_x", UserID: "no-such-user"}); err == nil {
		t.Error("creating a webview for an unknown user succeeded (foreign keys off?)")
	}
}

func TestRecordConnectedAccountOwnership(t *testing.T) {
	pgtest.EachDialect(t, testRecordConnectedAccountOwnership)
}

func testRecordConnectedAccountOwnership(t *testing.T) {
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
	pgtest.EachDialect(t, testSetDeviceCountsOnlyTouchesTheUsersAccounts)
}

func testSetDeviceCountsOnlyTouchesTheUsersAccounts(t *testing.T) {
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

// finishEnd is alice's webview cw_1 ending authorized with account ca_1.
func finishEnd(userID string) WebviewEnd {
	return WebviewEnd{
		WebviewID: "cw_1", UserID: userID, Status: WebviewAuthorized, ConnectedAccountID: "ca_1", DeviceCount: 3,
		At:    time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC),
		Audit: AuditEvent{ActorID: userID, SubjectUserID: userID, Action: AuditConnectCompleted, Outcome: OutcomeSuccess, Detail: "account ca_1, 3 locks"},
	}
}

// failEnd is the user's webview cw_1 ending failed: the user cancelled.
func failEnd(userID string) WebviewEnd {
	return WebviewEnd{
		WebviewID: "cw_1", UserID: userID, Status: WebviewFailed, ErrorCode: "user_cancelled", ErrorMessage: "Cancelled",
		Audit: AuditEvent{ActorID: userID, SubjectUserID: userID, Action: AuditConnectFailed, Outcome: OutcomeFailure, Detail: "webview cw_1 user_cancelled"},
	}
}

// countAudit counts the user's audit events of action.
func countAudit(t *testing.T, db *DB, userID, action string) int {
	t.Helper()
	events, _, err := db.ListAudit(context.Background(), AuditQuery{UserID: userID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestFinishConnectWebviewEndsAPendingWebviewOnce(t *testing.T) {
	pgtest.EachDialect(t, testFinishConnectWebviewEndsAPendingWebviewOnce)
}

func testFinishConnectWebviewEndsAPendingWebviewOnce(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_1", UserID: alice.ID, URL: "https://connect.test/cw_1"}); err != nil {
		t.Fatal(err)
	}
	end := finishEnd(alice.ID)
	wv, changed, err := db.FinishConnectWebview(ctx, end)
	if err != nil || !changed {
		t.Fatalf("first finish: changed %v, err %v; want changed", changed, err)
	}
	if wv.Status != WebviewAuthorized || wv.ConnectedAccountID != "ca_1" || !wv.UpdatedAt.Equal(end.At) {
		t.Errorf("finished webview = %+v", wv)
	}
	accounts, err := db.ConnectedAccountsForUser(ctx, alice.ID)
	if err != nil || len(accounts) != 1 || accounts[0].ID != "ca_1" || accounts[0].ConnectWebviewID != "cw_1" || accounts[0].DeviceCount != 3 {
		t.Errorf("alice's accounts = %+v, %v; want ca_1 from cw_1 with 3 devices", accounts, err)
	}
	events, _, err := db.ListAudit(ctx, AuditQuery{UserID: alice.ID})
	if err != nil || len(events) != 1 || events[0].Detail != end.Audit.Detail || !events[0].At.Equal(end.At) {
		t.Errorf("audit = %+v, %v; want the one connect.completed event at the end time", events, err)
	}

	// Repeating it, or ending it otherwise, changes nothing and returns the record.
	for _, again := range []WebviewEnd{
		end,
		failEnd(alice.ID),
		{WebviewID: "cw_1", UserID: alice.ID, Status: WebviewAuthorized, ConnectedAccountID: "ca_2",
			Audit: AuditEvent{Action: AuditConnectCompleted, Outcome: OutcomeSuccess}},
	} {
		wv, changed, err := db.FinishConnectWebview(ctx, again)
		if err != nil || changed {
			t.Errorf("finishing again as %s: changed %v, err %v; want unchanged", again.Status, changed, err)
		}
		if wv.Status != WebviewAuthorized || wv.ConnectedAccountID != "ca_1" || wv.ErrorCode != "" {
			t.Errorf("finishing again as %s returned %+v, want the authorized record", again.Status, wv)
		}
	}
	if got := countAudit(t, db, alice.ID, AuditConnectCompleted); got != 1 {
		t.Errorf("%d connect.completed events after finishing again, want 1", got)
	}
	if accounts, _ := db.ConnectedAccountsForUser(ctx, alice.ID); len(accounts) != 1 {
		t.Errorf("alice has %d accounts after finishing again, want 1", len(accounts))
	}
}

func TestFinishConnectWebviewFailed(t *testing.T) {
	pgtest.EachDialect(t, testFinishConnectWebviewFailed)
}

func testFinishConnectWebviewFailed(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_1", UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}
	wv, changed, err := db.FinishConnectWebview(ctx, failEnd(alice.ID))
	if err != nil || !changed || wv.Status != WebviewFailed || wv.ErrorCode != "user_cancelled" || wv.ErrorMessage != "Cancelled" {
		t.Fatalf("failing cw_1 = %+v, changed %v, %v", wv, changed, err)
	}
	// A failed webview never becomes authorized later.
	wv, changed, err = db.FinishConnectWebview(ctx, finishEnd(alice.ID))
	if err != nil || changed || wv.Status != WebviewFailed {
		t.Errorf("authorizing the failed cw_1 = %+v, changed %v, %v; want it left failed", wv, changed, err)
	}
	if accounts, _ := db.ConnectedAccountsForUser(ctx, alice.ID); len(accounts) != 0 {
		t.Errorf("alice has %d accounts from a failed webview, want 0", len(accounts))
	}
	if got := countAudit(t, db, alice.ID, AuditConnectFailed); got != 1 {
		t.Errorf("%d connect.failed events, want 1", got)
	}
	if got := countAudit(t, db, alice.ID, AuditConnectCompleted); got != 0 {
		t.Errorf("%d connect.completed events, want 0", got)
	}
}

func TestFinishConnectWebviewRefusals(t *testing.T) {
	pgtest.EachDialect(t, testFinishConnectWebviewRefusals)
}

func testFinishConnectWebviewRefusals(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	mallory := newUser(t, db, "mallory", "mallory@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_1", UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordConnectedAccount(ctx, ConnectedAccount{ID: "ca_1", UserID: mallory.ID, ConnectWebviewID: "cw_m"}); err != nil {
		t.Fatal(err)
	}

	// Mallory owns ca_1: alice's webview cannot end with it, and nothing changes.
	if _, changed, err := db.FinishConnectWebview(ctx, finishEnd(alice.ID)); !errors.Is(err, ErrConflict) || changed {
		t.Errorf("finishing with mallory's account: changed %v, err %v; want ErrConflict", changed, err)
	}
	// Mallory cannot end alice's webview; nobody can end a missing one.
	missing := finishEnd(alice.ID)
	missing.WebviewID = "cw_missing"
	for name, end := range map[string]WebviewEnd{"mallory on alice's": finishEnd(mallory.ID), "missing": missing} {
		if _, changed, err := db.FinishConnectWebview(ctx, end); !errors.Is(err, ErrNotFound) || changed {
			t.Errorf("%s webview: changed %v, err %v; want ErrNotFound", name, changed, err)
		}
	}
	if wv, err := db.ConnectWebviewForUser(ctx, alice.ID, "cw_1"); err != nil || wv.Status != WebviewPending || wv.ConnectedAccountID != "" {
		t.Errorf("cw_1 after the refusals = %+v, %v; want it still pending", wv, err)
	}
	if accounts, _ := db.ConnectedAccountsForUser(ctx, alice.ID); len(accounts) != 0 {
		t.Errorf("alice has accounts %+v, want none", accounts)
	}
	if owns, _ := db.UserOwnsConnectedAccount(ctx, mallory.ID, "ca_1"); !owns {
		t.Error("ca_1 no longer mallory's")
	}
	if events, _, _ := db.ListAudit(ctx, AuditQuery{}); len(events) != 0 {
		t.Errorf("refusals appended audit events %+v", events)
	}

	for _, bad := range []WebviewEnd{
		{WebviewID: "cw_1", UserID: alice.ID, Status: WebviewPending},
		{WebviewID: "cw_1", UserID: alice.ID, Status: WebviewAuthorized},
		{WebviewID: "cw_1", Status: WebviewFailed},
	} {
		if _, _, err := db.FinishConnectWebview(ctx, bad); err == nil {
			t.Errorf("FinishConnectWebview(%+v) succeeded", bad)
		}
	}
}

// TestFinishConnectWebviewConcurrently: many requests, on two instances sharing the
// database, finish the same webview at once; exactly one ends it and audits.
func TestFinishConnectWebviewConcurrently(t *testing.T) {
	pgtest.EachDialect(t, testFinishConnectWebviewConcurrently)
}

func testFinishConnectWebviewConcurrently(t *testing.T) {
	ctx := context.Background()
	instances := newTestDBs(t, 2)
	db := instances[0]
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_1", UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}

	const n = 40
	var wg sync.WaitGroup
	var changes atomic.Int32
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			end := finishEnd(alice.ID)
			if i%3 == 0 {
				end = failEnd(alice.ID)
			}
			wv, changed, err := instances[i%2].FinishConnectWebview(ctx, end)
			if err != nil {
				t.Errorf("finish %d: %v", i, err)
				return
			}
			if wv.Status == WebviewPending {
				t.Errorf("finish %d returned a pending webview", i)
			}
			if changed {
				changes.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()

	if got := changes.Load(); got != 1 {
		t.Errorf("%d calls ended the webview, want 1", got)
	}
	wv, err := db.ConnectWebviewForUser(ctx, alice.ID, "cw_1")
	if err != nil {
		t.Fatal(err)
	}
	completed, failed := countAudit(t, db, alice.ID, AuditConnectCompleted), countAudit(t, db, alice.ID, AuditConnectFailed)
	accounts, _ := db.ConnectedAccountsForUser(ctx, alice.ID)
	switch wv.Status {
	case WebviewAuthorized:
		if completed != 1 || failed != 0 || len(accounts) != 1 {
			t.Errorf("authorized: %d connect.completed, %d connect.failed, %d accounts; want 1, 0, 1", completed, failed, len(accounts))
		}
	case WebviewFailed:
		if completed != 0 || failed != 1 || len(accounts) != 0 {
			t.Errorf("failed: %d connect.completed, %d connect.failed, %d accounts; want 0, 1, 0", completed, failed, len(accounts))
		}
	default:
		t.Errorf("webview ended %q", wv.Status)
	}
}

// TestFinishConnectWebviewCompletedOnce: every concurrent call completes it the same
// way; exactly one connect.completed audit row and one ownership row result.
func TestFinishConnectWebviewCompletedOnce(t *testing.T) {
	pgtest.EachDialect(t, testFinishConnectWebviewCompletedOnce)
}

func testFinishConnectWebviewCompletedOnce(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	alice := newUser(t, db, "alice", "alice@example.test")
	if err := db.CreateConnectWebview(ctx, ConnectWebview{ID: "cw_1", UserID: alice.ID}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var changes atomic.Int32
	for range 30 {
		wg.Go(func() {
			wv, changed, err := db.FinishConnectWebview(ctx, finishEnd(alice.ID))
			if err != nil || wv.Status != WebviewAuthorized || wv.ConnectedAccountID != "ca_1" {
				t.Errorf("finish = %+v, %v", wv, err)
			}
			if changed {
				changes.Add(1)
			}
		})
	}
	wg.Wait()
	if got := changes.Load(); got != 1 {
		t.Errorf("%d calls ended the webview, want 1", got)
	}
	if got := countAudit(t, db, alice.ID, AuditConnectCompleted); got != 1 {
		t.Errorf("%d connect.completed events, want 1", got)
	}
	var rows int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM connected_accounts WHERE id = 'ca_1'`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d ownership rows for ca_1 (%v), want 1", rows, err)
	}
}
