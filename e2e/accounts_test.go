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

// newSameUserTab opens another tab of the same browser context: the same signed-in
// user, a second open page.
func (tb *tab) newSameUserTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.ctx)
	t.Cleanup(cancel)
	watchdog := time.AfterFunc(stepTimeout, cancel)
	err := chromedp.Do(ctx)
	if stopped := watchdog.Stop(); err != nil || !stopped {
		t.Fatalf("open a second tab: %v (timed out: %t)", err, !stopped)
	}
	return &tab{ctx: ctx, base: tb.base, shots: tb.shots, dialogs: acceptDialogs(t, ctx)}
}

// TestAccountsBrowser is issue 17's browser scenario: alice connects her August account,
// renames a lock (the page updates in place and her other open tab hears it live), is
// signed out by the provider and reconnects through the webview, getting the same
// account back, then removes the account (its locks leave the other tab live).
func TestAccountsBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	p := testportal.Start(t, testportal.Options{})
	sh := newShots(t)
	alice := startBrowser(t, ctx, p.URL, sh)
	alice.signIn(t, "alice", "Alice Anders", nil)
	testConnect(t, alice)
	aliceID := userID(t, p, "alice@example.com")
	accounts, err := p.DB.ConnectedAccountsForUser(ctx, aliceID)
	if err != nil || len(accounts) != 1 {
		t.Fatalf("alice's accounts: %v, %v", accounts, err)
	}
	accountID := accounts[0].ID

	other := alice.newSameUserTab(t)
	other.step(t, "other-tab-devices", func(ctx context.Context) error {
		if err := navigate(ctx, other.base.String()+"/devices"); err != nil {
			return err
		}
		return waitText(ctx, "main", "Front Door")
	})

	t.Run("rename, pushed live", func(t *testing.T) {
		alice.step(t, "alice-renames-front-door", func(ctx context.Context) error {
			if err := click(ctx, `//main//h2//a[normalize-space()="Front Door"]`); err != nil {
				return err
			}
			if err := waitText(ctx, "main h1", "Front Door"); err != nil {
				return err
			}
			// The live stream must be open before the change for the other tab to hear it.
			if err := typeInto(ctx, chromedp.CSS(`main form[id^="rename-"] input[name="name"]`), "Porch Door"); err != nil {
				return err
			}
			if err := click(ctx, `//main//form[starts-with(@id,"rename-")]//button[normalize-space()="Rename"]`); err != nil {
				return err
			}
			if err := waitText(ctx, "main", "Renamed to Porch Door."); err != nil {
				return err
			}
			return waitText(ctx, "main h1", "Porch Door")
		})
		other.step(t, "other-tab-hears-the-new-name", func(ctx context.Context) error {
			return waitFor(ctx, "Porch Door on the other tab's list", func(ctx context.Context) (bool, error) {
				rows, err := deviceRows(ctx)
				if err != nil {
					return false, err
				}
				for _, r := range rows {
					if r.Name == "Porch Door" {
						return true, nil
					}
				}
				return false, nil
			})
		})
	})

	t.Run("reconnect gives the same account back", func(t *testing.T) {
		if err := p.Sandbox.DisconnectAccount(accountID); err != nil {
			t.Fatal(err)
		}
		alice.step(t, "alice-account-needs-reconnecting", func(ctx context.Context) error {
			if err := click(ctx, `//header//a[normalize-space()="Accounts"]`); err != nil {
				return err
			}
			if err := alice.waitPath(ctx, "/accounts"); err != nil {
				return err
			}
			return waitText(ctx, "main", "The provider signed Latchkey out; reconnect to keep using these locks.")
		})
		alice.step(t, "alice-reconnect-webview", func(ctx context.Context) error {
			if err := click(ctx, `//main//form//button[starts-with(normalize-space(), "Reconnect")]`); err != nil {
				return err
			}
			if err := alice.waitPathMatch(ctx, webviewPath); err != nil {
				return err
			}
			frame, err := frameWith(ctx, webviewFrame, augustOrEmail)
			if err != nil {
				return err
			}
			if n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`a[href*="provider=schlage"]`), chromedp.AtLeast(0), chromedp.FromNode(frame))); err != nil || len(n) != 0 {
				return fmt.Errorf("the reconnect webview offers other brands (%d, %v)", len(n), err)
			}
			return fillAugustLogin(ctx, frame, "jane@example.com", "1234")
		})
		alice.step(t, "alice-reconnected", func(ctx context.Context) error {
			frame, err := frameWith(ctx, webviewFrame, "#email")
			if err != nil {
				return err
			}
			if err := click(ctx, chromedp.CSS(`button[value="login"]`), chromedp.FromNode(frame)); err != nil {
				return err
			}
			if err := alice.waitPath(ctx, "/accounts"); err != nil {
				return err
			}
			if err := waitText(ctx, "main", "Reconnected your lock account."); err != nil {
				return err
			}
			return waitText(ctx, "main", "jane@example.com")
		})
		after, err := p.DB.ConnectedAccountsForUser(ctx, aliceID)
		if err != nil || len(after) != 1 || after[0].ID != accountID {
			t.Errorf("after reconnecting, alice's accounts are %+v (%v), want the same %s", after, err, accountID)
		}
	})

	t.Run("remove, pushed live", func(t *testing.T) {
		alice.step(t, "alice-remove-confirmation", func(ctx context.Context) error {
			if u, err := location(ctx); err != nil || u.Path != "/accounts" {
				if err := navigate(ctx, alice.base.String()+"/accounts"); err != nil {
					return err
				}
			}
			if err := click(ctx, `//main//a[starts-with(normalize-space(), "Remove")]`); err != nil {
				return err
			}
			if err := waitText(ctx, "main h1", "Remove August account?"); err != nil {
				return err
			}
			return waitText(ctx, "main", "Porch Door")
		})
		alice.step(t, "alice-removed", func(ctx context.Context) error {
			if err := click(ctx, `//main//form//button[normalize-space()="Yes, remove"]`); err != nil {
				return err
			}
			if err := alice.waitPath(ctx, "/accounts"); err != nil {
				return err
			}
			if err := waitText(ctx, "main", "Removed your August account jane@example.com"); err != nil {
				return err
			}
			return waitText(ctx, "main", "No lock account connected yet.")
		})
		other.step(t, "other-tab-loses-the-locks", func(ctx context.Context) error {
			return waitFor(ctx, "the other tab's list to empty", func(ctx context.Context) (bool, error) {
				rows, err := deviceRows(ctx)
				return err == nil && len(rows) == 0, err
			})
		})
		if text, _ := textOf(other.ctx, "main"); strings.Contains(text, "Porch Door") {
			t.Errorf("the other tab still shows the removed lock: %s", text)
		}
	})
}
