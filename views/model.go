// Package views holds Latchkey's templ components. Components are filled from the plain
// view-model structs in this file; they never call services or look at *http.Request.
package views

import "time"

// Page is what the layout needs to frame any page.
type Page struct {
	// Title is the page's own title; the layout appends the product name.
	Title string
	// User is the signed-in user, or nil for an anonymous visitor.
	User *User
	// Flash is a one-time confirmation message ("Connected: 3 locks").
	Flash string
	// Path is the request path, used to mark the current navigation entry.
	Path string
	// Assets are the fingerprinted URLs of the static files.
	Assets Assets
	// RequestID identifies the request in logs; error pages show it for support.
	RequestID string
	// Refresh, when set, reloads the page after that many seconds in browsers without
	// JavaScript (a <meta> inside <noscript>): pending pages only, which scripts keep
	// up to date otherwise.
	Refresh int
	// Clock is how the viewer reads times (their zone; UTC, labelled, until known).
	Clock Clock
}

// User is the signed-in user as the navigation shows them.
type User struct {
	ID      string
	Name    string
	Email   string
	IsAdmin bool
}

// Assets are the URLs of the static files, with a content hash so browsers may cache them
// for a year.
type Assets struct {
	CSS  string
	HTMX string
	// SSE is htmx's Server-Sent Events extension, which keeps signed-in pages live.
	SSE string
	// Scripts are small behaviour scripts loaded on every page (deferred).
	Scripts []string
	// Connect is the script of the Connect Webview page only (js/connect.js).
	Connect string
	// Icon is the site icon (an SVG; /favicon.ico serves the same for older browsers).
	Icon string
	// TimeZone reports the browser's time zone once (js/timezone.js).
	TimeZone string
}

// ErrorView is a status page: 404, 405, 500 and every other failure a user may meet.
type ErrorView struct {
	Status  int
	Title   string
	Message string
	// Retry offers a "try again" link to RetryURL (for outages and rate limits).
	Retry    bool
	RetryURL string
	// Actions are extra links shown under the message.
	Actions []Link
}

// Link is a labelled URL.
type Link struct {
	Label string
	URL   string
}

