// Package auth signs people in with OpenID Connect and keeps them signed in: the relying
// party (authorization code + PKCE, state, nonce), the short-lived login-attempt cookie,
// the server-side session, and the RequireUser/RequireAdmin middleware.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/store"
)

// RPConfig configures the relying party.
type RPConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is {base URL}/auth/callback; PostLogoutURL is {base URL}/.
	RedirectURL   string
	PostLogoutURL string
	// AdminClaim is "claim=value" (e.g. "groups=latchkey-admin"); AdminEmails are admins
	// when the IdP marks their email verified.
	AdminClaim  string
	AdminEmails []string
	// SessionKey derives the login cookie's keys; SessionKeyPrevious still reads old ones.
	SessionKey         []byte
	SessionKeyPrevious []byte
	// Secure: the base URL is https, so the login cookie is Secure and __Host-.
	Secure bool
	// HTTPClient talks to the IdP (discovery, token, keys); default has a 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock used to check token expiry; tests replace it.
	Now func() time.Time
}

// Identity is who the IdP says signed in, with the admin decision already made.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	IsAdmin       bool
	// RawIDToken is kept for RP-initiated logout (id_token_hint).
	RawIDToken string
	// SID is the IdP's session (the sid claim), named by back-channel logouts; "" when
	// the IdP sends none.
	SID string
	// AuthTime is when the user last authenticated at the IdP (auth_time); zero when
	// the IdP does not say.
	AuthTime time.Time
	// RefreshToken is the IdP's refresh token ("" when it granted none); it is kept
	// server-side with the session, never in a cookie.
	RefreshToken string
}

// Reasons a callback fails; each is a *CallbackError.
var (
	// ErrLoginExpired: no login attempt cookie matches (expired, missing or replayed).
	ErrLoginExpired = errors.New("sign-in attempt expired or already used")
	// ErrIdPRefused: the IdP answered with an error instead of a code.
	ErrIdPRefused = errors.New("identity provider refused the sign-in")
	// ErrInvalidToken: the code exchange or the ID token check failed.
	ErrInvalidToken = errors.New("identity provider's answer could not be verified")
	// ErrNotReady: discovery has not succeeded yet.
	ErrNotReady = errors.New("identity provider not reachable yet")
)

// CallbackError says why a callback was refused; Reason is for the log, never the page.
type CallbackError struct {
	Kind   error
	Reason string
}

func (e *CallbackError) Error() string { return e.Kind.Error() + ": " + e.Reason }
func (e *CallbackError) Unwrap() error { return e.Kind }

// RP is the OpenID Connect relying party.
type RP struct {
	cfg    RPConfig
	log    *slog.Logger
	store  *sessions.CookieStore
	client *http.Client
	// loginCookie is the login attempt cookie's name (__Host- under https).
	loginCookie string

	// used remembers states already spent, so a replayed callback is refused even by a
	// client that kept the old login cookie.
	usedMu sync.Mutex
	used   map[string]time.Time

	mu         sync.RWMutex
	oauth      *oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string
	// logoutVerifier checks logout tokens: the ID token checks without expiry
	// (VerifyLogoutToken bounds the age by iat).
	logoutVerifier *oidc.IDTokenVerifier
}

