package locks

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// listOwned lists the user's devices at Seam: Seam's list filtered by the user's
// user_identifier_key, AND only devices of accounts Latchkey recorded for the user;
// with the ids of those accounts. Device counts in Latchkey's records are refreshed on
// the way, for the admin pages. A Seam failure is returned wrapped (errors.As finds
// the *seam.Error).
func (s *Service) listOwned(ctx context.Context, userID string) ([]seam.Device, []string, error) {
	accounts, err := s.Store.ConnectedAccountsForUser(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("owned accounts: %w", err)
	}
	if len(accounts) == 0 {
		// Nothing connected through Latchkey: nothing to show, and no reason to ask Seam.
		return nil, nil, nil
	}
	owned := make(map[string]int, len(accounts))
	counts := make(map[string]int, len(accounts))
	ids := make([]string, 0, len(accounts))
	for _, a := range accounts {
		owned[a.ID] = a.DeviceCount
		counts[a.ID] = 0
		ids = append(ids, a.ID)
	}
	if err := s.Guard.SpendSeamCall(ctx, userID); err != nil {
		return nil, nil, err
	}
	sctx, cancel := s.seamContext(ctx)
	listed, err := s.Seam.Devices.List(sctx, seam.ListDevicesParams{UserIdentifierKey: userID})
	cancel()
	if err != nil {
		return nil, nil, &ErrLockService{Op: "list devices", Err: err}
	}
	devices := make([]seam.Device, 0, len(listed))
	for _, d := range listed {
		if _, ok := owned[d.ConnectedAccountID]; !ok {
			// Seam listed a device of an account Latchkey never confirmed for this user:
			// an upstream mistake (Seam's fake ignores user_identifier_key). Never show it.
			s.log().WarnContext(ctx, "device listed for user outside their recorded accounts; hidden",
				"user_id", userID, "device_id", d.DeviceID)
			continue
		}
		counts[d.ConnectedAccountID]++
		devices = append(devices, d)
	}
	if !maps.Equal(counts, owned) {
		if err := s.Store.SetDeviceCounts(ctx, userID, counts, s.now()); err != nil {
			s.log().WarnContext(ctx, "refresh device counts", "error", err)
		}
	}
	return devices, ids, nil
}

// Device returns the device only when the user owns it both ways (DESIGN.md,
// "Ownership — defence in depth"); otherwise ErrNotOwned, with an access.denied audit
// event. Seam is never asked about malformed ids.
func (s *Service) Device(ctx context.Context, user store.User, deviceID string) (seam.Device, error) {
	if !ValidDeviceID(deviceID) {
		return seam.Device{}, ErrNotOwned
	}
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return seam.Device{}, err
	}
	sctx, cancel := s.seamContext(ctx)
	listed, err := s.Seam.Devices.List(sctx, seam.ListDevicesParams{UserIdentifierKey: user.ID, DeviceIDs: []string{deviceID}})
	cancel()
	if err != nil {
		return seam.Device{}, &ErrLockService{Op: "check device ownership", Err: err}
	}
	var device *seam.Device
	for i := range listed {
		if listed[i].DeviceID == deviceID {
			device = &listed[i]
		}
	}
	reason := ""
	switch {
	case device == nil:
		reason = "device not among the user's devices at Seam"
	default:
		owns, err := s.Store.UserOwnsConnectedAccount(ctx, user.ID, device.ConnectedAccountID)
		if err != nil {
			return seam.Device{}, fmt.Errorf("check device ownership: %w", err)
		}
		if !owns {
			reason = "device's account not recorded for the user"
		}
	}
	if reason != "" {
		s.countRefusal("not_owned")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditAccessDenied, DeviceID: deviceID,
			Outcome: store.OutcomeDenied, Detail: reason})
		return seam.Device{}, ErrNotOwned
	}
	return *device, nil
}

// RecentActions returns the user's newest actions on the device (on all their devices
// when deviceID is empty), at most limit of them.
func (s *Service) RecentActions(ctx context.Context, userID, deviceID string, limit int) ([]store.ActionAttempt, error) {
	return s.Store.LatestActionAttempts(ctx, userID, deviceID, limit)
}

// LockEvents returns Seam's own locked/unlocked events of a device the caller already
// showed to be the user's, newest first, from the last 30 days.
func (s *Service) LockEvents(ctx context.Context, user store.User, deviceID string, limit int) ([]seam.Event, error) {
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return nil, err
	}
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	events, err := s.Seam.Events.List(sctx, seam.ListEventsParams{
		DeviceIDs:  []string{deviceID},
		EventTypes: []string{seam.EventLockLocked, seam.EventLockUnlocked},
		Since:      s.now().Add(-30 * 24 * time.Hour),
		Limit:      limit,
	})
	if err != nil {
		return nil, &ErrLockService{Op: "lock events", Err: err}
	}
	out := events[:0]
	for _, e := range events {
		if e.DeviceID == deviceID {
			out = append(out, e)
		}
	}
	return out, nil
}
