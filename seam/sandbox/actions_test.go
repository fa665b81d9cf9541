package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func (e *env) attempt(id string) map[string]any {
	e.t.Helper()
	return e.ok("action_attempts/get", map[string]any{"action_attempt_id": id})["action_attempt"].(map[string]any)
}

func (e *env) locked(deviceID string) any {
	e.t.Helper()
	return dig(e.ok("devices/get", map[string]any{"device_id": deviceID}), "device.properties.locked")
}

func TestActionAttemptPendingThenSuccess(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{Now: clk.Now}) // default delay, 1.5 s of injected time
	_, devs := e.sb.AddConnectedAccount("u", 1)
	dev := devs[0]

	res := e.ok("locks/unlock_door", map[string]any{"device_id": dev})
	a := res["action_attempt"].(map[string]any)
	id := str(a, "action_attempt_id")
	if a["status"] != "pending" || a["action_type"] != "UNLOCK_DOOR" || a["result"] != nil || a["error"] != nil {
		t.Fatalf("new attempt %v", a)
	}
	clk.Advance(DefaultActionDelay - time.Millisecond)
	if got := e.attempt(id)["status"]; got != "pending" || e.locked(dev) != true {
		t.Fatalf("before the delay: status %v, locked %v", got, e.locked(dev))
	}
	clk.Advance(time.Millisecond)
	done := e.attempt(id)
	if done["status"] != "success" || done["result"] == nil || done["error"] != nil {
		t.Fatalf("after the delay: %v", done)
	}
	if e.locked(dev) != false {
		t.Fatal("unlock did not unlock")
	}
	events := list(e.ok("events/list", map[string]any{"since": "2000-01-01", "device_ids": []string{dev},
		"event_types": []string{"lock.unlocked", "lock.locked"}}), "events")
	if len(events) != 1 || str(events[0], "event_type") != "lock.unlocked" || str(events[0], "action_attempt_id") != id ||
		str(events[0], "method") != MethodRemote ||
		str(events[0], "connected_account_id") == "" || str(events[0], "occurred_at") == "" || str(events[0], "workspace_id") == "" {
		t.Fatalf("events %v", events)
	}

	lock := e.ok("locks/lock_door", map[string]any{"device_id": dev})["action_attempt"].(map[string]any)
	if lock["action_type"] != "LOCK_DOOR" {
		t.Fatalf("lock attempt %v", lock)
	}
	clk.Advance(DefaultActionDelay)
	if e.attempt(str(lock, "action_attempt_id"))["status"] != "success" || e.locked(dev) != true {
		t.Fatal("lock did not lock")
	}
}