// NewRP prepares the relying party and runs discovery. When the IdP does not answer,
// discovery is retried in the background until ctx ends, and sign-in answers "not ready"
// meanwhile: a briefly unreachable IdP delays sign-in instead of stopping start-up.
func NewRP(ctx context.Context, cfg RPConfig) (*RP, error) {
	store, err := newLoginStore(cfg.SessionKey, cfg.SessionKeyPrevious, cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("login cookie keys: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	rp := &RP{cfg: cfg, log: cfg.Logger, store: store, client: client, loginCookie: LoginCookieName(cfg.Secure), used: map[string]time.Time{}}
	if err := rp.discover(ctx); err != nil {
		rp.log.Warn("OIDC discovery failed; retrying in the background", "issuer", cfg.Issuer, "error", err)
		go rp.retryDiscovery(ctx)
	}
	return rp, nil
}

func (rp *RP) discover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), 10*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, rp.cfg.Issuer)
	if err != nil {
		return err
	}
	var meta struct {
		EndSession string   `json:"end_session_endpoint"`
		Methods    []string `json:"code_challenge_methods_supported"`
		Scopes     []string `json:"scopes_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	if len(meta.Methods) > 0 && !slices.Contains(meta.Methods, "S256") {
		return errors.New("discovery: the provider does not support PKCE S256")
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.oauth = &oauth2.Config{
		ClientID:     rp.cfg.ClientID,
		ClientSecret: rp.cfg.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  rp.cfg.RedirectURL,
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
	if slices.Contains(meta.Scopes, oidc.ScopeOfflineAccess) {
		// A refresh token lets Latchkey re-check the user at the IdP while the session
		// is used (OIDC_RECHECK_INTERVAL).
		rp.oauth.Scopes = append(rp.oauth.Scopes, oidc.ScopeOfflineAccess)
	}
	rp.verifier = provider.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now})
	rp.endSession = meta.EndSession
	rp.logoutVerifier = provider.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now, SkipExpiryCheck: true})
	rp.log.Info("OIDC provider discovered", "issuer", rp.cfg.Issuer)
	return nil
}

func (rp *RP) retryDiscovery(ctx context.Context) {
	delay := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		err := rp.discover(ctx)
		if err == nil {
			return
		}
		rp.log.Warn("OIDC discovery failed again", "issuer", rp.cfg.Issuer, "error", err, "next_try_in", delay)
		delay = min(delay*2, time.Minute)
	}
}

// Ready reports whether discovery has succeeded.
func (rp *RP) Ready() bool {
	rp.mu.RLock()
	defer rp.mu.RUnlock()
	return rp.oauth != nil
}

// loginAttempt is what the login cookie holds: nothing but what the callback checks.
type loginAttempt struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r,omitempty"`
	// Reauth: the IdP was asked to authenticate the user again (max_age=0,
	// prompt=login); At is when, so the ID token's auth_time must be later.
	Reauth bool  `json:"a,omitempty"`
	At     int64 `json:"t,omitempty"`
}

// authTimeSkew is the clock skew allowed between the IdP's auth_time and our clock.
const authTimeSkew = time.Minute

// maxAttempts lets a few sign-ins run at once (several tabs) without growing the cookie.
const maxAttempts = 3

// Begin starts a sign-in: it records the attempt in the login cookie and returns the
// IdP's authorization URL. returnTo must already be a safe local path (or "").
func (rp *RP) Begin(w http.ResponseWriter, r *http.Request, returnTo string) (string, error) {
	return rp.begin(w, r, returnTo, false)
}

// BeginReauth starts a sign-in that makes the user authenticate at the IdP again
// (max_age=0 and prompt=login), for step-up before a sensitive action: Finish then
// requires an auth_time later than now (less a minute of clock skew).
func (rp *RP) BeginReauth(w http.ResponseWriter, r *http.Request, returnTo string) (string, error) {
	return rp.begin(w, r, returnTo, true)
}

func (rp *RP) begin(w http.ResponseWriter, r *http.Request, returnTo string, reauth bool) (string, error) {
	rp.mu.RLock()
	oauth := rp.oauth
	rp.mu.RUnlock()
	if oauth == nil {
		return "", ErrNotReady
	}
	a := loginAttempt{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), ReturnTo: SafeReturnTo(returnTo)}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)}
	if reauth {
		a.Reauth, a.At = true, rp.cfg.Now().Unix()
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login"))
	}
	sess, _ := rp.store.Get(r, rp.loginCookie) // a cookie that no longer decodes is replaced
	attempts := append(decodeAttempts(sess), a)
	if len(attempts) > maxAttempts {
		attempts = attempts[len(attempts)-maxAttempts:]
	}
	if err := saveAttempts(w, r, sess, attempts); err != nil {
		return "", err
	}
	return oauth.AuthCodeURL(a.State, opts...), nil
}

