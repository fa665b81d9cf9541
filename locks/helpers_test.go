package locks_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// clock is a settable clock shared by the service and the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeSeam is a Seam double: devices with owners, lock actions that answer after a
// delay that ignores the caller's context (as a remote Seam does once it has the
// request), and action attempts whose status the test sets.
type fakeSeam struct {
	mu       sync.Mutex
	devices  map[string]seam.Device // by device id
	owners   map[string]string      // device id → user_identifier_key
	delay    time.Duration
	answer   func(deviceID string) (*seam.ActionAttempt, error) // nil: pending
	attempts map[string]string                                  // seam attempt id → status
	block    chan struct{}                                      // when set, lock calls wait for it to close
	onList   func()                                             // when set, runs while devices/list is answering

	lockCalls []string // "unlock <device>" / "lock <device>"
	listCalls int
	getCalls  int
}

func newFakeSeam() *fakeSeam {
	return &fakeSeam{devices: map[string]seam.Device{}, owners: map[string]string{}, attempts: map[string]string{}}
}

func (f *fakeSeam) addDevice(userID, accountID, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.NewString()
	f.devices[id] = seam.Device{DeviceID: id, DisplayName: name, ConnectedAccountID: accountID,
		CanRemotelyUnlock: true, CanRemotelyLock: true, Properties: seam.DeviceProperties{Online: true}}
	f.owners[id] = userID
	return id
}

func (f *fakeSeam) List(_ context.Context, p seam.ListDevicesParams) ([]seam.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	if f.onList != nil {
		f.onList()
	}
	var out []seam.Device
	for id, d := range f.devices {
		if f.owners[id] != p.UserIdentifierKey {
			continue
		}
		if len(p.DeviceIDs) > 0 && p.DeviceIDs[0] != id {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeSeam) UnlockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error) {
	return f.door(ctx, "unlock", deviceID)
}

func (f *fakeSeam) LockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error) {
	return f.door(ctx, "lock", deviceID)
}

func (f *fakeSeam) door(_ context.Context, action, deviceID string) (*seam.ActionAttempt, error) {
	f.mu.Lock()
	f.lockCalls = append(f.lockCalls, action+" "+deviceID)
	delay, answer, block := f.delay, f.answer, f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	time.Sleep(delay)
	if answer != nil {
		return answer(deviceID)
	}
	id := uuid.NewString()
	f.mu.Lock()
	f.attempts[id] = seam.StatusPending
	f.mu.Unlock()
	return &seam.ActionAttempt{ActionAttemptID: id, Status: seam.StatusPending}, nil
}

func (f *fakeSeam) Get(_ context.Context, id string) (*seam.ActionAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getCalls++
	st, ok := f.attempts[id]
	if !ok {
		return nil, &seam.Error{Status: 404, Type: "action_attempt_not_found"}
	}
	a := &seam.ActionAttempt{ActionAttemptID: id, Status: st}
	if st == seam.StatusError {
		a.Error = &seam.ActionAttemptError{Type: "lock_jammed", Message: "The bolt is jammed"}
	}
	return a, nil
}

// finishAll makes every attempt Seam holds end with status.
func (f *fakeSeam) finishAll(status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.attempts {
		f.attempts[id] = status
	}
}

func (f *fakeSeam) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lockCalls...)
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// testDatabaseURL is a fresh, migrated database of the test's dialect.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	if !pgtest.Postgres(t) {
		return "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	}
	url := pgtest.URL(t)
	if err := store.Migrate(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	return url
}

// env is a Service over a real database (SQLite file or PostgreSQL) and the Seam double.
type env struct {
	db    *store.DB
	url   string
	seam  *fakeSeam
	clock *clock
	svc   *locks.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := testDatabaseURL(t)
	db, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, url: url, seam: newFakeSeam(), clock: newClock()}
	e.svc = e.service(db)
	return e
}

// service builds a Service on db with the env's Seam and clock.
func (e *env) service(db *store.DB) *locks.Service {
	return &locks.Service{
		Store:            db,
		Copy:             db,
		Seam:             locks.Seam{Devices: e.seam, Locks: e.seam, ActionAttempts: e.seam},
		Log:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:              e.clock.Now,
		ActionsPerMinute: 10,
		SendTimeout:      5 * time.Second,
		RecordTimeout:    5 * time.Second,
		PendingBound:     2 * time.Minute,
	}
}

// customer signs a user in once and records a connected account for them.
func (e *env) customer(t *testing.T, name string) (store.User, string) {
	t.Helper()
	u, err := e.db.UpsertUserAtLogin(t.Context(), store.Login{Issuer: "https://idp.test", Subject: name, Email: name + "@example.test"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	account := "acct-" + name
	if err := e.db.RecordConnectedAccount(t.Context(), store.ConnectedAccount{ID: account, UserID: u.ID, ConnectWebviewID: "wv-" + name}); err != nil {
		t.Fatal(err)
	}
	return u, account
}

// audit returns the audit events of one action, by action name.
func (e *env) audit(t *testing.T, actionID string) map[string]int {
	t.Helper()
	events, _, err := e.db.ListAudit(t.Context(), store.AuditQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range events {
		if ev.ActionAttemptID == actionID {
			out[ev.Action]++
		}
	}
	return out
}

func (e *env) action(t *testing.T, userID, id string) store.ActionAttempt {
	t.Helper()
	a, err := e.db.ActionAttemptForUser(t.Context(), userID, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// must returns v, or panics (failing the test with a stack) on err.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func describe(a store.ActionAttempt) string {
	return fmt.Sprintf("%s %s (%s, seam %q, %q)", a.Action, a.DeviceID, a.Status, a.SeamID, a.Error)
}
