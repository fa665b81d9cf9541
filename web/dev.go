package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/auth/devidp"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// adminGroup is the group the dev IdP gives its admin user; the default
// OIDC_ADMIN_CLAIM (groups=latchkey-admin) matches it.
const adminGroup = "latchkey-admin"

// startDevIdP starts the embedded OpenID Provider, listening before the relying party
// runs discovery. It returns the issuer and the client secret it was given.
func (a *App) startDevIdP(ctx context.Context) (issuer, secret string, err error) {
	secret = randomHex(24)
	srv, err := devidp.Start(ctx, a.cfg.DevIdPAddr, devidp.Config{
		Password:               a.cfg.DevPassword,
		ClientID:               a.cfg.OIDCClientID,
		ClientSecret:           secret,
		RedirectURIs:           []string{a.cfg.BaseURL.String() + "/auth/callback"},
		PostLogoutRedirectURIs: []string{a.cfg.BaseURL.String() + "/"},
		BackchannelLogoutURI:   a.cfg.BaseURL.String() + "/auth/backchannel-logout",
		AdminGroup:             adminGroup,
		Logger:                 a.log.With("component", "devidp"),
	})
	if err != nil {
		return "", "", fmt.Errorf("LATCHKEY_DEV_IDP_ADDR: start the development IdP: %w", err)
	}
	a.closers = append(a.closers, srv.Close)
	var users []string
	for _, u := range devidp.Users() {
		role := "customer"
		if u.IsAdmin {
			role = "admin"
		}
		users = append(users, fmt.Sprintf("%s (%s)", u.Username, role))
	}
	a.banner = append(a.banner,
		"dev IdP:       "+srv.Provider.Issuer()+" (sign out there at "+srv.Provider.Issuer()+"/signout: the portal hears of it by back-channel logout)",
		fmt.Sprintf("dev logins:    %s — password %q (DEV_PASSWORD)", strings.Join(users, ", "), a.cfg.DevPassword))
	return srv.Provider.Issuer(), secret, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startSandbox starts the embedded Seam sandbox and returns its endpoint and API key.
func (a *App) startSandbox(ctx context.Context) (endpoint, key string, err error) {
	key = a.cfg.SeamSandboxAPIKey
	if key == "" {
		key = "seam_sandbox_" + randomHex(16)
	}
	delay := a.cfg.SandboxActionDelay
	if delay == 0 {
		delay = -1 // the sandbox reads 0 as its default; we mean "at once"
	}
	// Stopped by the app's closers, after everything that calls it (events, followers).
	srv, err := sandbox.Start(context.WithoutCancel(ctx), a.cfg.SandboxAddr, sandbox.Options{
		APIKey:       key,
		ActionDelay:  delay,
		PortalOrigin: origin(a.cfg.BaseURL.String()),
		Logger:       a.log.With("component", "sandbox"),
	})
	if err != nil {
		return "", "", fmt.Errorf("LATCHKEY_SANDBOX_ADDR: start the Seam sandbox: %w", err)
	}
	a.closers = append(a.closers, srv.Close)
	a.sandbox, a.sandboxURL = srv.Sandbox, srv.URL
	if d := a.cfg.SandboxLatency; d > 0 {
		srv.Sandbox.InjectFault(sandbox.Fault{Latency: d})
		a.banner = append(a.banner, "sandbox latency: every call to the sandbox takes "+d.String()+" more (LATCHKEY_SANDBOX_LATENCY)")
	}
	var logins []string
	for _, l := range sandbox.Logins() {
		logins = append(logins, l.Email+" / "+l.Password)
	}
	a.banner = append(a.banner,
		"Seam sandbox:  "+srv.URL+" (API key "+key+", SEAM_SANDBOX_API_KEY)",
		"lock logins:   "+strings.Join(logins, ", "))
	return srv.URL, key, nil
}
