package seam

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "seam_test_key_Zq81xK"

// Bodies in the shape Seam's fake (@seamapi/fake-seam-connect 1.86.0) returns them.
const (
	deviceJSON = `{"device_id":"august_device_1","is_managed":true,"device_type":"august_lock",` +
		`"display_name":"Smart Device","connected_account_id":"john_connected_account_id",` +
		`"capabilities_supported":["lock","access_code"],"created_at":"2026-11-27T00:21:42.309Z",` +
		`"properties":{"name":"Fake August Lock 1","appearance":{"name":"Front Door"},"online":true,` +
		`"manufacturer":"august","locked":true,"model":{"display_name":"Device","manufacturer_display_name":"Generic"},` +
		`"battery":{"level":1,"status":"full"},"currently_triggering_noise_threshold_ids":[]},` +
		`"workspace_id":"seed_workspace_1","errors":[],"warnings":[],"custom_metadata":{},` +
		`"can_remotely_lock":true,"can_remotely_unlock":true,"can_program_online_access_codes":true,"space_ids":[]}`
	actionAttemptJSON = `{"action_type":"UNLOCK_DOOR","action_attempt_id":"action_attempt1","result":null,"error":null,"status":"pending"}`
	webviewJSON       = `{"connect_webview_id":"connect_webview2","url":"https://fake.seam.vc/connect_webviews/view?connect_webview_id=connect_webview2",` +
		`"workspace_id":"seed_workspace_1","status":"pending","accepted_providers":["august"],"created_at":"2026-11-27T00:22:02.157Z",` +
		`"custom_redirect_url":"http://127.0.0.1/x","custom_redirect_failure_url":null,"device_selection_mode":"none",` +
		`"accepted_devices":[],"any_device_allowed":false,"any_provider_allowed":false,"login_successful":false,` +
		`"connected_account_id":null,"custom_metadata":{},"automatically_manage_new_devices":true,` +
		`"wait_for_device_creation":false,"accepted_capabilities":[]}`
	accountJSON = `{"connected_account_id":"john_connected_account_id","provider":"august","workspace_id":"seed_workspace_1",` +
		`"created_at":"2026-11-27T00:21:42.309Z","user_identifier":{"email":"john@example.com"},"display_name":"john@example.com",` +
		`"account_type_display_name":"Unknown","automatically_manage_new_devices":true,"custom_metadata":{},"bridge_id":null,"accepted_capabilities":[]}`
	sessionJSON = `{"workspace_id":"seed_workspace_1","connect_webview_ids":[],"connected_account_ids":[],"user_identifier_key":"u1",` +
		`"api_key_id":"api_key1","client_session_id":"cst2","token":"seam_cst1cst2_1tnse","user_identity_ids":[],` +
		`"created_at":"2026-11-27T00:22:02.212Z","expires_at":"2027-11-27T06:22:02.212Z","device_count":0}`
	eventJSON = `{"event_id":"event2","created_at":"2026-11-27T00:22:02.141Z","occurred_at":"2026-11-27T00:22:02.141Z",` +
		`"event_description":"A lock device was unlocked.","event_type":"lock.unlocked","workspace_id":"seed_workspace_1",` +
		`"device_id":"august_device_1","connected_account_id":"john_connected_account_id"}`
	lastPage = `"pagination":{"has_next_page":false,"next_page_cursor":null,"next_page_url":null}`
)

// okBodies is a successful response for every endpoint the client calls.
var okBodies = map[string]string{
	"devices/list":                  `{"devices":[` + deviceJSON + `],` + lastPage + `,"ok":true}`,
	"devices/get":                   `{"device":` + deviceJSON + `,"ok":true}`,
	"devices/update":                `{"ok":true}`,
	"locks/unlock_door":             `{"action_attempt":` + actionAttemptJSON + `,"ok":true}`,
	"locks/lock_door":               `{"action_attempt":` + strings.Replace(actionAttemptJSON, "UNLOCK", "LOCK", 1) + `,"ok":true}`,
	"action_attempts/get":           `{"action_attempt":` + actionAttemptJSON + `,"ok":true}`,
	"connect_webviews/create":       `{"connect_webview":` + webviewJSON + `,"ok":true}`,
	"connect_webviews/get":          `{"connect_webview":` + webviewJSON + `,"ok":true}`,
	"connected_accounts/get":        `{"connected_account":` + accountJSON + `,"ok":true}`,
	"connected_accounts/list":       `{"connected_accounts":[` + accountJSON + `],` + lastPage + `,"ok":true}`,
	"client_sessions/get_or_create": `{"client_session":` + sessionJSON + `,"ok":true}`,
	"client_sessions/get":           `{"client_session":` + sessionJSON + `,"ok":true}`,
	"client_sessions/create":        `{"client_session":` + sessionJSON + `,"ok":true}`,
	"client_sessions/grant_access":  `{"client_session":` + sessionJSON + `,"ok":true}`,
	"events/list":                   `{"events":[` + eventJSON + `],"ok":true}`,
}

