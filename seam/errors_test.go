package seam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestErrorEnvelope(t *testing.T) {
	tests := []struct {
		name                          string
		reply                         reply
		want                          Error
		notFound, unauthorized, limit bool
	}{
		{
			name: "404 device_not_found",
			reply: reply{status: 404, header: map[string]string{"seam-request-id": "request5"},
				body: `{"error":{"type":"device_not_found","message":"Device not found","stack":"Error: …"},"ok":false}`},
			want:     Error{Status: 404, Type: "device_not_found", Message: "Device not found", RequestID: "request5"},
			notFound: true,
		},
		{
			name:     "_not_found type on a 400",
			reply:    reply{status: 400, body: `{"error":{"type":"client_session_not_found","message":"Could not find client session"},"ok":false}`},
			want:     Error{Status: 400, Type: "client_session_not_found", Message: "Could not find client session"},
			notFound: true,
		},
		{
			name: "400 with validation errors",
			reply: reply{status: 400, header: map[string]string{"seam-request-id": "request7"},
				body: `{"error":{"type":"invalid_input","message":"Expected number","validation_errors":{"_errors":[],"limit":{"_errors":["Expected number"]}}},"ok":false}`},
			want: Error{Status: 400, Type: "invalid_input", Message: "Expected number", RequestID: "request7",
				ValidationErrors: json.RawMessage(`{"_errors":[],"limit":{"_errors":["Expected number"]}}`)},
		},
		{
			name:         "401 unauthorized",
			reply:        reply{status: 401, body: `{"error":{"type":"unauthorized","message":"API Key not found"},"ok":false}`},
			want:         Error{Status: 401, Type: "unauthorized", Message: "API Key not found"},
			unauthorized: true,
		},
		{
			name:         "403 forbidden",
			reply:        reply{status: 403, body: `{"error":{"type":"forbidden","message":"no"},"ok":false}`},
			want:         Error{Status: 403, Type: "forbidden", Message: "no"},
			unauthorized: true,
		},
		{
			name:  "429 rate limited",
			reply: reply{status: 429, body: `{"error":{"type":"rate_limited","message":"slow down"},"ok":false}`},
			want:  Error{Status: 429, Type: "rate_limited", Message: "slow down"},
			limit: true,
		},
		{
			name:  "ok false inside a 200",
			reply: reply{status: 200, body: `{"error":{"type":"weird","message":"m"},"ok":false}`},
			want:  Error{Status: 200, Type: "weird", Message: "m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := newScripted(t, tt.reply)
			c.maxAttempts = 1
			_, err := c.Devices.Get(t.Context(), "d1")
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %#v, want *Error", err)
			}
			if got.Status != tt.want.Status || got.Type != tt.want.Type || got.Message != tt.want.Message ||
				got.RequestID != tt.want.RequestID || !bytes.Equal(got.ValidationErrors, tt.want.ValidationErrors) {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
			if IsNotFound(err) != tt.notFound || IsUnauthorized(err) != tt.unauthorized || IsRateLimited(err) != tt.limit {
				t.Errorf("IsNotFound=%v IsUnauthorized=%v IsRateLimited=%v, want %v %v %v",
					IsNotFound(err), IsUnauthorized(err), IsRateLimited(err), tt.notFound, tt.unauthorized, tt.limit)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Status: 404, Type: "device_not_found", Message: "Device not found", RequestID: "r1"}, "device_not_found: Device not found (HTTP 404, request id r1)"},
		{&Error{Status: 502}, "error (HTTP 502)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestIsHelpersOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("plain"), context.Canceled, fmt.Errorf("wrapped: %w", context.DeadlineExceeded)} {
		if IsNotFound(err) || IsUnauthorized(err) || IsRateLimited(err) {
			t.Errorf("Is* true for %v", err)
		}
	}
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name       string
		endpoint   string
		reply      reply
		wantStatus int
		wantType   string
	}{
		{"200 not JSON", "devices/get", reply{status: 200, body: "not json"}, 200, TypeInvalidResponse},
		{"200 truncated JSON", "devices/get", reply{status: 200, body: `{"device":{"device_id":`}, 200, TypeInvalidResponse},
		{"200 empty body", "devices/get", reply{status: 200, body: ""}, 200, TypeInvalidResponse},
		{"200 JSON null", "devices/get", reply{status: 200, body: "null"}, 200, TypeInvalidResponse},
		{"200 without the resource", "devices/get", reply{status: 200, body: `{"ok":true}`}, 200, TypeInvalidResponse},
		{"200 resource of the wrong type", "devices/list", reply{status: 200, body: `{"devices":"many","ok":true}`}, 200, TypeInvalidResponse},
		{"200 list without devices", "devices/list", reply{status: 200, body: `{"ok":true}`}, 200, TypeInvalidResponse},
		{"200 action attempt is an array", "locks/unlock_door", reply{status: 200, body: `{"action_attempt":[1,2]}`}, 200, TypeInvalidResponse},
		{"200 events with a bad time", "events/list", reply{status: 200, body: `{"events":[{"created_at":"yesterday"}]}`}, 200, TypeInvalidResponse},
		{"502 HTML from a proxy", "locks/unlock_door", reply{status: 502, body: "<html><body>Bad Gateway</body></html>"}, 502, TypeInvalidResponse},
		{"404 bare text (fake's unknown route)", "client_sessions/grant_access", reply{status: 404, body: "404"}, 404, TypeInvalidResponse},
		{"500 error field is a string", "devices/update", reply{status: 500, body: `{"error":"boom"}`}, 500, TypeInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := newScripted(t, tt.reply)
			c.maxAttempts = 1
			call := readCalls[tt.endpoint]
			if call == nil {
				call = writeCalls[tt.endpoint]
			}
			err := call(t.Context(), c)
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if got.Status != tt.wantStatus || got.Type != tt.wantType {
				t.Errorf("got status %d type %q, want %d %q (%v)", got.Status, got.Type, tt.wantStatus, tt.wantType, err)
			}
			if !strings.HasPrefix(err.Error(), "seam "+tt.endpoint+": ") {
				t.Errorf("err = %q, want endpoint prefix", err)
			}
		})
	}
}

