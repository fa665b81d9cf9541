package handlers

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// problemWords are Seam's error and warning codes in the words a customer understands.
var problemWords = map[string]string{
	"account_disconnected":          "The lock account is disconnected. Reconnect it to control this lock again.",
	"device_offline":                "The lock is offline: it cannot be reached right now.",
	"device_disconnected":           "The lock is disconnected: it cannot be reached right now.",
	"hub_disconnected":              "The lock's hub or bridge is offline.",
	"device_removed":                "The lock was removed from its account.",
	"invalid_credentials":           "The lock account's password changed. Reconnect it.",
	"salto_ks_subscription_limit":   "The lock provider's subscription limit was reached.",
	"subscription_required":         "The lock provider needs an active subscription.",
	"bridge_disconnected":           "The lock's bridge is offline.",
	"device_has_flaky_connection":   "The lock's connection is unreliable.",
	"device_battery_low":            "Battery is low: replace it soon.",
	"device_battery_critical":       "Battery is critically low: replace it now.",
	"third_party_integration_error": "The lock provider reported a problem.",
}

// needsReconnect are the codes that mean the customer must sign in to the account again.
var needsReconnect = []string{"account_disconnected", "invalid_credentials"}

func problemText(code, message string) string {
	if w, ok := problemWords[code]; ok {
		return w
	}
	if message != "" {
		return message
	}
	return strings.ReplaceAll(code, "_", " ")
}

// deviceView is what the pages show of a Seam device.
func deviceView(d seam.Device) views.Device {
	p := d.Properties
	base := "/devices/" + url.PathEscape(d.DeviceID)
	v := views.Device{
		ID:               d.DeviceID,
		URL:              base,
		ConfirmUnlockURL: base + "/unlock",
		UnlockURL:        base + "/unlock",
		LockURL:          base + "/lock",
		ActionTarget:     "action-" + d.DeviceID,
		BadgeID:          badgeID(d.DeviceID),
		Name:             locks.DeviceName(d),
		Model:            p.Model.DisplayName,
		Manufacturer:     firstNonEmpty(p.Model.ManufacturerDisplayName, p.Manufacturer),
		Online:           p.Online,
		LockState:        views.LockUnknown,
		CanUnlock:        d.CanRemotelyUnlock,
		CanLock:          d.CanRemotelyLock,
		Capabilities:     d.CapabilitiesSupported,
	}
	if p.Locked != nil {
		v.LockState = map[bool]views.LockState{true: views.LockLocked, false: views.LockUnlocked}[*p.Locked]
	}
	if p.DoorOpen != nil {
		v.Door = map[bool]views.DoorState{true: views.DoorOpen, false: views.DoorClosed}[*p.DoorOpen]
	}
	switch {
	case p.Battery != nil:
		v.HasBattery = true
		v.BatteryPercent = int(math.Round(p.Battery.Level * 100))
		v.BatteryLow = p.Battery.Status == "low" || p.Battery.Status == "critical"
	case p.BatteryLevel != nil:
		v.HasBattery = true
		v.BatteryPercent = int(math.Round(*p.BatteryLevel * 100))
	}
	if v.HasBattery && v.BatteryPercent <= 20 {
		v.BatteryLow = true
	}
	for _, e := range d.Errors {
		v.Problems = append(v.Problems, views.Problem{Text: problemText(e.ErrorCode, e.Message), Severe: true})
		if slices.Contains(needsReconnect, e.ErrorCode) {
			v.NeedsReconnect = true
		}
	}
	for _, w := range d.Warnings {
		v.Problems = append(v.Problems, views.Problem{Text: problemText(w.WarningCode, w.Message)})
	}
	return v
}

// badgeID is the id of a device's lock badge, which an action's result updates.
func badgeID(deviceID string) string { return "lock-" + deviceID }

// actionPollBound is how long a page polls an action before it says "still pending —
// check again" (the follower keeps following it on the server).
const actionPollBound = 20 * time.Second

// actionFragment is an action as an htmx answer shows it: once it succeeded, it also
// updates the device's lock badge out of band. (Pages and live updates render the
// badge from the device's state instead.)
func actionFragment(a store.ActionAttempt, now time.Time) views.Action {
	v := *actionView(a, now)
	if a.Status == store.AttemptSuccess {
		v.BadgeID = badgeID(a.DeviceID)
		v.BadgeState = map[bool]views.LockState{true: views.LockUnlocked, false: views.LockLocked}[a.Action == store.ActionUnlock]
	}
	return v
}

