package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const (
	// stepTimeout bounds one step: its actions and every wait in it.
	stepTimeout = 30 * time.Second
	// testTimeout bounds a whole test, browser start included.
	testTimeout = 3 * time.Minute
	// pollEvery is how often waits look at the page again.
	pollEvery = 50 * time.Millisecond

	chromiumMissing = "chromium is missing: install it with: sudo apt-get update && sudo apt-get install -y chromium"
)

// chromiumPath finds Debian's chromium; a missing browser fails the test, never skips it,
// so CI cannot pass without having run the browser tests.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal(chromiumMissing)
	return ""
}

// shots numbers and writes the screenshots of one test, in the order taken.
type shots struct {
	dir string
	mu  sync.Mutex
	n   int
}

// newShots empties artifacts/e2e/<test>/ at the repository root (the parent of this
// package's directory, where go test runs it), so no stale picture survives a run.
func newShots(t testing.TB) *shots {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "artifacts", "e2e", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &shots{dir: dir}
}

func (s *shots) next(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
}

// tab is one browser tab on the portal.
type tab struct {
	ctx   context.Context // chromedp context of the tab; ends with the test
	base  *url.URL        // the portal
	shots *shots
	// dialogs receives the message of each JavaScript dialog, after it was accepted.
	dialogs <-chan string
}

// browserOptions are the flags of every test browser: headless, quiet, no network of
// its own, a fresh profile, a fixed window.
func browserOptions(exe, profile string, out *limitedBuffer) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
}

// startBrowser starts a chromium of its own for the test (the profile is a fresh temp
// dir) and returns its first tab. The browser lives until parent ends or the test is
// cleaned up; starting it is bounded by stepTimeout.
func startBrowser(t *testing.T, parent context.Context, portalURL string, sh *shots) *tab {
	t.Helper()
	exe := chromiumPath(t)
	base, err := url.Parse(portalURL)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "latchkey-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first so it runs last, after the browser has exited.
	t.Cleanup(func() { removeAllRetry(t, profile) })

	out := &limitedBuffer{max: 16 << 10}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, browserOptions(exe, profile, out)...)
	t.Cleanup(cancelAlloc) // also waits for the browser to exit
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium output (last %d bytes):\n%s", out.max, out.String())
		}
	})
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)

	// The first action binds the browser's life to its context, so it gets the long-lived
	// one; a watchdog bounds the start instead.
	watchdog := time.AfterFunc(stepTimeout, cancel)
	err = chromedp.Do(ctx)
	stopped := watchdog.Stop()
	if err != nil || !stopped {
		t.Fatalf("start %s: %v (timed out: %t)\n%s", exe, err, !stopped, out.String())
	}
	return &tab{ctx: ctx, base: base, shots: sh, dialogs: acceptDialogs(t, ctx)}
}

// newIncognitoTab opens a tab in a new browser context of the same browser: no cookies
// shared with the other tabs.
func (tb *tab) newIncognitoTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// As with the browser, the first action binds the tab's life to its context.
	watchdog := time.AfterFunc(stepTimeout, cancel)
	err := chromedp.Do(ctx)
	if stopped := watchdog.Stop(); err != nil || !stopped {
		t.Fatalf("open a tab in a new browser context: %v (timed out: %t)", err, !stopped)
	}
	return &tab{ctx: ctx, base: tb.base, shots: tb.shots, dialogs: acceptDialogs(t, ctx)}
}

// acceptDialogs accepts every JavaScript dialog of the tab (htmx's hx-confirm uses
// confirm(), which blocks the click that opened it) and reports its message.
func acceptDialogs(t *testing.T, ctx context.Context) <-chan string {
	t.Helper()
	msgs := make(chan string, 16)
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			if err != nil {
				return
			}
			select {
			case msgs <- ev.Message:
			default:
			}
		}
	}()
	return msgs
}

// disableJavaScript turns script execution off for the tab, as a browser with
// JavaScript disabled would.
func (tb *tab) disableJavaScript(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable JavaScript: %v", err)
	}
}

// step runs fn with a stepTimeout deadline, then saves a screenshot named after the
// step (marked FAILED when fn failed) and fails the test on error.
func (tb *tab) step(t *testing.T, name string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	err := fn(ctx)
	cancel()
	if err != nil {
		name += "-FAILED"
	}
	tb.screenshot(t, name)
	if err != nil {
		t.Fatalf("step %s: %v", name, err)
	}
}

// screenshot saves a full-page PNG of the tab as the test's next picture.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := tb.shots.next(name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// --- page actions and waits -------------------------------------------------------

