package devidp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// logoutTokenLifetime bounds a logout token's exp.
const logoutTokenLifetime = 2 * time.Minute

// backchannelLogout posts a signed logout token (OpenID Connect Back-Channel Logout
// 1.0) naming subject and sid to the client's backchannel_logout_uri. It waits for the
// answer (bounded), so the relying party's sessions have ended when the sign-out page
// shows; a failure is logged, as a real IdP would.
func (p *Provider) backchannelLogout(ctx context.Context, subject, sid string) {
	if p.logoutURI == "" {
		return
	}
	token, err := p.logoutToken(subject, sid)
	if err != nil {
		p.logger.ErrorContext(ctx, "dev idp logout token", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.logoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		p.logger.ErrorContext(ctx, "dev idp back-channel logout", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.httpClient.Do(req)
	if err != nil {
		p.logger.WarnContext(ctx, "dev idp back-channel logout not delivered", "err", err)
		return
	}
	resp.Body.Close()
	p.logger.InfoContext(ctx, "dev idp back-channel logout delivered", "status", resp.StatusCode)
}

// logoutToken signs the logout token's claims with the provider's key.
func (p *Provider) logoutToken(subject, sid string) (string, error) {
	claims := oidc.NewLogoutTokenClaims(p.issuer, subject, oidc.Audience{p.clientID},
		time.Now().Add(logoutTokenLifetime), rand.Text(), sid, 0)
	return p.sign(claims)
}

// sign makes a compact JWS of claims with the provider's signing key.
func (p *Provider) sign(claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.store.key},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", p.store.keyID))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
