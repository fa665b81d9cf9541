package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/seamfake"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// The ownership matrix (issue 6, point 8; DESIGN.md "Ownership — defence in depth"):
// every device route × every kind of visitor × every kind of device id, run once on
// the Seam sandbox and once on Seam's own fake, from one table.

// Actors. On /devices/… routes the admin is a customer like any other, with no devices.
const (
	matrixAlice = "alice" // owns "alice's device" (sandbox: jane's locks)
	matrixBob   = "bob"   // owns "bob's device" (sandbox: john's locks)
	matrixAdmin = "admin"
	matrixAnon  = "anonymous"
)

// Targets: whose device the URL names.
const (
	matrixTargetAlice     = "alice's device"
	matrixTargetBob       = "bob's device"
	matrixTargetNonexist  = "nonexistent id"
	matrixTargetNotUUID   = "malformed not-a-uuid"
	matrixTargetTraversal = "malformed ..%2Fetc"
	matrixTargetNUL       = "malformed %00"
	matrixTargetLong      = "malformed 300 chars"
)

// matrixMalformed are the raw path segments of the malformed targets.
func matrixMalformed(target string) (string, bool) {
	switch target {
	case matrixTargetNotUUID:
		return "not-a-uuid", true
	case matrixTargetTraversal:
		return "..%2Fetc", true
	case matrixTargetNUL:
		return "%00", true
	case matrixTargetLong:
		return "", true // alice's own device id, padded to 300 characters (matrixRun)
	}
	return "", false
}

// matrixRoute is one device route, as a browser without JS or htmx would send it.
type matrixRoute struct {
	name   string
	method string
	htmx   bool
	verb   string // "unlock" or "lock" for the action routes
	status bool   // the action-attempt status route
}

func (r matrixRoute) path(device, attempt string) string {
	switch {
	case r.verb != "":
		return "/devices/" + device + "/" + r.verb
	case r.status:
		return "/devices/" + device + "/actions/" + attempt
	}
	return "/devices/" + device
}

func matrixRoutes() []matrixRoute {
	return []matrixRoute{
		{name: "GET device", method: http.MethodGet},
		{name: "POST unlock", method: http.MethodPost, verb: "unlock"},
		{name: "POST unlock htmx", method: http.MethodPost, verb: "unlock", htmx: true},
		{name: "POST lock", method: http.MethodPost, verb: "lock"},
		{name: "POST lock htmx", method: http.MethodPost, verb: "lock", htmx: true},
		{name: "GET attempt htmx", method: http.MethodGet, status: true, htmx: true},
		{name: "GET attempt", method: http.MethodGet, status: true},
	}
}

// matrixCase is one cell of the matrix.
type matrixCase struct {
	route  matrixRoute
	actor  string
	target string
}

// matrixCases is the whole table: routes × actors × targets.
func matrixCases() []matrixCase {
	var cases []matrixCase
	for _, r := range matrixRoutes() {
		for _, a := range []string{matrixAlice, matrixBob, matrixAdmin, matrixAnon} {
			for _, tg := range []string{matrixTargetAlice, matrixTargetBob, matrixTargetNonexist, matrixTargetNotUUID, matrixTargetTraversal, matrixTargetNUL, matrixTargetLong} {
				cases = append(cases, matrixCase{route: r, actor: a, target: tg})
			}
		}
	}
	return cases
}

// owns says whether the actor owns the target device.
func (c matrixCase) owns() bool {
	return (c.actor == matrixAlice && c.target == matrixTargetAlice) || (c.actor == matrixBob && c.target == matrixTargetBob)
}

// matrixCall is one request that reached Seam (sandbox or fake).
type matrixCall struct {
	Path string
	Body string
}

// matrixEnv is one backend, set up: alice and bob each own one operable lock and have
// one action attempt on it; admin has no devices.
type matrixEnv struct {
	p        *testportal.Portal
	clients  map[string]*http.Client
	userIDs  map[string]string
	devices  map[string]string // actor → their device id
	names    map[string]string // actor → their device's name as /devices shows it
	attempts map[string]string // actor → an attempt they started on their device
	// calls is every request that reached Seam so far, oldest first.
	calls func() []matrixCall
}

