package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	scopeGroups = "groups"
	claimGroups = "groups"

	// loginLifetime bounds how long a user may take on the login page.
	loginLifetime = 10 * time.Minute
	// codeLifetime bounds how long an issued authorization code stays redeemable.
	codeLifetime        = time.Minute
	accessTokenLifetime = 15 * time.Minute
	idTokenLifetime     = 5 * time.Minute
	// refreshTokenLifetime bounds a refresh token; each use rotates it.
	refreshTokenLifetime = 12 * time.Hour
)

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
	_ op.AuthRequest                    = (*authRequest)(nil)
	_ op.LogAuthRequest                 = (*authRequest)(nil)
	_ op.Client                         = (*client)(nil)
)

var (
	errNotFound    = errors.New("auth request not found or expired")
	errInvalidCode = errors.New("authorization code invalid, used or expired")
	errBadRefresh  = errors.New("refresh token invalid, used or expired")
)

// seededUser is a User with what the provider needs to issue claims.
type seededUser struct {
	User
	groups []string
}

// storage is the in-memory op.Storage: auth requests, codes and access tokens
// live only as long as the process.
type storage struct {
	client       *client
	clientSecret [32]byte
	password     [32]byte
	users        map[string]seededUser // by subject
	byName       map[string]string     // username → subject
	key          *rsa.PrivateKey
	keyID        string

	mu           sync.Mutex
	authRequests map[string]*authRequest // by id
	codes        map[string]string       // code → auth request id
	tokens       map[string]*accessToken // by id
	// sessions are the dev IdP's sign-in sessions: sid → subject. Each sign-in starts
	// one (there is no single sign-on); its sid travels in the ID token.
	sessions map[string]string
	// refreshTokens are the live refresh tokens, by value; each is used once.
	refreshTokens map[string]*refreshRequest
	// onLogout is told of every ended session (back-channel logout); nil does nothing.
	onLogout func(ctx context.Context, subject, sid string)
}

type accessToken struct {
	clientID string
	subject  string
	scopes   []string
	audience []string
	expires  time.Time
}

func newStorage(cfg Config, key *rsa.PrivateKey) *storage {
	s := &storage{
		client: &client{
			id:             cfg.ClientID,
			redirectURIs:   slices.Clone(cfg.RedirectURIs),
			postLogoutURIs: slices.Clone(cfg.PostLogoutRedirectURIs),
		},
		clientSecret:  passwordDigest(cfg.ClientSecret),
		password:      passwordDigest(cfg.Password),
		users:         make(map[string]seededUser),
		byName:        make(map[string]string),
		key:           key,
		keyID:         rand.Text(),
		authRequests:  make(map[string]*authRequest),
		codes:         make(map[string]string),
		tokens:        make(map[string]*accessToken),
		sessions:      make(map[string]string),
		refreshTokens: make(map[string]*refreshRequest),
	}
	for _, u := range Users() {
		groups := []string{}
		if u.IsAdmin {
			groups = []string{cfg.AdminGroup}
		}
		s.users[u.Subject] = seededUser{User: u, groups: groups}
		s.byName[u.Username] = u.Subject
	}
	return s
}

// checkPassword returns the user for a correct username and password.
func (s *storage) checkPassword(username, password string) (seededUser, bool) {
	given := passwordDigest(password)
	ok := subtle.ConstantTimeCompare(given[:], s.password[:]) == 1
	sub, known := s.byName[username]
	if !ok || !known {
		return seededUser{}, false
	}
	return s.users[sub], true
}

// isUser reports whether username is a seeded account.
func (s *storage) isUser(username string) bool {
	_, ok := s.byName[username]
	return ok
}

// pendingRequest returns a copy of a live auth request still waiting for a login.
func (s *storage) pendingRequest(id string) (authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || r.expired(time.Now()) || r.done {
		return authRequest{}, errNotFound
	}
	return *r, nil
}

// completeLogin marks a pending auth request as authenticated for subject, in a new
// dev IdP session whose sid it returns.
func (s *storage) completeLogin(id, subject string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || r.expired(time.Now()) || r.done {
		return "", errNotFound
	}
	r.done, r.subject, r.authTime, r.sid = true, subject, time.Now(), rand.Text()
	s.sessions[r.sid] = subject
	return r.sid, nil
}

// endSession ends the dev IdP session sid (when it is subject's, if subject is given)
// and tells onLogout; it reports the subject whose session ended.
func (s *storage) endSession(ctx context.Context, sid, subject string) (string, bool) {
	s.mu.Lock()
	owner, ok := s.sessions[sid]
	if ok && (subject == "" || owner == subject) {
		delete(s.sessions, sid)
		for v, rt := range s.refreshTokens {
			if rt.sid == sid {
				delete(s.refreshTokens, v) // the session's grant ends with it
			}
		}
		for id, t := range s.tokens {
			if t.subject == owner {
				delete(s.tokens, id)
			}
		}
	}
	s.mu.Unlock()
	if !ok || (subject != "" && owner != subject) {
		return "", false
	}
	if s.onLogout != nil {
		s.onLogout(ctx, owner, sid)
	}
	return owner, true
}

