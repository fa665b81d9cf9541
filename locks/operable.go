package locks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// ErrOffline says the lock cannot be reached, so an action would only fail at Seam.
var ErrOffline = errors.New("locks: the lock is offline")

// ErrAccountDisconnected says the lock's account must be signed in to again before
// the lock can be operated.
var ErrAccountDisconnected = errors.New("locks: the lock's account is disconnected")

// reconnectCodes are Seam's error codes that mean the customer must sign in to the
// lock's account again.
var reconnectCodes = []string{"account_disconnected", "invalid_credentials"}

// NeedsReconnect reports whether the device's account must be signed in to again.
func NeedsReconnect(d seam.Device) bool {
	return slices.ContainsFunc(d.Errors, func(e seam.DeviceError) bool { return slices.Contains(reconnectCodes, e.ErrorCode) })
}

// Operable says whether the device, as described, can take the action remotely: nil,
// or ErrAccountDisconnected, ErrOffline, ErrCannotUnlock or ErrCannotLock (in that
// order: the first is what the customer can do something about). Pages use it to
// disable a control; act and ConfirmAction to refuse.
func Operable(d seam.Device, action string) error {
	switch {
	case NeedsReconnect(d):
		return ErrAccountDisconnected
	case !d.Properties.Online:
		return ErrOffline
	case action == store.ActionUnlock && !d.CanRemotelyUnlock:
		return ErrCannotUnlock
	case action == store.ActionLock && !d.CanRemotelyLock:
		return ErrCannotLock
	}
	return nil
}

// Allowance is what is left of a user's action limit.
type Allowance struct {
	Limit int
	// Left is how many actions the user may still start in this window.
	Left int
	// RetryAfter is, once none is left, when the oldest counted action leaves the window.
	RetryAfter time.Duration
}

// Spent reports whether the user may start no action now.
func (a Allowance) Spent() bool { return a.Left <= 0 }

// Err is the refusal a spent allowance means, or nil.
func (a Allowance) Err() error {
	if !a.Spent() {
		return nil
	}
	return &ErrRateLimited{Limit: a.Limit, RetryAfter: a.RetryAfter}
}

// ActionAllowance reads what is left of the user's action limit, so pages can disable
// the controls before the customer is refused. (act counts again, in the transaction
// that records the action: this is only a preview.)
func (s *Service) ActionAllowance(ctx context.Context, userID string) (Allowance, error) {
	now := s.now()
	count, oldest, err := s.Store.CountActionsSince(ctx, userID, now.Add(-limitWindow))
	if err != nil {
		return Allowance{}, fmt.Errorf("action allowance: %w", err)
	}
	return s.allowance(now, count, oldest), nil
}

// allowance is what is left of the limit after count actions since the window began,
// the oldest of them at oldest.
func (s *Service) allowance(now time.Time, count int, oldest time.Time) Allowance {
	a := Allowance{Limit: s.limit(), Left: max(s.limit()-count, 0)}
	if a.Spent() {
		a.RetryAfter = max(oldest.Add(limitWindow).Sub(now), time.Second)
	}
	return a
}

// ConfirmAction is the check before a confirmation page offers the action: the device
// is the user's (from the copy), it can take the action now, no action is open on it
// and the user's limit is not spent. It records nothing and never calls Seam to act.
func (s *Service) ConfirmAction(ctx context.Context, user store.User, deviceID, action string) (seam.Device, error) {
	d, err := s.CopiedDevice(ctx, user, deviceID)
	if err != nil {
		return d, err
	}
	if err := Operable(d, action); err != nil {
		return d, err
	}
	latest, err := s.Store.LatestActionAttempts(ctx, user.ID, deviceID, 1)
	if err != nil {
		return d, fmt.Errorf("confirm %s %s: %w", action, deviceID, err)
	}
	if len(latest) == 1 && latest[0].Open() {
		return d, &ErrBusy{Open: latest[0], DeviceName: DeviceName(d)}
	}
	allowance, err := s.ActionAllowance(ctx, user.ID)
	if err != nil {
		return d, err
	}
	return d, allowance.Err()
}
