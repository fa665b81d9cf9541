package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/syncbuf"
	"github.com/latchkey/latchkey/internal/testing/testop"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// latchkeyBinary builds the portal once per test binary, as CI builds it.
var latchkeyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "latchkey-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/latchkey/latchkey")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// instance is one running Latchkey process.
type instance struct {
	addr string
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan struct{}
}

// cluster is several Latchkey processes on one PostgreSQL behind a round-robin
// reverse proxy, with the test OP as IdP and one shared Seam sandbox.
type cluster struct {
	*testportal.Portal // URL is the proxy's; Sandbox the shared Seam
	op                 *testop.OP
	instances          []*instance
	db                 *store.DB
	appURL             string // the application role's DATABASE_URL
}

// startCluster migrates a fresh PostgreSQL database with `latchkey migrate` as its
// owner, then starts n instances as the application role.
func startCluster(t *testing.T, n int, env map[string]string) *cluster {
	t.Helper()
	bin, err := latchkeyBinary()
	if err != nil {
		t.Fatal(err)
	}
	ownerURL, appURL := pgtest.OwnerAndAppURLs(t)
	migrate := exec.Command(bin, "migrate")
	migrate.Env = append(os.Environ(), "DATABASE_URL="+ownerURL)
	if out, err := migrate.CombinedOutput(); err != nil || !strings.Contains(string(out), "up to date") {
		t.Fatalf("latchkey migrate: %v\n%s", err, out)
	}

	sb := sandbox.New(sandbox.Options{APIKey: "seam_cluster_key", ActionDelay: 300 * time.Millisecond})
	seamSrv := httptest.NewServer(sb)
	t.Cleanup(seamSrv.Close)
	op := testop.Start(t, "")

	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + proxyLn.Addr().String()
	c := &cluster{Portal: &testportal.Portal{URL: base, Sandbox: sb}, op: op, appURL: appURL}
	settings := map[string]string{
		"LATCHKEY_BASE_URL":           base,
		"DATABASE_URL":                appURL,
		"SESSION_KEY":                 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"OIDC_ISSUER":                 op.Issuer(),
		"OIDC_CLIENT_ID":              op.ClientID,
		"OIDC_CLIENT_SECRET":          op.ClientSecret,
		"OIDC_ADMIN_CLAIM":            "none",
		"SEAM_API_KEY":                "seam_cluster_key",
		"SEAM_ENDPOINT":               seamSrv.URL,
		"TRUSTED_PROXIES":             "127.0.0.1/32",
		"LATCHKEY_FOLLOW_INTERVAL":    "200ms",
		"LATCHKEY_SEAM_BUDGET":        "1000/10s",
		"LATCHKEY_SHUTDOWN_TIMEOUT":   "2s",
		"LOG_LEVEL":                   "debug",
		"LATCHKEY_ACTIONS_PER_MINUTE": "10",
	}
	for k, v := range env {
		settings[k] = v
	}
	for range n {
		c.instances = append(c.instances, startInstance(t, bin, settings))
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			live := c.live()
			target := live[int(next.Add(1))%len(live)]
			r.SetURL(&url.URL{Scheme: "http", Host: target.addr})
			r.Out.Host = r.In.Host // the instances see the shared URL's host
			r.SetXForwarded()
		},
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(proxyLn) }()
	t.Cleanup(func() { _ = srv.Close() })

	db, err := store.Open(t.Context(), appURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	t.Cleanup(func() {
		if t.Failed() {
			for i, in := range c.instances {
				t.Logf("instance %d logs:\n%s", i, in.logs.String())
			}
		}
	})
	return c
}

