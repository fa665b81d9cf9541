package sandbox

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Lock methods: the values of lock.locked and lock.unlocked's method in Seam's
// OpenAPI (@seamapi/types 1.977.0). A lock moved through locks/lock_door or
// locks/unlock_door reports MethodRemote together with the action_attempt_id.
const (
	MethodKeycode   = "keycode"
	MethodManual    = "manual"
	MethodAutomatic = "automatic"
	MethodUnknown   = "unknown"
	MethodRemote    = "remote"
	MethodCard      = "card"
)

func lockMethods() []string {
	return []string{MethodKeycode, MethodManual, MethodAutomatic, MethodUnknown, MethodRemote, MethodCard}
}

// Event types the sandbox emits.
const (
	EventLockLocked                   = "lock.locked"
	EventLockUnlocked                 = "lock.unlocked"
	EventDeviceConnected              = "device.connected"
	EventDeviceDisconnected           = "device.disconnected"
	EventDeviceLowBattery             = "device.low_battery"
	EventDeviceBatteryStatusChanged   = "device.battery_status_changed"
	EventDeviceAdded                  = "device.added"
	EventDeviceRemoved                = "device.removed"
	EventDeviceDeleted                = "device.deleted"
	EventConnectedAccountConnected    = "connected_account.connected"
	EventConnectedAccountDisconnected = "connected_account.disconnected"
	EventConnectedAccountDeleted      = "connected_account.deleted"
	EventConnectWebviewLoginFailed    = "connect_webview.login_failed"
	EventActionAttemptLockSucceeded   = "action_attempt.lock_door.succeeded"
	EventActionAttemptLockFailed      = "action_attempt.lock_door.failed"
	EventActionAttemptUnlockSucceeded = "action_attempt.unlock_door.succeeded"
	EventActionAttemptUnlockFailed    = "action_attempt.unlock_door.failed"
)

const (
	errCodeAccountDisconnected        = "account_disconnected"
	errCodeDeviceDisconnected         = "device_disconnected"
	warnCodeLowBattery                = "low_battery"
	lowBatteryThreshold               = 0.25
	defaultLowBatteryLevel            = 0.1
	defaultFullBatteryLevel           = 1.0
	accountDisconnectedMessage        = "The connection to the provider account was lost. Reconnect the account."
	deviceAccountDisconnectedMessage  = "The connected account of this device is disconnected."
	deviceOfflineMessage              = "The device is offline."
	descriptionLockLocked             = "A lock device was locked."
	descriptionLockUnlocked           = "A lock device was unlocked."
	descriptionDeviceConnected        = "A device was connected."
	descriptionDeviceDisconnected     = "A device was disconnected."
	descriptionLowBattery             = "A device's battery level dropped below the low threshold."
	descriptionBatteryStatusChanged   = "A device's battery status changed."
	descriptionDeviceAdded            = "A device was added."
	descriptionDeviceRemoved          = "A device was removed externally from the connected account."
	descriptionDeviceDeleted          = "A device was deleted."
	descriptionAccountConnected       = "A connected account was connected."
	descriptionAccountDisconnected    = "A connected account was disconnected."
	descriptionAccountDeleted         = "A connected account was deleted."
	descriptionWebviewLoginFailed     = "A Connect Webview login failed."
	descriptionLockAttemptSucceeded   = "A lock door action attempt succeeded."
	descriptionLockAttemptFailed      = "A lock door action attempt failed."
	descriptionUnlockAttemptSucceeded = "An unlock door action attempt succeeded."
	descriptionUnlockAttemptFailed    = "An unlock door action attempt failed."
)

