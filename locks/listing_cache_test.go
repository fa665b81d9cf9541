package locks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"
)

// countingCopy counts the listing queries that reach the database.
type countingCopy struct {
	locks.CopyStore
	listings atomic.Int64
}

func (c *countingCopy) UserDeviceListing(ctx context.Context, userID string, latestSince, countSince time.Time) (store.DeviceListing, error) {
	c.listings.Add(1)
	return c.CopyStore.UserDeviceListing(ctx, userID, latestSince, countSince)
}

// session signs the user in on db and returns how a page request loads them: with
// their session, which brings their listing version.
func session(t *testing.T, db *store.DB, userID string) func() store.User {
	t.Helper()
	token := "t-" + uuid.NewString()
	b, err := (store.SessionCodec{}).Encode(time.Now().Add(time.Hour), map[string]any{store.SessionUserKey: userID})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Sessions().CommitCtx(t.Context(), token, b, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return func() store.User {
		ctx := store.WithSessionUserSlot(context.Background())
		if _, found, err := db.Sessions().FindCtx(ctx, token); err != nil || !found {
			panic(fmt.Sprintf("FindCtx = %v, %v", found, err))
		}
		u, ok := store.SessionUser(ctx)
		if !ok || u.ID != userID {
			panic(fmt.Sprintf("SessionUser = %+v, %v", u, ok))
		}
		return u
	}
}

// listingEnv is an env whose service counts its listing queries, with alice and two
// copied devices.
type listingEnv struct {
	*env
	copies      *countingCopy
	alice       store.User
	front, back string
	load        func() store.User
}

func newListingEnv(t *testing.T) *listingEnv {
	t.Helper()
	e := newEnv(t)
	l := &listingEnv{env: e, copies: &countingCopy{CopyStore: e.db}}
	e.svc.Copy = l.copies
	var account string
	l.alice, account = e.customer(t, "alice")
	l.front = e.seam.addDevice(l.alice.ID, account, "Front door")
	l.back = e.seam.addDevice(l.alice.ID, account, "Back door")
	l.load = session(t, e.db, l.alice.ID)
	// The first view syncs the copy.
	if got := l.list(t, l.load()); len(got.Devices) != 2 {
		t.Fatalf("first list: %d devices, want 2", len(got.Devices))
	}
	return l
}

func (l *listingEnv) since() time.Time { return l.clock.Now().Add(-5 * time.Minute) }

func (l *listingEnv) list(t *testing.T, u store.User) locks.DeviceList {
	t.Helper()
	got, err := l.svc.DeviceList(t.Context(), u, l.since())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fresh is the list read from the database: version 0 is never cached.
func (l *listingEnv) fresh(t *testing.T) locks.DeviceList {
	t.Helper()
	return l.list(t, store.User{ID: l.alice.ID})
}

// queries returns how many listing queries f made.
func (l *listingEnv) queries(f func()) int64 {
	n := l.copies.listings.Load()
	f()
	return l.copies.listings.Load() - n
}

// act records a finished action of alice's created at the given time.
func (l *listingEnv) act(t *testing.T, db *store.DB, deviceID string, at time.Time) store.ActionAttempt {
	t.Helper()
	a, err := db.BeginAction(t.Context(), store.NewAction{
		Attempt: store.ActionAttempt{ID: uuid.NewString(), UserID: l.alice.ID, DeviceID: deviceID, Action: store.ActionUnlock, CreatedAt: at},
		Limit:   100, Window: time.Minute,
		Audit: store.AuditEvent{ActorID: l.alice.ID, SubjectUserID: l.alice.ID, Action: store.AuditDeviceUnlockRequested,
			DeviceID: deviceID, Outcome: store.OutcomeSuccess},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err = db.TransitionAction(t.Context(), store.Transition{ID: a.ID, From: []string{store.AttemptRequested}, To: store.AttemptSuccess, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rename changes a device's name in the copy, as an event or a rename would.
func rename(t testing.TB, db *store.DB, deviceID, name string) {
	t.Helper()
	err := db.UpdateDevice(context.Background(), deviceID, func(c store.DeviceCopy) ([]byte, time.Time, error) {
		var d map[string]any
		if err := json.Unmarshal(c.Device, &d); err != nil {
			return nil, time.Time{}, err
		}
		d["display_name"] = name
		b, err := json.Marshal(d)
		return b, c.StateAt, err
	})
	if err != nil {
		t.Error(err)
	}
}

func name(l locks.DeviceList, deviceID string) string {
	for _, d := range l.Devices {
		if d.DeviceID == deviceID {
			return d.DisplayName
		}
	}
	return ""
}

func sameList(t *testing.T, what string, got, want locks.DeviceList) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v (read afresh)", what, got, want)
	}
}

func TestDeviceListCache(t *testing.T) { pgtest.EachDialect(t, testDeviceListCache) }

// On SQLite a page whose session brings the same listing version reads no listing,
// and gets what a fresh read gives; after any change the session brings a new version
// and the page shows the change. On PostgreSQL the version is unknown and every page
// reads.
func testDeviceListCache(t *testing.T) {
	l := newListingEnv(t)
	postgres := pgtest.Postgres(t)
	u := l.load()
	if postgres != (u.ListingVersion == 0) {
		t.Fatalf("listing version %d; want 0 exactly on PostgreSQL", u.ListingVersion)
	}
	var first, again locks.DeviceList
	n := l.queries(func() { first, again = l.list(t, u), l.list(t, u) })
	if want := map[bool]int64{false: 1, true: 2}[postgres]; n != want {
		t.Errorf("two views at one version made %d listing queries; want %d", n, want)
	}
	sameList(t, "first view", first, l.fresh(t))
	sameList(t, "second view", again, l.fresh(t))

	a := l.act(t, l.db, l.front, l.clock.Now())
	got := l.list(t, l.load())
	if got.Latest[l.front].ID != a.ID || got.Allowance.Left != 9 {
		t.Errorf("after an action: latest %+v, allowance %+v; want the action, 9 left", got.Latest, got.Allowance)
	}
	sameList(t, "after an action", got, l.fresh(t))

	rename(t, l.db, l.back, "Garden gate")
	got = l.list(t, l.load())
	if name(got, l.back) != "Garden gate" {
		t.Errorf("after a rename: %+v", got.Devices)
	}
	sameList(t, "after a rename", got, l.fresh(t))
}

func TestDeviceListCacheAsTimePasses(t *testing.T) {
	pgtest.EachDialect(t, testDeviceListCacheAsTimePasses)
}

// A cached listing gives, at every moment, what a fresh read gives then: actions leave
// the limit's window (the allowance grows back) and the page's window (the latest
// action goes); only those moments cost a query. A clock set back reads afresh.
func testDeviceListCacheAsTimePasses(t *testing.T) {
	l := newListingEnv(t)
	l.svc.ActionsPerMinute = 3
	now := l.clock.Now()
	for _, ago := range []time.Duration{50 * time.Second, 30 * time.Second, 10 * time.Second} {
		l.act(t, l.db, l.front, now.Add(-ago))
	}
	u := l.load()
	first := l.list(t, u)
	if !first.Allowance.Spent() || first.Allowance.RetryAfter != 10*time.Second || len(first.Latest) != 1 {
		t.Fatalf("at first: allowance %+v, latest %+v; want spent for 10s, the last action", first.Allowance, first.Latest)
	}
	var queries int64
	var grew, gone bool
	prev := first
	for step := range 40 { // 150s in steps of 5s, then 300s in steps of 30s
		if step < 30 {
			l.clock.Advance(5 * time.Second)
		} else {
			l.clock.Advance(30 * time.Second)
		}
		var got locks.DeviceList
		queries += l.queries(func() { got = l.list(t, u) })
		sameList(t, fmt.Sprintf("at %v", l.clock.Now().Sub(now)), got, l.fresh(t))
		grew = grew || got.Allowance.Left > prev.Allowance.Left
		gone = gone || (len(prev.Latest) == 1 && len(got.Latest) == 0)
		prev = got
	}
	if !grew || !gone {
		t.Errorf("over the steps: allowance grew back %v, latest action left the window %v; want both", grew, gone)
	}
	// One query when each action leaves the limit's window (the count read then holds
	// until the next leaves); the page's window is applied to the listing as read.
	if want := map[bool]int64{false: 3, true: 40}[pgtest.Postgres(t)]; queries != want {
		t.Errorf("%d listing queries over 40 views; want %d", queries, want)
	}

	l.clock.Advance(-l.clock.Now().Sub(now))
	sameList(t, "with the clock set back", l.list(t, u), l.fresh(t))
	if got := l.list(t, u); !got.Allowance.Spent() {
		t.Errorf("with the clock set back: allowance %+v; want spent again", got.Allowance)
	}
}

func TestDeviceListSeesAnotherHandle(t *testing.T) {
	pgtest.EachDialect(t, testDeviceListSeesAnotherHandle)
}

// A change another handle on the database makes (another process on the SQLite file,
// another instance on PostgreSQL) shows on the next page.
func testDeviceListSeesAnotherHandle(t *testing.T) {
	l := newListingEnv(t)
	other, err := store.Open(t.Context(), l.url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l.list(t, l.load())
	l.list(t, l.load())

	rename(t, other, l.front, "Porch")
	a := l.act(t, other, l.back, l.clock.Now())
	got := l.list(t, l.load())
	if name(got, l.front) != "Porch" || got.Latest[l.back].ID != a.ID {
		t.Errorf("after another handle's writes: devices %+v, latest %+v", got.Devices, got.Latest)
	}
	sameList(t, "after another handle's writes", got, l.fresh(t))
}

func TestDeviceListCacheUnderConcurrentWrites(t *testing.T) {
	pgtest.EachDialect(t, testDeviceListCacheUnderConcurrentWrites)
}

// Pages read while devices and actions change: a page never shows a name older than
// one an earlier page of the same reader showed, and once the writes end every page
// shows the end state.
func testDeviceListCacheUnderConcurrentWrites(t *testing.T) {
	l := newListingEnv(t)
	const renames, readers, views = 30, 8, 25
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; i <= renames; i++ {
			rename(t, l.db, l.front, fmt.Sprintf("Front %03d", i))
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 10 {
			if _, err := l.db.BeginAction(context.Background(), store.NewAction{
				Attempt: store.ActionAttempt{ID: uuid.NewString(), UserID: l.alice.ID, DeviceID: l.back, Action: store.ActionLock,
					CreatedAt: l.clock.Now().Add(time.Duration(i) * time.Millisecond)},
				Limit: 100, Window: time.Minute,
				Audit: store.AuditEvent{ActorID: l.alice.ID, Action: store.AuditDeviceLockRequested, Outcome: store.OutcomeSuccess},
			}); err != nil {
				t.Error(err)
				return
			}
			if _, err := l.db.ClaimOpenActions(context.Background(), l.clock.Now(), l.clock.Now().Add(time.Minute), 10); err != nil {
				t.Error(err)
			}
			for _, a := range must(l.db.LatestActionAttempts(context.Background(), l.alice.ID, l.back, 1)) {
				if _, _, err := l.db.TransitionAction(context.Background(), store.Transition{ID: a.ID,
					From: []string{store.AttemptRequested}, To: store.AttemptSuccess}); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	// The rename a name is: 0 for the first name.
	renamed := func(name string) int {
		var i int
		fmt.Sscanf(name, "Front %d", &i)
		return i
	}
	for range readers {
		load := session(t, l.db, l.alice.ID)
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for range views {
				got, err := l.svc.DeviceList(context.Background(), load(), l.since())
				if err != nil {
					t.Error(err)
					return
				}
				n := renamed(name(got, l.front))
				if len(got.Devices) != 2 || n < last {
					t.Errorf("a page showed rename %d (%d devices) after rename %d", n, len(got.Devices), last)
				}
				last = n
			}
		}()
	}
	wg.Wait()
	got := l.list(t, l.load())
	if name(got, l.front) != fmt.Sprintf("Front %03d", renames) || got.Allowance.Left != 0 {
		t.Errorf("at the end: %q, allowance %+v; want the last name, 10 actions counted", name(got, l.front), got.Allowance)
	}
	sameList(t, "at the end", got, l.fresh(t))
}
