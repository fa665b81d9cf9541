package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

const (
	// connectPollBound is how long a Connect Webview page keeps asking for its status;
	// after that the page offers to start again.
	connectPollBound = 15 * time.Minute
	// maxWebviewIDLen bounds the webview ids Latchkey looks up at all.
	maxWebviewIDLen = 128
	// maxConnectErrorLen bounds what Latchkey keeps of a failure message from the query.
	maxConnectErrorLen = 300
)

// Progress states of the polled status line.
const (
	progressWaiting     = "waiting"
	progressUnavailable = "unavailable"
	progressExpired     = "expired"
	progressConnected   = "connected"
	progressEnded       = "ended"
)

// connectErrorWords are the webview's failure codes in words; anything else falls back
// to the message that came with the redirect.
var connectErrorWords = map[string]string{
	"user_cancelled":        "The sign-in was cancelled before it finished.",
	"provider_login_failed": "Your lock provider refused the sign-in. Check your email and password with the provider, then try again.",
	"invalid_credentials":   "Your lock provider did not accept that email and password.",
	"login_timeout":         "The sign-in took too long and was stopped.",
}

var errWebviewUnusable = &Error{Status: http.StatusBadGateway, Title: "This connection window cannot be shown",
	Message: "The lock service gave an address Latchkey cannot open. Please start again."}

// ConnectIndex explains connecting and lists the user's connection attempts and accounts.
// It never calls Seam: a page load must not create anything there.
func (h *Handlers) ConnectIndex(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	webviews, err := h.Store.ListConnectWebviews(ctx, user.ID)
	if err != nil {
		return err
	}
	accounts, err := h.Store.ConnectedAccountsForUser(ctx, user.ID)
	if err != nil {
		return err
	}
	var v views.ConnectOverview
	for _, wv := range webviews {
		v.Attempts = append(v.Attempts, views.ConnectAttempt{
			ID:         wv.ID,
			Status:     wv.Status,
			Started:    formatWhen(wv.CreatedAt),
			StartedISO: wv.CreatedAt.UTC().Format(time.RFC3339),
			Updated:    formatWhen(wv.UpdatedAt),
			Message:    connectFailureText(wv.ErrorCode, wv.ErrorMessage),
		})
	}
	for _, a := range accounts {
		v.Accounts = append(v.Accounts, views.LockAccount{
			Label:        "Account " + shortID(a.ID),
			DeviceCount:  a.DeviceCount,
			Connected:    formatWhen(a.CreatedAt),
			ConnectedISO: a.CreatedAt.UTC().Format(time.RFC3339),
		})
	}
	h.render(w, r, http.StatusOK, views.ConnectPage(h.page(r, "Connect a lock account"), v))
	return nil
}

// StartConnect runs Seam's client-session flow: the user's client session, a new
// Connect Webview, access to it granted to that session; then records the webview as
// the user's and sends the browser to it.
func (h *Handlers) StartConnect(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	fail := func(what string, err error) error {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure,
			Detail: what + ": " + seamReason(err)})
		return seamError(what, err)
	}
	if _, err := h.Seam.ClientSessions.GetOrCreate(ctx, seam.GetOrCreateClientSessionParams{UserIdentifierKey: user.ID}); err != nil {
		return fail("client session", err)
	}
	back := strings.TrimRight(h.BaseURL, "/") + "/connect/return"
	sw, err := h.Seam.ConnectWebviews.Create(ctx, seam.CreateConnectWebviewParams{
		CustomRedirectURL:        back,
		CustomRedirectFailureURL: back,
		WaitForDeviceCreation:    true,
	})
	if err != nil {
		return fail("create connect webview", err)
	}
	if !validWebviewID(sw.ConnectWebviewID) {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure,
			Detail: "create connect webview: unusable webview id"})
		return &Error{Status: errWebviewUnusable.Status, Title: errWebviewUnusable.Title, Message: errWebviewUnusable.Message,
			Err: errors.New("create connect webview: unusable connect_webview_id")}
	}
	if err := h.Seam.ClientSessions.GrantAccess(ctx, seam.GrantAccessParams{
		UserIdentifierKey: user.ID, ConnectWebviewIDs: []string{sw.ConnectWebviewID},
	}); err != nil {
		return fail("grant access to connect webview", err)
	}
	if err := h.Store.CreateConnectWebview(ctx, store.ConnectWebview{
		ID: sw.ConnectWebviewID, UserID: user.ID, URL: sw.URL, Status: store.WebviewPending, CreatedAt: h.Now(),
	}); err != nil {
		return fmt.Errorf("record connect webview %s: %w", sw.ConnectWebviewID, err)
	}
	h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditConnectStarted, Outcome: store.OutcomeSuccess,
		Detail: "webview " + shortID(sw.ConnectWebviewID)})
	http.Redirect(w, r, "/connect/"+url.PathEscape(sw.ConnectWebviewID), http.StatusSeeOther)
	return nil
}

