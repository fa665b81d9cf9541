package sandbox

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const portal = "http://127.0.0.1:8080"

// startWebview creates a webview granted to userKey and returns its id and url.
func (e *env) startWebview(userKey string, body map[string]any) (id, rawURL string) {
	e.t.Helper()
	e.ok("client_sessions/get_or_create", map[string]any{"user_identifier_key": userKey})
	wv := e.ok("connect_webviews/create", body)
	id, rawURL = str(wv, "connect_webview.connect_webview_id"), str(wv, "connect_webview.url")
	e.ok("client_sessions/grant_access", map[string]any{"user_identifier_key": userKey, "connect_webview_ids": []string{id}})
	return id, rawURL
}

func TestWebviewPageSignIn(t *testing.T) {
	e := newEnv(t, Options{PortalOrigin: portal})
	id, rawURL := e.startWebview("user-1", map[string]any{
		"custom_redirect_url":      portal + "/connect/return?x=1",
		"wait_for_device_creation": true,
		"custom_metadata":          map[string]any{"user": "user-1"},
	})
	if !strings.HasPrefix(rawURL, e.srv.URL+"/connect_webviews/view?") || !strings.Contains(rawURL, "auth_token=") {
		t.Fatalf("webview url %q", rawURL)
	}

	// 1. Pick a brand.
	choose := e.getPage(rawURL)
	if choose.status != http.StatusOK {
		t.Fatalf("choose page: %d", choose.status)
	}
	var august string
	for _, a := range choose.find("a") {
		if text(a) == "August" {
			href, _ := attr(a, "href")
			august = choose.url.ResolveReference(mustURL(t, href)).String()
		}
	}
	if august == "" || len(choose.find("a")) != 2 {
		t.Fatalf("brand links: %d, august %q", len(choose.find("a")), august)
	}

	// 2. The sign-in form; a wrong password shows it again with an error.
	login := e.getPage(august)
	form := login.formValues(t)
	if form.Get("provider") != "august" || form.Get("connect_webview_id") != id {
		t.Fatalf("form hidden fields: %v", form)
	}
	action := login.url.ResolveReference(mustURL(t, formAction(t, login))).String()
	form.Set("email", JaneEmail)
	form.Set("password", "wrong")
	form.Set("action", "login")
	retry := e.postForm(action, form)
	if alerts := retry.find("p", "role", "alert"); retry.status != http.StatusOK || len(alerts) != 1 {
		t.Fatalf("wrong password: status %d, %d alerts", retry.status, len(alerts))
	}
	if got := str(e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id}), "connect_webview.status"); got != "pending" {
		t.Fatalf("after a wrong password the webview is %s", got)
	}
	if len(e.sb.CallsTo(webviewPath)) != 0 {
		t.Fatal("webview form posts (with passwords) were recorded in the call log")
	}

	// 3. The right password connects.
	form.Set("password", LoginPassword)
	done := e.postForm(action, form)
	result := done.find("main", "id", "seam-result")
	if done.status != http.StatusOK || len(result) != 1 {
		t.Fatalf("result page: status %d", done.status)
	}
	wantRedirect := portal + "/connect/return?connect_webview_id=" + id + "&x=1"
	for k, want := range map[string]string{
		"data-event-type":         "webview.login_successful",
		"data-connect-webview-id": id,
		"data-target-origin":      portal,
		"data-redirect-url":       wantRedirect,
	} {
		if got, _ := attr(result[0], k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	links := done.find("a", "target", "_top")
	if len(links) != 1 || text(links[0]) != "Continue" {
		t.Fatalf("no Continue link")
	}
	if href, _ := attr(links[0], "href"); href != wantRedirect {
		t.Errorf("Continue goes to %q, want %q", href, wantRedirect)
	}
	if s := done.find("script", "src", "webview.js"); len(s) != 1 {
		t.Errorf("result page does not load webview.js")
	}

	wv := e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id})
	if str(wv, "connect_webview.status") != "authorized" || dig(wv, "connect_webview.login_successful") != true ||
		str(wv, "connect_webview.connected_account_id") == "" || str(wv, "connect_webview.authorized_at") == "" ||
		str(wv, "connect_webview.selected_provider") != "august" || dig(wv, "connect_webview.wait_for_device_creation") != true ||
		str(wv, "connect_webview.custom_metadata.user") != "user-1" {
		t.Fatalf("webview after sign-in: %v", wv)
	}
	acc := str(wv, "connect_webview.connected_account_id")
	devs := list(e.ok("devices/list", map[string]any{"user_identifier_key": "user-1"}), "devices")
	if len(devs) != 3 {
		t.Fatalf("user sees %d devices, want jane's 3", len(devs))
	}
	offline := 0
	for _, d := range devs {
		if str(d, "connected_account_id") != acc || str(d, "device_type") != "august_lock" {
			t.Errorf("device %v", d)
		}
		if dig(d, "properties.online") == false {
			offline++
		}
	}
	if offline != 1 {
		t.Errorf("%d offline devices, want 1", offline)
	}
	events := list(e.ok("events/list", map[string]any{"since": "2000-01-01T00:00:00Z", "event_types": []string{"connected_account.connected"}}), "events")
	if len(events) != 1 || str(events[0], "connect_webview_id") != id || str(events[0], "connected_account_id") != acc {
		t.Errorf("connected_account.connected events: %v", events)
	}

	// Reloading a finished webview shows the outcome again; it cannot connect twice.
	again := e.postForm(action, form)
	if len(again.find("main", "id", "seam-result")) != 1 {
		t.Fatalf("reposting a finished webview did not show the result")
	}
	if n := len(list(e.ok("connected_accounts/list", map[string]any{}), "connected_accounts")); n != 1 {
		t.Fatalf("%d accounts after a repost, want 1", n)
	}
}

