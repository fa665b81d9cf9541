package locks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// limitWindow is the window of the per-user action limit.
const limitWindow = time.Minute

// Words recorded with an action's outcome, shown on its page.
const (
	reasonUnknown     = "The lock service may have acted, but its answer was lost — check the door."
	reasonNoAnswer    = "No answer from the lock in time."
	reasonNotSentLate = "it could not be sent within seconds of your click, so it never will be. Nothing was done."
	reasonNoResponse  = "the lock did not respond"
)

// Result is the outcome of a lock or unlock request.
type Result struct {
	// Attempt is the action as recorded once the request was handled: usually pending
	// at Seam, sometimes already finished.
	Attempt store.ActionAttempt
	// Device is the device as Seam described it at the ownership check.
	Device seam.Device
	// Existing is set when the same action was already open on the device and the
	// request was answered with it instead of starting another.
	Existing bool
}

// Unlock asks Seam to unlock the user's device.
func (s *Service) Unlock(ctx context.Context, user store.User, deviceID string) (Result, error) {
	return s.act(ctx, user, deviceID, store.ActionUnlock)
}

// Lock asks Seam to lock the user's device.
func (s *Service) Lock(ctx context.Context, user store.User, deviceID string) (Result, error) {
	return s.act(ctx, user, deviceID, store.ActionLock)
}

// act runs one lock or unlock: ownership both ways, then one transaction that checks
// the device's open action and the user's limit and records the action as requested
// with its audit event; only then is Seam called, once, and its answer recorded, both
// on a context the caller cannot cancel. The caller waits for Seam's answer until the
// request's Seam deadline at most, then is answered with the action in progress.
// Every refusal is audited (a kind at most once a window, see Guard).
func (s *Service) act(ctx context.Context, user store.User, deviceID, action string) (Result, error) {
	clicked := s.now()
	// Over the limit, Seam is not even asked who owns the device: one customer's
	// clicks must not spend the workspace's Seam budget.
	if ValidDeviceID(deviceID) {
		count, oldest, err := s.Store.CountActionsSince(ctx, user.ID, clicked.Add(-limitWindow))
		if err != nil {
			return Result{}, fmt.Errorf("%s %s: %w", action, deviceID, err)
		}
		if count >= s.limit() {
			return Result{}, s.rateLimited(ctx, user, deviceID, s.copiedName(ctx, user, deviceID), count, oldest, clicked)
		}
	}
	device, err := s.Device(ctx, user, deviceID)
	var service *ErrLockService
	if errors.As(err, &service) {
		s.countRefusal("unavailable")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionUnavailable, DeviceID: deviceID, DeviceName: s.copiedName(ctx, user, deviceID),
			Outcome: store.OutcomeFailure, Detail: action + " not sent: the lock service could not be asked who owns the lock"})
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Device: device}
	// An offline lock or a disconnected account would only fail at Seam, seconds later.
	switch err := Operable(device, action); {
	case errors.Is(err, ErrOffline), errors.Is(err, ErrAccountDisconnected):
		s.countRefusal("unreachable")
		detail := action + " not sent: the lock is offline"
		if errors.Is(err, ErrAccountDisconnected) {
			detail = action + " not sent: the lock's account is disconnected"
		}
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionUnreachable, DeviceID: deviceID, DeviceName: DeviceName(device),
			Outcome: store.OutcomeDenied, Detail: detail})
		return res, err
	case err != nil:
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionUnsupported, DeviceID: deviceID, DeviceName: DeviceName(device),
			Outcome: store.OutcomeDenied, Detail: "the lock's provider does not allow a remote " + action})
		return res, err
	}

	// From here on the browser going away changes nothing: what is recorded is sent,
	// and what is sent is recorded.
	detached := context.WithoutCancel(ctx)
	now := s.now()
	lease := now.Add(s.senderLease())
	// The name (the customer's own, at the provider) has its column, not the detail.
	requested := store.AuditEvent{Action: auditName(action, "requested"), DeviceID: deviceID, DeviceName: DeviceName(device),
		Outcome: store.OutcomeSuccess}
	s.fillAudit(ctx, user, &requested)
	recordCtx, cancel := context.WithTimeout(detached, s.recordTimeout())
	a, err := s.Store.BeginAction(recordCtx, store.NewAction{
		Attempt: store.ActionAttempt{ID: uuid.NewString(), UserID: user.ID, DeviceID: deviceID, DeviceName: DeviceName(device),
			Action: action, CreatedAt: now, ClaimedUntil: &lease},
		Limit:  s.limit(),
		Window: limitWindow,
		Audit:  requested,
	})
	cancel()
	var open *store.OpenActionError
	var limited *store.LimitError
	switch {
	case errors.As(err, &open):
		if open.Open.UserID == user.ID && open.Open.Action == action {
			res.Attempt, res.Existing = open.Open, true
			return res, nil
		}
		s.countRefusal("busy")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionBusy, DeviceID: deviceID, DeviceName: DeviceName(device),
			ActionAttemptID: open.Open.ID, Outcome: store.OutcomeDenied, Detail: action + " refused: a " + open.Open.Action + " is in progress"})
		return res, &ErrBusy{Open: open.Open, DeviceName: DeviceName(device)}
	case errors.As(err, &limited):
		return res, s.rateLimited(ctx, user, deviceID, DeviceName(device), limited.Count, limited.Oldest, now)
	case errors.Is(err, ErrUserDisabled):
		s.countRefusal("user_disabled")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionDisabled, DeviceID: deviceID, DeviceName: DeviceName(device),
			Outcome: store.OutcomeDenied, Detail: action + " refused: the account is disabled"})
		return res, fmt.Errorf("%s %s: %w", action, deviceID, err)
	case err != nil:
		return res, fmt.Errorf("%s %s: %w", action, deviceID, err)
	}
	s.changed(user.ID, deviceID)

	type sent struct {
		a   store.ActionAttempt
		err error
	}
	done := make(chan sent, 1)
	s.sends.Add(1)
	go func() {
		defer s.sends.Done()
		a, err := s.send(detached, user, a, clicked)
		done <- sent{a, err}
	}()
	wait := time.NewTimer(s.answerWait(ctx))
	defer wait.Stop()
	select {
	case r := <-done:
		res.Attempt = r.a
		return res, r.err
	case <-wait.C:
		// Seam is slow: the page shows the action in progress and polls; the send goes
		// on, bounded by SendTimeout, and records whatever Seam answers.
		res.Attempt = a
		return res, nil
	}
}

