package sandbox

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAuthRejectsMissingOrWrongKey(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name, auth string
	}{
		{"missing", ""},
		{"wrong key", "Bearer seam_wrong"},
		{"key as prefix", "Bearer " + testKey + "x"},
		{"not bearer", "Basic " + testKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(context.Background(), http.MethodPost, "devices/list", map[string]any{}, tt.auth)
			expectError(t, res, http.StatusUnauthorized, "invalid_api_key")
			if !strings.Contains(res.header.Get("Content-Type"), "json") {
				t.Errorf("content type %q", res.header.Get("Content-Type"))
			}
		})
	}
	if res := e.call("devices/list", map[string]any{}); res.status != http.StatusOK {
		t.Fatalf("right key: %d %v", res.status, res.body)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, Options{})
	expectError(t, e.call("devices/explode", map[string]any{}), http.StatusNotFound, "not_found")

	res := e.do(context.Background(), http.MethodPut, "devices/list", nil, "Bearer "+testKey)
	expectError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := res.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q", got)
	}
	// Seam answers reads over GET with query parameters too.
	e.sb.AddConnectedAccount("u1", 2)
	res = e.do(context.Background(), http.MethodGet, "devices/list?user_identifier_key=u1&limit=1", nil, "Bearer "+testKey)
	if res.status != http.StatusOK || len(list(res.body, "devices")) != 1 {
		t.Fatalf("GET devices/list: %d %v", res.status, res.body)
	}
	// Writes are POST only.
	res = e.do(context.Background(), http.MethodGet, "locks/unlock_door", nil, "Bearer "+testKey)
	expectError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestValidationErrorsLookLikeSeams(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name    string
		path    string
		body    any
		message string
		// fieldErr is a dig path into validation_errors and the message expected there.
		fieldPath, fieldErr string
	}{
		{"limit not a number", "devices/list", map[string]any{"limit": "x"},
			`Expected number, received string for "limit"`, "limit._errors.0", "Expected number, received string"},
		{"limit float", "devices/list", map[string]any{"limit": 1.5},
			`Expected integer, received float for "limit"`, "limit._errors.0", "Expected integer, received float"},
		{"limit zero", "devices/list", map[string]any{"limit": 0},
			`Number must be greater than 0 for "limit"`, "limit._errors.0", "Number must be greater than 0"},
		{"two errors", "devices/list", map[string]any{"device_ids": []any{5}, "limit": "x"},
			`2 Input Errors: Expected string, received number for "device_ids.0", Expected number, received string for "limit"`,
			"device_ids.0._errors.0", "Expected string, received number"},
		{"ids not an array", "devices/list", map[string]any{"device_ids": "abc"},
			`Expected array, received string for "device_ids"`, "device_ids._errors.0", "Expected array, received string"},
		{"required", "locks/unlock_door", map[string]any{},
			`Required for "device_id"`, "device_id._errors.0", "Required"},
		{"not a uuid", "devices/get", map[string]any{"device_id": "nope"},
			`Invalid uuid for "device_id"`, "device_id._errors.0", "Invalid uuid"},
		{"null not allowed", "connect_webviews/get", map[string]any{"connect_webview_id": nil},
			`Expected string, received null for "connect_webview_id"`, "connect_webview_id._errors.0", "Expected string, received null"},
		{"bool", "connect_webviews/create", map[string]any{"wait_for_device_creation": "yes"},
			`Expected boolean, received string for "wait_for_device_creation"`, "wait_for_device_creation._errors.0", "Expected boolean, received string"},
		{"provider enum", "connect_webviews/create", map[string]any{"accepted_providers": []string{"acme"}},
			"", "accepted_providers.0._errors.0", ""},
		{"events need since", "events/list", map[string]any{},
			"Must specify either since or between", "_errors.0", "Must specify either since or between"},
		{"bad date", "events/list", map[string]any{"since": "yesterday"},
			`Must be parsable date string if defined for "since"`, "since._errors.0", "Must be parsable date string if defined"},
		{"body not an object", "devices/list", []int{1},
			"Expected object, received array", "_errors.0", "Expected object, received array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.call(tt.path, tt.body)
			expectError(t, res, http.StatusBadRequest, "invalid_input")
			if tt.message != "" && str(res.body, "error.message") != tt.message {
				t.Errorf("message = %q, want %q", str(res.body, "error.message"), tt.message)
			}
			ve := dig(res.body, "error.validation_errors")
			if _, ok := dig(ve, "_errors").([]any); !ok {
				t.Errorf("validation_errors has no root _errors: %v", ve)
			}
			got, ok := dig(ve, tt.fieldPath).(string)
			if !ok || (tt.fieldErr != "" && got != tt.fieldErr) {
				t.Errorf("validation_errors.%s = %v, want %q (all: %v)", tt.fieldPath, dig(ve, tt.fieldPath), tt.fieldErr, ve)
			}
		})
	}

	t.Run("invalid JSON", func(t *testing.T) {
		expectError(t, e.call("devices/list", "{not json"), http.StatusBadRequest, "invalid_input")
	})
	t.Run("wrong content type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/devices/list", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "text/plain")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

