package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/internal/testing/testportal"
)

// TestHostCookiesUnderHTTPS: with an https base URL both cookies carry the __Host-
// prefix, with what browsers demand of it (Secure, Path=/, no Domain), and every reader
// uses that name: the callback, signed-in pages, the live stream and sign-out. Over
// http the names stay latchkey_login and latchkey_session (TestSignInWithDevIdP).
func TestHostCookiesUnderHTTPS(t *testing.T) {
	p := testportal.Start(t, testportal.Options{TLS: true})
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatalf("portal at %s, want https", p.URL)
	}
	c := p.Client(t)
	steps := devSignIn(t, p, c, "alice", "/login")

	hostCookie := func(res *http.Response, name string) *http.Cookie {
		t.Helper()
		for _, ck := range res.Cookies() {
			if ck.Name == strings.TrimPrefix(name, "__Host-") {
				t.Errorf("%s %s set %s without the __Host- prefix", res.Request.Method, res.Request.URL.Path, ck.Name)
			}
		}
		ck := cookieNamed(res, name)
		if ck == nil {
			t.Fatalf("%s %s set no %s: %v", res.Request.Method, res.Request.URL.Path, name, res.Header.Values("Set-Cookie"))
		}
		if !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
			t.Errorf("%s: Secure=%v Path=%q Domain=%q HttpOnly=%v; want Secure, Path=/, no Domain, HttpOnly",
				name, ck.Secure, ck.Path, ck.Domain, ck.HttpOnly)
		}
		return ck
	}
	const login, session = "__Host-latchkey_login", "__Host-latchkey_session"
	if auth.LoginCookieName(true) != login || auth.SessionCookieName(true) != session {
		t.Fatalf("cookie names under https: %q, %q", auth.LoginCookieName(true), auth.SessionCookieName(true))
	}
	hostCookie(steps[0].res, login)
	cb := callbackStep(t, p, steps)
	if cb.res.StatusCode != http.StatusSeeOther || cb.res.Header.Get("Location") != "/devices" {
		t.Fatalf("callback: %d to %q, want 303 to /devices", cb.res.StatusCode, cb.res.Header.Get("Location"))
	}
	if dc := hostCookie(cb.res, login); dc.MaxAge >= 0 {
		t.Errorf("the callback did not delete %s", login)
	}
	hostCookie(cb.res, session)
	if last := steps[len(steps)-1]; last.url.String() != p.URL+"/devices" || last.res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended on %s with %d, want %s/devices 200", last.url, last.res.StatusCode, p.URL)
	}
	if hsts := cb.res.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Errorf("no HSTS under https")
	}

	// The live stream reads the session from the __Host- cookie, and sign-out (which
	// names the session by the same cookie) ends it.
	res, events := openStream(t, p, c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d, want 200 for the signed-in session", res.StatusCode)
	}
	if _, ok := next(t, events, 5*time.Second, func(e sseEvent) bool { return e.data == "connected" }); !ok {
		t.Fatal("the stream did not connect")
	}
	out, _ := p.Post(t, c, "/logout", nil)
	if out.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout: %d, want 303", out.StatusCode)
	}
	if dc := hostCookie(out, session); dc.MaxAge >= 0 {
		t.Errorf("sign-out did not delete %s", session)
	}
	if _, ok := next(t, events, 5*time.Second, func(e sseEvent) bool { return e.name == "sse-close" }); !ok {
		t.Error("sign-out did not end the session's live stream")
	}
	checkSentToLogin(t, p, c, "/devices")
}
