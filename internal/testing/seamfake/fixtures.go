package seamfake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// Fixtures. The fake's database API takes writes (POST or PUT /_fake/database), but
// in 1.86.0 it stores the body with zustand's setState(body, true): the JSON
// replaces the whole store, including the store's action functions, so every later
// request fails with 500 "this.getState(...)[prop] is not a function"
// (TestDatabaseWriteBreaksFake pins this). Fixtures therefore go in through the
// fake's own routes, and the database is only read.

// Account is a connected account the fake created when a Connect Webview was finished.
type Account struct {
	ConnectWebviewID   string
	ConnectedAccountID string
	// DeviceIDs are the account's devices: the fake gives each finished webview
	// exactly one August lock named "Front Door".
	DeviceIDs []string
}

// CompleteWebview finishes a pending Connect Webview the way the fake offers
// (POST /_fake/complete_connect_webview): it creates a connected account with one
// lock, attaches it to the workspace's first client session (not to any session
// the webview was meant for) and marks the webview authorized.
func (f *Fake) CompleteWebview(t testing.TB, connectWebviewID string) {
	t.Helper()
	if status := f.Post(t, "/_fake/complete_connect_webview", map[string]string{"connect_webview_id": connectWebviewID}, nil); status != http.StatusOK {
		t.Fatalf("fake: complete webview %s: status %d", connectWebviewID, status)
	}
}

// ConnectAccount creates a Connect Webview, finishes it and returns the account and
// device the fake made for it. Calling it n times gives the workspace n more locks.
func (f *Fake) ConnectAccount(t testing.TB) Account {
	t.Helper()
	var created struct {
		ConnectWebview struct {
			ConnectWebviewID string `json:"connect_webview_id"`
		} `json:"connect_webview"`
	}
	if status := f.Post(t, "/connect_webviews/create", map[string]any{}, &created); status != http.StatusOK {
		t.Fatalf("fake: connect_webviews/create: status %d", status)
	}
	id := created.ConnectWebview.ConnectWebviewID
	f.CompleteWebview(t, id)
	var got struct {
		ConnectWebview struct {
			ConnectedAccountID *string `json:"connected_account_id"`
		} `json:"connect_webview"`
	}
	if status := f.Post(t, "/connect_webviews/get", map[string]string{"connect_webview_id": id}, &got); status != http.StatusOK || got.ConnectWebview.ConnectedAccountID == nil {
		t.Fatalf("fake: connect_webviews/get %s after completing it: status %d, no connected_account_id", id, status)
	}
	acc := Account{ConnectWebviewID: id, ConnectedAccountID: *got.ConnectWebview.ConnectedAccountID}
	for _, d := range f.Database(t).Devices {
		if d.ConnectedAccountID == acc.ConnectedAccountID {
			acc.DeviceIDs = append(acc.DeviceIDs, d.DeviceID)
		}
	}
	if len(acc.DeviceIDs) == 0 {
		t.Fatalf("fake: account %s of webview %s has no device", acc.ConnectedAccountID, id)
	}
	return acc
}

// Database is the part of the fake's state (GET /_fake/database) that tests look at.
type Database struct {
	ClientSessions    []DatabaseClientSession    `json:"client_sessions"`
	ConnectedAccounts []DatabaseConnectedAccount `json:"connected_accounts"`
	Devices           []DatabaseDevice           `json:"devices"`
}

// DatabaseClientSession is a client session in the fake's state.
type DatabaseClientSession struct {
	ClientSessionID     string   `json:"client_session_id"`
	UserIdentifierKey   string   `json:"user_identifier_key"`
	WorkspaceID         string   `json:"workspace_id"`
	ConnectedAccountIDs []string `json:"connected_account_ids"`
}

// DatabaseConnectedAccount is a connected account in the fake's state.
type DatabaseConnectedAccount struct {
	ConnectedAccountID string `json:"connected_account_id"`
	WorkspaceID        string `json:"workspace_id"`
}

// DatabaseDevice is a device in the fake's state.
type DatabaseDevice struct {
	DeviceID           string `json:"device_id"`
	DeviceType         string `json:"device_type"`
	ConnectedAccountID string `json:"connected_account_id"`
	WorkspaceID        string `json:"workspace_id"`
}

// Database reads the fake's state.
func (f *Fake) Database(t testing.TB) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL+"/_fake/database", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("fake: GET /_fake/database: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("fake: GET /_fake/database: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("fake: GET /_fake/database: status %d: %.200s", res.StatusCode, body)
	}
	var db Database
	if err := json.Unmarshal(body, &db); err != nil {
		t.Fatalf("fake: GET /_fake/database: %v", err)
	}
	return db
}
