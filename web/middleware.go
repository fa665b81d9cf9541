package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/request"
)

// maxBodyBytes bounds every request body; Latchkey's forms are tiny.
const maxBodyBytes = 64 << 10

// middleware wraps a handler.
type middleware func(http.Handler) http.Handler

// chain applies mws so that the first one listed is the outermost.
func chain(h http.Handler, mws ...middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// realIP replaces r.RemoteAddr with the client address from X-Forwarded-For, and marks
// https from X-Forwarded-Proto, but only when the direct peer is a trusted proxy.
func realIP(trusted []netip.Prefix) middleware {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer, err := netip.ParseAddrPort(r.RemoteAddr)
			if err != nil || len(trusted) == 0 || !isTrusted(peer.Addr()) {
				next.ServeHTTP(w, r)
				return
			}
			// Walk X-Forwarded-For from the right: the first address that is not one of
			// our proxies is the client. Anything left of it could be forged.
			hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
			client := peer.Addr()
			for i := len(hops) - 1; i >= 0; i-- {
				a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
				if err != nil {
					break
				}
				client = a
				if !isTrusted(a) {
					break
				}
			}
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = netip.AddrPortFrom(client.Unmap(), 0).String()
			if strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
				r2.URL.Scheme = "https"
			}
			next.ServeHTTP(w, r2)
		})
	}
}

// statusRecorder remembers what a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog gives each request an id and writes one log line for it when it ends.
func accessLog(log *slog.Logger) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			info := &request.Info{ID: request.NewID(), RemoteAddr: host, UserAgent: r.UserAgent()}
			w.Header().Set("X-Request-Id", info.ID)
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r.WithContext(request.With(r.Context(), info)))
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", info.ID),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("user_id", info.UserID()),
				slog.String("remote_addr", host),
			)
		})
	}
}

// seamDeadline gives each request one deadline for all of its Seam calls.
func seamDeadline(d time.Duration) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			request.From(r.Context()).SeamDeadline = time.Now().Add(d)
			next.ServeHTTP(w, r)
		})
	}
}

// recoverPanics turns a panic into the 500 page and a logged stack; the server keeps
// serving. http.ErrAbortHandler is re-raised: it is how a handler asks to abort.
func recoverPanics(log *slog.Logger, h *handlers.Handlers) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				h.ServeError(w, r, handlers.StatusError(http.StatusInternalServerError))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders sets the headers every response carries.
func securityHeaders(csp string, hsts bool) middleware {
	// The values are built once and shared by every response: each slice's capacity
	// is its length, so a later Add copies rather than writes into it, and Set
	// replaces it. (Header.Set allocated a slice per header per request.)
	type header struct {
		key   string
		value []string
	}
	var headers []header
	set := func(k, v string) {
		headers = append(headers, header{http.CanonicalHeaderKey(k), []string{v}[:1:1]})
	}
	set("Content-Security-Policy", csp)
	set("X-Content-Type-Options", "nosniff")
	set("Referrer-Policy", "same-origin")
	set("X-Frame-Options", "DENY")
	set("Cross-Origin-Opener-Policy", "same-origin")
	set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if hsts {
		set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for _, hd := range headers {
				h[hd.key] = hd.value
			}
			next.ServeHTTP(w, r)
		})
	}
}

// contentSecurityPolicy allows scripts and styles from our own origin only; frames only
// from the Seam webview origin; forms may post to us and be redirected to the IdP.
func contentSecurityPolicy(frameOrigins, formOrigins []string) string {
	frame := "'none'"
	if len(frameOrigins) > 0 {
		frame = strings.Join(frameOrigins, " ")
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"font-src 'self'",
		"frame-src " + frame,
		"frame-ancestors 'none'",
		"form-action " + strings.Join(append([]string{"'self'"}, formOrigins...), " "),
		"base-uri 'none'",
		"object-src 'none'",
	}, "; ")
}

// limitBody caps request bodies.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalHost sends a request that arrived under another host name (localhost vs
// 127.0.0.1) to the base URL first, so cookies and the OIDC redirect URI always agree.
// Health probes are answered under any name.
func canonicalHost(base *url.URL) middleware {
	host := base.Host
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host == host || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				next.ServeHTTP(w, r)
				return
			}
			target := base.Scheme + "://" + host + r.URL.RequestURI()
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		})
	}
}

// crossOrigin refuses cross-site unsafe requests with the HTML 403 page.
func crossOrigin(h *handlers.Handlers, log *slog.Logger) middleware {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.WarnContext(r.Context(), "cross-origin request refused",
			"method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		h.ServeError(w, r, handlers.CrossOriginRefused())
	}))
	// The IdP posts logout tokens server to server; the signed token is the check.
	cop.AddInsecureBypassPattern("POST /auth/backchannel-logout")
	return cop.Handler
}
