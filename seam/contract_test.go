package seam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/seamfake"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// The contract suite runs ONE set of cases against two backends: Latchkey's
// sandbox and Seam's own fake server (@seamapi/fake-seam-connect, pinned in
// package.json). Where the fake is known to deviate from Seam (SEAM.md), the case
// asserts each side's real behaviour, read from the backend's behaviour record
// below, whose comments say what differs and why. When node or the npm package is
// missing, seamfake.Start fails the fake's half; it is never skipped.

// contractKey is the sandbox's API key in this suite; the fake's is seamfake.APIKey.
const contractKey = "seam_contract_key_4Jd9"

// sandboxActionDelay is how long the sandbox keeps an action attempt pending. The
// sandbox runs on an injected clock, so polling advances time instead of sleeping.
const sandboxActionDelay = 100 * time.Millisecond

// behaviour is what one backend really does where the two differ.
type behaviour struct {
	// unauthorizedType is error.type for a wrong API key. The issue asks the sandbox
	// for invalid_api_key; the fake sends "unauthorized" ("API Key not found").
	unauthorizedType string
	// filtersByUser: devices/list honours user_identifier_key. Fake deviation 1: it
	// drops the parameter (zod strips unknown keys) and returns every device of the
	// workspace to every user.
	filtersByUser bool
	// validatesIDs: ids must be UUIDs, as Seam's OpenAPI declares (format: uuid), so a
	// malformed id is a 400. The fake's own ids ("august_device_1") are not UUIDs and
	// it looks any string up, answering 404.
	validatesIDs bool
	// echoesWaitForDeviceCreation: connect_webviews/create keeps
	// wait_for_device_creation; the fake always reports false.
	echoesWaitForDeviceCreation bool
	// reportsLoginSuccessful: an authorized webview says login_successful: true; the
	// fake leaves it false after /_fake/complete_connect_webview.
	reportsLoginSuccessful bool
	// newLocksReportState: the fixture locks carry properties.locked and
	// can_remotely_unlock. The fake's webview-made lock has neither (so the portal
	// shows it as "unknown" and refuses to unlock it) until an unlock sets locked.
	newLocksReportState bool
	// getOrCreateCalls is the request sequence of the first GetOrCreate for a new user.
	// Fake deviation 2: get_or_create with an API key is 400
	// publishable_key_header_required, so the client falls back to get, then create.
	getOrCreateCalls []string
	// grantsAccess: client_sessions/grant_access exists. Fake deviation 3: it is 404
	// (with a bare "404" body, not Seam's envelope).
	grantsAccess bool
	// webviewAccountToGrantee: a finished webview's account goes to the sessions the
	// webview was granted to. Fake deviation 4: it goes to the workspace's FIRST
	// client session, whoever opened the webview.
	webviewAccountToGrantee bool
	// attemptsTakeTime: an action attempt is pending for a while before success. Fake
	// deviation 5: the attempt is already done on the first read.
	attemptsTakeTime bool
	// successHasResult: a successful attempt carries result {} (as Seam's docs show);
	// the fake sends result: null.
	successHasResult bool
	// checksUnlock: unlock_door refuses a device that cannot be unlocked remotely
	// (400 action_not_supported). Fake deviation 5: it unlocks anything, even a
	// thermostat.
	checksUnlock bool
	// renameSetsDisplayName: devices/update {name} becomes the device's nickname and
	// display_name (Seam's docs); the fake only sets properties.name, so a resync from
	// it shows the old display_name again.
	renameSetsDisplayName bool
}

// env is one freshly started backend, a client for it, and its fixture hooks.
type env struct {
	url    string
	key    string
	want   behaviour
	client *seam.Client
	// rec logs what client sent and what came back.
	rec *recorder
	// addUserDevices gives userKey n locks and returns their ids.
	addUserDevices func(t *testing.T, userKey string, n int) []string
	// finishWebview completes a pending webview with a successful provider login.
	finishWebview func(t *testing.T, connectWebviewID string)
	// unfitDevice returns a device that should not be unlockable remotely.
	unfitDevice func(t *testing.T) string
	// advance moves the backend's clock; polling calls it between reads.
	advance func(d time.Duration)
	// Exactly one of these is set, for backend-specific checks.
	sandbox *sandbox.Sandbox
	fake    *seamfake.Fake
}

