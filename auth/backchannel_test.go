package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/internal/testing/testop"
)

// TestVerifyLogoutToken runs each rule of Back-Channel Logout 1.0 section 2.6 against a
// token that breaks only it; the well-formed token passes.
func TestVerifyLogoutToken(t *testing.T) {
	op := testop.Start(t, "")
	now := time.Now()
	rp := newRP(t, op, func(c *auth.RPConfig) { c.Now = func() time.Time { return now } })
	if !rp.Ready() {
		t.Fatal("discovery did not succeed")
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := func(edit func(jwt.MapClaims)) string {
		c := op.LogoutClaims("sub-1", "sid-1", now)
		if edit != nil {
			edit(c)
		}
		return op.Sign(t, c)
	}

	t.Run("good", func(t *testing.T) {
		tok, err := rp.VerifyLogoutToken(t.Context(), good(nil))
		if err != nil {
			t.Fatalf("VerifyLogoutToken: %v", err)
		}
		if tok.Subject != "sub-1" || tok.SID != "sid-1" || tok.Issuer != op.Issuer() || tok.JTI == "" {
			t.Errorf("token = %+v", tok)
		}
		if !tok.ReplayUntil.After(now.Add(auth.LogoutTokenMaxAge)) {
			t.Errorf("ReplayUntil %v: the jti must be kept at least as long as the token is fresh", tok.ReplayUntil)
		}
	})
	t.Run("sid only", func(t *testing.T) {
		if _, err := rp.VerifyLogoutToken(t.Context(), good(func(c jwt.MapClaims) { delete(c, "sub") })); err != nil {
			t.Errorf("sid without sub: %v", err)
		}
	})
	t.Run("fractional iat and exp", func(t *testing.T) {
		// JSON numbers: go-oidc takes fractional times in ID tokens, and so do we here.
		tok := good(func(c jwt.MapClaims) {
			c["iat"] = float64(now.Unix()) + 0.5
			c["exp"] = float64(now.Add(time.Minute).Unix()) + 0.5
		})
		if _, err := rp.VerifyLogoutToken(t.Context(), tok); err != nil {
			t.Errorf("fractional iat: %v", err)
		}
	})
	t.Run("sub only", func(t *testing.T) {
		if _, err := rp.VerifyLogoutToken(t.Context(), good(func(c jwt.MapClaims) { delete(c, "sid") })); err != nil {
			t.Errorf("sub without sid: %v", err)
		}
	})

	otherSigned := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, op.LogoutClaims("sub-1", "sid-1", now))
		kid, _ := op.Keypair.KeyID()
		tok.Header["kid"] = kid // the IdP's key id, another key's signature
		s, err := tok.SignedString(otherKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	bad := []struct {
		name, token, reason string
	}{
		{"empty", "", "no logout_token"},
		{"not a JWT", "garbage", "malformed"},
		{"flipped signature", testop.FlipSignature(good(nil)), "signature"},
		{"signed by another key", otherSigned, "signature"},
		{"unsigned", testop.Unsigned(good(nil)), ""},
		{"wrong audience", good(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), "audience"},
		{"wrong issuer", good(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), "different provider"},
		{"stale iat", good(func(c jwt.MapClaims) { c["iat"] = now.Add(-10 * time.Minute).Unix() }), "iat is older"},
		{"future iat", good(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }), "future"},
		{"no iat", good(func(c jwt.MapClaims) { delete(c, "iat") }), "no iat"},
		{"expired", good(func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Minute).Unix() }), "expired"},
		{"nonce present", good(func(c jwt.MapClaims) { c["nonce"] = "n" }), "nonce"},
		{"nonce present but null", good(func(c jwt.MapClaims) { c["nonce"] = nil }), "nonce"},
		{"events not an object", good(func(c jwt.MapClaims) { c["events"] = []any{testop.BackchannelLogoutEvent} }), "events"},
		{"events null", good(func(c jwt.MapClaims) { c["events"] = nil }), "no events"},
		{"event null", good(func(c jwt.MapClaims) { c["events"] = map[string]any{testop.BackchannelLogoutEvent: nil} }), "lacks"},
		{"unknown key id", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, op.LogoutClaims("sub-1", "sid-1", now))
			tok.Header["kid"] = "not-the-idps-key"
			s, err := tok.SignedString(otherKey)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), ""},
		{"HMAC with the IdP's public key", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, op.LogoutClaims("sub-1", "sid-1", now))
			kid, _ := op.Keypair.KeyID()
			tok.Header["kid"] = kid
			s, err := tok.SignedString(x509.MarshalPKCS1PublicKey(&op.Keypair.PrivateKey.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), ""},
		{"no events", good(func(c jwt.MapClaims) { delete(c, "events") }), "no events"},
		{"other event", good(func(c jwt.MapClaims) { c["events"] = map[string]any{"urn:other": map[string]any{}} }), "lacks"},
		{"event not an object", good(func(c jwt.MapClaims) { c["events"] = map[string]any{testop.BackchannelLogoutEvent: "yes"} }), "lacks"},
		{"neither sub nor sid", good(func(c jwt.MapClaims) { delete(c, "sub"); delete(c, "sid") }), "neither sub nor sid"},
		{"no jti", good(func(c jwt.MapClaims) { delete(c, "jti") }), "no jti"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := rp.VerifyLogoutToken(t.Context(), tt.token)
			if !errors.Is(err, auth.ErrInvalidLogoutToken) {
				t.Fatalf("VerifyLogoutToken = %+v, %v; want ErrInvalidLogoutToken", tok, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}
