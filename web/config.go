package web

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/locks"
)

// Environments Latchkey knows.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Config is every setting of a Latchkey process, parsed and validated.
type Config struct {
	Addr           string
	BaseURL        *url.URL
	Env            string
	LogFormat      string
	LogLevel       string
	DatabaseURL    string
	TrustedProxies []netip.Prefix
	// TrustedProxiesAllowPublic lets production trust proxies outside the private ranges.
	TrustedProxiesAllowPublic bool

	SeamAPIKey   string
	SeamEndpoint string

	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	// OIDCAdminClaim is "claim=value", e.g. "groups=latchkey-admin"; empty disables it.
	OIDCAdminClaim string
	AdminEmails    []string

	SessionKey         []byte
	SessionKeyPrevious []byte
	SessionIdleTimeout time.Duration
	// UnlockReauthAfter: an unlock by a user who last authenticated at the IdP longer
	// ago than this asks them to sign in again first; 0 = off.
	UnlockReauthAfter time.Duration
	// OIDCRecheckInterval is how often a used session is refreshed at the IdP (when it
	// granted a refresh token).
	OIDCRecheckInterval time.Duration
	SessionLifetime     time.Duration

	// ActionsPerMinute caps lock/unlock requests per user.
	ActionsPerMinute int
	// SeamDeadline bounds all the Seam calls of one request together.
	SeamDeadline time.Duration
	// SeamWebhookSecret verifies Seam's webhooks (whsec_…); without it, events are
	// polled every EventsPollInterval.
	SeamWebhookSecret  string
	EventsPollInterval time.Duration
	// DeviceStateMaxAge is how old the copy of a user's devices may get before a page
	// view triggers a background resync.
	DeviceStateMaxAge time.Duration
	// SeamBudget and WebviewBudget are per user: Seam calls made for their requests,
	// Connect Webviews they create.
	SeamBudget    locks.Budget
	WebviewBudget locks.Budget
	// RefusalAuditWindow is how often one user's repeated refusals of one kind are audited.
	RefusalAuditWindow time.Duration
	// ActionSendBound is how soon after the click a lock/unlock must be sent to Seam.
	ActionSendBound time.Duration
	// ActionSendTimeout bounds one unlock/lock call to Seam; ActionPendingBound is how
	// long an action may stay pending at Seam before it is recorded as timed out;
	// FollowInterval is how often the follower claims open actions.
	ActionSendTimeout  time.Duration
	ActionPendingBound time.Duration
	FollowInterval     time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take after SIGTERM.
	ShutdownTimeout time.Duration
	// MetricsAddr is where Prometheus metrics are served; empty = not served.
	MetricsAddr string
	// SupportContact is whom a person whose account is disabled should contact.
	SupportContact string
	// StreamHeartbeat is how often a live page's stream re-checks its session and says
	// it is alive.
	StreamHeartbeat time.Duration

	DevIdPAddr         string
	SandboxAddr        string
	SandboxActionDelay time.Duration
	// SandboxLatency slows every sandbox API call (to try the portal against a slow Seam).
	SandboxLatency    time.Duration
	SeamSandboxAPIKey string
	DevPassword       string
}

// DevSeam reports whether the embedded Seam sandbox stands in for Seam.
func (c *Config) DevSeam() bool { return c.SeamAPIKey == "" }

// DevIdP reports whether the embedded development OpenID Provider stands in for the IdP.
func (c *Config) DevIdP() bool { return c.OIDCIssuer == "" }

// HTTPS reports whether the portal is served over https (Secure cookies, HSTS).
func (c *Config) HTTPS() bool { return c.BaseURL.Scheme == "https" }

// setting describes one configuration value: its environment variable, the flag that
// mirrors it, its default and what it means (for --help).
type setting struct {
	env, flag, def, usage string
	secret                bool
	parse                 func(c *Config, v string) error
}

