package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// openStream opens GET /events for c and returns its events as they arrive; the
// channel closes when the stream ends.
func openStream(t *testing.T, p *testportal.Portal, c *http.Client) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	streaming := *c
	streaming.Timeout = 0
	res, err := streaming.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res, readEvents(res)
}

// readEvents reads a stream's events as they arrive; the channel closes when it ends.
func readEvents(res *http.Response) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 || ev.name != "" {
					ev.data = strings.Join(data, "\n")
					out <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return out
}

// next waits for the next event matching want, for at most d.
func next(t *testing.T, events <-chan sseEvent, d time.Duration, want func(sseEvent) bool) (sseEvent, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return sseEvent{}, false
			}
			if want(ev) {
				return ev, true
			}
		case <-deadline:
			return sseEvent{}, false
		}
	}
}

// TestLiveStream: /events without a session is 401 (no redirect, no sign-in cookie);
// alice's stream carries her device's change as out-of-band fragments; bob's stream
// never carries alice's device; signing out closes the stream with sse-close.
func TestLiveStream(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})

	anon := p.Client(t)
	res, _ := p.Get(t, anon, "/events")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Location") != "" || len(res.Cookies()) != 0 {
		t.Errorf("anonymous /events: %d Location %q cookies %v, want a bare 401", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}

	alice, bob := signIn(t, p, "alice"), signIn(t, p, "bob")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	connectLocks(t, p, bob, sandbox.JohnEmail)

	res, aliceEvents := openStream(t, p, alice.c)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("alice's /events: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	_, bobEvents := openStream(t, p, bob.c)
	for _, events := range []<-chan sseEvent{aliceEvents, bobEvents} {
		if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
			t.Fatal("a stream never said it was connected")
		}
	}

	if err := p.Sandbox.SetLocked(front, false, sandbox.MethodManual); err != nil {
		t.Fatal(err)
	}
	ev, ok := next(t, aliceEvents, 5*time.Second, func(ev sseEvent) bool {
		return ev.name == "change" && strings.Contains(ev.data, `id="device-`+front+`"`)
	})
	if !ok {
		t.Fatal("alice's stream never carried her unlocked Front Door")
	}
	if !strings.Contains(ev.data, `hx-swap-oob`) || !strings.Contains(ev.data, "Unlocked") {
		t.Errorf("the change is not an out-of-band fragment showing Unlocked:\n%s", ev.data)
	}
	if ev, ok := next(t, bobEvents, 500*time.Millisecond, func(ev sseEvent) bool { return strings.Contains(ev.data, front) }); ok {
		t.Errorf("bob's stream carried alice's device:\n%s", ev.data)
	}

	if res, _ := p.Post(t, alice.c, "/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	if _, ok := next(t, aliceEvents, 5*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("signing out did not close alice's stream with sse-close")
	}
	// Bob's stream is still open: his session goes on.
	if err := p.Sandbox.SetLocked(front, true, sandbox.MethodManual); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-bobEvents:
		if !ok || ev.name == "sse-close" {
			t.Error("bob's stream ended with alice's sign-out")
		}
	case <-time.After(300 * time.Millisecond):
	}
}
