// Package accounts holds the use cases of connecting lock accounts: the user's Seam
// client session, the Connect Webviews Latchkey issues, and the ownership records they
// end in. Its methods take a context, the signed-in user and ids, never an HTTP request;
// the client address and user agent for the audit trail come from the context
// (internal/request).
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Service runs the account use cases. Its fields are set once, in package web.
type Service struct {
	// Store is Latchkey's records of webviews, accounts and the audit trail.
	Store Store
	// Seam is the lock service.
	Seam Seam
	// Log receives what goes wrong without failing the use case.
	Log *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// BaseURL is the portal's public URL, for Seam's redirects back to /connect/return.
	BaseURL string
	// Guard is the per-user Seam and Connect Webview budgets and the audit of
	// refusals; nil spends nothing.
	Guard *locks.Guard
	// Devices fills the copy of device state with a new account's devices, and reads
	// it for the accounts page; nil leaves that to the next page view.
	Devices DeviceSyncer
	// Changes tells the user's live pages that devices left (a removed account); nil
	// tells nobody.
	Changes locks.ChangeNotifier
}

// DeviceSyncer refreshes and reads the copy of a user's devices (locks.Service).
type DeviceSyncer interface {
	SyncUser(ctx context.Context, userID string) ([]seam.Device, error)
	Devices(ctx context.Context, userID string) ([]seam.Device, error)
}

// seamTimeout bounds the Seam calls of a use case run outside a request; a request's
// calls share the request's Seam deadline (internal/request).
const seamTimeout = 5 * time.Second

func (s *Service) seamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return request.SeamContext(ctx, seamTimeout)
}

// Store is the part of Latchkey's records the account use cases need.
type Store interface {
	CreateConnectWebview(ctx context.Context, w store.ConnectWebview) error
	ConnectWebviewForUser(ctx context.Context, userID, webviewID string) (store.ConnectWebview, error)
	ListConnectWebviews(ctx context.Context, userID string) ([]store.ConnectWebview, error)
	FinishConnectWebview(ctx context.Context, end store.WebviewEnd) (store.ConnectWebview, bool, error)
	ConnectedAccountsForUser(ctx context.Context, userID string) ([]store.ConnectedAccount, error)
	ExpireConnectWebviews(ctx context.Context, userID string, before, now time.Time) (int, error)
	RemoveConnectedAccount(ctx context.Context, userID, accountID string, audit store.AuditEvent) error
	AppendAudit(ctx context.Context, e store.AuditEvent) error
}

// Seam is the part of the Seam API the account use cases call; package web fills it
// from a *seam.Client.
type Seam struct {
	ClientSessions    ClientSessionAPI
	ConnectWebviews   ConnectWebviewAPI
	Devices           DeviceAPI
	ConnectedAccounts ConnectedAccountAPI
}

// ClientSessionAPI gives each user their Seam client session.
type ClientSessionAPI interface {
	GetOrCreate(ctx context.Context, p seam.GetOrCreateClientSessionParams) (*seam.ClientSession, error)
	GrantAccess(ctx context.Context, p seam.GrantAccessParams) error
}

// ConnectWebviewAPI creates and checks Connect Webviews.
type ConnectWebviewAPI interface {
	Create(ctx context.Context, p seam.CreateConnectWebviewParams) (*seam.ConnectWebview, error)
	Get(ctx context.Context, connectWebviewID string) (*seam.ConnectWebview, error)
}

// DeviceAPI lists devices.
type DeviceAPI interface {
	List(ctx context.Context, p seam.ListDevicesParams) ([]seam.Device, error)
}

// Errors the use cases return (wrapped); handlers turn each into a page.
var (
	// ErrNotOwned is a webview id that is unknown, malformed or another user's. The
	// refusal has already been audited (access.denied).
	ErrNotOwned = errors.New("connect webview not issued to the user")
	// ErrWebviewUnusable is a webview Seam described with an id or URL Latchkey cannot use.
	ErrWebviewUnusable = errors.New("connect webview unusable")
	// ErrAccountTaken is a connected account that Latchkey already recorded for another
	// user; it stays theirs. The refusal has already been audited (access.denied).
	ErrAccountTaken = errors.New("connected account belongs to another user")
	// ErrSeam marks a failed call to Seam. The cause (a *seam.Error, or why Seam could
	// not be reached) is wrapped beside it, so errors.As finds it.
	ErrSeam = errors.New("lock service")
)

// seamFailed wraps a failed Seam call: errors.Is(err, ErrSeam) and errors.As(err,
// **seam.Error) both hold.
func seamFailed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrSeam, what, err)
}

// event is an audit event of the user's own doing, naming the client of the request in
// ctx (set by web's middleware).
func (s *Service) event(ctx context.Context, user store.User, action, outcome, detail string) store.AuditEvent {
	info := request.From(ctx)
	return store.AuditEvent{
		At:            s.Now(),
		ActorID:       user.ID,
		SubjectUserID: user.ID,
		Action:        action,
		Outcome:       outcome,
		Detail:        detail,
		RemoteAddr:    info.RemoteAddr,
		UserAgent:     info.UserAgent,
	}
}

// refused audits a refusal: through the Guard (a kind at most once a window), or
// plainly without one.
func (s *Service) refused(ctx context.Context, user store.User, action, detail string) {
	if s.Guard == nil {
		s.audit(ctx, user, action, store.OutcomeDenied, detail)
		return
	}
	s.Guard.Refused(ctx, s.event(ctx, user, action, store.OutcomeDenied, detail))
}

// audit appends an event of the user's doing. A failed write is logged, not returned:
// what it describes has already happened.
func (s *Service) audit(ctx context.Context, user store.User, action, outcome, detail string) {
	if err := s.Store.AppendAudit(ctx, s.event(ctx, user, action, outcome, detail)); err != nil {
		s.Log.ErrorContext(ctx, "audit write failed", "action", action, "error", err)
	}
}

// auditAccount appends e naming the account it concerns as pages label it now.
func (s *Service) auditAccount(ctx context.Context, name string, e store.AuditEvent) {
	e.AccountName = name
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.Log.ErrorContext(ctx, "audit write failed", "action", e.Action, "error", err)
	}
}

// seamReason is a Seam failure in a few words for the audit trail (never a key).
func seamReason(err error) string {
	var se *seam.Error
	if errors.As(err, &se) {
		if se.Message != "" {
			return se.Type + ": " + se.Message
		}
		return se.Type
	}
	return "lock service unreachable"
}

// shortID is the start of an id, enough to tell records apart in the audit trail.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func lockCount(n int) string {
	if n == 1 {
		return "1 lock"
	}
	return strconv.Itoa(n) + " locks"
}
