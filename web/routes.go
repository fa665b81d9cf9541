package web

import (
	"net/http"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/handlers"
)

// routes is THE route table: every URL of the product, with its middleware.
func (a *App) routes() http.Handler {
	h := a.handlers
	mux := http.NewServeMux()

	// Named middleware chains: dynamic pages know the session (re-checked at the IdP
	// every OIDC_RECHECK_INTERVAL when it holds a refresh token) and the signed-in user;
	// protected ones require a user; admin ones an admin.
	dynamic := func(hf handlers.Func) http.Handler {
		return chain(h.Handle(hf), a.saveSessions, a.recheck, a.authMW.LoadUser)
	}
	protected := func(hf handlers.Func) http.Handler {
		return chain(h.Handle(hf), a.saveSessions, a.recheck, a.authMW.LoadUser, a.authMW.RequireUser)
	}
	stepUp := func(hf handlers.Func) http.Handler {
		return chain(h.Handle(hf), a.saveSessions, a.recheck, a.authMW.LoadUser, a.authMW.RequireUser, a.authMW.RequireRecentAuth)
	}
	admin := func(hf handlers.Func) http.Handler {
		return chain(h.Handle(hf), a.saveSessions, a.recheck, a.authMW.LoadUser, a.authMW.RequireUser, a.authMW.RequireAdmin)
	}

	// Public, no session.
	mux.HandleFunc("GET /healthz", h.Healthz)
	mux.HandleFunc("GET /readyz", h.Readyz)
	mux.Handle("GET /static/", a.static)
	mux.Handle("GET /favicon.ico", a.static.File("img/favicon.ico"))

	// Seam's signed events (Svix); no session, no page.
	mux.HandleFunc("POST /webhooks/seam", h.SeamWebhook)

	// Sign-in.
	mux.Handle("GET /{$}", dynamic(h.Landing))
	mux.Handle("GET /login", dynamic(h.Login))
	mux.Handle("GET /auth/callback", dynamic(h.Callback))
	mux.Handle("POST /logout", dynamic(h.Logout))
	// The IdP's server-to-server logout (signed logout token); no session, no page.
	mux.HandleFunc("POST /auth/backchannel-logout", h.BackchannelLogout)

	// Devices: every route re-checks ownership (DESIGN.md, "Ownership").
	mux.Handle("GET /devices", protected(h.Devices))
	mux.Handle("GET /devices/{id}", protected(h.Device))
	// Unlocking asks for a recent sign-in at the IdP (UNLOCK_REAUTH_AFTER); locking does not.
	mux.Handle("GET /devices/{id}/unlock", stepUp(h.ConfirmUnlock))
	mux.Handle("POST /devices/{id}/unlock", stepUp(h.Unlock))
	mux.Handle("POST /devices/{id}/lock", protected(h.Lock))
	mux.Handle("GET /devices/{id}/actions/{attempt}", protected(h.ActionStatus))
	mux.Handle("POST /devices/{id}/rename", protected(h.RenameDevice))

	// The user's lock accounts: status, reconnect, remove (confirmation page first).
	mux.Handle("GET /accounts", protected(h.AccountsIndex))
	mux.Handle("POST /accounts/{id}/reconnect", protected(h.ReconnectAccount))
	mux.Handle("GET /accounts/{id}/remove", protected(h.ConfirmRemoveAccount))
	mux.Handle("POST /accounts/{id}/remove", protected(h.RemoveAccount))

	// Connecting lock accounts through a Seam Connect Webview.
	mux.Handle("GET /connect", protected(h.ConnectIndex))
	mux.Handle("POST /connect", protected(h.StartConnect))
	mux.Handle("GET /connect/return", protected(h.ConnectReturn))
	mux.Handle("GET /connect/{webview}", protected(h.ConnectWebview))
	mux.Handle("GET /connect/{webview}/status", protected(h.ConnectStatus))

	// The page's live stream: read the session, never save it, never redirect.
	mux.Handle("GET /events", chain(http.HandlerFunc(h.LiveEvents), auth.ReadSession(a.sessions), a.authMW.LoadUser))

	// The user's own audit trail.
	mux.Handle("GET /activity", protected(h.Activity))
	mux.Handle("GET /activity.csv", protected(h.ExportActivityCSV))

	// The user's settings: the time zone pages show times in (also reported by the
	// browser's script, once).
	mux.Handle("GET /settings", protected(h.Settings))
	mux.Handle("POST /settings/timezone", protected(h.SetTimeZone))

	// The user's sessions, named by public id (never the token: paths are logged).
	mux.Handle("GET /sessions", protected(h.SessionsPage))
	mux.Handle("POST /sessions/end-others", protected(h.EndOtherSessions))
	mux.Handle("POST /sessions/{id}/end", protected(h.EndSession))

	// Admin pages: customers' devices read-only; their sessions and access.
	mux.Handle("GET /admin/users", admin(h.AdminUsers))
	mux.Handle("GET /admin/users/{id}", admin(h.AdminUser))
	mux.Handle("GET /admin/users/{id}/activity.csv", admin(h.AdminExportActivityCSV))
	mux.Handle("GET /admin/users/{id}/activity.jsonl", admin(h.AdminExportActivityJSONL))
	mux.Handle("POST /admin/users/{id}/end-sessions", admin(h.AdminEndSessions))
	mux.Handle("GET /admin/users/{id}/disable", admin(h.ConfirmDisableUser))
	mux.Handle("POST /admin/users/{id}/disable", admin(h.DisableUser))
	mux.Handle("POST /admin/users/{id}/enable", admin(h.EnableUser))

	outer := []middleware{
		a.metrics.Middleware,
		realIP(a.cfg.TrustedProxies),
		accessLog(a.log),
		seamDeadline(a.cfg.SeamDeadline),
		recoverPanics(a.log, h),
		securityHeaders(a.csp, a.cfg.HTTPS()),
	}
	if a.cfg.Env == EnvDevelopment {
		outer = append(outer, canonicalHost(a.cfg.BaseURL))
	}
	outer = append(outer, limitBody, crossOrigin(h, a.log))
	return chain(a.metrics.RoutePattern(withErrorPages(mux, h)), outer...)
}

// withErrorPages renders the router's own 404 and 405 answers as HTML pages; ServeMux
// would otherwise write plain text.
func withErrorPages(mux *http.ServeMux, h *handlers.Handlers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route matched: ask the mux what it would answer (404, or 405 with Allow),
		// then answer the same status with our page.
		rec := &discardRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.code >= 300 && rec.code < 400 {
			// The mux cleans paths (/a//b → /a/b) with a redirect; keep that.
			http.Redirect(w, r, rec.header.Get("Location"), rec.code)
			return
		}
		h.ServeError(w, r, handlers.StatusError(rec.code))
	})
}

// discardRecorder keeps a response's status and headers and drops its body.
type discardRecorder struct {
	header http.Header
	code   int
}

func (d *discardRecorder) Header() http.Header         { return d.header }
func (d *discardRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardRecorder) WriteHeader(code int)        { d.code = code }
