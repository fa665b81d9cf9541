package web

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/locks"
)

// Keys of known lengths, as an operator would paste them.
var (
	key32    = bytes.Repeat([]byte{0xA5}, 32)
	key32B64 = base64.StdEncoding.EncodeToString(key32)
	key32Hex = hex.EncodeToString(key32)
	key32URL = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xFB}, 32))
	key31B64 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5A}, 31))
	// Random keys (openssl rand), strong enough for production.
	prodKeyB64 = "l9B0kI+L9ZpuKRCp4QKUIfhZX6TarEK7I/b/4ZmJq/0="
	prodKeyHex = "259e03a99fbe376005c3d7395b1c7f419c5d0fbb29fd9b7f3a3e8678243af2eb"
)

// productionEnv is a complete, valid production configuration.
func productionEnv() map[string]string {
	return map[string]string{
		"LATCHKEY_ENV":       "production",
		"LATCHKEY_BASE_URL":  "https://locks.example.com",
		"SEAM_API_KEY":       "seam_live_prodkey",
		"OIDC_ISSUER":        "https://idp.example.com/realms/latchkey",
		"OIDC_CLIENT_SECRET": "oidc-prod-client-secret",
		"SESSION_KEY":        prodKeyB64,
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]string{"latchkey"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatalf("ParseConfig with no settings: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, "127.0.0.1:8080"},
		{"BaseURL", c.BaseURL.String(), "http://127.0.0.1:8080"},
		{"Env", c.Env, EnvDevelopment},
		{"LogFormat", c.LogFormat, "text"},
		{"LogLevel", c.LogLevel, "info"},
		{"DatabaseURL", c.DatabaseURL, "sqlite:data/latchkey.db"},
		{"TrustedProxies", len(c.TrustedProxies), 0},
		{"SeamEndpoint", c.SeamEndpoint, "https://connect.getseam.com"},
		{"OIDCClientID", c.OIDCClientID, "latchkey"},
		{"OIDCAdminClaim", c.OIDCAdminClaim, "groups=latchkey-admin"},
		{"SessionIdleTimeout", c.SessionIdleTimeout, 30 * time.Minute},
		{"SessionLifetime", c.SessionLifetime, 12 * time.Hour},
		{"ActionsPerMinute", c.ActionsPerMinute, 10},
		{"ShutdownTimeout", c.ShutdownTimeout, 20 * time.Second},
		{"DevIdPAddr", c.DevIdPAddr, "127.0.0.1:8081"},
		{"SandboxAddr", c.SandboxAddr, "127.0.0.1:8082"},
		{"SandboxActionDelay", c.SandboxActionDelay, 1500 * time.Millisecond},
		{"DevPassword", c.DevPassword, "latchkey"},
		{"MetricsAddr (off)", c.MetricsAddr, ""},
		{"DevSeam", c.DevSeam(), true},
		{"DevIdP", c.DevIdP(), true},
		{"HTTPS", c.HTTPS(), false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseConfigGoodValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(*Config) (got, want any)
	}{
		{"addr", map[string]string{"LATCHKEY_ADDR": "0.0.0.0:9000"},
			func(c *Config) (any, any) { return c.Addr, "0.0.0.0:9000" }},
		{"base URL defaults to http:// + addr", map[string]string{"LATCHKEY_ADDR": "localhost:9000"},
			func(c *Config) (any, any) { return c.BaseURL.String(), "http://localhost:9000" }},
		{"base URL trailing slash dropped", map[string]string{"LATCHKEY_BASE_URL": "https://portal.example.com/"},
			func(c *Config) (any, any) { return c.BaseURL.String(), "https://portal.example.com" }},
		{"base URL https", map[string]string{"LATCHKEY_BASE_URL": "https://portal.example.com:8443"},
			func(c *Config) (any, any) { return c.HTTPS(), true }},
		{"env production", productionEnv(),
			func(c *Config) (any, any) { return c.Env, EnvProduction }},
		{"log format json", map[string]string{"LOG_FORMAT": "json"},
			func(c *Config) (any, any) { return c.LogFormat, "json" }},
		{"log level debug", map[string]string{"LOG_LEVEL": "debug"},
			func(c *Config) (any, any) { return c.LogLevel, "debug" }},
		{"database url", map[string]string{"DATABASE_URL": "sqlite:/var/lib/latchkey/db.sqlite"},
			func(c *Config) (any, any) { return c.DatabaseURL, "sqlite:/var/lib/latchkey/db.sqlite" }},
		{"database url: postgresql", map[string]string{"DATABASE_URL": "postgresql://app:pw@db.internal:5432/latchkey?sslmode=verify-full"},
			func(c *Config) (any, any) {
				return c.DatabaseURL, "postgresql://app:pw@db.internal:5432/latchkey?sslmode=verify-full"
			}},
		{"trusted proxies allow public", map[string]string{"TRUSTED_PROXIES_ALLOW_PUBLIC": "true"},
			func(c *Config) (any, any) { return c.TrustedProxiesAllowPublic, true }},
		{"trusted proxies: CIDRs, bare addresses, masking", map[string]string{"TRUSTED_PROXIES": " 10.1.2.3/8, 192.168.1.7 ,::1,, fd00::/8"},
			func(c *Config) (any, any) {
				return c.TrustedProxies, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8")}
			}},
		{"seam api key turns the sandbox off", map[string]string{"SEAM_API_KEY": "seam_test_abc"},
			func(c *Config) (any, any) { return [2]any{c.SeamAPIKey, c.DevSeam()}, [2]any{"seam_test_abc", false} }},
		{"seam endpoint trailing slash dropped", map[string]string{"SEAM_ENDPOINT": "http://127.0.0.1:9999/"},
			func(c *Config) (any, any) { return c.SeamEndpoint, "http://127.0.0.1:9999" }},
		{"oidc issuer turns the dev IdP off", map[string]string{"OIDC_ISSUER": "https://idp.example.com/realms/x"},
			func(c *Config) (any, any) {
				return [2]any{c.OIDCIssuer, c.DevIdP()}, [2]any{"https://idp.example.com/realms/x", false}
			}},
		{"oidc client id", map[string]string{"OIDC_CLIENT_ID": "portal"},
			func(c *Config) (any, any) { return c.OIDCClientID, "portal" }},
		{"oidc client secret", map[string]string{"OIDC_CLIENT_SECRET": "s3cret"},
			func(c *Config) (any, any) { return c.OIDCClientSecret, "s3cret" }},
		{"oidc admin claim", map[string]string{"OIDC_ADMIN_CLAIM": "roles=portal-admin"},
			func(c *Config) (any, any) { return c.OIDCAdminClaim, "roles=portal-admin" }},
		{"admin emails lower-cased", map[string]string{"ADMIN_EMAILS": "Alice@Example.com, bob@example.com,"},
			func(c *Config) (any, any) { return c.AdminEmails, []string{"alice@example.com", "bob@example.com"} }},
		{"session key base64", map[string]string{"SESSION_KEY": key32B64},
			func(c *Config) (any, any) { return c.SessionKey, key32 }},
		{"session key hex", map[string]string{"SESSION_KEY": key32Hex},
			func(c *Config) (any, any) { return c.SessionKey, key32 }},
		{"session key raw URL base64", map[string]string{"SESSION_KEY": key32URL},
			func(c *Config) (any, any) { return c.SessionKey, bytes.Repeat([]byte{0xFB}, 32) }},
		{"session key previous", map[string]string{"SESSION_KEY": key32URL, "SESSION_KEY_PREVIOUS": key32Hex},
			func(c *Config) (any, any) { return c.SessionKeyPrevious, key32 }},
		{"session idle timeout", map[string]string{"SESSION_IDLE_TIMEOUT": "45m"},
			func(c *Config) (any, any) { return c.SessionIdleTimeout, 45 * time.Minute }},
		{"session lifetime", map[string]string{"SESSION_LIFETIME": "8h"},
			func(c *Config) (any, any) { return c.SessionLifetime, 8 * time.Hour }},
		{"actions per minute", map[string]string{"LATCHKEY_ACTIONS_PER_MINUTE": "25"},
			func(c *Config) (any, any) { return c.ActionsPerMinute, 25 }},
		{"shutdown timeout", map[string]string{"LATCHKEY_SHUTDOWN_TIMEOUT": "5s"},
			func(c *Config) (any, any) { return c.ShutdownTimeout, 5 * time.Second }},
		{"metrics addr", map[string]string{"LATCHKEY_METRICS_ADDR": "10.0.0.5:9090"},
			func(c *Config) (any, any) { return c.MetricsAddr, "10.0.0.5:9090" }},
		{"metrics addr any port", map[string]string{"LATCHKEY_METRICS_ADDR": "[::1]:0"},
			func(c *Config) (any, any) { return c.MetricsAddr, "[::1]:0" }},
		{"seam deadline", map[string]string{"LATCHKEY_SEAM_DEADLINE": "3s"},
			func(c *Config) (any, any) { return c.SeamDeadline, 3 * time.Second }},
		{"seam webhook secret", map[string]string{"SEAM_WEBHOOK_SECRET": "whsec_c2VjcmV0"},
			func(c *Config) (any, any) { return c.SeamWebhookSecret, "whsec_c2VjcmV0" }},
		{"events poll interval", map[string]string{"SEAM_EVENTS_POLL_INTERVAL": "30s"},
			func(c *Config) (any, any) { return c.EventsPollInterval, 30 * time.Second }},
		{"device state max age", map[string]string{"DEVICE_STATE_MAX_AGE": "2m"},
			func(c *Config) (any, any) { return c.DeviceStateMaxAge, 2 * time.Minute }},
		{"sandbox latency", map[string]string{"LATCHKEY_SANDBOX_LATENCY": "300ms"},
			func(c *Config) (any, any) { return c.SandboxLatency, 300 * time.Millisecond }},
		{"seam budget", map[string]string{"LATCHKEY_SEAM_BUDGET": "30/15s"},
			func(c *Config) (any, any) { return c.SeamBudget, locks.Budget{Limit: 30, Window: 15 * time.Second} }},
		{"webview budget", map[string]string{"LATCHKEY_WEBVIEW_BUDGET": "3/1h"},
			func(c *Config) (any, any) { return c.WebviewBudget, locks.Budget{Limit: 3, Window: time.Hour} }},
		{"refusal audit window", map[string]string{"LATCHKEY_REFUSAL_AUDIT_WINDOW": "5m"},
			func(c *Config) (any, any) { return c.RefusalAuditWindow, 5 * time.Minute }},
		{"action send bound", map[string]string{"LATCHKEY_ACTION_SEND_BOUND": "2s"},
			func(c *Config) (any, any) { return c.ActionSendBound, 2 * time.Second }},
		{"action send timeout", map[string]string{"LATCHKEY_ACTION_SEND_TIMEOUT": "7s"},
			func(c *Config) (any, any) { return c.ActionSendTimeout, 7 * time.Second }},
		{"action pending bound", map[string]string{"LATCHKEY_ACTION_PENDING_BOUND": "90s"},
			func(c *Config) (any, any) { return c.ActionPendingBound, 90 * time.Second }},
		{"follow interval", map[string]string{"LATCHKEY_FOLLOW_INTERVAL": "250ms"},
			func(c *Config) (any, any) { return c.FollowInterval, 250 * time.Millisecond }},
		{"dev idp addr", map[string]string{"LATCHKEY_DEV_IDP_ADDR": "127.0.0.1:0"},
			func(c *Config) (any, any) { return c.DevIdPAddr, "127.0.0.1:0" }},
		{"sandbox addr", map[string]string{"LATCHKEY_SANDBOX_ADDR": "[::1]:7000"},
			func(c *Config) (any, any) { return c.SandboxAddr, "[::1]:7000" }},
		{"sandbox action delay", map[string]string{"LATCHKEY_SANDBOX_ACTION_DELAY": "250ms"},
			func(c *Config) (any, any) { return c.SandboxActionDelay, 250 * time.Millisecond }},
		{"sandbox action delay zero", map[string]string{"LATCHKEY_SANDBOX_ACTION_DELAY": "0s"},
			func(c *Config) (any, any) { return c.SandboxActionDelay, time.Duration(0) }},
		{"seam sandbox api key", map[string]string{"SEAM_SANDBOX_API_KEY": "sandbox-key"},
			func(c *Config) (any, any) { return c.SeamSandboxAPIKey, "sandbox-key" }},
		{"stream heartbeat", map[string]string{"LATCHKEY_STREAM_HEARTBEAT": "5s"},
			func(c *Config) (any, any) { return c.StreamHeartbeat, 5 * time.Second }},
		{"support contact", map[string]string{"LATCHKEY_SUPPORT_CONTACT": "support@example.com"},
			func(c *Config) (any, any) { return c.SupportContact, "support@example.com" }},
		{"unlock reauth", map[string]string{"UNLOCK_REAUTH_AFTER": "10m"},
			func(c *Config) (any, any) { return c.UnlockReauthAfter, 10 * time.Minute }},
		{"unlock reauth off", map[string]string{"UNLOCK_REAUTH_AFTER": "0"},
			func(c *Config) (any, any) { return c.UnlockReauthAfter, time.Duration(0) }},
		{"oidc recheck interval", map[string]string{"OIDC_RECHECK_INTERVAL": "5m"},
			func(c *Config) (any, any) { return c.OIDCRecheckInterval, 5 * time.Minute }},
		{"dev password", map[string]string{"DEV_PASSWORD": "hunter2"},
			func(c *Config) (any, any) { return c.DevPassword, "hunter2" }},
		{"surrounding white space trimmed", map[string]string{"LOG_LEVEL": "  warn\n"},
			func(c *Config) (any, any) { return c.LogLevel, "warn" }},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		for k := range tt.env {
			covered[k] = true
		}
	}
	for _, s := range settings() {
		if !covered[s.env] {
			t.Errorf("no good-value case sets %s", s.env)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]string{"latchkey"}, envFrom(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("ParseConfig(%v): %v", tt.env, err)
			}
			if got, want := tt.check(c); !equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// equal compares the few kinds of value TestParseConfigGoodValues checks.
func equal(got, want any) bool {
	switch g := got.(type) {
	case []byte:
		return bytes.Equal(g, want.([]byte))
	case []string:
		return slices.Equal(g, want.([]string))
	case []netip.Prefix:
		return slices.Equal(g, want.([]netip.Prefix))
	}
	return got == want
}

// Secrets set alongside every bad value: whatever goes wrong, they must not be echoed.
var backgroundSecrets = map[string]string{
	"SEAM_API_KEY":         "seam_bg_secret_1111",
	"OIDC_CLIENT_SECRET":   "oidc_bg_secret_2222",
	"SEAM_SANDBOX_API_KEY": "sandbox_bg_secret_3333",
	"DEV_PASSWORD":         "devpw_bg_secret_4444",
}

func TestParseConfigBadValues(t *testing.T) {
	tests := []struct {
		variable string // named at the start of the error
		value    string
		args     []string // flags, for values the environment cannot express
		extra    map[string]string
	}{
		{variable: "LATCHKEY_ADDR", value: "8080"},
		{variable: "LATCHKEY_ADDR", value: "127.0.0.1:99999"},
		{variable: "LATCHKEY_ADDR", value: "127.0.0.1:http"},
		{variable: "LATCHKEY_ADDR", value: "a b:80"},
		{variable: "LATCHKEY_BASE_URL", value: "portal.example.com"},
		{variable: "LATCHKEY_BASE_URL", value: "ftp://portal.example.com"},
		{variable: "LATCHKEY_BASE_URL", value: "https://portal.example.com/app"},
		{variable: "LATCHKEY_BASE_URL", value: "https://portal.example.com/?x=1"},
		{variable: "LATCHKEY_BASE_URL", value: "https://portal.example.com/#top"},
		{variable: "LATCHKEY_ENV", value: "staging"},
		{variable: "LOG_FORMAT", value: "xml"},
		{variable: "LOG_LEVEL", value: "trace"},
		{variable: "DATABASE_URL", value: "data/latchkey.db"},
		{variable: "DATABASE_URL", value: "sqlite:"},
		{variable: "DATABASE_URL", value: "postgres://[::1/latchkey"},
		{variable: "TRUSTED_PROXIES", value: "10.0.0.0/33"},
		{variable: "TRUSTED_PROXIES", value: "10.0.0.0/8,proxy.internal"},
		{variable: "SEAM_ENDPOINT", value: "connect.getseam.com"},
		{variable: "SEAM_ENDPOINT", value: "ftp://connect.getseam.com"},
		{variable: "OIDC_ISSUER", value: "idp.example.com"},
		{variable: "OIDC_CLIENT_ID", args: []string{"--oidc-client-id="}, extra: map[string]string{"OIDC_ISSUER": "https://idp.example.com"}},
		{variable: "OIDC_ADMIN_CLAIM", value: "groups"},
		{variable: "OIDC_ADMIN_CLAIM", value: "=admin"},
		{variable: "OIDC_ADMIN_CLAIM", value: "groups= "},
		{variable: "ADMIN_EMAILS", value: "alice"},
		{variable: "ADMIN_EMAILS", value: "alice@example.com,Bob <bob@example.com>"},
		{variable: "SESSION_KEY", value: "not a key!"},
		{variable: "SESSION_KEY", value: key31B64},
		{variable: "SESSION_KEY_PREVIOUS", value: key31B64, extra: map[string]string{"SESSION_KEY": key32B64}},
		{variable: "SESSION_KEY_PREVIOUS", value: key32B64},
		{variable: "SESSION_IDLE_TIMEOUT", value: "30"},
		{variable: "SESSION_IDLE_TIMEOUT", value: "-5m"},
		{variable: "SESSION_IDLE_TIMEOUT", value: "0s"},
		{variable: "SESSION_LIFETIME", value: "forever"},
		// Idle longer than the lifetime is refused in every environment.
		{variable: "SESSION_IDLE_TIMEOUT", value: "13h"},
		{variable: "SESSION_IDLE_TIMEOUT", value: "2h", extra: map[string]string{"SESSION_LIFETIME": "1h"}},
		{variable: "TRUSTED_PROXIES_ALLOW_PUBLIC", value: "yes please"},
		{variable: "LATCHKEY_ACTIONS_PER_MINUTE", value: "0"},
		{variable: "LATCHKEY_ACTIONS_PER_MINUTE", value: "10001"},
		{variable: "LATCHKEY_ACTIONS_PER_MINUTE", value: "ten"},
		{variable: "LATCHKEY_SHUTDOWN_TIMEOUT", value: "soon"},
		{variable: "LATCHKEY_SUPPORT_CONTACT", value: strings.Repeat("x", 201)},
		{variable: "LATCHKEY_STREAM_HEARTBEAT", value: "500ms"},
		{variable: "LATCHKEY_STREAM_HEARTBEAT", value: "2m"},
		{variable: "LATCHKEY_STREAM_HEARTBEAT", value: "often"},
		{variable: "UNLOCK_REAUTH_AFTER", value: "-1m"},
		{variable: "UNLOCK_REAUTH_AFTER", value: "soon"},
		{variable: "OIDC_RECHECK_INTERVAL", value: "0"},
		{variable: "LATCHKEY_METRICS_ADDR", value: "9090"},
		{variable: "LATCHKEY_METRICS_ADDR", value: "127.0.0.1:99999"},
		{variable: "LATCHKEY_METRICS_ADDR", value: "http://127.0.0.1:9090/metrics"},
		{variable: "LATCHKEY_ACTION_SEND_TIMEOUT", value: "0s"},
		{variable: "LATCHKEY_SEAM_DEADLINE", value: "-5s"},
		{variable: "LATCHKEY_SEAM_BUDGET", value: "20"},
		{variable: "SEAM_WEBHOOK_SECRET", value: "not-a-secret"},
		{variable: "LATCHKEY_SANDBOX_LATENCY", value: "-1s"},
		{variable: "LATCHKEY_SEAM_BUDGET", value: "0/10s"},
		{variable: "LATCHKEY_WEBVIEW_BUDGET", value: "5/never"},
		{variable: "LATCHKEY_ACTION_SEND_BOUND", value: "soon"},
		{variable: "LATCHKEY_ACTION_PENDING_BOUND", value: "-1m"},
		{variable: "LATCHKEY_FOLLOW_INTERVAL", value: "often"},
		{variable: "LATCHKEY_DEV_IDP_ADDR", value: "8081"},
		{variable: "LATCHKEY_SANDBOX_ADDR", value: "sandbox"},
		{variable: "LATCHKEY_SANDBOX_ACTION_DELAY", value: "-1s"},
		{variable: "LATCHKEY_SANDBOX_ACTION_DELAY", value: "2h"},
		{variable: "LATCHKEY_SANDBOX_ACTION_DELAY", value: "slow"},
		{variable: "DEV_PASSWORD", args: []string{"--dev-password="}},
		// A bad flag value is reported under the variable it mirrors.
		{variable: "LOG_LEVEL", args: []string{"--log-level", "loud"}},
		{variable: "command line", args: []string{"--no-such-flag"}},
		{variable: "command line", args: []string{"serve"}},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value+strings.Join(tt.args, " "), func(t *testing.T) {
			env := maps.Clone(backgroundSecrets)
			maps.Copy(env, tt.extra)
			if tt.value != "" {
				env[tt.variable] = tt.value
			}
			var usage bytes.Buffer
			c, err := ParseConfig(append([]string{"latchkey"}, tt.args...), envFrom(env), &usage)
			if err == nil {
				t.Fatalf("ParseConfig accepted %s=%q %v: %+v", tt.variable, tt.value, tt.args, c)
			}
			msg := err.Error()
			if errors.Is(err, ErrHelp) {
				t.Fatalf("error is ErrHelp: %v", err)
			}
			if !strings.HasPrefix(msg, tt.variable+": ") {
				t.Errorf("error %q does not start with %q", msg, tt.variable+": ")
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for name, secret := range backgroundSecrets {
				if strings.Contains(msg, secret) {
					t.Errorf("error echoes %s: %q", name, msg)
				}
			}
			if usage.Len() > 0 {
				t.Errorf("a bad value printed the usage:\n%s", usage.String())
			}
		})
	}
}

func TestParseConfigFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{
		"LATCHKEY_ADDR":        "127.0.0.1:1111",
		"LOG_LEVEL":            "error",
		"SESSION_IDLE_TIMEOUT": "not even a duration", // overridden, so never parsed
	}
	args := []string{"latchkey", "--addr", "127.0.0.1:2222", "-log-level=debug", "--session-idle-timeout=5m"}
	c, err := ParseConfig(args, envFrom(env), io.Discard)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if c.Addr != "127.0.0.1:2222" || c.LogLevel != "debug" || c.SessionIdleTimeout != 5*time.Minute {
		t.Errorf("flags did not override the environment: addr %s, log level %s, idle timeout %s",
			c.Addr, c.LogLevel, c.SessionIdleTimeout)
	}
	if got := c.BaseURL.String(); got != "http://127.0.0.1:2222" {
		t.Errorf("base URL = %s, want it derived from the --addr flag", got)
	}
}

func TestParseConfigHelp(t *testing.T) {
	// The list DESIGN.md promises, plus the two dev-mode addresses.
	documented := []string{
		"LATCHKEY_ADDR", "LATCHKEY_BASE_URL", "LATCHKEY_ENV", "LOG_FORMAT", "LOG_LEVEL", "DATABASE_URL",
		"TRUSTED_PROXIES", "SEAM_API_KEY", "SEAM_ENDPOINT", "OIDC_ISSUER", "OIDC_CLIENT_ID",
		"OIDC_CLIENT_SECRET", "OIDC_ADMIN_CLAIM", "ADMIN_EMAILS", "SESSION_KEY", "SESSION_KEY_PREVIOUS",
		"SESSION_IDLE_TIMEOUT", "SESSION_LIFETIME", "LATCHKEY_ACTIONS_PER_MINUTE", "LATCHKEY_SHUTDOWN_TIMEOUT",
		"LATCHKEY_SEAM_DEADLINE", "SEAM_WEBHOOK_SECRET", "SEAM_EVENTS_POLL_INTERVAL", "DEVICE_STATE_MAX_AGE", "LATCHKEY_SEAM_BUDGET", "LATCHKEY_WEBVIEW_BUDGET", "LATCHKEY_REFUSAL_AUDIT_WINDOW",
		"LATCHKEY_ACTION_SEND_BOUND", "LATCHKEY_ACTION_SEND_TIMEOUT", "LATCHKEY_ACTION_PENDING_BOUND", "LATCHKEY_FOLLOW_INTERVAL",
		"LATCHKEY_DEV_IDP_ADDR", "LATCHKEY_SANDBOX_ADDR", "LATCHKEY_SANDBOX_ACTION_DELAY", "LATCHKEY_SANDBOX_LATENCY", "SEAM_SANDBOX_API_KEY",
		"DEV_PASSWORD", "LATCHKEY_METRICS_ADDR", "LATCHKEY_SUPPORT_CONTACT", "LATCHKEY_STREAM_HEARTBEAT",
		"UNLOCK_REAUTH_AFTER", "OIDC_RECHECK_INTERVAL",
	}
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			var usage bytes.Buffer
			// The secrets set here must not show up as "defaults" in the help.
			c, err := ParseConfig([]string{"latchkey", arg}, envFrom(backgroundSecrets), &usage)
			if !errors.Is(err, ErrHelp) {
				t.Fatalf("ParseConfig(%s) = %v, %v; want ErrHelp", arg, c, err)
			}
			out := usage.String()
			for _, name := range documented {
				if !strings.Contains(out, name) {
					t.Errorf("--help does not list %s", name)
				}
			}
			for _, s := range settings() {
				if !strings.Contains(out, "--"+s.flag) {
					t.Errorf("--help does not list the flag --%s", s.flag)
				}
			}
			for name, secret := range backgroundSecrets {
				if strings.Contains(out, secret) {
					t.Errorf("--help prints the value of %s", name)
				}
			}
		})
	}
}