// Errors of the test controls (SetLocked, SetOnline, SetBattery, the account
// controls) and of the control page.
var (
	// ErrDeviceNotFound means no device has the given id.
	ErrDeviceNotFound = errors.New("sandbox: device not found")
	// ErrAccountNotFound means no connected account has the given id.
	ErrAccountNotFound = errors.New("sandbox: connected account not found")
	// ErrInvalidMethod means a lock method outside Seam's enum (see MethodManual).
	ErrInvalidMethod = errors.New("sandbox: invalid lock method")
	// ErrInvalidBatteryLevel means a battery level outside 0–1.
	ErrInvalidBatteryLevel = errors.New("sandbox: battery level must be between 0 and 1")
)

// emit stamps an event, appends it to the event log and hands it to every webhook
// that wants it. Callers hold s.mu.
func (s *Sandbox) emit(now time.Time, e eventJSON) {
	e.EventID = uuid.NewString()
	e.WorkspaceID = s.workspaceID
	e.CreatedAt = stamp(now)
	if e.OccurredAt == "" {
		e.OccurredAt = e.CreatedAt
	}
	s.st.events = append(s.st.events, &event{created: now, json: e})
	s.deliverEvent(e)
}

func (s *Sandbox) deviceEvent(d *device, typ, desc string) eventJSON {
	return eventJSON{
		EventType:          typ,
		EventDescription:   desc,
		DeviceID:           d.json.DeviceID,
		ConnectedAccountID: d.json.ConnectedAccountID,
	}
}

// accountDown reports whether a connected account carries account_disconnected.
func (st *state) accountDown(accountID string) bool {
	acc, ok := st.accounts[accountID]
	return ok && slices.ContainsFunc(acc.json.Errors, func(e accountError) bool { return e.ErrorCode == errCodeAccountDisconnected })
}

// syncDevice recomputes a device's online flag and its connection errors from
// d.offline and its account's state, and emits device.connected or
// device.disconnected when online changes.
func (s *Sandbox) syncDevice(d *device, now time.Time) {
	down := s.st.accountDown(d.json.ConnectedAccountID)
	want := ""
	switch {
	case down:
		want = errCodeAccountDisconnected
	case d.offline:
		want = errCodeDeviceDisconnected
	}
	kept := make([]deviceError, 0, len(d.json.Errors)+1)
	have := false
	for _, e := range d.json.Errors {
		switch {
		case e.ErrorCode == want:
			have = true
		case e.ErrorCode == errCodeAccountDisconnected || e.ErrorCode == errCodeDeviceDisconnected:
			continue
		}
		kept = append(kept, e)
	}
	if want != "" && !have {
		kept = append(kept, connectionError(want, stamp(now)))
	}
	d.json.Errors = kept

	was, online := d.json.Properties.Online, !down && !d.offline
	d.json.Properties.Online = online
	switch {
	case was && !online:
		e := s.deviceEvent(d, EventDeviceDisconnected, descriptionDeviceDisconnected)
		e.ErrorCode = want
		accErrs, accWarns := s.accountIssues(d.json.ConnectedAccountID)
		devErrs, devWarns := deviceIssues(d)
		e.ConnectedAccountErrors, e.ConnectedAccountWarnings = &accErrs, &accWarns
		e.DeviceErrors, e.DeviceWarnings = &devErrs, &devWarns
		s.emit(now, e)
	case !was && online:
		s.emit(now, s.deviceEvent(d, EventDeviceConnected, descriptionDeviceConnected))
	}
}

func connectionError(code, created string) deviceError {
	if code == errCodeAccountDisconnected {
		return deviceError{ErrorCode: code, Message: deviceAccountDisconnectedMessage, IsConnectedAccountError: true, CreatedAt: created}
	}
	return deviceError{ErrorCode: code, Message: deviceOfflineMessage, IsDeviceError: true, CreatedAt: created}
}

func (s *Sandbox) accountIssues(accountID string) ([]eventIssue, []eventWarning) {
	errs, warns := []eventIssue{}, []eventWarning{}
	if acc, ok := s.st.accounts[accountID]; ok {
		for _, e := range acc.json.Errors {
			errs = append(errs, eventIssue{ErrorCode: e.ErrorCode, Message: e.Message, CreatedAt: e.CreatedAt})
		}
		for _, w := range acc.json.Warnings {
			warns = append(warns, eventWarning(w))
		}
	}
	return errs, warns
}

