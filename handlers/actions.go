package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

const (
	// actionPollBound is how long the browser polls an action before it says "still
	// pending — check again".
	actionPollBound = 20 * time.Second
)

var (
	errCannotUnlock = &Error{Status: http.StatusConflict, Title: "This lock cannot be unlocked remotely",
		Message: "Its provider does not allow remote unlocking. Use a key, code or the provider's own app."}
	errCannotLock = &Error{Status: http.StatusConflict, Title: "This lock cannot be locked remotely",
		Message: "Its provider does not allow remote locking."}
	errActionInFlight = &Error{Status: http.StatusConflict, Title: "A request for this lock is already being sent",
		Message: "Wait a moment and look at the lock's page for the result.", Retry: false}
)

// Followers follow action attempts to their end on the server, so the outcome is
// audited even when the browser went away.
type Followers struct {
	// Interval between checks (Seam suggests about a second) and Bound, after which an
	// attempt still pending is recorded as timed out.
	Interval time.Duration
	Bound    time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewFollowers returns followers that run until ctx ends or Close is called.
func NewFollowers(ctx context.Context, interval, bound time.Duration) *Followers {
	ctx, cancel := context.WithCancel(ctx)
	return &Followers{Interval: interval, Bound: bound, ctx: ctx, cancel: cancel}
}

// Close stops every follower and waits for them. Attempts still pending are picked up
// again at the next start (ResumeFollowing).
func (f *Followers) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// Wait blocks until every follower has finished; tests use it to see outcomes recorded.
func (f *Followers) Wait() { f.wg.Wait() }

// Unlock asks Seam to unlock the user's device.
func (h *Handlers) Unlock(w http.ResponseWriter, r *http.Request) error {
	return h.act(w, r, store.ActionUnlock)
}

// Lock asks Seam to lock the user's device.
func (h *Handlers) Lock(w http.ResponseWriter, r *http.Request) error {
	return h.act(w, r, store.ActionLock)
}

// act runs one lock or unlock: rate limit, ownership both ways, one request per device
// at a time, a single call to Seam, then the record, the audit event and the follower.
func (h *Handlers) act(w http.ResponseWriter, r *http.Request, action string) error {
	ctx := r.Context()
	user := currentUser(r)
	deviceID := r.PathValue("id")
	if !validDeviceID(deviceID) {
		return errNotFound
	}
	now := h.Now()
	n, err := h.Store.CountActionAttemptsSince(ctx, user.ID, now.Add(-time.Minute))
	if err != nil {
		return err
	}
	if n >= h.ActionsPerMinute {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditDeviceActionRateLimited, DeviceID: deviceID,
			Outcome: store.OutcomeDenied, Detail: fmt.Sprintf("%d actions in the last minute", n)})
		return &Error{Status: http.StatusTooManyRequests, Title: "Too many requests",
			Message: fmt.Sprintf("You can lock or unlock at most %d times a minute. Please wait a minute and try again.", h.ActionsPerMinute),
			Header:  http.Header{"Retry-After": {"60"}}}
	}
	device, err := h.ownedDevice(r, user, deviceID)
	if err != nil {
		return err
	}
	switch {
	case action == store.ActionUnlock && !device.CanRemotelyUnlock:
		return errCannotUnlock
	case action == store.ActionLock && !device.CanRemotelyLock:
		return errCannotLock
	}

	// One action at a time per device: concurrent submits in this process wait for
	// nothing and are shown the attempt in flight instead.
	if _, busy := h.inflight.LoadOrStore(deviceID, struct{}{}); busy {
		if pending, err := h.Store.PendingActionAttempt(ctx, user.ID, deviceID, now.Add(-h.Followers.Bound)); err == nil {
			return h.respondAction(w, r, pending, deviceView(device).Name)
		}
		return errActionInFlight
	}
	defer h.inflight.Delete(deviceID)
	if pending, err := h.Store.PendingActionAttempt(ctx, user.ID, deviceID, now.Add(-h.Followers.Bound)); err == nil {
		return h.respondAction(w, r, pending, deviceView(device).Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}

	requested, failed := store.AuditDeviceUnlockRequested, store.AuditDeviceUnlockFailed
	call := h.Seam.Locks.UnlockDoor
	if action == store.ActionLock {
		requested, failed = store.AuditDeviceLockRequested, store.AuditDeviceLockFailed
		call = h.Seam.Locks.LockDoor
	}
	sa, err := call(ctx, deviceID)
	if err != nil {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: failed, DeviceID: deviceID, Outcome: store.OutcomeFailure,
			Detail: seamReason(err)})
		return seamActionError(action, err)
	}
	a := store.ActionAttempt{ID: sa.ActionAttemptID, UserID: user.ID, DeviceID: deviceID, Action: action,
		Status: store.AttemptPending, CreatedAt: now}
	if err := h.Store.CreateActionAttempt(ctx, a); err != nil {
		return fmt.Errorf("record action attempt %s: %w", a.ID, err)
	}
	h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: requested, DeviceID: deviceID, ActionAttemptID: a.ID,
		Outcome: store.OutcomeSuccess})
	if sa.Status != seam.StatusPending {
		a = h.finishAttempt(ctx, a, sa)
	} else {
		h.follow(a)
	}
	return h.respondAction(w, r, a, deviceView(device).Name)
}

