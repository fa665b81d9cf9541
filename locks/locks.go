// Package locks is what a customer may see and do to their locks: their devices
// (Seam's user_identifier_key filter AND Latchkey's ownership record), lock and
// unlock with the intent recorded before Seam acts, the per-user limit and one open
// action per device (both held by the database), and the follower that takes every
// open action to its end on whichever instance holds its lease.
//
// Nothing here sees an *http.Request: methods take a context (which carries the
// client's address and user agent for the audit trail, see internal/request), the
// signed-in user and ids, and return store and seam types and the errors below.
package locks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Store is the part of Latchkey's records the lock use cases need.
type Store interface {
	ConnectedAccountsForUser(ctx context.Context, userID string) ([]store.ConnectedAccount, error)
	UserOwnsConnectedAccount(ctx context.Context, userID, accountID string) (bool, error)
	SetDeviceCounts(ctx context.Context, userID string, counts map[string]int, now time.Time) error

	CountActionsSince(ctx context.Context, userID string, since time.Time) (int, time.Time, error)
	BeginAction(ctx context.Context, n store.NewAction) (store.ActionAttempt, error)
	TransitionAction(ctx context.Context, t store.Transition) (store.ActionAttempt, bool, error)
	ClaimOpenActions(ctx context.Context, now, until time.Time, limit int) ([]store.ActionAttempt, error)
	ReleaseAction(ctx context.Context, id string, until time.Time) error
	ActionAttemptForUser(ctx context.Context, userID, attemptID string) (store.ActionAttempt, error)
	ActionBySeamID(ctx context.Context, seamID string) (store.ActionAttempt, error)
	LatestUnknownAction(ctx context.Context, deviceID, action string, before time.Time) (store.ActionAttempt, error)
	LatestActionAttempts(ctx context.Context, userID, deviceID string, limit int) ([]store.ActionAttempt, error)

	AppendAudit(ctx context.Context, e store.AuditEvent) error
}

// Seam is the part of the Seam API the lock use cases need, one small interface per
// resource; a *seam.Client's fields fill it.
type Seam struct {
	Devices        DeviceAPI
	Locks          LockAPI
	ActionAttempts ActionAttemptAPI
	Events         EventAPI
	// Updates renames devices (a *seam.Client's Devices); nil refuses renames.
	Updates DeviceUpdateAPI
}

// DeviceUpdateAPI changes a device at Seam.
type DeviceUpdateAPI interface {
	Update(ctx context.Context, p seam.UpdateDeviceParams) error
}

// DeviceAPI lists devices.
type DeviceAPI interface {
	List(ctx context.Context, p seam.ListDevicesParams) ([]seam.Device, error)
}

// LockAPI locks and unlocks doors.
type LockAPI interface {
	UnlockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error)
	LockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error)
}

// ActionAttemptAPI reads action attempts.
type ActionAttemptAPI interface {
	Get(ctx context.Context, actionAttemptID string) (*seam.ActionAttempt, error)
}

// EventAPI lists Seam's events.
type EventAPI interface {
	List(ctx context.Context, p seam.ListEventsParams) ([]seam.Event, error)
}

// Defaults for the Service's bounds.
const (
	DefaultActionsPerMinute = 10
	DefaultSeamTimeout      = 5 * time.Second
	DefaultSendTimeout      = 15 * time.Second
	DefaultSendBound        = 5 * time.Second
	DefaultRecordTimeout    = 10 * time.Second
	DefaultPendingBound     = 2 * time.Minute
)

// Service holds the lock use cases. Set its fields once, then use it from any
// number of goroutines.
type Service struct {
	Store Store
	Seam  Seam
	Log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// ActionsPerMinute caps the lock/unlock requests one user may start per minute.
	ActionsPerMinute int
	// SeamTimeout bounds a worker's Seam reads; a request's reads share the request's
	// Seam deadline instead (internal/request).
	SeamTimeout time.Duration
	// SendTimeout bounds one call to Seam's unlock_door/lock_door, and RecordTimeout
	// the recording of its answer. Both run on a context the browser cannot cancel;
	// the sender's lease on the action covers both, then a follower may take it.
	SendTimeout   time.Duration
	RecordTimeout time.Duration
	// PendingBound is how long an action may stay pending at Seam before it is
	// settled as timed out.
	PendingBound time.Duration
	// SendBound is how soon after the click an action must be sent to Seam; one that
	// could not be (a slow database, a slow ownership check) is never sent later.
	SendBound time.Duration
	// Guard is the per-user Seam budget and the audit of refusals; nil spends nothing.
	Guard *Guard
	// Metrics counts outcomes and refusals; nil counts nothing.
	Metrics Metrics
	// Copy is the local copy of device state that pages read; nil makes every page
	// ask Seam. DeviceStateMaxAge is how old it may get before a page view triggers a
	// background resync; zero takes the default.
	Copy              CopyStore
	DeviceStateMaxAge time.Duration
	// Changes tells the users' live pages what changed; nil tells nobody.
	Changes ChangeNotifier

	// sends are the actions being sent, which Wait waits for.
	sends sync.WaitGroup
	// decoded caches the devices decoded from the copy.
	decoded decodedDevices
	// listings caches the users' device listings by listing version.
	listings listingCache
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// The bounds, with the defaults for those left zero.
func (s *Service) limit() int { return cmp.Or(s.ActionsPerMinute, DefaultActionsPerMinute) }

// seamContext bounds one Seam read: by the request's deadline, or SeamTimeout.
func (s *Service) seamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return request.SeamContext(ctx, cmp.Or(s.SeamTimeout, DefaultSeamTimeout))
}