// answerWait is how long a request waits for Seam's answer to its action: until the
// request's Seam deadline, or SeamTimeout outside a request.
func (s *Service) answerWait(ctx context.Context) time.Duration {
	if d := request.From(ctx).SeamDeadline; !d.IsZero() {
		return max(time.Until(d), 0)
	}
	return cmp.Or(s.SeamTimeout, DefaultSeamTimeout)
}

// Wait blocks until every action being sent has its answer recorded (or its bounds
// passed); the app calls it at shutdown, after the server stopped taking requests.
func (s *Service) Wait() { s.sends.Wait() }

// copiedName is the name of the user's device as the local copy holds it, for a
// refusal's audit row when Seam is not (or must not be) asked; "" when the copy does
// not hold it for the user.
func (s *Service) copiedName(ctx context.Context, user store.User, deviceID string) string {
	d, err := s.CopiedDeviceQuietly(ctx, user, deviceID)
	if err != nil {
		return ""
	}
	return DeviceName(d)
}

// rateLimited audits a refusal by the limit and says when to try again: once the
// oldest counted action leaves the window.
func (s *Service) rateLimited(ctx context.Context, user store.User, deviceID, deviceName string, count int, oldest, now time.Time) error {
	s.countRefusal("rate_limited")
	s.refused(ctx, user, store.AuditEvent{Action: store.AuditDeviceActionRateLimited, DeviceID: deviceID, DeviceName: deviceName,
		Outcome: store.OutcomeDenied, Detail: fmt.Sprintf("%d actions in the last minute", count)})
	return &ErrRateLimited{Limit: s.limit(), RetryAfter: max(oldest.Add(limitWindow).Sub(now), time.Second)}
}

