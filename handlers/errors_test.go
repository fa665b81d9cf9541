package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
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
		{"Seam unreachable", fmt.Errorf("%w: create: %w", accounts.ErrSeam, errors.New("dial tcp: refused")), http.StatusServiceUnavailable, errSeamUnavailable.Title, "5"},
		{"Seam busy", fmt.Errorf("%w: create: %w", accounts.ErrSeam, rateLimited), http.StatusServiceUnavailable, errSeamBusy.Title, "5"},
		{"not the user's device", fmt.Errorf("x: %w", locks.ErrNotOwned), http.StatusNotFound, errNotFound.Title, ""},
		{"cannot unlock", locks.ErrCannotUnlock, http.StatusConflict, errCannotUnlock.Title, ""},
		{"offline", fmt.Errorf("unlock: %w", locks.ErrOffline), http.StatusConflict, errOffline.Title, ""},
		{"account disconnected", locks.ErrAccountDisconnected, http.StatusConflict, errAccountDisconnected.Title, ""},
		{"busy", &locks.ErrBusy{Open: store.ActionAttempt{Action: store.ActionUnlock}, DeviceName: "Front Door"}, http.StatusConflict, errBusy.Title, ""},
		{"over the limit", &locks.ErrRateLimited{Limit: 10, RetryAfter: 41500 * time.Millisecond}, http.StatusTooManyRequests, errRateLimited.Title, "42"},
		{"Seam refused the action", &locks.ErrNotSent{Attempt: store.ActionAttempt{Action: store.ActionUnlock},
			Err: &seam.Error{Status: http.StatusBadRequest, Type: "device_offline", Message: "Device is offline"}}, http.StatusBadGateway, "Could not unlock the lock", ""},
		{"Seam busy for the action", &locks.ErrNotSent{Attempt: store.ActionAttempt{Action: store.ActionUnlock}, Err: rateLimited}, http.StatusServiceUnavailable, errSeamBusy.Title, "5"},
		{"Seam down for the device list", &locks.ErrLockService{Op: "list devices", Err: errors.New("dial tcp: refused")}, http.StatusServiceUnavailable, errSeamUnavailable.Title, "5"},
		{"sign-in expired", fmt.Errorf("%w: %w", errCallbackFailed, auth.ErrLoginExpired), http.StatusBadRequest, errSignInExpired.Title, ""},
		{"IdP refused", fmt.Errorf("%w: %w", errCallbackFailed, auth.ErrIdPRefused), http.StatusForbidden, errSignInRefused.Title, ""},
		{"IdP not ready", auth.ErrNotReady, http.StatusServiceUnavailable, errSignInUnavailable.Title, ""},
		{"callback failed", fmt.Errorf("%w: %w", errCallbackFailed, errors.New("bad token")), http.StatusBadGateway, errSignInFailed.Title, ""},
		{"Seam asked for 12 s", &locks.ErrLockService{Op: "list devices", Err: &seam.Error{Status: 429, Type: "rate_limited", RetryAfter: 12 * time.Second}},
			http.StatusServiceUnavailable, errSeamBusy.Title, "12"},
		{"a request's Seam deadline passed", &locks.ErrLockService{Op: "list devices", Err: context.DeadlineExceeded}, http.StatusServiceUnavailable, errSeamUnavailable.Title, "5"},
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
