package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func refreshColumns(t *testing.T, db *DB, token string) (refresh string, refreshedAt string, dropped bool) {
	t.Helper()
	var r, at *string
	if err := db.sql.QueryRowContext(t.Context(), `SELECT oidc_refresh_token, CAST(oidc_refreshed_at AS TEXT), oidc_admin_dropped FROM sessions WHERE token = $1`, token).Scan(&r, &at, &dropped); err != nil {
		t.Fatal(err)
	}
	if r != nil {
		refresh = *r
	}
	if at != nil {
		refreshedAt = *at
	}
	return refresh, refreshedAt, dropped
}

func TestSessionRefresh(t *testing.T) { pgtest.EachDialect(t, testSessionRefresh) }

// A sign-in's refresh token goes to its column, never stays in the session's data;
// the refresh is claimed by one of two instances racing (compare-and-swap), only when
// due, and completed only under the lease that claimed it; new claims update the user;
// no ID token drops the session's admin rights; a refusal ends the session, audited.
func testSessionRefresh(t *testing.T) {
	dbs := newTestDBs(t, 2)
	db, other := dbs[0], dbs[1]
	ctx := t.Context()
	ada, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "ada", Email: "ada@example.test", Name: "Ada", IsAdmin: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	blob := mustEncode(t, map[string]any{SessionUserKey: ada.ID, SessionRefreshTokenKey: "rt-1"})
	if err := db.Sessions().CommitCtx(ctx, "tok", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rt, at, _ := refreshColumns(t, db, "tok"); rt != "rt-1" || at == "" {
		t.Fatalf("refresh token column %q, refreshed at %q", rt, at)
	}
	data, _, err := db.Sessions().FindCtx(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if _, values, _ := (SessionCodec{}).Decode(data); values[SessionRefreshTokenKey] != nil {
		t.Error("the refresh token stayed in the session's data")
	}
	// A later save (without the key) keeps the token.
	if err := db.Sessions().CommitCtx(ctx, "tok", mustEncode(t, map[string]any{SessionUserKey: ada.ID}), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rt, _, _ := refreshColumns(t, db, "tok"); rt != "rt-1" {
		t.Errorf("a later save lost the refresh token: %q", rt)
	}

	now := time.Now()
	if _, ok, err := db.ClaimSessionRefresh(ctx, "tok", now, 15*time.Minute, 30*time.Second); err != nil || ok {
		t.Fatalf("claimed a refresh that is not due: %v %v", ok, err)
	}
	later := now.Add(16 * time.Minute)
	var wg sync.WaitGroup
	leases := make(chan RefreshLease, 2)
	for _, d := range []*DB{db, other} {
		wg.Go(func() {
			l, ok, err := d.ClaimSessionRefresh(ctx, "tok", later, 15*time.Minute, 30*time.Second)
			if err != nil {
				t.Error(err)
			}
			if ok {
				leases <- l
			}
		})
	}
	wg.Wait()
	close(leases)
	var won []RefreshLease
	for l := range leases {
		won = append(won, l)
	}
	if len(won) != 1 || won[0].RefreshToken != "rt-1" {
		t.Fatalf("%d instances won the refresh (%+v), want exactly one", len(won), won)
	}
	lease := won[0]
	// Completing under another lease is refused and changes nothing.
	if _, err := other.CompleteSessionRefresh(ctx, RefreshDone{Lease: RefreshLease{SessionToken: "tok", ID: "other"}, At: later, NewRefreshToken: "rt-x"}); !errors.Is(err, ErrRefreshLeaseLost) {
		t.Errorf("completion without the lease: %v", err)
	}
	u, err := db.CompleteSessionRefresh(ctx, RefreshDone{Lease: lease, At: later, NewRefreshToken: "rt-2",
		Claims: &Login{Issuer: "https://idp.test", Subject: "ada", Email: "ada@new.test", Name: "Ada L", IsAdmin: false}})
	if err != nil {
		t.Fatal(err)
	}
	if u.IsAdmin || u.Email != "ada@new.test" || u.Name != "Ada L" {
		t.Errorf("user after refresh: %+v", u)
	}
	if rt, _, _ := refreshColumns(t, db, "tok"); rt != "rt-2" {
		t.Errorf("rotated refresh token not stored: %q", rt)
	}
	// The lease is spent: the old token cannot be claimed or completed again.
	if _, err := db.CompleteSessionRefresh(ctx, RefreshDone{Lease: lease, At: later}); !errors.Is(err, ErrRefreshLeaseLost) {
		t.Errorf("a lease completed twice: %v", err)
	}

	// Admin again at the IdP, then a refresh without an ID token: admin rights dropped
	// for this session only.
	if _, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "ada", Email: "ada@new.test", IsAdmin: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	signedIn(t, db, ada, "tok-2", "ua", "192.0.2.1", time.Now())
	l2, ok, err := other.ClaimSessionRefresh(ctx, "tok", later.Add(16*time.Minute), 15*time.Minute, 30*time.Second)
	if err != nil || !ok || l2.RefreshToken != "rt-2" {
		t.Fatalf("second claim: %+v %v %v", l2, ok, err)
	}
	u, err = other.CompleteSessionRefresh(ctx, RefreshDone{Lease: l2, At: later.Add(16 * time.Minute)})
	if err != nil || u.IsAdmin {
		t.Fatalf("refresh without ID token: %+v, %v", u, err)
	}
	if rt, _, dropped := refreshColumns(t, db, "tok"); rt != "rt-2" || !dropped {
		t.Errorf("after no ID token: token %q (want kept), dropped %v", rt, dropped)
	}
	slot := WithSessionUserSlot(ctx)
	if _, _, err := db.Sessions().FindCtx(slot, "tok"); err != nil {
		t.Fatal(err)
	}
	if su, _ := SessionUser(slot); su.IsAdmin {
		t.Error("the session still loads its user as admin")
	}
	slot2 := WithSessionUserSlot(ctx)
	if _, _, err := db.Sessions().FindCtx(slot2, "tok-2"); err != nil {
		t.Fatal(err)
	}
	if su, _ := SessionUser(slot2); !su.IsAdmin {
		t.Error("another session of the user lost admin rights")
	}

	// A refusal ends the session under its lease, audited.
	l3, ok, err := db.ClaimSessionRefresh(ctx, "tok", later.Add(32*time.Minute), 15*time.Minute, 30*time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if who, err := db.EndRefusedSession(ctx, RefreshLease{SessionToken: "tok", ID: "stale"}, AuditEvent{Action: AuditIdPRefreshRefused, Outcome: OutcomeDenied}); err != nil || who != "" {
		t.Errorf("ended without the lease: %q %v", who, err)
	}
	who, err := db.EndRefusedSession(ctx, l3, AuditEvent{Action: AuditIdPRefreshRefused, Outcome: OutcomeDenied})
	if err != nil || who != ada.ID {
		t.Fatalf("EndRefusedSession: %q %v", who, err)
	}
	if _, found, _ := db.Sessions().FindCtx(ctx, "tok"); found {
		t.Error("the refused session still exists")
	}
}