func TestWebviewWrongBrandAndInvalidLink(t *testing.T) {
	e := newEnv(t, Options{})
	id, rawURL := e.startWebview("u", map[string]any{"custom_redirect_url": portal + "/r"})
	u := mustURL(t, rawURL)
	form := url.Values{"connect_webview_id": {id}, "auth_token": {u.Query().Get("auth_token")},
		"provider": {"schlage"}, "email": {JaneEmail}, "password": {LoginPassword}, "action": {"login"}}
	p := e.postForm(e.srv.URL+webviewPath, form)
	if len(p.find("p", "role", "alert")) != 1 {
		t.Fatalf("jane (August) signed in as Schlage")
	}

	form.Set("auth_token", "guess")
	bad := e.postForm(e.srv.URL+webviewPath, form)
	if bad.status != http.StatusNotFound || len(bad.find("form")) != 0 {
		t.Fatalf("wrong auth_token: status %d", bad.status)
	}
	if got := str(e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id}), "connect_webview.status"); got != "pending" {
		t.Fatalf("webview is %s", got)
	}
}

func TestWebviewDisconnectedAccount(t *testing.T) {
	e := newEnv(t, Options{})
	id, rawURL := e.startWebview("u", map[string]any{"accepted_providers": []string{"august"}})
	// With one accepted brand the page goes straight to the sign-in form.
	login := e.getPage(rawURL)
	form := login.formValues(t)
	if form.Get("provider") != "august" {
		t.Fatalf("single-brand webview did not skip the brand choice")
	}
	form.Set("email", DisconnectedEmail)
	form.Set("password", LoginPassword)
	e.postForm(e.srv.URL+webviewPath, form)

	acc := str(e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id}), "connect_webview.connected_account_id")
	a := e.ok("connected_accounts/get", map[string]any{"connected_account_id": acc})
	if str(a, "connected_account.errors.0.error_code") != "account_disconnected" ||
		dig(a, "connected_account.errors.0.is_connected_account_error") != true {
		t.Fatalf("account errors: %v", dig(a, "connected_account.errors"))
	}
	d := list(e.ok("devices/list", map[string]any{"user_identifier_key": "u"}), "devices")
	if len(d) != 1 || str(d[0], "errors.0.error_code") != "account_disconnected" ||
		dig(d[0], "errors.0.is_connected_account_error") != true || dig(d[0], "errors.0.is_device_error") != false {
		t.Fatalf("device errors: %v", d)
	}
}

