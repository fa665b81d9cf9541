package activity

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/store"
)

func TestReason(t *testing.T) {
	for in, want := range map[string]string{
		"user_cancelled":           "You cancelled the sign-in at the provider.",
		"provider_login_failed":    "The lock provider did not accept the sign-in.",
		"device_offline":           "The lock was offline.",
		"x_y":                      "Failed (code: x_y)",
		"the lock did not respond": "The lock did not respond",
		"  ":                       "",
		"Seam said no.":            "Seam said no.",
	} {
		if got := Reason(in); got != want {
			t.Errorf("Reason(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryReasonIsASentence: the table's words are written for people.
func TestEveryReasonIsASentence(t *testing.T) {
	for code, words := range reasons {
		if !codeRE.MatchString(code) && code != "timeout" {
			t.Errorf("%q does not look like a code", code)
		}
		if words == "" || !strings.HasSuffix(words, ".") || strings.ToUpper(words[:1]) != words[:1] || strings.Contains(words, "_") {
			t.Errorf("%s = %q: not a sentence", code, words)
		}
	}
}

func action(verb, status, reason string) store.TrailEntry {
	return store.TrailEntry{AuditEvent: store.AuditEvent{Action: "device." + verb + ".requested", Outcome: store.OutcomeSuccess},
		Attempt: &store.ActionAttempt{ID: "a", Status: status, Error: reason}}
}

func TestDescribeActions(t *testing.T) {
	for _, c := range []struct {
		e       store.TrailEntry
		what    string
		outcome Outcome
		result  string
		reason  string
	}{
		{action("unlock", store.AttemptSuccess, ""), "Unlock requested", Succeeded, "Unlocked", ""},
		{action("lock", store.AttemptSuccess, ""), "Lock requested", Succeeded, "Locked", ""},
		{action("unlock", store.AttemptError, "device_offline"), "Unlock requested", Failed, "Failed", "The lock was offline."},
		{action("unlock", store.AttemptError, "weird_thing"), "Unlock requested", Failed, "Failed", "Failed (code: weird_thing)"},
		{action("unlock", store.AttemptError, ""), "Unlock requested", Failed, "Failed", "The lock did not respond."},
		{action("unlock", store.AttemptUnknown, "The lock service may have acted — check the door."), "Unlock requested", Unknown, "Outcome unknown",
			"The lock service may have acted — check the door."},
		{action("lock", store.AttemptTimeout, ""), "Lock requested", Unknown, "Outcome unknown", "No answer from the lock in time. Check the door."},
		{action("unlock", store.AttemptNotSent, "it could not be sent. Nothing was done."), "Unlock requested", NotSent, "Not sent",
			"It could not be sent. Nothing was done."},
		{action("unlock", store.AttemptPending, ""), "Unlock requested", InProgress, "In progress", ""},
		// The attempt's row is missing: never "OK".
		{store.TrailEntry{AuditEvent: store.AuditEvent{Action: store.AuditDeviceUnlockRequested, Outcome: store.OutcomeSuccess},
			Attempt: &store.ActionAttempt{}}, "Unlock requested", Unknown, "Outcome unknown", "No answer was recorded. Check the door."},
	} {
		got := Describe(c.e, "u")
		if got.What != c.what || got.Outcome != c.outcome || got.Result != c.result || got.Reason != c.reason {
			t.Errorf("%s %s: got %+v, want %q %q %q %q", c.e.Action, c.e.Attempt.Status, got, c.what, c.outcome, c.result, c.reason)
		}
	}
}

func TestDescribeEvents(t *testing.T) {
	for _, c := range []struct {
		e      store.AuditEvent
		viewer string
		what   string
		result string
		reason string
	}{
		{store.AuditEvent{Action: store.AuditLogin, Outcome: store.OutcomeSuccess}, "u", "Signed in", "Done", ""},
		{store.AuditEvent{Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure, Detail: "webview 1a2b3c4d user_cancelled"}, "u",
			"Connecting a lock account failed", "Failed", "You cancelled the sign-in at the provider."},
		{store.AuditEvent{Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure, Detail: "webview 1a2b3c4d odd_code"}, "u",
			"Connecting a lock account failed", "Failed", "Failed (code: odd_code)"},
		{store.AuditEvent{Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure, Detail: "webview 1a2b3c4d"}, "u",
			"Connecting a lock account failed", "Failed", "The sign-in at the lock provider did not succeed."},
		{store.AuditEvent{Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure, Detail: "create connect webview: service_unavailable: try later"}, "u",
			"Connecting a lock account failed", "Failed", "The lock service could not start the sign-in; nothing was connected."},
		{store.AuditEvent{Action: store.AuditCallbackFailed, Outcome: store.OutcomeFailure, Detail: "oidc: error access_denied: nope"}, "u",
			"Sign-in failed", "Failed", "The sign-in was refused at the identity provider."},
		{store.AuditEvent{Action: store.AuditDeviceActionBusy, Outcome: store.OutcomeDenied, Detail: "unlock refused: a lock is in progress"}, "u",
			"Unlock refused", "Refused: busy", "Another lock or unlock of this lock was in progress."},
		{store.AuditEvent{Action: store.AuditDeviceActionUnsupported, Outcome: store.OutcomeDenied,
			Detail: "the lock's provider does not allow a remote lock"}, "u", "Lock refused", "Refused: not supported",
			"The lock's provider does not allow this remotely."},
		{store.AuditEvent{Action: store.AuditAdminViewUser, Outcome: store.OutcomeSuccess, ActorID: "admin", SubjectUserID: "u"}, "u",
			"An administrator viewed this account", "Done", ""},
		{store.AuditEvent{Action: store.AuditAdminViewUser, Outcome: store.OutcomeSuccess, ActorID: "admin", SubjectUserID: "u"}, "admin",
			"Viewed a customer's page", "Done", ""},
		{store.AuditEvent{Action: store.AuditDeviceActionUnreachable, Outcome: store.OutcomeDenied,
			Detail: "unlock not sent: the lock is offline"}, "u", "Unlock not sent", "Not sent", "The lock was offline; nothing was sent to it."},
		{store.AuditEvent{Action: store.AuditDeviceActionUnreachable, Outcome: store.OutcomeDenied,
			Detail: "lock not sent: the lock's account is disconnected"}, "u", "Lock not sent", "Not sent",
			"The lock's account was disconnected; nothing was sent to it."},
		{store.AuditEvent{Action: store.AuditDeviceActionDisabled, Outcome: store.OutcomeDenied, Detail: "unlock refused: user disabled"}, "u",
			"Unlock refused", "Refused: account disabled", "An administrator disabled this account."},
		{store.AuditEvent{Action: store.AuditLoginRefusedDisabled, Outcome: store.OutcomeDenied}, "u",
			"Sign-in refused", "Refused", "This account is disabled."},
		{store.AuditEvent{Action: store.AuditAdminUserDisabled, Outcome: store.OutcomeSuccess, ActorID: "admin", SubjectUserID: "u"}, "u",
			"An administrator disabled this account", "Done", ""},
		{store.AuditEvent{Action: store.AuditAdminUserDisabled, Outcome: store.OutcomeSuccess, ActorID: "admin", SubjectUserID: "u"}, "admin",
			"Disabled a customer's account", "Done", ""},
		{store.AuditEvent{Action: store.AuditSessionEndedOthers, Outcome: store.OutcomeSuccess}, "u", "Ended all other sessions", "Done", ""},
		{store.AuditEvent{Action: store.AuditAccountRemoved, Outcome: store.OutcomeSuccess}, "u", "Removed a lock account", "Done", ""},
		{store.AuditEvent{Action: store.AuditDeviceRenamed, Outcome: store.OutcomeSuccess}, "u", "Renamed a lock", "Done", ""},
		{store.AuditEvent{Action: "something.new_here", Outcome: store.OutcomeSuccess}, "u", "Something new here", "Done", ""},
	} {
		got := Describe(store.TrailEntry{AuditEvent: c.e}, c.viewer)
		if got.What != c.what || got.Result != c.result || got.Reason != c.reason {
			t.Errorf("%s: got %+v, want %q %q %q", c.e.Action, got, c.what, c.result, c.reason)
		}
	}
}

func TestCheckZone(t *testing.T) {
	for name, want := range map[string]bool{
		"Europe/Paris": true, "America/Argentina/Buenos_Aires": true, "UTC": true, "Etc/GMT+5": true, " Asia/Kolkata ": true,
		"": false, "Local": false, "Mars/Olympus": false, "../../etc/passwd": false, "/etc/localtime": false,
		"Europe/Paris\x00": false, strings.Repeat("A", 65): false, "Europe\\Paris": false,
	} {
		if _, ok := CheckZone(name); ok != want {
			t.Errorf("CheckZone(%q) = %v, want %v", name, ok, want)
		}
	}
	for _, z := range CommonZones {
		if _, ok := CheckZone(z); !ok {
			t.Errorf("offered zone %s is not valid", z)
		}
	}
}