// matrixEnvSetup signs everyone in (through the dev IdP unless signInAs is given);
// connect gives alice and bob their devices.
func matrixEnvSetup(t *testing.T, p *testportal.Portal, calls func() []matrixCall, connect func(env *matrixEnv), signInAs ...func(who string) customer) *matrixEnv {
	t.Helper()
	// The matrix settles every attempt by polling, as the browser does; a follower
	// asking Seam in the background would land between a case's before and after
	// (testportal starts it with LATCHKEY_FOLLOW_INTERVAL unless told otherwise).
	env := &matrixEnv{p: p, calls: calls, clients: map[string]*http.Client{}, userIDs: map[string]string{},
		devices: map[string]string{}, names: map[string]string{}, attempts: map[string]string{}}
	for _, who := range []string{matrixAlice, matrixBob, matrixAdmin} {
		var u customer
		if len(signInAs) > 0 {
			u = signInAs[0](who)
		} else {
			u = signIn(t, p, who)
		}
		env.clients[who], env.userIDs[who] = u.c, u.user.ID
	}
	env.clients[matrixAnon] = p.Client(t)
	connect(env)
	for _, who := range []string{matrixAlice, matrixBob} {
		dev := env.devices[who]
		if dev == "" {
			t.Fatalf("setup: %s has no device", who)
		}
		env.names[who] = listedDevices(t, p, env.clients[who])[dev]
		res, body := testportal.Do(t, env.clients[who], http.MethodPost, p.URL+"/devices/"+dev+"/unlock", url.Values{}, htmxHeader(""))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("setup: %s unlocks own device: status %d\n%s", who, res.StatusCode, body)
		}
		a := latestAttempt(t, p, env.userIDs[who], dev)
		pollAttempt(t, p, env.clients[who], dev, a.ID)
		env.attempts[who] = a.ID
	}
	return env
}

// TestOwnershipMatrixSandbox runs the matrix on the Seam sandbox, whose devices/list
// honours user_identifier_key: checks 2 and 3 of DESIGN.md both hold there.
func TestOwnershipMatrixSandbox(t *testing.T) {
	p := testportal.Start(t, testportal.Options{
		Env: map[string]string{"LATCHKEY_ACTIONS_PER_MINUTE": "10000", "LATCHKEY_FOLLOW_INTERVAL": "1h",
			"LATCHKEY_SEAM_BUDGET": "10000/1s", "LATCHKEY_REFUSAL_AUDIT_WINDOW": "1ns"},
		ActionDelay: time.Millisecond,
	})
	calls := func() []matrixCall {
		var out []matrixCall
		for _, c := range p.Sandbox.Calls() {
			out = append(out, matrixCall{Path: c.Path, Body: string(c.Body)})
		}
		return out
	}
	env := matrixEnvSetup(t, p, calls, func(env *matrixEnv) {
		for who, email := range map[string]string{matrixAlice: sandbox.JaneEmail, matrixBob: sandbox.JohnEmail} {
			res, body := p.Connect(t, env.clients[who], email)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
				t.Fatalf("connect %s: status %d Location %q\n%s", who, res.StatusCode, res.Header.Get("Location"), body)
			}
		}
		env.devices[matrixAlice] = listedDeviceID(t, p, env.clients[matrixAlice], "Front Door")
		env.devices[matrixBob] = listedDeviceID(t, p, env.clients[matrixBob], "Main Entrance")
	})
	matrixRun(t, env)
	t.Run("live stream", func(t *testing.T) { matrixStreams(t, env) })
}