// apiCall invokes one client method; the endpoint it hits is the map key.
type apiCall func(ctx context.Context, c *Client) error

// readCalls are the endpoints that must be retried.
var readCalls = map[string]apiCall{
	"devices/list": func(ctx context.Context, c *Client) error {
		_, err := c.Devices.List(ctx, ListDevicesParams{UserIdentifierKey: "u1"})
		return err
	},
	"devices/get": func(ctx context.Context, c *Client) error {
		_, err := c.Devices.Get(ctx, "d1")
		return err
	},
	"action_attempts/get": func(ctx context.Context, c *Client) error {
		_, err := c.ActionAttempts.Get(ctx, "aa1")
		return err
	},
	"connect_webviews/get": func(ctx context.Context, c *Client) error {
		_, err := c.ConnectWebviews.Get(ctx, "cw1")
		return err
	},
	"connected_accounts/get": func(ctx context.Context, c *Client) error {
		_, err := c.ConnectedAccounts.Get(ctx, "ca1")
		return err
	},
	"connected_accounts/list": func(ctx context.Context, c *Client) error {
		_, err := c.ConnectedAccounts.List(ctx, ListConnectedAccountsParams{UserIdentifierKey: "u1"})
		return err
	},
	"client_sessions/get_or_create": func(ctx context.Context, c *Client) error {
		_, err := c.ClientSessions.GetOrCreate(ctx, GetOrCreateClientSessionParams{UserIdentifierKey: "u1"})
		return err
	},
	"events/list": func(ctx context.Context, c *Client) error {
		_, err := c.Events.List(ctx, ListEventsParams{})
		return err
	},
}

// writeCalls are the endpoints that must be sent exactly once.
var writeCalls = map[string]apiCall{
	"locks/unlock_door": func(ctx context.Context, c *Client) error {
		_, err := c.Locks.UnlockDoor(ctx, "d1")
		return err
	},
	"locks/lock_door": func(ctx context.Context, c *Client) error {
		_, err := c.Locks.LockDoor(ctx, "d1")
		return err
	},
	"connect_webviews/create": func(ctx context.Context, c *Client) error {
		_, err := c.ConnectWebviews.Create(ctx, CreateConnectWebviewParams{CustomRedirectURL: "http://127.0.0.1/done"})
		return err
	},
	"client_sessions/grant_access": func(ctx context.Context, c *Client) error {
		return c.ClientSessions.GrantAccess(ctx, GrantAccessParams{UserIdentifierKey: "u1", ConnectWebviewIDs: []string{"cw1"}})
	},
	"devices/update": func(ctx context.Context, c *Client) error {
		return c.Devices.Update(ctx, UpdateDeviceParams{DeviceID: "d1", Name: "Front"})
	},
}

// reply is one scripted server answer.
type reply struct {
	status int
	body   string
	header map[string]string
	// drop closes the connection without answering, like a crashed proxy.
	drop bool
	// hang waits until the client gives up, like an overloaded upstream.
	hang bool
}

func ok(endpoint string) reply { return reply{status: 200, body: okBodies[endpoint]} }

// request is what the scripted server received.
type request struct {
	path   string
	body   string
	header http.Header
}

// scripted answers with replies in order, repeating the last one, and records every request.
type scripted struct {
	mu       sync.Mutex
	replies  []reply
	requests []request
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, request{path: strings.TrimPrefix(r.URL.Path, "/"), body: string(body), header: r.Header.Clone()})
	rep := s.replies[min(n, len(s.replies)-1)]
	s.mu.Unlock()

	switch {
	case rep.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case rep.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *scripted) request(i int) request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[i]
}

func (s *scripted) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []string
	for _, r := range s.requests {
		p = append(p, r.path)
	}
	return p
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// sleepRecorder stands in for the client's sleep so retries take no real time.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// Test retry settings: delays of 1, 2, 4 ms, capped at 8 ms.
const (
	testBaseDelay = time.Millisecond
	testMaxDelay  = 8 * time.Millisecond
)

// newScripted starts a server answering with replies and a client pointed at it
// whose sleeps are recorded, not slept, and whose jitter always picks the upper bound.
func newScripted(t *testing.T, replies ...reply) (*scripted, *Client, *sleepRecorder) {
	t.Helper()
	s := &scripted{replies: replies}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	rec := &sleepRecorder{}
	c := New(testKey, WithEndpoint(srv.URL), WithRetry(4, testBaseDelay, testMaxDelay), WithTimeout(2*time.Second))
	c.sleep = rec.sleep
	c.jitter = func(limit time.Duration) time.Duration { return limit }
	return s, c, rec
}