// sweep drops expired entries so memory stays bounded; callers hold s.mu.
func (s *storage) sweep(now time.Time) {
	for id, r := range s.authRequests {
		if r.expired(now) {
			delete(s.codes, r.code)
			delete(s.authRequests, id)
		}
	}
	for id, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, id)
		}
	}
	for v, rt := range s.refreshTokens {
		if now.After(rt.expires) {
			delete(s.refreshTokens, v)
		}
	}
}

// CreateAuthRequest stores a validated authorization request; our client must use PKCE with S256.
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		// There is no single sign-on session to reuse: a login is always needed.
		return nil, oidc.ErrLoginRequired()
	}
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	now := time.Now()
	r := &authRequest{
		id:           rand.Text(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       slices.Clone(req.Scopes),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
		loginHint:    req.LoginHint,
		expires:      now.Add(loginLifetime),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.authRequests[r.id] = r
	cp := *r
	return &cp, nil
}

// AuthRequestByID returns a copy, so the op never reads fields the login handler writes.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || r.expired(time.Now()) {
		return nil, errNotFound
	}
	cp := *r
	return &cp, nil
}

// AuthRequestByCode redeems a code: the code and its auth request are removed at
// once, so a code works a single time even when a redemption then fails (wrong
// verifier, wrong client) or two redemptions race.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errInvalidCode
	}
	delete(s.codes, code)
	r, ok := s.authRequests[id]
	delete(s.authRequests, id)
	if !ok || r.expired(time.Now()) {
		return nil, errInvalidCode
	}
	return r, nil
}

// SaveAuthCode binds a code to a completed auth request; only one code is ever
// issued per request, so replaying the login callback yields nothing.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.authRequests[id]
	if !ok || r.expired(time.Now()) || !r.done || r.code != "" {
		return oidc.ErrInvalidRequest().WithDescription("the sign-in request has expired or was already used")
	}
	r.code = code
	r.expires = time.Now().Add(codeLifetime)
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest forgets a request once its tokens are issued.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.authRequests[id]; ok {
		delete(s.codes, r.code)
		delete(s.authRequests, id)
	}
	return nil
}

// CreateAccessToken records an opaque access token (the op encrypts its id) for userinfo.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	r, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, errors.New("unsupported token request")
	}
	now := time.Now()
	t := &accessToken{
		clientID: r.clientID,
		subject:  r.subject,
		scopes:   slices.Clone(r.scopes),
		audience: r.GetAudience(),
		expires:  now.Add(accessTokenLifetime),
	}
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.tokens[id] = t
	return id, t.expires, nil
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token (the client
// asked for offline_access). A refresh spends currentRefreshToken: it is removed here,
// and a token already spent (used twice, or revoked meanwhile) is refused, so a
// rotating refresh token works exactly once.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	var base refreshRequest
	switch r := req.(type) {
	case *authRequest:
		base = refreshRequest{clientID: r.clientID, subject: r.subject, scopes: slices.Clone(r.scopes), authTime: r.authTime, sid: r.sid}
	case *refreshRequest:
		base = *r
	default:
		return "", "", time.Time{}, errors.New("unsupported token request")
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if currentRefreshToken != "" {
		if _, ok := s.refreshTokens[currentRefreshToken]; !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used")
		}
		delete(s.refreshTokens, currentRefreshToken)
	}
	if base.sid != "" {
		if _, ok := s.sessions[base.sid]; !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the session has ended")
		}
	}
	t := &accessToken{clientID: base.clientID, subject: base.subject, scopes: slices.Clone(base.scopes),
		audience: []string{base.clientID}, expires: now.Add(accessTokenLifetime)}
	id := rand.Text()
	s.tokens[id] = t
	next := base
	next.expires = now.Add(refreshTokenLifetime)
	value := rand.Text()
	s.refreshTokens[value] = &next
	return id, value, t.expires, nil
}

// TokenRequestByRefreshToken returns the grant behind a live refresh token.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok || time.Now().After(rt.expires) {
		return nil, errBadRefresh
	}
	cp := *rt
	return &cp, nil
}

// TerminateSessionFromRequest is RP-initiated logout: the session the id_token_hint
// names ends (and the relying party hears of it by back-channel logout); without a
// hint, the user's access tokens are revoked.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	if req.IDTokenHintClaims != nil && req.IDTokenHintClaims.SessionID != "" {
		s.endSession(ctx, req.IDTokenHintClaims.SessionID, req.UserID)
		return req.RedirectURI, nil
	}
	return req.RedirectURI, s.TerminateSession(ctx, req.UserID, req.ClientID)
}

// TerminateSession revokes the user's access tokens for the client (RP-initiated logout).
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