func TestWebviewFailures(t *testing.T) {
	tests := []struct {
		name        string
		body        map[string]any
		email       string // empty: press "I can't sign in"
		wantCode    string
		wantURLBase string
	}{
		{"cancel goes to failure url", map[string]any{"custom_redirect_url": portal + "/ok", "custom_redirect_failure_url": portal + "/failed"},
			"", ErrorCodeUserCancelled, portal + "/failed"},
		{"provider failure goes to failure url", map[string]any{"custom_redirect_url": portal + "/ok", "custom_redirect_failure_url": portal + "/failed"},
			FailEmail, ErrorCodeProviderLoginFailed, portal + "/failed"},
		{"without failure url, the redirect url", map[string]any{"custom_redirect_url": portal + "/ok"},
			"", ErrorCodeUserCancelled, portal + "/ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			id, rawURL := e.startWebview("u", tt.body)
			u := mustURL(t, rawURL)
			form := url.Values{"connect_webview_id": {id}, "auth_token": {u.Query().Get("auth_token")}, "provider": {"august"}}
			if tt.email == "" {
				form.Set("action", "cancel")
			} else {
				form.Set("action", "login")
				form.Set("email", tt.email)
				form.Set("password", LoginPassword)
			}
			p := e.postForm(e.srv.URL+webviewPath, form)
			res := p.find("main", "id", "seam-result")
			if len(res) != 1 {
				t.Fatalf("no result")
			}
			if got, _ := attr(res[0], "data-event-type"); got != "webview.login_failed" {
				t.Errorf("event %q", got)
			}
			if got, _ := attr(res[0], "data-error-code"); got != tt.wantCode {
				t.Errorf("error code %q, want %q", got, tt.wantCode)
			}
			// Without Options.PortalOrigin the message goes to the redirect URL's origin.
			if got, _ := attr(res[0], "data-target-origin"); got != portal {
				t.Errorf("target origin %q", got)
			}
			redirect, _ := attr(res[0], "data-redirect-url")
			ru := mustURL(t, redirect)
			if base := ru.Scheme + "://" + ru.Host + ru.Path; base != tt.wantURLBase ||
				ru.Query().Get("connect_webview_id") != id || ru.Query().Get("error_code") != tt.wantCode || ru.Query().Get("error_message") == "" {
				t.Errorf("redirect %q", redirect)
			}
			wv := e.ok("connect_webviews/get", map[string]any{"connect_webview_id": id})
			if str(wv, "connect_webview.status") != "failed" || dig(wv, "connect_webview.login_successful") != false {
				t.Errorf("webview %v", wv)
			}
			if n := len(list(e.ok("devices/list", map[string]any{"user_identifier_key": "u"}), "devices")); n != 0 {
				t.Errorf("failed webview gave %d devices", n)
			}
		})
	}
}

func TestWebviewPageHeaders(t *testing.T) {
	tests := []struct {
		name, portalOrigin, wantAncestors string
	}{
		{"portal origin", portal, "frame-ancestors " + portal},
		{"no portal origin", "", "frame-ancestors 'self'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{PortalOrigin: tt.portalOrigin})
			_, rawURL := e.startWebview("u", map[string]any{})
			p := e.getPage(rawURL)
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, tt.wantAncestors) || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q", csp)
			}
			if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", p.header)
			}
			// The only inline style carries the nonce the CSP names; there is no inline script.
			styles := p.find("style")
			nonce, _ := attr(styles[0], "nonce")
			if len(styles) != 1 || nonce == "" || !strings.Contains(csp, "'nonce-"+nonce+"'") {
				t.Errorf("style nonce %q not in CSP %q", nonce, csp)
			}
			for _, s := range p.find("script") {
				if _, ok := attr(s, "src"); !ok {
					t.Errorf("inline script on the page")
				}
			}
		})
	}
}

func TestWebviewScript(t *testing.T) {
	e := newEnv(t, Options{})
	res, err := http.Get(e.srv.URL + webviewScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("webview.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	b := new(bytes.Buffer)
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	// The script posts to the named origin, never to "*".
	if !strings.Contains(b.String(), "postMessage({ event: event }, d.targetOrigin)") ||
		regexp.MustCompile(`postMessage\([^)]*"\*"`).MatchString(b.String()) {
		t.Fatalf("webview.js does not post to the target origin")
	}
}

func TestCompleteWebviewErrors(t *testing.T) {
	e := newEnv(t, Options{})
	id, _ := e.startWebview("u", map[string]any{})
	tests := []struct {
		name, id, email, password string
		want                      error
	}{
		{"unknown webview", "00000000-0000-4000-8000-000000000000", JaneEmail, LoginPassword, ErrWebviewNotFound},
		{"wrong password", id, JaneEmail, "0000", ErrWrongLogin},
		{"unknown email", id, "eve@example.com", LoginPassword, ErrWrongLogin},
		{"provider failure", id, FailEmail, LoginPassword, ErrProviderLoginFailed},
		{"finished", id, JaneEmail, LoginPassword, ErrWebviewFinished},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.sb.CompleteWebview(tt.id, tt.email, tt.password); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

func formAction(t *testing.T, p webPage) string {
	t.Helper()
	forms := p.find("form", "method", "post")
	if len(forms) == 0 {
		t.Fatal("no post form")
	}
	a, _ := attr(forms[0], "action")
	return a
}