func (s *Service) sendTimeout() time.Duration { return cmp.Or(s.SendTimeout, DefaultSendTimeout) }

func (s *Service) sendBound() time.Duration { return cmp.Or(s.SendBound, DefaultSendBound) }

func (s *Service) recordTimeout() time.Duration { return cmp.Or(s.RecordTimeout, DefaultRecordTimeout) }

func (s *Service) pendingBound() time.Duration { return cmp.Or(s.PendingBound, DefaultPendingBound) }

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// senderLease is how long the request that sends an action holds it: its Seam call
// and the recording of the answer, plus a margin. After that, a follower settles an
// action still 'requested' as unknown.
func (s *Service) senderLease() time.Duration {
	return s.sendTimeout() + s.recordTimeout() + 5*time.Second
}

// ChangeNotifier tells a user's live pages that a device (deviceID "": every device)
// changed (events.Hub).
type ChangeNotifier interface {
	DeviceChanged(userID, deviceID string)
}

func (s *Service) changed(userID, deviceID string) {
	if s.Changes != nil {
		s.Changes.DeviceChanged(userID, deviceID)
	}
}

// Metrics receives what the use cases count (package metrics implements it).
type Metrics interface {
	// ActionSettled counts an action's final status, once per action.
	ActionSettled(action, status string)
	// Refused counts a refusal by kind: rate_limited, busy, budget, not_owned, unavailable,
	// unreachable.
	Refused(kind string)
}

func (s *Service) countRefusal(kind string) {
	if s.Metrics != nil {
		s.Metrics.Refused(kind)
	}
}

// ErrNotOwned is returned for a device (or action) that does not exist or is not the
// user's; callers cannot tell the two apart, on purpose.
var ErrNotOwned = errors.New("locks: not the user's device")

// ErrCannotUnlock and ErrCannotLock say the lock's provider does not allow the action
// remotely.
var (
	ErrCannotUnlock = errors.New("locks: this lock cannot be unlocked remotely")
	ErrCannotLock   = errors.New("locks: this lock cannot be locked remotely")
)

// ErrUserDisabled refuses a lock or unlock for a user an admin disabled. It is checked
// inside the transaction that records the action's intent, under the lock disabling
// takes, so it holds on every instance even for a request that raced the disabling.
// Nothing was recorded or sent.
var ErrUserDisabled = store.ErrUserDisabled

// ErrRateLimited says the user started too many actions in the last minute.
type ErrRateLimited struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *ErrRateLimited) Error() string {
	return fmt.Sprintf("locks: at most %d actions a minute; retry after %s", e.Limit, e.RetryAfter)
}

// ErrBusy says another action on the device is in progress.
type ErrBusy struct {
	Open       store.ActionAttempt
	DeviceName string
}

func (e *ErrBusy) Error() string {
	return fmt.Sprintf("locks: %s of %s in progress", e.Open.Action, e.DeviceName)
}

// Message says which action is in progress, in the words a page shows.
func (e *ErrBusy) Message() string {
	article := "A"
	if e.Open.Action == store.ActionUnlock {
		article = "An"
	}
	return article + " " + e.Open.Action + " of " + e.DeviceName + " is in progress."
}

// ErrNotSent says Seam refused or could not take an action; the action is recorded
// with that outcome. Err is Seam's failure.
type ErrNotSent struct {
	Attempt store.ActionAttempt
	Err     error
}

func (e *ErrNotSent) Error() string {
	return fmt.Sprintf("locks: %s %s not done: %v", e.Attempt.Action, e.Attempt.DeviceID, e.Err)
}

func (e *ErrNotSent) Unwrap() error { return e.Err }

// ErrLockService is a failed call to Seam (an outage, a rate limit, a refusal) that
// left nothing changed. Op says what was being done.
type ErrLockService struct {
	Op  string
	Err error
}

func (e *ErrLockService) Error() string { return "locks: " + e.Op + ": " + e.Err.Error() }

func (e *ErrLockService) Unwrap() error { return e.Err }

// ValidDeviceID reports whether id looks like a Seam device id (a UUID). Anything else
// is answered as not owned without asking Seam.
func ValidDeviceID(id string) bool {
	return len(id) == 36 && uuid.Validate(id) == nil
}

// DeviceName is how pages and messages name a device.
func DeviceName(d seam.Device) string {
	for _, s := range []string{d.Nickname, d.DisplayName, d.Properties.Name} {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return "Unnamed lock"
}

// audit records e with the client address and user agent the context carries; the
// actor is the user unless e names one. A failed write is logged: the decision it
// records (a refusal) has already been made.
func (s *Service) audit(ctx context.Context, user store.User, e store.AuditEvent) {
	s.fillAudit(ctx, user, &e)
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.log().ErrorContext(ctx, "audit write failed", "action", e.Action, "error", err)
	}
}

// refused audits a refusal through the Guard (a kind at most once a window), or
// plainly without one.
func (s *Service) refused(ctx context.Context, user store.User, e store.AuditEvent) {
	if s.Guard == nil {
		s.audit(ctx, user, e)
		return
	}
	if e.ActorID == "" {
		e.ActorID = user.ID
	}
	if e.SubjectUserID == "" {
		e.SubjectUserID = user.ID
	}
	s.Guard.Refused(ctx, e)
}

// fillAudit completes e from the context and user, for events committed with a change.
func (s *Service) fillAudit(ctx context.Context, user store.User, e *store.AuditEvent) {
	if e.ActorID == "" {
		e.ActorID = user.ID
	}
	if e.SubjectUserID == "" {
		e.SubjectUserID = user.ID
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	info := request.From(ctx)
	e.RemoteAddr, e.UserAgent = info.RemoteAddr, info.UserAgent
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
