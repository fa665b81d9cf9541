package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// received is one webhook request a receiver got.
type received struct {
	body   []byte
	header http.Header
	event  map[string]any
}

// receiver is a webhook endpoint that records what it gets and answers with the
// statuses in fail (one per request, in order), then 204.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	fail []int
	hit  chan struct{}
}

func newReceiver(t *testing.T, fail ...int) *receiver {
	t.Helper()
	r := &receiver{fail: fail, hit: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		r.mu.Lock()
		r.got = append(r.got, received{body: body, header: req.Header.Clone(), event: ev})
		status := http.StatusNoContent
		if len(r.fail) > 0 {
			status, r.fail = r.fail[0], r.fail[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		r.hit <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns once n requests have arrived (failing the test after 5 s).
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]received(nil), r.got...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.hit:
		case <-deadline:
			t.Fatalf("webhook receiver: %d requests after 5 s, want %d", len(r.got), n)
		}
	}
}

func waitDeliveries(t *testing.T, sb *Sandbox, done func([]Delivery) bool) []Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := sb.Deliveries()
		if done(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries after 5 s: %+v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhooksAPI(t *testing.T) {
	e := newEnv(t, Options{})
	wh := e.ok("webhooks/create", map[string]any{"url": "http://127.0.0.1:1/hook"})["webhook"].(map[string]any)
	id, secret := str(wh, "webhook_id"), str(wh, "secret")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) < 24 {
		t.Errorf("secret %q: %d bytes, %v", secret, len(key), err)
	}
	if id == "" || str(wh, "url") != "http://127.0.0.1:1/hook" || len(list(wh, "event_types")) != 1 || list(wh, "event_types")[0] != "*" {
		t.Errorf("webhook %v", wh)
	}
	if len(wh) != 4 {
		t.Errorf("webhook fields %v, want webhook_id, url, event_types, secret", wh)
	}
	if got := e.ok("webhooks/get", map[string]any{"webhook_id": id})["webhook"]; str(got, "secret") != secret {
		t.Errorf("get: %v", got)
	}
	if got := list(e.ok("webhooks/list", nil), "webhooks"); len(got) != 1 {
		t.Errorf("list: %v", got)
	}
	e.ok("webhooks/update", map[string]any{"webhook_id": id, "event_types": []string{"lock.locked"}})
	if got := list(e.ok("webhooks/get", map[string]any{"webhook_id": id})["webhook"], "event_types"); len(got) != 1 || got[0] != "lock.locked" {
		t.Errorf("after update: %v", got)
	}
	e.ok("webhooks/delete", map[string]any{"webhook_id": id})
	expectError(t, e.call("webhooks/get", map[string]any{"webhook_id": id}), http.StatusNotFound, "webhook_not_found")
	expectError(t, e.call("webhooks/create", map[string]any{}), http.StatusBadRequest, "invalid_input")
	expectError(t, e.call("webhooks/create", map[string]any{"url": "not a url"}), http.StatusBadRequest, "invalid_input")
	expectError(t, e.call("webhooks/create", map[string]any{"url": "http://x.test/", "event_types": []string{"lock.exploded"}}),
		http.StatusBadRequest, "invalid_event_types")
}

// TestWebhookSignaturesVerifyWithSvix proves that a receiver verifying with Svix's
// own Go library (as Latchkey does) accepts what the sandbox sends.
func TestWebhookSignaturesVerifyWithSvix(t *testing.T) {
	e := newEnv(t, Options{ActionDelay: -1})
	_, devs := e.sb.AddConnectedAccount("u", 1)
	rec := newReceiver(t)
	lockOnly := newReceiver(t)
	secret := str(e.ok("webhooks/create", map[string]any{"url": rec.srv.URL})["webhook"], "secret")
	e.ok("webhooks/create", map[string]any{"url": lockOnly.srv.URL, "event_types": []string{"lock.unlocked"}})

	if err := e.sb.SetLocked(devs[0], false, MethodManual); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 1)
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Fatalf("svix rejects the sandbox's signature: %v\nheaders %v", err, r.header)
	}
	if r.event["event_type"] != "lock.unlocked" || r.event["method"] != "manual" || r.event["device_id"] != devs[0] {
		t.Errorf("body is not the event: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if !strings.HasPrefix(r.header.Get("svix-id"), "msg_") || !strings.HasPrefix(r.header.Get("svix-signature"), "v1,") {
		t.Errorf("headers %v", r.header)
	}
	tampered := append([]byte(nil), r.body...)
	tampered = []byte(strings.Replace(string(tampered), `"manual"`, `"remote"`, 1))
	if err := wh.Verify(tampered, r.header); err == nil {
		t.Error("svix accepts a tampered body")
	}
	other, _ := svix.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)))
	if err := other.Verify(r.body, r.header); err == nil {
		t.Error("svix accepts another secret")
	}
	// The same event reaches the filtered webhook under the same svix-id; the
	// API's event log has it too.
	if l := lockOnly.wait(t, 1); l[0].header.Get("svix-id") != r.header.Get("svix-id") {
		t.Errorf("svix-id %q and %q for one event", l[0].header.Get("svix-id"), r.header.Get("svix-id"))
	}
	evs := list(e.ok("events/list", map[string]any{"since": "2000-01-01", "event_type": "lock.unlocked"}), "events")
	if len(evs) != 1 || str(evs[0], "event_id") != r.event["event_id"] {
		t.Errorf("events/list %v, delivered %v", evs, r.event)
	}
	// The filtered webhook got nothing but lock.unlocked.
	if err := e.sb.SetLocked(devs[0], true, MethodManual); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 2)
	time.Sleep(50 * time.Millisecond)
	lockOnly.mu.Lock()
	n := len(lockOnly.got)
	lockOnly.mu.Unlock()
	if n != 1 {
		t.Errorf("the lock.unlocked webhook got %d requests, want 1", n)
	}
}

