package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fakeLocks records what applying events asked of the lock use cases.
type fakeLocks struct {
	mu       sync.Mutex
	synced   []string
	finished []string
}

func (f *fakeLocks) SyncUser(_ context.Context, userID string) ([]seam.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = append(f.synced, userID)
	return nil, nil
}

func (f *fakeLocks) FinishFromEvent(_ context.Context, e seam.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, e.EventID)
	return nil
}

// fakeEvents is Seam's events/list over a fixed set: since/between and limit honoured,
// newest first (or oldest first) like Seam, no page cursor.
type fakeEvents struct {
	mu          sync.Mutex
	events      []seam.Event
	oldestFirst bool
	calls       int
}

func (f *fakeEvents) List(_ context.Context, p seam.ListEventsParams) ([]seam.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var out []seam.Event
	for _, e := range f.events {
		if e.CreatedAt.Before(p.Since) || (!p.Until.IsZero() && !e.CreatedAt.Before(p.Until)) {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b seam.Event) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if f.oldestFirst {
		slices.Reverse(out)
	}
	if p.Limit > 0 && len(out) > p.Limit {
		out = out[:p.Limit]
	}
	return out, nil
}

type env struct {
	db    *store.DB
	svc   *events.Service
	locks *fakeLocks
	seam  *fakeEvents
	now   time.Time
	alice store.User
	bob   store.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	if pgtest.Postgres(t) {
		url = pgtest.URL(t)
		if err := store.Migrate(t.Context(), url); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, locks: &fakeLocks{}, seam: &fakeEvents{}, now: time.Now().UTC().Truncate(time.Millisecond)}
	e.svc = &events.Service{Store: db, Seam: e.seam, Locks: e.locks, Now: func() time.Time { return e.now },
		WebhookSecret: secret, Instance: "test", PollLimit: 5}
	for i, name := range []string{"alice", "bob"} {
		u, err := db.UpsertUserAtLogin(t.Context(), store.Login{Issuer: "https://idp.test", Subject: name}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RecordConnectedAccount(t.Context(), store.ConnectedAccount{ID: "acct-" + name, UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
		locked, online, level := true, true, 0.8
		d := seam.Device{DeviceID: fmt.Sprintf("dev-%s", name), ConnectedAccountID: "acct-" + name,
			Properties: seam.DeviceProperties{Locked: &locked, Online: online, BatteryLevel: &level}}
		b, _ := json.Marshal(d)
		if err := db.SyncDevices(t.Context(), u.ID, []string{"acct-" + name}, []store.DeviceCopy{{ID: d.DeviceID, UserID: u.ID,
			ConnectedAccountID: d.ConnectedAccountID, Device: b, StateAt: e.now.Add(-time.Hour)}}, e.now); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.alice = u
		} else {
			e.bob = u
		}
	}
	return e
}

// deliver signs payload as Seam's Svix does and hands it to Receive.
func (e *env) deliver(t *testing.T, msgID string, at time.Time, payload []byte, key string) error {
	t.Helper()
	wh, err := svix.NewWebhook(key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(msgID, at, payload)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("svix-id", msgID)
	h.Set("svix-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("svix-signature", sig)
	return e.svc.Receive(t.Context(), payload, h)
}

func (e *env) device(t *testing.T, user store.User) seam.Device {
	t.Helper()
	c, err := e.db.UserDevice(t.Context(), user.ID, "dev-"+user.Subject)
	if err != nil {
		t.Fatal(err)
	}
	var d seam.Device
	if err := json.Unmarshal(c.Device, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func event(typ, device, account string, at time.Time, extra map[string]any) []byte {
	m := map[string]any{"event_id": uuid.NewString(), "event_type": typ, "device_id": device,
		"connected_account_id": account, "occurred_at": at.Format(time.RFC3339Nano), "created_at": at.Format(time.RFC3339Nano)}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestWebhookSignatures(t *testing.T) { pgtest.EachDialect(t, testWebhookSignatures) }

func testWebhookSignatures(t *testing.T) {
	e := newEnv(t)
	payload := event(seam.EventLockUnlocked, "dev-alice", "acct-alice", e.now, map[string]any{"method": "manual"})
	h := http.Header{}
	cases := []struct {
		name string
		err  error
	}{
		{"forged (another secret)", e.deliver(t, "msg_1", time.Now(), payload, "whsec_"+strings.Repeat("QUJD", 8))},
		{"stale (10 minutes old)", e.deliver(t, "msg_2", time.Now().Add(-10*time.Minute), payload, secret)},
		{"from the future", e.deliver(t, "msg_3", time.Now().Add(10*time.Minute), payload, secret)},
		{"missing", e.svc.Receive(t.Context(), payload, h)},
		{"tampered", func() error {
			wh, _ := svix.NewWebhook(secret)
			now := time.Now()
			sig, _ := wh.Sign("msg_4", now, payload)
			h := http.Header{"Svix-Id": {"msg_4"}, "Svix-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Svix-Signature": {sig}}
			return e.svc.Receive(t.Context(), append(slices.Clone(payload[:len(payload)-1]), []byte(`,"x":1}`)...), h)
		}()},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, events.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", tc.name, tc.err)
		}
	}
	if pending, _ := e.db.UnprocessedEvents(t.Context(), 10); len(pending) != 0 {
		t.Fatalf("refused deliveries stored: %v", pending)
	}
	// A good delivery, then the same delivery replayed: stored and applied once.
	for range 3 {
		if err := e.deliver(t, "msg_ok", time.Now(), payload, secret); err != nil {
			t.Fatalf("good delivery: %v", err)
		}
	}
	n, err := e.svc.ApplyPending(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("ApplyPending = %d, %v; want 1", n, err)
	}
	if d := e.device(t, e.alice); *d.Properties.Locked {
		t.Error("alice's lock still locked after lock.unlocked")
	}
	if n, _ := e.svc.ApplyPending(t.Context()); n != 0 {
		t.Errorf("applied %d more", n)
	}
}

// TestCopyAfterEachEventType: what each event does to the copy of its device.
func TestCopyAfterEachEventType(t *testing.T) { pgtest.EachDialect(t, testCopyAfterEachEventType) }

func testCopyAfterEachEventType(t *testing.T) {
	e := newEnv(t)
	at := e.now
	send := func(typ string, extra map[string]any) {
		t.Helper()
		at = at.Add(time.Second)
		if err := e.deliver(t, "msg_"+uuid.NewString(), time.Now(), event(typ, "dev-alice", "acct-alice", at, extra), secret); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ApplyPending(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	step := func(typ string, extra map[string]any) seam.Device {
		t.Helper()
		send(typ, extra)
		return e.device(t, e.alice)
	}
	if d := step(seam.EventLockUnlocked, map[string]any{"method": "keycode"}); *d.Properties.Locked {
		t.Error("lock.unlocked: still locked")
	}
	if d := step(seam.EventLockLocked, map[string]any{"method": "manual"}); !*d.Properties.Locked {
		t.Error("lock.locked: not locked")
	}
	if d := step(seam.EventDeviceDisconnected, nil); d.Properties.Online {
		t.Error("device.disconnected: still online")
	}
	if d := step(seam.EventDeviceConnected, nil); !d.Properties.Online {
		t.Error("device.connected: still offline")
	}
	if d := step(seam.EventDeviceLowBattery, map[string]any{"battery_level": 0.1}); d.Properties.Battery == nil || d.Properties.Battery.Level != 0.1 || d.Properties.Battery.Status != "low" {
		t.Errorf("device.low_battery: battery %+v", d.Properties.Battery)
	}
	if d := step(seam.EventDeviceBatteryStatusChanged, map[string]any{"battery_level": 0.95, "battery_status": "full"}); d.Properties.Battery.Level != 0.95 || d.Properties.Battery.Status != "full" {
		t.Errorf("device.battery_status_changed: battery %+v", d.Properties.Battery)
	}
	if d := step(seam.EventConnectedAccountDisconnected, nil); len(d.Errors) != 1 || d.Errors[0].ErrorCode != "account_disconnected" {
		t.Errorf("connected_account.disconnected: errors %+v", d.Errors)
	}
	if d := step(seam.EventConnectedAccountConnected, nil); len(d.Errors) != 0 {
		t.Errorf("connected_account.connected: errors %+v", d.Errors)
	}
	// An event older than the state applied changes nothing.
	at = at.Add(-time.Hour)
	if d := step(seam.EventLockUnlocked, map[string]any{"method": "manual"}); !*d.Properties.Locked {
		t.Error("a late, older lock.unlocked turned the clock back")
	}
	at = at.Add(2 * time.Hour)
	send(seam.EventDeviceRemoved, nil)
	if _, err := e.db.UserDevice(t.Context(), e.alice.ID, "dev-alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device.removed: %v, want it gone from the copy", err)
	}
	if len(e.locks.finished) != 3 {
		t.Errorf("lock events handed to the lock use cases: %d, want 3", len(e.locks.finished))
	}
}

// TestEventsNeverCrossCustomers: an event for one customer's device, whatever account
// it claims, never changes another customer's copy.
func TestEventsNeverCrossCustomers(t *testing.T) {
	pgtest.EachDialect(t, testEventsNeverCrossCustomers)
}

func testEventsNeverCrossCustomers(t *testing.T) {
	e := newEnv(t)
	for i, payload := range [][]byte{
		event(seam.EventLockUnlocked, "dev-bob", "acct-alice", e.now, map[string]any{"method": "manual"}),
		event(seam.EventDeviceDisconnected, "dev-bob", "acct-alice", e.now, nil),
		event(seam.EventLockUnlocked, "dev-unknown", "acct-bob", e.now, map[string]any{"method": "manual"}),
	} {
		if err := e.deliver(t, fmt.Sprintf("msg_x%d", i), time.Now(), payload, secret); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.ApplyPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := e.device(t, e.bob); !*d.Properties.Locked || !d.Properties.Online {
		t.Errorf("bob's copy changed by events claiming alice's account: %+v", d.Properties)
	}
	if d := e.device(t, e.alice); !*d.Properties.Locked || !d.Properties.Online {
		t.Errorf("alice's copy changed by events of another device: %+v", d.Properties)
	}
}

// TestPollerFullPagesAndRestart: 23 events, pages of 5, newest first or oldest first:
// one poll stores them all; a restarted poller (another instance, same lease row) adds
// none; each is applied once.
func TestPollerFullPagesAndRestart(t *testing.T) {
	for _, oldestFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("oldest first %v", oldestFirst), func(t *testing.T) {
			pgtest.EachDialect(t, func(t *testing.T) {
				e := newEnv(t)
				e.seam.oldestFirst = oldestFirst
				for i := range 23 {
					at := e.now.Add(-30*time.Minute + time.Duration(i)*time.Second)
					var ev seam.Event
					_ = json.Unmarshal(event(seam.EventLockUnlocked, "dev-alice", "acct-alice", at, map[string]any{"method": "manual"}), &ev)
					e.seam.events = append(e.seam.events, ev)
				}
				e.svc.WebhookSecret = ""
				stored, err := e.svc.Poll(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !oldestFirst && stored != 23 {
					t.Fatalf("first poll stored %d, want all 23 (walking back through full pages)", stored)
				}
				// A restart: a new instance takes the lease once the old one's has passed.
				e.now = e.now.Add(10 * time.Minute)
				restarted := &events.Service{Store: e.db, Seam: e.seam, Locks: e.locks, Now: func() time.Time { return e.now },
					Instance: "restarted", PollLimit: 5}
				more := 0
				for range 6 {
					n, err := restarted.Poll(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					more += n
				}
				if stored+more != 23 {
					t.Errorf("stored %d then %d: want 23 in all, none twice", stored, more)
				}
				applied, err := e.svc.ApplyPending(t.Context())
				if err != nil || applied != 23 {
					t.Errorf("applied %d (%v), want 23 once each", applied, err)
				}
				if n, _ := restarted.ApplyPending(t.Context()); n != 0 {
					t.Errorf("the restarted instance applied %d again", n)
				}
			})
		})
	}
}
