// Command loadtest measures GET /devices under load: it starts the portal on the
// embedded defaults (a temp SQLite database, the Seam sandbox, the dev IdP), signs a
// customer in through the dev IdP, connects the sandbox's 3 August locks
// (jane@example.com), then hammers GET /devices with -c keep-alive connections for -d,
// and prints requests per second and the p50/p99 latencies. A second run repeats it with
// every sandbox call slowed to -seam-latency (the page must not wait for Seam).
//
// The portal and the load run in two processes pinned to different cores with taskset
// (portal on -portal-cpu, load on -load-cpu), so neither steals the other's CPU:
//
//	go run ./cmd/loadtest -c 32 -d 10s
//
// Roles (internal): -role portal runs the portal and answers commands on stdin
// ("latency 300ms", "quit"); -role load runs the load against -url with -cookie.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/web"
)

func main() {
	role := flag.String("role", "driver", "driver (default), portal or load")
	conns := flag.Int("c", 32, "concurrent connections")
	lightConns := flag.Int("light-c", 4, "connections of the light runs, which measure a page's latency rather than the core's throughput (0 skips them)")
	duration := flag.Duration("d", 10*time.Second, "how long each run lasts")
	seamLatency := flag.Duration("seam-latency", 300*time.Millisecond, "sandbox latency of the second run (0 skips it)")
	portalCPU := flag.String("portal-cpu", "0", "taskset CPU list of the portal")
	loadCPU := flag.String("load-cpu", "1", "taskset CPU list of the load generator")
	target := flag.String("url", "", "load: the page to load")
	cookie := flag.String("cookie", "", "load: the session cookie (name=value)")
	cpuProfile := flag.String("cpuprofile", "", "write the portal's CPU profile of the first run to this file (go tool pprof bin/loadtest FILE)")
	flag.Parse()

	var err error
	switch *role {
	case "driver":
		err = drive(*conns, *lightConns, *duration, *seamLatency, *portalCPU, *loadCPU, *cpuProfile)
	case "portal":
		err = servePortal(*cpuProfile)
	case "load":
		var r result
		r, err = load(*target, *cookie, *conns, *duration)
		if err == nil {
			fmt.Print(r)
		}
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// pinned is the command running this program with args, under taskset when it exists.
func pinned(cpus string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if ts, err := exec.LookPath("taskset"); err == nil && cpus != "" {
		return exec.Command(ts, append([]string{"-c", cpus, self}, args...)...), nil
	}
	fmt.Fprintln(os.Stderr, "loadtest: taskset not found: running unpinned")
	return exec.Command(self, args...), nil
}

// drive starts the portal process, runs the load process against it twice (Seam as
// fast as the sandbox answers, then slowed) and prints both results.
func drive(conns, lightConns int, d, seamLatency time.Duration, portalCPU, loadCPU, cpuProfile string) error {
	portal, err := pinned(portalCPU, "-role", "portal", "-cpuprofile", cpuProfile)
	if err != nil {
		return err
	}
	portal.Stderr = os.Stderr
	stdin, err := portal.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := portal.StdoutPipe()
	if err != nil {
		return err
	}
	if err := portal.Start(); err != nil {
		return fmt.Errorf("start the portal: %w", err)
	}
	defer func() {
		_, _ = io.WriteString(stdin, "quit\n")
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- portal.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = portal.Process.Kill()
		}
	}()
	lines := bufio.NewScanner(stdout)
	readLine := func() (string, error) {
		if !lines.Scan() {
			return "", cmp.Or(lines.Err(), errors.New("the portal exited"))
		}
		return lines.Text(), nil
	}
	ready, err := readLine()
	if err != nil {
		return err
	}
	var pageURL, cookie string
	if _, err := fmt.Sscanf(ready, "ready %s %s", &pageURL, &cookie); err != nil {
		return fmt.Errorf("portal said %q: %w", ready, err)
	}
	nproc := countCPUs()
	fmt.Printf("portal: %s (sandbox, dev IdP, temp SQLite); 3 locks of jane@example.com connected\n", pageURL)
	fmt.Printf("machine: %d CPUs; portal pinned to CPU %s, load generator to CPU %s; %s per run\n",
		nproc, portalCPU, loadCPU, d)

	// Each speed of Seam is loaded twice: with conns connections, which saturate the
	// portal's core (throughput; the latency is mostly the queue), and with lightConns,
	// which do not (the latency of a page itself).
	run := func(title string) error {
		for _, c := range []int{conns, lightConns} {
			if c <= 0 {
				continue
			}
			cmd, err := pinned(loadCPU, "-role", "load", "-url", pageURL, "-cookie", cookie,
				"-c", fmt.Sprint(c), "-d", d.String())
			if err != nil {
				return err
			}
			cmd.Stderr = os.Stderr
			before, cpuErr := processCPU(portal.Process.Pid)
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			after, cpuErr2 := processCPU(portal.Process.Pid)
			// The portal's own CPU time per request: unlike req/s, it does not depend
			// on whether something else ran on the portal's core meanwhile.
			perRequest := "CPU/req n/a"
			if m := requestsDone.FindSubmatch(out); m != nil && cpuErr == nil && cpuErr2 == nil {
				if n, _ := strconv.Atoi(string(m[1])); n > 0 {
					perRequest = fmt.Sprintf("CPU/req %4.0f µs", float64(after-before)/float64(time.Microsecond)/float64(n))
				}
			}
			fmt.Printf("%-40s %3d conns  %s  %s\n", title, c, strings.TrimRight(string(out), "\n"), perRequest)
		}
		return nil
	}
	if err := run("GET /devices:"); err != nil {
		return err
	}
	if seamLatency > 0 {
		if _, err := fmt.Fprintf(stdin, "latency %s\n", seamLatency); err != nil {
			return err
		}
		if ack, err := readLine(); err != nil || ack != "ok" {
			return fmt.Errorf("portal did not slow the sandbox: %q %v", ack, err)
		}
		if err := run(fmt.Sprintf("GET /devices, every Seam call +%s:", seamLatency)); err != nil {
			return err
		}
	}
	return nil
}

// requestsDone finds the count of requests in a load run's output.
var requestsDone = regexp.MustCompile(`\((\d+) requests`)

// processCPU is the user plus system CPU time the process has used so far
// (/proc/PID/stat, in clock ticks of 10 ms: a run of seconds measures it to a few %).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces:
	// state is field 3, utime 14, stime 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

// countCPUs is the machine's CPU count (nproc's, without the affinity mask).
func countCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		var lo, hi int
		if c, _ := fmt.Sscanf(part, "%d-%d", &lo, &hi); c == 2 {
			n += hi - lo + 1
		} else {
			n++
		}
	}
	return n
}