func settings() []setting {
	str := func(dst func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *dst(c) = v; return nil }
	}
	dur := func(dst func(*Config) *time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive duration such as 30m or 12h, got %q", v)
			}
			*dst(c) = d
			return nil
		}
	}
	budget := func(dst func(*Config) *locks.Budget) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, d, ok := strings.Cut(v, "/")
			limit, err := strconv.Atoi(n)
			window, derr := time.ParseDuration(d)
			if !ok || err != nil || derr != nil || limit < 1 || window <= 0 {
				return fmt.Errorf("want N/DURATION such as 20/10s, got %q", v)
			}
			*dst(c) = locks.Budget{Limit: limit, Window: window}
			return nil
		}
	}
	key := func(dst func(*Config) *[]byte) func(*Config, string) error {
		return func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			k, err := decodeKey(v)
			if err != nil {
				return err
			}
			*dst(c) = k
			return nil
		}
	}
	return []setting{
		{env: "LATCHKEY_ADDR", flag: "addr", def: "127.0.0.1:8080", usage: "address the portal listens on (host:port)", parse: func(c *Config, v string) error {
			if err := checkHostPort(v); err != nil {
				return err
			}
			c.Addr = v
			return nil
		}},
		{env: "LATCHKEY_BASE_URL", flag: "base-url", usage: "public URL of the portal (default http:// + LATCHKEY_ADDR); https in production", parse: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
				return fmt.Errorf("want an absolute http(s) URL with no path, query or credentials, got %s", redactURL(v))
			}
			u.Path = ""
			c.BaseURL = u
			return nil
		}},
		{env: "LATCHKEY_ENV", flag: "env", def: EnvDevelopment, usage: "development (embedded stand-ins allowed) or production", parse: func(c *Config, v string) error {
			if v != EnvDevelopment && v != EnvProduction {
				return fmt.Errorf("want %q or %q, got %q", EnvDevelopment, EnvProduction, v)
			}
			c.Env = v
			return nil
		}},
		{env: "LOG_FORMAT", flag: "log-format", def: "text", usage: "text or json", parse: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("want text or json, got %q", v)
			}
			c.LogFormat = v
			return nil
		}},
		{env: "LOG_LEVEL", flag: "log-level", def: "info", usage: "debug, info, warn or error", parse: func(c *Config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("want debug, info, warn or error, got %q", v)
		}},
		{env: "DATABASE_URL", flag: "database-url", def: defaultDatabaseURL, usage: "database: sqlite:PATH (one process), or postgres://USER:PASSWORD@HOST/DB?sslmode=verify-full&pool_max_conns=10&statement_timeout=15000 (several instances; run `latchkey migrate` first)", parse: func(c *Config, v string) error {
			if path, ok := strings.CutPrefix(v, "sqlite:"); ok && path != "" {
				c.DatabaseURL = v
				return nil
			}
			if u, err := url.Parse(v); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
				c.DatabaseURL = v
				return nil
			}
			return fmt.Errorf("want sqlite:PATH or postgres://…, got %s", redactURL(v))
		}},
		{env: "TRUSTED_PROXIES", flag: "trusted-proxies", usage: "comma-separated CIDRs whose X-Forwarded-For/-Proto are believed", parse: func(c *Config, v string) error {
			c.TrustedProxies = nil
			for _, f := range splitList(v) {
				p, err := netip.ParsePrefix(f)
				if err != nil {
					a, aerr := netip.ParseAddr(f)
					if aerr != nil {
						return fmt.Errorf("want CIDRs such as 10.0.0.0/8, got %q", f)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
		{env: "TRUSTED_PROXIES_ALLOW_PUBLIC", flag: "trusted-proxies-allow-public", def: "false", usage: "true lets production trust proxies outside the private ranges (10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, ::1)", parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			c.TrustedProxiesAllowPublic = b
			return nil
		}},
		{env: "SEAM_API_KEY", flag: "seam-api-key", secret: true, usage: "Seam API key; unset = embedded Seam sandbox (development only)", parse: str(func(c *Config) *string { return &c.SeamAPIKey })},
		{env: "SEAM_ENDPOINT", flag: "seam-endpoint", def: "https://connect.getseam.com", usage: "Seam API endpoint", parse: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("want an absolute http(s) URL, got %s", redactURL(v))
			}
			c.SeamEndpoint = strings.TrimSuffix(v, "/")
			return nil
		}},
		{env: "OIDC_ISSUER", flag: "oidc-issuer", usage: "OpenID Provider issuer URL (exact); unset = embedded dev IdP (development only)", parse: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("want an absolute http(s) URL, got %s", redactURL(v))
			}
			c.OIDCIssuer = v
			return nil
		}},
		{env: "OIDC_CLIENT_ID", flag: "oidc-client-id", def: "latchkey", usage: "OAuth client id registered at the IdP", parse: str(func(c *Config) *string { return &c.OIDCClientID })},
		{env: "OIDC_CLIENT_SECRET", flag: "oidc-client-secret", secret: true, usage: "OAuth client secret", parse: str(func(c *Config) *string { return &c.OIDCClientSecret })},
		{env: "OIDC_ADMIN_CLAIM", flag: "oidc-admin-claim", def: "groups=latchkey-admin", usage: "claim=value in the ID token that makes a user an admin; none disables", parse: func(c *Config, v string) error {
			if v == "none" {
				c.OIDCAdminClaim = ""
				return nil
			}
			if v != "" {
				name, value, ok := strings.Cut(v, "=")
				if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(value) == "" {
					return fmt.Errorf("want claim=value such as groups=latchkey-admin, got %q", v)
				}
			}
			c.OIDCAdminClaim = v
			return nil
		}},
		{env: "ADMIN_EMAILS", flag: "admin-emails", usage: "comma-separated emails made admin when the IdP marks them verified", parse: func(c *Config, v string) error {
			c.AdminEmails = nil
			for _, e := range splitList(v) {
				if !strings.Contains(e, "@") || strings.ContainsAny(e, " <>") {
					return fmt.Errorf("want email addresses, got %q", e)
				}
				c.AdminEmails = append(c.AdminEmails, strings.ToLower(e))
			}
			return nil
		}},
		{env: "SESSION_KEY", flag: "session-key", secret: true, usage: "root secret, 32+ random bytes as base64 or hex (e.g. openssl rand -base64 32); unset = random per start (development only)", parse: key(func(c *Config) *[]byte { return &c.SessionKey })},
		{env: "SESSION_KEY_PREVIOUS", flag: "session-key-previous", secret: true, usage: "the previous SESSION_KEY, still accepted during a rotation", parse: key(func(c *Config) *[]byte { return &c.SessionKeyPrevious })},
		{env: "SESSION_IDLE_TIMEOUT", flag: "session-idle-timeout", def: "30m", usage: "sign out after this long without a request", parse: dur(func(c *Config) *time.Duration { return &c.SessionIdleTimeout })},
		{env: "SESSION_LIFETIME", flag: "session-lifetime", def: "12h", usage: "sign out this long after sign-in, however active", parse: dur(func(c *Config) *time.Duration { return &c.SessionLifetime })},
		{env: "UNLOCK_REAUTH_AFTER", flag: "unlock-reauth-after", usage: "an unlock by a user who last signed in at the IdP longer ago than this (e.g. 10m) asks them to sign in again first; unset or 0 = off", parse: func(c *Config, v string) error {
			if v == "" || v == "0" || v == "off" {
				c.UnlockReauthAfter = 0
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as 10m, or 0 for off, got %q", v)
			}
			c.UnlockReauthAfter = d
			return nil
		}},
		{env: "OIDC_RECHECK_INTERVAL", flag: "oidc-recheck-interval", def: "15m", usage: "how often a session in use is re-checked at the IdP with its refresh token (when the IdP granted one)", parse: dur(func(c *Config) *time.Duration { return &c.OIDCRecheckInterval })},
		{env: "LATCHKEY_ACTIONS_PER_MINUTE", flag: "actions-per-minute", def: "10", usage: "lock/unlock requests allowed per user per minute", parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return fmt.Errorf("want a whole number from 1 to 10000, got %q", v)
			}
			c.ActionsPerMinute = n
			return nil
		}},
		{env: "LATCHKEY_SEAM_DEADLINE", flag: "seam-deadline", def: "5s", usage: "how long one page may wait for all of its Seam calls together before it says the lock service is unavailable", parse: dur(func(c *Config) *time.Duration { return &c.SeamDeadline })},
		{env: "SEAM_WEBHOOK_SECRET", flag: "seam-webhook-secret", secret: true, usage: "secret of the Seam webhook pointing at {base URL}/webhooks/seam (whsec_…); unset = poll Seam's events instead", parse: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "whsec_") {
				return errors.New("want the whsec_… secret Seam shows for the webhook")
			}
			c.SeamWebhookSecret = v
			return nil
		}},
		{env: "SEAM_EVENTS_POLL_INTERVAL", flag: "seam-events-poll-interval", def: "5s", usage: "how often one instance polls Seam's events when no webhook secret is set", parse: dur(func(c *Config) *time.Duration { return &c.EventsPollInterval })},
		{env: "DEVICE_STATE_MAX_AGE", flag: "device-state-max-age", def: "15m", usage: "how old the local copy of a customer's devices may get before a page view triggers a background resync from Seam", parse: dur(func(c *Config) *time.Duration { return &c.DeviceStateMaxAge })},
		{env: "LATCHKEY_SEAM_BUDGET", flag: "seam-budget", def: "20/10s", usage: "Seam calls one user's requests may make per window (N/DURATION); past it, a 429 page and no Seam call", parse: budget(func(c *Config) *locks.Budget { return &c.SeamBudget })},
		{env: "LATCHKEY_WEBVIEW_BUDGET", flag: "webview-budget", def: "5/10m", usage: "Connect Webviews one user may start per window (N/DURATION)", parse: budget(func(c *Config) *locks.Budget { return &c.WebviewBudget })},
		{env: "LATCHKEY_REFUSAL_AUDIT_WINDOW", flag: "refusal-audit-window", def: "1m", usage: "repeated refusals of one kind (not owned, busy, over a limit, lock service down) are audited once per user per window", parse: dur(func(c *Config) *time.Duration { return &c.RefusalAuditWindow })},
		{env: "LATCHKEY_ACTION_SEND_BOUND", flag: "action-send-bound", def: "5s", usage: "a lock/unlock not sent to Seam this soon after the click is never sent (recorded not_sent)", parse: dur(func(c *Config) *time.Duration { return &c.ActionSendBound })},
		{env: "LATCHKEY_ACTION_SEND_TIMEOUT", flag: "action-send-timeout", def: "15s", usage: "how long one lock/unlock call to Seam may take (the browser cannot cut it short)", parse: dur(func(c *Config) *time.Duration { return &c.ActionSendTimeout })},
		{env: "LATCHKEY_ACTION_PENDING_BOUND", flag: "action-pending-bound", def: "2m", usage: "how long a lock/unlock may stay pending at Seam before it is recorded as timed out", parse: dur(func(c *Config) *time.Duration { return &c.ActionPendingBound })},
		{env: "LATCHKEY_FOLLOW_INTERVAL", flag: "follow-interval", def: "1s", usage: "how often each instance claims open lock/unlock actions to follow them at Seam", parse: dur(func(c *Config) *time.Duration { return &c.FollowInterval })},
		{env: "LATCHKEY_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "20s", usage: "how long in-flight requests may finish after SIGINT/SIGTERM", parse: dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{env: "LATCHKEY_METRICS_ADDR", flag: "metrics-addr", usage: "address (host:port) serving Prometheus metrics at /metrics, apart from the portal; unset = not served", parse: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if err := checkHostPort(v); err != nil {
				return err
			}
			c.MetricsAddr = v
			return nil
		}},
		{env: "LATCHKEY_STREAM_HEARTBEAT", flag: "stream-heartbeat", def: "15s", usage: "how often a live page's stream (GET /events) re-checks its session and says it is alive (1s to 1m; below the idle timeout of any proxy in front)", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > time.Minute {
				return fmt.Errorf("want a duration from 1s to 1m, got %q", v)
			}
			c.StreamHeartbeat = d
			return nil
		}},
		{env: "LATCHKEY_SUPPORT_CONTACT", flag: "support-contact", usage: "whom the page of a disabled account tells people to contact (an email address or a team's name); unset = \"the people who run this portal\"", parse: func(c *Config, v string) error {
			if len(v) > 200 {
				return errors.New("want at most 200 characters")
			}
			c.SupportContact = v
			return nil
		}},
		{env: "LATCHKEY_DEV_IDP_ADDR", flag: "dev-idp-addr", def: "127.0.0.1:8081", usage: "development: address of the embedded OpenID Provider", parse: func(c *Config, v string) error {
			if err := checkHostPort(v); err != nil {
				return err
			}
			c.DevIdPAddr = v
			return nil
		}},
		{env: "LATCHKEY_SANDBOX_ADDR", flag: "sandbox-addr", def: "127.0.0.1:8082", usage: "development: address of the embedded Seam sandbox", parse: func(c *Config, v string) error {
			if err := checkHostPort(v); err != nil {
				return err
			}
			c.SandboxAddr = v
			return nil
		}},
		{env: "LATCHKEY_SANDBOX_ACTION_DELAY", flag: "sandbox-action-delay", def: "1500ms", usage: "development: how long the sandbox's lock actions stay pending", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Hour {
				return fmt.Errorf("want a duration from 0s to 1h such as 1500ms, got %q", v)
			}
			c.SandboxActionDelay = d
			return nil
		}},
		{env: "LATCHKEY_SANDBOX_LATENCY", flag: "sandbox-latency", def: "0s", usage: "development: added to every call to the embedded sandbox, to try the portal against a slow Seam", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Minute {
				return fmt.Errorf("want a duration from 0s to 1m such as 300ms, got %q", v)
			}
			c.SandboxLatency = d
			return nil
		}},
		{env: "SEAM_SANDBOX_API_KEY", flag: "seam-sandbox-api-key", secret: true, usage: "development: API key the sandbox accepts (default random per start, printed in the banner)", parse: str(func(c *Config) *string { return &c.SeamSandboxAPIKey })},
		{env: "DEV_PASSWORD", flag: "dev-password", def: "latchkey", secret: true, usage: "development: password of the dev IdP's users alice, bob and admin", parse: func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.DevPassword = v
			return nil
		}},
	}
}

