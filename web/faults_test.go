package web_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// startPortal starts the portal on the test's database: a SQLite file, or, under
// eachDialect's "postgres" subtest, a fresh PostgreSQL database migrated first as
// `latchkey migrate` would.
func startPortal(t *testing.T, opts testportal.Options) *testportal.Portal {
	t.Helper()
	if pgtest.Postgres(t) {
		url := pgtest.URL(t)
		if err := store.Migrate(t.Context(), url); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DATABASE_URL": url}
		for k, v := range opts.Env {
			env[k] = v
		}
		opts.Env = env
	}
	return testportal.Start(t, opts)
}

// faultPortal is a portal whose requests give Seam one second in all, with alice's
// August locks connected; env adds settings.
func faultPortal(t *testing.T, env map[string]string) (*testportal.Portal, customer, string) {
	t.Helper()
	settings := map[string]string{"LATCHKEY_SEAM_DEADLINE": "1s", "LATCHKEY_FOLLOW_INTERVAL": "1h"}
	for k, v := range env {
		settings[k] = v
	}
	p := startPortal(t, testportal.Options{Env: settings, ActionDelay: 50 * time.Millisecond})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	return p, alice, front
}

// timed runs f and says how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// retryAfter is the response's Retry-After in seconds, or -1.
func retryAfter(res *http.Response) int {
	n, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil {
		return -1
	}
	return n
}

// TestSeamHangingPagesAnswerWithinTheDeadline: with Seam hanging, pages answer from the
// local copy at once (the device page gives up on Seam's history at the one-second
// deadline and says so); an unlock, whose ownership is checked at Seam, is refused at
// the deadline (503, Retry-After), audited, never recorded as sent.
func TestSeamHangingPagesAnswerWithinTheDeadline(t *testing.T) {
	pgtest.EachDialect(t, testSeamHangingPagesAnswerWithinTheDeadline)
}

func testSeamHangingPagesAnswerWithinTheDeadline(t *testing.T) {
	p, alice, front := faultPortal(t, nil)
	p.Sandbox.InjectFault(sandbox.Fault{Latency: time.Minute})

	for _, path := range []string{"/devices", "/devices/" + front, "/devices/" + front + "/unlock"} {
		var res *http.Response
		var body string
		took := timed(func() { res, body = p.Get(t, alice.c, path) })
		t.Logf("GET %s with Seam hanging: %d in %v", path, res.StatusCode, took.Round(time.Millisecond))
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 from the local copy\n%s", path, res.StatusCode, body)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("GET %s took %v, want at most the 1 s deadline", path, took)
		}
	}
	var res *http.Response
	var body string
	took := timed(func() { res, body = htmxPost(t, p, alice.c, "/devices/"+front+"/unlock") })
	t.Logf("POST unlock with Seam hanging: %d in %v", res.StatusCode, took.Round(time.Millisecond))
	if res.StatusCode != http.StatusServiceUnavailable || alertTitle(t, body) != "Your locks cannot be reached right now" || took > 2500*time.Millisecond {
		t.Errorf("htmx unlock: %d %q in %v, want the 503 fragment at the deadline", res.StatusCode, alertTitle(t, body), took)
	}
	if got := auditFor(t, p, store.AuditDeviceActionUnavailable, ""); len(got) != 1 || got[0].ActorID != alice.user.ID || got[0].DeviceName != "Front Door" {
		t.Errorf("%s events %+v, want one by alice naming Front Door (from the local copy)", store.AuditDeviceActionUnavailable, got)
	}
	if attempts, _ := p.DB.LatestActionAttempts(t.Context(), alice.user.ID, front, 10); len(attempts) != 0 {
		t.Errorf("actions recorded: %+v, want none", attempts)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 0 {
		t.Errorf("Seam got %d unlocks", got)
	}
}

// TestSeamSlowToAnswerAnUnlock: Seam takes 2 s to answer unlock_door; the page answers
// at its 1 s deadline with the unlock in progress, and the answer is recorded when it
// comes.
func TestSeamSlowToAnswerAnUnlock(t *testing.T) { pgtest.EachDialect(t, testSeamSlowToAnswerAnUnlock) }

