package devidp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// TestBackchannelLogout: each sign-in is a dev IdP session whose sid and auth_time are
// in the ID token; ending it — by RP-initiated logout with an id_token_hint, or on the
// sign-out page — posts a logout token for exactly that sid, signed with the provider's
// key, to the registered backchannel_logout_uri. Discovery advertises both.
func TestBackchannelLogout(t *testing.T) {
	posted := make(chan string, 4)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("back-channel logout: %s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		posted <- r.PostFormValue("logout_token")
	}))
	t.Cleanup(rp.Close)
	e := newEnvWith(t, func(c *Config) { c.BackchannelLogoutURI = rp.URL + "/auth/backchannel-logout" })

	var d struct {
		EndSession string `json:"end_session_endpoint"`
		BCL        bool   `json:"backchannel_logout_supported"`
		BCLSession bool   `json:"backchannel_logout_session_supported"`
	}
	if err := e.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if !d.BCL || !d.BCLSession {
		t.Errorf("discovery: backchannel_logout_supported %v, backchannel_logout_session_supported %v", d.BCL, d.BCLSession)
	}

	type idClaims struct {
		SID      string `json:"sid"`
		AuthTime int64  `json:"auth_time"`
	}
	signIn := func() (string, idClaims) {
		a := newAttempt()
		tok, err := e.exchange(e.signIn(a, "alice"), a.verifier)
		if err != nil {
			t.Fatal(err)
		}
		idt, _ := e.verify(tok)
		var c idClaims
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.SID == "" || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
			t.Errorf("ID token sid %q, auth_time %d", c.SID, c.AuthTime)
		}
		return tok.Extra("id_token").(string), c
	}
	hint1, first := signIn()
	_, second := signIn()
	if first.SID == second.SID {
		t.Fatal("two sign-ins share a sid")
	}

	verifier := e.provider.Verifier(&oidc.Config{ClientID: testClientID})
	check := func(raw, wantSID string) {
		t.Helper()
		tok, err := verifier.Verify(t.Context(), raw)
		if err != nil {
			t.Fatalf("logout token does not verify against the JWKS: %v", err)
		}
		var c struct {
			SID    string                    `json:"sid"`
			JTI    string                    `json:"jti"`
			IAT    int64                     `json:"iat"`
			Nonce  *string                   `json:"nonce"`
			Events map[string]map[string]any `json:"events"`
		}
		if err := tok.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok || tok.Subject != "dev-alice" ||
			c.SID != wantSID || c.JTI == "" || c.Nonce != nil || time.Since(time.Unix(c.IAT, 0)) > time.Minute {
			t.Errorf("logout token claims: sub %q %+v", tok.Subject, c)
		}
		jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "logout+jwt" {
			t.Errorf("typ %v, want logout+jwt", typ)
		}
	}
	receive := func() string {
		t.Helper()
		select {
		case raw := <-posted:
			return raw
		case <-time.After(5 * time.Second):
			t.Fatal("no logout token was posted")
			return ""
		}
	}

	// RP-initiated logout names the first sign-in's session.
	resp := e.get(d.EndSession + "?" + url.Values{"id_token_hint": {hint1}, "post_logout_redirect_uri": {testPostLogout}}.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("end_session: %d", resp.StatusCode)
	}
	check(receive(), first.SID)

	// The sign-out page ends this browser's latest sign-in.
	page := e.get(e.srv.URL + "/signout")
	body := new(strings.Builder)
	_, _ = io.Copy(body, page.Body)
	if page.StatusCode != http.StatusOK || !strings.Contains(body.String(), `action="/signout"`) {
		t.Fatalf("sign-out page: %d %s", page.StatusCode, body)
	}
	out, err := e.browser.PostForm(e.srv.URL+"/signout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.StatusCode != http.StatusOK {
		t.Fatalf("POST /signout: %d", out.StatusCode)
	}
	check(receive(), second.SID)

	// Nothing is left to end: signing out again posts nothing.
	again, err := e.browser.PostForm(e.srv.URL+"/signout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	select {
	case <-posted:
		t.Error("a second sign-out posted another logout token")
	case <-time.After(100 * time.Millisecond):
	}
}