// send calls Seam for a requested action and records the answer. An action that could
// not be sent within SendBound of the click is never sent: it is recorded not_sent.
// The call is bounded by SendTimeout.
func (s *Service) send(ctx context.Context, user store.User, a store.ActionAttempt, clicked time.Time) (store.ActionAttempt, error) {
	if s.now().Sub(clicked) > s.sendBound() {
		settled := s.settle(ctx, user, a, []string{store.AttemptRequested}, store.AttemptNotSent, reasonNotSentLate, "")
		return settled, nil
	}
	call := s.Seam.Locks.UnlockDoor
	if a.Action == store.ActionLock {
		call = s.Seam.Locks.LockDoor
	}
	callCtx, cancel := context.WithTimeout(ctx, s.sendTimeout())
	sa, err := call(callCtx, a.DeviceID)
	cancel()
	from := []string{store.AttemptRequested}
	if err != nil {
		status, reason := failedSend(err)
		settled := s.settle(ctx, user, a, from, status, reason, "")
		if status == store.AttemptUnknown {
			return settled, nil
		}
		return settled, &ErrNotSent{Attempt: settled, Err: err}
	}
	switch sa.Status {
	case seam.StatusPending:
		return s.markPending(ctx, user, a, sa.ActionAttemptID), nil
	case seam.StatusSuccess:
		return s.settle(ctx, user, a, from, store.AttemptSuccess, "", sa.ActionAttemptID), nil
	default:
		return s.settle(ctx, user, a, from, store.AttemptError, seamAttemptReason(sa), sa.ActionAttemptID), nil
	}
}

// failedSend classifies a failed unlock_door/lock_door call: Seam answered and refused
// (nothing was done), or the answer was lost (Seam may have acted).
func failedSend(err error) (status, reason string) {
	var se *seam.Error
	if !errors.As(err, &se) || se.Type == seam.TypeInvalidResponse {
		return store.AttemptUnknown, reasonUnknown
	}
	switch {
	case se.Status == http.StatusTooManyRequests:
		return store.AttemptNotSent, "the lock service was busy and refused it. Nothing was done."
	case se.Status == http.StatusServiceUnavailable:
		return store.AttemptNotSent, "the lock service was unavailable and refused it. Nothing was done."
	case se.Status >= 500:
		return store.AttemptUnknown, reasonUnknown
	}
	reason = se.Type
	if se.Message != "" {
		reason = se.Message
	}
	return store.AttemptError, reason
}

// seamAttemptReason is why Seam ended an attempt in error: its message, or its error
// type (a code the activity pages put in words), or "no response".
func seamAttemptReason(sa *seam.ActionAttempt) string {
	if sa.Error != nil && sa.Error.Message != "" {
		return sa.Error.Message
	}
	if sa.Error != nil && sa.Error.Type != "" {
		return sa.Error.Type
	}
	return reasonNoResponse
}

// markPending records that Seam accepted the action, with Seam's id, and gives up the
// sender's lease so a follower takes it on.
func (s *Service) markPending(ctx context.Context, user store.User, a store.ActionAttempt, seamID string) store.ActionAttempt {
	e := store.AuditEvent{Action: auditName(a.Action, "sent"), DeviceID: a.DeviceID, DeviceName: a.DeviceName, Outcome: store.OutcomeSuccess,
		Detail: "Seam action attempt " + shortID(seamID)}
	s.fillAudit(ctx, user, &e)
	return s.transition(ctx, a, store.Transition{ID: a.ID, From: []string{store.AttemptRequested}, To: store.AttemptPending,
		SeamID: seamID, Audit: e})
}

// settle records a final outcome with its audit event, if the action is still in one
// of the from statuses; only the caller that changed it writes the event.
func (s *Service) settle(ctx context.Context, user store.User, a store.ActionAttempt, from []string, status, reason, seamID string) store.ActionAttempt {
	e := outcomeEvent(a, status, reason)
	s.fillAudit(ctx, user, &e)
	// A follower has no client to name.
	if user.ID == "" {
		e.ActorID, e.SubjectUserID = a.UserID, a.UserID
	}
	return s.transition(ctx, a, store.Transition{ID: a.ID, From: from, To: status, Error: reason, SeamID: seamID, Audit: e})
}

