// Package sandbox is an in-process stand-in for the Seam Connect API: the subset
// Latchkey uses, speaking Seam's JSON, status codes and error envelope. It is the
// embedded Seam of development mode and the test double of the seam client and the
// portal.
//
// # API
//
// Every endpoint is POST /<resource>/<action> with a JSON body and
// "Authorization: Bearer <key>" (reads also answer GET with query parameters, as
// Seam's OpenAPI allows). Success is {"<resource>": …, "ok": true}; failure is
// {"error": {"type", "message", "validation_errors"?}, "ok": false}; every response
// carries a seam-request-id header. Implemented: client_sessions/get_or_create,
// get, create and grant_access; connect_webviews/create and get;
// connected_accounts/get and list; devices/list, get and update; locks/unlock_door
// and lock_door; action_attempts/get; events/list; webhooks/create, get, list,
// update and delete.
//
// Deliberately unlike Seam's own fake server, user_identifier_key filters for real:
// devices/list and connected_accounts/list return only the accounts granted to that
// user's client session — directly, or through a Connect Webview granted to the
// session that later became authorized — and nothing when the user has no session.
//
// # Connect Webview
//
// connect_webviews/create returns a url on the sandbox itself
// (/connect_webviews/view?connect_webview_id=…&auth_token=…), a page where the
// customer picks a brand and signs in. The provider logins (see Logins) are:
//
//	jane@example.com         / 1234  August: three locks, one offline
//	john@example.com         / 1234  Schlage: two locks, one with a low battery
//	                                  (0.15, "low", warning low_battery), one that
//	                                  cannot be unlocked remotely
//	disconnected@example.com / 1234  either brand: one lock; the account and its
//	                                  device carry the error account_disconnected
//	building@example.com     / 1234  either brand: a property manager's 50 locks
//	                                  ("Lobby Main Entrance", "Unit 101 Front Door"
//	                                  … "Unit 509 Front Door"), the same every time:
//	                                  5 offline, 7 unlocked, 4 with a low or
//	                                  critical battery, 2 that cannot be unlocked
//	                                  remotely (Mail Room, Rooftop Door)
//	fail@example.com         / 1234  either brand: the login fails, the webview
//	                                  ends "failed" (provider_login_failed)
//
// Each successful sign-in creates a new connected account with fresh devices (new
// ids every time). When the webview ends, the page posts Seam's message
// {"event": {"event_type": "webview.login_successful" | "webview.login_failed", …}}
// to its parent frame (target origin Options.PortalOrigin, else the origin of
// custom_redirect_url), or, when not framed, sends the browser to
// custom_redirect_url (failures: custom_redirect_failure_url when set) with
// connect_webview_id (and error_code, error_message) appended. A plain Continue link
// does the same without JavaScript. The pages carry their own strict CSP, with
// frame-ancestors naming Options.PortalOrigin ('self' if empty).
//
// # Action attempts
//
// locks/unlock_door and lock_door answer a pending action attempt that succeeds
// after Options.ActionDelay, flipping properties.locked. Attempts settle on the next
// API request after they are due, so an injected clock (Options.Now) drives them
// without sleeping; on the real clock a timer also settles them on time, so their
// events and webhooks come without a request. An offline device's attempt ends in
// error device_offline, a disconnected account's in account_disconnected;
// FailNextAction forces an error.
//
// # Events
//
// Every state change emits events with the fields of Seam's event schemas
// (@seamapi/types 1.977.0; testdata/event_schemas.json holds the excerpt the tests
// check against): event_id, event_type, workspace_id, created_at, occurred_at,
// event_description, and per type:
//
//	lock.locked, lock.unlocked           device_id, connected_account_id, method;
//	                                     action_attempt_id when an action attempt
//	                                     moved the lock (method "remote": Seam's enum
//	                                     is keycode|manual|automatic|unknown|remote|card)
//	action_attempt.lock_door.succeeded,  action_attempt_id, action_type, status,
//	  .failed, and unlock_door.*         device_id, connected_account_id (the error
//	                                     itself is on the attempt: action_attempts/get)
//	device.connected, device.added,      device_id, connected_account_id
//	  device.removed
//	device.disconnected                  also error_code (device_disconnected or
//	                                     account_disconnected), device_errors,
//	                                     device_warnings, connected_account_errors,
//	                                     connected_account_warnings
//	device.low_battery                   also battery_level
//	device.battery_status_changed        also battery_level, battery_status
//	device.deleted                       also device_name
//	connected_account.connected          connected_account_id, connect_webview_id
//	                                     when a webview connected it
//	connected_account.disconnected       connected_account_id, connected_account_errors,
//	                                     connected_account_warnings
//	connected_account.deleted            connected_account_id, connected_account_type
//	connect_webview.login_failed         connect_webview_id, error_code
//
// A completed action attempt emits lock.* then action_attempt.*.succeeded (a failed
// one only action_attempt.*.failed). A new account emits connected_account.connected
// and one device.added per device. events/list needs exactly one of since (events
// created at or after it) or between (exclusive at both ends), filters by device_id,
// device_ids, event_type, event_types and connected_account_id, and returns the
// newest first; limit (default 500, as Seam; no page cursor) keeps the newest. A
// poller should not rely on the order and should de-duplicate by event_id.
//
// # Webhooks
//
// webhooks/create {url, event_types?} returns {"webhook": {webhook_id, url,
// event_types, secret}}; event_types defaults to ["*"] and must otherwise be Seam's
// event types (invalid_event_types); the secret is "whsec_" + base64 of 24 random
// bytes. Each event becomes one Svix message, POSTed to every webhook that wants its
// type: the body is the event object (the same JSON events/list returns), with
// headers svix-id ("msg_…", the same on every attempt and webhook), svix-timestamp
// (the sender's wall-clock Unix seconds, not Options.Now, as receivers check it
// against their own clock), svix-signature ("v1," + base64 HMAC-SHA256 of
// "<svix-id>.<svix-timestamp>.<body>" keyed with the decoded secret) and
// content-type application/json. Svix's and Seam's own libraries verify them (see
// the tests). Deliveries run on a pool of four goroutines owned by the Sandbox,
// never inside an API call; each attempt has Options.WebhookTimeout (5 s); a
// non-2xx answer, a redirect or an error is retried after each of
// Options.WebhookRetryDelays (0.2 s, 1 s, 5 s, 25 s), then given up. Deleting a
// webhook drops its pending retries. Deliveries lists the attempts; Close stops the
// pool and the timers (Server.Close calls it).
//
// # Control page
//
// ControlPath (/control, ControlURL) is a development page "at the door", plain
// HTML without scripts or outside assets: every connected account with its devices
// and their state, and buttons to lock or unlock by hand (method manual), take a
// device offline or bring it online, drain its battery (0.1, low) or restore it
// (1.0, full), remove it at the provider, and to disconnect, reconnect or delete an
// account; below, the latest events and webhook deliveries. Forms POST and redirect
// back (303). Cross-origin POSTs are refused (Sec-Fetch-Site or Origin must be the
// sandbox's own; requests without either, like curl's, pass). It has no login: it
// is as open as the sandbox's port. The same operations are Go methods for tests:
// SetLocked, SetOnline, SetBattery, RemoveDevice, DisconnectAccount,
// ReconnectAccount and DeleteAccount; each emits what Seam would, and nothing
// when nothing changes.
//
// # Test controls
//
// InjectFault (status, Retry-After, latency), ClearFaults, FailNextAction,
// CompleteWebview, AddConnectedAccount, the call log (Calls, CallsTo, ResetCalls),
// the control methods above and Deliveries let tests of the client and the portal
// provoke what real Seam does rarely.
package sandbox
