// Package activity tells a customer's trail in words: one entry per action with its
// outcome, every other audited event as a sentence, and the codes Seam, the identity
// provider and Latchkey record as reasons a person understands.
package activity

import (
	"regexp"
	"strings"

	"github.com/latchkey/latchkey/store"
)

// reasons are the codes a trail may carry (Seam's webview, device and action errors,
// the identity provider's) in words. One table, so a code reads the same everywhere.
var reasons = map[string]string{
	// Connect Webview sign-ins.
	"user_cancelled":        "You cancelled the sign-in at the provider.",
	"provider_login_failed": "The lock provider did not accept the sign-in.",
	"invalid_credentials":   "The lock provider did not accept the user name or password.",
	"login_timeout":         "The sign-in at the provider took too long and was given up.",
	// Devices and accounts.
	"device_offline":              "The lock was offline.",
	"device_disconnected":         "The lock was disconnected.",
	"hub_disconnected":            "The lock's hub or bridge was offline.",
	"bridge_disconnected":         "The lock's bridge was offline.",
	"account_disconnected":        "The lock account was disconnected; reconnect it.",
	"device_removed":              "The lock was removed from its account.",
	"device_not_found":            "The lock service no longer knows this lock.",
	"subscription_required":       "The lock provider needs an active subscription.",
	"salto_ks_subscription_limit": "The lock provider's subscription limit was reached.",
	// Action attempts.
	"action_attempt_expired":       "The lock service gave up waiting for the lock.",
	"no_communication_from_bridge": "The lock's bridge did not answer.",
	"lock_jammed":                  "The lock is jammed.",
	"uncategorized_error":          "The lock service reported an error without a reason.",
	"timeout":                      "The lock did not answer in time.",
	"rate_limited":                 "Too many requests to the lock service.",
	// Identity provider (OpenID Connect) errors at sign-in.
	"access_denied":           "The sign-in was refused at the identity provider.",
	"login_required":          "The identity provider asked to sign in again.",
	"interaction_required":    "The identity provider needed more from you to sign in.",
	"temporarily_unavailable": "The identity provider was unavailable.",
	"server_error":            "The identity provider had an error.",
}

