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
// and lock_door; action_attempts/get; events/list.
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
// after Options.ActionDelay, flipping properties.locked and adding a lock.unlocked or
// lock.locked event. Attempts settle lazily, on the next API request after they are
// due, so an injected clock (Options.Now) drives them without sleeping. An offline
// device's attempt ends in error device_offline; FailNextAction forces an error.
//
// # Test controls
//
// InjectFault (status, Retry-After, latency), ClearFaults, FailNextAction,
// CompleteWebview, AddConnectedAccount and the call log (Calls, CallsTo, ResetCalls)
// let tests of the client and the portal provoke what real Seam does rarely.
package sandbox
