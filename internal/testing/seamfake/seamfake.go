// Package seamfake runs Seam's own fake API server (@seamapi/fake-seam-connect, pinned in
// package.json) for tests: started from node_modules/.bin on a free loopback port,
// seeded, and stopped when the test ends.
package seamfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testing/syncbuf"
)

// APIKey is the API key the fake's seed creates.
const APIKey = "seam_apikey1_token"

// Fake is a running fake Seam API server.
type Fake struct {
	URL    string
	APIKey string
	out    *syncbuf.Buffer
}

// Start runs the fake until the test ends. It fails the test with the command to run
// when node or the npm package is missing: the fake's half of a suite must never be
// skipped silently.
func Start(t testing.TB) *Fake {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "node_modules", ".bin", "fake-seam-connect")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("Seam's fake needs Node.js 20+ on PATH: install it (Debian: apt-get install -y nodejs npm), then run `npm ci` in the repository root")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Seam's fake is not installed (%s missing): run `npm ci` in %s (make test does it)", bin, root)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "--seed")
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Seam's fake: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	f := &Fake{URL: "http://127.0.0.1:" + strconv.Itoa(port), APIKey: APIKey, out: out}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(f.URL + "/health")
		if err == nil {
			res.Body.Close()
			return f
		}
		select {
		case <-done:
			t.Fatalf("Seam's fake exited during start-up:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Seam's fake did not answer within 30 s:\n%s", out.String())
		}
	}
}

// Post calls a route of the fake (its API or its /_fake/… routes) with the API key and
// decodes the JSON answer into out (when not nil). It returns the HTTP status.
func (f *Fake) Post(t testing.TB, path string, body, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.APIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("fake %s: %v", path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("fake %s: decode %q: %v", path, data, err)
		}
	}
	return res.StatusCode
}

// Logs is what the fake printed.
func (f *Fake) Logs() string { return f.out.String() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot is the directory holding go.mod, found from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
