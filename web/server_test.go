package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// listen binds a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

// slowHandler answers only when release is closed, after telling started.
func slowHandler(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
}

// waitFor fails the test if ch does not deliver within a generous bound, so a broken
// serve fails instead of hanging the run.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

type result struct {
	status int
	body   string
	err    error
}

// getAsync sends GET url and delivers the outcome on the returned channel.
func getAsync(url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		resp, err := client.Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func TestServeFinishesInFlightRequestsOnShutdown(t *testing.T) {
	started, release, shuttingDown := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv := NewHTTPServer(slowHandler(started, release), log)
	// Called by Shutdown once the listener is closed, so no sleep guesses when.
	srv.RegisterOnShutdown(func() { close(shuttingDown) })
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, srv, ln, 5*time.Second, log) }()

	answer := getAsync("http://" + ln.Addr().String() + "/slow")
	waitFor(t, started, "the slow request to arrive")
	cancel() // SIGTERM, as far as serve knows
	waitFor(t, shuttingDown, "Shutdown to begin")

	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Error("still accepting connections after shutdown began")
	}

	close(release)
	var got result
	select {
	case got = <-answer:
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request never finished")
	}
	if got.err != nil || got.status != http.StatusOK || got.body != "finished" {
		t.Fatalf("in-flight request: %+v, want 200 finished", got)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the last request finished")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("shutdown not logged:\n%s", logs.String())
	}
}

func TestServeGivesUpAfterShutdownTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	log := slog.New(slog.DiscardHandler)
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, NewHTTPServer(slowHandler(started, release), log), ln, 50*time.Millisecond, log)
	}()

	answer := getAsync("http://" + ln.Addr().String() + "/stuck")
	waitFor(t, started, "the stuck request to arrive")
	begin := time.Now()
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("serve = %v, want the shutdown deadline reported", err)
		}
		if waited := time.Since(begin); waited > 2*time.Second {
			t.Errorf("serve waited %v for a 50ms timeout", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve ignored its shutdown timeout")
	}
	close(release)
	<-answer
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln := listen(t)
	ln.Close()
	log := slog.New(slog.DiscardHandler)
	err := serve(context.Background(), NewHTTPServer(http.NotFoundHandler(), log), ln, time.Second, log)
	if err == nil || !strings.HasPrefix(err.Error(), "serve: ") {
		t.Fatalf("serve on a closed listener = %v, want a serve error", err)
	}
}

func TestNewHTTPServerBoundsEveryPhase(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 || d > 5*time.Minute {
			t.Errorf("%s = %v, want a bound", name, d)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > http.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
	if srv.ErrorLog == nil {
		t.Error("the server's own errors go to the standard logger, not slog")
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), []string{"latchkey", "--help"}, envFrom(nil), &stdout, &stderr)
	if err != nil {
		t.Fatalf("Run --help = %v, want nil (exit 0)", err)
	}
	if !strings.HasPrefix(stdout.String(), "Usage: latchkey") || !strings.Contains(stdout.String(), "SESSION_KEY") {
		t.Errorf("Run --help printed:\n%s", stdout.String())
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		variable string
		env      map[string]string
	}{
		{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "loud"}},
		{"SESSION_IDLE_TIMEOUT", map[string]string{"SESSION_IDLE_TIMEOUT": "soon"}},
		{"SEAM_API_KEY", map[string]string{"LATCHKEY_ENV": "production"}},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), []string{"latchkey"}, envFrom(tt.env), &stdout, &stderr)
			if err == nil || !strings.HasPrefix(err.Error(), tt.variable+": ") {
				t.Fatalf("Run = %v, want an error naming %s", err, tt.variable)
			}
		})
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	// LATCHKEY_ADDR with port 0: the banner says where the portal really listens.
	// Port 0 needs an explicit base URL; the banner then says where the portal listens.
	env := testEnv(map[string]string{"LATCHKEY_ADDR": "127.0.0.1:0", "LATCHKEY_BASE_URL": "http://127.0.0.1:8080"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	var stderr syncBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, []string{"latchkey"}, envFrom(env), stdoutW, &stderr)
		stdoutW.Close()
	}()

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	var got string
	select {
	case got = <-addr:
	case err := <-ran:
		t.Fatalf("Run returned before serving: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("no banner")
	}
	if got == "" {
		t.Fatalf("no listening address in the banner; Run: %v\n%s", <-ran, stderr.String())
	}
	res := <-getAsync("http://" + got + "/healthz")
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("GET /healthz: %+v", res)
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(stderr.String(), `"msg":"request"`) {
		t.Errorf("no JSON access log on stderr:\n%s", stderr.String())
	}
}
