package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeTags are the rules axe runs: WCAG 2.0, 2.1 and 2.2, levels A and AA, and axe's
// best practices.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"}

// axeSource is axe-core's browser build, read once from node_modules (npm axe-core,
// pinned in package.json). It is evaluated through the DevTools protocol, never added
// to the page as a <script>, so the page's Content-Security-Policy stays as strict.
var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("..", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("axe-core is missing (run npm ci, or make test): %w", err)
	}
	return string(b), nil
})

// viewport is a window size and colour scheme a page is checked in.
type viewport struct {
	width, height int64
	mobile        bool
	scheme        string // prefers-color-scheme: light or dark
}

func (v viewport) String() string { return fmt.Sprintf("%dpx-%s", v.width, v.scheme) }

// axeViewports are the sizes and schemes every page is checked in.
var axeViewports = []viewport{
	{1280, 900, false, "light"},
	{1280, 900, false, "dark"},
	{375, 812, true, "light"},
	{375, 812, true, "dark"},
}

// reflowWidth is the narrowest window a page must fit without scrolling sideways
// (WCAG 1.4.10: 320 CSS px).
const reflowWidth = 320

// axeResult is what the test keeps of one axe run.
type axeResult struct {
	Violations []axeRule `json:"violations"`
	Incomplete []axeRule `json:"incomplete"`
}

type axeRule struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"`
	Help   string    `json:"help"`
	Nodes  []axeNode `json:"nodes"`
}

type axeNode struct {
	Target  string `json:"target"`
	Summary string `json:"summary"`
}

// axeRunJS runs axe on the document and keeps the rule ids, impacts, and the first
// few elements of each result.
var axeRunJS = `axe.run(document, {runOnly: {type: "tag", values: ` + jsonList(axeTags) + `}, resultTypes: ["violations", "incomplete"]}).then(function (r) {
	function keep(list) {
		return list.map(function (v) {
			return {id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map(function (n) {
				return {target: n.target.join(" "), summary: (n.failureSummary || "").replace(/\s+/g, " ")};
			})};
		});
	}
	return {violations: keep(r.violations), incomplete: keep(r.incomplete)};
})`

func jsonList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = jsString(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// axeReport collects the results of one test, for its log and artifacts/…/axe.txt.
type axeReport struct {
	mu    sync.Mutex
	lines []string
}

func (r *axeReport) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

// write saves the report beside the test's screenshots.
func (r *axeReport) write(t *testing.T, sh *shots) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.WriteFile(filepath.Join(sh.dir, "axe.txt"), []byte(strings.Join(r.lines, "\n")+"\n"), 0o644); err != nil {
		t.Errorf("write the axe report: %v", err)
	}
}

// checkPage opens path on the portal (or an absolute URL) and checks it: see checkA11y.
func (tb *tab) checkPage(t *testing.T, r *axeReport, name, path string) {
	t.Helper()
	target := path
	if strings.HasPrefix(path, "/") {
		target = tb.base.String() + path
	}
	tb.step(t, name+"-open", func(ctx context.Context) error {
		if err := navigate(ctx, target); err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.WaitReady("body"))
	})
	tb.checkA11y(t, r, name)
}

// checkA11y checks the page the tab shows, as it is now, in each of axeViewports: axe
// must find no violation (its incomplete results are logged, for a person to review),
// and a screenshot is saved for each. Then the page must fit reflowWidth without
// scrolling sideways. The tab is left at its usual size, in light mode.
func (tb *tab) checkA11y(t *testing.T, r *axeReport, name string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	defer tb.resetViewport(t)
	for _, v := range axeViewports {
		var res axeResult
		shot := name + "-" + v.String()
		tb.step(t, shot, func(ctx context.Context) error {
			if err := setViewport(ctx, v); err != nil {
				return err
			}
			if loaded, err := eval[bool](ctx, `typeof window.axe === "object"`); err != nil {
				return err
			} else if !loaded {
				if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+"\n;true")); err != nil {
					return fmt.Errorf("load axe-core: %w", err)
				}
			}
			res, err = chromedp.Run(ctx, chromedp.Evaluate[axeResult](axeRunJS, chromedp.EvalAwaitPromise))
			return err
		})
		loc, _ := location(tb.ctx)
		var incomplete []string
		for _, rule := range res.Incomplete {
			incomplete = append(incomplete, fmt.Sprintf("%s(%d)", rule.ID, len(rule.Nodes)))
		}
		sort.Strings(incomplete)
		line := fmt.Sprintf("%-28s %-11s %s: %d violations; incomplete: %s", name, v, loc.RequestURI(), len(res.Violations), orNone(incomplete))
		r.add(line)
		t.Log("axe " + line)
		for _, rule := range res.Incomplete {
			for _, n := range rule.Nodes {
				r.add(fmt.Sprintf("    incomplete %s: %s: %s", rule.ID, n.Target, n.Summary))
			}
		}
		for _, rule := range res.Violations {
			var nodes []string
			for _, n := range rule.Nodes {
				nodes = append(nodes, fmt.Sprintf("\n\t\t%s: %s", n.Target, n.Summary))
			}
			t.Errorf("axe %s at %s: %s (%s): %s%s", name, v, rule.ID, rule.Impact, rule.Help, strings.Join(nodes, ""))
			r.add(fmt.Sprintf("    VIOLATION %s (%s) %s", rule.ID, rule.Impact, rule.Help))
		}
	}
	tb.step(t, fmt.Sprintf("%s-%dpx", name, reflowWidth), func(ctx context.Context) error {
		if err := setViewport(ctx, viewport{reflowWidth, 640, true, "light"}); err != nil {
			return err
		}
		widths, err := eval[[]int](ctx, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
		if err != nil {
			return err
		}
		if widths[0] > widths[1] {
			wide, _ := eval[string](ctx, `Array.from(document.querySelectorAll("body *")).filter(function (e) {
				var b = e.getBoundingClientRect(); return b.right > document.documentElement.clientWidth + 1;
			}).slice(0, 5).map(function (e) { return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + String(e.className).split(" ").slice(0, 3).join("."); }).join(", ")`)
			return fmt.Errorf("at %d px the page is %d px wide: it scrolls sideways (too wide: %s)", widths[1], widths[0], wide)
		}
		return nil
	})
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, " ")
}

// setViewport sizes the tab's window and sets prefers-color-scheme, then waits for the
// page to lay itself out again.
func setViewport(ctx context.Context, v viewport) error {
	opts := []chromedp.EmulateViewportOption{}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...)); err != nil {
		return fmt.Errorf("emulate %s: %w", v, err)
	}
	media := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.scheme}}}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, media); err != nil {
		return fmt.Errorf("emulate %s: %w", v, err)
	}
	// Two frames for the layout, then the buttons' colour transitions (150 ms) end.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(function (ok) { requestAnimationFrame(function () { requestAnimationFrame(function () { setTimeout(function () { ok(true); }, 300); }); }); })`, chromedp.EvalAwaitPromise))
	return err
}

// resetViewport puts the tab back to its usual window, in light mode.
func (tb *tab) resetViewport(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := setViewport(ctx, viewport{1280, 900, false, "light"}); err != nil {
		t.Errorf("reset the window: %v", err)
	}
}
