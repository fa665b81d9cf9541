package seam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequestBodies(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		endpoint string
		call     apiCall
		wantBody string
	}{
		{"devices/list for a user and device", "devices/list", func(ctx context.Context, c *Client) error {
			_, err := c.Devices.List(ctx, ListDevicesParams{UserIdentifierKey: "u1", DeviceIDs: []string{"d1"}, Limit: 50})
			return err
		}, `{"user_identifier_key":"u1","device_ids":["d1"],"limit":50}`},
		{"devices/list omits nil filters", "devices/list", func(ctx context.Context, c *Client) error {
			_, err := c.Devices.List(ctx, ListDevicesParams{})
			return err
		}, `{}`},
		{"devices/list sends an empty device filter as []", "devices/list", func(ctx context.Context, c *Client) error {
			_, err := c.Devices.List(ctx, ListDevicesParams{DeviceIDs: []string{}, ConnectedAccountID: "ca1"})
			return err
		}, `{"device_ids":[],"connected_account_id":"ca1"}`},
		{"devices/get", "devices/get", readCalls["devices/get"], `{"device_id":"d1"}`},
		{"devices/update", "devices/update", writeCalls["devices/update"], `{"device_id":"d1","name":"Front"}`},
		{"locks/unlock_door", "locks/unlock_door", writeCalls["locks/unlock_door"], `{"device_id":"d1"}`},
		{"locks/lock_door", "locks/lock_door", writeCalls["locks/lock_door"], `{"device_id":"d1"}`},
		{"action_attempts/get", "action_attempts/get", readCalls["action_attempts/get"], `{"action_attempt_id":"aa1"}`},
		{"connect_webviews/create with everything", "connect_webviews/create", func(ctx context.Context, c *Client) error {
			_, err := c.ConnectWebviews.Create(ctx, CreateConnectWebviewParams{
				CustomRedirectURL: "https://app/done", CustomRedirectFailureURL: "https://app/failed",
				WaitForDeviceCreation: true, AcceptedProviders: []string{"august"}, CustomMetadata: map[string]string{"user": "u1"},
			})
			return err
		}, `{"custom_redirect_url":"https://app/done","custom_redirect_failure_url":"https://app/failed",
			"wait_for_device_creation":true,"accepted_providers":["august"],"custom_metadata":{"user":"u1"}}`},
		{"connect_webviews/create minimal", "connect_webviews/create", func(ctx context.Context, c *Client) error {
			_, err := c.ConnectWebviews.Create(ctx, CreateConnectWebviewParams{})
			return err
		}, `{"wait_for_device_creation":false}`},
		{"connect_webviews/get", "connect_webviews/get", readCalls["connect_webviews/get"], `{"connect_webview_id":"cw1"}`},
		{"connected_accounts/get", "connected_accounts/get", readCalls["connected_accounts/get"], `{"connected_account_id":"ca1"}`},
		{"connected_accounts/list", "connected_accounts/list", readCalls["connected_accounts/list"], `{"user_identifier_key":"u1"}`},
		{"client_sessions/get_or_create", "client_sessions/get_or_create", readCalls["client_sessions/get_or_create"], `{"user_identifier_key":"u1"}`},
		{"client_sessions/grant_access", "client_sessions/grant_access", writeCalls["client_sessions/grant_access"],
			`{"user_identifier_key":"u1","connect_webview_ids":["cw1"]}`},
		{"client_sessions/grant_access by session id", "client_sessions/grant_access", func(ctx context.Context, c *Client) error {
			return c.ClientSessions.GrantAccess(ctx, GrantAccessParams{ClientSessionID: "cst1", ConnectWebviewIDs: []string{"cw1"}})
		}, `{"client_session_id":"cst1","connect_webview_ids":["cw1"]}`},
		{"events/list defaults since to 30 days ago", "events/list", readCalls["events/list"], `{"since":"2026-10-28T12:00:00.000Z"}`},
		{"events/list with filters", "events/list", func(ctx context.Context, c *Client) error {
			_, err := c.Events.List(ctx, ListEventsParams{
				DeviceIDs: []string{"d1"}, EventTypes: []string{EventLockUnlocked, EventLockLocked},
				Since: time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)), Limit: 10,
			})
			return err
		}, `{"device_ids":["d1"],"event_types":["lock.unlocked","lock.locked"],"since":"2026-01-02T03:04:05.000Z","limit":10}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := newScripted(t, ok(tt.endpoint))
			c.now = func() time.Time { return now }
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			if got := srv.paths(); !slices.Equal(got, []string{tt.endpoint}) {
				t.Fatalf("paths = %q, want [%s]", got, tt.endpoint)
			}
			assertJSONEqual(t, srv.request(0).body, tt.wantBody)
		})
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

func TestMissingIDsAreNotSent(t *testing.T) {
	calls := map[string]apiCall{
		"devices/get": func(ctx context.Context, c *Client) error { _, err := c.Devices.Get(ctx, ""); return err },
		"devices/update": func(ctx context.Context, c *Client) error {
			return c.Devices.Update(ctx, UpdateDeviceParams{Name: "x"})
		},
		"locks/unlock_door":      func(ctx context.Context, c *Client) error { _, err := c.Locks.UnlockDoor(ctx, ""); return err },
		"locks/lock_door":        func(ctx context.Context, c *Client) error { _, err := c.Locks.LockDoor(ctx, ""); return err },
		"action_attempts/get":    func(ctx context.Context, c *Client) error { _, err := c.ActionAttempts.Get(ctx, ""); return err },
		"connect_webviews/get":   func(ctx context.Context, c *Client) error { _, err := c.ConnectWebviews.Get(ctx, ""); return err },
		"connected_accounts/get": func(ctx context.Context, c *Client) error { _, err := c.ConnectedAccounts.Get(ctx, ""); return err },
		"client_sessions/get_or_create": func(ctx context.Context, c *Client) error {
			_, err := c.ClientSessions.GetOrCreate(ctx, GetOrCreateClientSessionParams{})
			return err
		},
		"client_sessions/grant_access": func(ctx context.Context, c *Client) error {
			return c.ClientSessions.GrantAccess(ctx, GrantAccessParams{ConnectWebviewIDs: []string{"cw1"}})
		},
	}
	for endpoint, call := range calls {
		t.Run(endpoint, func(t *testing.T) {
			srv, c, _ := newScripted(t, ok(endpoint))
			if err := call(t.Context(), c); err == nil {
				t.Fatal("want an error for a missing id")
			}
			if n := srv.calls(); n != 0 {
				t.Errorf("server saw %d calls, want 0", n)
			}
		})
	}
}

func TestDecodeDevice(t *testing.T) {
	_, c, _ := newScripted(t, ok("devices/get"))
	d, err := c.Devices.Get(t.Context(), "august_device_1")
	if err != nil {
		t.Fatal(err)
	}
	locked := true
	want := Device{
		DeviceID: "august_device_1", DisplayName: "Smart Device", DeviceType: "august_lock",
		ConnectedAccountID: "john_connected_account_id", CapabilitiesSupported: []string{"lock", "access_code"},
		CanRemotelyUnlock: true, CanRemotelyLock: true, CreatedAt: time.Date(2026, 11, 27, 0, 21, 42, 309e6, time.UTC),
		Properties: DeviceProperties{
			Name: "Fake August Lock 1", Online: true, Locked: &locked, Battery: &Battery{Level: 1, Status: "full"},
			Model: DeviceModel{DisplayName: "Device", ManufacturerDisplayName: "Generic"}, Manufacturer: "august",
		},
		Errors: []DeviceError{}, Warnings: []DeviceWarning{},
	}
	if !reflect.DeepEqual(*d, want) {
		t.Errorf("got  %+v\nwant %+v", *d, want)
	}
}

func TestDecodeDeviceErrorsAndOptionalProperties(t *testing.T) {
	body := `{"devices":[{"device_id":"d2","nickname":"Back","properties":{"online":false,"door_open":false,"battery_level":0.25,"image_url":"https://img/x.png"},
		"errors":[{"error_code":"account_disconnected","message":"Account is disconnected","is_connected_account_error":true,"created_at":"2026-01-01T00:00:00Z"}],
		"warnings":[{"warning_code":"salto_ks_office_mode","message":"office mode"}],"future_field":{"x":1}}],"ok":true}`
	_, c, _ := newScripted(t, reply{status: 200, body: body})
	devices, err := c.Devices.List(t.Context(), ListDevicesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != 1 {
		t.Fatalf("got %d devices", len(devices))
	}
	d := devices[0]
	p := d.Properties
	if d.Nickname != "Back" || p.Locked != nil || p.DoorOpen == nil || *p.DoorOpen || p.BatteryLevel == nil || *p.BatteryLevel != 0.25 ||
		p.Battery != nil || p.ImageURL != "https://img/x.png" {
		t.Errorf("properties decoded wrong: %+v", d)
	}
	wantErr := []DeviceError{{ErrorCode: "account_disconnected", Message: "Account is disconnected", IsConnectedAccountError: true}}
	if !reflect.DeepEqual(d.Errors, wantErr) {
		t.Errorf("Errors = %+v", d.Errors)
	}
	if !reflect.DeepEqual(d.Warnings, []DeviceWarning{{WarningCode: "salto_ks_office_mode", Message: "office mode"}}) {
		t.Errorf("Warnings = %+v", d.Warnings)
	}
}

func TestDecodeActionAttempt(t *testing.T) {
	tests := []struct {
		name string
		json string
		want ActionAttempt
	}{
		{"pending with null result", actionAttemptJSON,
			ActionAttempt{ActionAttemptID: "action_attempt1", ActionType: ActionUnlockDoor, Status: StatusPending}},
		{"success with result", `{"action_attempt_id":"a2","action_type":"LOCK_DOOR","status":"success","result":{},"error":null}`,
			ActionAttempt{ActionAttemptID: "a2", ActionType: ActionLockDoor, Status: StatusSuccess, Result: json.RawMessage(`{}`)}},
		{"error", `{"action_attempt_id":"a3","action_type":"UNLOCK_DOOR","status":"error","result":null,"error":{"type":"device_offline","message":"Device is offline"}}`,
			ActionAttempt{ActionAttemptID: "a3", ActionType: ActionUnlockDoor, Status: StatusError,
				Error: &ActionAttemptError{Type: "device_offline", Message: "Device is offline"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := newScripted(t, reply{status: 200, body: `{"action_attempt":` + tt.json + `,"ok":true}`})
			got, err := c.ActionAttempts.Get(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeConnectWebview(t *testing.T) {
	authorized := `{"connect_webview_id":"cw2","url":"https://x","status":"authorized","login_successful":true,
		"connected_account_id":"ca9","custom_redirect_url":null,"authorized_at":"2026-11-27T00:25:00.000Z","selected_provider":"august",
		"custom_metadata":{"user":"u1","vip":true},"created_at":"2026-11-27T00:22:02.157Z","wait_for_device_creation":true}`
	tests := []struct {
		name string
		body string
		want ConnectWebview
	}{
		{"pending from the fake", webviewJSON, ConnectWebview{
			ConnectWebviewID: "connect_webview2", URL: "https://fake.seam.vc/connect_webviews/view?connect_webview_id=connect_webview2",
			Status: WebviewPending, CustomRedirectURL: "http://127.0.0.1/x", AcceptedProviders: []string{"august"},
			CustomMetadata: map[string]any{}, WorkspaceID: "seed_workspace_1", CreatedAt: time.Date(2026, 11, 27, 0, 22, 2, 157e6, time.UTC),
		}},
		{"authorized", authorized, ConnectWebview{
			ConnectWebviewID: "cw2", URL: "https://x", Status: WebviewAuthorized, LoginSuccessful: true, ConnectedAccountID: "ca9",
			WaitForDeviceCreation: true, SelectedProvider: "august", CustomMetadata: map[string]any{"user": "u1", "vip": true},
			CreatedAt:    time.Date(2026, 11, 27, 0, 22, 2, 157e6, time.UTC),
			AuthorizedAt: new(time.Date(2026, 11, 27, 0, 25, 0, 0, time.UTC)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := newScripted(t, reply{status: 200, body: `{"connect_webview":` + tt.body + `,"ok":true}`})
			got, err := c.ConnectWebviews.Get(t.Context(), "cw")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeAccountSessionEvent(t *testing.T) {
	_, c, _ := newScripted(t, ok("connected_accounts/get"), ok("client_sessions/get_or_create"), ok("events/list"))
	ctx := t.Context()
	a, err := c.ConnectedAccounts.Get(ctx, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if a.ConnectedAccountID != "john_connected_account_id" || a.DisplayName != "john@example.com" ||
		a.UserIdentifier == nil || a.UserIdentifier.Email != "john@example.com" || a.CreatedAt.IsZero() {
		t.Errorf("account = %+v", a)
	}
	s, err := c.ClientSessions.GetOrCreate(ctx, GetOrCreateClientSessionParams{UserIdentifierKey: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientSessionID != "cst2" || s.UserIdentifierKey != "u1" || s.Token == "" || s.ExpiresAt.IsZero() {
		t.Errorf("session = %+v", s)
	}
	events, err := c.Events.List(ctx, ListEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	want := Event{EventID: "event2", EventType: EventLockUnlocked, DeviceID: "august_device_1", ConnectedAccountID: "john_connected_account_id",
		EventDescription: "A lock device was unlocked.", OccurredAt: time.Date(2026, 11, 27, 0, 22, 2, 141e6, time.UTC),
		CreatedAt: time.Date(2026, 11, 27, 0, 22, 2, 141e6, time.UTC)}
	if len(events) != 1 || !reflect.DeepEqual(events[0], want) {
		t.Errorf("events = %+v", events)
	}
}

func TestClientSessionLogValueHidesToken(t *testing.T) {
	var logs strings.Builder
	newTextLogger(&logs).Info("session", "s", ClientSession{ClientSessionID: "cst1", Token: "seam_cst_secret"})
	if got := logs.String(); !strings.Contains(got, "cst1") || strings.Contains(got, "seam_cst_secret") {
		t.Errorf("log = %q", got)
	}
}

func TestPagination(t *testing.T) {
	page := func(id, cursor string) reply {
		next := `"has_next_page":false,"next_page_cursor":null`
		if cursor != "" {
			next = fmt.Sprintf(`"has_next_page":true,"next_page_cursor":%q`, cursor)
		}
		return reply{status: 200, body: `{"devices":[{"device_id":"` + id + `"}],"pagination":{` + next + `},"ok":true}`}
	}
	t.Run("follows cursors to the end", func(t *testing.T) {
		srv, c, _ := newScripted(t, page("d1", "c1"), page("d2", "c2"), page("d3", ""))
		devices, err := c.Devices.List(t.Context(), ListDevicesParams{UserIdentifierKey: "u1", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range devices {
			ids = append(ids, d.DeviceID)
		}
		if !slices.Equal(ids, []string{"d1", "d2", "d3"}) {
			t.Errorf("ids = %q", ids)
		}
		wantBodies := []string{
			`{"user_identifier_key":"u1","limit":1}`,
			`{"user_identifier_key":"u1","limit":1,"page_cursor":"c1"}`,
			`{"user_identifier_key":"u1","limit":1,"page_cursor":"c2"}`,
		}
		if srv.calls() != len(wantBodies) {
			t.Fatalf("server saw %d calls", srv.calls())
		}
		for i, want := range wantBodies {
			assertJSONEqual(t, srv.request(i).body, want)
		}
	})
	t.Run("connected accounts too", func(t *testing.T) {
		first := `{"connected_accounts":[{"connected_account_id":"a1"}],"pagination":{"has_next_page":true,"next_page_cursor":"c1"},"ok":true}`
		srv, c, _ := newScripted(t, reply{status: 200, body: first}, ok("connected_accounts/list"))
		accounts, err := c.ConnectedAccounts.List(t.Context(), ListConnectedAccountsParams{})
		if err != nil || len(accounts) != 2 || srv.calls() != 2 {
			t.Fatalf("accounts %+v, err %v, calls %d", accounts, err, srv.calls())
		}
		assertJSONEqual(t, srv.request(1).body, `{"page_cursor":"c1"}`)
	})
	t.Run("bounded when the server never stops", func(t *testing.T) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			fmt.Fprintf(w, `{"devices":[],"pagination":{"has_next_page":true,"next_page_cursor":"c%d"},"ok":true}`, n)
		}))
		defer srv.Close()
		c := New(testKey, WithEndpoint(srv.URL))
		_, err := c.Devices.List(t.Context(), ListDevicesParams{})
		if !errors.Is(err, ErrTooManyPages) {
			t.Fatalf("err = %v, want ErrTooManyPages", err)
		}
		if n := calls.Load(); n != defaultMaxPages {
			t.Errorf("server saw %d calls, want %d", n, defaultMaxPages)
		}
	})
	t.Run("repeated cursor is refused", func(t *testing.T) {
		srv, c, _ := newScripted(t, page("d1", "c1"), page("d2", "c1"))
		_, err := c.Devices.List(t.Context(), ListDevicesParams{})
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Type != TypeInvalidResponse || srv.calls() != 2 {
			t.Fatalf("err = %v after %d calls, want invalid_response after 2", err, srv.calls())
		}
	})
	t.Run("has_next_page without cursor is refused", func(t *testing.T) {
		_, c, _ := newScripted(t, reply{status: 200, body: `{"devices":[],"pagination":{"has_next_page":true,"next_page_cursor":null},"ok":true}`})
		_, err := c.Devices.List(t.Context(), ListDevicesParams{})
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Type != TypeInvalidResponse {
			t.Fatalf("err = %v, want invalid_response", err)
		}
	})
	t.Run("a failing page fails the listing", func(t *testing.T) {
		_, c, _ := newScripted(t, page("d1", "c1"), reply{status: 400, body: `{"error":{"type":"invalid_cursor","message":"bad"}}`})
		devices, err := c.Devices.List(t.Context(), ListDevicesParams{})
		if err == nil || devices != nil {
			t.Fatalf("devices %v, err %v; want no partial result", devices, err)
		}
	})
}

func TestGetOrCreateFallsBackWhereAPIKeysAreRefused(t *testing.T) {
	refused := reply{status: 400, body: `{"error":{"type":"publishable_key_header_required","message":"Seam-Publishable-Key header required"},"ok":false}`}
	notFound := reply{status: 404, body: `{"error":{"type":"client_session_not_found","message":"Could not find client session"},"ok":false}`}
	tests := []struct {
		name      string
		replies   []reply
		wantPaths []string
		wantErr   func(error) bool
	}{
		{"get_or_create works", []reply{ok("client_sessions/get_or_create")},
			[]string{"client_sessions/get_or_create"}, nil},
		{"existing session found by get", []reply{refused, ok("client_sessions/get")},
			[]string{"client_sessions/get_or_create", "client_sessions/get"}, nil},
		{"missing session is created", []reply{refused, notFound, ok("client_sessions/create")},
			[]string{"client_sessions/get_or_create", "client_sessions/get", "client_sessions/create"}, nil},
		{"other errors are not masked", []reply{{status: 401, body: `{"error":{"type":"unauthorized","message":"no"}}`}},
			[]string{"client_sessions/get_or_create"}, IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := newScripted(t, tt.replies...)
			s, err := c.ClientSessions.GetOrCreate(t.Context(), GetOrCreateClientSessionParams{UserIdentifierKey: "u1"})
			switch {
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Errorf("err = %v", err)
			case tt.wantErr == nil && (err != nil || s.ClientSessionID != "cst2"):
				t.Errorf("session %+v, err %v", s, err)
			}
			if got := srv.paths(); !slices.Equal(got, tt.wantPaths) {
				t.Errorf("paths = %q, want %q", got, tt.wantPaths)
			}
			for i := range tt.wantPaths {
				assertJSONEqual(t, srv.request(i).body, `{"user_identifier_key":"u1"}`)
			}
		})
	}
}