func TestParseConfigProduction(t *testing.T) {
	t.Run("a full set is accepted", func(t *testing.T) {
		c, err := ParseConfig([]string{"latchkey"}, envFrom(productionEnv()), io.Discard)
		if err != nil {
			t.Fatalf("ParseConfig: %v", err)
		}
		if c.DevSeam() || c.DevIdP() || !c.HTTPS() {
			t.Errorf("production config: DevSeam %v, DevIdP %v, HTTPS %v", c.DevSeam(), c.DevIdP(), c.HTTPS())
		}
	})
	tests := []struct {
		variable string
		value    string // "" removes it
	}{
		{"SEAM_API_KEY", ""},
		{"OIDC_ISSUER", ""},
		{"OIDC_CLIENT_SECRET", ""},
		{"SESSION_KEY", ""},
		{"LATCHKEY_BASE_URL", ""}, // the default, http:// + LATCHKEY_ADDR
		{"LATCHKEY_BASE_URL", "http://locks.example.com"},
		{"SESSION_KEY", key31B64},
		// Secrets over plain HTTP.
		{variable: "OIDC_ISSUER", value: "http://idp.example.com/realms/latchkey"},
		{variable: "SEAM_ENDPOINT", value: "http://connect.getseam.com"},
		// Proxies wider than the private ranges.
		{variable: "TRUSTED_PROXIES", value: "0.0.0.0/0"},
		{variable: "TRUSTED_PROXIES", value: "::/0"},
		{variable: "TRUSTED_PROXIES", value: "10.0.0.0/8,203.0.113.7"},
		{variable: "TRUSTED_PROXIES", value: "10.0.0.0/7"},     // contains 10/8 and more
		{variable: "TRUSTED_PROXIES", value: "172.16.0.0/11"},  // wider than 172.16/12
		{variable: "TRUSTED_PROXIES", value: "::ffff:0:0/96"},  // every IPv4 address, mapped
		{variable: "TRUSTED_PROXIES", value: "fe80::/10"},      // link-local is not in the list
		{variable: "TRUSTED_PROXIES", value: "2001:db8::/32"},  // public IPv6
		{variable: "TRUSTED_PROXIES", value: "100.64.0.0/10"},  // carrier-grade NAT
		{variable: "TRUSTED_PROXIES", value: "192.168.0.0/15"}, // wider than 192.168/16
		// Session keys with too little entropy.
		{variable: "SESSION_KEY", value: base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{variable: "SESSION_KEY", value: key32B64},
		{variable: "SESSION_KEY", value: hex.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 2))},
		{variable: "SESSION_KEY", value: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3))},
		{variable: "SESSION_KEY", value: hex.EncodeToString(sequence(0, 32))},
		{variable: "SESSION_KEY", value: hex.EncodeToString(sequence(200, 48))},
		{variable: "SESSION_KEY", value: base64.StdEncoding.EncodeToString([]byte("correct horse battery staple, twice"))},
		{variable: "SESSION_KEY", value: hex.EncodeToString(append(bytes.Repeat([]byte{7, 9}, 15), 1, 2))},
		{variable: "SESSION_KEY_PREVIOUS", value: key32Hex},
		{variable: "SESSION_KEY_PREVIOUS", value: base64.StdEncoding.EncodeToString([]byte("the old password was this text!!"))},
		// Session timeouts.
		{variable: "SESSION_IDLE_TIMEOUT", value: "8760h"}, // a year, with a lifetime to match
		{variable: "SESSION_IDLE_TIMEOUT", value: "24h1s"},
		{variable: "SESSION_LIFETIME", value: "721h"},
		{variable: "SESSION_IDLE_TIMEOUT", value: "13h"}, // above the default 12h lifetime
	}
	secrets := []string{"seam_live_prodkey", "oidc-prod-client-secret", prodKeyB64}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			env := productionEnv()
			if tt.value == "" {
				delete(env, tt.variable)
			} else {
				env[tt.variable] = tt.value
			}
			if tt.value == "8760h" {
				env["SESSION_LIFETIME"] = "8760h" // so the idle bound, not idle > lifetime, refuses it
			}
			c, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard)
			if err == nil {
				t.Fatalf("production started with %s=%q: %+v", tt.variable, tt.value, c)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.variable+": ") || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q: want one line starting with %q", msg, tt.variable+": ")
			}
			for _, s := range append(secrets, env["SESSION_KEY"], env["SESSION_KEY_PREVIOUS"]) {
				if s != "" && strings.Contains(msg, s) {
					t.Errorf("error echoes a secret: %q", msg)
				}
			}
		})
	}
}