// ConnectWebview shows the user's webview in a frame, with a link to open it in a new
// tab and a status line that polls until Seam says it ended.
func (h *Handlers) ConnectWebview(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	wv, err := h.ownedWebview(r, user, r.PathValue("webview"))
	if err != nil {
		return err
	}
	if wv.Status == store.WebviewAuthorized {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return nil
	}
	v := views.ConnectWindow{WebviewID: wv.ID, ReturnURL: connectReturnURL(wv.ID)}
	switch {
	case wv.Status == store.WebviewFailed:
		v.Failed = true
		v.Message = connectFailureText(wv.ErrorCode, wv.ErrorMessage)
	default:
		origin, ok := webOrigin(wv.URL)
		if !ok {
			return &Error{Status: errWebviewUnusable.Status, Title: errWebviewUnusable.Title, Message: errWebviewUnusable.Message,
				Err: fmt.Errorf("connect webview %s: unusable url", wv.ID)}
		}
		v.URL, v.SeamOrigin = wv.URL, origin
		v.Status = h.progress(wv, progressWaiting)
	}
	h.render(w, r, http.StatusOK, views.ConnectWebviewPage(h.page(r, "Sign in to your lock provider"), v))
	return nil
}

// ConnectStatus is the polled status line. When Seam says the webview ended it sends
// the whole page on to the return URL, which confirms and records the outcome.
//
// The page polls with ?shown=<state>; while nothing changed the answer is 204, which
// htmx does not swap, so a screen reader does not hear the same line every 2 s.
func (h *Handlers) ConnectStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	wv, err := h.ownedWebview(r, user, r.PathValue("webview"))
	if err != nil {
		return err
	}
	state := progressWaiting
	switch {
	case wv.Status == store.WebviewAuthorized:
		state = progressConnected
	case wv.Status == store.WebviewFailed:
		state = progressEnded
	case h.Now().Sub(wv.CreatedAt) >= connectPollBound:
		state = progressExpired
	default:
		sw, err := h.Seam.ConnectWebviews.Get(ctx, wv.ID)
		switch {
		case errors.Is(err, context.Canceled):
			return err
		case err != nil:
			h.Log.WarnContext(ctx, "check connect webview", "connect_webview_id", wv.ID, "error", err)
			state = progressUnavailable
		case sw.Status == seam.WebviewAuthorized && sw.ConnectedAccountID != "":
			state = progressConnected
		case sw.Status == seam.WebviewFailed:
			state = progressEnded
		}
	}
	htmx := r.Header.Get("HX-Request") == "true"
	if state == progressConnected || state == progressEnded {
		target := connectReturnURL(wv.ID)
		if !htmx {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		// A 303 would be followed inside htmx's request; the whole page must move.
		w.Header().Set("HX-Redirect", target)
	} else if htmx && r.URL.Query().Get("shown") == state {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h.render(w, r, http.StatusOK, views.ConnectStatusFragment(h.progress(wv, state)))
	return nil
}

// ConnectReturn is where Seam sends the browser (and the webview page sends itself) when
// the user finished. The webview must be one Latchkey issued to this user; Seam's own
// record decides the outcome. Reloading it is harmless: the ownership record is
// idempotent and the completion is audited once.
func (h *Handlers) ConnectReturn(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	query := r.URL.Query()
	id := query.Get("connect_webview_id")
	if _, err := h.ownedWebview(r, user, id); err != nil {
		return err
	}
	// The iframe's message and the status poll may both arrive here at once.
	release, err := h.lockWebview(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	wv, err := h.Store.ConnectWebviewForUser(ctx, user.ID, id)
	if err != nil {
		return fmt.Errorf("connect return: %w", err)
	}
	if wv.Status == store.WebviewAuthorized {
		return h.connected(w, r, user, wv.ConnectedAccountID, -1)
	}

	sw, err := h.Seam.ConnectWebviews.Get(ctx, id)
	if err != nil {
		return seamError("get connect webview", err)
	}
	queryCode := cleanErrorCode(query.Get("error_code"))
	switch {
	case sw.Status == seam.WebviewAuthorized && sw.ConnectedAccountID != "":
		return h.completeConnect(w, r, user, wv, sw.ConnectedAccountID)
	case sw.Status == seam.WebviewFailed || queryCode != "" || wv.Status == store.WebviewFailed:
		code, msg := wv.ErrorCode, wv.ErrorMessage
		if wv.Status != store.WebviewFailed {
			code, msg = queryCode, cleanErrorMessage(query.Get("error_message"))
			if err := h.Store.UpdateConnectWebview(ctx, id, store.WebviewFailed, "", code, msg, h.Now()); err != nil {
				return fmt.Errorf("record failed connect webview %s: %w", id, err)
			}
			h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditConnectFailed, Outcome: store.OutcomeFailure,
				Detail: strings.TrimSpace("webview " + shortID(id) + " " + code)})
		}
		h.render(w, r, http.StatusOK, views.ConnectResultPage(h.page(r, "Connecting did not work"), views.ConnectOutcome{
			WebviewID: id, Failed: true, Message: connectFailureText(code, msg), ReturnURL: connectReturnURL(id),
		}))
		return nil
	default:
		if sw.Status == seam.WebviewAuthorized {
			h.Log.WarnContext(ctx, "connect webview authorized without a connected account", "connect_webview_id", id)
		}
		h.render(w, r, http.StatusOK, views.ConnectResultPage(h.page(r, "Almost there"), views.ConnectOutcome{
			WebviewID: id, ReturnURL: connectReturnURL(id),
		}))
		return nil
	}
}