// Finish completes a sign-in from the callback request. The attempt it used is removed
// from the cookie whatever the outcome, so a callback URL cannot be replayed. It returns
// the identity and the local path to go to next.
func (rp *RP) Finish(w http.ResponseWriter, r *http.Request) (*Identity, string, error) {
	rp.mu.RLock()
	oauth, verifier := rp.oauth, rp.verifier
	rp.mu.RUnlock()
	if oauth == nil {
		return nil, "", ErrNotReady
	}
	q := r.URL.Query()
	sess, _ := rp.store.Get(r, rp.loginCookie)
	attempts := decodeAttempts(sess)
	state := q.Get("state")
	idx := -1
	for i, a := range attempts {
		if state != "" && subtle.ConstantTimeCompare([]byte(a.State), []byte(state)) == 1 {
			idx = i
		}
	}
	if idx < 0 {
		reason := "no login attempt cookie"
		if len(attempts) > 0 {
			reason = "state does not match any login attempt"
		}
		return nil, "", &CallbackError{Kind: ErrLoginExpired, Reason: reason}
	}
	a := attempts[idx]
	if !rp.spend(a.State) {
		return nil, "", &CallbackError{Kind: ErrLoginExpired, Reason: "callback replayed"}
	}
	if err := saveAttempts(w, r, sess, slices.Delete(attempts, idx, idx+1)); err != nil {
		return nil, "", err
	}
	if e := q.Get("error"); e != "" {
		// The query is the browser's to write: kept bounded, quoted and marked.
		return nil, "", &CallbackError{Kind: ErrIdPRefused, Reason: store.ClientString("error", e)}
	}
	code := q.Get("code")
	if code == "" {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "no code in the callback"}
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), rp.client), 10*time.Second)
	defer cancel()
	tok, err := oauth.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return nil, "", &CallbackError{Kind: ErrLoginExpired, Reason: "code exchange: invalid_grant (expired or used code)"}
	}
	if err != nil {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "code exchange: " + scrubOAuthError(err)}
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "no id_token in the token response"}
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "id token: " + err.Error()}
	}
	// go-oidc's Verify does not check the nonce: compare it here.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "id token nonce does not match the login attempt"}
	}
	id, err := rp.identity(idt, raw)
	if err != nil {
		return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: err.Error()}
	}
	// go-oidc does not check auth_time: when max_age was asked for, it is required and
	// must not be older than the request (the IdP must have asked again).
	if a.Reauth {
		switch {
		case id.AuthTime.IsZero():
			return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "id token has no auth_time although max_age was requested"}
		case id.AuthTime.Before(time.Unix(a.At, 0).Add(-authTimeSkew)):
			return nil, "", &CallbackError{Kind: ErrInvalidToken, Reason: "id token auth_time is older than the re-authentication request (max_age=0)"}
		}
	}
	id.RefreshToken = tok.RefreshToken
	return id, a.ReturnTo, nil
}

// ErrRefreshRefused: the IdP refused the refresh token (invalid_grant): the user's
// grant is gone (signed out, disabled, revoked), and so must the session be.
var ErrRefreshRefused = errors.New("identity provider refused the refresh token")

// Refreshed is what a refresh at the IdP brought: the refresh token to keep (rotated or
// not) and the new ID token's identity, nil when the IdP sent none.
type Refreshed struct {
	RefreshToken string
	Identity     *Identity
}

// Refresh uses refreshToken once at the IdP for the user issuer+subject. A refusal is
// ErrRefreshRefused; any other failure (the IdP down, a bad answer) is another error,
// and the session should stay. A new ID token must verify and name the same user; when
// it does not, the error comes with a Refreshed holding the new refresh token and no
// identity: the IdP has spent the old token, so the new one must be kept.
func (rp *RP) Refresh(ctx context.Context, refreshToken, subject string) (*Refreshed, error) {
	rp.mu.RLock()
	oauth, verifier := rp.oauth, rp.verifier
	rp.mu.RUnlock()
	if oauth == nil {
		return nil, ErrNotReady
	}
	ctx = oidc.ClientContext(ctx, rp.client)
	tok, err := oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return nil, ErrRefreshRefused
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %s", scrubOAuthError(err))
	}
	out := &Refreshed{RefreshToken: tok.RefreshToken}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return out, nil
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return out, fmt.Errorf("refreshed id token: %w", err)
	}
	if idt.Subject != subject {
		return out, errors.New("refreshed id token names another subject")
	}
	id, err := rp.identity(idt, raw)
	if err != nil {
		return out, err
	}
	out.Identity = id
	return out, nil
}