func deviceIssues(d *device) ([]eventIssue, []eventWarning) {
	errs, warns := []eventIssue{}, []eventWarning{}
	for _, e := range d.json.Errors {
		errs = append(errs, eventIssue{ErrorCode: e.ErrorCode, Message: e.Message, CreatedAt: e.CreatedAt})
	}
	for _, w := range d.json.Warnings {
		warns = append(warns, eventWarning(w))
	}
	return errs, warns
}

func isLowBattery(status string) bool { return status == "low" || status == "critical" }

// applyBattery sets a device's battery level, its status bucket and the sandbox's
// low_battery warning, without emitting anything. It returns the previous status.
func applyBattery(d *device, level float64, now time.Time) string {
	old := d.json.Properties.Battery.Status
	status := batteryStatus(level)
	d.json.Properties.BatteryLevel = level
	d.json.Properties.Battery = batteryJSON{Level: level, Status: status}
	warns := slices.DeleteFunc(slices.Clone(d.json.Warnings), func(w deviceWarning) bool { return w.WarningCode == warnCodeLowBattery })
	if isLowBattery(status) {
		created := stamp(now)
		if i := slices.IndexFunc(d.json.Warnings, func(w deviceWarning) bool { return w.WarningCode == warnCodeLowBattery }); i >= 0 {
			created = d.json.Warnings[i].CreatedAt
		}
		// Seam's schema has no battery warning code; the sandbox adds one so the
		// portal's warning display has something real to show.
		warns = append(warns, deviceWarning{
			WarningCode: warnCodeLowBattery,
			Message:     fmt.Sprintf("Battery is low (%d%%). Replace the batteries soon.", int(level*100+0.5)),
			CreatedAt:   created,
		})
	}
	if warns == nil {
		warns = []deviceWarning{}
	}
	d.json.Warnings = warns
	return old
}

// setBattery changes the battery level and emits device.low_battery when the level
// falls into low or critical, and device.battery_status_changed when the status
// bucket changes.
func (s *Sandbox) setBattery(d *device, level float64, now time.Time) {
	old := applyBattery(d, level, now)
	status := d.json.Properties.Battery.Status
	if isLowBattery(status) && !isLowBattery(old) {
		e := s.deviceEvent(d, EventDeviceLowBattery, descriptionLowBattery)
		e.BatteryLevel = &level
		s.emit(now, e)
	}
	if status != old {
		e := s.deviceEvent(d, EventDeviceBatteryStatusChanged, descriptionBatteryStatusChanged)
		e.BatteryLevel = &level
		e.BatteryStatus = status
		s.emit(now, e)
	}
}

// setLocked moves a lock and emits lock.locked or lock.unlocked. attemptID is set
// when an action attempt moved it (method remote); such events are emitted even if
// the lock was already in that state, as the attempt reports it.
func (s *Sandbox) setLocked(d *device, locked bool, method, attemptID string, now time.Time) {
	if d.json.Properties.Locked == locked && attemptID == "" {
		return
	}
	d.json.Properties.Locked = locked
	typ, desc := EventLockUnlocked, descriptionLockUnlocked
	if locked {
		typ, desc = EventLockLocked, descriptionLockLocked
	}
	e := s.deviceEvent(d, typ, desc)
	e.Method = method
	e.ActionAttemptID = attemptID
	s.emit(now, e)
}

// accountConnected emits connected_account.connected and device.added for each of
// the account's devices, as Seam does after a (re)connection's first sync.
func (s *Sandbox) emitAccountAdded(acc *account, webviewID string, now time.Time) {
	s.emit(now, eventJSON{
		EventType:          EventConnectedAccountConnected,
		EventDescription:   descriptionAccountConnected,
		ConnectedAccountID: acc.json.ConnectedAccountID,
		ConnectWebviewID:   webviewID,
	})
	for _, d := range s.st.deviceOrder {
		if d.json.ConnectedAccountID == acc.json.ConnectedAccountID {
			s.emit(now, s.deviceEvent(d, EventDeviceAdded, descriptionDeviceAdded))
		}
	}
}

