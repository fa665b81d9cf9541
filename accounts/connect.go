package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

const (
	// PollBound is how long a Connect Webview's page keeps asking for its status; after
	// that the page offers to start again.
	PollBound = 15 * time.Minute
	// maxWebviewIDLen bounds the webview ids Latchkey looks up at all.
	maxWebviewIDLen = 128
	// maxErrorCodeLen bounds the error codes from the return URL's query that are
	// looked at at all.
	maxErrorCodeLen = 64
)

// Failure codes a Connect Webview reports with its redirect (and its message to the
// parent frame). Seam's record of a failed webview says only status "failed", so
// once Seam says so, a code from this list picks the page's explanation; any other
// code, and every error_message, is anyone's text and is never kept or shown.
const (
	FailureUserCancelled      = "user_cancelled"
	FailureProviderLogin      = "provider_login_failed"
	FailureInvalidCredentials = "invalid_credentials"
	FailureLoginTimeout       = "login_timeout"
)

// FailureCodes are the codes Complete keeps.
var FailureCodes = []string{FailureUserCancelled, FailureProviderLogin, FailureInvalidCredentials, FailureLoginTimeout}

// Progress is where a Connect Webview stands, as its polled status line says.
type Progress string

// The states of a Connect Webview's status line.
const (
	// Waiting: the user has not finished signing in to their lock provider.
	Waiting Progress = "waiting"
	// Unavailable: Seam could not be asked just now; the page keeps asking.
	Unavailable Progress = "unavailable"
	// Expired: the webview is older than PollBound and still not finished.
	Expired Progress = "expired"
	// Connected: the sign-in worked; the return URL records the account.
	Connected Progress = "connected"
	// Ended: the sign-in failed or was given up.
	Ended Progress = "ended"
)

// Overview is what the user has connected and tried to connect.
type Overview struct {
	// Webviews are the user's connection attempts, newest first.
	Webviews []store.ConnectWebview
	// Accounts are the user's connected accounts, oldest first.
	Accounts []store.ConnectedAccount
}

// Webview is a Connect Webview Latchkey issued to the user, with where it stands by
// Latchkey's record (Seam is not asked).
type Webview struct {
	store.ConnectWebview
	// Progress is Connected, Ended, Expired or Waiting.
	Progress Progress
	// Origin is scheme://host of URL while the webview is pending: the only origin its
	// page accepts messages from.
	Origin string
}

// Outcome is how a Connect Webview ended, or that it has not yet.
type Outcome struct {
	WebviewID string
	// Status is store.WebviewAuthorized (connected), store.WebviewFailed, or
	// store.WebviewPending when Seam does not know the outcome yet.
	Status string
	// AccountID is the connected account, once authorized.
	AccountID string
	// DeviceCount is how many locks the account has, or -1 when unknown.
	DeviceCount int
	// ErrorCode and ErrorMessage say why it failed (either may be empty).
	ErrorCode    string
	ErrorMessage string
	// Reconnected is a reconnection that gave back the account it reconnects;
	// OtherAccount one that signed in to a different account: a new one, or, with
	// AlreadyConnected, another that the user had connected before.
	Reconnected      bool
	OtherAccount     bool
	AlreadyConnected bool
}

// reconnection sets whether a webview that reconnects an account gave it back, from the
// user's accounts as recorded after it ended.
func (o *Outcome) reconnection(wv store.ConnectWebview, accounts []store.ConnectedAccount) {
	if wv.ReconnectsAccountID == "" || o.AccountID == "" {
		return
	}
	o.Reconnected = o.AccountID == wv.ReconnectsAccountID
	o.OtherAccount = !o.Reconnected
	for _, a := range accounts {
		// An account recorded before the webview was issued was not added by it.
		if o.OtherAccount && a.ID == o.AccountID && a.CreatedAt.Before(wv.CreatedAt) {
			o.AlreadyConnected = true
		}
	}
}

