package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestUpsertUserAtLoginCreatesOnceAndRefreshes(t *testing.T) {
	pgtest.EachDialect(t, testUpsertUserAtLoginCreatesOnceAndRefreshes)
}

func testUpsertUserAtLoginCreatesOnceAndRefreshes(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	first := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	u1, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "s1", Email: "old@example.test", Name: "Old"}, first)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := uuid.Parse(u1.ID)
	if err != nil || parsed.Version() != 4 || parsed.String() != u1.ID {
		t.Errorf("id %q is not a canonical random UUID (err %v)", u1.ID, err)
	}
	wantFirst := first.UTC().Truncate(time.Microsecond)
	if !u1.CreatedAt.Equal(wantFirst) || u1.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", u1.CreatedAt, wantFirst)
	}

	second := first.Add(time.Hour)
	u2, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "s1", Email: "new@example.test", EmailVerified: true, Name: "New", IsAdmin: true}, second)
	if err != nil {
		t.Fatal(err)
	}
	want := User{
		ID: u1.ID, Issuer: "https://idp.test", Subject: "s1", Email: "new@example.test", EmailVerified: true,
		Name: "New", IsAdmin: true, CreatedAt: wantFirst, LastLoginAt: second.UTC().Truncate(time.Microsecond),
	}
	if u2 != want {
		t.Errorf("after second login\n got %+v\nwant %+v", u2, want)
	}
	got, err := db.UserByID(ctx, u1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("UserByID\n got %+v\nwant %+v", got, want)
	}

	// Admin status is re-evaluated at every login, so it can also be lost.
	u3, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://idp.test", Subject: "s1", Email: "new@example.test"}, second)
	if err != nil {
		t.Fatal(err)
	}
	if u3.IsAdmin || u3.EmailVerified {
		t.Errorf("admin/verified not cleared by a later login: %+v", u3)
	}

	// The same subject at another issuer is another person.
	other, err := db.UpsertUserAtLogin(ctx, Login{Issuer: "https://other.test", Subject: "s1"}, second)
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == u1.ID {
		t.Error("same subject at another issuer got the same user id")
	}
	users, err := db.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Errorf("%d users, want 2", len(users))
	}
}

func TestUpsertUserAtLoginRequiresIssuerAndSubject(t *testing.T) {
	pgtest.EachDialect(t, testUpsertUserAtLoginRequiresIssuerAndSubject)
}

func testUpsertUserAtLoginRequiresIssuerAndSubject(t *testing.T) {
	db := newTestDB(t)
	for _, l := range []Login{{Issuer: "https://idp.test"}, {Subject: "s"}} {
		if _, err := db.UpsertUserAtLogin(context.Background(), l, time.Now()); err == nil {
			t.Errorf("UpsertUserAtLogin(%+v) succeeded", l)
		}
	}
}

func TestUserByIDNotFound(t *testing.T) { pgtest.EachDialect(t, testUserByIDNotFound) }

func testUserByIDNotFound(t *testing.T) {
	db := newTestDB(t)
	if _, err := db.UserByID(context.Background(), uuid.NewString()); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestListUsersCountsAccountsAndDevices(t *testing.T) {
	pgtest.EachDialect(t, testListUsersCountsAccountsAndDevices)
}

func testListUsersCountsAccountsAndDevices(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	bob := newUser(t, db, "bob", "bob@example.test")
	alice := newUser(t, db, "alice", "Alice@example.test")
	carol := newUser(t, db, "carol", "carol@example.test")
	for _, a := range []ConnectedAccount{
		{ID: "ca1", UserID: alice.ID, DeviceCount: 3},
		{ID: "ca2", UserID: alice.ID, DeviceCount: 2},
		{ID: "ca3", UserID: bob.ID, DeviceCount: 0},
	} {
		if err := db.RecordConnectedAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id               string
		devices, account int
	}
	want := []row{{alice.ID, 5, 2}, {bob.ID, 0, 1}, {carol.ID, 0, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d users, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := row{got[i].ID, got[i].DeviceCount, got[i].AccountCount}
		if g != w {
			t.Errorf("row %d (%s) = %+v, want %+v", i, got[i].Email, g, w)
		}
	}
}