func TestWebhookRetriesThenGivesUp(t *testing.T) {
	e := newEnv(t, Options{WebhookRetryDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond}})
	_, devs := e.sb.AddConnectedAccount("u", 1)
	flaky := newReceiver(t, 500, 503) // the third attempt succeeds
	dead := newReceiver(t, 500, 500, 500)
	e.ok("webhooks/create", map[string]any{"url": flaky.srv.URL, "event_types": []string{"device.disconnected"}})
	deadID := str(e.ok("webhooks/create", map[string]any{"url": dead.srv.URL, "event_types": []string{"device.disconnected"}})["webhook"], "webhook_id")
	if err := e.sb.SetOnline(devs[0], false); err != nil {
		t.Fatal(err)
	}
	got := flaky.wait(t, 3)
	id := got[0].header.Get("svix-id")
	for i, r := range got {
		if r.header.Get("svix-id") != id || string(r.body) != string(got[0].body) {
			t.Errorf("attempt %d: svix-id %q, body %s; want the same message", i+1, r.header.Get("svix-id"), r.body)
		}
	}
	// Both endpoints' last attempts recorded: the dead one given up, the flaky one's third.
	ds := waitDeliveries(t, e.sb, func(ds []Delivery) bool {
		gaveUp, flakyDone := false, 0
		for _, d := range ds {
			if d.WebhookID == deadID && d.GaveUp {
				gaveUp = true
			}
			if d.WebhookID != deadID {
				flakyDone++
			}
		}
		return gaveUp && flakyDone == 3
	})
	var flakyAttempts, deadAttempts []Delivery
	for _, d := range ds {
		if d.WebhookID == deadID {
			deadAttempts = append(deadAttempts, d)
		} else {
			flakyAttempts = append(flakyAttempts, d)
		}
	}
	if len(deadAttempts) != 3 || deadAttempts[2].Attempt != 3 || !deadAttempts[2].GaveUp || deadAttempts[0].Status != 500 {
		t.Errorf("dead endpoint: %+v", deadAttempts)
	}
	if len(flakyAttempts) != 3 || !flakyAttempts[2].OK() || flakyAttempts[2].GaveUp || flakyAttempts[0].MessageID != id ||
		flakyAttempts[0].EventType != "device.disconnected" {
		t.Errorf("flaky endpoint: %+v", flakyAttempts)
	}
}

func TestWebhookUnreachableAndClose(t *testing.T) {
	sb := New(Options{APIKey: testKey, WebhookTimeout: 100 * time.Millisecond, WebhookRetryDelays: []time.Duration{time.Hour}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	e := &env{t: t, sb: sb, srv: srv}
	_, devs := sb.AddConnectedAccount("u", 1)
	// A server that never answers: the attempt times out.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs before hang.Close
	e.ok("webhooks/create", map[string]any{"url": hang.URL})
	start := time.Now()
	if err := sb.SetBattery(devs[0], 0.2); err != nil { // two events
		t.Fatal(err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Error("SetBattery waited for the webhook")
	}
	ds := waitDeliveries(t, sb, func(ds []Delivery) bool { return len(ds) >= 2 })
	for _, d := range ds {
		if d.Status != 0 || d.Err == "" || d.GaveUp || d.Attempt != 1 {
			t.Errorf("timed-out attempt: %+v", d)
		}
	}
	// Close drops the hour-long retries and returns promptly.
	done := make(chan struct{})
	go func() { _ = sb.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs")
	}
	_ = sb.Close() // twice is fine
	if err := sb.SetBattery(devs[0], 0.9); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(sb.Deliveries()); n != 2 {
		t.Errorf("%d deliveries after Close, want the 2 from before", n)
	}
}

func TestWebhookDeleteStopsRetries(t *testing.T) {
	e := newEnv(t, Options{WebhookRetryDelays: []time.Duration{30 * time.Millisecond}})
	_, devs := e.sb.AddConnectedAccount("u", 1)
	rec := newReceiver(t, 500, 500)
	id := str(e.ok("webhooks/create", map[string]any{"url": rec.srv.URL, "event_types": []string{"lock.unlocked"}})["webhook"], "webhook_id")
	if err := e.sb.SetLocked(devs[0], false, MethodManual); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1)
	e.ok("webhooks/delete", map[string]any{"webhook_id": id})
	time.Sleep(100 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 1 {
		t.Errorf("%d requests after delete, want 1", len(rec.got))
	}
}