// matrixStreams is the matrix's row for GET /events: a change to one user's device
// reaches that user's stream and nobody else's (the other customer, the admin); the
// anonymous visitor has no stream at all.
func matrixStreams(t *testing.T, env *matrixEnv) {
	p := env.p
	if res, _ := p.Get(t, env.clients[matrixAnon], "/events"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /events: %d, want 401", res.StatusCode)
	}
	streams := map[string]<-chan sseEvent{}
	for _, who := range []string{matrixAlice, matrixBob, matrixAdmin} {
		_, events := openStream(t, p, env.clients[who])
		if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
			t.Fatalf("%s's stream never connected", who)
		}
		streams[who] = events
	}
	for _, owner := range []string{matrixAlice, matrixBob} {
		device := env.devices[owner]
		if err := p.Sandbox.SetOnline(device, false); err != nil {
			t.Fatal(err)
		}
		if _, ok := next(t, streams[owner], 5*time.Second, func(ev sseEvent) bool { return strings.Contains(ev.data, device) }); !ok {
			t.Errorf("%s's stream never carried their own device's change", owner)
		}
		for _, other := range []string{matrixAlice, matrixBob, matrixAdmin} {
			if other == owner {
				continue
			}
			if ev, ok := next(t, streams[other], 300*time.Millisecond, func(ev sseEvent) bool { return strings.Contains(ev.data, device) }); ok {
				t.Errorf("%s's stream carried %s's device:\n%s", other, owner, ev.data)
			}
		}
	}
}