// actionView is an action as its status fragment shows it.
func actionView(a store.ActionAttempt, now time.Time) *views.Action {
	deviceURL := "/devices/" + url.PathEscape(a.DeviceID)
	v := &views.Action{
		ElementID: "attempt-" + a.ID,
		PollURL:   deviceURL + "/actions/" + url.PathEscape(a.ID),
		DeviceURL: deviceURL,
	}
	unlock := a.Action == store.ActionUnlock
	verb := map[bool]string{true: "unlock", false: "lock"}[unlock]
	switch a.Status {
	case store.AttemptRequested, store.AttemptPending:
		v.State, v.Text = views.ActionInProgress, map[bool]string{true: "Unlocking…", false: "Locking…"}[unlock]
		if now.Sub(a.CreatedAt) >= actionPollBound {
			v.State, v.Text = views.ActionStalled, "Still pending — check again."
		}
	case store.AttemptSuccess:
		v.State = views.ActionSucceeded
		v.Text = map[bool]string{true: "Unlocked", false: "Locked"}[unlock]
		if a.FinishedAt != nil {
			v.Text += " at " + a.FinishedAt.UTC().Format("15:04 UTC")
		}
	case store.AttemptTimeout:
		v.State, v.Text = views.ActionUncertain, "No answer from the lock in time. Check the lock before trying again."
	case store.AttemptUnknown:
		v.State = views.ActionUncertain
		v.Text = "We could not confirm whether " + orDefault(a.DeviceName, "the lock") + " " +
			map[bool]string{true: "unlocked", false: "locked"}[unlock] + " — check the door."
	case store.AttemptNotSent:
		v.State, v.Text = views.ActionFailed, strings.ToUpper(verb[:1])+verb[1:]+" not sent: "+orDefault(a.Error, "nothing was done.")
	default:
		v.State, v.Text = views.ActionFailed, "Could not "+verb+": "+orDefault(a.Error, "the lock did not respond")
	}
	return v
}

// auditWords are audit actions in the words the activity pages show.
var auditWords = map[string]string{
	store.AuditLogin:                   "Signed in",
	store.AuditLogout:                  "Signed out",
	store.AuditCallbackFailed:          "Sign-in failed",
	store.AuditAdminViewUser:           "Admin viewed this account",
	store.AuditAdminListUsers:          "Listed every customer",
	store.AuditAdminExportActivity:     "Admin exported this account's activity",
	store.AuditAdminAccessDenied:       "Admin page refused",
	store.AuditAccessDenied:            "Access refused",
	store.AuditConnectStarted:          "Started connecting a lock account",
	store.AuditConnectCompleted:        "Connected a lock account",
	store.AuditConnectFailed:           "Connecting a lock account failed",
	store.AuditDeviceUnlockRequested:   "Unlock requested",
	store.AuditDeviceLockRequested:     "Lock requested",
	store.AuditDeviceUnlockSucceeded:   "Unlocked",
	store.AuditDeviceUnlockFailed:      "Unlock failed",
	store.AuditDeviceLockSucceeded:     "Locked",
	store.AuditDeviceLockFailed:        "Lock failed",
	store.AuditDeviceUnlockSent:        "Unlock sent to the lock service",
	store.AuditDeviceLockSent:          "Lock sent to the lock service",
	store.AuditDeviceActionTimeout:     "No answer from the lock in time",
	store.AuditDeviceActionUnknown:     "Outcome unknown: check the door",
	store.AuditDeviceActionNotSent:     "Not sent",
	store.AuditDeviceActionRateLimited: "Too many requests: refused",
	store.AuditDeviceActionDisabled:    "Refused: account disabled",
	store.AuditLogoutEverywhere:        "Signed out everywhere",
	store.AuditLoginRefusedDisabled:    "Sign-in refused: account disabled",
	store.AuditSessionEnded:            "Ended a session",
	store.AuditSessionEndedOthers:      "Ended all other sessions",
	store.AuditAdminSessionsEnded:      "Admin ended all sessions",
	store.AuditAdminUserDisabled:       "Admin disabled the account",
	store.AuditAdminUserEnabled:        "Admin enabled the account",
	store.AuditAdminDisableRefused:     "Admin action refused",
	store.AuditIdPLogout:               "Signed out at the identity provider",
	store.AuditIdPLogoutRefused:        "Logout request from the identity provider refused",
	store.AuditIdPRefreshRefused:       "Signed out: the identity provider ended the sign-in",
	store.AuditReauthRequired:          "Asked to sign in again before unlocking",
}

// activityEntry is one audit event as the activity pages show it.
func activityEntry(e store.AuditEvent, deviceNames map[string]string) views.ActivityEntry {
	what, ok := auditWords[e.Action]
	if !ok {
		what = e.Action
	}
	// The name recorded with the event first: the device may be gone or renamed since.
	device := e.DeviceName
	if device == "" {
		device = deviceNames[e.DeviceID]
	}
	if device == "" && e.DeviceID != "" {
		device = "Lock " + shortID(e.DeviceID)
	}
	return views.ActivityEntry{
		Time:    e.At,
		At:      e.At.UTC().Format("Jan 2, 2006 15:04 UTC"),
		ISOTime: e.At.UTC().Format(time.RFC3339),
		What:    what,
		Device:  device,
		Outcome: views.Outcome(e.Outcome),
		Detail:  e.Detail,
		Account: e.AccountName,
		Source:  "Latchkey",
	}
}

// seamEventEntry is one of Seam's lock events as the device page shows it.
func seamEventEntry(e seam.Event, deviceName string) views.ActivityEntry {
	what := map[string]string{seam.EventLockLocked: "Locked", seam.EventLockUnlocked: "Unlocked"}[e.EventType]
	if what == "" {
		what = e.EventType
	}
	if e.Method != "" {
		what += " (" + strings.ReplaceAll(e.Method, "_", " ") + ")"
	}
	return views.ActivityEntry{
		Time:    e.OccurredAt,
		At:      e.OccurredAt.UTC().Format("Jan 2, 2006 15:04 UTC"),
		ISOTime: e.OccurredAt.UTC().Format(time.RFC3339),
		What:    what,
		Device:  deviceName,
		Outcome: views.OutcomeSucceeded,
		Source:  "Seam",
	}
}