// completeConnect records a connected account Seam confirmed as the user's, counts its
// devices for the admin pages, and audits the connection.
func (h *Handlers) completeConnect(w http.ResponseWriter, r *http.Request, user store.User, wv store.ConnectWebview, accountID string) error {
	ctx := r.Context()
	now := h.Now()
	err := h.Store.RecordConnectedAccount(ctx, store.ConnectedAccount{ID: accountID, UserID: user.ID, ConnectWebviewID: wv.ID, CreatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditAccessDenied, Outcome: store.OutcomeDenied,
			Detail: "connected account " + shortID(accountID) + " already belongs to another user"})
		return errNotFound
	}
	if err != nil {
		return err
	}
	count := -1
	devices, err := h.Seam.Devices.List(ctx, seam.ListDevicesParams{UserIdentifierKey: user.ID, ConnectedAccountID: accountID})
	if err != nil {
		// The connection stands; the count is refreshed with the next device list.
		h.Log.WarnContext(ctx, "count devices of new connected account", "connected_account_id", accountID, "error", err)
	} else {
		count = 0
		for _, d := range devices {
			if d.ConnectedAccountID == accountID {
				count++
			}
		}
		if err := h.Store.SetDeviceCounts(ctx, user.ID, map[string]int{accountID: count}, now); err != nil {
			h.Log.WarnContext(ctx, "store device count", "connected_account_id", accountID, "error", err)
		}
	}
	if err := h.Store.UpdateConnectWebview(ctx, wv.ID, store.WebviewAuthorized, accountID, "", "", now); err != nil {
		return fmt.Errorf("record authorized connect webview %s: %w", wv.ID, err)
	}
	detail := "account " + shortID(accountID)
	if count >= 0 {
		detail += ", " + lockCount(count)
	}
	h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditConnectCompleted, Outcome: store.OutcomeSuccess, Detail: detail})
	return h.connected(w, r, user, accountID, count)
}

