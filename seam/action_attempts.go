package seam

import (
	"context"
	"encoding/json"
)

// Action attempt statuses.
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusError   = "error"
)

// Action types of the attempts Latchkey starts.
const (
	ActionUnlockDoor = "UNLOCK_DOOR"
	ActionLockDoor   = "LOCK_DOOR"
)

// ActionAttempts reads the outcome of lock and unlock requests.
type ActionAttempts struct{ c *Client }

// ActionAttempt tracks an asynchronous device action such as an unlock.
type ActionAttempt struct {
	ActionAttemptID string `json:"action_attempt_id"`
	// ActionType is e.g. ActionUnlockDoor.
	ActionType string `json:"action_type"`
	// Status is StatusPending, StatusSuccess or StatusError.
	Status string `json:"status"`
	// Result is set on success; nil while pending or on error.
	Result json.RawMessage `json:"result"`
	// Error is set when Status is StatusError.
	Error *ActionAttemptError `json:"error"`
}

// ActionAttemptError says why an action attempt failed.
type ActionAttemptError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// UnmarshalJSON turns Seam's "result": null into a nil Result, so callers can
// test len(Result) == 0 instead of comparing against the text "null".
func (a *ActionAttempt) UnmarshalJSON(b []byte) error {
	type plain ActionAttempt
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	if string(a.Result) == "null" {
		a.Result = nil
	}
	return nil
}

// Get returns the current state of an action attempt; poll it about once a second.
func (s *ActionAttempts) Get(ctx context.Context, actionAttemptID string) (*ActionAttempt, error) {
	const endpoint = "action_attempts/get"
	if actionAttemptID == "" {
		return nil, errMissingID(endpoint, "action_attempt_id")
	}
	return s.c.actionAttempt(ctx, endpoint, map[string]string{"action_attempt_id": actionAttemptID})
}

// actionAttempt calls an endpoint whose success body is {"action_attempt": …}.
func (c *Client) actionAttempt(ctx context.Context, endpoint string, req any) (*ActionAttempt, error) {
	var resp struct {
		ActionAttempt *ActionAttempt `json:"action_attempt"`
	}
	if err := c.call(ctx, endpoint, req, &resp); err != nil {
		return nil, err
	}
	if resp.ActionAttempt == nil {
		return nil, missing(endpoint, "action_attempt")
	}
	return resp.ActionAttempt, nil
}
