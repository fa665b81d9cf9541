package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/static"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// App is a fully wired portal: its handler and everything it owns.
type App struct {
	cfg     *Config
	log     *slog.Logger
	db      *store.DB
	sandbox *sandbox.Sandbox
	// sandboxURL is the embedded sandbox's endpoint, when it runs.
	sandboxURL string
	sessions   *scs.SessionManager
	// saveSessions loads and saves the session around every dynamic page.
	saveSessions func(http.Handler) http.Handler
	// recheck re-checks a session at the IdP with its refresh token when due.
	recheck     func(http.Handler) http.Handler
	authMW      *auth.Middleware
	handlers    *handlers.Handlers
	follower    *locks.Follower
	hub         *events.Hub
	events      *events.Service
	static      *staticFiles
	csp         string
	metrics     *metrics.Metrics
	metricsAddr string
	handler     http.Handler
	closers     []func() error
	banner      []string
}

// NewApp builds the portal from cfg, starting the embedded stand-ins that cfg asks for
// (the dev IdP when OIDC_ISSUER is unset). Tests use it to run the whole portal
// in-process; Close releases everything.
func NewApp(ctx context.Context, cfg *Config, log *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, metrics: metrics.New()}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()

	a.db, err = store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	a.closers = append(a.closers, a.db.Close)

	h := &handlers.Handlers{
		Log:     log,
		Now:     time.Now,
		Store:   a.db,
		BaseURL: cfg.BaseURL.String(),
	}
	h.Health.Database = a.db
	h.Health.Writable = newCachedProbe(5*time.Second, func(ctx context.Context) error {
		return a.db.ProbeWrite(ctx, time.Now())
	}).run
	a.handlers = h
	if a.static, err = newStaticFiles(static.FS, h); err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	h.Assets = views.Assets{
		CSS:      a.static.URL("css/app.css"),
		HTMX:     a.static.URL("js/htmx.min.js"),
		SSE:      a.static.URL("js/htmx-ext-sse.min.js"),
		Connect:  a.static.URL("js/connect.js"),
		Icon:     a.static.URL("img/favicon.svg"),
		TimeZone: a.static.URL("js/timezone.js"),
		Scripts:  []string{a.static.URL("js/focus.js")},
	}

	sessionKey := cfg.SessionKey
	if len(sessionKey) == 0 {
		sessionKey = make([]byte, 32)
		_, _ = rand.Read(sessionKey)
		a.banner = append(a.banner, "SESSION_KEY is unset: a random key is used, so sign-ins last until the next start")
	}
	sessionError := func(w http.ResponseWriter, r *http.Request, err error) {
		h.ServeError(w, r, fmt.Errorf("session store: %w", err))
	}
	a.sessions = auth.NewSessionManager(a.db.Sessions(), auth.SessionConfig{
		Lifetime:  cfg.SessionLifetime,
		Secure:    cfg.HTTPS(),
		ErrorFunc: sessionError,
	})
	a.saveSessions = auth.SaveSessions(a.sessions, cfg.SessionIdleTimeout, time.Now, sessionError)
	h.Sessions = a.sessions
	a.authMW = &auth.Middleware{
		Sessions: a.sessions,
		Users:    a.db,
		Log:      log,
		Deny: func(w http.ResponseWriter, r *http.Request, status int) {
			h.ServeError(w, r, handlers.StatusError(status))
		},
		Audit:       h.Audit,
		ReauthAfter: cfg.UnlockReauthAfter,
		Now:         time.Now,
	}

	issuer, clientSecret := cfg.OIDCIssuer, cfg.OIDCClientSecret
	if cfg.DevIdP() {
		if issuer, clientSecret, err = a.startDevIdP(ctx); err != nil {
			return nil, err
		}
	}
	rp, err := auth.NewRP(ctx, auth.RPConfig{
		Issuer:             issuer,
		ClientID:           cfg.OIDCClientID,
		ClientSecret:       clientSecret,
		RedirectURL:        cfg.BaseURL.String() + "/auth/callback",
		PostLogoutURL:      cfg.BaseURL.String() + "/",
		AdminClaim:         cfg.OIDCAdminClaim,
		AdminEmails:        cfg.AdminEmails,
		SessionKey:         sessionKey,
		SessionKeyPrevious: cfg.SessionKeyPrevious,
		Secure:             cfg.HTTPS(),
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("OIDC: %w", err)
	}
	h.SignIn, h.LogoutTokens = rp, rp
	rc := &auth.Recheck{Sessions: a.sessions, Store: a.db, IdP: rp, Interval: cfg.OIDCRecheckInterval, Log: log, Now: time.Now}
	a.recheck = rc.Middleware

	seamEndpoint, seamKey := cfg.SeamEndpoint, cfg.SeamAPIKey
	if cfg.DevSeam() {
		if seamEndpoint, seamKey, err = a.startSandbox(ctx); err != nil {
			return nil, err
		}
	}
	// The app owns the Seam client's connections: they are closed at Close, before
	// the embedded sandbox stops (a connection a cancelled call left dialled would
	// otherwise hold the sandbox's shutdown).
	seamHTTP := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	a.closers = append(a.closers, func() error { seamHTTP.CloseIdleConnections(); return nil })
	client := seam.New(seamKey,
		seam.WithHTTPClient(seamHTTP),
		seam.WithEndpoint(seamEndpoint),
		seam.WithLogger(log.With("component", "seam")),
		seam.WithUserAgent("latchkey/"+version()),
		seam.WithObserver(a.metrics.SeamAttempt))
	guard := &locks.Guard{
		Store:              a.db,
		Log:                log,
		Now:                time.Now,
		SeamCalls:          cfg.SeamBudget,
		Webviews:           cfg.WebviewBudget,
		RefusalAuditWindow: cfg.RefusalAuditWindow,
		Metrics:            a.metrics,
	}
	h.Accounts = &accounts.Service{
		Guard: guard,
		Store: a.db,
		Seam: accounts.Seam{
			ClientSessions:    client.ClientSessions,
			ConnectWebviews:   client.ConnectWebviews,
			Devices:           client.Devices,
			ConnectedAccounts: client.ConnectedAccounts,
		},
		Log:     log,
		Now:     h.Now,
		BaseURL: cfg.BaseURL.String(),
	}
	h.Health.Seam = newCachedProbe(30*time.Second, seamReachable(client.Devices)).run
	h.Locks = &locks.Service{
		Store:             a.db,
		Seam:              locks.Seam{Devices: client.Devices, Locks: client.Locks, ActionAttempts: client.ActionAttempts, Events: client.Events, Updates: client.Devices},
		Log:               log,
		Now:               time.Now,
		ActionsPerMinute:  cfg.ActionsPerMinute,
		SeamTimeout:       cfg.SeamDeadline,
		SendTimeout:       cfg.ActionSendTimeout,
		SendBound:         cfg.ActionSendBound,
		PendingBound:      cfg.ActionPendingBound,
		Guard:             guard,
		Metrics:           a.metrics,
		Copy:              a.db,
		DeviceStateMaxAge: cfg.DeviceStateMaxAge,
	}
	h.Accounts.Devices = h.Locks
	// Live pages: changes fan out in process, or through PostgreSQL to every instance.
	var relay events.Relay
	if a.db.Shared() {
		relay = a.db
	}
	a.hub = events.NewHub(relay, log.With("component", "live"))
	h.Live, h.Locks.Changes, h.Accounts.Changes, h.SessionIdleTimeout = a.hub, a.hub, a.hub, cfg.SessionIdleTimeout
	h.SessionControl = &accounts.Sessions{
		Store: a.db,
		Log:   log,
		Now:   time.Now,
		// The ended sessions' open pages stop their live streams, on every instance.
		Ended: func(userID string, tokens []string) {
			for _, token := range tokens {
				a.hub.SessionEnded(userID, auth.TokenKey(token))
			}
		},
	}
	rc.Ended = func(userID, token string) { a.hub.SessionEnded(userID, auth.TokenKey(token)) }
	h.SupportContact, h.StreamHeartbeat = cfg.SupportContact, cfg.StreamHeartbeat
	if a.db.Shared() {
		lctx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
		listening := make(chan struct{})
		go func() { defer close(listening); a.db.Listen(lctx, a.hub.Deliver, a.hub.ResyncAll) }()
		a.closers = append(a.closers, func() error { stopListening(); <-listening; return nil })
	}
	// Seam's events: received by every instance, polled by one at a time when Seam
	// cannot reach the portal, applied once.
	a.events = &events.Service{
		Store:         a.db,
		Seam:          client.Events,
		Locks:         h.Locks,
		Log:           log.With("component", "events"),
		Now:           time.Now,
		WebhookSecret: cfg.SeamWebhookSecret,
		PollInterval:  cfg.EventsPollInterval,
		Instance:      rand.Text(),
		Hub:           a.hub,
	}
	if cfg.SeamWebhookSecret == "" && a.sandbox != nil {
		// Development: the embedded sandbox delivers its events to this portal, signed.
		if err := a.registerSandboxWebhook(ctx, client); err != nil {
			log.Warn("could not register for the sandbox's webhooks; polling its events instead", "error", err)
		}
	}
	if a.events.WebhookSecret != "" {
		h.Events = a.events
	}
	// Any instance's follower takes over the actions a dead instance left open. It
	// stops at Close, after the server drained its requests, not at the signal.
	a.follower = locks.NewFollower(h.Locks, locks.FollowerOptions{Interval: cfg.FollowInterval})
	a.follower.Start(context.WithoutCancel(ctx))
	a.closers = append(a.closers, a.sweepSessions(context.WithoutCancel(ctx), 10*time.Minute))
	a.events.Start(context.WithoutCancel(ctx))
	a.closers = append(a.closers, a.events.Close)
	a.closers = append(a.closers, func() error {
		// Actions being sent get their answers recorded first; then the follower stops.
		h.Locks.Wait()
		return a.follower.Close()
	})

	if err := a.startMetrics(ctx); err != nil {
		return nil, err
	}
	a.csp = contentSecurityPolicy([]string{origin(seamEndpoint)}, []string{rp.IssuerOrigin()})
	a.handler = a.routes()
	return a, nil
}

