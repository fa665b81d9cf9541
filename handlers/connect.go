package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// connectErrorWords are the webview's failure codes (accounts.FailureCodes) in words.
// A failure recorded before these were the only codes kept may carry another code or a
// message; it is shown as text.
var connectErrorWords = map[string]string{
	accounts.FailureUserCancelled:      "The sign-in was cancelled before it finished.",
	accounts.FailureProviderLogin:      "Your lock provider refused the sign-in. Check your email and password with the provider, then try again.",
	accounts.FailureInvalidCredentials: "Your lock provider did not accept that email and password.",
	accounts.FailureLoginTimeout:       "The sign-in took too long and was stopped.",
	store.WebviewExpired:               "This connection attempt was abandoned and has expired. Start a new one.",
}

// ConnectIndex explains connecting and lists the user's connection attempts and accounts.
func (h *Handlers) ConnectIndex(w http.ResponseWriter, r *http.Request) error {
	o, err := h.Accounts.Overview(r.Context(), currentUser(r))
	if err != nil {
		return err
	}
	var v views.ConnectOverview
	clock := h.clockOf(r)
	for _, wv := range o.Webviews {
		v.Attempts = append(v.Attempts, views.ConnectAttempt{
			ID:          wv.ID,
			Status:      views.WebviewStatus(wv.Status),
			ContinueURL: connectWindowURL(wv.ID),
			Started:     clock.DateTime(wv.CreatedAt),
			StartedISO:  views.ISO(wv.CreatedAt),
			Updated:     clock.DateTime(wv.UpdatedAt),
			Message:     connectFailureText(wv.ErrorCode, wv.ErrorMessage),
		})
	}
	for _, a := range o.Accounts {
		v.Accounts = append(v.Accounts, views.LockAccount{
			Label:        accounts.AccountLabel(a.ID),
			DeviceCount:  a.DeviceCount,
			Connected:    clock.DateTime(a.CreatedAt),
			ConnectedISO: views.ISO(a.CreatedAt),
		})
	}
	h.render(w, r, http.StatusOK, views.ConnectPage(h.page(r, "Connect a lock account"), v))
	return nil
}

// StartConnect starts a connection (client session, Connect Webview, access granted)
// and sends the browser to the webview's page.
func (h *Handlers) StartConnect(w http.ResponseWriter, r *http.Request) error {
	wv, err := h.Accounts.Start(r.Context(), currentUser(r))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/connect/"+url.PathEscape(wv.ID), http.StatusSeeOther)
	return nil
}

// ConnectWebview shows the user's webview in a frame, with a link to open it in a new
// tab and a status line that polls until Seam says it ended.
func (h *Handlers) ConnectWebview(w http.ResponseWriter, r *http.Request) error {
	wv, err := h.Accounts.Webview(r.Context(), currentUser(r), r.PathValue("webview"))
	if err != nil {
		return err
	}
	v := views.ConnectWindow{WebviewID: wv.ID, ReturnURL: connectReturnURL(wv.ID)}
	switch wv.Progress {
	case accounts.Connected:
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return nil
	case accounts.Ended:
		v.Failed = true
		v.Message = connectFailureText(wv.ErrorCode, wv.ErrorMessage)
	default:
		v.URL, v.SeamOrigin = wv.URL, wv.Origin
		v.Status = connectProgress(wv.ID, wv.Progress)
	}
	h.render(w, r, http.StatusOK, views.ConnectWebviewPage(h.page(r, "Sign in to your lock provider"), v))
	return nil
}

