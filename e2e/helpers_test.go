package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/store"
)

// deviceRow is one row of a device list as the DOM shows it.
type deviceRow struct {
	Name   string `json:"name"`
	Online bool   `json:"online"`
	Locked bool   `json:"locked"` // the badge says Locked
	Href   string `json:"href"`   // the device page link; "" on read-only lists
	Unlock string `json:"unlock"` // the enabled Unlock form's action (the confirmation page); "" when there is none
	// Controls is true when the row offers any Lock or Unlock control.
	Controls bool `json:"controls"`
}

// deviceRowsJS reads the rows of the device list in main.
const deviceRowsJS = `Array.from(document.querySelectorAll('main ul[aria-label="Devices"] > li')).map(function (li) {
	var h = li.querySelector("h2"), a = li.querySelector('h2 a[href^="/devices/"]'), u = li.querySelector('form[action$="/unlock"]');
	return {
		name: h ? h.innerText.trim() : "",
		online: /\bOnline\b/.test(li.innerText),
		locked: /\bLocked\b/.test(li.innerText),
		href: a ? a.getAttribute("href") : "",
		unlock: u ? u.getAttribute("action") : "",
		controls: !!li.querySelector('[hx-post], form[method="post"], form[action$="/unlock"]') ||
			Array.from(li.querySelectorAll("a, button")).some(function (b) { return /^(Lock|Unlock)\b/.test(b.textContent.trim()); })
	};
})`

// lockToUnlock picks an online, locked lock with an enabled Unlock button, so that the unlock
// visibly changes it; else any online one with the link.
func lockToUnlock(rows []deviceRow) (deviceRow, error) {
	for _, strict := range []bool{true, false} {
		for _, r := range rows {
			if r.Online && r.Unlock != "" && (r.Locked || !strict) {
				return r, nil
			}
		}
	}
	return deviceRow{}, fmt.Errorf("no online lock with an enabled Unlock button: %+v", rows)
}

func deviceRows(ctx context.Context) ([]deviceRow, error) {
	rows, err := eval[[]deviceRow](ctx, deviceRowsJS)
	if err != nil {
		return nil, fmt.Errorf("read the device list: %w", err)
	}
	return rows, nil
}

// actionControlsJS counts lock/unlock controls anywhere in main.
const actionControlsJS = `document.querySelectorAll('main [hx-post*="/unlock"], main [hx-post*="/lock"], main form[action$="/unlock"], main form[action$="/lock"]').length +
	Array.from(document.querySelectorAll("main a, main button")).filter(function (b) { return /^(Lock|Unlock|Yes, unlock)\b/.test(b.textContent.trim()); }).length`

// signIn goes the whole way a person does: the landing page, its "Sign in" button, the
// dev IdP's form, and back to /devices, where then checks what the user sees.
func (tb *tab) signIn(t *testing.T, username, displayName string, then func(ctx context.Context) error) {
	t.Helper()
	tb.step(t, username+"-landing", func(ctx context.Context) error {
		if err := navigate(ctx, tb.base.String()+"/"); err != nil {
			return err
		}
		return waitText(ctx, "main h1", "Your doors, in one place.")
	})
	tb.step(t, username+"-idp-login", func(ctx context.Context) error {
		if err := click(ctx, `//main//a[normalize-space()="Sign in"]`); err != nil {
			return err
		}
		if err := tb.waitIdP(ctx); err != nil {
			return err
		}
		if err := typeInto(ctx, chromedp.ID("username"), username); err != nil {
			return err
		}
		return typeInto(ctx, chromedp.ID("password"), testportal.Password)
	})
	tb.step(t, username+"-signed-in", func(ctx context.Context) error {
		if err := click(ctx, `//form//button[normalize-space()="Sign in"]`); err != nil {
			return err
		}
		if err := tb.waitPath(ctx, "/devices"); err != nil {
			return err
		}
		if err := waitText(ctx, "header", displayName); err != nil {
			return fmt.Errorf("signed in, but the navigation does not name %s: %w", displayName, err)
		}
		if then == nil {
			return nil
		}
		return then(ctx)
	})
}

// waitIdP waits for the dev IdP's login form, on the IdP's own origin.
func (tb *tab) waitIdP(ctx context.Context) error {
	err := waitFor(ctx, "the dev IdP's login page", func(ctx context.Context) (bool, error) {
		u, err := location(ctx)
		if err != nil {
			return false, err
		}
		return u.Host != tb.base.Host && u.Path == "/login", nil
	})
	if err != nil {
		return err
	}
	return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("username")))
}

// userID is the portal's id of the user with that email (they must have signed in).
func userID(t *testing.T, p *testportal.Portal, email string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	users, err := p.DB.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Email == email {
			return u.ID
		}
	}
	t.Fatalf("no user %s in the portal's database", email)
	return ""
}

// giveLocks gives the user n online sandbox locks the way the connect flow ends: an
// account granted to their client session and recorded as theirs. Tests that are not
// about connecting use it.
func giveLocks(t *testing.T, p *testportal.Portal, userID string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	account, devices := p.Sandbox.AddConnectedAccount(userID, n)
	err := p.DB.RecordConnectedAccount(ctx, store.ConnectedAccount{ID: account, UserID: userID, DeviceCount: len(devices)})
	if err != nil {
		t.Fatal(err)
	}
}