func testSeamSlowToAnswerAnUnlock(t *testing.T) {
	p, alice, front := faultPortal(t, nil)
	p.Sandbox.InjectFault(sandbox.Fault{Path: "locks/unlock_door", Latency: 2 * time.Second, Times: 1})
	var res *http.Response
	var body string
	took := timed(func() { res, body = htmxPost(t, p, alice.c, "/devices/"+front+"/unlock") })
	_, poll, status := attemptFragment(t, body)
	t.Logf("POST unlock, Seam answering in 2 s: %d %q in %v", res.StatusCode, status, took.Round(time.Millisecond))
	if res.StatusCode != http.StatusOK || status != "Unlocking…" || poll == "" || took > 1800*time.Millisecond {
		t.Fatalf("htmx unlock: %d %q (poll %q) in %v, want Unlocking… that polls, at the 1 s deadline", res.StatusCode, status, poll, took)
	}
	deadline := time.Now().Add(5 * time.Second)
	a := latestAttempt(t, p, alice.user.ID, front)
	for a.Status == store.AttemptRequested && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		a = latestAttempt(t, p, alice.user.ID, front)
	}
	if a.Status != store.AttemptPending && a.Status != store.AttemptSuccess {
		t.Errorf("after Seam answered: %s, want pending or success", a.Status)
	}
	if got := auditFor(t, p, store.AuditDeviceUnlockSent, a.ID); len(got) != 1 {
		t.Errorf("%d sent events, want 1", len(got))
	}
}

// TestSeamRateLimitsReads: Seam answers 429 with Retry-After 7 to the ownership check
// of an unlock; the answer is the busy page with Seam's Retry-After, at once, after one
// call (no retry into the limit).
func TestSeamRateLimitsReads(t *testing.T) { pgtest.EachDialect(t, testSeamRateLimitsReads) }

func testSeamRateLimitsReads(t *testing.T) {
	p, alice, front := faultPortal(t, nil)
	before := len(p.Sandbox.CallsTo("/devices/list"))
	p.Sandbox.InjectFault(sandbox.Fault{Path: "devices/list", Status: http.StatusTooManyRequests, RetryAfter: "7"})
	var res *http.Response
	var body string
	took := timed(func() { res, body = p.Post(t, alice.c, "/devices/"+front+"/unlock", nil) })
	t.Logf("POST unlock with Seam answering 429 Retry-After 7: %d Retry-After %s in %v", res.StatusCode, res.Header.Get("Retry-After"), took.Round(time.Millisecond))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "7" {
		t.Errorf("POST unlock: %d Retry-After %q, want 503 with Seam's 7\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if got := len(p.Sandbox.CallsTo("/devices/list")) - before; got != 1 {
		t.Errorf("Seam got %d devices/list calls, want 1 (no retry before its Retry-After)", got)
	}
	if took > time.Second {
		t.Errorf("took %v", took)
	}
}

// TestSeamRefusesOrLosesAnUnlock: Seam down (503) → not sent, nothing was done; Seam
// acted but its answer was lost → unknown, "check the door", never "failed".
func TestSeamRefusesOrLosesAnUnlock(t *testing.T) {
	pgtest.EachDialect(t, testSeamRefusesOrLosesAnUnlock)
}

func testSeamRefusesOrLosesAnUnlock(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		p, alice, front := faultPortal(t, nil)
		p.Sandbox.InjectFault(sandbox.Fault{Path: "locks/unlock_door", Status: http.StatusServiceUnavailable, Times: 1})
		res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
		t.Logf("POST unlock with Seam 503: %d %q", res.StatusCode, alertTitle(t, body))
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(htmltest.Text(parseDoc(t, body)), "Nothing was changed") {
			t.Errorf("htmx unlock: %d, want 503 saying nothing was changed\n%s", res.StatusCode, body)
		}
		a := latestAttempt(t, p, alice.user.ID, front)
		if a.Status != store.AttemptNotSent || len(auditFor(t, p, store.AuditDeviceActionNotSent, a.ID)) != 1 {
			t.Errorf("recorded %s, want not_sent audited once", a.Status)
		}
	})
	t.Run("lost answer", func(t *testing.T) {
		p, alice, front := faultPortal(t, nil)
		p.Sandbox.InjectFault(sandbox.Fault{Path: "locks/unlock_door", LoseAnswer: true, Times: 1})
		res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
		_, _, status := attemptFragment(t, body)
		t.Logf("POST unlock with the answer lost: %d %q", res.StatusCode, status)
		if res.StatusCode != http.StatusOK || status != "We could not confirm whether Front Door unlocked — check the door." {
			t.Errorf("htmx unlock: %d %q, want the unconfirmed words", res.StatusCode, status)
		}
		a := latestAttempt(t, p, alice.user.ID, front)
		if a.Status != store.AttemptUnknown || len(auditFor(t, p, store.AuditDeviceActionUnknown, a.ID)) != 1 ||
			len(auditFor(t, p, store.AuditDeviceUnlockFailed, a.ID)) != 0 {
			t.Errorf("recorded %s, want unknown audited once and never failed", a.Status)
		}
		if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 1 {
			t.Errorf("Seam got %d unlocks, want 1", got)
		}
	})
}