// RevokeToken revokes an access token issued to clientID; unknown tokens count as revoked (RFC 7009).
func (s *storage) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refreshTokens[tokenID]; ok {
		if rt.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refreshTokens, tokenID)
		return nil
	}
	t, ok := s.tokens[tokenID]
	if !ok {
		return nil
	}
	if t.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.tokens, tokenID)
	return nil
}

// GetRefreshTokenInfo names a live refresh token's user, for revocation; its id is
// the token itself.
func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok || rt.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.subject, token, nil
}

// SigningKey returns this start's RSA key.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{id: s.keyID, key: s.key}, nil
}

// SignatureAlgorithms lists RS256 only.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet publishes the public half of this start's key in the JWKS.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{id: s.keyID, key: &s.key.PublicKey}}, nil
}

// GetClientByClientID knows exactly one client.
func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, errors.New("unknown client")
	}
	return s.client, nil
}

// AuthorizeClientIDSecret checks client_secret_basic and client_secret_post credentials.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	given := passwordDigest(clientSecret)
	if subtle.ConstantTimeCompare(given[:], s.clientSecret[:]) != 1 || clientID != s.client.id {
		return errors.New("invalid client credentials")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated by the op in favour of SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.setUserinfo(info, req.GetSubject(), scopes); err != nil {
		return err
	}
	sid := ""
	switch r := req.(type) {
	case *authRequest:
		sid = r.sid
	case *refreshRequest:
		sid = r.sid
	}
	if sid != "" {
		info.AppendClaims("sid", sid) // the session a back-channel logout will name
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, ok := s.liveToken(tokenID)
	if !ok || t.subject != subject {
		return errors.New("access token invalid or expired")
	}
	return s.setUserinfo(info, subject, t.scopes)
}

// SetIntrospectionFromToken answers the introspection endpoint for the token's own client.
func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, ok := s.liveToken(tokenID)
	if !ok || t.subject != subject || !slices.Contains(t.audience, clientID) {
		return errors.New("access token invalid or expired")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

// GetPrivateClaimsFromScopes adds nothing: access tokens are opaque.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID is for JWT client authentication, which is not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

// ValidateJWTProfileScopes is for the JWT profile grant, which is not offered.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grant is not supported")
}

// Health reports the in-memory storage as always up.
func (s *storage) Health(context.Context) error { return nil }

func (s *storage) liveToken(id string) (accessToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok || time.Now().After(t.expires) {
		return accessToken{}, false
	}
	return *t, true
}

// setUserinfo maps scopes to claims. sub is always set (the op copies it into
// the ID token), and groups always travel so the relying party can decide admin
// rights from the ID token alone.
func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.users[subject]
	if !ok {
		return errors.New("unknown user")
	}
	info.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = true
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
		}
	}
	info.AppendClaims(claimGroups, slices.Clone(u.groups))
	return nil
}

// authRequest is one authorization request from its creation to its code's redemption.
type authRequest struct {
	id, clientID, redirectURI, state, nonce, loginHint string
	scopes                                             []string
	responseType                                       oidc.ResponseType
	responseMode                                       oidc.ResponseMode
	challenge                                          *oidc.CodeChallenge
	subject                                            string
	authTime                                           time.Time
	sid                                                string
	done                                               bool
	code                                               string
	expires                                            time.Time
}

func (r *authRequest) expired(now time.Time) bool { return now.After(r.expires) }

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }

// GetAMR says how the user authenticated: by password, once the login is done.
func (r *authRequest) GetAMR() []string {
	if r.done {
		return []string{"pwd"}
	}
	return nil
}

// LogValue lets the op log failed requests without state, nonce or codes.
func (r *authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", r.clientID),
		slog.String("redirect_uri", r.redirectURI),
		slog.Any("scopes", r.scopes),
	)
}

// refreshRequest is the grant behind a refresh token: who, for which client and scopes,
// and the dev IdP session it belongs to.
type refreshRequest struct {
	clientID, subject, sid string
	scopes                 []string
	authTime               time.Time
	expires                time.Time
}

func (r *refreshRequest) GetAMR() []string                 { return []string{"pwd"} }
func (r *refreshRequest) GetAudience() []string            { return []string{r.clientID} }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r *refreshRequest) GetClientID() string              { return r.clientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.subject }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// client is the single registered relying party: a confidential web client,
// code flow only, exact redirect URIs.
type client struct {
	id             string
	redirectURIs   []string
	postLogoutURIs []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return c.postLogoutURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

// AuthMethod is basic, yet the op also accepts client_secret_post because
// Config.AuthMethodPost is set.
func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string           { return pathLogin + "?id=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return idTokenLifetime }
func (c *client) DevMode() bool                       { return false }
func (c *client) IsScopeAllowed(scope string) bool {
	return scope == scopeGroups || scope == oidc.ScopeOfflineAccess
}
func (c *client) ClockSkew() time.Duration { return 0 }

// IDTokenUserinfoClaimsAssertion puts email and profile claims into the ID
// token even though an access token is issued too; Latchkey reads only the ID token.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
