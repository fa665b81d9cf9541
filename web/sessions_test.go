package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/store"
)

// Browsers' user agents, as the sessions page should name them.
const (
	firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeAndroid  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)

// userAgent sends every request with a browser's User-Agent.
type userAgent struct {
	ua   string
	next http.RoundTripper
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// signInAs signs username in through the dev IdP from a browser with user agent ua.
func signInAs(t *testing.T, p *testportal.Portal, username, ua string) *http.Client {
	t.Helper()
	c := p.Client(t)
	c.Transport = userAgent{ua: ua, next: http.DefaultTransport}
	if final := p.SignInWith(t, c, username, "/login"); final != p.URL+"/devices" {
		t.Fatalf("sign-in of %s ended at %s", username, final)
	}
	return c
}

// sessionRow is one <li> of the sessions list.
type sessionRow struct {
	text    string // everything it says
	current bool
	endURL  string // the form that ends it, "" without one
}

func sessionRows(t *testing.T, p *testportal.Portal, c *http.Client) []sessionRow {
	t.Helper()
	res, body := p.Get(t, c, "/sessions")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /sessions: %d", res.StatusCode)
	}
	doc := parseDoc(t, body)
	lists := htmltest.Find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Ul && htmltest.Attr(n, "aria-label") == "Sessions" })
	if len(lists) != 1 {
		t.Fatalf("%d session lists", len(lists))
	}
	var rows []sessionRow
	for li := range lists[0].ChildNodes() {
		if li.DataAtom != atom.Li {
			continue
		}
		r := sessionRow{text: strings.Join(strings.Fields(htmltest.Text(li)), " ")}
		r.current = strings.Contains(r.text, "This session")
		for _, f := range htmltest.Find(li, htmltest.ByTag(atom.Form)) {
			r.endURL = htmltest.Attr(f, "action")
		}
		rows = append(rows, r)
	}
	return rows
}

// publicIDs are the user's sessions' public ids, from the database.
func publicIDs(t *testing.T, p *testportal.Portal, userID string) []string {
	t.Helper()
	list, err := p.DB.UserSessions(t.Context(), userID, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.PublicID)
	}
	return ids
}

func checkSignedIn(t *testing.T, p *testportal.Portal, c *http.Client, who string) {
	t.Helper()
	if res, _ := p.Get(t, c, "/devices"); res.StatusCode != http.StatusOK {
		t.Errorf("%s: GET /devices = %d, want 200 (still signed in)", who, res.StatusCode)
	}
}

// TestSessionsAPersonControls: /sessions lists the user's own sessions (client guessed
// from the user agent, address, the current one marked), never another user's; ending
// another user's session by its public id is a 404 and ends nothing; a user ends one
// session (its open live stream closes with sse-close), all others, or signs out
// everywhere; each is audited.
func TestSessionsAPersonControls(t *testing.T) { pgtest.EachDialect(t, testSessionsAPersonControls) }