func navigate(ctx context.Context, rawURL string) error {
	if err := chromedp.Do(ctx, chromedp.Navigate(rawURL)); err != nil {
		return fmt.Errorf("open %s: %w", rawURL, err)
	}
	return nil
}

// click sends a real mouse click to the first element sel matches, once it is visible.
func click[S chromedp.Selectable](ctx context.Context, sel S, opts ...chromedp.QueryOption) error {
	if err := chromedp.Do(ctx, chromedp.Click(sel, opts...)); err != nil {
		return fmt.Errorf("click %v: %w%s", sel, err, pageState(ctx))
	}
	return nil
}

// typeInto clears the field and types v into it, key by key.
func typeInto[S chromedp.Selectable](ctx context.Context, sel S, v string, opts ...chromedp.QueryOption) error {
	if err := chromedp.Do(ctx, chromedp.Clear(sel, opts...), chromedp.SendKeys(sel, v, opts...)); err != nil {
		return fmt.Errorf("type into %v: %w%s", sel, err, pageState(ctx))
	}
	return nil
}

func eval[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// textOf is the rendered text of the first element css matches, "" when none does.
func textOf(ctx context.Context, css string) (string, error) {
	return eval[string](ctx, fmt.Sprintf(`(function(){var e=document.querySelector(%s);return e?e.innerText:"";})()`, jsString(css)))
}

func location(ctx context.Context) (*url.URL, error) {
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return nil, err
	}
	return url.Parse(s)
}

// waitFor polls cond until it holds or ctx ends. Errors from cond count as "not yet":
// during a navigation the page cannot answer.
func waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("waiting for %s: %v", what, ctx.Err())
			if last != nil && !errors.Is(last, ctx.Err()) {
				msg += fmt.Sprintf(" (last error: %v)", last)
			}
			return errors.New(msg + pageState(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// waitPath waits until the tab shows path on the portal.
func (tb *tab) waitPath(ctx context.Context, path string) error {
	return tb.waitPathMatch(ctx, regexp.MustCompile("^"+regexp.QuoteMeta(path)+"$"))
}

// waitPathMatch waits until the tab shows a portal page whose path matches re.
func (tb *tab) waitPathMatch(ctx context.Context, re *regexp.Regexp) error {
	return waitFor(ctx, "the portal page "+re.String(), func(ctx context.Context) (bool, error) {
		u, err := location(ctx)
		if err != nil {
			return false, err
		}
		return u.Host == tb.base.Host && re.MatchString(u.Path), nil
	})
}

// waitText waits until the first element css matches shows text.
func waitText(ctx context.Context, css, text string) error {
	return waitFor(ctx, fmt.Sprintf("%q in %s", text, css), func(ctx context.Context) (bool, error) {
		got, err := textOf(ctx, css)
		return strings.Contains(got, text), err
	})
}

// waitTextMatch waits until the first element css matches has text matching re, and
// returns the match.
func waitTextMatch(ctx context.Context, css string, re *regexp.Regexp) (string, error) {
	var match string
	err := waitFor(ctx, fmt.Sprintf("%s in %s", re, css), func(ctx context.Context) (bool, error) {
		got, err := textOf(ctx, css)
		match = re.FindString(got)
		return match != "", err
	})
	return match, err
}

// pageState describes where the tab is and what it shows, for error messages; it works
// after ctx has ended.
func pageState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return ""
	}
	body, _ := eval[string](ctx, `document.body ? document.body.innerText : ""`)
	body = strings.Join(strings.Fields(body), " ")
	if len(body) > 400 {
		body = body[:400] + "…"
	}
	return fmt.Sprintf("\n\tat %s, the page says: %s", loc, body)
}

// --- housekeeping ---------------------------------------------------------------------

// limitedBuffer keeps the last max bytes written to it; chromium's output goes here.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// removeAllRetry removes the browser profile; chromium's helpers can still be writing
// in it for a moment after the browser exits.
func removeAllRetry(t testing.TB, dir string) {
	var err error
	for range 50 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("remove browser profile %s: %v", dir, err)
}

// frameWith returns the node of the iframe frameCSS once css matches a visible element
// inside it. Each new document in the frame gives the iframe element a new node, so it
// is looked up afresh on every try.
func frameWith(ctx context.Context, frameCSS, css string) (*chromedp.Node, error) {
	var frame *chromedp.Node
	err := waitFor(ctx, fmt.Sprintf("%q inside %s", css, frameCSS), func(ctx context.Context) (bool, error) {
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(frameCSS)))
		if err != nil {
			return false, err
		}
		try, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if err := chromedp.Do(try, chromedp.WaitVisible(chromedp.CSS(css), chromedp.FromNode(nodes[0]))); err != nil {
			return false, err
		}
		frame = nodes[0]
		return true, nil
	})
	return frame, err
}