// TestOwnershipMatrixSeamFake runs the same matrix with Seam's own fake
// (@seamapi/fake-seam-connect) behind the client. The fake deviates from Seam
// (SEAM.md): devices/list IGNORES user_identifier_key, so every user is sent every
// device of the workspace, and the connect flow cannot run, so ownership is recorded
// through the store. Check 3 (Latchkey's own record) must still keep users apart.
// The fake's device ids are also not UUIDs ("august_device_1"), unlike Seam's (uuid in
// @seamapi/types), and Latchkey rightly refuses such ids unasked; the recording proxy
// in front of the fake therefore presents each of them as a fixed UUID.
func TestOwnershipMatrixSeamFake(t *testing.T) {
	f := seamfake.Start(t)
	var listed struct {
		Devices []struct {
			DeviceID           string `json:"device_id"`
			ConnectedAccountID string `json:"connected_account_id"`
			CanRemotelyUnlock  bool   `json:"can_remotely_unlock"`
			CanRemotelyLock    bool   `json:"can_remotely_lock"`
			Properties         struct {
				Online bool `json:"online"`
			} `json:"properties"`
		} `json:"devices"`
	}
	if status := f.Post(t, "/devices/list", map[string]any{}, &listed); status != http.StatusOK {
		t.Fatalf("fake devices/list: %d", status)
	}
	// Pick two seeded accounts with an operable lock each; every device gets a UUID.
	ids := map[string]string{}
	operable := map[string]string{} // account → its first operable lock (fake id)
	for _, d := range listed.Devices {
		ids[d.DeviceID] = uuid.NewSHA1(uuid.NameSpaceURL, []byte("seam-fake:"+d.DeviceID)).String()
		if d.CanRemotelyUnlock && d.CanRemotelyLock && d.Properties.Online && operable[d.ConnectedAccountID] == "" {
			operable[d.ConnectedAccountID] = d.DeviceID
		}
	}
	accounts := slices.Sorted(maps.Keys(operable))
	if len(accounts) < 2 {
		t.Fatalf("the fake's seed has %d accounts with an operable lock, want 2: %+v", len(accounts), listed.Devices)
	}
	proxy := startMatrixProxy(t, f.URL, ids)
	p := testportal.Start(t, testportal.Options{Env: map[string]string{
		"SEAM_API_KEY":                  f.APIKey,
		"SEAM_ENDPOINT":                 proxy.url,
		"LATCHKEY_ACTIONS_PER_MINUTE":   "10000",
		"LATCHKEY_FOLLOW_INTERVAL":      "1h",
		"LATCHKEY_SEAM_BUDGET":          "10000/1s",
		"LATCHKEY_REFUSAL_AUDIT_WINDOW": "1ns",
	}})
	owner := map[string]string{matrixAlice: accounts[0], matrixBob: accounts[1]}
	env := matrixEnvSetup(t, p, proxy.log, func(env *matrixEnv) {
		for who, account := range owner {
			if err := p.DB.RecordConnectedAccount(t.Context(), store.ConnectedAccount{
				ID: account, UserID: env.userIDs[who], ConnectWebviewID: "seed",
			}); err != nil {
				t.Fatal(err)
			}
			env.devices[who] = ids[operable[account]]
		}
	})

	// The fake hands bob alice's device when asked for bob's devices…
	var forBob struct {
		Devices []struct {
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	f.Post(t, "/devices/list", map[string]any{"user_identifier_key": env.userIDs[matrixBob]}, &forBob)
	leaks := false
	for _, d := range forBob.Devices {
		leaks = leaks || d.DeviceID == operable[owner[matrixAlice]]
	}
	if !leaks {
		t.Fatalf("the fake no longer returns alice's device for bob's user_identifier_key; update this test's premise")
	}
	// …yet bob's and alice's pages list only the devices of their own accounts.
	for who, other := range map[string]string{matrixBob: matrixAlice, matrixAlice: matrixBob} {
		shown := listedDevices(t, p, env.clients[who])
		var want []string
		for _, d := range listed.Devices {
			if d.ConnectedAccountID == owner[who] {
				want = append(want, ids[d.DeviceID])
			}
		}
		if got := slices.Sorted(maps.Keys(shown)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s's /devices shows %v, want exactly their account's devices %v (the other's: %s)", who, got, want, env.devices[other])
		}
		// The page reads the local copy, which was read from the fake with their key.
		asked := false
		for _, c := range proxy.log() {
			asked = asked || (c.Path == "/devices/list" && strings.Contains(c.Body, `"`+env.userIDs[who]+`"`))
		}
		if !asked {
			t.Errorf("the copy of %s's devices was never read from the fake with their user_identifier_key", who)
		}
	}
	matrixRun(t, env)
}

// TestActionStatusAnswersOnlyItsStarter: an attempt's status answers only the user who
// started it, and only under the device it was started on; any other pairing is the
// not-found page, audited, and never makes Latchkey ask Seam about the attempt.
func TestActionStatusAnswersOnlyItsStarter(t *testing.T) {
	// No background polls in the call log.
	p := testportal.Start(t, testportal.Options{ActionDelay: time.Millisecond, Env: map[string]string{"LATCHKEY_FOLLOW_INTERVAL": "1h",
		"LATCHKEY_REFUSAL_AUDIT_WINDOW": "1ns"}})
	alice, bob := signIn(t, p, matrixAlice), signIn(t, p, matrixBob)
	jane := connectLocks(t, p, alice, sandbox.JaneEmail)
	john := connectLocks(t, p, bob, sandbox.JohnEmail)
	front, back, bobs := jane.deviceID(t, "Front Door"), jane.deviceID(t, "Back Door"), john.deviceID(t, "Main Entrance")
	start := func(u customer, device string) string {
		res, body := htmxPost(t, p, u.c, "/devices/"+device+"/unlock")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("setup unlock: %d\n%s", res.StatusCode, body)
		}
		id, _, _ := attemptFragment(t, body)
		pollAttempt(t, p, u.c, device, id)
		return id
	}
	aliceAttempt, bobAttempt := start(alice, front), start(bob, bobs)
	if res, _ := htmxGet(t, p, alice.c, "/devices/"+front+"/actions/"+aliceAttempt, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("alice's own attempt: %d, want 200", res.StatusCode)
	}

	cases := []struct {
		name            string
		device, attempt string
		audited         bool
	}{
		{"her attempt under her other device", back, aliceAttempt, true},
		{"her attempt under bob's device", bobs, aliceAttempt, true},
		{"her attempt under an unknown device", uuid.NewString(), aliceAttempt, true},
		{"bob's attempt under her device", front, bobAttempt, true},
		{"bob's attempt under his device", bobs, bobAttempt, true},
		{"an unknown attempt", front, uuid.NewString(), true},
		{"an over-long attempt id", front, aliceAttempt + strings.Repeat("0", 40), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mark, calls := lastAuditID(t, p), len(p.Sandbox.Calls())
			path := "/devices/" + tc.device + "/actions/" + tc.attempt
			res, body := htmxGet(t, p, alice.c, path, "")
			if res.StatusCode != http.StatusNotFound || alertTitle(t, body) != "Page not found" {
				t.Errorf("GET %s: %d, want the not-found fragment\n%s", path, res.StatusCode, body)
			}
			if res, _ := p.Get(t, alice.c, path); res.StatusCode != http.StatusNotFound {
				t.Errorf("plain GET %s: %d, want 404", path, res.StatusCode)
			}
			if got := p.Sandbox.Calls()[calls:]; len(got) != 0 {
				t.Errorf("GET %s asked Seam: %+v", path, got)
			}
			denied := 0
			for _, e := range auditSince(t, p, mark) {
				if e.Action == store.AuditAccessDenied && e.ActorID == alice.user.ID && e.DeviceID == tc.device {
					denied++
				}
			}
			if tc.audited && denied != 2 {
				t.Errorf("%d access.denied events for alice's 2 requests, want 2", denied)
			}
		})
	}
}

// matrixRun runs every case of the table against env.
func matrixRun(t *testing.T, env *matrixEnv) {
	p := env.p
	nonexistentDevice, nonexistentAttempt := uuid.NewString(), uuid.NewString()
	refs := map[string]string{} // the not-found/401 page and fragment, as first seen
	wantLockCalls := map[string]int{}
	startCalls := env.calls()
	for _, tc := range matrixCases() {
		t.Run(tc.route.name+"/"+tc.actor+"/"+tc.target, func(t *testing.T) {
			device, attempt := "", ""
			raw, malformed := matrixMalformed(tc.target)
			switch {
			case tc.target == matrixTargetAlice:
				device, attempt = env.devices[matrixAlice], env.attempts[matrixAlice]
			case tc.target == matrixTargetBob:
				device, attempt = env.devices[matrixBob], env.attempts[matrixBob]
			case tc.target == matrixTargetNonexist:
				device, attempt = nonexistentDevice, nonexistentAttempt
			case tc.target == matrixTargetLong:
				// Alice's real device and attempt, with the id padded: no prefix match.
				device, attempt = env.devices[matrixAlice]+strings.Repeat("0", 300-len(env.devices[matrixAlice])), env.attempts[matrixAlice]
			case malformed:
				// A real attempt of alice: only the device id is wrong.
				device, attempt = raw, env.attempts[matrixAlice]
			}
			path := tc.route.path(device, attempt)
			var header http.Header
			if tc.route.htmx {
				header = htmxHeader("")
			}
			var form url.Values
			if tc.route.method == http.MethodPost {
				form = url.Values{}
			}
			actorID := env.userIDs[tc.actor]
			denied := func() int {
				if malformed || actorID == "" {
					return 0
				}
				return len(auditWhere(t, p, store.AuditQuery{DeviceID: device}, func(e store.AuditEvent) bool {
					return e.Action == store.AuditAccessDenied && e.ActorID == actorID && e.Outcome == store.OutcomeDenied
				}))
			}
			deniedBefore := denied()
			callsBefore := len(env.calls())

			res, body := testportal.Do(t, env.clients[tc.actor], tc.route.method, p.URL+path, form, header)

			calls := env.calls()[callsBefore:]
			lockCalls := map[string][]matrixCall{}
			for _, c := range calls {
				if c.Path == "/locks/unlock_door" || c.Path == "/locks/lock_door" {
					lockCalls[c.Path] = append(lockCalls[c.Path], c)
				}
			}
			acts := tc.owns() && tc.route.verb != ""
			switch {
			case acts:
				want := "/locks/" + tc.route.verb + "_door"
				wantLockCalls[want]++
				if len(lockCalls[want]) != 1 || len(lockCalls) != 1 || !strings.Contains(lockCalls[want][0].Body, `"`+device+`"`) {
					t.Errorf("Seam got %v for the owner's %s, want exactly one %s of %s", lockCalls, tc.route.verb, want, device)
				}
			case len(lockCalls) > 0:
				t.Errorf("LEAK: %s of a device not theirs reached Seam: %v", tc.actor, lockCalls)
			}
			if (malformed || tc.actor == matrixAnon) && len(calls) > 0 {
				t.Errorf("%s request reached Seam: %v", tc.target, calls)
			}

			switch {
			case tc.actor == matrixAnon:
				matrixCheckAnonymous(t, tc, path, res, body, refs)
			case tc.owns():
				matrixCheckOwner(t, tc, device, attempt, env.names[tc.actor], res, body)
			default:
				matrixCheckError(t, tc.route.htmx, http.StatusNotFound, "Page not found", res, body, refs)
				if got := denied() - deniedBefore; !malformed && got != 1 {
					t.Errorf("access.denied events written for %s on %s: %d, want 1", tc.actor, device, got)
				}
			}
			if tc.owns() {
				if got := denied() - deniedBefore; got != 0 {
					t.Errorf("owner's own request wrote %d access.denied events", got)
				}
			}
			if acts && !t.Failed() {
				a := latestAttempt(t, p, actorID, device)
				pollAttempt(t, p, env.clients[tc.actor], device, a.ID)
			}
		})
	}
	// In all: Seam acted exactly as often as the owners asked it to, never otherwise.
	got := map[string]int{}
	for _, c := range env.calls()[len(startCalls):] {
		if strings.HasPrefix(c.Path, "/locks/") {
			got[c.Path]++
		}
	}
	if len(got) != len(wantLockCalls) || got["/locks/unlock_door"] != wantLockCalls["/locks/unlock_door"] || got["/locks/lock_door"] != wantLockCalls["/locks/lock_door"] {
		t.Errorf("lock/unlock calls that reached Seam during the matrix: %v, want %v", got, wantLockCalls)
	}
}

// matrixCheckOwner checks the answers to a device's owner.
func matrixCheckOwner(t *testing.T, tc matrixCase, device, attempt, name string, res *http.Response, body string) {
	t.Helper()
	r := tc.route
	switch {
	case !r.htmx && (r.verb != "" || r.status):
		// Plain forms (and a plain look at an attempt) go to the device page.
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices/"+device {
			t.Fatalf("status %d Location %q, want 303 to /devices/%s\n%s", res.StatusCode, res.Header.Get("Location"), device, body)
		}
	case r.htmx:
		// A status fragment for the attempt, to swap into the row: no page around it.
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200\n%s", res.StatusCode, body)
		}
		if strings.Contains(body, "<html") || strings.Contains(body, "<h1") {
			t.Errorf("htmx answer is a whole page, want a fragment:\n%s", body)
		}
		doc := parseDoc(t, body)
		frags := htmltest.Find(doc, func(n *html.Node) bool { return strings.HasPrefix(htmltest.Attr(n, "id"), "attempt-") })
		if len(frags) != 1 {
			t.Fatalf("want one attempt status element, got %d:\n%s", len(frags), body)
		}
		if r.status && htmltest.Attr(frags[0], "id") != "attempt-"+attempt {
			t.Errorf("status of %s, want attempt %s", htmltest.Attr(frags[0], "id"), attempt)
		}
		text := htmltest.Text(frags[0])
		verbs := map[string][]string{"unlock": {"Unlocking…", " unlocked at"}, "lock": {"Locking…", " locked at"}, "": {"Unlock", "Lock"}}[r.verb]
		if !strings.Contains(text, verbs[0]) && !strings.Contains(text, verbs[1]) {
			t.Errorf("status fragment %q, want %q or %q", text, verbs[0], verbs[1])
		}
	default:
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200\n%s", res.StatusCode, body)
		}
		if h1 := h1s(parseDoc(t, body)); len(h1) != 1 || name == "" || h1[0] != name {
			t.Errorf("device page <h1> %q, want the device's name %q", h1, name)
		}
	}
}