// sequence is n bytes counting up from start (wrapping at 256).
func sequence(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// TestParseConfigProductionAccepts: what production must still accept — proxies inside
// the private ranges, public ones with the explicit override, random keys in every
// encoding, and the largest timeouts allowed.
func TestParseConfigProductionAccepts(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"private proxies", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.1, fc00::/7, ::1, fd12:3456::/32, 172.31.255.254, ::ffff:10.1.2.3"}},
		{"public proxies with the override", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0,203.0.113.0/24", "TRUSTED_PROXIES_ALLOW_PUBLIC": "true"}},
		{"hex key and a previous key", map[string]string{"SESSION_KEY": prodKeyHex, "SESSION_KEY_PREVIOUS": prodKeyB64}},
		{"longest timeouts", map[string]string{"SESSION_IDLE_TIMEOUT": "24h", "SESSION_LIFETIME": "720h"}},
		{"issuer with an upper-case scheme", map[string]string{"OIDC_ISSUER": "HTTPS://idp.example.com/realms/latchkey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := productionEnv()
			maps.Copy(env, tt.env)
			if _, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard); err != nil {
				t.Fatalf("production refused %v: %v", tt.env, err)
			}
		})
	}
	t.Run("random keys pass the entropy checks", func(t *testing.T) {
		for range 2000 {
			k := make([]byte, 32)
			_, _ = rand.Read(k)
			if why := weakKey(k); why != "" {
				t.Fatalf("a random key was called weak: %s", why)
			}
		}
	})
	t.Run("development keeps test keys and public proxies", func(t *testing.T) {
		env := map[string]string{"SESSION_KEY": key32B64, "TRUSTED_PROXIES": "0.0.0.0/0", "OIDC_ISSUER": "http://127.0.0.1:9/"}
		if _, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard); err != nil {
			t.Fatalf("development refused %v: %v", env, err)
		}
	})
}

