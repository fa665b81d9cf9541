package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// BackchannelLogoutEvent is the member a logout token's events claim must hold
// (OpenID Connect Back-Channel Logout 1.0, section 2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Bounds on a logout token's age: issued at most LogoutTokenMaxAge ago, allowing
// logoutClockSkew between the IdP's clock and ours either way.
const (
	LogoutTokenMaxAge = 5 * time.Minute
	logoutClockSkew   = time.Minute
)

// ErrInvalidLogoutToken wraps every reason a logout token is refused; the reason is for
// the log and never includes the token.
var ErrInvalidLogoutToken = errors.New("invalid logout token")

// LogoutToken is a verified back-channel logout request.
type LogoutToken struct {
	Issuer  string
	Subject string
	SID     string
	JTI     string
	// IssuedAt and, past it, ReplayUntil: how long the jti must be remembered (after
	// that the token is refused as stale anyway).
	IssuedAt    time.Time
	ReplayUntil time.Time
}

// VerifyLogoutToken checks a logout token: its signature against the IdP's keys
// (JWKS), the issuer, our client id in the audience, a fresh iat, the back-channel
// logout event, no nonce (so an ID token cannot pass for one), a sub or sid, and a jti.
// Whether the jti was seen before is the caller's to check, in the database.
func (rp *RP) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	rp.mu.RLock()
	verifier := rp.logoutVerifier
	rp.mu.RUnlock()
	if verifier == nil {
		return nil, ErrNotReady
	}
	fail := func(format string, args ...any) (*LogoutToken, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidLogoutToken, fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return fail("no logout_token")
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), 10*time.Second)
	defer cancel()
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		// go-oidc's messages name the failed check (signature, issuer, audience), not the token.
		return fail("%v", err)
	}
	var c struct {
		// Times are JSON numbers, which may have a fraction (as go-oidc allows).
		IssuedAt *float64                   `json:"iat"`
		Exp      *float64                   `json:"exp"`
		JTI      string                     `json:"jti"`
		SID      string                     `json:"sid"`
		Events   map[string]json.RawMessage `json:"events"`
	}
	// present tells a claim that is there (even as null) from one that is not: a
	// logout token must not contain a nonce at all.
	var present map[string]json.RawMessage
	if err := tok.Claims(&c); err != nil {
		return fail("claims: %v", err)
	}
	if err := tok.Claims(&present); err != nil {
		return fail("claims: %v", err)
	}
	_, hasNonce := present["nonce"]
	now := rp.cfg.Now()
	unix := func(f *float64) time.Time { return time.Unix(int64(*f), 0) }
	switch {
	case c.IssuedAt == nil:
		return fail("no iat")
	case unix(c.IssuedAt).Before(now.Add(-LogoutTokenMaxAge - logoutClockSkew)):
		return fail("iat is older than %s", LogoutTokenMaxAge)
	case unix(c.IssuedAt).After(now.Add(logoutClockSkew)):
		return fail("iat is in the future")
	case c.Exp != nil && unix(c.Exp).Before(now.Add(-logoutClockSkew)):
		return fail("expired")
	case hasNonce:
		return fail("a nonce is present (not a logout token)")
	case c.Events == nil:
		return fail("no events claim")
	case !isJSONObject(c.Events[BackchannelLogoutEvent]):
		return fail("events claim lacks %s", BackchannelLogoutEvent)
	case tok.Subject == "" && c.SID == "":
		return fail("neither sub nor sid")
	case c.JTI == "":
		return fail("no jti")
	case len(c.JTI) > 256 || len(c.SID) > 256:
		return fail("jti or sid too long")
	}
	iat := unix(c.IssuedAt)
	return &LogoutToken{Issuer: tok.Issuer, Subject: tok.Subject, SID: c.SID, JTI: c.JTI,
		IssuedAt: iat, ReplayUntil: iat.Add(LogoutTokenMaxAge + 2*logoutClockSkew)}, nil
}

func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return len(raw) > 0 && json.Unmarshal(raw, &m) == nil && m != nil
}