// matrixCheckAnonymous: a GET is sent to sign in and back (htmx: the whole page, by
// HX-Redirect); anything else gets the 401 page.
func matrixCheckAnonymous(t *testing.T, tc matrixCase, path string, res *http.Response, body string, refs map[string]string) {
	t.Helper()
	login := "/login?return_to=" + url.QueryEscape(path)
	switch {
	case tc.route.method == http.MethodGet && !tc.route.htmx:
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != login {
			t.Errorf("status %d Location %q, want 303 to %s", res.StatusCode, res.Header.Get("Location"), login)
		}
	case tc.route.method == http.MethodGet:
		// A poll cannot show the IdP: htmx is told to move the whole page.
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("HX-Redirect") != login {
			t.Errorf("status %d HX-Redirect %q, want 401 with HX-Redirect %s", res.StatusCode, res.Header.Get("HX-Redirect"), login)
		}
	default:
		matrixCheckError(t, tc.route.htmx, http.StatusUnauthorized, "Sign in to continue", res, body, refs)
	}
}

// matrixCheckError expects the error page (or, to htmx, the error fragment) with
// status and title, and the same words as every other answer of its kind, so a
// visitor cannot tell "not yours" from "does not exist".
func matrixCheckError(t *testing.T, htmx bool, status int, title string, res *http.Response, body string, refs map[string]string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d\n%s", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	doc := parseDoc(t, body)
	var words string
	if htmx {
		if strings.Contains(body, "<html") {
			t.Errorf("htmx got a whole page, want the error fragment:\n%s", body)
		}
		alerts := htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "role") == "alert" })
		if len(alerts) != 1 || !strings.HasPrefix(htmltest.Text(alerts[0]), title) {
			t.Fatalf("want one role=alert starting %q:\n%s", title, body)
		}
		words = htmltest.Text(alerts[0])
	} else {
		if h1 := h1s(doc); len(h1) != 1 || h1[0] != title {
			t.Fatalf("<h1> %q, want %q", h1, title)
		}
		sections := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Section })
		if len(sections) != 1 {
			t.Fatalf("want one error section, got %d", len(sections))
		}
		words, _, _ = strings.Cut(htmltest.Text(sections[0]), "Request ID:")
	}
	key := strconv.Itoa(status) + strconv.FormatBool(htmx)
	if ref, ok := refs[key]; !ok {
		refs[key] = words
	} else if words != ref {
		t.Errorf("error answer differs from the others of its kind:\n got %q\nwant %q", words, ref)
	}
}