// newClient returns a client for the backend that authenticates with key and
// records its traffic; rewrite replaces the body sent to a path (for ill-typed
// input the typed client cannot produce).
func (e *env) newClient(key string, rewrite map[string]string) (*seam.Client, *recorder) {
	rec := &recorder{next: http.DefaultTransport, rewrite: rewrite}
	c := seam.New(key,
		seam.WithEndpoint(e.url),
		seam.WithRetry(3, time.Millisecond, 5*time.Millisecond),
		seam.WithTimeout(5*time.Second),
		seam.WithHTTPClient(&http.Client{Transport: rec}),
	)
	return c, rec
}

type backend struct {
	name  string
	start func(t *testing.T) *env
}

func backends() []backend {
	return []backend{{"sandbox", startSandbox}, {"fake", startFake}}
}

func startSandbox(t *testing.T) *env {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := sandbox.Start(ctx, "127.0.0.1:0", sandbox.Options{APIKey: contractKey, ActionDelay: sandboxActionDelay, Now: clk.Now})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
	})
	sb := srv.Sandbox
	e := &env{
		url: srv.URL,
		key: contractKey,
		want: behaviour{
			unauthorizedType:            "invalid_api_key",
			filtersByUser:               true,
			validatesIDs:                true,
			echoesWaitForDeviceCreation: true,
			reportsLoginSuccessful:      true,
			newLocksReportState:         true,
			getOrCreateCalls:            []string{"/client_sessions/get_or_create"},
			grantsAccess:                true,
			webviewAccountToGrantee:     true,
			attemptsTakeTime:            true,
			successHasResult:            true,
			checksUnlock:                true,
			renameSetsDisplayName:       true,
		},
		advance: clk.Advance,
		sandbox: sb,
	}
	e.client, e.rec = e.newClient(contractKey, nil)
	e.addUserDevices = func(t *testing.T, userKey string, n int) []string {
		_, ids := sb.AddConnectedAccount(userKey, n)
		return ids
	}
	e.finishWebview = func(t *testing.T, id string) {
		t.Helper()
		if _, err := sb.CompleteWebview(id, sandbox.JaneEmail, sandbox.LoginPassword); err != nil {
			t.Fatal(err)
		}
	}
	e.unfitDevice = func(t *testing.T) string {
		t.Helper()
		// John's Schlage account holds a lock that cannot be unlocked remotely.
		ctx := testContext(t)
		wv, err := e.client.ConnectWebviews.Create(ctx, seam.CreateConnectWebviewParams{})
		if err != nil {
			t.Fatal(err)
		}
		accountID, err := sb.CompleteWebview(wv.ConnectWebviewID, sandbox.JohnEmail, sandbox.LoginPassword)
		if err != nil {
			t.Fatal(err)
		}
		devs, err := e.client.Devices.List(ctx, seam.ListDevicesParams{ConnectedAccountID: accountID})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			if !d.CanRemotelyUnlock {
				return d.DeviceID
			}
		}
		t.Fatalf("John's sandbox account has no lock that cannot be unlocked remotely: %+v", devs)
		return ""
	}
	return e
}

func startFake(t *testing.T) *env {
	t.Helper()
	f := seamfake.Start(t)
	e := &env{
		url: f.URL,
		key: f.APIKey,
		want: behaviour{
			unauthorizedType: "unauthorized",
			getOrCreateCalls: []string{"/client_sessions/get_or_create", "/client_sessions/get", "/client_sessions/create"},
		},
		advance: func(time.Duration) {}, // the fake's attempts need no time
		fake:    f,
	}
	e.client, e.rec = e.newClient(f.APIKey, nil)
	// The fake cannot give one account n devices through its API (its database API
	// breaks the fake on write, see internal/testing/seamfake), so each lock comes from its
	// own finished webview. userKey is ignored: the fake attaches every such account
	// to the workspace's first client session and does not filter by user anyway.
	e.addUserDevices = func(t *testing.T, _ string, n int) []string {
		var ids []string
		for range n {
			ids = append(ids, f.ConnectAccount(t).DeviceIDs...)
		}
		return ids
	}
	e.finishWebview = func(t *testing.T, id string) { f.CompleteWebview(t, id) }
	e.unfitDevice = func(t *testing.T) string {
		t.Helper()
		// The fake's seed has an Ecobee thermostat, which has no lock to open.
		for _, d := range f.Database(t).Devices {
			if d.DeviceType == "ecobee_thermostat" {
				return d.DeviceID
			}
		}
		t.Fatal("the fake's seed has no ecobee_thermostat")
		return ""
	}
	return e
}