// ConnectStatus is the polled status line. When the webview ended it sends the whole
// page on to the return URL, which confirms and records the outcome.
//
// The page polls with ?shown=<state>; while nothing changed the answer is 204, which
// htmx does not swap, so a screen reader does not hear the same line every 2 s.
func (h *Handlers) ConnectStatus(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webview")
	state, err := h.Accounts.Progress(r.Context(), currentUser(r), id)
	if err != nil {
		return err
	}
	htmx := r.Header.Get("HX-Request") == "true"
	if state == accounts.Connected || state == accounts.Ended {
		target := connectReturnURL(id)
		if !htmx {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		// A 303 would be followed inside htmx's request; the whole page must move.
		w.Header().Set("HX-Redirect", target)
	} else if htmx && r.URL.Query().Get("shown") == string(state) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h.render(w, r, http.StatusOK, views.ConnectStatusFragment(connectProgress(id, state)))
	return nil
}

// ConnectReturn is where Seam sends the browser (and the webview page sends itself) when
// the user finished. Reloading it is harmless: the outcome is recorded and audited once.
// Only Seam's record decides: a failure in the query that Seam does not confirm leaves
// the page waiting, with the status line polling Seam.
func (h *Handlers) ConnectReturn(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	out, err := h.Accounts.Complete(r.Context(), currentUser(r), query.Get("connect_webview_id"), query.Get("error_code"))
	if err != nil {
		return err
	}
	switch out.Status {
	case store.WebviewAuthorized:
		msg := "Connected your lock account."
		if out.DeviceCount >= 0 {
			msg = "Connected: " + lockCount(out.DeviceCount)
		}
		next := "/devices"
		switch {
		case out.Reconnected:
			msg, next = "Reconnected your lock account.", "/accounts"
		case out.OtherAccount && out.AlreadyConnected:
			msg, next = "You signed in to a different account, one you had already connected; the account you meant to reconnect was not reconnected.", "/accounts"
		case out.OtherAccount:
			msg, next = "You signed in to a different account; it was added as a new one.", "/accounts"
		}
		auth.SetFlash(r.Context(), h.Sessions, msg)
		http.Redirect(w, r, next, http.StatusSeeOther)
	case store.WebviewFailed:
		h.render(w, r, http.StatusOK, views.ConnectResultPage(h.page(r, "Connecting did not work"), views.ConnectOutcome{
			WebviewID: out.WebviewID, WindowURL: connectWindowURL(out.WebviewID), Failed: true, Message: connectFailureText(out.ErrorCode, out.ErrorMessage),
			ReturnURL: connectReturnURL(out.WebviewID),
		}))
	default:
		p := h.page(r, "Almost there")
		p.Refresh = connectRefresh
		h.render(w, r, http.StatusOK, views.ConnectResultPage(p, views.ConnectOutcome{
			WebviewID: out.WebviewID, WindowURL: connectWindowURL(out.WebviewID), ReturnURL: connectReturnURL(out.WebviewID),
			Progress: connectProgress(out.WebviewID, accounts.Waiting),
		}))
	}
	return nil
}

// connectRefresh is how often, in seconds, "Almost there" checks again by itself in a
// browser without JavaScript.
const connectRefresh = 5

// connectProgress is the status line for a webview in state; it polls only while the
// webview is waiting for something.
func connectProgress(id string, state accounts.Progress) views.ConnectProgress {
	p := views.ConnectProgress{WebviewID: id, State: views.ConnectState(state)}
	if state == accounts.Waiting || state == accounts.Unavailable {
		p.Poll = true
		p.PollURL = "/connect/" + url.PathEscape(id) + "/status?shown=" + string(state)
	}
	return p
}

func connectWindowURL(id string) string {
	return "/connect/" + url.PathEscape(id)
}

func connectReturnURL(id string) string {
	return "/connect/return?connect_webview_id=" + url.QueryEscape(id)
}

// connectFailureText explains a failed connection: known codes in our words, else the
// message recorded with the failure (plain text; only older records have one), else
// Seam's verdict.
func connectFailureText(code, message string) string {
	if w, ok := connectErrorWords[code]; ok {
		return w
	}
	if message != "" {
		return "The lock provider said: " + message
	}
	if code != "" {
		return "The lock provider reported a problem (" + strings.ReplaceAll(code, "_", " ") + ")."
	}
	return "The lock service reports that the sign-in to your lock provider failed."
}