// servePortal runs the portal on the embedded defaults, signs alice in and connects
// jane@example.com's locks, prints "ready URL COOKIE", then obeys stdin. With a
// cpuProfile file, it profiles itself from "ready" to the next command.
func servePortal(cpuProfile string) error {
	dir, err := os.MkdirTemp("", "latchkey-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	const password = "loadtest-password"
	env := map[string]string{
		"LATCHKEY_ADDR":         ln.Addr().String(),
		"LATCHKEY_BASE_URL":     base,
		"DATABASE_URL":          "sqlite:" + filepath.Join(dir, "latchkey.db"),
		"LATCHKEY_DEV_IDP_ADDR": "127.0.0.1:0",
		"LATCHKEY_SANDBOX_ADDR": "127.0.0.1:0",
		"DEV_PASSWORD":          password,
	}
	cfg, err := web.ParseConfig([]string{"latchkey"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		return err
	}
	web.TuneGC(os.Getenv) // as latchkey's Run does
	// The portal logs as in production (one line per request), to a file.
	logFile, err := os.Create(filepath.Join(dir, "portal.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := web.NewApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	srv := web.NewHTTPServer(app.Handler(), log) // the server latchkey runs, with its timeouts
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	c, err := signIn(base, "alice", password)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if err := connect(c, base, app.Sandbox(), sandbox.JaneEmail); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	res, body, err := do(c, http.MethodGet, base+"/devices", nil)
	if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(body, "Front Door") {
		return fmt.Errorf("GET /devices after connecting: %v %v", status(res), err)
	}
	u, _ := url.Parse(base + "/devices")
	var cookie string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == auth.SessionCookieName(cfg.HTTPS()) {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if cookie == "" {
		return errors.New("no session cookie after sign-in")
	}
	stopProfile := func() {}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = sync.OnceFunc(func() { pprof.StopCPUProfile(); _ = f.Close() })
		defer stopProfile()
	}
	fmt.Printf("ready %s %s\n", base+"/devices", cookie)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		stopProfile()
		cmd, arg, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		switch cmd {
		case "latency":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return err
			}
			app.Sandbox().ClearFaults()
			app.Sandbox().InjectFault(sandbox.Fault{Latency: d})
			fmt.Println("ok")
		case "quit":
			return nil
		}
	}
	return nil
}

func status(res *http.Response) any {
	if res == nil {
		return "no response"
	}
	return res.StatusCode
}

// do sends a same-origin request (as the portal's own pages do) without following
// redirects, and reads the body.
func do(c *http.Client, method, rawURL string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

func location(res *http.Response) (string, error) {
	loc, err := res.Location()
	if err != nil {
		return "", fmt.Errorf("%s %s: status %d without Location", res.Request.Method, res.Request.URL, res.StatusCode)
	}
	return loc.String(), nil
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn signs username in through the dev IdP as a browser would (the same steps as
// internal/testing/testportal's SignIn) and returns the signed-in client.
func signIn(base, username, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _, err := do(c, http.MethodGet, base+"/login", nil)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("GET /login: %d, want 303 to the IdP", res.StatusCode)
	}
	next, err := location(res)
	if err != nil {
		return nil, err
	}
	var page string
	for range 6 {
		if res, page, err = do(c, http.MethodGet, next, nil); err != nil {
			return nil, err
		}
		if res.StatusCode < 300 || res.StatusCode >= 400 {
			break
		}
		if next, err = location(res); err != nil {
			return nil, err
		}
	}
	m := hiddenID.FindStringSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("dev IdP login page %s: %d, no auth request id", next, res.StatusCode)
	}
	u, _ := url.Parse(next)
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {password}}
	if res, _, err = do(c, http.MethodPost, u.Scheme+"://"+u.Host+"/login", form); err != nil {
		return nil, err
	}
	last := ""
	for range 10 {
		if res.StatusCode < 300 || res.StatusCode >= 400 {
			break
		}
		if last, err = location(res); err != nil {
			return nil, err
		}
		if res, _, err = do(c, http.MethodGet, last, nil); err != nil {
			return nil, err
		}
	}
	if last != base+"/devices" {
		return nil, fmt.Errorf("sign-in ended at %q, want %s/devices", last, base)
	}
	return c, nil
}

// connect runs the connect flow for the sandbox login email: POST /connect, the
// provider sign-in at the sandbox, Seam's redirect back to /connect/return.
func connect(c *http.Client, base string, sb *sandbox.Sandbox, email string) error {
	res, _, err := do(c, http.MethodPost, base+"/connect", url.Values{})
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("POST /connect: %d, want 303", res.StatusCode)
	}
	webviewID := strings.TrimPrefix(res.Header.Get("Location"), "/connect/")
	if _, err := sb.CompleteWebview(webviewID, email, sandbox.LoginPassword); err != nil {
		return err
	}
	res, body, err := do(c, http.MethodGet, base+"/connect/return?connect_webview_id="+url.QueryEscape(webviewID), nil)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/devices" {
		return fmt.Errorf("GET /connect/return: %d to %q\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	return nil
}

// result is one run's figures.
type result struct {
	requests, failures int
	elapsed            time.Duration
	p50, p99, max      time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("%8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  (%d requests, %d failed)\n",
		float64(r.requests)/r.elapsed.Seconds(), ms(r.p50), ms(r.p99), ms(r.max), r.requests, r.failures)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load sends GET target with the cookie on conns keep-alive connections, each one
// request at a time (closed loop), for d; it counts only 200s as successes.
func load(target, cookie string, conns int, d time.Duration) (result, error) {
	if target == "" || cookie == "" {
		return result{}, errors.New("load needs -url and -cookie")
	}
	name, value, _ := strings.Cut(cookie, "=")
	var failures atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			req.AddCookie(&http.Cookie{Name: name, Value: value})
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			own := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failures.Add(1)
					continue
				}
				own = append(own, time.Since(t0))
			}
			lat[i] = own
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return result{}, fmt.Errorf("no successful request (%d failed)", failures.Load())
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	return result{requests: len(all), failures: int(failures.Load()), elapsed: elapsed,
		p50: pct(0.50), p99: pct(0.99), max: all[len(all)-1]}, nil
}
