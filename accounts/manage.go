package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// AbandonAfter is how long a connection attempt may stay pending: older ones are
// recorded as expired (failed) the next time the user's attempts are listed.
const AbandonAfter = time.Hour

// reconnectMetadataKey names, in a reconnecting webview's custom_metadata, the account
// it reconnects. Seam keeps an account's id when the same provider login signs in
// again; the sandbox (seam/sandbox.ReconnectMetadataKey) reads this key to do the same.
const reconnectMetadataKey = "reconnect_connected_account_id"

// Errors of the account use cases (wrapped); handlers turn each into a page.
var (
	// ErrAccountNotFound is an account id that is malformed, unknown, or not the
	// user's by Latchkey's record or by Seam's; the refusal has been audited.
	ErrAccountNotFound = errors.New("connected account not the user's")
	// ErrAccountGone is the user's account that the lock service no longer has: it
	// cannot be reconnected, only removed.
	ErrAccountGone = errors.New("connected account gone at the lock service")
)

// Account is one of the user's connected accounts, as the accounts page shows it.
type Account struct {
	store.ConnectedAccount
	// Described is set when Seam described the account just now (Provider, Login,
	// Errors); otherwise the status comes from the copy of its devices.
	Described bool
	// Provider is Seam's account_type (e.g. "august"); ProviderName its display name.
	Provider     string
	ProviderName string
	// Login is the account's email, user name or phone as the provider reports it.
	Login string
	// Errors are the account's problems (account_disconnected …): while there are
	// any, its locks need it reconnected.
	Errors []seam.DeviceError
	// Gone is an account the lock service no longer has.
	Gone bool
	// Devices are the account's locks from the copy.
	Devices []seam.Device
}

// AccountList is the user's accounts and whether Seam could describe them.
type AccountList struct {
	Accounts []Account
	// Unavailable is set when Seam could not be asked: what Latchkey knows is shown.
	Unavailable bool
}

// ConnectedAccountAPI reads and deletes connected accounts.
type ConnectedAccountAPI interface {
	Get(ctx context.Context, connectedAccountID string) (*seam.ConnectedAccount, error)
	List(ctx context.Context, p seam.ListConnectedAccountsParams) ([]seam.ConnectedAccount, error)
	Delete(ctx context.Context, connectedAccountID string) error
}

// expire ends the user's abandoned connection attempts. A failure is logged: it only
// delays the expiry to the next listing.
func (s *Service) expire(ctx context.Context, user store.User) {
	now := s.Now()
	if _, err := s.Store.ExpireConnectWebviews(ctx, user.ID, now.Add(-AbandonAfter), now); err != nil {
		s.Log.WarnContext(ctx, "expire connect webviews", "error", err)
	}
}

// Accounts lists the user's connected accounts with their provider, login, status and
// locks. Seam is asked once (connected_accounts/list by the user's key); when it cannot
// answer, the list is still shown, with the status the copy of the devices gives.
func (s *Service) Accounts(ctx context.Context, user store.User) (AccountList, error) {
	records, err := s.Store.ConnectedAccountsForUser(ctx, user.ID)
	if err != nil || len(records) == 0 {
		return AccountList{}, err
	}
	var devices []seam.Device
	if s.Devices != nil {
		if devices, err = s.Devices.Devices(ctx, user.ID); err != nil {
			s.Log.WarnContext(ctx, "devices of the accounts page", "error", err)
		}
	}
	var out AccountList
	described, err := s.listAtSeam(ctx, user)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return AccountList{}, err
		}
		s.Log.WarnContext(ctx, "describe connected accounts", "error", err)
		out.Unavailable = true
	}
	for _, rec := range records {
		a := Account{ConnectedAccount: rec}
		for _, d := range devices {
			if d.ConnectedAccountID == rec.ID {
				a.Devices = append(a.Devices, d)
			}
		}
		if sa, ok := described[rec.ID]; ok {
			a.describe(sa)
		} else if !out.Unavailable {
			a.Gone = true
		} else {
			a.Errors = copiedAccountErrors(a.Devices)
		}
		out.Accounts = append(out.Accounts, a)
	}
	return out, nil
}

// describe fills what Seam says about the account.
func (a *Account) describe(sa seam.ConnectedAccount) {
	a.Described = true
	a.Provider, a.ProviderName = sa.AccountType, sa.AccountTypeDisplayName
	if a.ProviderName == "" {
		a.ProviderName = sa.AccountType
	}
	if id := sa.UserIdentifier; id != nil {
		a.Login = firstNonEmpty(id.Email, id.Username, id.Phone)
	}
	if a.Login == "" {
		a.Login = sa.DisplayName
	}
	a.Errors = sa.Errors
}

// Name is how the audit trail and messages name the account.
func (a Account) Name() string {
	name := strings.TrimSpace(a.ProviderName + " account")
	if a.Login != "" {
		return name + " " + a.Login
	}
	return name + " " + shortID(a.ID)
}

