package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// errSeamUnavailable and errSeamBusy are shown when Seam cannot answer.
var (
	errSeamUnavailable = &Error{Status: http.StatusServiceUnavailable, Title: "Your locks cannot be reached right now",
		Message: "Latchkey could not reach the lock service. Nothing was changed. Please try again in a moment.", Retry: true}
	errSeamBusy = &Error{Status: http.StatusServiceUnavailable, Title: "The lock service is busy",
		Message: "The lock service asked us to slow down. Nothing was changed. Please try again in a few seconds.", Retry: true}
)

// seamError turns a failed Seam call into the page the user sees; the cause is logged.
func seamError(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return seamPage(fmt.Errorf("%s: %w", what, err))
}

// validDeviceID reports whether id looks like a Seam device id (a UUID). Anything else
// is answered 404 without asking Seam.
func validDeviceID(id string) bool {
	return len(id) == 36 && uuid.Validate(id) == nil
}

// ownedAccounts maps each connected account Latchkey recorded for the user to the
// device count last seen for it.
func (h *Handlers) ownedAccounts(ctx context.Context, userID string) (map[string]int, error) {
	accounts, err := h.Store.ConnectedAccountsForUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("owned accounts: %w", err)
	}
	owned := make(map[string]int, len(accounts))
	for _, a := range accounts {
		owned[a.ID] = a.DeviceCount
	}
	return owned, nil
}

// ownedDevices lists the user's devices: Seam's list filtered by the user's
// user_identifier_key, AND only devices of accounts Latchkey recorded for the user.
// Device counts in Latchkey's records are refreshed on the way, for the admin pages.
func (h *Handlers) ownedDevices(ctx context.Context, userID string) ([]seam.Device, error) {
	owned, err := h.ownedAccounts(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(owned) == 0 {
		// Nothing connected through Latchkey: nothing to show, and no reason to ask Seam.
		return nil, nil
	}
	listed, err := h.Seam.Devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: userID})
	if err != nil {
		return nil, seamError("list devices", err)
	}
	devices := make([]seam.Device, 0, len(listed))
	counts := make(map[string]int, len(owned))
	for id := range owned {
		counts[id] = 0
	}
	for _, d := range listed {
		if _, ok := owned[d.ConnectedAccountID]; !ok {
			// Seam listed a device of an account Latchkey never confirmed for this user:
			// an upstream mistake (Seam's fake ignores user_identifier_key). Never show it.
			h.Log.WarnContext(ctx, "device listed for user outside their recorded accounts; hidden",
				"user_id", userID, "device_id", d.DeviceID)
			continue
		}
		counts[d.ConnectedAccountID]++
		devices = append(devices, d)
	}
	if !maps.Equal(counts, owned) {
		if err := h.Store.SetDeviceCounts(ctx, userID, counts, h.Now()); err != nil {
			h.Log.WarnContext(ctx, "refresh device counts", "error", err)
		}
	}
	return devices, nil
}

// ownedDevice returns the device only when the user owns it both ways (DESIGN.md,
// "Ownership — defence in depth"); otherwise the same 404 as for a device that does not
// exist, with an access.denied audit event. Seam is never asked about malformed ids.
func (h *Handlers) ownedDevice(r *http.Request, user store.User, deviceID string) (seam.Device, error) {
	ctx := r.Context()
	if !validDeviceID(deviceID) {
		return seam.Device{}, errNotFound
	}
	listed, err := h.Seam.Devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: user.ID, DeviceIDs: []string{deviceID}})
	if err != nil {
		return seam.Device{}, seamError("check device ownership", err)
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
		owns, err := h.Store.UserOwnsConnectedAccount(ctx, user.ID, device.ConnectedAccountID)
		if err != nil {
			return seam.Device{}, fmt.Errorf("check device ownership: %w", err)
		}
		if !owns {
			reason = "device's account not recorded for the user"
		}
	}
	if reason != "" {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditAccessDenied, DeviceID: deviceID,
			Outcome: store.OutcomeDenied, Detail: reason})
		return seam.Device{}, errNotFound
	}
	return *device, nil
}