// BeginShutdown ends every live stream (with "sse-close"), so that the server's
// graceful shutdown is not held by them; web.Run registers it with the server.
func (a *App) BeginShutdown() { _ = a.hub.Close() }

// Handler is the portal's root handler.
func (a *App) Handler() http.Handler { return a.handler }

// DB is the portal's database (tests set up fixtures through it).
func (a *App) DB() *store.DB { return a.db }

// Sandbox is the embedded Seam sandbox, or nil when real Seam is configured.
func (a *App) Sandbox() *sandbox.Sandbox { return a.sandbox }

// SandboxURL is the embedded Seam sandbox's endpoint, or "" when real Seam is configured.
func (a *App) SandboxURL() string { return a.sandboxURL }

// Locks is the lock use cases the portal serves (tests drive them directly).
func (a *App) Locks() *locks.Service { return a.handlers.Locks }

// Follower is the action follower the app runs.
func (a *App) Follower() *locks.Follower { return a.follower }

// Close releases what the app owns, newest first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *App) printBanner(w io.Writer, addr string) {
	fmt.Fprintf(w, "\nLatchkey is running (%s) at %s\n", a.cfg.Env, a.cfg.BaseURL)
	if addr != a.cfg.Addr {
		fmt.Fprintf(w, "  listening on %s\n", addr)
	}
	for _, line := range a.banner {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w)
}

