package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

// TestConnectReturnBelievesOnlySeam: against the sandbox, a forged return claiming a
// failure leaves the user's pending webview pending (the page keeps waiting, nothing is
// recorded or audited as failed); once the provider sign-in really failed at Seam, the
// return shows the failure in Latchkey's words and none of the query's message.
func TestConnectReturnBelievesOnlySeam(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	c := p.SignIn(t, "alice")
	res, _ := p.Post(t, c, "/connect", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /connect: %d, want 303", res.StatusCode)
	}
	id := strings.TrimPrefix(res.Header.Get("Location"), "/connect/")
	returnURL := "/connect/return?connect_webview_id=" + url.QueryEscape(id)
	const message = "Your+account+was+suspended%2C+call+555-0100"

	res, body := p.Get(t, c, returnURL+"&error_code=user_cancelled&error_message="+message)
	if res.StatusCode != http.StatusOK || h1Text(t, parseDoc(t, body)) != "Almost there" {
		t.Fatalf("forged failure: %d %q, want the waiting page", res.StatusCode, h1Text(t, parseDoc(t, body)))
	}
	if strings.Contains(body, "555-0100") || strings.Contains(body, "cancelled") || !strings.Contains(body, `hx-get="/connect/`+id+`/status`) {
		t.Errorf("the waiting page shows the forged failure or does not poll:\n%s", body)
	}
	wv, err := p.DB.ConnectWebviewForUser(t.Context(), userBySubject(t, p, "dev-alice").ID, id)
	if err != nil || wv.Status != store.WebviewPending {
		t.Fatalf("webview after the forged return: %+v, %v; want pending", wv, err)
	}
	if n := len(auditFor(t, p, store.AuditConnectFailed, "")); n != 0 {
		t.Errorf("%d connect.failed events after a forged return, want 0", n)
	}

	if _, err := p.Sandbox.CompleteWebview(id, sandbox.FailEmail, sandbox.LoginPassword); !errors.Is(err, sandbox.ErrProviderLoginFailed) {
		t.Fatalf("failing sign-in at the sandbox: %v", err)
	}
	res, body = p.Get(t, c, returnURL+"&error_code=provider_login_failed&error_message="+message)
	doc := parseDoc(t, body)
	if res.StatusCode != http.StatusOK || h1Text(t, doc) != "Connecting did not work" {
		t.Fatalf("failed sign-in: %d %q, want the failure page", res.StatusCode, h1Text(t, doc))
	}
	if !strings.Contains(body, "Your lock provider refused the sign-in.") || strings.Contains(body, "555-0100") {
		t.Errorf("the failure page does not explain it in Latchkey's words, or shows the query's message:\n%s", body)
	}
	if n := len(auditFor(t, p, store.AuditConnectFailed, "")); n != 1 {
		t.Errorf("%d connect.failed events, want 1", n)
	}
}