// identity reads the claims Latchkey uses and decides whether the user is an admin.
func (rp *RP) identity(idt *oidc.IDToken, raw string) (*Identity, error) {
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return nil, fmt.Errorf("id token claims: %w", err)
	}
	id := &Identity{
		Issuer:        idt.Issuer,
		Subject:       idt.Subject,
		Email:         strings.ToLower(claimString(all["email"])),
		EmailVerified: claimBool(all["email_verified"]),
		Name:          claimString(all["name"]),
		RawIDToken:    raw,
		SID:           claimString(all["sid"]),
	}
	if at, ok := all["auth_time"].(float64); ok && at > 0 {
		// An IdP clock running fast must not excuse step-up for as long as it is ahead.
		id.AuthTime = time.Unix(int64(at), 0)
		if now := rp.cfg.Now(); id.AuthTime.After(now) {
			id.AuthTime = now
		}
	}
	if id.Subject == "" {
		return nil, errors.New("id token has no subject")
	}
	if id.Name == "" {
		id.Name = claimString(all["preferred_username"])
	}
	if name, value, ok := strings.Cut(rp.cfg.AdminClaim, "="); ok && claimHas(all[name], value) {
		id.IsAdmin = true
	}
	if id.EmailVerified && id.Email != "" && slices.Contains(rp.cfg.AdminEmails, id.Email) {
		id.IsAdmin = true
	}
	return id, nil
}

// spend marks a login attempt's state as used; it reports false when it already was.
func (rp *RP) spend(state string) bool {
	rp.usedMu.Lock()
	defer rp.usedMu.Unlock()
	now := time.Now()
	for s, at := range rp.used {
		if now.Sub(at) > loginAttemptMaxAge {
			delete(rp.used, s)
		}
	}
	if _, ok := rp.used[state]; ok {
		return false
	}
	rp.used[state] = now
	return true
}

// EndSessionURL is where to send the browser after the local session ended, when the
// IdP supports RP-initiated logout; ok is false otherwise.
func (rp *RP) EndSessionURL(idTokenHint string) (string, bool) {
	rp.mu.RLock()
	endpoint := rp.endSession
	rp.mu.RUnlock()
	if endpoint == "" {
		return "", false
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false
	}
	q := u.Query()
	q.Set("client_id", rp.cfg.ClientID)
	q.Set("post_logout_redirect_uri", rp.cfg.PostLogoutURL)
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// IssuerOrigin is the IdP's origin (scheme://host), for the CSP's form-action.
func (rp *RP) IssuerOrigin() string {
	u, err := url.Parse(rp.cfg.Issuer)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func decodeAttempts(sess *sessions.Session) []loginAttempt {
	raw, _ := sess.Values["attempts"].(string)
	var attempts []loginAttempt
	if raw != "" && json.Unmarshal([]byte(raw), &attempts) != nil {
		return nil
	}
	return attempts
}

func saveAttempts(w http.ResponseWriter, r *http.Request, sess *sessions.Session, attempts []loginAttempt) error {
	if len(attempts) == 0 {
		sess.Options.MaxAge = -1 // delete the cookie
		delete(sess.Values, "attempts")
	} else {
		b, err := json.Marshal(attempts)
		if err != nil {
			return err
		}
		sess.Values["attempts"] = string(b)
	}
	if err := sess.Save(r, w); err != nil {
		return fmt.Errorf("save login cookie: %w", err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// scrubOAuthError keeps the OAuth error code but drops the response body, which could
// echo credentials.
func scrubOAuthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return re.ErrorCode
		}
		if re.Response != nil {
			return re.Response.Status
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + ue.Err.Error()
	}
	return "request failed"
}

func claimString(v any) string {
	s, _ := v.(string)
	return s
}

func claimBool(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// claimHas reports whether a claim equals value or, when it is a list, contains it.
func claimHas(v any, value string) bool {
	switch c := v.(type) {
	case string:
		return c == value
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && s == value {
				return true
			}
		}
	case bool:
		return fmt.Sprint(c) == value
	}
	return false
}
