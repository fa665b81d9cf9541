package devidp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// shutdownTimeout bounds how long Close waits for in-flight requests.
const shutdownTimeout = 5 * time.Second

// Server is a running Provider on its own listener.
type Server struct {
	// URL is the issuer, e.g. http://127.0.0.1:8081.
	URL string
	// Provider is the handler being served.
	Provider *Provider

	srv       *http.Server
	closeOnce sync.Once
	closeErr  error
	stopWatch chan struct{}
}

// Start listens on addr before returning, so the relying party's discovery can
// run right after, and serves until ctx is done or Close is called. When
// cfg.Issuer is empty it is derived from the listener, e.g. http://127.0.0.1:PORT.
func Start(ctx context.Context, addr string, cfg Config) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devidp listen %s: %w", addr, err)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = issuerFor(ln.Addr())
	}
	p, err := New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s := &Server{
		URL:      p.Issuer(),
		Provider: p,
		srv: &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelWarn),
		},
		stopWatch: make(chan struct{}),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.logger.Error("dev idp stopped serving", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.stopWatch:
		}
	}()
	p.logger.Info("dev identity provider listening", "issuer", s.URL)
	return s, nil
}

// Close stops the server, waiting shortly for in-flight requests; it is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopWatch)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A connection opened but never used (a client's spare) keeps Shutdown
			// waiting; past the grace period it is simply closed.
			err = nil
		}
		if err != nil {
			s.closeErr = fmt.Errorf("devidp shutdown: %w", err)
		}
		_ = s.srv.Close()
	})
	return s.closeErr
}

// issuerFor names the listener the way the relying party will reach it: an
// unspecified address (0.0.0.0, ::) becomes 127.0.0.1.
func issuerFor(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := "127.0.0.1"
	if tcp.IP != nil && !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