func TestUnknownIDsAreNotFound(t *testing.T) {
	e := newEnv(t, Options{})
	const missing = "00000000-0000-4000-8000-000000000000"
	tests := []struct {
		path, field, typ string
	}{
		{"devices/get", "device_id", "device_not_found"},
		{"devices/update", "device_id", "device_not_found"},
		{"locks/unlock_door", "device_id", "device_not_found"},
		{"locks/lock_door", "device_id", "device_not_found"},
		{"connect_webviews/get", "connect_webview_id", "connect_webview_not_found"},
		{"connected_accounts/get", "connected_account_id", "connected_account_not_found"},
		{"action_attempts/get", "action_attempt_id", "action_attempt_not_found"},
		{"client_sessions/get", "client_session_id", "client_session_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			expectError(t, e.call(tt.path, map[string]any{tt.field: missing}), http.StatusNotFound, tt.typ)
		})
	}
	t.Run("grant unknown webview", func(t *testing.T) {
		e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "u"})
		res := e.call("client_sessions/grant_access", map[string]any{"user_identifier_key": "u", "connect_webview_ids": []string{missing}})
		expectError(t, res, http.StatusNotFound, "connect_webview_not_found")
	})
}

func TestClientSessions(t *testing.T) {
	e := newEnv(t, Options{})
	first := e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "user-a"})
	again := e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "user-a"})
	id := str(first, "client_session.client_session_id")
	if id == "" || str(again, "client_session.client_session_id") != id {
		t.Fatalf("get_or_create gave %q then %q", id, str(again, "client_session.client_session_id"))
	}
	for _, f := range []string{"token", "created_at", "expires_at", "workspace_id"} {
		if str(first, "client_session."+f) == "" {
			t.Errorf("client_session.%s missing", f)
		}
	}
	expectError(t, e.call("client_sessions/create", map[string]any{"user_identifier_key": "user-a"}),
		http.StatusBadRequest, "client_session_token_already_exists")
	created := e.ok("client_sessions/create", map[string]any{"user_identifier_key": "user-b"})
	got := e.ok("client_sessions/get", map[string]any{"user_identifier_key": "user-b"})
	if str(got, "client_session.client_session_id") != str(created, "client_session.client_session_id") {
		t.Fatalf("get by key found another session")
	}
	expectError(t, e.call("client_sessions/get", map[string]any{"user_identifier_key": "nobody"}), http.StatusNotFound, "client_session_not_found")

	// grant_access by client_session_id works as well as by key.
	wv := e.ok("connect_webviews/create", map[string]any{})
	wvID := str(wv, "connect_webview.connect_webview_id")
	res := e.ok("client_sessions/grant_access", map[string]any{"client_session_id": id, "connect_webview_ids": []string{wvID}})
	if got := list(res, "client_session.connect_webview_ids"); len(got) != 1 || got[0] != wvID {
		t.Fatalf("connect_webview_ids = %v, want [%s]", got, wvID)
	}
}

