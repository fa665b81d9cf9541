package devidp

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestRefreshTokensRotate: with offline_access the dev IdP grants a refresh token; each
// use answers a new one and an ID token (same sub and sid, auth_time of the sign-in),
// and the used one is refused (invalid_grant) — as is every one once the dev IdP
// session ended.
func TestRefreshTokensRotate(t *testing.T) {
	e := newEnv(t)
	e.conf.Scopes = append(e.conf.Scopes, "offline_access")
	a := newAttempt()
	tok, err := e.exchange(e.signIn(a, "alice"), a.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	idt, _ := e.verify(tok)
	var first struct {
		SID      string `json:"sid"`
		AuthTime int64  `json:"auth_time"`
	}
	_ = idt.Claims(&first)

	refresh := func(rt string) (*oauth2.Token, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return e.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
	}
	invalidGrant := func(err error) bool {
		var re *oauth2.RetrieveError
		return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
	}
	next, err := refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Error("the refresh token was not rotated")
	}
	idt2, claims := e.verify(next)
	var second struct {
		SID      string `json:"sid"`
		AuthTime int64  `json:"auth_time"`
	}
	_ = idt2.Claims(&second)
	if claims.Subject != "dev-alice" || second.SID != first.SID || second.AuthTime != first.AuthTime {
		t.Errorf("refreshed ID token: sub %q sid %q auth_time %d; want dev-alice, %q, %d", claims.Subject, second.SID, second.AuthTime, first.SID, first.AuthTime)
	}
	if _, err := refresh(tok.RefreshToken); !invalidGrant(err) {
		t.Errorf("reusing a spent refresh token: %v, want invalid_grant", err)
	}
	// Signing out at the dev IdP ends the grant.
	if resp, err := e.browser.PostForm(e.srv.URL+"/signout", url.Values{}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if _, err := refresh(next.RefreshToken); !invalidGrant(err) {
		t.Errorf("refresh after sign-out at the IdP: %v, want invalid_grant", err)
	}
}