func TestNonJSONErrorQuotesBodyStart(t *testing.T) {
	_, c, _ := newScripted(t, reply{status: 404, body: "404"})
	err := c.ClientSessions.GrantAccess(t.Context(), GrantAccessParams{UserIdentifierKey: "u1"})
	if !IsNotFound(err) || !strings.Contains(err.Error(), `"404"`) {
		t.Fatalf("err = %v, want a not-found quoting the body", err)
	}
	_, c, _ = newScripted(t, reply{status: 502, body: strings.Repeat("é", 500)})
	_, err = c.Locks.UnlockDoor(t.Context(), "d1")
	if msg := err.Error(); len(msg) > 400 || !strings.Contains(msg, "…") {
		t.Errorf("err = %q, want a short snippet", msg)
	}
}

// TestAPIKeyNeverLeaks makes requests fail every way we can think of, with
// servers that even echo the key back, and looks for the key everywhere.
func TestAPIKeyNeverLeaks(t *testing.T) {
	const key = "seam_live_SECRET_d41d8cd98f00b204"
	echo := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("seam-request-id", "req-"+key)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
	tests := []struct {
		name     string
		key      string
		handler  http.HandlerFunc
		endpoint string // "" means a closed server
		ctx      func(context.Context) context.Context
	}{
		{name: "401 echoing the key", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			echo(w, 401, `{"error":{"type":"unauthorized","message":"API key `+key+` not found","validation_errors":{"key":"`+key+`"}},"ok":false}`)
		}},
		{name: "500 HTML echoing the Authorization header", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			echo(w, 500, "<pre>"+r.Header.Get("Authorization")+"</pre>")
		}},
		{name: "503 on every retry", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			echo(w, 503, `{"error":{"type":"`+key+`","message":"down"},"ok":false}`)
		}},
		{name: "malformed 200 echoing the key", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			echo(w, 200, `{"device":"`+key)
		}},
		{name: "dropped connection", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}},
		{name: "per-attempt timeout", key: key, handler: func(w http.ResponseWriter, r *http.Request) {
			// Read the body first: only then does the server notice the client hanging up
			// and cancel r.Context().
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{name: "connection refused", key: key},
		{name: "cancelled context", key: key, handler: func(w http.ResponseWriter, r *http.Request) { echo(w, 503, "") },
			ctx: func(ctx context.Context) context.Context {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx
			}},
		{name: "key that is not a valid header value", key: key + "\r\nX: y", handler: func(w http.ResponseWriter, r *http.Request) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			if tt.handler == nil {
				srv.Close()
			} else {
				defer srv.Close()
			}
			var logs bytes.Buffer
			c := New(tt.key, WithEndpoint(srv.URL), WithLogger(newTextLogger(&logs)),
				WithRetry(3, time.Millisecond, 2*time.Millisecond), WithTimeout(50*time.Millisecond))
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			var errs []error
			for _, call := range readCalls {
				errs = append(errs, call(ctx, c))
			}
			for _, call := range writeCalls {
				errs = append(errs, call(ctx, c))
			}
			for _, err := range errs {
				if err == nil {
					t.Fatal("a call succeeded; the test would prove nothing")
				}
				for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					if strings.Contains(s, key) {
						t.Errorf("error leaks the key: %s", s)
					}
				}
				var apiErr *Error
				if errors.As(err, &apiErr) && strings.Contains(string(apiErr.ValidationErrors)+apiErr.RequestID, key) {
					t.Errorf("Error fields leak the key: %+v", apiErr)
				}
			}
			if strings.Contains(logs.String(), key) {
				t.Errorf("logs leak the key:\n%s", logs.String())
			}
			for _, s := range []string{fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", *c)} {
				if strings.Contains(s, key) {
					t.Errorf("printing the client leaks the key: %s", s)
				}
			}
		})
	}
}