// keyLike finds what could be a pasted session key in text: a run of base64 or hex
// characters that decodes to 32 bytes or more.
var keyLike = regexp.MustCompile(`[A-Za-z0-9+/_-]{43,}={0,2}`)

func documentedKeys(text string) [][]byte {
	var keys [][]byte
	for _, m := range keyLike.FindAllString(text, -1) {
		if k, err := decodeKey(m); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestDocumentedKeysRefused: a key shown in the README or the Dockerfile is an example
// everyone can read; production must refuse it (add it to exampleSessionKeys).
func TestDocumentedKeysRefused(t *testing.T) {
	t.Run("the scan finds keys", func(t *testing.T) {
		text := "set SESSION_KEY=" + prodKeyB64 + " or SESSION_KEY=" + prodKeyHex + " (not keys: " + strings.Repeat("ab.", 20) + " " + strings.Repeat("x", 42) + ")"
		if got := documentedKeys(text); len(got) != 2 {
			t.Fatalf("found %d keys in %q, want 2", len(got), text)
		}
	})
	for _, doc := range []string{"../README.md", "../Dockerfile"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range documentedKeys(string(b)) {
			env := productionEnv()
			env["SESSION_KEY"] = hex.EncodeToString(k)
			if _, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard); err == nil {
				t.Errorf("%s shows a session key that production accepts; add it to exampleSessionKeys", doc)
			}
		}
	}
	t.Run("a listed example is refused", func(t *testing.T) {
		k, _ := hex.DecodeString(prodKeyHex)
		saved := exampleSessionKeys
		t.Cleanup(func() { exampleSessionKeys = saved })
		exampleSessionKeys = append(slices.Clone(saved), prodKeyHex)
		if why := weakKey(k); why == "" {
			t.Fatal("a listed example key was accepted")
		}
		env := productionEnv()
		env["SESSION_KEY"] = prodKeyHex
		_, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "SESSION_KEY: ") || strings.Contains(err.Error(), prodKeyHex) {
			t.Fatalf("err = %v, want a SESSION_KEY error that does not echo the key", err)
		}
	})
}

