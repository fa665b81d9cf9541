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
	return reply{"action_attempt": a.json}, nil
}

func (s *Sandbox) accountErrors(d *device) []accountError {
	if acc, ok := s.st.accounts[d.json.ConnectedAccountID]; ok {
		return acc.json.Errors
	}
	return nil
}

// settle completes every pending attempt that is due at now, in order of creation:
// success flips the lock and records a lock event; failure records the error.
func (s *Sandbox) settle(now time.Time) {
	kept := s.st.pending[:0]
	for _, a := range s.st.pending {
		if a.due.After(now) {
			kept = append(kept, a)
			continue
		}
		if a.failure != nil {
			a.json.Status = "error"
			a.json.Error = a.failure
			continue
		}
		a.json.Status = "success"
		a.json.Result = &struct{}{}
		d, ok := s.st.devices[a.deviceID]
		if !ok {
			continue
		}
		locked := a.json.ActionType == actionLock
		d.json.Properties.Locked = locked
		typ, desc := "lock.unlocked", "A lock device was unlocked."
		if locked {
			typ, desc = "lock.locked", "A lock device was locked."
		}
		s.st.addEvent(a.due, eventJSON{
			EventType:          typ,
			EventDescription:   desc,
			WorkspaceID:        s.workspaceID,
			DeviceID:           d.json.DeviceID,
			ConnectedAccountID: d.json.ConnectedAccountID,
			ActionAttemptID:    a.json.ActionAttemptID,
			Method:             "remote",
		})
	}
	clear(s.st.pending[len(kept):])
	s.st.pending = kept
}
