package locks_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// TestUnlockSurvivesTheCallerGoingAway: Seam answers after the caller's context is
// cancelled (a browser that closed its connection); the action and both of its audit
// rows are recorded anyway, with the client that asked.
func TestUnlockSurvivesTheCallerGoingAway(t *testing.T) {
	pgtest.EachDialect(t, testUnlockSurvivesTheCallerGoingAway)
}

func testUnlockSurvivesTheCallerGoingAway(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	e.seam.delay = 200 * time.Millisecond

	ctx, cancel := context.WithCancel(request.With(t.Context(), &request.Info{RemoteAddr: "203.0.113.7", UserAgent: "test-browser"}))
	time.AfterFunc(50*time.Millisecond, cancel)
	res, err := e.svc.Unlock(ctx, alice, front)
	if err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the caller's context was not cancelled while Seam worked")
	}
	a := e.action(t, alice.ID, res.Attempt.ID)
	if a.Status != store.AttemptPending || a.SeamID == "" {
		t.Fatalf("after the caller left: %s, want pending with Seam's id", describe(a))
	}
	got := e.audit(t, a.ID)
	if got[store.AuditDeviceUnlockRequested] != 1 || got[store.AuditDeviceUnlockSent] != 1 {
		t.Errorf("audit rows of the action: %v, want one requested and one sent", got)
	}
	events, _, _ := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	for _, ev := range events {
		if ev.ActionAttemptID == a.ID && (ev.RemoteAddr != "203.0.113.7" || ev.UserAgent != "test-browser" || ev.ActorID != alice.ID) {
			t.Errorf("audit %s names %q %q by %q, want the client that asked", ev.Action, ev.RemoteAddr, ev.UserAgent, ev.ActorID)
		}
	}
	if calls := e.seam.calls(); len(calls) != 1 {
		t.Errorf("Seam calls %v, want one unlock", calls)
	}
}

// TestNothingSentWithoutItsRecord: when the intent cannot be recorded (here: the
// database is closed, as on a full or read-only disk), Seam is never called.
func TestNothingSentWithoutItsRecord(t *testing.T) {
	pgtest.EachDialect(t, testNothingSentWithoutItsRecord)
}

func testNothingSentWithoutItsRecord(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	svc := e.service(e.db)
	svc.Store = failingBegin{e.db}
	if _, err := svc.Unlock(t.Context(), alice, front); err == nil {
		t.Fatal("unlock succeeded without its record")
	}
	if calls := e.seam.calls(); len(calls) != 0 {
		t.Errorf("Seam got %v although nothing was recorded", calls)
	}
}

// failingBegin is a store whose BeginAction fails as a full disk would.
type failingBegin struct{ *store.DB }

func (failingBegin) BeginAction(context.Context, store.NewAction) (store.ActionAttempt, error) {
	return store.ActionAttempt{}, errors.New("database or disk is full")
}

// TestTwelveAtOnceOnOneDevice: twelve concurrent unlocks of one device make exactly one
// Seam call; every caller is answered with that one action.
func TestTwelveAtOnceOnOneDevice(t *testing.T) { pgtest.EachDialect(t, testTwelveAtOnceOnOneDevice) }

func testTwelveAtOnceOnOneDevice(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	e.seam.delay = 100 * time.Millisecond
	ids := make([]string, 12)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			res, err := e.svc.Unlock(context.Background(), alice, front)
			if err != nil {
				t.Errorf("unlock %d: %v", i, err)
				return
			}
			ids[i] = res.Attempt.ID
		})
	}
	wg.Wait()
	if calls := e.seam.calls(); len(calls) != 1 {
		t.Fatalf("Seam got %d calls (%v), want exactly 1", len(calls), calls)
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("caller %d got action %s, want the one action %s", i, id, ids[0])
		}
	}
}

// TestBurstsOverNineDevices: two bursts of 27 unlocks over nine devices, 5 s apart,
// reach Seam at most ActionsPerMinute times; the refused get 429-style errors with a
// Retry-After, and every Seam call has its requested row.
func TestBurstsOverNineDevices(t *testing.T) { pgtest.EachDialect(t, testBurstsOverNineDevices) }