// Overview lists the user's connection attempts and connected accounts. It never calls
// Seam: a page load must not create anything there.
func (s *Service) Overview(ctx context.Context, user store.User) (Overview, error) {
	s.expire(ctx, user)
	webviews, err := s.Store.ListConnectWebviews(ctx, user.ID)
	if err != nil {
		return Overview{}, err
	}
	accounts, err := s.Store.ConnectedAccountsForUser(ctx, user.ID)
	if err != nil {
		return Overview{}, err
	}
	return Overview{Webviews: webviews, Accounts: accounts}, nil
}

// Start runs Seam's client-session flow for the user: their client session, a new
// Connect Webview, access to it granted to that session; then records the webview as
// the user's. A failure is audited (connect.failed).
func (s *Service) Start(ctx context.Context, user store.User) (store.ConnectWebview, error) {
	return s.start(ctx, user, startOptions{audit: store.AuditConnectStarted})
}

// startOptions shape a Connect Webview: a new connection, or the reconnection of an
// account of the user's (its provider only, and the account it must give back).
type startOptions struct {
	providers []string
	reconnect string
	// audit and detail name the start in the trail; account, the account reconnected.
	audit, detail, account string
}

func (s *Service) start(ctx context.Context, user store.User, opts startOptions) (store.ConnectWebview, error) {
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	fail := func(what string, err error) (store.ConnectWebview, error) {
		s.audit(ctx, user, store.AuditConnectFailed, store.OutcomeFailure, what+": "+seamReason(err))
		return store.ConnectWebview{}, seamFailed(what, err)
	}
	// Each connection costs a webview and three Seam calls of the user's budgets.
	if err := s.Guard.SpendWebview(ctx, user.ID); err != nil {
		return store.ConnectWebview{}, err
	}
	for range 3 {
		if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
			return store.ConnectWebview{}, err
		}
	}
	if _, err := s.Seam.ClientSessions.GetOrCreate(sctx, seam.GetOrCreateClientSessionParams{UserIdentifierKey: user.ID}); err != nil {
		return fail("client session", err)
	}
	back := strings.TrimRight(s.BaseURL, "/") + "/connect/return"
	params := seam.CreateConnectWebviewParams{
		CustomRedirectURL:        back,
		CustomRedirectFailureURL: back,
		WaitForDeviceCreation:    true,
	}
	if len(opts.providers) > 0 && opts.providers[0] != "" {
		params.AcceptedProviders = opts.providers
	}
	if opts.reconnect != "" {
		params.CustomMetadata = map[string]string{reconnectMetadataKey: opts.reconnect}
	}
	sw, err := s.Seam.ConnectWebviews.Create(sctx, params)
	if err != nil {
		return fail("create connect webview", err)
	}
	if !validWebviewID(sw.ConnectWebviewID) {
		s.audit(ctx, user, store.AuditConnectFailed, store.OutcomeFailure, "create connect webview: unusable webview id")
		return store.ConnectWebview{}, fmt.Errorf("create connect webview: unusable connect_webview_id: %w", ErrWebviewUnusable)
	}
	if err := s.Seam.ClientSessions.GrantAccess(sctx, seam.GrantAccessParams{
		UserIdentifierKey: user.ID, ConnectWebviewIDs: []string{sw.ConnectWebviewID},
	}); err != nil {
		return fail("grant access to connect webview", err)
	}
	wv := store.ConnectWebview{
		ID: sw.ConnectWebviewID, UserID: user.ID, URL: sw.URL, Status: store.WebviewPending, CreatedAt: s.Now(),
		ReconnectsAccountID: opts.reconnect,
	}
	if err := s.Store.CreateConnectWebview(ctx, wv); err != nil {
		return store.ConnectWebview{}, fmt.Errorf("record connect webview %s: %w", sw.ConnectWebviewID, err)
	}
	s.auditAccount(ctx, opts.account, s.event(ctx, user, opts.audit, store.OutcomeSuccess, strings.TrimSpace(opts.detail+" webview "+shortID(sw.ConnectWebviewID))))
	return wv, nil
}

