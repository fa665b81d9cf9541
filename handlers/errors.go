package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// Error is a failure that carries the page a user should see. Err is the cause, logged
// but never shown.
type Error struct {
	Status  int
	Title   string
	Message string
	// Retry offers a "try again" link back to the page that failed.
	Retry bool
	// Actions are extra links on the page ("Sign in again").
	Actions []views.Link
	// Header is set on the response (e.g. Retry-After).
	Header http.Header
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Title, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Title)
}

func (e *Error) Unwrap() error { return e.Err }

// because returns a copy of the page e with its cause, for the log.
func (e *Error) because(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// withHeader returns a copy of the page e that also sets key: value.
func (e *Error) withHeader(key, value string) *Error {
	c := *e
	c.Header = http.Header{key: {value}}
	return &c
}

// Errors users meet, each with words rather than Go error strings.
var (
	errNotFound = &Error{Status: http.StatusNotFound, Title: "Page not found",
		Message: "There is nothing here, or it is not yours to see. Check the address, or go back to your devices."}
	errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Title: "Not allowed here",
		Message: "This address does not accept that kind of request."}
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Title: "Sign in to continue",
		Message: "You need to be signed in for that. Your session may have ended: sign in and try again.",
		Actions: []views.Link{{Label: "Sign in", URL: "/login"}}}
	errForbidden = &Error{Status: http.StatusForbidden, Title: "Not available to your account",
		Message: "This page is for Latchkey administrators."}
	errForbiddenCrossOrigin = &Error{Status: http.StatusForbidden, Title: "Request refused",
		Message: "This request came from another site, so it was refused. If you clicked a button on Latchkey, reload the page and try again."}
	errInternal = &Error{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "We could not finish this request. Nothing was changed that you did not see confirmed. Please try again in a moment."}
	errTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Title: "Request too large",
		Message: "That request was larger than Latchkey accepts."}
	errCancelled = &Error{Status: 499, Title: "Request cancelled",
		Message: "The request was cancelled before it finished."}

	errSeamUnavailable = &Error{Status: http.StatusServiceUnavailable, Title: "Your locks cannot be reached right now",
		Message: "Latchkey could not reach the lock service. Nothing was changed. Please try again in a moment.", Retry: true}
	errSeamBusy = &Error{Status: http.StatusServiceUnavailable, Title: "The lock service is busy",
		Message: "The lock service asked us to slow down. Nothing was changed. Please try again in a few seconds.", Retry: true}

	errCannotUnlock = &Error{Status: http.StatusConflict, Title: "This lock cannot be unlocked remotely",
		Message: "Its provider does not allow remote unlocking. Use a key, code or the provider's own app."}
	errCannotLock = &Error{Status: http.StatusConflict, Title: "This lock cannot be locked remotely",
		Message: "Its provider does not allow remote locking."}
	errOffline = &Error{Status: http.StatusConflict, Title: "This lock is offline",
		Message: "It cannot be reached right now, so nothing was sent to it. Try again once it is back online."}
	errAccountDisconnected = &Error{Status: http.StatusConflict, Title: "This lock's account is disconnected",
		Message: "Sign in to the lock account again; then the lock can be operated from here. Nothing was sent to it.",
		Actions: []views.Link{{Label: "Reconnect this account", URL: "/accounts"}}}
	errBusy = &Error{Status: http.StatusConflict, Title: "Another request for this lock is in progress",
		Message: "Wait for it to finish, then try again."}
	errUserDisabled = &Error{Status: http.StatusForbidden, Title: "Your account is disabled",
		Message: "An administrator disabled your account. Nothing was done."}
	errRateLimited = &Error{Status: http.StatusTooManyRequests, Title: "Too many requests"}
	errSeamBudget  = &Error{Status: http.StatusTooManyRequests, Title: "Too many requests to the lock service",
		Message: "Your recent pages asked the lock service more often than Latchkey allows one customer. Nothing was changed. Please wait a few seconds and try again.",
		Retry:   true}
	errWebviewBudget = &Error{Status: http.StatusTooManyRequests, Title: "Too many connection attempts",
		Message: "You started several connections in the last few minutes. Finish one of them from the Connect page, or wait a few minutes before starting another."}

	signInAgain      = []views.Link{{Label: "Sign in again", URL: "/login"}}
	errSignInExpired = &Error{Status: http.StatusBadRequest, Title: "Sign-in expired, try again",
		Message: "This sign-in link has expired or was already used. Sign in again to continue.", Actions: signInAgain}
	errSignInFailed = &Error{Status: http.StatusBadGateway, Title: "Sign-in failed",
		Message: "Your identity provider's answer could not be accepted, so you were not signed in. Please try again.", Actions: signInAgain}
	errSignInRefused = &Error{Status: http.StatusForbidden, Title: "Sign-in cancelled",
		Message: "Your identity provider did not sign you in. You can try again.", Actions: signInAgain}
	errSignInUnavailable = &Error{Status: http.StatusServiceUnavailable, Title: "Sign-in is unavailable right now",
		Message: "We cannot reach the identity provider at the moment. Please try again in a minute.", Retry: true}

	errAccountGone = &Error{Status: http.StatusConflict, Title: "This account cannot be reconnected",
		Message: accountGoneWords, Actions: []views.Link{{Label: "Lock accounts", URL: "/accounts"}}}

	errWebviewUnusable = &Error{Status: http.StatusBadGateway, Title: "This connection window cannot be shown",
		Message: "The lock service gave an address Latchkey cannot open. Please start again."}
)