// DisplayName is how the navigation names a user.
func (u *User) DisplayName() string {
	if u == nil {
		return ""
	}
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// Device is one lock as the device list and device page show it.
type Device struct {
	ID string
	// URL is the device page; ConfirmUnlockURL the no-JavaScript confirmation page;
	// UnlockURL and LockURL take the POSTs.
	URL              string
	ConfirmUnlockURL string
	UnlockURL        string
	LockURL          string
	// ActionTarget is the id of the element an action's status goes into.
	ActionTarget string
	// BadgeID is the id of the lock badge, which an action's result updates.
	BadgeID      string
	Name         string
	Model        string
	Manufacturer string
	Online       bool
	LockState    LockState
	// Door is DoorUnreported when the lock does not report it.
	Door DoorState
	// HasBattery is false when the device reports no battery level.
	HasBattery     bool
	BatteryPercent int
	BatteryLow     bool
	Problems       []Problem
	// NeedsReconnect is set when the lock account must be signed in to again.
	NeedsReconnect bool
	CanUnlock      bool
	CanLock        bool
	Capabilities   []string
	// Action is the device's latest lock/unlock, if one is recent.
	Action *Action
	// Controls are the lock/unlock buttons the lock's state calls for: Unlock when it
	// is locked, Lock when unlocked, both when unknown; none when the lock can be
	// operated in neither way.
	Controls []Control
	// ControlsNote says why a control is disabled ("" when none is); the disabled
	// buttons point to it with aria-describedby.
	ControlsNote string
}

// Control is one lock or unlock button.
type Control struct {
	// Unlock or Lock.
	Unlock bool
	// Disabled buttons are shown, greyed, with the device's ControlsNote.
	Disabled bool
}

// ControlsNoteID is the id of the note that says why a control is disabled.
func (d Device) ControlsNoteID() string { return "controls-note-" + d.ID }

// ControlsID is the id of the block of controls, which live updates replace.
func (d Device) ControlsID() string { return "controls-" + d.ID }

// Problem is a device or account error or warning, in plain words.
type Problem struct {
	Text string
	// Severe problems (errors) are shown in red, warnings in amber.
	Severe bool
}

// LockState is whether a lock is locked, as a badge shows it.
type LockState string

// The lock states a page shows.
const (
	LockUnknown  LockState = "unknown"
	LockLocked   LockState = "locked"
	LockUnlocked LockState = "unlocked"
)

// DoorState is whether a door is open, for locks that report it.
type DoorState string

// The door states a page shows.
const (
	DoorUnreported DoorState = ""
	DoorOpen       DoorState = "open"
	DoorClosed     DoorState = "closed"
)

// Outcome is how an activity entry ended, as its badge's colour shows it.
type Outcome string

// The outcomes of activity entries.
const (
	OutcomeSucceeded  Outcome = "succeeded"
	OutcomeRefused    Outcome = "refused"
	OutcomeFailed     Outcome = "failed"
	OutcomeUnknown    Outcome = "unknown"
	OutcomeNotSent    Outcome = "not_sent"
	OutcomeInProgress Outcome = "in_progress"
)

// ActionState is how far a lock or unlock got, as a page shows it.
type ActionState string

// The states of an action on a page.
const (
	// ActionInProgress shows a spinner and polls PollURL.
	ActionInProgress ActionState = "in-progress"
	// ActionStalled is still pending after the page stopped polling: "check again".
	ActionStalled   ActionState = "stalled"
	ActionSucceeded ActionState = "succeeded"
	ActionFailed    ActionState = "failed"
	// ActionUncertain is a timeout or a lost answer: the customer should check the door.
	ActionUncertain ActionState = "uncertain"
)

// Pending reports whether the action may still change.
func (a *Action) Pending() bool {
	return a != nil && (a.State == ActionInProgress || a.State == ActionStalled)
}

// Action is the state of one lock or unlock request.
type Action struct {
	// ElementID is the fragment's id, which htmx swaps.
	ElementID string
	State     ActionState
	// Text is the line shown ("Unlocking…", "Front Door unlocked at 14:02 UTC", "Could
	// not unlock: …").
	Text string
	// Door names the lock for screen readers where Text does not: the line is
	// announced out of context (the list has many locks).
	Door string
	// PollURL is where the fragment asks again: every second while in progress, on
	// "Check again" when stalled.
	PollURL string
	// DeviceURL is the device page, the no-JavaScript way to check again.
	DeviceURL string
	// BadgeID and BadgeState, when set in an htmx answer, update the device's lock badge
	// in place (out of band).
	BadgeID    string
	BadgeState LockState
}

// DeviceList is the /devices page (and the admin's read-only copy of it).
type DeviceList struct {
	Devices []Device
	Query   string
	// Total is the number of devices before the name filter.
	Total int
	// Unavailable explains why Seam could not be asked (outage, rate limit).
	Unavailable string
	// ReadOnly hides the lock/unlock buttons (admin view).
	ReadOnly bool
	// BaseURL is where the filter form submits (/devices or /admin/users/{id}).
	BaseURL string
}

// DeviceDetail is one device with a page of its activity.
type DeviceDetail struct {
	Device   Device
	Rename   RenameForm
	Activity ActivityList
	// EventsUnavailable is set when Seam's event history could not be read.
	EventsUnavailable bool
}

// ActivityEntry is one line of an activity trail: Latchkey's audit or Seam's events.
type ActivityEntry struct {
	// Time orders entries from both sources to the precision each keeps (the page
	// shows minutes, the datetime attribute seconds).
	Time    time.Time
	At      string
	ISOTime string
	What    string
	Device  string
	Outcome Outcome
	// Result is the outcome in words ("Unlocked", "Failed", "Outcome unknown").
	Result string
	// Detail says why, or more.
	Detail string
	// Account is the connected account the entry concerns, as it was labelled then.
	Account string
	// Source is "Latchkey" or "Seam".
	Source string
	// SeamAttemptID is Seam's action_attempt_id of a Latchkey action: the device page
	// leaves out Seam's own event of that action, so the action stays one entry.
	SeamAttemptID string
}

// ConnectOverview is /connect: how connecting works, the user's webviews and accounts.
type ConnectOverview struct {
	Attempts []ConnectAttempt
	Accounts []LockAccount
}

// ConnectAttempt is one Connect Webview Latchkey issued to the user.
type ConnectAttempt struct {
	ID     string
	Status WebviewStatus
	// ContinueURL is the sign-in window of a pending attempt.
	ContinueURL string
	Started     string
	StartedISO  string
	Updated     string
	// Message is why a failed attempt failed, in plain words.
	Message string
}

// LockAccount is a lock provider account the user connected.
type LockAccount struct {
	// Label names the account without showing its full id.
	Label        string
	DeviceCount  int
	Connected    string
	ConnectedISO string
}

// ConnectWindow is /connect/{webview}: the embedded webview and its status.
type ConnectWindow struct {
	WebviewID string
	// URL is Seam's webview page; SeamOrigin is its scheme://host, the only origin whose
	// messages the page trusts.
	URL        string
	SeamOrigin string
	// ReturnURL is where the page goes when the webview is done (/connect/return?…).
	ReturnURL string
	// Failed is set when the attempt is recorded as failed: no window, just "start again".
	Failed  bool
	Message string
	// Status is the polled status line, also the bound: expired windows do not poll.
	Status ConnectProgress
}

// WebviewStatus is where a connection attempt ended, as its badge shows it.
type WebviewStatus string

// The statuses of a connection attempt.
const (
	WebviewPending    WebviewStatus = "pending"
	WebviewAuthorized WebviewStatus = "authorized"
	WebviewFailed     WebviewStatus = "failed"
)

// ConnectState is what the polled status line of a Connect Webview says.
type ConnectState string

// The states of the status line.
const (
	ConnectWaiting ConnectState = "waiting"
	// ConnectUnavailable: Seam could not be asked just now; the page keeps asking.
	ConnectUnavailable ConnectState = "unavailable"
	ConnectExpired     ConnectState = "expired"
	ConnectConnected   ConnectState = "connected"
	ConnectEnded       ConnectState = "ended"
)

// ConnectProgress is the polled status line of a Connect Webview.
type ConnectProgress struct {
	WebviewID string
	State     ConnectState
	// Poll keeps the browser asking every 2 s; PollURL is where.
	Poll    bool
	PollURL string
}

// ConnectOutcome is /connect/return when the connection did not (yet) succeed.
type ConnectOutcome struct {
	WebviewID string
	// WindowURL is the sign-in window, to go back to while it is not finished.
	WindowURL string
	// Failed distinguishes "did not work" from "almost there" (still pending).
	Failed  bool
	Message string
	// ReturnURL checks again without JavaScript.
	ReturnURL string
	// Progress is the polled status line while not failed: it asks Seam every 2 s and
	// moves the page on when the webview ended.
	Progress ConnectProgress
}

// ActivityList is one page of an activity trail with its navigation.
type ActivityList struct {
	Entries []ActivityEntry
	// OlderURL and NewerURL are the neighbouring pages ("" when there is none);
	// NewestURL goes back to the first page ("" when this is the first).
	OlderURL  string
	NewerURL  string
	NewestURL string
	// Notice says a filter or cursor in the address was not understood and ignored.
	Notice string
	// Filter is the filter form (nil: none).
	Filter *ActivityFilter
	// LiveID is the id live updates replace (only the newest page has it); "" = none.
	LiveID string
}

// ActivityFilter is the activity filter form: by device and by outcome.
type ActivityFilter struct {
	Action string
	// OneDevice is set on a device's own page: no device to choose.
	OneDevice bool
	Device    string
	Devices   []Option
	Outcome   string
	Outcomes  []Option
	// ExportURL downloads the whole trail as CSV.
	ExportURL string
}

// Option is one choice of a select.
type Option struct {
	Value string
	Label string
}

// SettingsPage is /settings: the time zone pages use.
type SettingsPage struct {
	// Zone is the chosen IANA zone, "" when unset (UTC).
	Zone   string
	Zones  []Option
	Notice string
}

// AdminUserRow is one user in the admin's user table. Counts are Latchkey's records.
type AdminUserRow struct {
	ID string
	// URL is the user's admin page.
	URL           string
	Name          string
	Email         string
	EmailVerified bool
	IsAdmin       bool
	Disabled      bool
	DeviceCount   int
	AccountCount  int
	LastLogin     string
	LastLoginISO  string
	Created       string
}

// AdminUserDetail is /admin/users/{id}: one user, their devices (read-only) and activity.
type AdminUserDetail struct {
	User     AdminUserRow
	Access   AdminUserAccess
	Devices  DeviceList
	Activity ActivityList
}

// AdminUserAccess is whether a user may sign in, their sessions, and the admin's
// controls over both.
type AdminUserAccess struct {
	Name string
	// Disabled: an admin disabled the user, at DisabledAt (DisabledAtISO for <time>).
	Disabled      bool
	DisabledAt    string
	DisabledAtISO string
	Sessions      int
	// Self: the admin is looking at their own account, which they cannot disable.
	Self bool
	// UserURL is the user's admin page; the others take the POSTs (DisableURL's GET is
	// the confirmation page).
	UserURL        string
	EndSessionsURL string
	DisableURL     string
	EnableURL      string
}

// AccountsOverview is /accounts: the user's connected lock accounts.
type AccountsOverview struct {
	Accounts []AccountCard
	// Unavailable says the lock service could not describe the accounts just now.
	Unavailable bool
}

// AccountCard is one connected account with its status, locks and actions.
type AccountCard struct {
	ID string
	// Provider is the lock brand ("August"); Login the account's email or user name.
	Provider string
	Login    string
	// NeedsReconnect is set with Reason (plain words) while the account does not work.
	NeedsReconnect bool
	Gone           bool
	Reason         string
	Locks          []Link
	Connected      string
	ConnectedISO   string
	// ReconnectURL takes a POST; RemoveURL is the confirmation page (GET) and the
	// removal (POST).
	ReconnectURL string
	RemoveURL    string
}

// RenameForm is the device page's rename form, with the outcome of the last try.
type RenameForm struct {
	DeviceID string
	URL      string
	Name     string
	// Error says why the name was refused; Done that the device was renamed.
	Error string
	Done  string
}