func startInstance(t *testing.T, bin string, settings map[string]string) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	in := &instance{addr: addr, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
	in.cmd = exec.Command(bin)
	in.cmd.Env = append(os.Environ(), "LATCHKEY_ADDR="+addr)
	for k, v := range settings {
		in.cmd.Env = append(in.cmd.Env, k+"="+v)
	}
	in.cmd.Stdout = io.Discard
	in.cmd.Stderr = in.logs
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = in.cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.done:
		case <-time.After(10 * time.Second):
			_ = in.cmd.Process.Kill()
			<-in.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		select {
		case <-in.done:
			t.Fatalf("instance exited at start:\n%s", in.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance not ready after 20 s:\n%s", in.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// live are the instances still running.
func (c *cluster) live() []*instance {
	var out []*instance
	for _, in := range c.instances {
		select {
		case <-in.done:
		default:
			out = append(out, in)
		}
	}
	return out
}

// signIn signs sub in through the shared URL and returns the browser.
func (c *cluster) signIn(t *testing.T, sub string) *http.Client {
	t.Helper()
	b := c.Client(t)
	res, body := c.Get(t, b, "/login")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /login: %d\n%s", res.StatusCode, body)
	}
	c.op.QueueUser(testop.User{Sub: sub, Email: sub + "@example.com", EmailVerified: true, Name: sub})
	res, _ = testportal.Do(t, b, http.MethodGet, res.Header.Get("Location"), nil, nil)
	callback := res.Header.Get("Location")
	if !strings.HasPrefix(callback, c.URL+"/auth/callback?") {
		t.Fatalf("IdP sent the browser to %q", callback)
	}
	res, body = testportal.Do(t, b, http.MethodGet, callback, nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
		t.Fatalf("callback: %d to %q\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	return b
}

// devicesOf lists the device ids /devices shows b (the last device id attribute of
// each row's action slot).
func (c *cluster) devicesOf(t *testing.T, b *http.Client) []string {
	t.Helper()
	res, body := c.Get(t, b, "/devices")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /devices: %d", res.StatusCode)
	}
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for {
			i := strings.Index(line, `id="action-`)
			if i < 0 {
				break
			}
			line = line[i+len(`id="action-`):]
			ids = append(ids, line[:36])
		}
	}
	return ids
}

func (c *cluster) htmxPost(t *testing.T, b *http.Client, path string) int {
	t.Helper()
	res, _ := testportal.Do(t, b, http.MethodPost, c.URL+path, url.Values{}, htmxHeader(""))
	return res.StatusCode
}

// TestSeveralInstances: two real Latchkey processes on one PostgreSQL behind a
// round-robin proxy behave as one portal to a customer.
func TestSeveralInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts real processes")
	}
	c := startCluster(t, 2, nil)

	t.Run("sign-in and sign-out hold on both", func(t *testing.T) {
		b := c.signIn(t, "carol")
		for i := range 4 { // the proxy alternates: two requests on each instance
			if res, _ := c.Get(t, b, "/devices"); res.StatusCode != http.StatusOK {
				t.Fatalf("GET /devices #%d through the proxy: %d, want 200", i, res.StatusCode)
			}
		}
		if res, _ := c.Post(t, b, "/logout", nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /logout: %d", res.StatusCode)
		}
		for i := range 4 {
			if res, _ := c.Get(t, b, "/devices"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("GET /devices #%d after sign-out: %d to %q, want the sign-in", i, res.StatusCode, res.Header.Get("Location"))
			}
		}
	})

	// alice has 12 locks (four accounts of three) for the limit; dave one account for
	// the single flight; bob's are the ones nobody else may touch.
	alice, dave, bob := c.signIn(t, "alice"), c.signIn(t, "dave"), c.signIn(t, "bob")
	for range 4 {
		if res, _ := c.Connect(t, alice, sandbox.JaneEmail); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("connect: %d", res.StatusCode)
		}
	}
	if res, _ := c.Connect(t, dave, sandbox.JaneEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d", res.StatusCode)
	}
	if res, _ := c.Connect(t, bob, sandbox.JohnEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob connect: %d", res.StatusCode)
	}
	alices, daves, bobs := c.devicesOf(t, alice), c.devicesOf(t, dave), c.devicesOf(t, bob)
	if len(alices) != 12 || len(daves) != 3 || len(bobs) != 2 {
		t.Fatalf("devices: alice %d, dave %d, bob %d; want 12, 3, 2", len(alices), len(daves), len(bobs))
	}
	// Offline locks are refused before the limit counts them: every one of alice's is
	// brought online, so the limit alone decides below.
	for _, d := range alices {
		if err := c.Sandbox.SetOnline(d, true); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("20 concurrent unlocks of one device: 1 Seam call", func(t *testing.T) {
		before := len(c.Sandbox.CallsTo("/locks/unlock_door"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for range 20 {
			wg.Go(func() {
				code := c.htmxPost(t, dave, "/devices/"+daves[0]+"/unlock")
				mu.Lock()
				codes[code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		got := len(c.Sandbox.CallsTo("/locks/unlock_door")) - before
		t.Logf("20 concurrent unlocks of one device over 2 instances: %d Seam call(s), answers %v", got, codes)
		if got != 1 || codes[http.StatusOK] != 20 {
			t.Errorf("Seam got %d unlocks, answers %v; want exactly 1 call and 20 × 200 with that action", got, codes)
		}
	})

	t.Run("12 concurrent unlocks over 12 devices: at most 10 reach Seam", func(t *testing.T) {
		before := len(c.Sandbox.CallsTo("/locks/unlock_door"))
		var wg sync.WaitGroup
		var limited atomic.Int32
		for _, d := range alices {
			wg.Go(func() {
				if c.htmxPost(t, alice, "/devices/"+d+"/unlock") == http.StatusTooManyRequests {
					limited.Add(1)
				}
			})
		}
		wg.Wait()
		got := len(c.Sandbox.CallsTo("/locks/unlock_door")) - before
		t.Logf("12 concurrent unlocks over 12 devices, split over 2 instances: %d Seam calls, %d refused with 429", got, limited.Load())
		if got != 10 || limited.Load() != 2 {
			t.Errorf("%d Seam calls and %d refusals, want 10 calls and 2 refused", got, limited.Load())
		}
	})

	t.Run("ownership holds through the proxy", func(t *testing.T) {
		for _, d := range bobs {
			if slices.Contains(daves, d) || slices.Contains(alices, d) {
				t.Fatalf("bob's device %s listed for someone else", d)
			}
		}
		locks := len(c.Sandbox.CallsTo("/locks/lock_door"))
		for i := range 4 { // alternating instances, page and action
			if res, _ := c.Get(t, dave, "/devices/"+bobs[0]); res.StatusCode != http.StatusNotFound {
				t.Errorf("dave GET bob's device #%d: %d, want 404", i, res.StatusCode)
			}
			if code := c.htmxPost(t, dave, "/devices/"+bobs[0]+"/lock"); code != http.StatusNotFound {
				t.Errorf("dave locks bob's device #%d: %d, want 404", i, code)
			}
			if res, _ := c.Get(t, bob, "/devices/"+daves[0]); res.StatusCode != http.StatusNotFound {
				t.Errorf("bob GET dave's device #%d: %d, want 404", i, res.StatusCode)
			}
		}
		if got := len(c.Sandbox.CallsTo("/locks/lock_door")) - locks; got != 0 {
			t.Errorf("Seam got %d locks for bob's device from dave", got)
		}
	})
	t.Run("the audit chain stayed linear over both instances", func(t *testing.T) {
		// verify with the application role, which reads and writes nothing else.
		out, code := runVerify(t, c.appURL)
		if code != 0 || strings.Contains(out, "rows: 0\n") {
			t.Errorf("latchkey audit verify after both instances wrote: exit %d\n%s", code, out)
		}
	})
}

// TestOwnershipMatrixSeveralInstances runs the ownership matrix through the proxy, the
// requests alternating between two instances: every rule holds whichever instance
// answers.
func TestOwnershipMatrixSeveralInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts real processes")
	}
	c := startCluster(t, 2, map[string]string{
		"LATCHKEY_ACTIONS_PER_MINUTE":   "10000",
		"LATCHKEY_FOLLOW_INTERVAL":      "1h",
		"LATCHKEY_SEAM_BUDGET":          "10000/1s",
		"LATCHKEY_REFUSAL_AUDIT_WINDOW": "1ns",
		"ADMIN_EMAILS":                  matrixAdmin + "@example.com",
		// The matrix counts Seam calls per case: no poller (nor the resyncs its events
		// may ask for) in the background.
		"SEAM_EVENTS_POLL_INTERVAL": "1h",
	})
	c.Portal.DB = c.db
	calls := func() []matrixCall {
		var out []matrixCall
		for _, call := range c.Sandbox.Calls() {
			out = append(out, matrixCall{Path: call.Path, Body: string(call.Body)})
		}
		return out
	}
	signInAs := func(who string) customer {
		b := c.signIn(t, who)
		return customer{c: b, user: userBySubject(t, c.Portal, who)}
	}
	env := matrixEnvSetup(t, c.Portal, calls, func(env *matrixEnv) {
		for who, email := range map[string]string{matrixAlice: sandbox.JaneEmail, matrixBob: sandbox.JohnEmail} {
			res, body := c.Connect(t, env.clients[who], email)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
				t.Fatalf("connect %s: status %d Location %q\n%s", who, res.StatusCode, res.Header.Get("Location"), body)
			}
		}
		env.devices[matrixAlice] = listedDeviceID(t, c.Portal, env.clients[matrixAlice], "Front Door")
		env.devices[matrixBob] = listedDeviceID(t, c.Portal, env.clients[matrixBob], "Main Entrance")
	}, signInAs)
	matrixRun(t, env)
}

// TestInstanceKilledWithActionPending: one instance is killed (SIGKILL) right after
// Seam accepted an unlock it sent; the other instance's follower records the outcome,
// audited exactly once.
func TestInstanceKilledWithActionPending(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts real processes")
	}
	c := startCluster(t, 2, nil)
	alice := c.signIn(t, "alice")
	if res, _ := c.Connect(t, alice, sandbox.JaneEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d", res.StatusCode)
	}
	front := c.devicesOf(t, alice)[0]

	// The unlock goes to instance 0 directly (under the shared URL's host); Seam keeps
	// it pending 300 ms.
	victim := c.instances[0]
	req, err := http.NewRequest(http.MethodPost, "http://"+victim.addr+"/devices/"+front+"/unlock", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = strings.TrimPrefix(c.URL, "http://")
	req.Header.Set("Hx-Request", "true")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, ck := range alice.Jar.Cookies(&url.URL{Scheme: "http", Host: req.Host, Path: "/"}) {
		req.AddCookie(ck)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("unlock on instance 0: %d", res.StatusCode)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done

	var id, status string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.db.SQL().QueryRowContext(t.Context(),
			`SELECT id, status FROM action_attempts WHERE device_id = $1`, front).Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		if !store.IsOpenStatus(status) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("instance 0 killed after Seam accepted the unlock: the other recorded %q", status)
	if status != store.AttemptSuccess {
		t.Fatalf("after the kill: %s, want success recorded by the surviving instance", status)
	}
	var succeeded int
	if err := c.db.SQL().QueryRowContext(t.Context(),
		`SELECT COUNT(*) FROM audit_events WHERE action_attempt_id = $1 AND action = $2`, id, store.AuditDeviceUnlockSucceeded).Scan(&succeeded); err != nil {
		t.Fatal(err)
	}
	if succeeded != 1 {
		t.Errorf("%d %s audit rows, want exactly 1", succeeded, store.AuditDeviceUnlockSucceeded)
	}
}

// TestLiveChangesReachEveryInstance: alice's page is open on one instance while Seam's
// event is applied on whichever instance polls; the change reaches her stream through
// PostgreSQL LISTEN/NOTIFY; bob's stream on the same instance never carries it.
func TestLiveChangesReachEveryInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts real processes")
	}
	c := startCluster(t, 2, map[string]string{"SEAM_EVENTS_POLL_INTERVAL": "200ms"})
	alice, bob := c.signIn(t, "alice"), c.signIn(t, "bob")
	if res, _ := c.Connect(t, alice, sandbox.JaneEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d", res.StatusCode)
	}
	if res, _ := c.Connect(t, bob, sandbox.JohnEmail); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("connect: %d", res.StatusCode)
	}
	front := c.devicesOf(t, alice)[0]
	for i, in := range c.instances {
		direct := &testportal.Portal{URL: "http://" + in.addr}
		aliceStream := streamOn(t, direct, c.URL, alice)
		bobStream := streamOn(t, direct, c.URL, bob)
		// Whatever state the lock is in, one of the two changes it (the page's first
		// device is not always the same door).
		for _, locked := range []bool{i%2 == 0, i%2 != 0} {
			if err := c.Sandbox.SetLocked(front, locked, sandbox.MethodManual); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := next(t, aliceStream, 10*time.Second, func(ev sseEvent) bool {
			return ev.name == "change" && strings.Contains(ev.data, front)
		}); !ok {
			t.Errorf("alice's stream on instance %d never carried the change", i)
		}
		if ev, ok := next(t, bobStream, 300*time.Millisecond, func(ev sseEvent) bool { return strings.Contains(ev.data, front) }); ok {
			t.Errorf("bob's stream on instance %d carried alice's device:\n%s", i, ev.data)
		}
	}
}

// streamOn opens b's live stream on one instance directly, under the shared URL's host.
func streamOn(t *testing.T, direct *testportal.Portal, shared string, b *http.Client) <-chan sseEvent {
	t.Helper()
	u, _ := url.Parse(shared)
	jar := b.Jar
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, direct.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = u.Host
	for _, ck := range jar.Cookies(u) {
		req.AddCookie(ck)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream on %s: %d", direct.URL, res.StatusCode)
	}
	events := readEvents(res)
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the stream never said it was connected")
	}
	return events
}