// respondAction answers a lock/unlock: htmx gets the status fragment that polls; a
// plain form gets a 303 to the device page, which shows the same status.
func (h *Handlers) respondAction(w http.ResponseWriter, r *http.Request, a store.ActionAttempt, deviceName string) error {
	if r.Header.Get("HX-Request") == "true" {
		h.renderActionFragment(w, r, a)
		return nil
	}
	verb := map[string]string{store.ActionUnlock: "Unlock", store.ActionLock: "Lock"}[a.Action]
	auth.SetFlash(r.Context(), h.Sessions, verb+" requested for "+deviceName+". The result shows below.")
	http.Redirect(w, r, "/devices/"+a.DeviceID, http.StatusSeeOther)
	return nil
}

// ActionStatus answers the poll for one action attempt, to the user who started it only.
func (h *Handlers) ActionStatus(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	deviceID, attemptID := r.PathValue("id"), r.PathValue("attempt")
	if !validDeviceID(deviceID) || len(attemptID) > 64 {
		return errNotFound
	}
	a, err := h.Store.ActionAttemptForUser(r.Context(), user.ID, attemptID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.DeviceID != deviceID) {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditAccessDenied, DeviceID: deviceID,
			Outcome: store.OutcomeDenied, Detail: "action attempt " + shortID(attemptID) + " not the user's on this device"})
		return errNotFound
	}
	if err != nil {
		return err
	}
	if a.Status == store.AttemptPending {
		a = h.refreshAttempt(r.Context(), a)
	}
	if r.Header.Get("HX-Request") != "true" {
		http.Redirect(w, r, "/devices/"+deviceID, http.StatusSeeOther)
		return nil
	}
	h.renderActionFragment(w, r, a)
	return nil
}

func (h *Handlers) renderActionFragment(w http.ResponseWriter, r *http.Request, a store.ActionAttempt) {
	v := actionView(a, h.Now())
	v.UpdateBadge = true
	h.render(w, r, http.StatusOK, views.ActionStatus(*v))
}

// refreshAttempt asks Seam about a pending attempt and records its end if it ended. On a
// Seam failure the attempt stays pending: the next poll or the follower asks again.
func (h *Handlers) refreshAttempt(ctx context.Context, a store.ActionAttempt) store.ActionAttempt {
	sa, err := h.Seam.ActionAttempts.Get(ctx, a.ID)
	if err != nil {
		h.Log.WarnContext(ctx, "check action attempt", "action_attempt_id", a.ID, "error", err)
		return a
	}
	if sa.Status == seam.StatusPending {
		return a
	}
	return h.finishAttempt(ctx, a, sa)
}