func testBurstsOverNineDevices(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	var devices []string
	for range 9 {
		devices = append(devices, e.seam.addDevice(alice.ID, account, "Door"))
	}
	var limited atomic.Int32
	burst := func() {
		var wg sync.WaitGroup
		for i := range 27 {
			wg.Go(func() {
				_, err := e.svc.Unlock(context.Background(), alice, devices[i%9])
				var rl *locks.ErrRateLimited
				switch {
				case err == nil:
				case errors.As(err, &rl):
					limited.Add(1)
					if rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
						t.Errorf("Retry-After %v", rl.RetryAfter)
					}
				default:
					t.Errorf("unlock: %v", err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	e.clock.Advance(5 * time.Second)
	e.seam.finishAll(seam.StatusSuccess)
	if _, err := locks.NewFollower(e.svc, locks.FollowerOptions{}).Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	burst()
	calls := e.seam.calls()
	if len(calls) > 10 {
		t.Errorf("Seam got %d unlocks within 5 s, want at most the limit of 10", len(calls))
	}
	if len(calls) < 9 {
		t.Errorf("Seam got %d unlocks, want at least one per device (9)", len(calls))
	}
	recent := must(e.db.LatestActionAttempts(t.Context(), alice.ID, "", 100))
	if len(recent) != len(calls) {
		t.Errorf("%d actions recorded for %d Seam calls", len(recent), len(calls))
	}
	if limited.Load() == 0 {
		t.Error("no caller was refused by the limit")
	}
	t.Logf("2 × 27 unlocks over 9 devices, 5 s apart: %d Seam calls, %d refused by the limit", len(calls), limited.Load())
}

// TestLockDuringUnlock: a Lock while the Unlock is open is refused with ErrBusy naming
// the unlock; the same Unlock again is answered with the open one; Seam saw one call.
func TestLockDuringUnlock(t *testing.T) { pgtest.EachDialect(t, testLockDuringUnlock) }

func testLockDuringUnlock(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	first := must(e.svc.Unlock(t.Context(), alice, front))
	_, err := e.svc.Lock(t.Context(), alice, front)
	var busy *locks.ErrBusy
	if !errors.As(err, &busy) || busy.Open.ID != first.Attempt.ID || busy.Message() != "An unlock of Front Door is in progress." {
		t.Fatalf("lock during unlock: %v, want ErrBusy naming the unlock", err)
	}
	again := must(e.svc.Unlock(t.Context(), alice, front))
	if !again.Existing || again.Attempt.ID != first.Attempt.ID {
		t.Errorf("unlock again: %+v, want the open one", again)
	}
	if calls := e.seam.calls(); len(calls) != 1 {
		t.Errorf("Seam calls %v, want the one unlock", calls)
	}
	// Once Seam finished it, a Lock goes through.
	e.seam.finishAll(seam.StatusSuccess)
	if a := must(e.svc.Action(t.Context(), alice, front, first.Attempt.ID)); a.Status != store.AttemptSuccess {
		t.Fatalf("after Seam finished: %s", describe(a))
	}
	if _, err := e.svc.Lock(t.Context(), alice, front); err != nil {
		t.Errorf("lock after the unlock ended: %v", err)
	}
}

// TestOwnershipBothWays: a device Seam lists for the user but of an account Latchkey
// never recorded for them, another user's device, and malformed ids are all
// ErrNotOwned, never sent, and audited (except malformed ids, which never reach Seam).
func TestOwnershipBothWays(t *testing.T) { pgtest.EachDialect(t, testOwnershipBothWays) }

func testOwnershipBothWays(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	bob, bobAccount := e.customer(t, "bob")
	stray := e.seam.addDevice(alice.ID, "acct-not-recorded", "Stray")
	bobs := e.seam.addDevice(bob.ID, bobAccount, "Bob's door")
	_ = e.seam.addDevice(alice.ID, account, "Front Door")
	for _, id := range []string{stray, bobs, uuid.NewString(), "not-a-uuid", strings.Repeat("a", 36)} {
		if _, err := e.svc.Unlock(t.Context(), alice, id); !errors.Is(err, locks.ErrNotOwned) {
			t.Errorf("unlock %q: %v, want ErrNotOwned", id, err)
		}
	}
	if calls := e.seam.calls(); len(calls) != 0 {
		t.Errorf("Seam calls %v, want none", calls)
	}
	denied := 0
	events, _, _ := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	for _, ev := range events {
		if ev.Action == store.AuditAccessDenied {
			denied++
			if ev.DeviceName != "" {
				t.Errorf("a refusal records the name %q of a device that is not alice's", ev.DeviceName)
			}
		}
	}
	if denied != 3 {
		t.Errorf("%d access.denied events, want 3 (stray, bob's, unknown)", denied)
	}
	list := must(e.svc.Devices(t.Context(), alice.ID))
	if len(list) != 1 || list[0].DisplayName != "Front Door" {
		t.Errorf("alice's devices %v, want only Front Door", list)
	}
}

// TestAuditNamesTheDevice: every event of an action keeps the device's name as it was,
// so the trail reads right after the device is renamed or gone.
func TestAuditNamesTheDevice(t *testing.T) { pgtest.EachDialect(t, testAuditNamesTheDevice) }

func testAuditNamesTheDevice(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	a := must(e.svc.Unlock(t.Context(), alice, front)).Attempt
	events, _, _ := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	var actions []string
	for _, ev := range events {
		if ev.ActionAttemptID != a.ID {
			continue
		}
		actions = append(actions, ev.Action)
		if ev.DeviceName != "Front Door" {
			t.Errorf("%s names the device %q, want Front Door", ev.Action, ev.DeviceName)
		}
	}
	if !slices.Contains(actions, store.AuditDeviceUnlockRequested) || !slices.Contains(actions, store.AuditDeviceUnlockSent) {
		t.Errorf("events of the unlock %v", actions)
	}
}

// TestSeamRefusalAndLostAnswer: a refusal Seam answers is recorded as error (nothing
// was done), a lost answer as unknown (Seam may have acted); both audited once.
func TestSeamRefusalAndLostAnswer(t *testing.T) { pgtest.EachDialect(t, testSeamRefusalAndLostAnswer) }

func testSeamRefusalAndLostAnswer(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantStatus string
		wantErr    bool
		wantAudit  string
	}{
		{"refused", &seam.Error{Status: http.StatusBadRequest, Type: "device_offline", Message: "Device is offline"},
			store.AttemptError, true, store.AuditDeviceUnlockFailed},
		{"rate limited", &seam.Error{Status: http.StatusTooManyRequests, Type: "rate_limited"},
			store.AttemptNotSent, true, store.AuditDeviceActionNotSent},
		{"lost answer", errors.New("read: connection reset by peer"),
			store.AttemptUnknown, false, store.AuditDeviceActionUnknown},
		{"gateway error", &seam.Error{Status: http.StatusBadGateway, Type: "bad_gateway"},
			store.AttemptUnknown, false, store.AuditDeviceActionUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			alice, account := e.customer(t, "alice")
			front := e.seam.addDevice(alice.ID, account, "Front Door")
			e.seam.answer = func(string) (*seam.ActionAttempt, error) { return nil, tc.err }
			res, err := e.svc.Unlock(t.Context(), alice, front)
			var notSent *locks.ErrNotSent
			if tc.wantErr != errors.As(err, &notSent) {
				t.Fatalf("unlock: %v, want ErrNotSent: %v", err, tc.wantErr)
			}
			a := res.Attempt
			if notSent != nil {
				a = notSent.Attempt
			}
			a = e.action(t, alice.ID, a.ID)
			if a.Status != tc.wantStatus {
				t.Errorf("recorded %s, want %s", describe(a), tc.wantStatus)
			}
			if got := e.audit(t, a.ID); got[tc.wantAudit] != 1 || got[store.AuditDeviceUnlockRequested] != 1 {
				t.Errorf("audit %v, want requested and %s once", got, tc.wantAudit)
			}
		})
	}
}

// TestFollowerSettlesPendingAndTimesOut: the follower records Seam's outcome once; an
// action pending past the bound is a timeout.
func TestFollowerSettlesPendingAndTimesOut(t *testing.T) {
	pgtest.EachDialect(t, testFollowerSettlesPendingAndTimesOut)
}

func testFollowerSettlesPendingAndTimesOut(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	back := e.seam.addDevice(alice.ID, account, "Back Door")
	f := locks.NewFollower(e.svc, locks.FollowerOptions{})

	one := must(e.svc.Unlock(t.Context(), alice, front)).Attempt
	if n := must(f.Step(t.Context())); n != 1 {
		t.Fatalf("claimed %d, want the pending one", n)
	}
	if a := e.action(t, alice.ID, one.ID); a.Status != store.AttemptPending || a.ClaimedUntil == nil || a.ClaimedUntil.After(e.clock.Now()) {
		t.Fatalf("still pending at Seam: %s, lease %v, want released", describe(a), a.ClaimedUntil)
	}
	e.seam.finishAll(seam.StatusSuccess)
	two := must(e.svc.Lock(t.Context(), alice, back)).Attempt // stays pending at Seam
	for range 3 {
		must(f.Step(t.Context()))
	}
	if a := e.action(t, alice.ID, one.ID); a.Status != store.AttemptSuccess {
		t.Errorf("after Seam finished: %s", describe(a))
	}
	if got := e.audit(t, one.ID); got[store.AuditDeviceUnlockSucceeded] != 1 {
		t.Errorf("audit %v, want one succeeded", got)
	}
	e.clock.Advance(2*time.Minute + time.Second)
	must(f.Step(t.Context()))
	if a := e.action(t, alice.ID, two.ID); a.Status != store.AttemptTimeout {
		t.Errorf("pending past the bound: %s, want timeout", describe(a))
	}
	if got := e.audit(t, two.ID); got[store.AuditDeviceActionTimeout] != 1 {
		t.Errorf("audit %v, want one timeout", got)
	}
	if n := must(f.Step(t.Context())); n != 0 {
		t.Errorf("claimed %d finished actions", n)
	}
}

// TestActionAnswersOnlyItsStarter: another user's action, or one under another device,
// is ErrNotOwned and audited.
func TestActionAnswersOnlyItsStarter(t *testing.T) {
	pgtest.EachDialect(t, testActionAnswersOnlyItsStarter)
}

func testActionAnswersOnlyItsStarter(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	bob, _ := e.customer(t, "bob")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	back := e.seam.addDevice(alice.ID, account, "Back Door")
	a := must(e.svc.Unlock(t.Context(), alice, front)).Attempt
	if _, err := e.svc.Action(t.Context(), alice, front, a.ID); err != nil {
		t.Fatalf("alice's own action: %v", err)
	}
	for _, tc := range []struct {
		who    store.User
		device string
		id     string
	}{{bob, front, a.ID}, {alice, back, a.ID}, {alice, front, uuid.NewString()}, {alice, front, "x"}} {
		if _, err := e.svc.Action(t.Context(), tc.who, tc.device, tc.id); !errors.Is(err, locks.ErrNotOwned) {
			t.Errorf("action %s by %s under %s: %v, want ErrNotOwned", tc.id, tc.who.Subject, tc.device, err)
		}
	}
}

// TestUnknownSettledByTheLocksReport: an unlock whose answer was lost stays unknown
// until the lock itself reports an unlock done through the API; a manual unlock does
// not settle it.
func TestUnknownSettledByTheLocksReport(t *testing.T) {
	pgtest.EachDialect(t, testUnknownSettledByTheLocksReport)
}

func testUnknownSettledByTheLocksReport(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	e.seam.answer = func(string) (*seam.ActionAttempt, error) { return nil, errors.New("connection reset") }
	a := must(e.svc.Unlock(t.Context(), alice, front)).Attempt
	if a.Status != store.AttemptUnknown {
		t.Fatalf("lost answer: %s", describe(a))
	}
	report := func(method string) {
		e.clock.Advance(time.Second)
		if err := e.svc.FinishFromEvent(t.Context(), seam.Event{EventID: uuid.NewString(), EventType: seam.EventLockUnlocked,
			DeviceID: front, Method: method, OccurredAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	report(seam.MethodManual)
	if got := e.action(t, alice.ID, a.ID); got.Status != store.AttemptUnknown {
		t.Errorf("after a manual unlock: %s, want still unknown", describe(got))
	}
	report(seam.MethodRemote)
	if got := e.action(t, alice.ID, a.ID); got.Status != store.AttemptSuccess {
		t.Errorf("after the lock reported an API unlock: %s, want success", describe(got))
	}
	events, _, _ := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	found := false
	for _, ev := range events {
		if ev.ActionAttemptID == a.ID && ev.Action == store.AuditDeviceUnlockSucceeded && ev.Detail == "The lock reported it unlocked." {
			found = true
		}
	}
	if !found {
		t.Error("no device.unlock.succeeded event saying the lock reported it")
	}
}

// TestUnreachableLockRefused: an offline lock, or one whose account is disconnected, is
// refused before anything is recorded or sent (typed errors the pages map to words),
// the refusal is audited, and ConfirmAction refuses the same way; the busy and limit
// refusals of ConfirmAction are the ones act gives.
func TestUnreachableLockRefused(t *testing.T) { pgtest.EachDialect(t, testUnreachableLockRefused) }

func testUnreachableLockRefused(t *testing.T) {
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	offline := e.seam.addDevice(alice.ID, account, "Garage")
	cut := e.seam.addDevice(alice.ID, account, "Shed")
	front := e.seam.addDevice(alice.ID, account, "Front Door")
	e.seam.mu.Lock()
	d := e.seam.devices[offline]
	d.Properties.Online = false
	e.seam.devices[offline] = d
	d = e.seam.devices[cut]
	d.Properties.Online = false
	d.Errors = []seam.DeviceError{{ErrorCode: "account_disconnected"}}
	e.seam.devices[cut] = d
	e.seam.mu.Unlock()
	// The copy pages read (and ConfirmAction checks) is filled from Seam.
	if _, err := e.svc.Devices(t.Context(), alice.ID); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		device string
		want   error
	}{{offline, locks.ErrOffline}, {cut, locks.ErrAccountDisconnected}} {
		if _, err := e.svc.Unlock(t.Context(), alice, c.device); !errors.Is(err, c.want) {
			t.Errorf("unlock: %v, want %v", err, c.want)
		}
		if _, err := e.svc.Lock(t.Context(), alice, c.device); !errors.Is(err, c.want) {
			t.Errorf("lock: %v, want %v", err, c.want)
		}
		if _, err := e.svc.ConfirmAction(t.Context(), alice, c.device, store.ActionUnlock); !errors.Is(err, c.want) {
			t.Errorf("confirm: %v, want %v", err, c.want)
		}
	}
	if calls := e.seam.calls(); len(calls) != 0 {
		t.Errorf("Seam calls %v, want none", calls)
	}
	if n, _, err := e.db.CountActionsSince(t.Context(), alice.ID, time.Time{}); err != nil || n != 0 {
		t.Errorf("%d actions recorded (%v), want none", n, err)
	}
	events, _, err := e.db.ListAudit(t.Context(), store.AuditQuery{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range events {
		if ev.Action == store.AuditDeviceActionUnreachable && ev.Outcome == store.OutcomeDenied {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("no %s refusal audited", store.AuditDeviceActionUnreachable)
	}

	if _, err := e.svc.ConfirmAction(t.Context(), alice, front, store.ActionUnlock); err != nil {
		t.Fatalf("confirm an online lock: %v", err)
	}
	if _, err := e.svc.Unlock(t.Context(), alice, front); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	var busy *locks.ErrBusy
	if _, err := e.svc.ConfirmAction(t.Context(), alice, front, store.ActionLock); !errors.As(err, &busy) {
		t.Errorf("confirm while an unlock is open: %v, want ErrBusy", err)
	}
	allowance, err := e.svc.ActionAllowance(t.Context(), alice.ID)
	if err != nil || allowance.Left != allowance.Limit-1 {
		t.Errorf("allowance after one action: %+v (%v), want one spent", allowance, err)
	}
}
