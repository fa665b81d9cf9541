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

// TestWithoutJavaScript unlocks with scripts off: the Unlock link leads to the
// confirmation page, whose button POSTs and lands on the device page, and the server
// follows the action to its end by itself.
func TestWithoutJavaScript(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	p := testportal.Start(t, testportal.Options{ActionDelay: 700 * time.Millisecond})
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
		return waitFor(ctx, "the unlock's status on the device page", func(ctx context.Context) (bool, error) {
			got, err := textOf(ctx, status)
			return strings.Contains(got, "Unlocking…") || unlockedAt.MatchString(got), err
		})
	})
	alice.step(t, "alice-unlocked", func(ctx context.Context) error {
		// Nothing on the page polls: reloading shows what the server recorded.
		err := waitFor(ctx, "\"Unlocked at\" after reloading", func(ctx context.Context) (bool, error) {
			got, err := textOf(ctx, status)
			if err == nil && unlockedAt.MatchString(got) {
				return true, nil
			}
			select { // pace the reloads
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
			return false, chromedp.Do(ctx, chromedp.Reload())
		})
		if err != nil {
			return err
		}
		return waitText(ctx, `[id="lock-`+id+`"]`, "Unlocked")
	})
	if n := len(p.Sandbox.CallsTo("locks/unlock_door")); n != 1 {
		t.Errorf("the unlock reached Seam %d times, want once", n)
	}
}