// Webview returns the user's webview with where it stands by Latchkey's record. A
// pending webview whose URL is not a plain http(s) address is ErrWebviewUnusable.
func (s *Service) Webview(ctx context.Context, user store.User, id string) (Webview, error) {
	wv, err := s.owned(ctx, user, id)
	if err != nil {
		return Webview{}, err
	}
	v := Webview{ConnectWebview: wv, Progress: s.recorded(wv)}
	if wv.Status == store.WebviewPending {
		origin, ok := webOrigin(wv.URL)
		if !ok {
			return Webview{}, fmt.Errorf("connect webview %s: unusable url: %w", wv.ID, ErrWebviewUnusable)
		}
		v.Origin = origin
	}
	return v, nil
}

// Progress is the user's webview's status line: from Latchkey's record once it ended
// or expired, else from Seam. Seam being unreachable is Unavailable, not an error.
func (s *Service) Progress(ctx context.Context, user store.User, id string) (Progress, error) {
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	wv, err := s.owned(ctx, user, id)
	if err != nil {
		return "", err
	}
	if p := s.recorded(wv); p != Waiting {
		return p, nil
	}
	// A spent Seam budget is a status line that keeps waiting, not an error page.
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		var spent *locks.ErrBudgetSpent
		if errors.As(err, &spent) {
			return Unavailable, nil
		}
		return "", err
	}
	sw, err := s.Seam.ConnectWebviews.Get(sctx, wv.ID)
	switch {
	case errors.Is(err, context.Canceled):
		return "", fmt.Errorf("check connect webview %s: %w", wv.ID, err)
	case err != nil:
		s.Log.WarnContext(ctx, "check connect webview", "connect_webview_id", wv.ID, "error", err)
		return Unavailable, nil
	case sw.Status == seam.WebviewAuthorized && sw.ConnectedAccountID != "":
		return Connected, nil
	case sw.Status == seam.WebviewFailed:
		return Ended, nil
	}
	return Waiting, nil
}

// Complete finishes the user's webview when the browser comes back from it (Seam's
// redirect, or the webview page sending itself on). Seam's record alone decides the
// outcome: queryErrorCode is what the redirect said about a failure, and anyone can
// write it into the URL. While Seam says pending it changes nothing (the webview stays
// pending); once Seam says failed, it explains the failure only when it is one of
// FailureCodes. The redirect's error_message is never read.
//
// Ending a webview is one store transaction that only the first caller wins, so the
// frame's message and the status poll arriving together, a reload, or several portal
// instances record and audit a completion once; the others read the outcome.
func (s *Service) Complete(ctx context.Context, user store.User, id, queryErrorCode string) (Outcome, error) {
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	wv, err := s.owned(ctx, user, id)
	if err != nil {
		return Outcome{}, err
	}
	if wv.Status != store.WebviewPending {
		return s.outcome(ctx, user, wv)
	}
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return Outcome{}, err
	}
	sw, err := s.Seam.ConnectWebviews.Get(sctx, wv.ID)
	if err != nil {
		return Outcome{}, seamFailed("get connect webview", err)
	}
	code := cleanErrorCode(queryErrorCode)
	switch {
	case sw.Status == seam.WebviewAuthorized && sw.ConnectedAccountID != "":
		return s.connect(ctx, user, wv, sw.ConnectedAccountID)
	case sw.Status == seam.WebviewFailed:
		if !slices.Contains(FailureCodes, code) {
			code = ""
		}
		return s.fail(ctx, user, wv, code)
	}
	switch {
	case sw.Status == seam.WebviewAuthorized:
		s.Log.WarnContext(ctx, "connect webview authorized without a connected account", "connect_webview_id", wv.ID)
	case queryErrorCode != "":
		// A failure Seam does not confirm: a forged or early return. Only the cleaned
		// code is logged.
		s.Log.WarnContext(ctx, "connect return reports a failure Seam does not confirm; still waiting",
			"connect_webview_id", wv.ID, "seam_status", sw.Status, "error_code", code)
	}
	return Outcome{WebviewID: wv.ID, Status: store.WebviewPending, DeviceCount: -1}, nil
}