func TestParseConfigSessionKeyLength(t *testing.T) {
	tests := []struct {
		name  string
		key   []byte
		valid bool
	}{
		{"16 bytes", bytes.Repeat([]byte{1}, 16), false},
		{"31 bytes", bytes.Repeat([]byte{1}, 31), false},
		{"32 bytes", bytes.Repeat([]byte{1}, 32), true},
		{"64 bytes", bytes.Repeat([]byte{1}, 64), true},
	}
	encodings := map[string]func([]byte) string{
		"hex":                 hex.EncodeToString,
		"base64":              base64.StdEncoding.EncodeToString,
		"base64 URL unpadded": base64.RawURLEncoding.EncodeToString,
	}
	for _, tt := range tests {
		for encName, enc := range encodings {
			t.Run(tt.name+" "+encName, func(t *testing.T) {
				v := enc(tt.key)
				c, err := ParseConfig([]string{"latchkey"}, envFrom(map[string]string{"SESSION_KEY": v}), io.Discard)
				if tt.valid {
					if err != nil {
						t.Fatalf("refused a %s key: %v", tt.name, err)
					}
					if !bytes.Equal(c.SessionKey, tt.key) {
						t.Errorf("SessionKey = %x, want %x", c.SessionKey, tt.key)
					}
					return
				}
				if err == nil || !strings.HasPrefix(err.Error(), "SESSION_KEY: ") {
					t.Fatalf("err = %v, want a SESSION_KEY error", err)
				}
				if strings.Contains(err.Error(), v) {
					t.Errorf("error echoes the key: %q", err)
				}
			})
		}
	}
}