// copiedAccountErrors are the account-level errors the copy of its devices carries.
func copiedAccountErrors(devices []seam.Device) []seam.DeviceError {
	var out []seam.DeviceError
	seen := map[string]bool{}
	for _, d := range devices {
		for _, e := range d.Errors {
			if (e.IsConnectedAccountError || e.ErrorCode == "account_disconnected") && !seen[e.ErrorCode] {
				seen[e.ErrorCode] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// listAtSeam is the user's accounts at Seam (their user_identifier_key), by id.
func (s *Service) listAtSeam(ctx context.Context, user store.User) (map[string]seam.ConnectedAccount, error) {
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return nil, err
	}
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	listed, err := s.Seam.ConnectedAccounts.List(sctx, seam.ListConnectedAccountsParams{UserIdentifierKey: user.ID})
	if err != nil {
		return nil, seamFailed("list connected accounts", err)
	}
	out := make(map[string]seam.ConnectedAccount, len(listed))
	for _, a := range listed {
		out[a.ConnectedAccountID] = a
	}
	return out, nil
}

// Account returns one of the user's accounts only when it is theirs both ways:
// Latchkey's record, and Seam listing it under the user's key. An account the lock
// service no longer has at all is returned with Gone set. Anything else is
// ErrAccountNotFound, audited.
func (s *Service) Account(ctx context.Context, user store.User, id string) (Account, error) {
	deny := func(reason string) (Account, error) {
		s.refused(ctx, user, store.AuditAccessDenied, reason)
		return Account{}, fmt.Errorf("%s: %w", reason, ErrAccountNotFound)
	}
	if !validWebviewID(id) {
		return deny("malformed connected account id")
	}
	records, err := s.Store.ConnectedAccountsForUser(ctx, user.ID)
	if err != nil {
		return Account{}, err
	}
	var a Account
	for _, rec := range records {
		if rec.ID == id {
			a.ConnectedAccount = rec
		}
	}
	if a.ID == "" {
		return deny("connected account " + shortID(id) + " not recorded for the user")
	}
	described, err := s.listAtSeam(ctx, user)
	if err != nil {
		return Account{}, err
	}
	if sa, ok := described[id]; ok {
		a.describe(sa)
	} else {
		// Not the user's at Seam: either gone altogether, or an upstream mistake.
		if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
			return Account{}, err
		}
		sctx, cancel := s.seamContext(ctx)
		_, err := s.Seam.ConnectedAccounts.Get(sctx, id)
		cancel()
		switch {
		case seam.IsNotFound(err):
			a.Gone = true
		case err != nil:
			return Account{}, seamFailed("get connected account", err)
		default:
			return deny("connected account " + shortID(id) + " not among the user's accounts at Seam")
		}
	}
	if s.Devices != nil {
		devices, err := s.Devices.Devices(ctx, user.ID)
		if err != nil {
			s.Log.WarnContext(ctx, "devices of an account", "error", err)
		}
		for _, d := range devices {
			if d.ConnectedAccountID == id {
				a.Devices = append(a.Devices, d)
			}
		}
	}
	return a, nil
}

// Reconnect starts a Connect Webview for the provider of one of the user's accounts.
// When it completes, Complete checks that Seam returned the same account (Outcome).
func (s *Service) Reconnect(ctx context.Context, user store.User, id string) (store.ConnectWebview, error) {
	a, err := s.Account(ctx, user, id)
	if err != nil {
		return store.ConnectWebview{}, err
	}
	if a.Gone {
		return store.ConnectWebview{}, fmt.Errorf("reconnect %s: %w", shortID(id), ErrAccountGone)
	}
	return s.start(ctx, user, startOptions{
		providers: []string{a.Provider},
		reconnect: a.ID,
		audit:     store.AuditAccountReconnect,
		detail:    a.Name(),
		account:   a.Name(),
	})
}

// Removed is what Remove took away.
type Removed struct {
	Name    string
	Devices []string // device ids, for the live pages
}

// Remove deletes one of the user's accounts at Seam, then ends Latchkey's ownership
// record and drops its devices from the copy, audited (the detail names the account
// and its locks), and tells the user's live pages. A Seam failure leaves everything
// as it was.
func (s *Service) Remove(ctx context.Context, user store.User, id string) (Removed, error) {
	a, err := s.Account(ctx, user, id)
	if err != nil {
		return Removed{}, err
	}
	names := make([]string, 0, len(a.Devices))
	out := Removed{Name: a.Name()}
	for _, d := range a.Devices {
		names = append(names, locks.DeviceName(d))
		out.Devices = append(out.Devices, d.DeviceID)
	}
	detail := a.Name()
	if len(names) > 0 {
		detail += " (" + strings.Join(names, ", ") + ")"
	}
	if !a.Gone {
		if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
			return Removed{}, err
		}
		sctx, cancel := s.seamContext(ctx)
		err := s.Seam.ConnectedAccounts.Delete(sctx, id)
		cancel()
		if err != nil && !seam.IsNotFound(err) {
			s.auditAccount(ctx, a.Name(), s.event(ctx, user, store.AuditAccountRemoveFailed, store.OutcomeFailure, detail+": "+seamReason(err)))
			return Removed{}, seamFailed("delete connected account", err)
		}
	}
	// Seam has acted: the local record follows even if the browser goes away.
	ctx = context.WithoutCancel(ctx)
	removed := s.event(ctx, user, store.AuditAccountRemoved, store.OutcomeSuccess, detail)
	removed.AccountName = a.Name() // the trail names it after it is gone
	err = s.Store.RemoveConnectedAccount(ctx, user.ID, id, removed)
	if errors.Is(err, store.ErrNotFound) {
		// Another request removed it first; it recorded and audited.
		return out, nil
	}
	if err != nil {
		return Removed{}, err
	}
	for _, d := range out.Devices {
		s.changed(user.ID, d)
	}
	return out, nil
}

func (s *Service) changed(userID, deviceID string) {
	if s.Changes != nil {
		s.Changes.DeviceChanged(userID, deviceID)
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
