package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// TestAccessibility runs axe-core on every page and state of the portal, at 1280 and
// 375 px, light and dark, failing on any violation, and checks that none scrolls
// sideways at 320 px (see checkA11y). Each page is one line: checkPage opens a URL and
// checks it; checkA11y checks the page as a step left it. The results, incomplete
// ones included, are in the log and in artifacts/e2e/TestAccessibility/axe.txt.
func TestAccessibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	// The sandbox holds actions pending long enough to check the page meanwhile.
	p := testportal.Start(t, testportal.Options{ActionDelay: 15 * time.Second,
		Env: map[string]string{"LATCHKEY_SEAM_BUDGET": "1000/10s"}})
	sh := newShots(t)
	report := &axeReport{}
	defer report.write(t, sh)
	visitor := startBrowser(t, ctx, p.URL, sh)

	// Signed out.
	visitor.checkPage(t, report, "signed-out", "/")
	visitor.checkPage(t, report, "error-404", "/no-such-page")
	visitor.checkPage(t, report, "error-405", "/logout")

	// Signed in, nothing connected yet.
	alice := visitor.newIncognitoTab(t)
	alice.signIn(t, "alice", "Alice Anders", nil)
	aliceID := userID(t, p, "alice@example.com")
	alice.checkPage(t, report, "devices-empty", "/devices")
	alice.checkPage(t, report, "activity-sign-in", "/activity")
	alice.checkPage(t, report, "error-403", "/admin/users")

	// Connecting: the overview, the sign-in window, Seam's (the sandbox's) webview on
	// its own URL (axe does not look into cross-origin frames), "Almost there", the
	// overview with the attempt pending, and a failed attempt.
	alice.checkPage(t, report, "connect-empty", "/connect")
	var webviewID, frameURL string
	alice.step(t, "connect-start", func(ctx context.Context) error {
		if err := click(ctx, `//main//form[@action="/connect"]//button`); err != nil {
			return err
		}
		if err := alice.waitPathMatch(ctx, webviewPath); err != nil {
			return err
		}
		u, err := location(ctx)
		if err != nil {
			return err
		}
		webviewID = strings.TrimPrefix(u.Path, "/connect/")
		frameURL, err = eval[string](ctx, `document.getElementById("connect-frame").src`)
		return err
	})
	alice.checkA11y(t, report, "connect-window")
	alice.checkPage(t, report, "sandbox-webview", frameURL)
	returnPath := "/connect/return?connect_webview_id=" + url.QueryEscape(webviewID)
	alice.checkPage(t, report, "connect-almost-there", returnPath)
	alice.checkPage(t, report, "connect-pending", "/connect")
	// A failure only Seam can report: the provider refuses the sign-in (the sandbox's
	// failing login), so Seam says the webview failed and the return page says why.
	if _, err := p.Sandbox.CompleteWebview(webviewID, sandbox.FailEmail, sandbox.LoginPassword); !errors.Is(err, sandbox.ErrProviderLoginFailed) {
		t.Fatalf("failing the webview at the provider: %v", err)
	}
	alice.step(t, "connect-failed", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+returnPath+"&error_code="+sandbox.ErrorCodeProviderLoginFailed); err != nil {
			return err
		}
		if err := waitText(ctx, "main h1", "Connecting did not work"); err != nil {
			return err
		}
		return waitText(ctx, "main", "Your lock provider refused the sign-in.")
	})
	alice.checkA11y(t, report, "connect-failed")
	// Seam down: the error page that offers "Try again".
	p.Sandbox.InjectFault(sandbox.Fault{Path: "connect_webviews/create", Status: 503, Times: 1})
	alice.step(t, "connect-seam-down", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/connect"); err != nil {
			return err
		}
		if err := click(ctx, `//main//form[@action="/connect"]//button`); err != nil {
			return err
		}
		return waitText(ctx, "main h1", "Your locks cannot be reached right now")
	})
	alice.checkA11y(t, report, "error-503")

	// Her locks: three online, one offline, one on a disconnected account.
	giveLocks(t, p, aliceID, 3)
	offline := giveAccount(t, p, aliceID, 1, false)[0]
	if err := p.Sandbox.SetOnline(offline, false); err != nil {
		t.Fatal(err)
	}
	cut := giveAccount(t, p, aliceID, 1, true)[0]
	p.SettleEvents(t)

	var target deviceRow
	alice.step(t, "devices", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/devices"); err != nil {
			return err
		}
		rows, err := deviceRows(ctx)
		if err != nil {
			return err
		}
		if len(rows) != 5 {
			return fmt.Errorf("%d devices listed, want 5", len(rows))
		}
		target, err = lockToUnlock(rows)
		return err
	})
	alice.checkA11y(t, report, "devices-list")
	alice.checkPage(t, report, "devices-filtered", "/devices?q="+url.QueryEscape(target.Name))
	alice.checkPage(t, report, "devices-no-match", "/devices?q=zzz")

	// After a boosted navigation focus is on the new page's heading.
	alice.step(t, "focus-after-navigation", func(ctx context.Context) error {
		if err := click(ctx, chromedp.CSS(`header a[href="/activity"]`)); err != nil {
			return err
		}
		if err := alice.waitPath(ctx, "/activity"); err != nil {
			return err
		}
		return waitFor(ctx, "focus on the main heading", func(ctx context.Context) (bool, error) {
			return eval[bool](ctx, `document.activeElement === document.querySelector("main h1")`)
		})
	})

	// The device page before, during and after an unlock, and its confirmation page.
	alice.checkPage(t, report, "device", target.Href)
	alice.checkPage(t, report, "confirm-unlock", target.Unlock)
	status := `[id="action-` + strings.TrimPrefix(target.Href, "/devices/") + `"]`
	alice.step(t, "unlock", func(ctx context.Context) error {
		if err := click(ctx, `//main//form[@method="post"]//button[normalize-space()="Yes, unlock"]`); err != nil {
			return err
		}
		return waitText(ctx, status, "Unlocking…")
	})
	alice.checkA11y(t, report, "device-unlocking")
	alice.step(t, "spinner-reduced-motion", func(ctx context.Context) error {
		spin := `getComputedStyle(document.querySelector('` + status + ` [aria-hidden="true"].rounded-full')).animationName`
		for _, c := range []struct{ motion, want string }{{"no-preference", "spin"}, {"reduce", "none"}} {
			media := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: c.motion}}}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, media); err != nil {
				return err
			}
			if got, err := eval[string](ctx, spin); err != nil || got != c.want {
				return fmt.Errorf("with prefers-reduced-motion: %s the spinner's animation is %q (%v), want %q", c.motion, got, err, c.want)
			}
		}
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	})
	alice.step(t, "unlocked", func(ctx context.Context) error {
		// The sandbox answers after 15 s; a step waits 30 s at most.
		_, err := waitTextMatch(ctx, status, unlockedAt)
		return err
	})
	alice.checkA11y(t, report, "device-unlocked")
	alice.checkPage(t, report, "activity", "/activity")
	alice.checkPage(t, report, "sessions", "/sessions")
	alice.checkPage(t, report, "accounts", "/accounts")
	alice.checkPage(t, report, "settings", "/settings")
	alice.checkPage(t, report, "activity-filtered", "/activity?outcome=succeeded")

	// Refusals, each its own error page.
	alice.checkPage(t, report, "error-409-offline", "/devices/"+offline+"/unlock")
	alice.checkPage(t, report, "error-409-disconnected", "/devices/"+cut+"/unlock")
	alice.checkPage(t, report, "error-404-device", "/devices/00000000-0000-4000-8000-000000000000")

	// The admin's pages.
	admin := visitor.newIncognitoTab(t)
	admin.signIn(t, "admin", "Ada Admin", nil)
	admin.checkPage(t, report, "admin-users", "/admin/users")
	// The users table is usable at 320 px: every column in view, none scrolled to.
	admin.step(t, "admin-users-table-fits", func(ctx context.Context) error {
		if err := setViewport(ctx, viewport{reflowWidth, 640, true, "light"}); err != nil {
			return err
		}
		widths, err := eval[[]int](ctx, `(function (r) { return [r.scrollWidth, r.clientWidth]; })(document.querySelector('[aria-label="Users table"]'))`)
		if err != nil {
			return err
		}
		if widths[0] > widths[1] {
			return fmt.Errorf("at %d px the users table is %d px wide in a %d px region: columns are scrolled out of view", reflowWidth, widths[0], widths[1])
		}
		return nil
	})
	admin.resetViewport(t)
	admin.checkPage(t, report, "admin-user", "/admin/users/"+aliceID)
	admin.checkPage(t, report, "admin-confirm-disable", "/admin/users/"+aliceID+"/disable")

	// Signing out says so.
	alice.step(t, "sign-out", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/devices"); err != nil {
			return err
		}
		if err := click(ctx, `//header//form[@action="/logout"]//button`); err != nil {
			return err
		}
		if err := alice.waitPath(ctx, "/"); err != nil {
			return err
		}
		return waitText(ctx, "main", "You have signed out.")
	})
	alice.checkA11y(t, report, "signed-out-message")
}

// giveAccount is giveLocks for one more account, optionally disconnected at its
// provider, and returns its device ids.
func giveAccount(t *testing.T, p *testportal.Portal, userID string, n int, disconnected bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	account, devices := p.Sandbox.AddConnectedAccount(userID, n)
	if err := p.DB.RecordConnectedAccount(ctx, store.ConnectedAccount{ID: account, UserID: userID, DeviceCount: len(devices)}); err != nil {
		t.Fatal(err)
	}
	if disconnected {
		if err := p.Sandbox.DisconnectAccount(account); err != nil {
			t.Fatal(err)
		}
	}
	return devices
}