// finishAttempt records the end of an attempt; only the caller that changed the record
// writes the audit event, so each outcome is audited exactly once.
func (h *Handlers) finishAttempt(ctx context.Context, a store.ActionAttempt, sa *seam.ActionAttempt) store.ActionAttempt {
	status, msg := store.AttemptSuccess, ""
	if sa.Status != seam.StatusSuccess {
		status, msg = store.AttemptError, "the lock did not respond"
		if sa.Error != nil && sa.Error.Message != "" {
			msg = sa.Error.Message
		}
	}
	return h.recordOutcome(ctx, a, status, msg)
}

func (h *Handlers) recordOutcome(ctx context.Context, a store.ActionAttempt, status, msg string) store.ActionAttempt {
	now := h.Now()
	changed, err := h.Store.FinishActionAttempt(ctx, a.ID, status, msg, now)
	if err != nil {
		h.Log.ErrorContext(ctx, "record action outcome", "action_attempt_id", a.ID, "error", err)
		return a
	}
	if changed {
		action := map[string]string{
			store.ActionUnlock + store.AttemptSuccess: store.AuditDeviceUnlockSucceeded,
			store.ActionUnlock + store.AttemptError:   store.AuditDeviceUnlockFailed,
			store.ActionLock + store.AttemptSuccess:   store.AuditDeviceLockSucceeded,
			store.ActionLock + store.AttemptError:     store.AuditDeviceLockFailed,
		}[a.Action+status]
		outcome := store.OutcomeFailure
		if status == store.AttemptSuccess {
			outcome = store.OutcomeSuccess
		}
		if status == store.AttemptTimeout {
			action = store.AuditDeviceActionTimeout
		}
		h.appendAudit(ctx, store.AuditEvent{ActorID: a.UserID, SubjectUserID: a.UserID, Action: action, DeviceID: a.DeviceID,
			ActionAttemptID: a.ID, Outcome: outcome, Detail: msg})
	}
	fresh, err := h.Store.ActionAttemptForUser(ctx, a.UserID, a.ID)
	if err != nil {
		return a
	}
	return fresh
}

// follow checks a pending attempt about once a second until it ends or the bound
// passes; it runs on the process's context, not the request's.
func (h *Handlers) follow(a store.ActionAttempt) {
	f := h.Followers
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		deadline := a.CreatedAt.Add(f.Bound)
		t := time.NewTicker(f.Interval)
		defer t.Stop()
		for {
			select {
			case <-f.ctx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(f.ctx, 15*time.Second)
			a = h.refreshAttempt(ctx, a)
			if a.Status == store.AttemptPending && !h.Now().Before(deadline) {
				a = h.recordOutcome(ctx, a, store.AttemptTimeout, "no answer from the lock in time")
			}
			cancel()
			if a.Status != store.AttemptPending {
				return
			}
		}
	}()
}

// ResumeFollowing follows the attempts still pending from before a restart.
func (h *Handlers) ResumeFollowing(ctx context.Context) error {
	pending, err := h.Store.PendingActionAttempts(ctx)
	if err != nil {
		return fmt.Errorf("resume following action attempts: %w", err)
	}
	for _, a := range pending {
		h.follow(a)
	}
	return nil
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

// seamActionError is the page for a lock/unlock Seam refused or could not take.
func seamActionError(action string, err error) error {
	var se *seam.Error
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && !seam.IsRateLimited(err) && !seam.IsUnauthorized(err) {
		msg := "The lock service refused the request."
		if se.Message != "" {
			msg = "The lock service said: " + se.Message
		}
		return &Error{Status: http.StatusBadGateway, Title: "Could not " + action + " the lock", Message: msg,
			Err: fmt.Errorf("%s: %w", action, err)}
	}
	return seamError(action, err)
}