func TestDevicesListFiltersByUser(t *testing.T) {
	e := newEnv(t, Options{})
	_, janeAcc := e.connectUser("user-jane", JaneEmail)
	_, johnAcc := e.connectUser("user-john", JohnEmail)
	e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "user-empty"})

	devicesOf := func(key string, extra map[string]any) []any {
		body := map[string]any{"user_identifier_key": key}
		for k, v := range extra {
			body[k] = v
		}
		return list(e.ok("devices/list", body), "devices")
	}
	jane, john := devicesOf("user-jane", nil), devicesOf("user-john", nil)
	if len(jane) != 3 || len(john) != 2 {
		t.Fatalf("jane sees %d devices, john %d; want 3 and 2", len(jane), len(john))
	}
	for _, d := range jane {
		if str(d, "connected_account_id") != janeAcc {
			t.Errorf("jane sees a device of account %s", str(d, "connected_account_id"))
		}
	}
	for _, d := range john {
		if str(d, "connected_account_id") != johnAcc {
			t.Errorf("john sees a device of account %s", str(d, "connected_account_id"))
		}
	}
	if n := len(devicesOf("user-empty", nil)); n != 0 {
		t.Errorf("user with an empty session sees %d devices", n)
	}
	if n := len(devicesOf("user-without-session", nil)); n != 0 {
		t.Errorf("user without a session sees %d devices", n)
	}
	// The guide's ownership check: asking for another user's device returns nothing.
	johnDevice := str(john[0], "device_id")
	if n := len(devicesOf("user-jane", map[string]any{"device_ids": []string{johnDevice}})); n != 0 {
		t.Errorf("jane can see john's device %s", johnDevice)
	}
	if n := len(devicesOf("user-john", map[string]any{"device_ids": []string{johnDevice}})); n != 1 {
		t.Errorf("john cannot see his own device")
	}
	// Without user_identifier_key the API key sees the whole workspace.
	if n := len(list(e.ok("devices/list", map[string]any{}), "devices")); n != 5 {
		t.Errorf("workspace has %d devices, want 5", n)
	}
	// connected_accounts/list filters the same way.
	accs := ids(e.ok("connected_accounts/list", map[string]any{"user_identifier_key": "user-jane"}), "connected_accounts", "connected_account_id")
	if !slices.Equal(accs, []string{janeAcc}) {
		t.Errorf("jane's accounts = %v, want [%s]", accs, janeAcc)
	}
	if n := len(list(e.ok("connected_accounts/list", map[string]any{"user_identifier_key": "nobody"}), "connected_accounts")); n != 0 {
		t.Errorf("nobody sees %d accounts", n)
	}
}

func TestOwnershipFollowsWebviewGrants(t *testing.T) {
	e := newEnv(t, Options{})
	e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": "late"})
	wv := e.ok("connect_webviews/create", map[string]any{})
	wvID := str(wv, "connect_webview.connect_webview_id")

	// Authorized before anyone was granted the webview: nobody owns the account.
	acc, err := e.sb.CompleteWebview(wvID, JaneEmail, LoginPassword)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list(e.ok("devices/list", map[string]any{"user_identifier_key": "late"}), "devices")); n != 0 {
		t.Fatalf("ungranted user sees %d devices", n)
	}
	// Granting the authorized webview afterwards grants its account.
	res := e.ok("client_sessions/grant_access", map[string]any{"user_identifier_key": "late", "connect_webview_ids": []string{wvID}})
	if got := list(res, "client_session.connected_account_ids"); len(got) != 1 || got[0] != acc {
		t.Fatalf("connected_account_ids = %v, want [%s]", got, acc)
	}
	if n := len(list(e.ok("devices/list", map[string]any{"user_identifier_key": "late"}), "devices")); n != 3 {
		t.Fatalf("granted user sees %d devices, want 3", n)
	}
	if _, err := e.sb.CompleteWebview(wvID, JaneEmail, LoginPassword); err == nil {
		t.Fatal("a finished webview was completed twice")
	}
}