// AccountLabel is how pages name a connected account without showing its full id.
func AccountLabel(accountID string) string { return "Account " + shortID(accountID) }

// connect records the account Seam confirmed as the user's, with its device count, and
// audits the connection, unless another request ended the webview first.
func (s *Service) connect(ctx context.Context, user store.User, wv store.ConnectWebview, accountID string) (Outcome, error) {
	count := s.countDevices(ctx, user, accountID)
	detail := "account " + shortID(accountID)
	if count >= 0 {
		detail += ", " + lockCount(count)
	}
	switch {
	case wv.ReconnectsAccountID == accountID:
		detail = "reconnected " + detail
	case wv.ReconnectsAccountID != "":
		// Seam gave back another account than the one being reconnected: it is recorded
		// as the user's (if it is nobody else's), and the page says so.
		detail += " (not " + shortID(wv.ReconnectsAccountID) + ", the account being reconnected)"
	}
	audit := s.event(ctx, user, store.AuditConnectCompleted, store.OutcomeSuccess, detail)
	// The account as /accounts names it ("August account jane@example.com"), kept with
	// the event: the trail reads it after the account is gone.
	audit.AccountName = s.accountName(ctx, accountID)
	rec, changed, err := s.Store.FinishConnectWebview(ctx, store.WebviewEnd{
		WebviewID:          wv.ID,
		UserID:             user.ID,
		Status:             store.WebviewAuthorized,
		ConnectedAccountID: accountID,
		DeviceCount:        max(count, 0),
		At:                 s.Now(),
		Audit:              audit,
	})
	if errors.Is(err, store.ErrConflict) {
		s.audit(ctx, user, store.AuditAccessDenied, store.OutcomeDenied,
			"connected account "+shortID(accountID)+" already belongs to another user")
		return Outcome{}, fmt.Errorf("connect webview %s: account %s: %w", wv.ID, accountID, ErrAccountTaken)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("record authorized connect webview %s: %w", wv.ID, err)
	}
	if !changed {
		return s.outcome(ctx, user, rec)
	}
	// The first sync of the account's devices into the copy the pages read.
	if s.Devices != nil {
		if _, err := s.Devices.SyncUser(context.WithoutCancel(ctx), user.ID); err != nil {
			s.Log.WarnContext(ctx, "first sync of a connected account's devices", "connected_account_id", accountID, "error", err)
		}
	}
	out := Outcome{WebviewID: wv.ID, Status: store.WebviewAuthorized, AccountID: accountID, DeviceCount: count}
	if wv.ReconnectsAccountID != "" {
		accounts, err := s.Store.ConnectedAccountsForUser(ctx, user.ID)
		if err != nil {
			return Outcome{}, fmt.Errorf("connect webview %s: %w", wv.ID, err)
		}
		out.reconnection(wv, accounts)
	}
	return out, nil
}