func (s *Service) transition(ctx context.Context, a store.ActionAttempt, t store.Transition) store.ActionAttempt {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.recordTimeout())
	defer cancel()
	t.At = s.now()
	after, changed, err := s.Store.TransitionAction(ctx, t)
	if changed && !store.IsOpenStatus(t.To) && s.Metrics != nil {
		s.Metrics.ActionSettled(a.Action, t.To)
	}
	if changed && t.To == store.AttemptSuccess {
		s.recordLockState(ctx, a, t.At)
	}
	if changed {
		s.changed(a.UserID, a.DeviceID)
	}
	if err != nil {
		// The action stays open under the sender's lease; when it passes, a follower
		// settles it (unknown if Seam's answer was lost with this write).
		s.log().ErrorContext(ctx, "record action outcome", "action_attempt_id", a.ID, "to", t.To, "error", err)
		return a
	}
	return after
}

// outcomeEvent is the audit event of an action's final status.
func outcomeEvent(a store.ActionAttempt, status, reason string) store.AuditEvent {
	e := store.AuditEvent{DeviceID: a.DeviceID, DeviceName: a.DeviceName, Outcome: store.OutcomeFailure, Detail: reason}
	switch status {
	case store.AttemptSuccess:
		e.Action, e.Outcome = auditName(a.Action, "succeeded"), store.OutcomeSuccess
	case store.AttemptError:
		e.Action = auditName(a.Action, "failed")
	case store.AttemptTimeout:
		e.Action = store.AuditDeviceActionTimeout
	case store.AttemptNotSent:
		e.Action = store.AuditDeviceActionNotSent
	default:
		e.Action = store.AuditDeviceActionUnknown
	}
	return e
}

// auditName is device.<action>.<step>, e.g. device.unlock.requested.
func auditName(action, step string) string { return "device." + action + "." + step }

// Action returns one of the user's actions on the device, asking Seam about it first
// if it is still pending (so a polling page sees the end as soon as Seam knows it).
// Another user's action, or one on another device, is ErrNotOwned and audited.
func (s *Service) Action(ctx context.Context, user store.User, deviceID, actionID string) (store.ActionAttempt, error) {
	deny := func() (store.ActionAttempt, error) {
		s.countRefusal("not_owned")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditAccessDenied, DeviceID: deviceID, Outcome: store.OutcomeDenied,
			Detail: store.ClientString("action", actionID) + ": not the user's on this device"})
		return store.ActionAttempt{}, ErrNotOwned
	}
	if !ValidDeviceID(deviceID) || uuid.Validate(actionID) != nil || len(actionID) != 36 {
		return deny()
	}
	a, err := s.Store.ActionAttemptForUser(ctx, user.ID, actionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.DeviceID != deviceID) {
		return deny()
	}
	if err != nil {
		return store.ActionAttempt{}, err
	}
	// A spent Seam budget only means the page reads what the follower recorded.
	if a.Status == store.AttemptPending && s.Guard.SpendSeamCall(ctx, user.ID) == nil {
		a = s.refresh(ctx, a)
	}
	return a, nil
}

// refresh asks Seam about a pending action and records its end if it ended. On a Seam
// failure the action stays pending: the next poll or the follower asks again.
func (s *Service) refresh(ctx context.Context, a store.ActionAttempt) store.ActionAttempt {
	if a.SeamID == "" {
		return a
	}
	sctx, cancel := s.seamContext(ctx)
	sa, err := s.Seam.ActionAttempts.Get(sctx, a.SeamID)
	cancel()
	if err != nil {
		s.log().WarnContext(ctx, "check action attempt", "action_attempt_id", a.ID, "error", err)
		return a
	}
	from := []string{store.AttemptPending}
	system := store.User{}
	switch sa.Status {
	case seam.StatusPending:
		return a
	case seam.StatusSuccess:
		return s.settle(ctx, system, a, from, store.AttemptSuccess, "", "")
	default:
		return s.settle(ctx, system, a, from, store.AttemptError, seamAttemptReason(sa), "")
	}
}