// ErrHelp is returned by ParseConfig when --help was asked for; the usage is already printed.
var ErrHelp = flag.ErrHelp

// ParseConfig reads settings from the environment, then lets flags override them, and
// validates the result. Errors name the variable and what is wrong, in one line.
func ParseConfig(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	all := settings()
	fs := flag.NewFlagSet("latchkey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*string, len(all))
	for i, s := range all {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		values[i] = fs.String(s.flag, v, s.usage)
	}
	name := "latchkey"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(usage, name, all)
			return nil, ErrHelp
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q (see --help)", fs.Arg(0))
	}
	c := &Config{}
	for i, s := range all {
		if err := s.parse(c, strings.TrimSpace(*values[i])); err != nil {
			return nil, fmt.Errorf("%s: %w", s.env, err)
		}
	}
	if err := c.complete(); err != nil {
		return nil, err
	}
	return c, nil
}

// complete fills derived defaults and checks settings that depend on each other.
func (c *Config) complete() error {
	if c.BaseURL == nil {
		host, port, _ := net.SplitHostPort(c.Addr)
		if port == "0" {
			return errors.New("LATCHKEY_BASE_URL: required when LATCHKEY_ADDR has port 0 (the public URL cannot be guessed)")
		}
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			host = "127.0.0.1" // listening on every address: browse to loopback
		}
		c.BaseURL = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	}
	if len(c.SessionKey) == 0 && len(c.SessionKeyPrevious) > 0 {
		return errors.New("SESSION_KEY_PREVIOUS: set only together with SESSION_KEY")
	}
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		return errors.New("OIDC_CLIENT_ID: required when OIDC_ISSUER is set")
	}
	if c.SessionIdleTimeout > c.SessionLifetime {
		return fmt.Errorf("SESSION_IDLE_TIMEOUT: %s is longer than SESSION_LIFETIME (%s), which always ends the session first", c.SessionIdleTimeout, c.SessionLifetime)
	}
	if c.Env != EnvProduction {
		return nil
	}
	switch {
	case c.SeamAPIKey == "":
		return errors.New("SEAM_API_KEY: required in production (the embedded sandbox is for development only)")
	case c.OIDCIssuer == "":
		return errors.New("OIDC_ISSUER: required in production (the embedded dev IdP is for development only)")
	case c.OIDCClientSecret == "":
		return errors.New("OIDC_CLIENT_SECRET: required in production")
	case len(c.SessionKey) == 0:
		return errors.New("SESSION_KEY: required in production (32+ random bytes, base64 or hex)")
	case c.BaseURL.Scheme != "https":
		return errors.New("LATCHKEY_BASE_URL: must be an https URL in production")
	case !isHTTPS(c.OIDCIssuer):
		return errors.New("OIDC_ISSUER: must be an https URL in production (the client secret and ID tokens travel to it)")
	case !isHTTPS(c.SeamEndpoint):
		return errors.New("SEAM_ENDPOINT: must be an https URL in production (the Seam API key travels to it)")
	case c.SessionIdleTimeout > maxIdleTimeout:
		return fmt.Errorf("SESSION_IDLE_TIMEOUT: at most %s in production, got %s", maxIdleTimeout, c.SessionIdleTimeout)
	case c.SessionLifetime > maxLifetime:
		return fmt.Errorf("SESSION_LIFETIME: at most %s (30 days) in production, got %s", maxLifetime, c.SessionLifetime)
	}
	if why := weakKey(c.SessionKey); why != "" {
		return fmt.Errorf("SESSION_KEY: too weak for production: %s (generate one with: openssl rand -base64 32)", why)
	}
	if why := weakKey(c.SessionKeyPrevious); len(c.SessionKeyPrevious) > 0 && why != "" {
		return fmt.Errorf("SESSION_KEY_PREVIOUS: too weak for production: %s (rotate to a key from: openssl rand -base64 32)", why)
	}
	if !c.TrustedProxiesAllowPublic {
		for _, p := range c.TrustedProxies {
			if !privatePrefix(p) {
				return fmt.Errorf("TRUSTED_PROXIES: %s reaches beyond the private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.0/8, fc00::/7, ::1/128), so clients there could write their own address into logs and the audit trail; set TRUSTED_PROXIES_ALLOW_PUBLIC=true if your proxies really have public addresses", p)
			}
		}
	}
	return nil
}

