package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// currentUser is the signed-in user; routes that use it sit behind RequireUser.
func currentUser(r *http.Request) store.User {
	u, ok := auth.UserFrom(r.Context())
	if !ok {
		panic("handlers: route without RequireUser") // a wiring mistake, caught by tests
	}
	return u
}

// isHTMX reports whether htmx sent r (and will swap the answer into the page).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// wantsFragment reports whether htmx will swap the answer into part of the page. A
// boosted link or form (hx-boost) swaps the whole body: it wants what a browser without
// JavaScript gets, page or redirect.
func wantsFragment(r *http.Request) bool { return isHTMX(r) && r.Header.Get("HX-Boosted") != "true" }

// withQuery is path with the non-empty values as its query string.
func withQuery(path string, values url.Values) string {
	for k, v := range values {
		if len(v) == 0 || v[0] == "" {
			delete(values, k)
		}
	}
	if len(values) == 0 {
		return path
	}
	return path + "?" + values.Encode()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func lockCount(n int) string {
	if n == 1 {
		return "1 lock"
	}
	return strconv.Itoa(n) + " locks"
}
