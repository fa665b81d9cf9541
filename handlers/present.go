package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/activity"
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
		Capabilities:     offeredCapabilities(d.CapabilitiesSupported),
	}
	switch {
	case p.Locked == nil:
	case *p.Locked:
		v.LockState = views.LockLocked
	default:
		v.LockState = views.LockUnlocked
	}
	switch {
	case p.DoorOpen == nil:
	case *p.DoorOpen:
		v.Door = views.DoorOpen
	default:
		v.Door = views.DoorClosed
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
	}
	v.NeedsReconnect = locks.NeedsReconnect(d)
	for _, w := range d.Warnings {
		v.Problems = append(v.Problems, views.Problem{Text: problemText(w.WarningCode, w.Message)})
	}
	return v
}

// withControls chooses the device's lock/unlock buttons by its lock state (Unlock when
// locked, Lock when unlocked, both when unknown) and disables each one the customer
// could not use now, saying why: the lock is unreachable, an action is in progress on
// it (v.Action), the customer's action limit is spent, or the lock cannot take that
// action remotely. The handlers refuse the same cases (locks.Operable, ConfirmAction).
func withControls(v *views.Device, d seam.Device, allowance locks.Allowance) {
	if !d.CanRemotelyUnlock && !d.CanRemotelyLock {
		return
	}
	var actions []string
	switch v.LockState {
	case views.LockLocked:
		actions = []string{store.ActionUnlock}
	case views.LockUnlocked:
		actions = []string{store.ActionLock}
	default:
		actions = []string{store.ActionUnlock, store.ActionLock}
	}
	pending := v.Action.Pending()
	var notes []string
	for _, action := range actions {
		note := ""
		switch err := locks.Operable(d, action); {
		case errors.Is(err, locks.ErrAccountDisconnected):
			note = "Unavailable: the lock's account is disconnected. Reconnect it first."
		case errors.Is(err, locks.ErrOffline):
			note = "Unavailable while the lock is offline."
		case pending:
			note = "Wait for the current request to finish."
		case allowance.Spent():
			note = fmt.Sprintf("You have reached the limit of %d actions a minute. Reload the page in a minute to try again.", allowance.Limit)
		case errors.Is(err, locks.ErrCannotUnlock):
			note = "This lock cannot be unlocked remotely."
		case errors.Is(err, locks.ErrCannotLock):
			note = "This lock cannot be locked remotely."
		}
		v.Controls = append(v.Controls, views.Control{Unlock: action == store.ActionUnlock, Disabled: note != ""})
		if note != "" && !slices.Contains(notes, note) {
			notes = append(notes, note)
		}
	}
	v.ControlsNote = strings.Join(notes, " ")
}

// portalCapabilities are the device capabilities Latchkey offers a customer: a badge
// for anything else (access codes, thermostats) would promise what the portal cannot do.
var portalCapabilities = []string{"lock"}

func offeredCapabilities(supported []string) []string {
	var out []string
	for _, c := range supported {
		if slices.Contains(portalCapabilities, c) {
			out = append(out, c)
		}
	}
	return out
}

// badgeID is the id of a device's lock badge, which an action's result updates.
func badgeID(deviceID string) string { return "lock-" + deviceID }

// actionPollBound is how long a page polls an action before it says "still pending —
// check again" (the follower keeps following it on the server).
const actionPollBound = 20 * time.Second

// actionFragment is an action as an htmx answer shows it: once it succeeded, it also
// updates the device's lock badge out of band. (Pages and live updates render the
// badge from the device's state instead.)
func actionFragment(a store.ActionAttempt, now time.Time, clock views.Clock) views.Action {
	v := *actionView(a, now, clock)
	if a.Status == store.AttemptSuccess {
		v.BadgeID = badgeID(a.DeviceID)
		v.BadgeState = map[bool]views.LockState{true: views.LockUnlocked, false: views.LockLocked}[a.Action == store.ActionUnlock]
	}
	return v
}

// actionView is an action as its status fragment shows it.
func actionView(a store.ActionAttempt, now time.Time, clock views.Clock) *views.Action {
	deviceURL := "/devices/" + url.PathEscape(a.DeviceID)
	v := &views.Action{
		Door:      orDefault(a.DeviceName, "The lock"),
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
		// The door is named in the line itself: it is what a screen reader hears.
		v.Door = ""
		v.State = views.ActionSucceeded
		v.Text = orDefault(a.DeviceName, "The lock") + " " + map[bool]string{true: "unlocked", false: "locked"}[unlock]
		if a.FinishedAt != nil {
			v.Text += " at " + clock.TimeOfDay(*a.FinishedAt)
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
		v.State, v.Text = views.ActionFailed, "Could not "+verb+": "+orDefault(activity.Reason(a.Error), "The lock did not respond.")
	}
	return v
}

// trailEntry is one entry of viewerID's trail as the activity pages show it.
func trailEntry(e store.TrailEntry, viewerID string, deviceNames map[string]string, clock views.Clock) views.ActivityEntry {
	words := activity.Describe(e, viewerID)
	// The name recorded with the event first: the device may be gone or renamed since.
	device := e.DeviceName
	if device == "" && e.Attempt != nil {
		device = e.Attempt.DeviceName
	}
	if device == "" {
		device = deviceNames[e.DeviceID]
	}
	if device == "" && e.DeviceID != "" {
		device = "Lock " + shortID(e.DeviceID)
	}
	detail := words.Reason
	if detail == "" && e.Attempt == nil && showsDetail[e.Action] {
		detail = e.Detail
	}
	seamAttempt := ""
	if e.Attempt != nil {
		seamAttempt = e.Attempt.SeamID
	}
	return views.ActivityEntry{
		SeamAttemptID: seamAttempt,
		Time:          e.At,
		At:            clock.DateTime(e.At),
		ISOTime:       views.ISO(e.At),
		What:          words.What,
		Device:        device,
		Outcome:       views.Outcome(words.Outcome),
		Result:        words.Result,
		Detail:        detail,
		Account:       e.AccountName,
		Source:        "Latchkey",
	}
}

// showsDetail are the events whose recorded detail is worded for the customer.
var showsDetail = map[string]bool{store.AuditConnectCompleted: true, store.AuditLogin: true}

// seamEventEntry is one of Seam's lock events as the device page shows it.
func seamEventEntry(e seam.Event, deviceName string, clock views.Clock) views.ActivityEntry {
	what := map[string]string{seam.EventLockLocked: "Locked", seam.EventLockUnlocked: "Unlocked"}[e.EventType]
	if what == "" {
		what = e.EventType
	}
	if e.Method != "" {
		what += " (" + strings.ReplaceAll(e.Method, "_", " ") + ")"
	}
	return views.ActivityEntry{
		Time:    e.OccurredAt,
		At:      clock.DateTime(e.OccurredAt),
		ISOTime: views.ISO(e.OccurredAt),
		What:    what,
		Device:  deviceName,
		Outcome: views.OutcomeSucceeded,
		Result:  "Done",
		Source:  "Seam",
	}
}