// connected says so and goes to the devices. A negative count is looked up in
// Latchkey's records (a reload of the return URL) or left out.
func (h *Handlers) connected(w http.ResponseWriter, r *http.Request, user store.User, accountID string, count int) error {
	if count < 0 {
		accounts, err := h.Store.ConnectedAccountsForUser(r.Context(), user.ID)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if a.ID == accountID {
				count = a.DeviceCount
			}
		}
	}
	msg := "Connected your lock account."
	if count >= 0 {
		msg = "Connected: " + lockCount(count)
	}
	auth.SetFlash(r.Context(), h.Sessions, msg)
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
	return nil
}

// ownedWebview returns the webview only if Latchkey issued it to the user; anything else
// (unknown, another user's, missing or garbled id) is the not-found page and an
// access.denied audit event, without asking Seam.
func (h *Handlers) ownedWebview(r *http.Request, user store.User, id string) (store.ConnectWebview, error) {
	deny := func(reason string) (store.ConnectWebview, error) {
		h.audit(r, store.AuditEvent{SubjectUserID: user.ID, Action: store.AuditAccessDenied, Outcome: store.OutcomeDenied,
			Detail: reason})
		return store.ConnectWebview{}, errNotFound
	}
	if !validWebviewID(id) {
		return deny("malformed connect webview id")
	}
	wv, err := h.Store.ConnectWebviewForUser(r.Context(), user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return deny("connect webview " + shortID(id) + " not issued to the user")
	}
	if err != nil {
		return store.ConnectWebview{}, err
	}
	return wv, nil
}

// lockWebview lets one request at a time finish a webview in this process, so a
// completion is recorded and audited once. release must be called.
func (h *Handlers) lockWebview(ctx context.Context, id string) (release func(), err error) {
	key := "connect-webview:" + id
	for {
		done := make(chan struct{})
		held, busy := h.inflight.LoadOrStore(key, done)
		if !busy {
			return func() {
				h.inflight.Delete(key)
				close(done)
			}, nil
		}
		ch, ok := held.(chan struct{})
		if !ok {
			return nil, fmt.Errorf("lock connect webview %s: key in use", shortID(id))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// progress is the status line for a webview in state; it polls only while the webview
// is young and still waiting for something.
func (h *Handlers) progress(wv store.ConnectWebview, state string) views.ConnectProgress {
	if state == progressWaiting && h.Now().Sub(wv.CreatedAt) >= connectPollBound {
		state = progressExpired
	}
	p := views.ConnectProgress{WebviewID: wv.ID, State: state}
	if state == progressWaiting || state == progressUnavailable {
		p.Poll = true
		p.PollURL = "/connect/" + url.PathEscape(wv.ID) + "/status?shown=" + state
	}
	return p
}

// validWebviewID accepts the ids Seam issues (UUIDs) and other plain tokens; anything
// else is not looked up at all.
func validWebviewID(id string) bool {
	if id == "" || len(id) > maxWebviewIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func connectReturnURL(id string) string {
	return "/connect/return?connect_webview_id=" + url.QueryEscape(id)
}

// webOrigin is scheme://host of an http(s) URL: the only origin the webview page accepts
// messages from.
func webOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// connectFailureText explains a failed connection: known codes in our words, else the
// message that came with the failure (plain text), else a generic sentence.
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
	return "The sign-in to your lock provider did not finish."
}

// cleanErrorCode keeps an error code from the query only if it looks like one.
func cleanErrorCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if len(code) > 64 {
		return ""
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ""
		}
	}
	return code
}

// cleanErrorMessage bounds a user-controlled message to one short line of text.
func cleanErrorMessage(msg string) string {
	msg = strings.Join(strings.Fields(strings.ToValidUTF8(msg, "")), " ")
	if utf8.RuneCountInString(msg) > maxConnectErrorLen {
		msg = string([]rune(msg)[:maxConnectErrorLen]) + "…"
	}
	return msg
}

func lockCount(n int) string {
	if n == 1 {
		return "1 lock"
	}
	return strconv.Itoa(n) + " locks"
}

// formatWhen is how pages show a moment.
func formatWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("Jan 2, 2006 15:04 UTC")
}