// origin is scheme://host of a URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// version is the module version the binary was built from, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// cachedProbe runs a readiness check at most once per ttl and otherwise repeats its
// last answer, so probes neither spend the Seam rate limit nor write the database on
// every call.
type cachedProbe struct {
	check func(context.Context) error
	ttl   time.Duration

	mu      sync.Mutex
	checked time.Time
	err     error
}

func newCachedProbe(ttl time.Duration, check func(context.Context) error) *cachedProbe {
	return &cachedProbe{check: check, ttl: ttl}
}

func (p *cachedProbe) run(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.checked.IsZero() && time.Since(p.checked) < p.ttl {
		return p.err
	}
	p.err = p.check(ctx)
	p.checked = time.Now()
	return p.err
}

// seamReachable asks Seam about a user key no one has: an empty answer proves the API
// and the key work.
func seamReachable(devices handlers.DeviceAPI) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: "latchkey-readiness-probe", Limit: 1})
		return err
	}
}

// sweepSessions deletes expired sessions every interval until the returned stop is
// called; any instance may do it, deleting twice is harmless.
func (a *App) sweepSessions(ctx context.Context, interval time.Duration) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, err := a.db.DeleteExpiredSessions(ctx, time.Now()); err != nil {
				a.log.WarnContext(ctx, "delete expired sessions", "error", err)
			} else if n > 0 {
				a.log.DebugContext(ctx, "deleted expired sessions", "count", n)
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		return nil
	}
}

// registerSandboxWebhook asks the embedded sandbox to deliver every event to this
// portal's /webhooks/seam, and verifies them with the secret it returns.
func (a *App) registerSandboxWebhook(ctx context.Context, client *seam.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	wh, err := client.Webhooks.Create(ctx, strings.TrimRight(a.cfg.BaseURL.String(), "/")+"/webhooks/seam")
	if err != nil {
		return err
	}
	a.events.WebhookSecret = wh.Secret
	a.banner = append(a.banner, "at the door:   "+a.sandbox.ControlURL()+" (lock by hand, take offline, drain the battery, disconnect)")
	return nil
}