// matrixProxy records every request on its way to Seam's fake (which keeps no call
// log) and presents the fake's device ids as UUIDs, as Seam's are.
type matrixProxy struct {
	url   string
	mu    sync.Mutex
	calls []matrixCall
}

func (m *matrixProxy) log() []matrixCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// startMatrixProxy listens on 127.0.0.1:0 in front of upstream. ids maps the fake's
// device ids to the UUIDs Latchkey sees; JSON string values are swapped both ways.
func startMatrixProxy(t *testing.T, upstream string, ids map[string]string) *matrixProxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var toFake, fromFake []string
	for fakeID, id := range ids {
		toFake = append(toFake, `"`+id+`"`, `"`+fakeID+`"`)
		fromFake = append(fromFake, `"`+fakeID+`"`, `"`+id+`"`)
	}
	toFakeIDs, fromFakeIDs := strings.NewReplacer(toFake...), strings.NewReplacer(fromFake...)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Accept-Encoding") // plain bodies, so ids can be swapped
		},
		ModifyResponse: func(res *http.Response) error {
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			b = []byte(fromFakeIDs.Replace(string(b)))
			res.Body = io.NopCloser(bytes.NewReader(b))
			res.ContentLength = int64(len(b))
			res.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
	}
	m := &matrixProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.calls = append(m.calls, matrixCall{Path: r.URL.Path, Body: string(b)})
		m.mu.Unlock()
		if json.Valid(b) {
			b = []byte(toFakeIDs.Replace(string(b)))
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL
	return m
}
