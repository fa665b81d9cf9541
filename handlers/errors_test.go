package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/seam"
)

func TestPageFor(t *testing.T) {
	rateLimited := &seam.Error{Status: http.StatusTooManyRequests, Type: "rate_limited"}
	for _, tt := range []struct {
		name       string
		err        error
		status     int
		title      string
		retryAfter string
	}{
		{"a page passes through", fmt.Errorf("wrapped: %w", errForbidden), http.StatusForbidden, errForbidden.Title, ""},
		{"too large", fmt.Errorf("read form: %w", &http.MaxBytesError{Limit: 1}), http.StatusRequestEntityTooLarge, errTooLarge.Title, ""},
		{"not the user's webview", fmt.Errorf("x: %w", accounts.ErrNotOwned), http.StatusNotFound, errNotFound.Title, ""},
		{"another user's account", fmt.Errorf("x: %w", accounts.ErrAccountTaken), http.StatusNotFound, errNotFound.Title, ""},
		{"unusable webview", fmt.Errorf("x: %w", accounts.ErrWebviewUnusable), http.StatusBadGateway, errWebviewUnusable.Title, ""},
		{"Seam unreachable", fmt.Errorf("%w: create: %w", accounts.ErrSeam, errors.New("dial tcp: refused")), http.StatusServiceUnavailable, errSeamUnavailable.Title, ""},
		{"Seam busy", fmt.Errorf("%w: create: %w", accounts.ErrSeam, rateLimited), http.StatusServiceUnavailable, errSeamBusy.Title, "5"},
		{"anything else", errors.New("disk full"), http.StatusInternalServerError, errInternal.Title, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page := pageFor(tt.err)
			if page.Status != tt.status || page.Title != tt.title || page.Header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("pageFor(%v) = %d %q (Retry-After %q), want %d %q (%q)", tt.err, page.Status, page.Title,
					page.Header.Get("Retry-After"), tt.status, tt.title, tt.retryAfter)
			}
			if page.Status >= 500 && !errors.Is(page, tt.err) {
				t.Errorf("pageFor(%v) drops the cause", tt.err)
			}
		})
	}
	// The shared pages are never changed by giving one a cause.
	pageFor(errors.New("x"))
	if errInternal.Err != nil {
		t.Error("pageFor changed errInternal")
	}
}
