package seam

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadsRetryTransientFailures(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		replies    []reply
		retry      Option
		wantCalls  int
		wantDelays []time.Duration
	}{
		{
			name:       "two 503s then success, exponential backoff",
			replies:    []reply{{status: 503}, {status: 503}},
			wantCalls:  3,
			wantDelays: []time.Duration{1 * time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:       "502 and 504 are retried",
			replies:    []reply{{status: 502, body: "<html>bad gateway</html>"}, {status: 504}},
			wantCalls:  3,
			wantDelays: []time.Duration{1 * time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:       "dropped connection is retried",
			replies:    []reply{{drop: true}},
			wantCalls:  2,
			wantDelays: []time.Duration{1 * time.Millisecond},
		},
		{
			name:       "429 Retry-After seconds below the cap is honoured exactly",
			replies:    []reply{{status: 429, header: map[string]string{"Retry-After": "2"}}},
			retry:      WithRetry(4, testBaseDelay, 5*time.Second),
			wantCalls:  2,
			wantDelays: []time.Duration{2 * time.Second},
		},
		{
			name:       "503 Retry-After as HTTP date",
			replies:    []reply{{status: 503, header: map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}}},
			retry:      WithRetry(4, testBaseDelay, 5*time.Second),
			wantCalls:  2,
			wantDelays: []time.Duration{3 * time.Second},
		},
		{
			name:       "unparseable Retry-After falls back to backoff",
			replies:    []reply{{status: 429, header: map[string]string{"Retry-After": "soon"}}},
			wantCalls:  2,
			wantDelays: []time.Duration{testBaseDelay},
		},
		{
			name:       "backoff is capped at maxDelay",
			replies:    []reply{{status: 503}, {status: 503}, {status: 503}},
			retry:      WithRetry(5, 3*time.Millisecond, 8*time.Millisecond),
			wantCalls:  4,
			wantDelays: []time.Duration{3 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		for endpoint, call := range readCalls {
			t.Run(tt.name+"/"+endpoint, func(t *testing.T) {
				srv, c, rec := newScripted(t, append(slices.Clone(tt.replies), ok(endpoint))...)
				if tt.retry != nil {
					tt.retry(c)
				}
				c.now = func() time.Time { return now }
				if err := call(t.Context(), c); err != nil {
					t.Fatalf("call: %v", err)
				}
				if got := srv.calls(); got != tt.wantCalls {
					t.Errorf("server saw %d calls, want %d", got, tt.wantCalls)
				}
				if got := rec.recorded(); !slices.Equal(got, tt.wantDelays) {
					t.Errorf("delays %v, want %v", got, tt.wantDelays)
				}
			})
		}
	}
}

// TestReadsNotRetriedIntoALongerRetryAfter: a 429 whose Retry-After is longer than the
// client would ever wait is not retried early (that would only hit the limit again);
// the error carries Seam's wait.
func TestReadsNotRetriedIntoALongerRetryAfter(t *testing.T) {
	srv, c, rec := newScripted(t, reply{status: 429, body: `{"error":{"type":"rate_limited","message":"slow down"},"ok":false}`,
		header: map[string]string{"Retry-After": "7"}}, ok("devices/get"))
	_, err := c.Devices.Get(t.Context(), "d1")
	if !IsRateLimited(err) {
		t.Fatalf("err = %v, want the 429", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter = %v %v, want Seam's 7s", d, ok)
	}
	if got := srv.calls(); got != 1 {
		t.Errorf("server saw %d calls, want 1", got)
	}
	if got := rec.recorded(); len(got) != 0 {
		t.Errorf("slept %v, want no sleep", got)
	}
}

func TestReadsNotRetried(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		wantStatus int
	}{
		{"500 internal error", reply{status: 500, body: `{"error":{"type":"internal_server_error","message":"boom"},"ok":false}`}, 500},
		{"400 invalid input", reply{status: 400, body: `{"error":{"type":"invalid_input","message":"bad"},"ok":false}`}, 400},
		{"404 not found", reply{status: 404, body: `{"error":{"type":"device_not_found","message":"Device not found"},"ok":false}`}, 404},
		{"malformed 200", reply{status: 200, body: `{"device":`}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := newScripted(t, tt.reply, ok("devices/get"))
			_, err := c.Devices.Get(t.Context(), "d1")
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != tt.wantStatus {
				t.Fatalf("err = %v, want *Error with status %d", err, tt.wantStatus)
			}
			if got := srv.calls(); got != 1 {
				t.Errorf("server saw %d calls, want 1", got)
			}
		})
	}
}

func TestReadsGiveUpAfterMaxAttempts(t *testing.T) {
	srv, c, rec := newScripted(t, reply{status: 503, body: `{"error":{"type":"service_unavailable","message":"down"},"ok":false}`,
		header: map[string]string{"seam-request-id": "req-9"}})
	_, err := c.Devices.List(t.Context(), ListDevicesParams{})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.RequestID != "req-9" {
		t.Fatalf("err = %v, want the last 503 as *Error", err)
	}
	if !strings.Contains(err.Error(), "seam devices/list: 4 attempts: service_unavailable") {
		t.Errorf("err = %q, want endpoint and attempt count", err)
	}
	if got := srv.calls(); got != 4 {
		t.Errorf("server saw %d calls, want 4", got)
	}
	if got := len(rec.recorded()); got != 3 {
		t.Errorf("slept %d times, want 3", got)
	}
}

func TestWritesSentOnce(t *testing.T) {
	failures := []struct {
		name  string
		reply reply
	}{
		{"503", reply{status: 503, body: `{"error":{"type":"service_unavailable","message":"down"},"ok":false}`}},
		{"429 with Retry-After", reply{status: 429, header: map[string]string{"Retry-After": "0"}}},
		{"dropped connection", reply{drop: true}},
		{"no answer within the timeout", reply{hang: true}},
	}
	for _, f := range failures {
		for endpoint, call := range writeCalls {
			t.Run(f.name+"/"+endpoint, func(t *testing.T) {
				srv, c, rec := newScripted(t, f.reply, ok(endpoint))
				c.timeout = 50 * time.Millisecond
				err := call(t.Context(), c)
				if err == nil {
					t.Fatal("call succeeded, want the first failure")
				}
				if !strings.HasPrefix(err.Error(), "seam "+endpoint+": ") {
					t.Errorf("err = %q, want it prefixed with the endpoint", err)
				}
				if got := srv.calls(); got != 1 {
					t.Errorf("server saw %d calls, want exactly 1", got)
				}
				if got := rec.recorded(); len(got) != 0 {
					t.Errorf("slept %v, want no retry", got)
				}
			})
		}
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	srv, c, _ := newScripted(t, reply{hang: true}, ok("devices/get"))
	c.timeout = 50 * time.Millisecond
	d, err := c.Devices.Get(t.Context(), "d1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d.DeviceID != "august_device_1" {
		t.Errorf("DeviceID = %q", d.DeviceID)
	}
	if got := srv.calls(); got != 2 {
		t.Errorf("server saw %d calls, want 2 (one timed out)", got)
	}
}

func TestTimeoutErrorSaysSo(t *testing.T) {
	_, c, _ := newScripted(t, reply{hang: true})
	c.timeout = 20 * time.Millisecond
	_, err := c.Locks.UnlockDoor(t.Context(), "d1")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no response within 20ms") {
		t.Fatalf("err = %v, want a per-attempt timeout", err)
	}
}

func TestContextStopsRetries(t *testing.T) {
	t.Run("cancelled while waiting to retry", func(t *testing.T) {
		srv, c, _ := newScripted(t, reply{status: 503})
		c.sleep = sleepContext // the real one: the test proves it wakes on cancel
		c.maxAttempts, c.baseDelay, c.maxDelay = 10, time.Hour, time.Hour
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Devices.List(ctx, ListDevicesParams{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("returned after %v, want promptly", elapsed)
		}
		if got := srv.calls(); got != 1 {
			t.Errorf("server saw %d calls, want 1", got)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv, c, _ := newScripted(t, ok("devices/list"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Devices.List(ctx, ListDevicesParams{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if got := srv.calls(); got != 0 {
			t.Errorf("server saw %d calls, want 0", got)
		}
	})
	t.Run("deadline sooner than the next retry", func(t *testing.T) {
		srv, c, rec := newScripted(t, reply{status: 503})
		c.baseDelay, c.maxDelay = time.Hour, time.Hour
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := c.Devices.Get(ctx, "d1")
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Status != 503 {
			t.Fatalf("err = %v, want the 503 rather than a timeout", err)
		}
		if srv.calls() != 1 || len(rec.recorded()) != 0 {
			t.Errorf("calls %d, sleeps %v; want 1 call and no sleep", srv.calls(), rec.recorded())
		}
	})
}

func TestRetryLogged(t *testing.T) {
	var logs strings.Builder
	_, c, _ := newScripted(t, reply{status: 503, header: map[string]string{"seam-request-id": "req-42"}}, ok("devices/get"))
	WithLogger(newTextLogger(&logs))(c)
	if _, err := c.Devices.Get(t.Context(), "d1"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"level=WARN", "endpoint=devices/get", "status=503", "attempt=1", "request_id=req-42"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		wantUA string
	}{
		{"default user agent", nil, "latchkey/dev"},
		{"custom user agent", []Option{WithUserAgent("latchkey/1.2.3")}, "latchkey/1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := newScripted(t, ok("devices/get"))
			for _, o := range tt.opts {
				o(c)
			}
			if _, err := c.Devices.Get(t.Context(), "d1"); err != nil {
				t.Fatal(err)
			}
			h := srv.request(0).header
			if got := h.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q", got)
			}
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := h.Get("User-Agent"); got != tt.wantUA {
				t.Errorf("User-Agent = %q, want %q", got, tt.wantUA)
			}
		})
	}
}

func TestWithEndpointTrimsSlash(t *testing.T) {
	srv, c, _ := newScripted(t, ok("devices/get"))
	WithEndpoint(strings.TrimSuffix(c.endpoint, "/") + "/")(c)
	if _, err := c.Devices.Get(t.Context(), "d1"); err != nil {
		t.Fatal(err)
	}
	if got := srv.paths(); !slices.Equal(got, []string{"devices/get"}) {
		t.Errorf("paths = %q", got)
	}
}

func TestIsRead(t *testing.T) {
	for endpoint := range readCalls {
		if !isRead(endpoint) {
			t.Errorf("isRead(%q) = false, want true", endpoint)
		}
	}
	for endpoint := range writeCalls {
		if isRead(endpoint) {
			t.Errorf("isRead(%q) = true, want false", endpoint)
		}
	}
	if isRead("client_sessions/create") {
		t.Error("client_sessions/create must not be retried")
	}
}

func TestFullJitterStaysWithinBound(t *testing.T) {
	for range 1000 {
		if d := fullJitter(10 * time.Millisecond); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("fullJitter = %v, want within [0, 10ms]", d)
		}
	}
	if d := fullJitter(0); d != 0 {
		t.Errorf("fullJitter(0) = %v", d)
	}
}