// TestActionNotSentAfterItsBound: the ownership check took 1.5 s; with a 1 s send bound
// the unlock is never sent, recorded not_sent, and the customer is told nothing happened.
func TestActionNotSentAfterItsBound(t *testing.T) {
	pgtest.EachDialect(t, testActionNotSentAfterItsBound)
}

func testActionNotSentAfterItsBound(t *testing.T) {
	p, alice, front := faultPortal(t, map[string]string{"LATCHKEY_SEAM_DEADLINE": "3s", "LATCHKEY_ACTION_SEND_BOUND": "1s"})
	// Every devices/list is slow (a background resync must not take the one slow answer).
	p.Sandbox.InjectFault(sandbox.Fault{Path: "devices/list", Latency: 1500 * time.Millisecond})
	defer p.Sandbox.ClearFaults()
	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	_, _, status := attemptFragment(t, body)
	t.Logf("POST unlock sent late: %d %q", res.StatusCode, status)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(status, "Unlock not sent:") || !strings.Contains(status, "Nothing was done") {
		t.Errorf("htmx unlock: %d %q, want not sent, nothing done", res.StatusCode, status)
	}
	if a := latestAttempt(t, p, alice.user.ID, front); a.Status != store.AttemptNotSent {
		t.Errorf("recorded %s, want not_sent", a.Status)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 0 {
		t.Errorf("Seam got %d unlocks, want none", got)
	}
}

// TestSeamBudgetPerCustomer: past the customer's Seam budget, requests that would ask
// Seam (here unlocks of devices that do not exist, whose ownership is checked at Seam)
// are a 429 with Retry-After and no Seam call; the refusals are audited once; another
// customer is not affected.
func TestSeamBudgetPerCustomer(t *testing.T) { pgtest.EachDialect(t, testSeamBudgetPerCustomer) }

func testSeamBudgetPerCustomer(t *testing.T) {
	p := startPortal(t, testportal.Options{Env: map[string]string{"LATCHKEY_SEAM_BUDGET": "12/1m"}})
	alice, bob := signIn(t, p, "alice"), signIn(t, p, "bob")
	connectLocks(t, p, alice, sandbox.JaneEmail)
	connectLocks(t, p, bob, sandbox.JohnEmail)
	// Connecting spent some of alice's budget; spend the rest on devices that are not hers.
	statuses := map[int]int{}
	before := len(p.Sandbox.CallsTo("/devices/list"))
	var last *http.Response
	for range 50 {
		last, _ = p.Post(t, alice.c, "/devices/"+uuid.NewString()+"/unlock", nil)
		statuses[last.StatusCode]++
	}
	calls := len(p.Sandbox.CallsTo("/devices/list")) - before
	t.Logf("50 POST /devices/<random id>/unlock with a budget of 12/1m (part spent connecting): %v, %d Seam calls", statuses, calls)
	if statuses[http.StatusTooManyRequests] == 0 || calls == 0 || calls > 12 || statuses[http.StatusNotFound] != calls {
		t.Errorf("statuses %v with %d Seam calls, want 404s within what is left of the budget of 12, then 429s", statuses, calls)
	}
	if retryAfter(last) < 1 || retryAfter(last) > 60 {
		t.Errorf("Retry-After %q", last.Header.Get("Retry-After"))
	}
	if got := auditFor(t, p, store.AuditBudgetSpent, ""); len(got) != 1 || got[0].ActorID != alice.user.ID {
		t.Errorf("%s events: %d, want 1 by alice (repeats within the minute not audited)", store.AuditBudgetSpent, len(got))
	}
	if got := auditFor(t, p, store.AuditAccessDenied, ""); len(got) != 1 {
		t.Errorf("%s events: %d, want 1 (repeats within the minute not audited)", store.AuditAccessDenied, len(got))
	}
	if res, _ := p.Get(t, bob.c, "/devices"); res.StatusCode != http.StatusOK {
		t.Errorf("bob's devices: %d, want 200 (his own budget)", res.StatusCode)
	}
}

// TestWebviewBudgetPerCustomer: a customer may start only so many connections.
func TestWebviewBudgetPerCustomer(t *testing.T) { pgtest.EachDialect(t, testWebviewBudgetPerCustomer) }

func testWebviewBudgetPerCustomer(t *testing.T) {
	p := startPortal(t, testportal.Options{Env: map[string]string{"LATCHKEY_WEBVIEW_BUDGET": "2/10m"}})
	alice := signIn(t, p, "alice")
	var codes []int
	for range 4 {
		res, _ := p.Post(t, alice.c, "/connect", nil)
		codes = append(codes, res.StatusCode)
	}
	t.Logf("4 POST /connect with a budget of 2/10m: %v", codes)
	if codes[0] != http.StatusSeeOther || codes[1] != http.StatusSeeOther || codes[2] != http.StatusTooManyRequests || codes[3] != http.StatusTooManyRequests {
		t.Errorf("POST /connect ×4: %v, want 303 303 429 429", codes)
	}
	if got := len(p.Sandbox.CallsTo("/connect_webviews/create")); got != 2 {
		t.Errorf("Seam created %d webviews, want 2", got)
	}
}

// TestDatabaseWriteLockHeld: another process holds the database's write lock. An
// unlock waits out the busy timeout and gets one clean error page (one <h1>, no
// second document), and nothing reaches Seam; /readyz says the database cannot be
// written.
func TestDatabaseWriteLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	p, alice, front := faultPortal(t, map[string]string{"DATABASE_URL": "sqlite:" + path})
	holder, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	var res *http.Response
	var body string
	took := timed(func() { res, body = p.Post(t, alice.c, "/devices/"+front+"/unlock", nil) })
	t.Logf("POST unlock with the write lock held: %d in %v", res.StatusCode, took.Round(time.Millisecond))
	doc := parseDoc(t, body)
	if res.StatusCode != http.StatusInternalServerError || h1Text(t, doc) != "Something went wrong" || strings.Count(body, "<!doctype html>")+strings.Count(body, "<!DOCTYPE html>") != 1 {
		t.Errorf("unlock: %d, want one clean 500 page\n%s", res.StatusCode, body)
	}
	if got := len(p.Sandbox.CallsTo("/locks/unlock_door")); got != 0 {
		t.Errorf("Seam got %d unlocks with nothing recorded", got)
	}
	res, body = p.Get(t, alice.c, "/readyz")
	t.Logf("GET /readyz with the write lock held: %d %s", res.StatusCode, strings.TrimSpace(body))
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"not writable"`) {
		t.Errorf("/readyz: %d %s, want 503 not writable", res.StatusCode, body)
	}
}
