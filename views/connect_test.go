package views

import (
	"context"
	"strings"
	"testing"
)

func TestConnectWebviewPageLoadsItsScriptAndData(t *testing.T) {
	p := Page{Title: "t", User: &User{ID: "u"}, Assets: Assets{CSS: "/static/css/app.css", HTMX: "/static/js/htmx.min.js", Connect: "/static/js/connect.abc.js"}}
	v := ConnectWindow{
		WebviewID: "wv-1", URL: "http://127.0.0.1:8082/cw?x=1&y=2", SeamOrigin: "http://127.0.0.1:8082",
		ReturnURL: "/connect/return?connect_webview_id=wv-1",
		Status:    ConnectProgress{WebviewID: "wv-1", State: ConnectWaiting, Poll: true, PollURL: "/connect/wv-1/status?shown=waiting"},
	}
	var b strings.Builder
	if err := ConnectWebviewPage(p, v).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{
		`<script src="/static/js/connect.abc.js" defer>`,
		`data-seam-origin="http://127.0.0.1:8082"`,
		`data-return-url="/connect/return?connect_webview_id=wv-1"`,
		`data-webview-id="wv-1"`,
		`src="http://127.0.0.1:8082/cw?x=1&amp;y=2"`,
		`title="Sign in to your lock provider`,
		`hx-get="/connect/wv-1/status?shown=waiting"`,
		`rel="noopener"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("inline script on the page")
	}
}

func TestConnectPagesRenderEdgeCases(t *testing.T) {
	p := Page{User: &User{ID: "u"}}
	for name, render := range map[string]func(*strings.Builder) error{
		"empty overview": func(b *strings.Builder) error {
			return ConnectPage(p, ConnectOverview{}).Render(context.Background(), b)
		},
		"failed window": func(b *strings.Builder) error {
			return ConnectWebviewPage(p, ConnectWindow{WebviewID: "x", Failed: true, Message: "no"}).Render(context.Background(), b)
		},
		"expired window": func(b *strings.Builder) error {
			return ConnectWebviewPage(p, ConnectWindow{WebviewID: "x", Status: ConnectProgress{State: ConnectExpired}}).Render(context.Background(), b)
		},
		"empty activity": func(b *strings.Builder) error { return ActivityPage(p, ActivityList{}).Render(context.Background(), b) },
		"no users":       func(b *strings.Builder) error { return AdminUsersPage(p, nil).Render(context.Background(), b) },
		"bare user": func(b *strings.Builder) error {
			return AdminUserPage(p, AdminUserDetail{Devices: DeviceList{ReadOnly: true, BaseURL: "/admin/users/x"}}).Render(context.Background(), b)
		},
	} {
		var b strings.Builder
		if err := render(&b); err != nil || !strings.Contains(b.String(), "</html>") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAdminUserPageHasNoLockButtons(t *testing.T) {
	d := AdminUserDetail{
		User: AdminUserRow{ID: "u1", Email: "alice@example.com"},
		Devices: DeviceList{ReadOnly: true, BaseURL: "/admin/users/u1", Total: 1, Devices: []Device{
			{ID: "d1", Name: "Front door", CanUnlock: true, CanLock: true, LockState: LockLocked, NeedsReconnect: true},
		}},
	}
	var b strings.Builder
	if err := AdminUserPage(Page{User: &User{ID: "admin", IsAdmin: true}}, d).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if !strings.Contains(html, "Front door") {
		t.Error("device not listed")
	}
	for _, banned := range []string{"/devices/d1/unlock", "/devices/d1/lock", `href="/devices/d1"`} {
		if strings.Contains(html, banned) {
			t.Errorf("read-only admin page contains %s", banned)
		}
	}
}