// codeRE is what a machine code looks like: lower-case words joined by underscores.
var codeRE = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)+$`)

// Reason is a recorded reason in words: a known code as its sentence, an unknown code
// as "Failed (code: x_y)", any other text (Latchkey's own sentences, Seam's messages)
// as it is, starting with a capital.
func Reason(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if w, ok := reasons[s]; ok {
		return w
	}
	if codeRE.MatchString(s) {
		return "Failed (code: " + s + ")"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Known reports whether code has its words.
func Known(code string) bool {
	_, ok := reasons[code]
	return ok
}

// Outcome is what an entry came to.
type Outcome string

// The outcomes of trail entries.
const (
	Succeeded  Outcome = "succeeded"
	Failed     Outcome = "failed"
	Unknown    Outcome = "unknown"
	NotSent    Outcome = "not_sent"
	Refused    Outcome = "refused"
	InProgress Outcome = "in_progress"
)

// Entry is a trail entry in words.
type Entry struct {
	// What happened: "Unlock requested", "Signed in".
	What    string
	Outcome Outcome
	// Result is the outcome in words: "Unlocked", "Failed", "Outcome unknown".
	Result string
	// Reason says why, when there is one to say.
	Reason string
}

// Describe tells entry e from the point of view of viewerID (whose trail it is).
func Describe(e store.TrailEntry, viewerID string) Entry {
	if e.Attempt != nil {
		return describeAction(e)
	}
	out := Entry{Outcome: fromAudit(e.Outcome)}
	out.Result = map[Outcome]string{Succeeded: "Done", Failed: "Failed", Refused: "Refused"}[out.Outcome]
	verb := "Action"
	switch {
	case strings.HasPrefix(e.Detail, store.ActionUnlock+" "), strings.HasSuffix(e.Detail, " "+store.ActionUnlock):
		verb = "Unlock"
	case strings.HasPrefix(e.Detail, store.ActionLock+" "), strings.HasSuffix(e.Detail, " "+store.ActionLock):
		verb = "Lock"
	}
	switch e.Action {
	case store.AuditLogin:
		out.What = "Signed in"
	case store.AuditLogout:
		out.What = "Signed out"
	case store.AuditCallbackFailed:
		out.What, out.Reason = "Sign-in failed", knownCodeIn(e.Detail, "The sign-in could not be completed.")
	case store.AuditConnectStarted:
		out.What = "Started connecting a lock account"
	case store.AuditConnectCompleted:
		out.What = "Connected a lock account"
	case store.AuditConnectFailed:
		out.What, out.Reason = "Connecting a lock account failed", knownCodeIn(e.Detail, "")
		if out.Reason == "" {
			out.Reason = lastCode(e.Detail)
		}
		if out.Reason == "" {
			out.Reason = connectFailedWords(e.Detail)
		}
	case store.AuditAdminViewUser:
		out.What = adminAct(e, viewerID, "Viewed a customer's page", "An administrator viewed this account")
	case store.AuditAdminExportActivity:
		out.What = adminAct(e, viewerID, "Exported a customer's activity", "An administrator exported this account's activity")
	case store.AuditExportActivity:
		out.What = "Downloaded your activity"
	case store.AuditAdminListUsers:
		out.What = "Listed every customer"
	case store.AuditAdminAccessDenied:
		out.What, out.Reason = "Admin page refused", "Only administrators may open it."
	case store.AuditAccessDenied:
		out.What, out.Reason = "Access refused", "The lock or action is not yours, or does not exist."
	case store.AuditDeviceActionBusy:
		out.What, out.Result, out.Reason = verb+" refused", "Refused: busy", "Another lock or unlock of this lock was in progress."
	case store.AuditDeviceActionRateLimited:
		out.What, out.Result, out.Reason = "Lock or unlock refused", "Refused: limit", "Too many actions in a minute; wait a little and try again."
	case store.AuditDeviceActionUnsupported:
		out.What, out.Result, out.Reason = verb+" refused", "Refused: not supported", "The lock's provider does not allow this remotely."
	case store.AuditDeviceActionUnavailable:
		// Recorded as a failure (the outcome filter's "failed"), told as not sent.
		out.What, out.Result = verb+" not sent", "Not sent"
		out.Reason = "The lock service could not be asked who owns the lock. Nothing was done."
	case store.AuditBudgetSpent:
		out.What = "Lock service budget spent"
	case store.AuditDeviceActionUnreachable:
		out.What, out.Result = verb+" not sent", "Not sent"
		out.Reason = "The lock was offline; nothing was sent to it."
		if strings.Contains(e.Detail, "account is disconnected") {
			out.Reason = "The lock's account was disconnected; nothing was sent to it."
		}
	case store.AuditDeviceActionDisabled:
		out.What, out.Result, out.Reason = verb+" refused", "Refused: account disabled", "An administrator disabled this account."
	case store.AuditAccountReconnect:
		out.What = "Started reconnecting a lock account"
	case store.AuditAccountRemoved:
		out.What = "Removed a lock account"
	case store.AuditAccountRemoveFailed:
		out.What = "Removing a lock account failed"
	case store.AuditDeviceRenamed:
		out.What = "Renamed a lock"
	case store.AuditDeviceRenameFailed:
		out.What = "Renaming a lock failed"
	case store.AuditLogoutEverywhere:
		out.What = "Signed out everywhere"
	case store.AuditLoginRefusedDisabled:
		out.What, out.Reason = "Sign-in refused", "This account is disabled."
	case store.AuditSessionEnded:
		out.What = "Ended a session"
	case store.AuditSessionEndedOthers:
		out.What = "Ended all other sessions"
	case store.AuditAdminSessionsEnded:
		out.What = adminAct(e, viewerID, "Ended a customer's sessions", "An administrator ended this account's sessions")
	case store.AuditAdminUserDisabled:
		out.What = adminAct(e, viewerID, "Disabled a customer's account", "An administrator disabled this account")
	case store.AuditAdminUserEnabled:
		out.What = adminAct(e, viewerID, "Enabled a customer's account", "An administrator enabled this account")
	case store.AuditAdminDisableRefused:
		out.What = "Admin action refused"
	case store.AuditIdPLogout:
		out.What = "Signed out at the identity provider"
	case store.AuditIdPLogoutRefused:
		out.What = "Logout request from the identity provider refused"
	case store.AuditIdPRefreshRefused:
		out.What, out.Reason = "Signed out", "The identity provider ended the sign-in."
	case store.AuditReauthRequired:
		out.What = "Asked to sign in again before unlocking"
	default:
		out.What = strings.ToUpper(e.Action[:1]) + strings.NewReplacer(".", " ", "_", " ").Replace(e.Action[1:])
	}
	return out
}

// adminAct tells an admin's act on an account: as the admin's own (self) in their
// trail, as done to the account (other) in the customer's.
func adminAct(e store.TrailEntry, viewerID, self, other string) string {
	if e.ActorID == viewerID && e.SubjectUserID != viewerID {
		return self
	}
	return other
}

func describeAction(e store.TrailEntry) Entry {
	a := e.Attempt
	unlock := e.Action == store.AuditDeviceUnlockRequested
	out := Entry{What: map[bool]string{true: "Unlock requested", false: "Lock requested"}[unlock]}
	switch a.Status {
	case store.AttemptSuccess:
		out.Outcome, out.Result = Succeeded, map[bool]string{true: "Unlocked", false: "Locked"}[unlock]
	case store.AttemptError:
		out.Outcome, out.Result, out.Reason = Failed, "Failed", Reason(a.Error)
		if out.Reason == "" {
			out.Reason = "The lock did not respond."
		}
	case store.AttemptTimeout:
		out.Outcome, out.Result = Unknown, "Outcome unknown"
		out.Reason = "No answer from the lock in time. Check the door."
	case store.AttemptNotSent:
		out.Outcome, out.Result, out.Reason = NotSent, "Not sent", Reason(a.Error)
	case store.AttemptRequested, store.AttemptPending:
		out.Outcome, out.Result = InProgress, "In progress"
	default: // unknown, or an attempt whose row is missing
		out.Outcome, out.Result = Unknown, "Outcome unknown"
		out.Reason = Reason(a.Error)
		if out.Reason == "" {
			out.Reason = "No answer was recorded. Check the door."
		}
	}
	return out
}

func fromAudit(outcome string) Outcome {
	switch outcome {
	case store.OutcomeSuccess:
		return Succeeded
	case store.OutcomeDenied:
		return Refused
	}
	return Failed
}

// knownCodeIn is the words of the first known code among detail's words, or def: a
// detail may be a Go error that quotes the provider's code.
func knownCodeIn(detail, def string) string {
	for _, w := range strings.FieldsFunc(detail, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if Known(w) {
			return reasons[w]
		}
	}
	return def
}

// connectFailedWords says why connecting failed when the record holds no known code:
// the sign-in window ended failed at the provider ("webview 1a2b3c4d"), or the lock
// service could not open one (Seam's error, recorded for operators, is not shown).
func connectFailedWords(detail string) string {
	if strings.HasPrefix(detail, "webview ") {
		return "The sign-in at the lock provider did not succeed."
	}
	return "The lock service could not start the sign-in; nothing was connected."
}

// lastCode is detail's last word as a reason, if it is a code ("webview 1a2b x_y").
func lastCode(detail string) string {
	f := strings.Fields(detail)
	if len(f) == 0 || !codeRE.MatchString(f[len(f)-1]) {
		return ""
	}
	return Reason(f[len(f)-1])
}
