package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/seam"
)

// errWebviewUnusable is shown when Seam describes a Connect Webview Latchkey cannot open.
var errWebviewUnusable = &Error{Status: http.StatusBadGateway, Title: "This connection window cannot be shown",
	Message: "The lock service gave an address Latchkey cannot open. Please start again."}

// pageFor is the page for err: the one mapping of errors (the handlers' own and the
// domain packages') to what a user sees. The cause stays in the page's Err, for the log.
func pageFor(err error) *Error {
	var page *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &page):
		return page
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, accounts.ErrNotOwned), errors.Is(err, accounts.ErrAccountTaken):
		return errNotFound
	case errors.Is(err, accounts.ErrWebviewUnusable):
		return errWebviewUnusable.because(err)
	case errors.Is(err, accounts.ErrSeam):
		return seamPage(err)
	default:
		return errInternal.because(err)
	}
}

// seamPage is the page for a failed Seam call: busy (with Retry-After) or unreachable.
func seamPage(err error) *Error {
	if seam.IsRateLimited(err) {
		page := errSeamBusy.because(err)
		page.Header = http.Header{"Retry-After": {strconv.Itoa(5)}}
		return page
	}
	return errSeamUnavailable.because(err)
}

// because is a copy of the page e with err as its cause.
func (e *Error) because(err error) *Error {
	page := *e
	page.Err = err
	return &page
}
