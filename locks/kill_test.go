package locks_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Environment of the child process TestKilledInstance starts.
const (
	killHelperEnv = "LATCHKEY_LOCKS_KILL_HELPER"
	killDBEnv     = "LATCHKEY_LOCKS_KILL_DB"
	killUserEnv   = "LATCHKEY_LOCKS_KILL_USER"
	killPendEnv   = "LATCHKEY_LOCKS_KILL_PENDING_DEVICE"
	killReqEnv    = "LATCHKEY_LOCKS_KILL_REQUESTED_DEVICE"
)

// TestKilledInstance: an instance is killed (SIGKILL, no clean-up of any kind) with
// one action pending at Seam and another recorded as requested while its Seam call was
// in flight. Another instance's follower settles both: the pending one with Seam's
// outcome, the requested one, once its sender's lease has passed, as unknown. Each
// outcome is audited exactly once.
func TestKilledInstance(t *testing.T) { pgtest.EachDialect(t, testKilledInstance) }

func testKilledInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	e := newEnv(t)
	alice, account := e.customer(t, "alice")
	pendingDevice := e.seam.addDevice(alice.ID, account, "Front Door")
	requestedDevice := e.seam.addDevice(alice.ID, account, "Back Door")

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.v")
	cmd.Env = append(os.Environ(), killHelperEnv+"=1", killDBEnv+"="+e.url, killUserEnv+"="+alice.ID,
		killPendEnv+"="+pendingDevice, killReqEnv+"="+requestedDevice)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "READY" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("the child exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the child never got ready")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v, want killed", err)
	}

	open := must(e.db.OpenActionAttempts(t.Context()))
	byDevice := map[string]store.ActionAttempt{}
	for _, a := range open {
		byDevice[a.DeviceID] = a
	}
	pending, requested := byDevice[pendingDevice], byDevice[requestedDevice]
	if len(open) != 2 || pending.Status != store.AttemptPending || requested.Status != store.AttemptRequested {
		t.Fatalf("left by the killed instance: %v, want one pending and one requested", open)
	}
	// This instance's Seam knows the pending attempt, and Seam finished it meanwhile.
	e.seam.attempts[pending.SeamID] = seam.StatusSuccess

	f := locks.NewFollower(e.svc, locks.FollowerOptions{})
	must(f.Step(t.Context()))
	if a := e.action(t, alice.ID, pending.ID); a.Status != store.AttemptSuccess {
		t.Errorf("pending one after a step: %s, want success", describe(a))
	}
	if a := e.action(t, alice.ID, requested.ID); a.Status != store.AttemptRequested {
		t.Errorf("requested one within its sender's lease: %s, want left alone", describe(a))
	}
	e.clock.Advance(requested.ClaimedUntil.Sub(e.clock.Now()) + time.Second)
	must(f.Step(t.Context()))
	if a := e.action(t, alice.ID, requested.ID); a.Status != store.AttemptUnknown || !strings.Contains(a.Error, "check the door") {
		t.Errorf("requested one after its lease: %s, want unknown", describe(a))
	}
	must(f.Step(t.Context()))
	for id, want := range map[string][]string{
		pending.ID:   {store.AuditDeviceUnlockRequested, store.AuditDeviceUnlockSent, store.AuditDeviceUnlockSucceeded},
		requested.ID: {store.AuditDeviceUnlockRequested, store.AuditDeviceActionUnknown},
	} {
		got := e.audit(t, id)
		for _, action := range want {
			if got[action] != 1 {
				t.Errorf("action %s: audit %v, want %s exactly once", id, got, action)
			}
		}
		if len(got) != len(want) {
			t.Errorf("action %s: audit %v, want only %v", id, got, want)
		}
	}
	// The trail's hash chain survived the kill: what the child had chained is intact and
	// everything written since follows it.
	report, err := store.VerifyAudit(t.Context(), e.url, "")
	if err != nil || report.Break != nil {
		t.Errorf("audit chain after the kill: %+v, %v; want intact", report, err)
	}
}

// TestKillHelper is the child of TestKilledInstance: it unlocks one device (Seam
// answers pending), starts unlocking another (Seam never answers), says READY and
// waits to be killed.
func TestKillHelper(t *testing.T) {
	if os.Getenv(killHelperEnv) != "1" {
		t.Skip("the child process of TestKilledInstance")
	}
	db, err := store.Open(context.Background(), os.Getenv(killDBEnv))
	if err != nil {
		t.Fatal(err)
	}
	user, err := userByID(db, os.Getenv(killUserEnv))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, seam: newFakeSeam(), clock: newClock()}
	for _, id := range []string{os.Getenv(killPendEnv), os.Getenv(killReqEnv)} {
		e.seam.devices[id] = seam.Device{DeviceID: id, ConnectedAccountID: "acct-alice", CanRemotelyUnlock: true, CanRemotelyLock: true,
			Properties: seam.DeviceProperties{Online: true}}
		e.seam.owners[id] = user.ID
	}
	svc := e.service(db)
	if _, err := svc.Unlock(context.Background(), user, os.Getenv(killPendEnv)); err != nil {
		t.Fatal(err)
	}
	e.seam.block = make(chan struct{}) // never closed: the Seam call is in flight at the kill
	go func() { _, _ = svc.Unlock(context.Background(), user, os.Getenv(killReqEnv)) }()
	for {
		open, err := db.OpenActionAttempts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(open) == 2 && len(e.seam.calls()) == 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.Stdout.WriteString("READY\n")
	time.Sleep(time.Hour)
}

func userByID(db *store.DB, id string) (store.User, error) {
	return db.UserByID(context.Background(), id)
}
