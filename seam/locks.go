package seam

import "context"

// Locks locks and unlocks doors. Both calls are sent exactly once: after a
// lost response nobody knows whether the door moved, so the caller decides.
type Locks struct{ c *Client }

// UnlockDoor asks Seam to unlock a lock and returns the (usually pending) action attempt.
func (s *Locks) UnlockDoor(ctx context.Context, deviceID string) (*ActionAttempt, error) {
	return s.door(ctx, "locks/unlock_door", deviceID)
}

// LockDoor asks Seam to lock a lock and returns the (usually pending) action attempt.
func (s *Locks) LockDoor(ctx context.Context, deviceID string) (*ActionAttempt, error) {
	return s.door(ctx, "locks/lock_door", deviceID)
}

func (s *Locks) door(ctx context.Context, endpoint, deviceID string) (*ActionAttempt, error) {
	if deviceID == "" {
		return nil, errMissingID(endpoint, "device_id")
	}
	return s.c.actionAttempt(ctx, endpoint, map[string]string{"device_id": deviceID})
}
