// Package handlers holds Latchkey's HTTP handlers, one file per area. Handlers return
// errors; Handle maps every error to a status and an HTML page in one place.
package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/views"
)

// Handlers serves every page of the portal. Its fields are set once, in package web.
type Handlers struct {
	Log    *slog.Logger
	Assets views.Assets
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Health is what /readyz checks.
	Health Health

	// Sessions is the signed-in session (scs); SignIn runs OpenID Connect.
	Sessions *scs.SessionManager
	SignIn   SignInProvider
	// Store is Latchkey's records.
	Store Store
	// Locks is what a customer may see and do to their locks.
	Locks *locks.Service
	// BaseURL is the portal's public URL (for Seam's redirects back to us).
	BaseURL string
	// Accounts connects lock accounts (Connect Webviews and ownership records).
	Accounts *accounts.Service
	// Events takes Seam's webhook deliveries in; nil when no webhook secret is set.
	Events EventReceiver
	// Live fans device changes out to the users' open pages (GET /events).
	Live *events.Hub
	// SessionIdleTimeout ends a live stream whose session went idle.
	SessionIdleTimeout time.Duration
	// StreamHeartbeat is how often a live stream re-checks its session (ended, expired,
	// its user disabled) and says it is alive; 0 means 15 s.
	StreamHeartbeat time.Duration
	// SessionControl lists and ends a user's sessions, and lets admins end them and
	// disable or enable users.
	SessionControl *accounts.Sessions
	// LogoutTokens verifies the IdP's back-channel logout tokens; nil answers 404.
	LogoutTokens LogoutTokenVerifier
	// SupportContact is whom the page of a disabled account tells people to contact.
	SupportContact string

	// buffers are render buffers, reused between pages.
	buffers sync.Pool
}

// AuditLog is the append-only audit trail.
type AuditLog interface {
	AppendAudit(ctx context.Context, e store.AuditEvent) error
}

// audit records e with the request's client address and user agent. The actor is the
// signed-in user unless e names one. A failed write is logged, not shown: the action it
// describes has already happened.
func (h *Handlers) audit(r *http.Request, e store.AuditEvent) {
	if e.ActorID == "" {
		if u, ok := auth.UserFrom(r.Context()); ok {
			e.ActorID = u.ID
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.RemoteAddr = host
	} else {
		e.RemoteAddr = r.RemoteAddr
	}
	e.UserAgent = r.UserAgent()
	h.appendAudit(r.Context(), e)
}

// appendAudit records e; outside a request (followers) there is no client to name.
func (h *Handlers) appendAudit(ctx context.Context, e store.AuditEvent) {
	if e.At.IsZero() {
		e.At = h.Now()
	}
	if err := h.Store.AppendAudit(ctx, e); err != nil {
		h.Log.ErrorContext(ctx, "audit write failed", "action", e.Action, "error", err)
	}
}

// Func is an HTTP handler that returns an error instead of writing one.
type Func func(w http.ResponseWriter, r *http.Request) error

// Handle adapts f to http.Handler, turning a returned error into its page.
func (h *Handlers) Handle(f Func) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			h.ServeError(w, r, err)
		}
	})
}

// Audit records e for the request r (for middleware outside this package).
func (h *Handlers) Audit(r *http.Request, e store.AuditEvent) { h.audit(r, e) }

// ServeError writes the page for err and logs it once: server-side failures at error
// level, user mistakes at info.
func (h *Handlers) ServeError(w http.ResponseWriter, r *http.Request, err error) {
	e := pageFor(err)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	if e.Err != nil || e.Status >= 500 {
		h.Log.Log(r.Context(), level, "request failed", "status", e.Status, "error", err)
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	view := views.ErrorView{Status: e.Status, Title: e.Title, Message: e.Message, Retry: e.Retry, Actions: e.Actions}
	if e.Retry {
		view.RetryURL = r.URL.RequestURI()
	}
	if wantsFragment(r) {
		// htmx swaps this into part of the page (a device row): a whole page would nest.
		h.render(w, r, e.Status, views.ErrorFragment(view))
		return
	}
	h.render(w, r, e.Status, views.ErrorPage(h.frame(r, e.Title), view))
}

// page is the frame every page shares, with the one-time message it is to show.
func (h *Handlers) page(r *http.Request, title string) views.Page {
	p := h.frame(r, title)
	if p.User != nil && h.Sessions != nil {
		p.Flash = auth.PopFlash(r.Context(), h.Sessions)
	}
	return p
}

// frame is the frame without the one-time message: error pages leave it for the next
// real page (and do not write the session to take it).
func (h *Handlers) frame(r *http.Request, title string) views.Page {
	p := views.Page{
		Title:     title,
		Path:      r.URL.Path,
		Assets:    h.Assets,
		RequestID: request.ID(r.Context()),
	}
	if u, ok := auth.UserFrom(r.Context()); ok {
		p.User = &views.User{ID: u.ID, Name: u.Name, Email: u.Email, IsAdmin: u.IsAdmin}
	}
	p.Clock = h.clockOf(r)
	return p
}

// clockOf is how the signed-in user reads times: their zone (UTC until known) and
// their browser's 12- or 24-hour custom.
func (h *Handlers) clockOf(r *http.Request) views.Clock {
	var zone string
	if u, ok := auth.UserFrom(r.Context()); ok {
		zone = u.TimeZone
	}
	return views.NewClock(zone, r.Header.Get("Accept-Language"))
}

// render writes c with status. The component is rendered into a buffer first, so a
// failure mid-render becomes a clean 500 page instead of half a page.
func (h *Handlers) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	// Buffers are reused between renders: a page's buffer grows by doubling, which the
	// allocation profile of the device list showed as half of its bytes.
	buf, _ := h.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		// A huge page's buffer is left to the collector rather than kept forever.
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			h.buffers.Put(buf)
		}
	}()
	if err := c.Render(r.Context(), buf); err != nil {
		h.Log.ErrorContext(r.Context(), "render failed", "error", err)
		if status == http.StatusInternalServerError {
			// The error page itself failed: fall back to the bare minimum.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<!DOCTYPE html><title>Error</title><h1>Something went wrong</h1>"))
			return
		}
		h.ServeError(w, r, errInternal)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The length, known here, spares the chunked encoding.
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// Landing serves the front page; signed-in users go straight to their devices.
func (h *Handlers) Landing(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return errNotFound
	}
	p := h.page(r, "")
	if p.User != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return nil
	}
	if h.justSignedOut(w, r) {
		p.Flash = signedOutMessage
	}
	h.render(w, r, http.StatusOK, views.Landing(p))
	return nil
}
