package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/testing/testportal"
)

// TestWithoutJavaScript unlocks with scripts off: the Unlock button leads to the
// confirmation page, whose button POSTs and lands on the device page, which offers
// "Check again" and reloads itself until the server has followed the action to its
// end; the connect window says what to do when the sign-in is done.
func TestWithoutJavaScript(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	// Long enough for the pending page to be seen, and reload itself, at least once.
	p := testportal.Start(t, testportal.Options{ActionDelay: 4 * time.Second})
	alice := startBrowser(t, ctx, p.URL, newShots(t))
	alice.disableJavaScript(t)

	alice.signIn(t, "alice", "Alice Anders", func(ctx context.Context) error {
		if on, err := eval[bool](ctx, `!!window.htmx`); err != nil || on {
			return fmt.Errorf("scripts still run on the page (htmx loaded: %t, %v)", on, err)
		}
		return nil
	})
	// Not a test of connecting: her locks come through the store.
	giveLocks(t, p, userID(t, p, "alice@example.com"), 2)

	var target deviceRow
	alice.step(t, "alice-devices", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/devices"); err != nil {
			return err
		}
		rows, err := deviceRows(ctx)
		if err != nil {
			return err
		}
		target, err = lockToUnlock(rows)
		return err
	})
	alice.step(t, "alice-confirm-unlock", func(ctx context.Context) error {
		if err := click(ctx, chromedp.CSS(`main form[action=`+jsString(target.Unlock)+`] button`)); err != nil {
			return err
		}
		if err := alice.waitPath(ctx, target.Unlock); err != nil {
			return err
		}
		return waitText(ctx, "main h1", "Unlock "+target.Name+"?")
	})
	id := strings.TrimPrefix(target.Href, "/devices/")
	status := `[id="action-` + id + `"]`
	alice.step(t, "alice-unlock-requested", func(ctx context.Context) error {
		if err := click(ctx, `//main//form[@method="post"]//button[normalize-space()="Yes, unlock"]`); err != nil {
			return err
		}
		if err := alice.waitPath(ctx, target.Href); err != nil {
			return err
		}
		if err := waitText(ctx, status, "Unlocking…"); err != nil {
			return err
		}
		// The pending page offers to check again, and its <noscript> refresh is in effect.
		if got, err := textOf(ctx, status+` a[href="`+target.Href+`"]`); err != nil || got != "Check again" {
			return fmt.Errorf("the pending status offers %q (%v), want a \"Check again\" link to the device page", got, err)
		}
		return nil
	})
	alice.step(t, "alice-unlocked", func(ctx context.Context) error {
		// Nobody reloads: the page does, until it shows what the server recorded.
		if _, err := waitTextMatch(ctx, status, unlockedAt); err != nil {
			return err
		}
		if err := waitText(ctx, `[id="lock-`+id+`"]`, "Unlocked"); err != nil {
			return err
		}
		// Nothing is pending any more: the page stops reloading itself.
		refresh, err := eval[int](ctx, `document.querySelectorAll('meta[http-equiv="refresh"]').length +
			Array.from(document.querySelectorAll("noscript")).filter(function (n) { return /http-equiv="refresh"/i.test(n.textContent); }).length`)
		if err != nil || refresh != 0 {
			return fmt.Errorf("the finished page still has %d refresh elements (%v)", refresh, err)
		}
		return nil
	})
	alice.step(t, "alice-connect-window", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/connect"); err != nil {
			return err
		}
		if err := click(ctx, `//main//form[@action="/connect"]//button`); err != nil {
			return err
		}
		if err := alice.waitPathMatch(ctx, webviewPath); err != nil {
			return err
		}
		return waitText(ctx, "main", "JavaScript is off, so this page cannot notice when you finish")
	})
	if n := len(p.Sandbox.CallsTo("locks/unlock_door")); n != 1 {
		t.Errorf("the unlock reached Seam %d times, want once", n)
	}
}