// disconnectAccount gives an account the error account_disconnected and takes its
// devices offline. It reports false when the account was already disconnected.
func (s *Sandbox) disconnectAccount(acc *account, now time.Time) bool {
	if s.st.accountDown(acc.json.ConnectedAccountID) {
		return false
	}
	acc.json.Errors = append(acc.json.Errors, accountError{
		ErrorCode:               errCodeAccountDisconnected,
		Message:                 accountDisconnectedMessage,
		IsConnectedAccountError: true,
		CreatedAt:               stamp(now),
	})
	errs, warns := s.accountIssues(acc.json.ConnectedAccountID)
	s.emit(now, eventJSON{
		EventType:                EventConnectedAccountDisconnected,
		EventDescription:         descriptionAccountDisconnected,
		ConnectedAccountID:       acc.json.ConnectedAccountID,
		ConnectedAccountErrors:   &errs,
		ConnectedAccountWarnings: &warns,
	})
	for _, d := range s.accountDevices(acc) {
		s.syncDevice(d, now)
	}
	return true
}

// reconnectAccount clears account_disconnected and brings back the devices that
// are not offline themselves. It reports false when the account was connected.
func (s *Sandbox) reconnectAccount(acc *account, now time.Time) bool {
	if !s.st.accountDown(acc.json.ConnectedAccountID) {
		return false
	}
	acc.json.Errors = slices.DeleteFunc(acc.json.Errors, func(e accountError) bool { return e.ErrorCode == errCodeAccountDisconnected })
	s.emit(now, eventJSON{
		EventType:          EventConnectedAccountConnected,
		EventDescription:   descriptionAccountConnected,
		ConnectedAccountID: acc.json.ConnectedAccountID,
	})
	for _, d := range s.accountDevices(acc) {
		s.syncDevice(d, now)
	}
	return true
}

func (s *Sandbox) accountDevices(acc *account) []*device {
	var out []*device
	for _, d := range s.st.deviceOrder {
		if d.json.ConnectedAccountID == acc.json.ConnectedAccountID {
			out = append(out, d)
		}
	}
	return out
}

// dropDevice forgets a device; its pending action attempts then succeed without
// moving anything.
func (st *state) dropDevice(d *device) {
	delete(st.devices, d.json.DeviceID)
	st.deviceOrder = slices.DeleteFunc(st.deviceOrder, func(x *device) bool { return x == d })
}

// removeDevice is a device removed at the provider: device.removed, then gone.
func (s *Sandbox) removeDevice(d *device, now time.Time) {
	s.emit(now, s.deviceEvent(d, EventDeviceRemoved, descriptionDeviceRemoved))
	s.st.dropDevice(d)
}

// deleteAccount deletes an account and its devices: device.deleted for each device,
// then connected_account.deleted.
func (s *Sandbox) deleteAccount(acc *account, now time.Time) {
	for _, d := range s.accountDevices(acc) {
		e := s.deviceEvent(d, EventDeviceDeleted, descriptionDeviceDeleted)
		name := d.json.DisplayName
		e.DeviceName = &name
		s.emit(now, e)
		s.st.dropDevice(d)
	}
	s.emit(now, eventJSON{
		EventType:            EventConnectedAccountDeleted,
		EventDescription:     descriptionAccountDeleted,
		ConnectedAccountID:   acc.json.ConnectedAccountID,
		ConnectedAccountType: acc.json.AccountType,
	})
	delete(s.st.accounts, acc.json.ConnectedAccountID)
	s.st.accountOrder = slices.DeleteFunc(s.st.accountOrder, func(x *account) bool { return x == acc })
}