// TestContract runs every case against a fresh sandbox and a fresh fake.
func TestContract(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"devices_list_and_get", testDevicesListAndGet},
		{"pagination", testPagination},
		{"user_identifier_key_filter", testUserFilter},
		{"connect_webview", testConnectWebview},
		{"client_sessions", testClientSessions},
		{"unlock_and_poll", testUnlockAndPoll},
		{"unlock_unfit_device", testUnlockUnfitDevice},
		{"not_found", testNotFound},
		{"unauthorized", testUnauthorized},
		{"validation", testValidation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, b := range backends() {
				t.Run(b.name, func(t *testing.T) { c.run(t, b.start(t)) })
			}
		})
	}
}

func testDevicesListAndGet(t *testing.T, e *env) {
	ctx := testContext(t)
	ids := e.addUserDevices(t, "user-list", 3)
	devs, err := e.client.Devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: "user-list"})
	if err != nil {
		t.Fatal(err)
	}
	if e.want.filtersByUser && len(devs) != len(ids) {
		t.Errorf("devices/list for the user: %d devices, want exactly the user's %d", len(devs), len(ids))
	}
	byID := map[string]seam.Device{}
	for _, d := range devs {
		byID[d.DeviceID] = d
	}
	for _, id := range ids {
		d, ok := byID[id]
		if !ok {
			t.Errorf("devices/list lacks the user's device %s", id)
			continue
		}
		if d.DisplayName == "" || d.DeviceType == "" || d.ConnectedAccountID == "" || d.CreatedAt.IsZero() {
			t.Errorf("device %s: display_name %q, device_type %q, connected_account_id %q, created_at %v: want all set",
				id, d.DisplayName, d.DeviceType, d.ConnectedAccountID, d.CreatedAt)
		}
		if !slices.Contains(d.CapabilitiesSupported, "lock") {
			t.Errorf("device %s: capabilities_supported %v lacks lock", id, d.CapabilitiesSupported)
		}
		if !d.Properties.Online {
			t.Errorf("device %s: properties.online false, want true", id)
		}
		reports := d.Properties.Locked != nil
		if reports != e.want.newLocksReportState || d.CanRemotelyUnlock != e.want.newLocksReportState {
			t.Errorf("device %s: properties.locked reported %v, can_remotely_unlock %v; want both %v",
				id, reports, d.CanRemotelyUnlock, e.want.newLocksReportState)
		}
		if reports && !*d.Properties.Locked {
			t.Errorf("device %s: a new lock is unlocked", id)
		}
	}

	got, err := e.client.Devices.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, byID[ids[0]]) {
		t.Errorf("devices/get and devices/list disagree on %s:\nget  %+v\nlist %+v", ids[0], *got, byID[ids[0]])
	}
}

func testPagination(t *testing.T, e *env) {
	ctx := testContext(t)
	const added, limit = 7, 2
	ids := e.addUserDevices(t, "user-pages", added)
	p := seam.ListDevicesParams{UserIdentifierKey: "user-pages"}
	e.rec.reset()
	all, err := e.client.Devices.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.rec.count("/devices/list"); n != 1 {
		t.Fatalf("the unlimited list took %d requests, want 1 (it is the oracle)", n)
	}
	if e.want.filtersByUser && len(all) != added {
		t.Fatalf("unlimited list: %d devices, want the user's %d", len(all), added)
	}
	if len(all) < added {
		t.Fatalf("unlimited list: %d devices, want at least the %d added", len(all), added)
	}

	e.rec.reset()
	p.Limit = limit
	paged, err := e.client.Devices.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// Both backends paginate devices/list (the fake too: has_next_page and a
	// base64 next_page_cursor bound to the other parameters).
	if got, want := e.rec.count("/devices/list"), (len(all)+limit-1)/limit; got != want {
		t.Errorf("limit %d over %d devices: %d requests, want %d pages", limit, len(all), got, want)
	}
	seen := map[string]int{}
	for _, d := range paged {
		seen[d.DeviceID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("device %s returned %d times", id, n)
		}
	}
	for _, id := range ids {
		if seen[id] == 0 {
			t.Errorf("added device %s missing from the paged list", id)
		}
	}
	if !slices.Equal(deviceIDs(paged), deviceIDs(all)) {
		t.Errorf("paged list differs from the one-page list:\npaged %v\nall   %v", deviceIDs(paged), deviceIDs(all))
	}
}