// fail records that the webview failed, as Seam says, and audits it, unless another
// request ended the webview first. code is one of FailureCodes or "".
func (s *Service) fail(ctx context.Context, user store.User, wv store.ConnectWebview, code string) (Outcome, error) {
	rec, changed, err := s.Store.FinishConnectWebview(ctx, store.WebviewEnd{
		WebviewID: wv.ID,
		UserID:    user.ID,
		Status:    store.WebviewFailed,
		ErrorCode: code,
		At:        s.Now(),
		Audit: s.event(ctx, user, store.AuditConnectFailed, store.OutcomeFailure,
			strings.TrimSpace("webview "+shortID(wv.ID)+" "+code)),
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("record failed connect webview %s: %w", wv.ID, err)
	}
	if !changed {
		return s.outcome(ctx, user, rec)
	}
	return Outcome{WebviewID: wv.ID, Status: store.WebviewFailed, ErrorCode: code, DeviceCount: -1}, nil
}

// countDevices counts the account's devices for the pages, or -1 when Seam cannot say:
// the connection stands, and the count is refreshed with the next device list.
func (s *Service) countDevices(ctx context.Context, user store.User, accountID string) int {
	if err := s.Guard.SpendSeamCall(ctx, user.ID); err != nil {
		return -1
	}
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	devices, err := s.Seam.Devices.List(sctx, seam.ListDevicesParams{UserIdentifierKey: user.ID, ConnectedAccountID: accountID})
	if err != nil {
		s.Log.WarnContext(ctx, "count devices of new connected account", "connected_account_id", accountID, "error", err)
		return -1
	}
	count := 0
	for _, d := range devices {
		if d.ConnectedAccountID == accountID {
			count++
		}
	}
	return count
}

// accountName is how /accounts names the account, as Seam describes it now, or its
// label when Seam cannot say (the connection is recorded all the same). The call is
// not counted apart from the user's budget: it follows Seam's answer that the webview
// was authorized, which Complete spent a call on, so there is at most one per such
// call, and a connection is already bounded by the webview budget.
func (s *Service) accountName(ctx context.Context, accountID string) string {
	if s.Seam.ConnectedAccounts == nil {
		return AccountLabel(accountID)
	}
	sctx, cancel := s.seamContext(ctx)
	defer cancel()
	sa, err := s.Seam.ConnectedAccounts.Get(sctx, accountID)
	if err != nil {
		s.Log.WarnContext(ctx, "describe new connected account", "connected_account_id", accountID, "error", err)
		return AccountLabel(accountID)
	}
	a := Account{ConnectedAccount: store.ConnectedAccount{ID: accountID}}
	a.describe(*sa)
	return a.Name()
}

// outcome is what Latchkey recorded for a webview that already ended (or is pending).
func (s *Service) outcome(ctx context.Context, user store.User, wv store.ConnectWebview) (Outcome, error) {
	out := Outcome{WebviewID: wv.ID, Status: wv.Status, DeviceCount: -1}
	switch wv.Status {
	case store.WebviewAuthorized:
		out.AccountID = wv.ConnectedAccountID
		accounts, err := s.Store.ConnectedAccountsForUser(ctx, user.ID)
		if err != nil {
			return Outcome{}, fmt.Errorf("connect webview %s: %w", wv.ID, err)
		}
		out.reconnection(wv, accounts)
		for _, a := range accounts {
			if a.ID == wv.ConnectedAccountID {
				out.DeviceCount = a.DeviceCount
			}
		}
	case store.WebviewFailed:
		out.ErrorCode, out.ErrorMessage = wv.ErrorCode, wv.ErrorMessage
	}
	return out, nil
}

// owned returns the webview only if Latchkey issued it to the user; anything else
// (unknown, another user's, missing or garbled id) is ErrNotOwned and an access.denied
// audit event, without asking Seam.
func (s *Service) owned(ctx context.Context, user store.User, id string) (store.ConnectWebview, error) {
	deny := func(reason string) (store.ConnectWebview, error) {
		s.refused(ctx, user, store.AuditAccessDenied, reason)
		return store.ConnectWebview{}, fmt.Errorf("%s: %w", reason, ErrNotOwned)
	}
	if !validWebviewID(id) {
		return deny("malformed connect webview id")
	}
	wv, err := s.Store.ConnectWebviewForUser(ctx, user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return deny("connect webview " + shortID(id) + " not issued to the user")
	}
	if err != nil {
		return store.ConnectWebview{}, err
	}
	return wv, nil
}

// recorded is where the webview stands by Latchkey's record alone.
func (s *Service) recorded(wv store.ConnectWebview) Progress {
	switch {
	case wv.Status == store.WebviewAuthorized:
		return Connected
	case wv.Status == store.WebviewFailed:
		return Ended
	case s.Now().Sub(wv.CreatedAt) >= PollBound:
		return Expired
	}
	return Waiting
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

// webOrigin is scheme://host of an http(s) URL.
func webOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// cleanErrorCode keeps an error code from the query only if it looks like one.
func cleanErrorCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if len(code) > maxErrorCodeLen {
		return ""
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ""
		}
	}
	return code
}
