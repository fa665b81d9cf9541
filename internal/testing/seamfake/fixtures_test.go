package seamfake_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/seamfake"
)

// TestConnectAccountAddsOneLock checks the fixture helper: a finished webview gives
// one new account with one lock, visible in devices/list, and (Seam's fake deviates
// here) the account lands on the workspace's first client session.
func TestConnectAccountAddsOneLock(t *testing.T) {
	f := seamfake.Start(t)
	before := f.Database(t)
	acc := f.ConnectAccount(t)
	if acc.ConnectWebviewID == "" || acc.ConnectedAccountID == "" || len(acc.DeviceIDs) != 1 {
		t.Fatalf("ConnectAccount = %+v, want a webview, an account and one device", acc)
	}
	after := f.Database(t)
	if got, want := len(after.Devices), len(before.Devices)+1; got != want {
		t.Errorf("devices: %d after ConnectAccount, want %d", got, want)
	}
	i := slices.IndexFunc(after.Devices, func(d seamfake.DatabaseDevice) bool { return d.DeviceID == acc.DeviceIDs[0] })
	if i < 0 || after.Devices[i].DeviceType != "august_lock" || after.Devices[i].ConnectedAccountID != acc.ConnectedAccountID {
		t.Errorf("device %s not stored as an august_lock of %s: %+v", acc.DeviceIDs[0], acc.ConnectedAccountID, after.Devices)
	}
	if len(after.ClientSessions) == 0 || !slices.Contains(after.ClientSessions[0].ConnectedAccountIDs, acc.ConnectedAccountID) {
		t.Errorf("account %s not attached to the first client session: %+v", acc.ConnectedAccountID, after.ClientSessions)
	}

	var listed struct {
		Devices []struct {
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	if status := f.Post(t, "/devices/list", map[string]string{"connected_account_id": acc.ConnectedAccountID}, &listed); status != http.StatusOK {
		t.Fatalf("devices/list: status %d", status)
	}
	if len(listed.Devices) != 1 || listed.Devices[0].DeviceID != acc.DeviceIDs[0] {
		t.Errorf("devices/list for the new account = %+v, want just %s", listed.Devices, acc.DeviceIDs[0])
	}
}

// TestDatabaseWriteBreaksFake pins why the helpers never write the fake's database:
// in @seamapi/fake-seam-connect 1.86.0, POST /_fake/database replaces the store with
// the JSON body, dropping its action functions, and every later request answers
// 500. If this test fails after an upgrade, the database API has been fixed and
// fixtures may go in through it.
func TestDatabaseWriteBreaksFake(t *testing.T) {
	f := seamfake.Start(t)
	res, err := http.Get(f.URL + "/_fake/database")
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	err = json.NewDecoder(res.Body).Decode(&state)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /_fake/database: status %d, %v", res.StatusCode, err)
	}
	// Writing back exactly what it gave is enough to break it.
	if status := f.Post(t, "/_fake/database", state, nil); status != http.StatusOK {
		t.Fatalf("POST /_fake/database with its own state: status %d", status)
	}
	if status := f.Post(t, "/devices/list", map[string]any{}, nil); status != http.StatusInternalServerError {
		t.Errorf("devices/list after writing the database: status %d, want 500 (the write bug is fixed?)", status)
	}
}