func testUserFilter(t *testing.T, e *env) {
	ctx := testContext(t)
	alice := e.addUserDevices(t, "alice", 2)
	bob := e.addUserDevices(t, "bob", 3)
	list := func(p seam.ListDevicesParams) []string {
		t.Helper()
		devs, err := e.client.Devices.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids := deviceIDs(devs)
		slices.Sort(ids)
		return ids
	}
	gotAlice := list(seam.ListDevicesParams{UserIdentifierKey: "alice"})
	gotBob := list(seam.ListDevicesParams{UserIdentifierKey: "bob"})
	gotNobody := list(seam.ListDevicesParams{UserIdentifierKey: "nobody"})
	// Latchkey's ownership check before an unlock: "is this device in the user's list?"
	aliceAsksForBobs := list(seam.ListDevicesParams{UserIdentifierKey: "alice", DeviceIDs: []string{bob[0]}})

	if e.want.filtersByUser {
		if want := sorted(alice); !slices.Equal(gotAlice, want) {
			t.Errorf("alice sees %v, want her own %v", gotAlice, want)
		}
		if want := sorted(bob); !slices.Equal(gotBob, want) {
			t.Errorf("bob sees %v, want his own %v", gotBob, want)
		}
		if len(gotNobody) != 0 {
			t.Errorf("a user without a session sees %v, want nothing", gotNobody)
		}
		if len(aliceAsksForBobs) != 0 {
			t.Errorf("alice's list filtered to bob's device %s = %v, want empty", bob[0], aliceAsksForBobs)
		}
		return
	}
	// Fake deviation 1: user_identifier_key is ignored, so every user — even one
	// without a client session — sees the whole workspace, and the ownership check
	// alone would let alice unlock bob's door.
	everything := list(seam.ListDevicesParams{})
	for name, got := range map[string][]string{"alice": gotAlice, "bob": gotBob, "nobody": gotNobody} {
		if !slices.Equal(got, everything) {
			t.Errorf("%s sees %v, want the whole workspace %v (the fake ignores user_identifier_key)", name, got, everything)
		}
	}
	for _, id := range append(alice, bob...) {
		if !slices.Contains(everything, id) {
			t.Errorf("workspace list lacks %s", id)
		}
	}
	if !slices.Equal(aliceAsksForBobs, []string{bob[0]}) {
		t.Errorf("alice's list filtered to bob's device %s = %v, want [%s] on the fake", bob[0], aliceAsksForBobs, bob[0])
	}
}