func testSessionsAPersonControls(t *testing.T) {
	p := startPortal(t, testportal.Options{})
	laptop := signInAs(t, p, "alice", firefoxWindows)
	phone := signInAs(t, p, "alice", chromeAndroid)
	bob := signInAs(t, p, "bob", firefoxWindows)
	alice := userBySubject(t, p, "dev-alice")
	bobUser := userBySubject(t, p, "dev-bob")

	rows := sessionRows(t, p, laptop)
	if len(rows) != 2 {
		t.Fatalf("alice's sessions: %+v, want 2", rows)
	}
	if !rows[0].current || rows[1].current || rows[0].endURL != "" {
		t.Errorf("the current session is not first and marked, or offers to end itself: %+v", rows)
	}
	if !strings.Contains(rows[0].text, "Firefox on Windows") || !strings.Contains(rows[1].text, "Chrome on Android") {
		t.Errorf("clients not named: %q / %q", rows[0].text, rows[1].text)
	}
	for _, r := range rows {
		if !strings.Contains(r.text, "127.0.0.1") || !strings.Contains(r.text, "Started") || !strings.Contains(r.text, "Last seen") {
			t.Errorf("row without address or times: %q", r.text)
		}
	}
	bobIDs := publicIDs(t, p, bobUser.ID)
	if len(bobIDs) != 1 {
		t.Fatalf("bob's sessions: %v", bobIDs)
	}
	if _, body := p.Get(t, laptop, "/sessions"); strings.Contains(body, bobIDs[0]) {
		t.Error("alice's sessions page names bob's session")
	}
	// The page never shows a session token.
	token := jarCookie(laptop, mustURL(t, p.URL), "latchkey_session")
	if _, body := p.Get(t, laptop, "/sessions"); token == "" || strings.Contains(body, token) {
		t.Errorf("the session token (%d chars) is on the page, or unknown", len(token))
	}

	// Alice tries to end bob's session, and a made-up one: 404, nothing ended, audited.
	for _, id := range []string{bobIDs[0], "not-a-session", strings.Repeat("A", 26)} {
		res, _ := p.Post(t, laptop, "/sessions/"+url.PathEscape(id)+"/end", nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("alice ending session %q: %d, want 404", id, res.StatusCode)
		}
	}
	checkSignedIn(t, p, bob, "bob after alice tried to end his session")
	if n := countAudit(t, p, store.AuditAccessDenied); n != 3 {
		t.Errorf("%d access.denied events, want 3", n)
	}

	// Alice ends her phone's session from her laptop; the phone's live stream closes.
	res, phoneEvents := openStream(t, p, phone)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("phone's /events: %d", res.StatusCode)
	}
	if _, ok := next(t, phoneEvents, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the phone's stream never said it was connected")
	}
	res, _ = p.Post(t, laptop, rows[1].endURL, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sessions" {
		t.Fatalf("end the phone's session: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, body := p.Get(t, laptop, "/sessions"); !strings.Contains(body, "Session ended") {
		t.Error("no confirmation after ending a session")
	}
	if _, ok := next(t, phoneEvents, 5*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("the ended session's live stream did not close with sse-close")
	}
	checkSentToLogin(t, p, phone, "/devices")
	checkSignedIn(t, p, laptop, "alice's laptop")
	if rows := sessionRows(t, p, laptop); len(rows) != 1 || !rows[0].current {
		t.Errorf("after ending the phone's: %+v", rows)
	}

	// End all others: two more sign-ins end, the laptop stays, bob is untouched.
	tablet, desktop := signInAs(t, p, "alice", chromeAndroid), signInAs(t, p, "alice", firefoxWindows)
	res, _ = p.Post(t, laptop, "/sessions/end-others", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("end others: %d", res.StatusCode)
	}
	checkSentToLogin(t, p, tablet, "/devices")
	checkSentToLogin(t, p, desktop, "/devices")
	checkSignedIn(t, p, laptop, "alice's laptop after ending the others")
	checkSignedIn(t, p, bob, "bob after alice ended her others")
	if ids := publicIDs(t, p, alice.ID); len(ids) != 1 {
		t.Errorf("alice has %d sessions after ending the others", len(ids))
	}

	// Sign out everywhere, from the sign-out form.
	phone = signInAs(t, p, "alice", chromeAndroid)
	res, _ = p.Post(t, laptop, "/logout", url.Values{"everywhere": {"1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", res.StatusCode)
	}
	checkSentToLogin(t, p, laptop, "/devices")
	checkSentToLogin(t, p, phone, "/devices")
	checkSignedIn(t, p, bob, "bob after alice signed out everywhere")
	if ids := publicIDs(t, p, alice.ID); len(ids) != 0 {
		t.Errorf("alice has %d sessions after signing out everywhere", len(ids))
	}

	for action, want := range map[string]int{
		store.AuditSessionEnded: 1, store.AuditSessionEndedOthers: 1, store.AuditLogoutEverywhere: 1,
	} {
		if n := countAudit(t, p, action); n != want {
			t.Errorf("%d %s events, want %d", n, action, want)
		}
	}
	for _, e := range auditEvents(t, p) {
		if strings.HasPrefix(e.Action, "session.") && (e.ActorID != alice.ID || e.SubjectUserID != alice.ID || e.RemoteAddr == "") {
			t.Errorf("%s event without actor, subject or address: %+v", e.Action, e)
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestNavigationOffersSessions: every signed-in page links to /sessions and its sign-out
// form offers "Sign out everywhere".
func TestNavigationOffersSessions(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	_, body := p.Get(t, alice.c, "/devices")
	doc := parseDoc(t, body)
	if len(htmltest.Find(doc, htmltest.HasAttr("href", "/sessions"))) == 0 {
		t.Error("no link to /sessions")
	}
	everywhere := htmltest.Find(doc, func(n *html.Node) bool {
		return n.DataAtom == atom.Button && htmltest.Attr(n, "name") == "everywhere" && htmltest.Attr(n, "value") == "1"
	})
	if len(everywhere) != 1 || htmltest.Text(everywhere[0]) != "Sign out everywhere" {
		t.Fatalf("sign-out form has %d everywhere buttons", len(everywhere))
	}
	for f := everywhere[0].Parent; f != nil; f = f.Parent {
		if f.DataAtom == atom.Form {
			if htmltest.Attr(f, "action") != "/logout" || htmltest.Attr(f, "method") != "post" {
				t.Errorf("the button is in a form posting to %q (%s)", htmltest.Attr(f, "action"), htmltest.Attr(f, "method"))
			}
			break
		}
	}
	// The form is refused from another site, as every POST is.
	res, _ := testportal.Do(t, alice.c, http.MethodPost, p.URL+"/sessions/end-others", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site end-others: %d, want 403", res.StatusCode)
	}
}

// TestStreamClosesAtHeartbeat: a live stream whose session was ended without any
// notice reaching it (its row deleted by hand), or whose user was disabled while the
// row stayed (a sign-in that raced the disabling), closes with sse-close at its next
// heartbeat; another user's stream goes on.
func TestStreamClosesAtHeartbeat(t *testing.T) {
	p := testportal.Start(t, testportal.Options{Env: map[string]string{"LATCHKEY_STREAM_HEARTBEAT": "1s"}})
	laptop := signInAs(t, p, "alice", firefoxWindows)
	bob := signInAs(t, p, "bob", chromeAndroid)
	var streams []<-chan sseEvent
	for _, c := range []*http.Client{laptop, bob} {
		res, events := openStream(t, p, c)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/events: %d", res.StatusCode)
		}
		if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
			t.Fatal("a stream never said it was connected")
		}
		streams = append(streams, events)
	}
	token := jarCookie(laptop, mustURL(t, p.URL), "latchkey_session")
	if _, err := p.DB.SQL().ExecContext(t.Context(), `DELETE FROM sessions WHERE token = $1`, token); err != nil {
		t.Fatal(err)
	}
	if _, ok := next(t, streams[0], 3*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("the stream of a deleted session did not close at its heartbeat")
	}

	phone := signInAs(t, p, "alice", chromeAndroid)
	res, events := openStream(t, p, phone)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/events: %d", res.StatusCode)
	}
	if _, ok := next(t, events, 5*time.Second, func(ev sseEvent) bool { return ev.data == "connected" }); !ok {
		t.Fatal("the phone's stream never said it was connected")
	}
	if _, err := p.DB.SQL().ExecContext(t.Context(), `UPDATE users SET disabled_at = $1 WHERE subject = 'dev-alice'`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")); err != nil {
		t.Fatal(err)
	}
	if _, ok := next(t, events, 3*time.Second, func(ev sseEvent) bool { return ev.name == "sse-close" }); !ok {
		t.Error("the stream of a disabled user's session did not close at its heartbeat")
	}
	select {
	case ev, ok := <-streams[1]:
		if !ok || ev.name == "sse-close" {
			t.Error("bob's stream ended")
		}
	case <-time.After(1500 * time.Millisecond):
	}
}