func isHTTPS(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https"
}

// Production bounds on the session timeouts.
const (
	maxIdleTimeout = 24 * time.Hour
	maxLifetime    = 30 * 24 * time.Hour
)

// privateRanges are where a trusted proxy may be in production without an override.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("::1/128"),
}

// privatePrefix reports whether every address of p lies inside one private range. An
// IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is judged as the IPv4 prefix it maps.
func privatePrefix(p netip.Prefix) bool {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	for _, r := range privateRanges {
		if r.Addr().Is4() == p.Addr().Is4() && r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// exampleSessionKeys are session keys that appear in documentation (Latchkey's or
// commonly copied ones), as decoded bytes in hex: whoever pasted one has no secret.
// TestDocumentedKeysRefused fails when README.md or the Dockerfile shows a key that
// production would accept.
var exampleSessionKeys = []string{}

// weakKey says why a session key cannot be a random secret, or "" when nothing shows it.
// The reasons never include the key's bytes. A random 32-byte key trips none of these
// checks except with negligible probability.
func weakKey(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	if slices.Contains(exampleSessionKeys, hex.EncodeToString(k)) {
		return "it is an example key from documentation"
	}
	var seen [256]bool
	distinct := 0
	for _, b := range k {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct == 1 {
		return "every byte is the same"
	}
	if distinct < 16 {
		return "it has too few distinct byte values"
	}
	for period := 1; period <= len(k)/2; period++ {
		if bytes.Equal(k[period:], k[:len(k)-period]) {
			return "it repeats a short pattern"
		}
	}
	step := k[1] - k[0]
	steady := true
	for i := 2; i < len(k) && steady; i++ {
		steady = k[i]-k[i-1] == step
	}
	if steady {
		return "its bytes count up or down in equal steps"
	}
	if !slices.ContainsFunc(k, func(b byte) bool { return b < 0x20 || b > 0x7e }) {
		return "it decodes to printable text (an encoded password), not random bytes"
	}
	return ""
}

func printUsage(w io.Writer, name string, all []setting) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nLatchkey, the self-hosted customer portal for smart locks.\n", name)
	fmt.Fprintf(w, "Every setting is an environment variable; the flag beside it overrides it.\n\n")
	for _, s := range all {
		def := s.def
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(w, "  %-28s --%-22s default %s\n      %s\n", s.env, s.flag, def, s.usage)
	}
}

// decodeKey accepts a key as standard or URL-safe base64 (padded or not) or hex, and
// requires at least 32 bytes of it.
func decodeKey(v string) ([]byte, error) {
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	for _, d := range decoders {
		if k, err := d(v); err == nil {
			if len(k) < 32 {
				return nil, fmt.Errorf("want at least 32 random bytes, got %d (generate one with: openssl rand -base64 32)", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("want base64 or hex (generate one with: openssl rand -base64 32)")
}

// redactURL shows a rejected URL without its password: a mistyped DATABASE_URL or
// base URL may carry credentials, and the error goes to logs.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "a value that is not a URL"
	}
	return strconv.Quote(u.Redacted())
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("want a port from 0 to 65535, got %q", port)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("want host:port, got %q", v)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