func testConnectWebview(t *testing.T, e *env) {
	ctx := testContext(t)
	const redirect, failure = "https://portal.example/connect/done", "https://portal.example/connect/failed"
	wv, err := e.client.ConnectWebviews.Create(ctx, seam.CreateConnectWebviewParams{
		CustomRedirectURL:        redirect,
		CustomRedirectFailureURL: failure,
		WaitForDeviceCreation:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if wv.ConnectWebviewID == "" || wv.URL == "" {
		t.Fatalf("create: connect_webview_id %q, url %q: want both set", wv.ConnectWebviewID, wv.URL)
	}
	if wv.CustomRedirectURL != redirect || wv.CustomRedirectFailureURL != failure {
		t.Errorf("create: redirect urls %q, %q; want %q, %q", wv.CustomRedirectURL, wv.CustomRedirectFailureURL, redirect, failure)
	}
	if wv.WaitForDeviceCreation != e.want.echoesWaitForDeviceCreation {
		t.Errorf("create: wait_for_device_creation %v, want %v", wv.WaitForDeviceCreation, e.want.echoesWaitForDeviceCreation)
	}
	pending, err := e.client.ConnectWebviews.Get(ctx, wv.ConnectWebviewID)
	if err != nil {
		t.Fatal(err)
	}
	if pending.Status != seam.WebviewPending || pending.LoginSuccessful || pending.ConnectedAccountID != "" || pending.URL != wv.URL {
		t.Errorf("get before login: %+v; want pending, no login, no account, the same url", pending)
	}

	e.finishWebview(t, wv.ConnectWebviewID)
	done, err := e.client.ConnectWebviews.Get(ctx, wv.ConnectWebviewID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != seam.WebviewAuthorized || done.ConnectedAccountID == "" {
		t.Fatalf("get after login: status %q, connected_account_id %q; want authorized with an account", done.Status, done.ConnectedAccountID)
	}
	if done.LoginSuccessful != e.want.reportsLoginSuccessful {
		t.Errorf("get after login: login_successful %v, want %v", done.LoginSuccessful, e.want.reportsLoginSuccessful)
	}
	acc, err := e.client.ConnectedAccounts.Get(ctx, done.ConnectedAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.ConnectedAccountID != done.ConnectedAccountID {
		t.Errorf("connected_accounts/get %s returned %s", done.ConnectedAccountID, acc.ConnectedAccountID)
	}
	devs, err := e.client.Devices.List(ctx, seam.ListDevicesParams{ConnectedAccountID: done.ConnectedAccountID})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Error("the new account has no devices")
	}
	for _, d := range devs {
		if d.ConnectedAccountID != done.ConnectedAccountID {
			t.Errorf("devices/list by account %s returned %s of account %s", done.ConnectedAccountID, d.DeviceID, d.ConnectedAccountID)
		}
	}

	// A rename reads back as the device's name.
	if len(devs) > 0 {
		if err := e.client.Devices.Update(ctx, seam.UpdateDeviceParams{DeviceID: devs[0].DeviceID, Name: "Porch Door"}); err != nil {
			t.Fatalf("devices/update: %v", err)
		}
		renamed, err := e.client.Devices.Get(ctx, devs[0].DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if renamed.Properties.Name != "Porch Door" {
			t.Errorf("after devices/update the device's properties.name is %q, want Porch Door", renamed.Properties.Name)
		}
		if e.want.renameSetsDisplayName && (renamed.DisplayName != "Porch Door" || renamed.Nickname != "Porch Door") {
			t.Errorf("after devices/update the device's display_name is %q, nickname %q; want Porch Door", renamed.DisplayName, renamed.Nickname)
		}
	}
	// Deleting the account: it is gone, and deleting again is not found.
	if err := e.client.ConnectedAccounts.Delete(ctx, done.ConnectedAccountID); err != nil {
		t.Fatalf("connected_accounts/delete: %v", err)
	}
	if _, err := e.client.ConnectedAccounts.Get(ctx, done.ConnectedAccountID); !seam.IsNotFound(err) {
		t.Errorf("connected_accounts/get after delete: %v, want not found", err)
	}
	if err := e.client.ConnectedAccounts.Delete(ctx, done.ConnectedAccountID); !seam.IsNotFound(err) {
		t.Errorf("connected_accounts/delete twice: %v, want not found", err)
	}
}

func testClientSessions(t *testing.T, e *env) {
	ctx := testContext(t)
	e.rec.reset()
	cs, err := e.client.ClientSessions.GetOrCreate(ctx, seam.GetOrCreateClientSessionParams{UserIdentifierKey: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if cs.ClientSessionID == "" || cs.UserIdentifierKey != "carol" || cs.Token == "" {
		t.Errorf("session: id %q, user_identifier_key %q, token set %v; want an id, carol, a token",
			cs.ClientSessionID, cs.UserIdentifierKey, cs.Token != "")
	}
	if got := e.rec.paths(); !slices.Equal(got, e.want.getOrCreateCalls) {
		t.Errorf("GetOrCreate sent %v, want %v", got, e.want.getOrCreateCalls)
	}

	wv, err := e.client.ConnectWebviews.Create(ctx, seam.CreateConnectWebviewParams{WaitForDeviceCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	err = e.client.ClientSessions.GrantAccess(ctx, seam.GrantAccessParams{UserIdentifierKey: "carol", ConnectWebviewIDs: []string{wv.ConnectWebviewID}})
	if e.want.grantsAccess {
		if err != nil {
			t.Fatal(err)
		}
	} else {
		// Fake deviation 3: no such route; the body is a bare "404", not an envelope.
		apiErr := asAPIError(t, err)
		if apiErr.Status != http.StatusNotFound || !seam.IsNotFound(err) || apiErr.Type != seam.TypeInvalidResponse {
			t.Errorf("grant_access: %v; want 404 without an envelope (%s)", err, seam.TypeInvalidResponse)
		}
	}

	e.finishWebview(t, wv.ConnectWebviewID)
	done, err := e.client.ConnectWebviews.Get(ctx, wv.ConnectWebviewID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.client.ClientSessions.GetOrCreate(ctx, seam.GetOrCreateClientSessionParams{UserIdentifierKey: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ClientSessionID != cs.ClientSessionID {
		t.Errorf("second GetOrCreate: session %s, want the first one %s", again.ClientSessionID, cs.ClientSessionID)
	}
	if got := slices.Contains(again.ConnectedAccountIDs, done.ConnectedAccountID); got != e.want.webviewAccountToGrantee {
		t.Errorf("carol's session holds the webview's account %s: %v, want %v (accounts %v)",
			done.ConnectedAccountID, got, e.want.webviewAccountToGrantee, again.ConnectedAccountIDs)
	}
	if e.fake != nil {
		// Fake deviation 4: the account went to the first session of the workspace.
		db := e.fake.Database(t)
		if len(db.ClientSessions) < 2 || db.ClientSessions[0].ClientSessionID == cs.ClientSessionID ||
			!slices.Contains(db.ClientSessions[0].ConnectedAccountIDs, done.ConnectedAccountID) {
			t.Errorf("fake: account %s not on the workspace's first client session: %+v", done.ConnectedAccountID, db.ClientSessions)
		}
	}
}

func testUnlockAndPoll(t *testing.T, e *env) {
	ctx := testContext(t)
	id := e.addUserDevices(t, "user-unlock", 1)[0]
	a, err := e.client.Locks.UnlockDoor(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Both answer the unlock itself with a pending attempt.
	if a.ActionAttemptID == "" || a.ActionType != seam.ActionUnlockDoor || a.Status != seam.StatusPending || a.Error != nil {
		t.Fatalf("unlock_door: %+v; want a pending UNLOCK_DOOR attempt", a)
	}
	const step, maxPolls = 20 * time.Millisecond, 50
	pendingReads := 0
	for polls := 0; a.Status == seam.StatusPending; polls++ {
		if polls == maxPolls {
			t.Fatalf("attempt %s still pending after %d polls", a.ActionAttemptID, maxPolls)
		}
		e.advance(step)
		if a, err = e.client.ActionAttempts.Get(ctx, a.ActionAttemptID); err != nil {
			t.Fatal(err)
		}
		if a.Status == seam.StatusPending {
			pendingReads++
		}
	}
	if a.Status != seam.StatusSuccess || a.Error != nil {
		t.Fatalf("attempt ended %q (%+v), want success", a.Status, a.Error)
	}
	if (pendingReads > 0) != e.want.attemptsTakeTime {
		t.Errorf("%d reads were still pending; want pending reads: %v", pendingReads, e.want.attemptsTakeTime)
	}
	if (len(a.Result) > 0) != e.want.successHasResult {
		t.Errorf("success result %s; want a result: %v", a.Result, e.want.successHasResult)
	}
	d, err := e.client.Devices.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Properties.Locked == nil || *d.Properties.Locked {
		t.Errorf("after the unlock properties.locked = %v, want false", d.Properties.Locked)
	}
}

func testUnlockUnfitDevice(t *testing.T, e *env) {
	ctx := testContext(t)
	id := e.unfitDevice(t)
	a, err := e.client.Locks.UnlockDoor(ctx, id)
	if e.want.checksUnlock {
		apiErr := asAPIError(t, err)
		if apiErr.Status != http.StatusBadRequest || apiErr.Type != "action_not_supported" {
			t.Errorf("unlock of %s: %v; want 400 action_not_supported", id, err)
		}
		return
	}
	// Fake deviation 5: the thermostat "unlocks".
	if err != nil {
		t.Fatal(err)
	}
	if a, err = e.client.ActionAttempts.Get(ctx, a.ActionAttemptID); err != nil {
		t.Fatal(err)
	}
	if a.Status != seam.StatusSuccess {
		t.Errorf("fake: unlock of thermostat %s ended %q, want success", id, a.Status)
	}
}

func testNotFound(t *testing.T, e *env) {
	const missing = "0d6d9a4e-5b8f-4d8e-9c1a-7f2b3c4d5e6f" // a well-formed id nobody has
	calls := []struct {
		name, wantType string
		call           func(ctx context.Context) error
	}{
		{"devices/get", "device_not_found", func(ctx context.Context) error { _, err := e.client.Devices.Get(ctx, missing); return err }},
		{"connect_webviews/get", "connect_webview_not_found", func(ctx context.Context) error {
			_, err := e.client.ConnectWebviews.Get(ctx, missing)
			return err
		}},
		{"connected_accounts/get", "connected_account_not_found", func(ctx context.Context) error {
			_, err := e.client.ConnectedAccounts.Get(ctx, missing)
			return err
		}},
		{"connected_accounts/delete", "connected_account_not_found", func(ctx context.Context) error {
			return e.client.ConnectedAccounts.Delete(ctx, missing)
		}},
		{"action_attempts/get", "action_attempt_not_found", func(ctx context.Context) error {
			_, err := e.client.ActionAttempts.Get(ctx, missing)
			return err
		}},
		{"locks/unlock_door", "device_not_found", func(ctx context.Context) error { _, err := e.client.Locks.UnlockDoor(ctx, missing); return err }},
	}
	for _, c := range calls {
		t.Run(strings.ReplaceAll(c.name, "/", "_"), func(t *testing.T) {
			e.rec.reset()
			err := c.call(testContext(t))
			apiErr := asAPIError(t, err)
			if apiErr.Status != http.StatusNotFound || apiErr.Type != c.wantType || !seam.IsNotFound(err) || seam.IsUnauthorized(err) {
				t.Errorf("%v; want 404 %s, IsNotFound", err, c.wantType)
			}
			if apiErr.Message == "" {
				t.Error("error message empty")
			}
			ex := e.rec.last(t)
			if ex.requestID == "" || apiErr.RequestID != ex.requestID {
				t.Errorf("RequestID %q, want the seam-request-id header %q (both backends send one)", apiErr.RequestID, ex.requestID)
			}
			if n := len(e.rec.paths()); n != 1 {
				t.Errorf("%d requests, want 1 (a 404 is not retried)", n)
			}
		})
	}
}

func testUnauthorized(t *testing.T, e *env) {
	const wrongKey = "seam_wrong_key_V7Lq2"
	c, rec := e.newClient(wrongKey, nil)
	_, err := c.Devices.List(testContext(t), seam.ListDevicesParams{})
	apiErr := asAPIError(t, err)
	if apiErr.Status != http.StatusUnauthorized || !seam.IsUnauthorized(err) || seam.IsNotFound(err) {
		t.Errorf("%v; want 401, IsUnauthorized", err)
	}
	if apiErr.Type != e.want.unauthorizedType {
		t.Errorf("type %q, want %q", apiErr.Type, e.want.unauthorizedType)
	}
	if apiErr.RequestID == "" || apiErr.RequestID != rec.last(t).requestID {
		t.Errorf("RequestID %q, want the seam-request-id header %q", apiErr.RequestID, rec.last(t).requestID)
	}
	if strings.Contains(err.Error(), wrongKey) {
		t.Errorf("the error shows the API key: %v", err)
	}
	if n := len(rec.paths()); n != 1 {
		t.Errorf("%d requests, want 1 (a 401 is not retried)", n)
	}
}

func testValidation(t *testing.T, e *env) {
	cases := []struct {
		name    string
		rewrite map[string]string
		call    func(ctx context.Context, c *seam.Client) error
		// field is the validation_errors entry expected on a 400.
		field   string
		message string
		// onlyWhereIDsValidated: elsewhere (the fake) the call is a 404 device_not_found.
		onlyWhereIDsValidated bool
	}{
		{
			name: "device_id_is_a_number",
			// The typed client cannot send a number; its body is replaced on the wire.
			rewrite: map[string]string{"/devices/get": `{"device_id":42}`},
			call: func(ctx context.Context, c *seam.Client) error {
				_, err := c.Devices.Get(ctx, "placeholder")
				return err
			},
			field: "device_id", message: "Expected string, received number",
		},
		{
			name: "device_id_missing",
			// The typed client refuses an empty id before sending, so the wire body is
			// replaced. Neither id nor name is a whole-body failure: it sits at the
			// root of validation_errors, not under a field.
			rewrite: map[string]string{"/devices/get": `{}`},
			call: func(ctx context.Context, c *seam.Client) error {
				_, err := c.Devices.Get(ctx, "placeholder")
				return err
			},
			field: "_errors", message: "Either 'device_id' or 'name' is required",
		},
		{
			name: "limit_not_positive",
			call: func(ctx context.Context, c *seam.Client) error {
				_, err := c.Devices.List(ctx, seam.ListDevicesParams{Limit: -1})
				return err
			},
			field: "limit", message: "Number must be greater than 0",
		},
		{
			name: "device_id_not_a_uuid",
			call: func(ctx context.Context, c *seam.Client) error {
				_, err := c.Devices.Get(ctx, "front-door")
				return err
			},
			field: "device_id", message: "Invalid uuid",
			onlyWhereIDsValidated: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := e.newClient(e.key, tc.rewrite)
			err := tc.call(testContext(t), c)
			apiErr := asAPIError(t, err)
			if n := len(rec.paths()); n != 1 {
				t.Errorf("%d requests, want 1 (a 4xx is not retried)", n)
			}
			if tc.onlyWhereIDsValidated && !e.want.validatesIDs {
				if apiErr.Status != http.StatusNotFound || apiErr.Type != "device_not_found" {
					t.Errorf("%v; want 404 device_not_found (this backend takes any string as an id)", err)
				}
				return
			}
			if apiErr.Status != http.StatusBadRequest || apiErr.Type != "invalid_input" || seam.IsNotFound(err) {
				t.Fatalf("%v; want 400 invalid_input", err)
			}
			if !strings.Contains(apiErr.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", apiErr.Message, tc.message)
			}
			var tree map[string]json.RawMessage
			if err := json.Unmarshal(apiErr.ValidationErrors, &tree); err != nil || tree[tc.field] == nil {
				t.Errorf("validation_errors %s: want an entry for %s", apiErr.ValidationErrors, tc.field)
			}
			// The root's _errors list is always present (often empty): a root failure must be in it.
			var root []string
			if tc.field == "_errors" && (json.Unmarshal(tree["_errors"], &root) != nil || !slices.Contains(root, tc.message)) {
				t.Errorf("validation_errors %s: want %q at the root", apiErr.ValidationErrors, tc.message)
			}
		})
	}
}

// --- helpers -----------------------------------------------------------------------

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func asAPIError(t *testing.T, err error) *seam.Error {
	t.Helper()
	var apiErr *seam.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T), want a *seam.Error", err, err)
	}
	return apiErr
}

func deviceIDs(devs []seam.Device) []string {
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.DeviceID
	}
	return ids
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// clock is the sandbox's injected time, moved by tests instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// exchange is one request the client sent and what came back.
type exchange struct {
	path      string
	status    int
	requestID string
}

// recorder is the client's transport in these tests: it logs every exchange, so
// the same assertions (request counts, seam-request-id) hold on both backends.
type recorder struct {
	next    http.RoundTripper
	rewrite map[string]string

	mu  sync.Mutex
	log []exchange
}

// RoundTrip sends req, with its body replaced when rewrite names its path.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if body, ok := r.rewrite[req.URL.Path]; ok {
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(body))), nil }
	}
	res, err := r.next.RoundTrip(req)
	ex := exchange{path: req.URL.Path}
	if err == nil {
		ex.status, ex.requestID = res.StatusCode, res.Header.Get("seam-request-id")
	}
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = nil
}

func (r *recorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.log))
	for i, ex := range r.log {
		out[i] = ex.path
	}
	return out
}

func (r *recorder) count(path string) int {
	n := 0
	for _, p := range r.paths() {
		if p == path {
			n++
		}
	}
	return n
}

func (r *recorder) last(t *testing.T) exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.log) == 0 {
		t.Fatal("no request was sent")
	}
	return r.log[len(r.log)-1]
}
