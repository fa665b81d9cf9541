package seam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// sdkSummary is what seam/testdata/sdk_smoke.mjs prints.
type sdkSummary struct {
	SDK              string   `json:"sdk"`
	Node             string   `json:"node"`
	Devices          int      `json:"devices"`
	DeviceIDs        []string `json:"device_ids"`
	PagedDevices     int      `json:"paged_devices"`
	ConnectWebviewID string   `json:"connect_webview_id"`
	WebviewStatus    string   `json:"webview_status"`
	UnlockedDeviceID string   `json:"unlocked_device_id"`
	ActionAttemptID  string   `json:"action_attempt_id"`
	InitialStatus    string   `json:"initial_status"`
	ActionType       string   `json:"action_type"`
	ActionStatus     string   `json:"action_status"`
	LockedAfter      *bool    `json:"locked_after"`
	OK               bool     `json:"ok"`
	Problems         []string `json:"problems"`
}

// TestSeamJavaScriptSDK drives the sandbox with Seam's own JavaScript SDK
// (@seamapi/http, pinned in package.json): proof that the sandbox speaks Seam's API
// the way Seam's client expects, not just the way our Go client does.
func TestSeamJavaScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("this test runs Seam's JavaScript SDK and needs Node.js 20+ on PATH: install it " +
			"(Debian/Ubuntu: apt-get install -y nodejs npm; or https://nodejs.org), then run `npm ci` in the repository root")
	}
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "@seamapi", "http", "package.json")); err != nil {
		t.Fatalf("Seam's SDK @seamapi/http is not installed: run `npm ci` in %s (make test does it)", root)
	}

	const (
		key    = "seam_sdk_smoke_key_8Hq3" // the SDK insists on the seam_ prefix
		user   = "sdk-user"
		others = "someone-else"
	)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	srv, err := sandbox.Start(ctx, "127.0.0.1:0", sandbox.Options{APIKey: key, ActionDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	sb := srv.Sandbox
	_, mine := sb.AddConnectedAccount(user, 3)
	sb.AddConnectedAccount(others, 2) // must not show up in the user's list

	cmd := exec.CommandContext(ctx, node, filepath.Join("seam", "testdata", "sdk_smoke.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"SEAM_ENDPOINT="+srv.URL,
		"SEAM_API_KEY="+key,
		"USER_KEY="+user,
		"EXPECT=3",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		t.Fatalf("node seam/testdata/sdk_smoke.mjs exited %d\nstdout: %s\nstderr: %s", exitErr.ExitCode(), stdout.String(), stderr.String())
	case err != nil:
		t.Fatalf("run node: %v\nstderr: %s", err, stderr.String())
	}

	var got sdkSummary
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &got); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("SDK summary (node %s): %s", got.Node, strings.TrimSpace(stdout.String()))
	if !got.OK || len(got.Problems) != 0 {
		t.Errorf("the script reported problems: %v", got.Problems)
	}
	if !slices.Equal(sorted(got.DeviceIDs), sorted(mine)) || got.Devices != len(mine) || got.PagedDevices != len(mine) {
		t.Errorf("the SDK listed %v (%d page by page), want exactly the user's %v", got.DeviceIDs, got.PagedDevices, mine)
	}
	if got.ConnectWebviewID == "" || got.WebviewStatus != seam.WebviewPending {
		t.Errorf("webview %q status %q, want a pending webview", got.ConnectWebviewID, got.WebviewStatus)
	}
	if !slices.Contains(mine, got.UnlockedDeviceID) || got.ActionType != seam.ActionUnlockDoor || got.InitialStatus != seam.StatusPending ||
		got.ActionStatus != seam.StatusSuccess || got.LockedAfter == nil || *got.LockedAfter {
		t.Errorf("unlock of %s: %s %s → %s, locked after: %v; want one of the user's locks, UNLOCK_DOOR pending → success, unlocked",
			got.UnlockedDeviceID, got.ActionType, got.InitialStatus, got.ActionStatus, got.LockedAfter)
	}

	// The SDK's requests really reached the sandbox, answered 200.
	for _, path := range []string{"devices/list", "connect_webviews/create", "connect_webviews/get", "locks/unlock_door", "action_attempts/get", "devices/get"} {
		calls := sb.CallsTo(path)
		if len(calls) == 0 {
			t.Errorf("the sandbox received no %s", path)
		}
		for _, c := range calls {
			if c.Status != http.StatusOK {
				t.Errorf("%s %s answered %d: %s", c.Method, c.Path, c.Status, c.Body)
			}
		}
	}
	if n := len(sb.CallsTo("locks/unlock_door")); n != 1 {
		t.Errorf("unlock_door received %d times, want once", n)
	}
	// The SDK lists with GET and a query string; its paginator must have sent the
	// sandbox's next_page_cursor back as page_cursor.
	cursors := 0
	for _, c := range sb.CallsTo("devices/list") {
		var q map[string]any
		if c.Method == http.MethodGet && json.Unmarshal(c.Body, &q) == nil && q["page_cursor"] != nil {
			cursors++
		}
	}
	if want := len(mine) - 1; cursors < want {
		t.Errorf("%d devices/list requests carried a page_cursor, want at least %d (one per page after the first)", cursors, want)
	}

	// What the SDK created is there for our own client too.
	c := seam.New(key, seam.WithEndpoint(srv.URL))
	if wv, err := c.ConnectWebviews.Get(ctx, got.ConnectWebviewID); err != nil || wv.Status != seam.WebviewPending {
		t.Errorf("connect_webviews/get %s: %+v, %v; want the SDK's pending webview", got.ConnectWebviewID, wv, err)
	}
	if a, err := c.ActionAttempts.Get(ctx, got.ActionAttemptID); err != nil || a.Status != seam.StatusSuccess {
		t.Errorf("action_attempts/get %s: %+v, %v; want the SDK's successful attempt", got.ActionAttemptID, a, err)
	}
}

// moduleRoot is the directory holding go.mod: the SDK script runs from there, as
// `node seam/testdata/sdk_smoke.mjs`, and resolves node_modules from it.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// webhookVerdict is what seam/testdata/webhook_verify.mjs prints.
type webhookVerdict struct {
	OK        bool   `json:"ok"`
	EventType string `json:"event_type"`
	EventID   string `json:"event_id"`
	Error     string `json:"error"`
}

// TestSeamWebhookSDKVerifiesSandboxWebhooks makes the sandbox deliver a webhook to
// a local endpoint and verifies the saved delivery with Seam's own webhook SDK
// (@seamapi/webhook, pinned in package.json): proof that the sandbox signs the way
// Seam (through Svix) does. A tampered payload must be rejected.
func TestSeamWebhookSDKVerifiesSandboxWebhooks(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("this test runs Seam's webhook SDK and needs Node.js 20+ on PATH: install it " +
			"(Debian/Ubuntu: apt-get install -y nodejs npm; or https://nodejs.org), then run `npm ci` in the repository root")
	}
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "@seamapi", "webhook", "package.json")); err != nil {
		t.Fatalf("Seam's webhook SDK @seamapi/webhook is not installed: run `npm ci` in %s (make test does it)", root)
	}

	type delivery struct {
		Payload string            `json:"payload"`
		Headers map[string]string `json:"headers"`
	}
	got := make(chan delivery, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for _, k := range []string{"svix-id", "svix-timestamp", "svix-signature", "content-type"} {
			h[k] = r.Header.Get(k)
		}
		got <- delivery{Payload: string(body), Headers: h}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	const key = "seam_webhook_sdk_key_4Tz9"
	srv, err := sandbox.Start(ctx, "127.0.0.1:0", sandbox.Options{APIKey: key, ActionDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, devs := srv.Sandbox.AddConnectedAccount("sdk-user", 1)

	// Register the webhook through the API, as Latchkey would.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/webhooks/create",
		strings.NewReader(`{"url":"`+hook.URL+`/seam","event_types":["lock.unlocked"]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Webhook struct {
			Secret string `json:"secret"`
		} `json:"webhook"`
	}
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !strings.HasPrefix(created.Webhook.Secret, "whsec_") {
		t.Fatalf("webhooks/create: %d %v %+v", res.StatusCode, err, created)
	}

	if err := srv.Sandbox.SetLocked(devs[0], false, sandbox.MethodManual); err != nil {
		t.Fatal(err)
	}
	var d delivery
	select {
	case d = <-got:
	case <-ctx.Done():
		t.Fatal("no webhook delivered")
	}

	verify := func(d delivery) (webhookVerdict, int) {
		t.Helper()
		b, _ := json.Marshal(d)
		file := filepath.Join(t.TempDir(), "delivery.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, node, filepath.Join("seam", "testdata", "webhook_verify.mjs"), file)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+created.Webhook.Secret)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := 0
		if err := cmd.Run(); err != nil {
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() == 2 {
				t.Fatalf("node webhook_verify.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}
			code = exitErr.ExitCode()
		}
		var v webhookVerdict
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &v); err != nil {
			t.Fatalf("verdict is not JSON: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
		}
		return v, code
	}

	v, code := verify(d)
	var sent struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal([]byte(d.Payload), &sent)
	if code != 0 || !v.OK || v.EventType != "lock.unlocked" || v.EventID != sent.EventID {
		t.Fatalf("SeamWebhook.verify: exit %d, %+v; delivery %+v", code, v, d)
	}
	t.Logf("@seamapi/webhook verified %s %s (svix-id %s)", v.EventType, v.EventID, d.Headers["svix-id"])

	tampered := d
	tampered.Payload = strings.Replace(d.Payload, `"method":"manual"`, `"method":"remote"`, 1)
	if tampered.Payload == d.Payload {
		t.Fatalf("payload has no manual method to tamper with: %s", d.Payload)
	}
	if v, code := verify(tampered); code != 1 || v.OK || !strings.Contains(v.Error, "Verification") {
		t.Errorf("tampered payload: exit %d, %+v; want a verification error", code, v)
	}
}
