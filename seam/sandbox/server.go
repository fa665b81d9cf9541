package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a Sandbox listening on its own address.
type Server struct {
	// URL is the base URL the server listens on, e.g. http://127.0.0.1:41234.
	URL string
	// Sandbox is the running sandbox, for test controls (faults, call log, accounts).
	Sandbox *Sandbox

	srv       *http.Server
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves a new Sandbox
// until ctx ends or Close is called. Options.PublicURL defaults to the server's URL.
func Start(ctx context.Context, addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("seam sandbox: listen on %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String()
	if opts.PublicURL == "" {
		opts.PublicURL = base
	}
	sb := New(opts)
	srv := &http.Server{
		Handler:           sb,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // injected latency may be long
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(sb.log.Handler(), slog.LevelWarn),
	}
	s := &Server{URL: base, Sandbox: sb, srv: srv, done: make(chan struct{})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sb.log.Error("seam sandbox: serve", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Close stops the server, waiting briefly for requests in flight, then the
// sandbox's webhook deliveries (Sandbox.Close). It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A connection opened but never used (a client's spare) keeps Shutdown
			// waiting; past the grace period it is simply closed.
			err = nil
		}
		if err != nil {
			s.closeErr = fmt.Errorf("seam sandbox: shutdown: %w", err)
		}
		s.closeErr = errors.Join(s.closeErr, s.srv.Close())
		s.closeErr = errors.Join(s.closeErr, s.Sandbox.Close())
	})
	return s.closeErr
}