// statusErrors are the pages for bare statuses the router and middleware produce.
var statusErrors = map[int]*Error{
	http.StatusNotFound:              errNotFound,
	http.StatusMethodNotAllowed:      errMethodNotAllowed,
	http.StatusUnauthorized:          errUnauthorized,
	http.StatusForbidden:             errForbidden,
	http.StatusInternalServerError:   errInternal,
	http.StatusRequestEntityTooLarge: errTooLarge,
}

// StatusError returns the standard page for a bare status code.
func StatusError(status int) *Error {
	if e, ok := statusErrors[status]; ok {
		return e
	}
	return &Error{Status: status, Title: http.StatusText(status), Message: "This request could not be completed."}
}

// CrossOriginRefused is the page for an unsafe request that came from another site.
func CrossOriginRefused() *Error { return errForbiddenCrossOrigin }

// pageFor is THE mapping from an error — a page already, a domain error, a Seam
// failure, anything else — to the page a user sees.
func pageFor(err error) *Error {
	var (
		page     *Error
		busy     *locks.ErrBusy
		spent    *locks.ErrBudgetSpent
		limited  *locks.ErrRateLimited
		notSent  *locks.ErrNotSent
		tooLarge *http.MaxBytesError
		seamErr  *seam.Error
		service  *locks.ErrLockService
	)
	switch {
	case errors.As(err, &page):
		return page
	case errors.Is(err, auth.ErrLoginExpired):
		return errSignInExpired.because(err)
	case errors.Is(err, auth.ErrIdPRefused):
		return errSignInRefused.because(err)
	case errors.Is(err, auth.ErrNotReady):
		p := errSignInUnavailable.because(err)
		if errors.Is(err, errCallbackFailed) {
			p.Actions = signInAgain
		}
		return p
	case errors.Is(err, errCallbackFailed):
		return errSignInFailed.because(err)
	case errors.Is(err, locks.ErrNotOwned), errors.Is(err, accounts.ErrNotOwned), errors.Is(err, accounts.ErrAccountTaken),
		errors.Is(err, accounts.ErrAccountNotFound):
		return errNotFound
	case errors.Is(err, accounts.ErrAccountGone):
		return errAccountGone.because(err)
	case errors.Is(err, accounts.ErrWebviewUnusable):
		return errWebviewUnusable.because(err)
	case errors.Is(err, accounts.ErrSeam):
		return seamError(err)
	case errors.Is(err, locks.ErrUserDisabled):
		return errUserDisabled.because(err)
	case errors.Is(err, locks.ErrCannotUnlock):
		return errCannotUnlock
	case errors.Is(err, locks.ErrCannotLock):
		return errCannotLock
	case errors.Is(err, locks.ErrOffline):
		return errOffline
	case errors.Is(err, locks.ErrAccountDisconnected):
		return errAccountDisconnected
	case errors.As(err, &busy):
		p := errBusy.because(err)
		p.Message = busy.Message() + " " + errBusy.Message
		return p
	case errors.As(err, &spent):
		page := errSeamBudget
		if spent.Kind == store.BudgetWebviews {
			page = errWebviewBudget
		}
		return page.because(err).withHeader("Retry-After", retryAfterSeconds(spent.RetryAfter))
	case errors.As(err, &limited):
		p := errRateLimited.withHeader("Retry-After", retryAfterSeconds(limited.RetryAfter))
		p.Message = fmt.Sprintf("You can lock or unlock at most %d times a minute. Please wait a minute and try again.", limited.Limit)
		return p
	case errors.As(err, &notSent) && errors.As(err, &seamErr) && refusedBySeam(seamErr):
		p := &Error{Status: http.StatusBadGateway, Title: "Could not " + notSent.Attempt.Action + " the lock",
			Message: "The lock service refused the request.", Err: err}
		if seamErr.Message != "" {
			p.Message = "The lock service said: " + seamErr.Message
		}
		return p
	case errors.As(err, &service):
		return seamError(err)
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, context.Canceled):
		return errCancelled.because(err)
	case errors.As(err, &seamErr):
		return seamError(err)
	}
	return errInternal.because(err)
}

// refusedBySeam reports whether Seam answered a request with a refusal of its own (not
// an outage, a rate limit or our key).
func refusedBySeam(e *seam.Error) bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests &&
		e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden
}

// seamError is the page for a failed Seam call: busy (with Retry-After) or unavailable.
// The cause is logged.
func seamError(err error) *Error {
	if errors.Is(err, context.Canceled) {
		return errCancelled.because(err)
	}
	page := errSeamUnavailable
	if seam.IsRateLimited(err) {
		page = errSeamBusy
	}
	wait, ok := seam.RetryAfter(err)
	if !ok {
		wait = defaultRetryAfter
	}
	return page.because(err).withHeader("Retry-After", retryAfterSeconds(wait))
}

// defaultRetryAfter is what a page asks the browser to wait when Seam did not say.
const defaultRetryAfter = 5 * time.Second

// retryAfterSeconds is d as a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(int((d+time.Second-1)/time.Second), 1))
}
