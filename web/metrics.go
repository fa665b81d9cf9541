package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/metrics"
)

// metricsShutdownTimeout bounds how long a scrape in progress may take at Close.
const metricsShutdownTimeout = 5 * time.Second

// backlogCountTimeout bounds the database query a scrape makes for the backlog.
const backlogCountTimeout = 5 * time.Second

// startMetrics has the app's metrics read its database pool and follower backlog and,
// when LATCHKEY_METRICS_ADDR is set, serves them on that address, apart from the
// portal, so they are public only if the operator makes them so.
func (a *App) startMetrics(ctx context.Context) error {
	a.metrics.CollectDBStats("main", a.db.Stats)
	a.metrics.FollowBacklog(func() (int, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backlogCountTimeout)
		defer cancel()
		open, err := a.db.OpenActionAttempts(ctx)
		return len(open), err
	})
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	stop, addr, err := serveMetrics(a.cfg.MetricsAddr, a.metrics, a.log)
	if err != nil {
		return fmt.Errorf("LATCHKEY_METRICS_ADDR: %w", err)
	}
	a.closers = append(a.closers, stop)
	a.metricsAddr = addr
	a.banner = append(a.banner, "metrics:       http://"+addr+"/metrics")
	return nil
}

// serveMetrics listens on addr and serves GET /metrics there until stop is called.
// boundAddr is the address it listens on (the port chosen when addr's port is 0).
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (stop func() error, boundAddr string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		if err != nil {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	}
	return stop, ln.Addr().String(), nil
}

// MetricsAddr is the address the metrics are served on, or "" when
// LATCHKEY_METRICS_ADDR is unset.
func (a *App) MetricsAddr() string { return a.metricsAddr }
