package locks

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// MaxDeviceNameLen is the longest device name Latchkey sends to Seam, in characters.
const MaxDeviceNameLen = 64

// ErrInvalidName is a device name refused before Seam is asked; Reason says why, in
// the words the form shows.
type ErrInvalidName struct{ Reason string }

func (e *ErrInvalidName) Error() string { return "locks: invalid device name: " + e.Reason }

// CleanDeviceName is the name a customer typed, trimmed, or why it cannot be used:
// 1 to MaxDeviceNameLen characters, printable (letters, marks, numbers, punctuation,
// symbols and spaces, all made plain), so no control, invisible or
// direction-changing character reaches Seam, the pages or the trail.
func CleanDeviceName(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", &ErrInvalidName{Reason: "The name is not valid text."}
	}
	// Other spaces (no-break, thin …) become plain ones: typed, not smuggled.
	name := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Zs, r) {
			return ' '
		}
		return r
	}, raw))
	switch {
	case name == "":
		return "", &ErrInvalidName{Reason: "Enter a name."}
	case utf8.RuneCountInString(name) > MaxDeviceNameLen:
		return "", &ErrInvalidName{Reason: "Use at most " + strconv.Itoa(MaxDeviceNameLen) + " characters."}
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", &ErrInvalidName{Reason: "Use letters, numbers, spaces and punctuation only: no control or invisible characters."}
		}
	}
	return name, nil
}

// Rename renames the user's device at Seam (devices/update) after checking it is
// theirs both ways, as an unlock does; then the copy takes the new name (its revision
// raised), the change is audited with the old and new name, and the user's live pages
// are told. It returns the device as renamed.
func (s *Service) Rename(ctx context.Context, user store.User, deviceID, raw string) (seam.Device, error) {
	name, err := CleanDeviceName(raw)
	if err != nil {
		return seam.Device{}, err
	}
	d, err := s.Device(ctx, user, deviceID)
	if err != nil {
		return seam.Device{}, err
	}
	old := DeviceName(d)
	if name == old {
		return d, nil
	}
	if s.Seam.Updates == nil {
		return seam.Device{}, &ErrLockService{Op: "rename device", Err: errors.New("renaming is not configured")}
	}
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return seam.Device{}, err
	}
	// Both names are the customer's words (the old one may come from the provider's app):
	// bounded, quoted and marked; the row keeps the name the lock had when renamed.
	detail := store.ClientString("old name", old) + " → " + store.ClientString("new name", name)
	sctx, cancel := s.seamContext(ctx)
	err = s.Seam.Updates.Update(sctx, seam.UpdateDeviceParams{DeviceID: deviceID, Name: name})
	cancel()
	if err != nil {
		s.audit(ctx, user, store.AuditEvent{Action: store.AuditDeviceRenameFailed, DeviceID: deviceID, DeviceName: old,
			Outcome: store.OutcomeFailure, Detail: detail + ": " + renameFailure(err)})
		return seam.Device{}, &ErrLockService{Op: "rename device", Err: err}
	}
	// Seam has renamed it: the copy and the trail follow even if the browser goes away.
	ctx = context.WithoutCancel(ctx)
	d.Nickname, d.DisplayName, d.Properties.Name = name, name, name
	if s.Copy != nil {
		err := s.Copy.UpdateDevice(ctx, deviceID, func(c store.DeviceCopy) ([]byte, time.Time, error) {
			b, err := renameCopy(c.Device, name)
			return b, c.StateAt, err
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			// The next sync reads the new name from Seam.
			s.log().WarnContext(ctx, "rename in the copy", "device_id", deviceID, "error", err)
		}
	}
	s.audit(ctx, user, store.AuditEvent{Action: store.AuditDeviceRenamed, DeviceID: deviceID, DeviceName: old,
		Outcome: store.OutcomeSuccess, Detail: detail})
	s.changed(user.ID, deviceID)
	return d, nil
}

// renameCopy is a device's copy with the new name.
func renameCopy(raw []byte, name string) ([]byte, error) {
	var d seam.Device
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	d.Nickname, d.DisplayName, d.Properties.Name = name, name, name
	return json.Marshal(d)
}

// renameFailure is why Seam did not rename, in a few words for the trail.
func renameFailure(err error) string {
	var se *seam.Error
	if !errors.As(err, &se) {
		return "lock service unreachable"
	}
	if se.Message != "" {
		return se.Type + ": " + se.Message
	}
	return se.Type
}