func TestActionAttemptWithRealClock(t *testing.T) {
	e := newEnv(t, Options{ActionDelay: 5 * time.Millisecond})
	_, devs := e.sb.AddConnectedAccount("u", 1)
	id := str(e.ok("locks/unlock_door", map[string]any{"device_id": devs[0]}), "action_attempt.action_attempt_id")
	deadline := time.Now().Add(2 * time.Second)
	for e.attempt(id)["status"] == "pending" {
		if time.Now().After(deadline) {
			t.Fatal("attempt still pending after 2s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if e.attempt(id)["status"] != "success" {
		t.Fatalf("attempt %v", e.attempt(id))
	}
}

func TestActionAttemptErrors(t *testing.T) {
	e := newEnv(t, Options{ActionDelay: -1})
	e.connectUser("jane", JaneEmail)
	e.connectUser("john", JohnEmail)
	byName := map[string]string{}
	for _, d := range list(e.ok("devices/list", map[string]any{}), "devices") {
		byName[str(d, "display_name")] = str(d, "device_id")
	}

	t.Run("offline device", func(t *testing.T) {
		id := str(e.ok("locks/unlock_door", map[string]any{"device_id": byName["Garage Side Door"]}), "action_attempt.action_attempt_id")
		a := e.attempt(id)
		if a["status"] != "error" || str(a, "error.type") != "device_offline" || str(a, "error.message") == "" || a["result"] != nil {
			t.Fatalf("attempt %v", a)
		}
		if e.locked(byName["Garage Side Door"]) != true {
			t.Fatal("a failed unlock changed the lock")
		}
	})
	t.Run("cannot unlock remotely", func(t *testing.T) {
		res := e.call("locks/unlock_door", map[string]any{"device_id": byName["Storage Room"]})
		expectError(t, res, http.StatusBadRequest, "action_not_supported")
	})
	t.Run("FailNextAction fails only the next attempt", func(t *testing.T) {
		dev := byName["Front Door"]
		e.sb.FailNextAction(dev, "lock_jammed", "The lock is jammed")
		first := e.attempt(str(e.ok("locks/unlock_door", map[string]any{"device_id": dev}), "action_attempt.action_attempt_id"))
		if first["status"] != "error" || str(first, "error.type") != "lock_jammed" || str(first, "error.message") != "The lock is jammed" {
			t.Fatalf("first attempt %v", first)
		}
		second := e.attempt(str(e.ok("locks/unlock_door", map[string]any{"device_id": dev}), "action_attempt.action_attempt_id"))
		if second["status"] != "success" {
			t.Fatalf("second attempt %v", second)
		}
	})
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.sb.AddConnectedAccount("u", 1)
	body := map[string]any{"user_identifier_key": "u"}

	t.Run("429 with Retry-After, once", func(t *testing.T) {
		e.sb.InjectFault(Fault{Path: "devices/list", Status: http.StatusTooManyRequests, RetryAfter: "2", Times: 1})
		res := e.call("devices/list", body)
		expectError(t, res, http.StatusTooManyRequests, "too_many_requests")
		if res.header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After = %q", res.header.Get("Retry-After"))
		}
		e.ok("devices/list", body)
	})
	t.Run("503 on one path until cleared", func(t *testing.T) {
		e.sb.InjectFault(Fault{Path: "/devices/get", Status: http.StatusServiceUnavailable, Type: "service_unavailable", Message: "down"})
		for range 2 {
			res := e.call("devices/get", map[string]any{"device_id": "00000000-0000-4000-8000-000000000000"})
			expectError(t, res, http.StatusServiceUnavailable, "service_unavailable")
		}
		e.ok("devices/list", body) // other paths unaffected
		e.sb.ClearFaults()
		expectError(t, e.call("devices/get", map[string]any{"device_id": "00000000-0000-4000-8000-000000000000"}),
			http.StatusNotFound, "device_not_found")
	})
	t.Run("latency", func(t *testing.T) {
		e.sb.InjectFault(Fault{Latency: 30 * time.Millisecond, Times: 1})
		start := time.Now()
		e.ok("devices/list", body)
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("answered in %v, before the injected latency", d)
		}
	})
	t.Run("latency ends with the request context", func(t *testing.T) {
		e.sb.ResetCalls()
		e.sb.InjectFault(Fault{Latency: 20 * time.Second, Times: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/devices/list", nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		start := time.Now()
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		// The handler notices the cancellation and records the call as 499.
		deadline := time.Now().Add(5 * time.Second)
		for len(e.sb.CallsTo("devices/list")) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the handler is still waiting out the injected latency")
			}
			time.Sleep(time.Millisecond)
		}
		if c := e.sb.CallsTo("devices/list")[0]; c.Status != 499 || time.Since(start) > 5*time.Second {
			t.Fatalf("call %+v", c)
		}
	})
}

func TestCallLog(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{Now: clk.Now})
	e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "u"})
	e.call("devices/get", map[string]any{"device_id": "00000000-0000-4000-8000-000000000000"})
	e.ok("devices/list", map[string]any{"user_identifier_key": "u"})

	calls := e.sb.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[1]
	if c.Path != "/devices/get" || c.Method != http.MethodPost || c.Status != http.StatusNotFound || !c.At.Equal(clk.Now()) || c.RequestID == "" ||
		string(c.Body) != `{"device_id":"00000000-0000-4000-8000-000000000000"}` {
		t.Fatalf("call %+v", c)
	}
	if got := e.sb.CallsTo("devices/list"); len(got) != 1 || string(got[0].Body) != `{"user_identifier_key":"u"}` {
		t.Fatalf("CallsTo: %+v", got)
	}
	e.sb.ResetCalls()
	if n := len(e.sb.Calls()); n != 0 {
		t.Fatalf("%d calls after reset", n)
	}
}

func TestConcurrentUsers(t *testing.T) {
	e := newEnv(t, Options{ActionDelay: -1})
	const users = 8
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("user-%d", i)
			acc, devs := e.sb.AddConnectedAccount(key, 3)
			for range 5 {
				res := e.call("devices/list", map[string]any{"user_identifier_key": key})
				for _, d := range list(res.body, "devices") {
					if str(d, "connected_account_id") != acc {
						errs <- fmt.Errorf("%s sees device of %s", key, str(d, "connected_account_id"))
						return
					}
				}
				if n := len(list(res.body, "devices")); n != 3 {
					errs <- fmt.Errorf("%s sees %d devices", key, n)
					return
				}
				e.call("locks/unlock_door", map[string]any{"device_id": devs[0]})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(e.sb.CallsTo("locks/unlock_door")); n != users*5 {
		t.Errorf("%d unlock calls recorded, want %d", n, users*5)
	}
}

func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Start(ctx, "127.0.0.1:0", Options{APIKey: testKey, ActionDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	call := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/connect_webviews/create", nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		return http.DefaultClient.Do(req)
	}
	res, err := call()
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	// Webview URLs use the server's own URL, whatever Host the client sent.
	srv.Sandbox.mu.Lock()
	for _, w := range srv.Sandbox.st.webviews {
		if !strings.HasPrefix(w.json.URL, srv.URL+webviewPath+"?") {
			t.Errorf("webview url %q", w.json.URL)
		}
	}
	srv.Sandbox.mu.Unlock()

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := call(); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still answers after its context ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
