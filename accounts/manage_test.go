package accounts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// connect runs a whole connection for user with a sandbox login and returns the account.
func (e *env) connect(t *testing.T, user store.User, email string) string {
	t.Helper()
	wv := e.start(t, user)
	e.signIn(t, wv, email)
	out, err := e.svc.Complete(e.ctx(), user, wv, "")
	if err != nil || out.Status != store.WebviewAuthorized {
		t.Fatalf("Complete: %+v, %v", out, err)
	}
	return out.AccountID
}

// TestAccountGoneAtSeam: an account the lock service deleted on its own is shown as
// gone, cannot be reconnected, and is removed locally without asking Seam to delete.
func TestAccountGoneAtSeam(t *testing.T) {
	e := newEnv(t)
	jane := e.connect(t, e.alice, sandbox.JaneEmail)
	john := e.connect(t, e.alice, sandbox.JohnEmail)
	if err := e.sb.DeleteAccount(jane); err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.Accounts(e.ctx(), e.alice)
	if err != nil || list.Unavailable || len(list.Accounts) != 2 {
		t.Fatalf("Accounts = %+v, %v", list, err)
	}
	for _, a := range list.Accounts {
		switch a.ID {
		case jane:
			if !a.Gone || a.Described {
				t.Errorf("deleted account = %+v, want gone", a)
			}
		case john:
			if a.Gone || a.ProviderName != "Schlage" || a.Login != sandbox.JohnEmail || len(a.Errors) != 0 {
				t.Errorf("john's account = %+v", a)
			}
		}
	}
	if _, err := e.svc.Reconnect(e.ctx(), e.alice, jane); !errors.Is(err, accounts.ErrAccountGone) {
		t.Errorf("Reconnect of a gone account: %v, want ErrAccountGone", err)
	}
	deletes := len(e.sb.CallsTo("/connected_accounts/delete"))
	if _, err := e.svc.Remove(e.ctx(), e.alice, jane); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sb.CallsTo("/connected_accounts/delete")) - deletes; n != 0 {
		t.Errorf("removing a gone account asked Seam to delete it %d times", n)
	}
	if e.ownershipRows(t, jane) != 0 || e.ownershipRows(t, john) != 1 {
		t.Error("removal ended the wrong ownership records")
	}
	if got := e.audits(t, e.alice, store.AuditAccountRemoved); len(got) != 1 || got[0].RemoteAddr != clientAddr {
		t.Errorf("account.removed events: %+v", got)
	}
}

// TestAccountNotTheUsers: another user's account, an unknown one and a malformed id
// are all ErrAccountNotFound, audited, and Seam is never asked to delete.
func TestAccountNotTheUsers(t *testing.T) {
	e := newEnv(t)
	jane := e.connect(t, e.alice, sandbox.JaneEmail)
	for _, id := range []string{jane, "00000000-0000-4000-8000-000000000000", "../x", ""} {
		if _, err := e.svc.Account(e.ctx(), e.bob, id); !errors.Is(err, accounts.ErrAccountNotFound) {
			t.Errorf("Account(bob, %q): %v", id, err)
		}
		if _, err := e.svc.Remove(e.ctx(), e.bob, id); !errors.Is(err, accounts.ErrAccountNotFound) {
			t.Errorf("Remove(bob, %q): %v", id, err)
		}
		if _, err := e.svc.Reconnect(e.ctx(), e.bob, id); !errors.Is(err, accounts.ErrAccountNotFound) {
			t.Errorf("Reconnect(bob, %q): %v", id, err)
		}
	}
	if n := len(e.sb.CallsTo("/connected_accounts/delete")); n != 0 {
		t.Errorf("Seam was asked to delete %d times", n)
	}
	if len(e.audits(t, e.bob, store.AuditAccessDenied)) == 0 {
		t.Error("bob's attempts were not audited")
	}
	// An account recorded for alice that Seam gives another key only is not hers
	// either (an upstream mistake): Latchkey's record alone is not enough.
	stray, _ := e.sb.AddConnectedAccount("someone-else", 1)
	if err := e.db.RecordConnectedAccount(e.ctx(), store.ConnectedAccount{ID: stray, UserID: e.alice.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Remove(e.ctx(), e.alice, stray); !errors.Is(err, accounts.ErrAccountNotFound) {
		t.Errorf("Remove of an account Seam does not list for alice: %v, want ErrAccountNotFound", err)
	}
	if n := len(e.sb.CallsTo("/connected_accounts/delete")); n != 0 {
		t.Errorf("Seam was asked to delete %d times", n)
	}
}

// TestOverviewExpiresAbandonedAttempts: listing the attempts ends those pending past
// AbandonAfter; Complete then reports them failed, as the store recorded.
func TestOverviewExpiresAbandonedAttempts(t *testing.T) {
	e := newEnv(t)
	old := e.start(t, e.alice)
	e.now = e.now.Add(accounts.AbandonAfter + time.Minute)
	fresh := e.start(t, e.alice)
	o, err := e.svc.Overview(e.ctx(), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]store.ConnectWebview{}
	for _, wv := range o.Webviews {
		status[wv.ID] = wv
	}
	if status[old].Status != store.WebviewFailed || status[old].ErrorCode != store.WebviewExpired || status[fresh].Status != store.WebviewPending {
		t.Errorf("after listing: old %+v, fresh %+v", status[old], status[fresh])
	}
	out, err := e.svc.Complete(e.ctx(), e.alice, old, "")
	if err != nil || out.Status != store.WebviewFailed || out.ErrorCode != store.WebviewExpired {
		t.Errorf("Complete of the expired attempt = %+v, %v", out, err)
	}
}
