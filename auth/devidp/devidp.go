// Package devidp is the embedded development OpenID Provider: seeded users, a
// plain password form, and standard OpenID Connect endpoints (discovery, JWKS,
// authorization code with PKCE, token, userinfo, end_session) built on
// github.com/zitadel/oidc/v3/pkg/op. It exists so the portal runs with no
// external identity provider; it must never be enabled in production.
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// DefaultAdminGroup is the group given to the seeded admin when Config.AdminGroup is empty.
const DefaultAdminGroup = "latchkey-admin"

// Config configures a Provider.
type Config struct {
	// Issuer is the provider's base URL, e.g. http://127.0.0.1:8081: no path, no trailing slash.
	// Plain http is accepted only for a loopback host.
	Issuer string
	// Password is the one password of every seeded user (DEV_PASSWORD).
	Password string
	// ClientID and ClientSecret register the single relying party (Latchkey).
	ClientID, ClientSecret string
	// RedirectURIs are the exact redirect_uri values the client may use.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the exact post_logout_redirect_uri values the client may use.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is the client's registered backchannel_logout_uri: when a
	// dev user signs out here, a signed logout token is posted to it. "" sends none.
	BackchannelLogoutURI string
	// AdminGroup is put in the seeded admin's groups claim; DefaultAdminGroup when empty.
	AdminGroup string
	// Logger receives sign-in events; slog.Default() when nil.
	Logger *slog.Logger
}

// User is a seeded account, as shown in the dev banner and on the login page.
type User struct {
	Subject  string // stable "sub", so the same user maps to the same account across restarts
	Username string
	Name     string
	Email    string
	IsAdmin  bool
}

// Users returns the seeded accounts; all of them use Config.Password.
func Users() []User {
	return []User{
		{Subject: "dev-alice", Username: "alice", Name: "Alice Anders", Email: "alice@example.com"},
		{Subject: "dev-bob", Username: "bob", Name: "Bob Brown", Email: "bob@example.com"},
		{Subject: "dev-admin", Username: "admin", Name: "Ada Admin", Email: "admin@example.com", IsAdmin: true},
	}
}

// Provider is the development OpenID Provider; it serves every endpoint and the login page.
type Provider struct {
	issuer     string
	adminGroup string
	op         *op.Provider
	store      *storage
	logger     *slog.Logger
	mux        *http.ServeMux
	csp        string
	clientID   string
	logoutURI  string
	httpClient *http.Client
}

// New builds a Provider with a fresh RSA signing key and a fresh token encryption key.
func New(cfg Config) (*Provider, error) {
	if err := validate(&cfg); err != nil {
		return nil, fmt.Errorf("devidp config: %w", err)
	}
	signKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidp signing key: %w", err)
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("devidp crypto key: %w", err)
	}
	store := newStorage(cfg, signKey)
	opCfg := &op.Config{
		CryptoKey:                cryptoKey,
		CryptoKeyId:              rand.Text()[:8],
		DefaultLogoutRedirectURI: cfg.Issuer + pathLoggedOut,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true, // with offline_access; each use rotates the token
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, scopeGroups, oidc.ScopeOfflineAccess},
		SupportedClaims:          append(slices.Clone(op.DefaultSupportedClaims), claimGroups),
		// Discovery advertises back-channel logout, with sid, when a URI is registered.
		BackChannelLogoutSupported:        cfg.BackchannelLogoutURI != "",
		BackChannelLogoutSessionSupported: cfg.BackchannelLogoutURI != "",
	}
	var opts []op.Option
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(opCfg, store, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("devidp provider: %w", err)
	}
	p := &Provider{
		issuer:     cfg.Issuer,
		adminGroup: cfg.AdminGroup,
		op:         provider,
		store:      store,
		logger:     cfg.Logger,
		mux:        http.NewServeMux(),
		csp:        pageCSP(cfg.RedirectURIs),
		clientID:   cfg.ClientID,
		logoutURI:  cfg.BackchannelLogoutURI,
		httpClient: &http.Client{Timeout: 5 * time.Second},
	}
	store.onLogout = p.backchannelLogout
	// Browsers send Sec-Fetch-Site on form posts; refusing cross-site ones stops
	// another site from submitting credentials into a pending sign-in.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.renderMessage(w, http.StatusForbidden, "Request refused", "This form can only be submitted from the sign-in page.")
	}))
	p.mux.HandleFunc("GET "+pathLogin, p.loginPage)
	p.mux.Handle("POST "+pathLogin, cop.Handler(http.HandlerFunc(p.loginSubmit)))
	p.mux.HandleFunc("GET "+pathLoggedOut, p.loggedOut)
	p.mux.HandleFunc("GET "+pathSignOut, p.signOutPage)
	p.mux.Handle("POST "+pathSignOut, cop.Handler(http.HandlerFunc(p.signOutSubmit)))
	p.mux.Handle("/", provider)
	return p, nil
}

// Issuer returns the issuer URL exactly as it appears in discovery and in ID tokens.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP serves the OpenID endpoints and the login page.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The auth request id travels in URLs; keep it out of Referer headers.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	p.mux.ServeHTTP(w, r)
}

// validate checks cfg and fills its defaults.
func validate(cfg *Config) error {
	u, err := url.Parse(cfg.Issuer)
	switch {
	case cfg.Issuer == "":
		return errors.New("issuer is required")
	case err != nil:
		return fmt.Errorf("issuer: %w", err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return fmt.Errorf("issuer %q: want an absolute http(s) URL", cfg.Issuer)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("issuer %q: want no path, query or trailing slash", cfg.Issuer)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("issuer %q: plain http is only allowed on a loopback host", cfg.Issuer)
	case cfg.Password == "":
		return errors.New("password is required")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return errors.New("client id and secret are required")
	case cfg.BackchannelLogoutURI != "" && !strings.HasPrefix(cfg.BackchannelLogoutURI, "http"):
		return fmt.Errorf("backchannel logout URI %q: want an absolute http(s) URL", cfg.BackchannelLogoutURI)
	case len(cfg.RedirectURIs) == 0:
		return errors.New("at least one redirect URI is required")
	}
	for _, raw := range append(slices.Clone(cfg.RedirectURIs), cfg.PostLogoutRedirectURIs...) {
		if ru, err := url.Parse(raw); err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Host == "" {
			return fmt.Errorf("redirect URI %q: want an absolute http(s) URL", raw)
		}
	}
	if cfg.AdminGroup == "" {
		cfg.AdminGroup = DefaultAdminGroup
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// passwordDigest makes the constant-time comparison independent of the password's length.
func passwordDigest(s string) [32]byte { return sha256.Sum256([]byte(s)) }
