package sandbox

import (
	"net/http"
	"testing"
)

// TestReconnectWebviewRestoresTheAccount: a webview that names the account it
// reconnects gives that account back (errors cleared, same devices, back online) when
// the same login signs in; another login, or a plain webview, makes a new account.
func TestReconnectWebviewRestoresTheAccount(t *testing.T) {
	e := newEnv(t, Options{})
	_, accountID := e.connectUser("user-jane", JaneEmail)
	devicesBefore := ids(e.ok("devices/list", map[string]any{"connected_account_id": accountID}), "devices", "device_id")
	if err := e.sb.DisconnectAccount(accountID); err != nil {
		t.Fatal(err)
	}
	reconnect := func(email string) string {
		t.Helper()
		wv := e.ok("connect_webviews/create", map[string]any{
			"accepted_providers": []string{"august"},
			"custom_metadata":    map[string]any{ReconnectMetadataKey: accountID},
		})
		id := str(wv, "connect_webview.connect_webview_id")
		e.ok("client_sessions/grant_access", map[string]any{"user_identifier_key": "user-jane", "connect_webview_ids": []string{id}})
		got, err := e.sb.CompleteWebview(id, email, LoginPassword)
		if err != nil {
			t.Fatal(err)
		}
		if wv := e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id}); str(wv, "connect_webview.connected_account_id") != got ||
			str(wv, "connect_webview.status") != "authorized" {
			t.Errorf("reconnecting webview after sign-in: %v", wv)
		}
		return got
	}
	if got := reconnect(JaneEmail); got != accountID {
		t.Fatalf("same login through a reconnecting webview gave %s, want %s", got, accountID)
	}
	acc := e.ok("connected_accounts/get", map[string]any{"connected_account_id": accountID})
	if errs := list(acc, "connected_account.errors"); len(errs) != 0 {
		t.Errorf("reconnected account still has errors %v", errs)
	}
	devices := e.ok("devices/list", map[string]any{"connected_account_id": accountID})
	if got := ids(devices, "devices", "device_id"); len(got) != len(devicesBefore) || got[0] != devicesBefore[0] {
		t.Errorf("devices after reconnecting = %v, want %v", got, devicesBefore)
	}
	online := 0
	for _, d := range list(devices, "devices") {
		if b, _ := dig(d, "properties.online").(bool); b {
			online++
		}
	}
	if online != 2 { // Garage Side Door is offline on its own
		t.Errorf("%d devices online after reconnecting, want 2", online)
	}
	building := reconnect(BuildingEmail)
	if building == accountID {
		t.Error("another login through a reconnecting webview gave back the account")
	}
	// As Seam: a login the user already connected gives back that account.
	if got := reconnect(BuildingEmail); got != building {
		t.Errorf("the building's login through a reconnecting webview gave %s, want its account %s", got, building)
	}
	if _, again := e.connectUser("user-jane", JaneEmail); again == accountID {
		t.Error("a plain webview reused the account")
	}
}

// TestConnectedAccountDelete: the account and its devices are gone from the API and
// from the user's session; an unknown account is not found.
func TestConnectedAccountDelete(t *testing.T) {
	e := newEnv(t, Options{})
	_, accountID := e.connectUser("user-jane", JaneEmail)
	_, keep := e.connectUser("user-jane", JohnEmail)
	e.ok("connected_accounts/delete", map[string]any{"connected_account_id": accountID})
	expectError(t, e.call("connected_accounts/get", map[string]any{"connected_account_id": accountID}), http.StatusNotFound, "connected_account_not_found")
	if got := ids(e.ok("connected_accounts/list", map[string]any{"user_identifier_key": "user-jane"}), "connected_accounts", "connected_account_id"); len(got) != 1 || got[0] != keep {
		t.Errorf("accounts after delete = %v, want [%s]", got, keep)
	}
	if n := len(list(e.ok("devices/list", map[string]any{"connected_account_id": accountID}), "devices")); n != 0 {
		t.Errorf("%d devices of the deleted account remain", n)
	}
	if got := list(e.ok("client_sessions/get", map[string]any{"user_identifier_key": "user-jane"}), "client_session.connected_account_ids"); len(got) != 1 {
		t.Errorf("session still holds %v", got)
	}
	expectError(t, e.call("connected_accounts/delete", map[string]any{"connected_account_id": accountID}), http.StatusNotFound, "connected_account_not_found")
}