func TestDeviceShape(t *testing.T) {
	e := newEnv(t, Options{})
	e.connectUser("u", JohnEmail)
	devs := list(e.ok("devices/list", map[string]any{"user_identifier_key": "u"}), "devices")
	byName := map[string]any{}
	for _, d := range devs {
		byName[str(d, "display_name")] = d
	}
	low, storage := byName["Main Entrance"], byName["Storage Room"]
	if low == nil || storage == nil {
		t.Fatalf("devices: %v", devs)
	}
	checks := []struct {
		dev  any
		path string
		want any
	}{
		{low, "device_type", "schlage_lock"},
		{low, "properties.battery_level", 0.15},
		{low, "properties.battery.level", 0.15},
		{low, "properties.battery.status", "low"},
		{low, "warnings.0.warning_code", "low_battery"},
		{low, "properties.model.manufacturer_display_name", "Schlage"},
		{low, "properties.manufacturer", "schlage"},
		{low, "properties.online", true},
		{low, "can_remotely_unlock", true},
		{low, "capabilities_supported.1", "lock"},
		{storage, "can_remotely_unlock", false},
		{storage, "can_remotely_lock", true},
	}
	for _, c := range checks {
		if got := dig(c.dev, c.path); got != c.want {
			t.Errorf("%s.%s = %v, want %v", str(c.dev, "display_name"), c.path, got, c.want)
		}
	}
	img := str(low, "properties.image_url")
	if !strings.HasPrefix(img, e.srv.URL+"/assets/devices/") {
		t.Fatalf("image_url %q is not served by the sandbox", img)
	}
	res, err := http.Get(img)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("image: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	id := str(low, "device_id")
	e.ok("devices/update", map[string]any{"device_id": id, "name": "Front gate"})
	got := e.ok("devices/get", map[string]any{"device_id": id})
	if str(got, "device.display_name") != "Front gate" || str(got, "device.nickname") != "Front gate" {
		t.Errorf("after rename: %v", dig(got, "device"))
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, Options{})
	_, want := e.sb.AddConnectedAccount("bench", 5)
	e.sb.AddConnectedAccount("other", 3)

	var got []string
	body := map[string]any{"user_identifier_key": "bench", "limit": 2}
	var pages int
	for {
		res := e.ok("devices/list", body)
		if pages++; pages > 5 {
			t.Fatalf("still paging after %d pages: the cursor does not advance", pages)
		}
		got = append(got, ids(res, "devices", "device_id")...)
		if dig(res, "pagination.has_next_page") != true {
			if dig(res, "pagination.next_page_cursor") != nil || dig(res, "pagination.next_page_url") != nil {
				t.Errorf("last page has a cursor: %v", dig(res, "pagination"))
			}
			break
		}
		cursor := str(res, "pagination.next_page_cursor")
		if pages == 1 {
			// next_page_url fetches the same next page over GET.
			u := strings.TrimPrefix(str(res, "pagination.next_page_url"), e.srv.URL)
			viaURL := e.do(context.Background(), http.MethodGet, u, nil, "Bearer "+testKey)
			second := e.ok("devices/list", map[string]any{"user_identifier_key": "bench", "limit": 2, "page_cursor": cursor})
			if !slices.Equal(ids(viaURL.body, "devices", "device_id"), ids(second, "devices", "device_id")) {
				t.Errorf("next_page_url gave %v, page_cursor gave %v", ids(viaURL.body, "devices", "device_id"), ids(second, "devices", "device_id"))
			}
			// A cursor only works with the filters it was issued for.
			expectError(t, e.call("devices/list", map[string]any{"user_identifier_key": "other", "page_cursor": cursor}),
				http.StatusBadRequest, "mismatched_page_parameters")
		}
		body["page_cursor"] = cursor
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages, devices %v; want 3 pages, %v", pages, got, want)
	}
	expectError(t, e.call("devices/list", map[string]any{"page_cursor": "%%%"}), http.StatusBadRequest, "invalid_input")
}

func TestEventsList(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{Now: clk.Now, ActionDelay: time.Second})
	_, devs := e.sb.AddConnectedAccount("u", 2)
	start := clk.Now()
	for _, d := range devs {
		e.ok("locks/unlock_door", map[string]any{"device_id": d})
		clk.Advance(2 * time.Second)
	}
	e.ok("locks/lock_door", map[string]any{"device_id": devs[0]})
	clk.Advance(2 * time.Second)

	since := start.Add(time.Millisecond).Format(time.RFC3339Nano) // after the account's own events
	all := list(e.ok("events/list", map[string]any{"since": since}), "events")
	if len(all) != 6 { // per attempt: lock.* and action_attempt.*.succeeded
		t.Fatalf("%d events, want 6: %v", len(all), all)
	}
	if typ := str(all[0], "event_type"); typ != "action_attempt.lock_door.succeeded" && typ != "lock.locked" {
		t.Errorf("events are not newest first: %v", all)
	}
	added := list(e.ok("events/list", map[string]any{"since": start.Format(time.RFC3339)}), "events")
	if len(added) != 9 { // connected_account.connected and two device.added too
		t.Errorf("since is inclusive: %d events at or after the start, want 9", len(added))
	}
	lockEvents := []string{"lock.unlocked", "lock.locked"}
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"by device", map[string]any{"since": since, "device_ids": []string{devs[0]}, "event_types": lockEvents}, 2},
		{"by device_id", map[string]any{"since": since, "device_id": devs[1]}, 2},
		{"by type", map[string]any{"since": since, "event_types": []string{"lock.unlocked"}}, 2},
		{"by event_type", map[string]any{"since": since, "event_type": "action_attempt.lock_door.succeeded"}, 1},
		{"limit", map[string]any{"since": since, "limit": 1}, 1},
		{"since later", map[string]any{"since": clk.Now().Format(time.RFC3339)}, 0},
		{"between", map[string]any{"between": []string{start.Format(time.RFC3339), start.Add(2500 * time.Millisecond).Format(time.RFC3339)}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(list(e.ok("events/list", tt.body), "events")); got != tt.want {
				t.Errorf("%d events, want %d", got, tt.want)
			}
		})
	}
	expectError(t, e.call("events/list", map[string]any{}), http.StatusBadRequest, "invalid_input")
	expectError(t, e.call("events/list", map[string]any{"since": since, "between": []string{since, since}}), http.StatusBadRequest, "invalid_input")
}
