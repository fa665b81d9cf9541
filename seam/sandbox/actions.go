package sandbox

import (
	"net/http"
	"time"

	"github.com/google/uuid"
)

// attempt is an action attempt. Its outcome is decided when it is created and
// becomes visible when the clock passes due: the sandbox settles attempts lazily,
// on every API request, so no timer goroutines outlive a test.
type attempt struct {
	json     actionAttemptJSON
	deviceID string
	due      time.Time
	failure  *actionAttemptError
}

const (
	actionUnlock = "UNLOCK_DOOR"
	actionLock   = "LOCK_DOOR"
)

// startAction creates a pending action attempt on a device.
func (s *Sandbox) startAction(req *request, actionType string) (reply, *apiError) {
	id := req.p.str("device_id")
	d, ok := s.st.devices[id]
	if !ok {
		return nil, notFound("device_not_found", "Device not found")
	}
	able := d.json.CanRemotelyUnlock
	if actionType == actionLock {
		able = d.json.CanRemotelyLock
	}
	if !able {
		verb := "unlocked"
		if actionType == actionLock {
			verb = "locked"
		}
		return nil, newAPIError(http.StatusBadRequest, "action_not_supported", "This device cannot be "+verb+" remotely")
	}
	a := &attempt{
		json: actionAttemptJSON{
			ActionAttemptID: uuid.NewString(),
			ActionType:      actionType,
			Status:          "pending",
		},
		deviceID: id,
		due:      req.now,
	}
	if s.actionDelay > 0 {
		a.due = req.now.Add(s.actionDelay)
	}
	switch f, failNext := s.st.failNext[id]; {
	case failNext:
		delete(s.st.failNext, id)
		a.failure = &f
	case len(s.accountErrors(d)) > 0:
		a.failure = &actionAttemptError{Type: "account_disconnected", Message: "The device's connected account is disconnected"}
	case !d.json.Properties.Online:
		a.failure = &actionAttemptError{Type: "device_offline", Message: "Device is offline"}
	}
	s.st.attempts[a.json.ActionAttemptID] = a
	s.st.pending = append(s.st.pending, a)
	if s.realClock {
		// With the real clock the attempt also settles on time without a request,
		// so that its events (and webhooks) come when a real lock's would.
		s.bg.afterFunc(a.due.Sub(req.now), s.settleNow)
	}
	return reply{"action_attempt": a.json}, nil
}

func (s *Sandbox) accountErrors(d *device) []accountError {
	if acc, ok := s.st.accounts[d.json.ConnectedAccountID]; ok {
		return acc.json.Errors
	}
	return nil
}

// settle completes every pending attempt that is due at now, in order of creation.
// Success moves the lock, emitting lock.locked or lock.unlocked (method remote, with
// the attempt's id), then action_attempt.*.succeeded; failure records the error and
// emits action_attempt.*.failed.
func (s *Sandbox) settle(now time.Time) {
	kept := s.st.pending[:0]
	var due []*attempt
	for _, a := range s.st.pending {
		if a.due.After(now) {
			kept = append(kept, a)
			continue
		}
		due = append(due, a)
	}
	clear(s.st.pending[len(kept):])
	s.st.pending = kept
	for _, a := range due {
		s.finish(a)
	}
}

func (s *Sandbox) finish(a *attempt) {
	d, haveDevice := s.st.devices[a.deviceID]
	e := eventJSON{
		ActionAttemptID: a.json.ActionAttemptID,
		ActionType:      a.json.ActionType,
		DeviceID:        a.deviceID,
	}
	if haveDevice {
		e.ConnectedAccountID = d.json.ConnectedAccountID
	}
	lock := a.json.ActionType == actionLock
	if a.failure != nil {
		a.json.Status = "error"
		a.json.Error = a.failure
		e.Status = a.json.Status
		e.EventType, e.EventDescription = EventActionAttemptUnlockFailed, descriptionUnlockAttemptFailed
		if lock {
			e.EventType, e.EventDescription = EventActionAttemptLockFailed, descriptionLockAttemptFailed
		}
		s.emit(a.due, e)
		return
	}
	a.json.Status = "success"
	a.json.Result = &struct{}{}
	e.Status = a.json.Status
	if haveDevice {
		s.setLocked(d, lock, MethodRemote, a.json.ActionAttemptID, a.due)
	}
	e.EventType, e.EventDescription = EventActionAttemptUnlockSucceeded, descriptionUnlockAttemptSucceeded
	if lock {
		e.EventType, e.EventDescription = EventActionAttemptLockSucceeded, descriptionLockAttemptSucceeded
	}
	s.emit(a.due, e)
}