func TestParseConfigDoesNotEchoMalformedSecrets(t *testing.T) {
	// Typos in a pasted secret still carry most of the secret.
	tests := []struct{ variable, value string }{
		{"SESSION_KEY", "Zm9vYmFyYmF6cXV4!!c2VjcmV0c2VjcmV0c2VjcmV0"},
		{"SESSION_KEY", key32B64[:40] + "*" + key32B64[41:]},
		{"SESSION_KEY_PREVIOUS", "hunter2-not-base64-secret-value!!"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			env := map[string]string{"SESSION_KEY": key32Hex}
			env[tt.variable] = tt.value
			_, err := ParseConfig([]string{"latchkey"}, envFrom(env), io.Discard)
			if err == nil {
				t.Fatalf("accepted malformed %s", tt.variable)
			}
			if strings.Contains(err.Error(), tt.value) || strings.Contains(err.Error(), tt.value[:12]) {
				t.Errorf("error echoes the secret: %q", err)
			}
		})
	}
}

func TestParseConfigDoesNotEchoURLCredentials(t *testing.T) {
	tests := []struct{ variable, value string }{
		{"DATABASE_URL", "mysql://latchkey:db-pa55word@db.internal/latchkey"},
		{"LATCHKEY_BASE_URL", "https://admin:base-pa55word@portal.example.com"},
		{"OIDC_ISSUER", "mailto://admin:issuer-pa55word@idp.example.com"},
		{"SEAM_ENDPOINT", "ftp://admin:seam-pa55word@connect.getseam.com"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := ParseConfig([]string{"latchkey"}, envFrom(map[string]string{tt.variable: tt.value}), io.Discard)
			if err == nil {
				t.Fatalf("accepted %s=%q", tt.variable, tt.value)
			}
			if !strings.HasPrefix(err.Error(), tt.variable+": ") {
				t.Errorf("error %q does not name %s", err, tt.variable)
			}
			if strings.Contains(err.Error(), "pa55word") {
				t.Errorf("error echoes the password: %q", err)
			}
		})
	}
}

func TestParseConfigBaseURLFromAddr(t *testing.T) {
	tests := []struct{ addr, want, wantErr string }{
		{addr: "127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{addr: ":8080", want: "http://127.0.0.1:8080"},
		{addr: "0.0.0.0:9000", want: "http://127.0.0.1:9000"},
		{addr: "[::]:9000", want: "http://127.0.0.1:9000"},
		{addr: "127.0.0.1:0", wantErr: "LATCHKEY_BASE_URL: required"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			cfg, err := ParseConfig([]string{"latchkey"}, envFrom(map[string]string{"LATCHKEY_ADDR": tt.addr}), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.BaseURL.String(); got != tt.want {
				t.Errorf("base URL %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseConfigAdminClaimNoneDisables(t *testing.T) {
	cfg, err := ParseConfig([]string{"latchkey"}, envFrom(map[string]string{"OIDC_ADMIN_CLAIM": "none"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCAdminClaim != "" {
		t.Errorf("OIDC_ADMIN_CLAIM=none gave %q, want it disabled", cfg.OIDCAdminClaim)
	}
}
