// Package web wires Latchkey together: configuration, the route table, middleware,
// static files, the embedded development stand-ins and the server's lifecycle.
package web

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// Run is the whole program: it parses the configuration from args and getenv, starts
// the portal (and in development its embedded stand-ins) and serves until ctx ends or
// SIGINT/SIGTERM arrives, then shuts down gracefully.
//
// `latchkey audit verify [--head HASH]` checks the audit trail's hash chain (see
// runAuditVerify).
//
// `latchkey migrate` (the same settings) applies the database's pending migrations and
// exits: on PostgreSQL run it with the owner role before starting or upgrading
// instances, which only check the schema version.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "migrate" {
		return runMigrate(ctx, append([]string{args[0]}, args[2:]...), getenv, stdout)
	}
	if len(args) > 2 && args[1] == "audit" && args[2] == "verify" {
		return runAuditVerify(ctx, args[3:], getenv, stdout)
	}
	cfg, err := ParseConfig(args, getenv, stdout)
	if errors.Is(err, ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	TuneGC(getenv) // for the life of the process
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	app, err := NewApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("LATCHKEY_ADDR: listen on %s: %w", cfg.Addr, err)
	}
	app.printBanner(stdout, ln.Addr().String())
	srv := NewHTTPServer(app.Handler(), log)
	srv.RegisterOnShutdown(app.BeginShutdown)
	return serve(ctx, srv, ln, cfg.ShutdownTimeout, log)
}

// NewHTTPServer is the server latchkey runs (the load test runs the same). It bounds
// every phase of a request so slow clients cannot hold the server.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs srv on ln until ctx ends, then lets in-flight requests finish (up to
// timeout) before returning. A clean shutdown returns nil.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newLogger writes text in development and JSON when asked, and adds the request id
// to every record logged with a request's context.
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// requestIDHandler tags records logged inside a request with its id.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := request.ID(ctx); id != "" && r.Message != "request" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// runMigrate is `latchkey migrate`.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stdout)
	if errors.Is(err, ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(stdout, "latchkey migrate: the database is up to date")
	return nil
}

// ExitError ends the process with Code; main prints Err, if any, first.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// defaultDatabaseURL is DATABASE_URL's default, as ParseConfig has it.
const defaultDatabaseURL = "sqlite:data/latchkey.db"

// runAuditVerify is `latchkey audit verify`: it reads only DATABASE_URL, walks the
// audit chain and prints the row count and the head hash (to keep elsewhere: given
// back with --head, removing the newest rows is found). Exit status 0: intact; 1: the
// first broken link, named; 2: it could not check.
func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("latchkey audit verify", flag.ContinueOnError)
	fs.SetOutput(stdout)
	head := fs.String("head", "", "a head hash printed by an earlier run: it must still be in the chain")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("audit verify: %w", err)}
	}
	if fs.NArg() > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("audit verify: unexpected argument %q", fs.Arg(0))}
	}
	if *head != "" && !store.ValidHeadHash(*head) {
		// Mistyped or cut short: no evidence either way, so not a broken chain.
		return &ExitError{Code: 2, Err: fmt.Errorf("audit verify: cannot check: --head %q is not a head hash as verify prints it (v1: and 64 lowercase hex digits)", *head)}
	}
	url := getenv("DATABASE_URL")
	if url == "" {
		url = defaultDatabaseURL
	}
	rep, err := store.VerifyAudit(ctx, url, *head)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("audit verify: cannot check: %w", err)}
	}
	if rep.Break != nil {
		fmt.Fprintf(stdout, "latchkey audit verify: BROKEN after %d intact rows: %v\n", rep.Rows, rep.Break)
		return &ExitError{Code: 1}
	}
	fmt.Fprintf(stdout, "rows: %d\nhead: %s\n", rep.Rows, rep.Head)
	if rep.Pending > 0 {
		fmt.Fprintf(stdout, "not chained yet: %d newer rows written by the previous release (chained by the next append or `latchkey migrate`)\n", rep.Pending)
	}
	fmt.Fprintln(stdout, "latchkey audit verify: intact")
	return nil
}
