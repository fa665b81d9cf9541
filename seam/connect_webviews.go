package seam

import (
	"context"
	"time"
)

// Connect Webview statuses.
const (
	WebviewPending    = "pending"
	WebviewAuthorized = "authorized"
	WebviewFailed     = "failed"
)

// ConnectWebviews creates and reads Connect Webviews, the pages where a user
// logs in to their lock provider.
type ConnectWebviews struct{ c *Client }

// ConnectWebview is one provider-login flow.
type ConnectWebview struct {
	ConnectWebviewID string `json:"connect_webview_id"`
	// URL is the page to show the user (iframe or link).
	URL string `json:"url"`
	// Status is WebviewPending, WebviewAuthorized or WebviewFailed.
	Status          string `json:"status"`
	LoginSuccessful bool   `json:"login_successful"`
	// ConnectedAccountID is set once the webview is authorized.
	ConnectedAccountID       string         `json:"connected_account_id"`
	CustomRedirectURL        string         `json:"custom_redirect_url"`
	CustomRedirectFailureURL string         `json:"custom_redirect_failure_url"`
	WaitForDeviceCreation    bool           `json:"wait_for_device_creation"`
	AcceptedProviders        []string       `json:"accepted_providers"`
	SelectedProvider         string         `json:"selected_provider"`
	CustomMetadata           map[string]any `json:"custom_metadata"`
	WorkspaceID              string         `json:"workspace_id"`
	CreatedAt                time.Time      `json:"created_at"`
	// AuthorizedAt is nil until the user finished logging in.
	AuthorizedAt *time.Time `json:"authorized_at"`
}

// CreateConnectWebviewParams configures a new webview.
type CreateConnectWebviewParams struct {
	// CustomRedirectURL is where Seam sends the browser when the user is done.
	CustomRedirectURL string `json:"custom_redirect_url,omitempty"`
	// CustomRedirectFailureURL is where Seam sends the browser on failure.
	CustomRedirectFailureURL string `json:"custom_redirect_failure_url,omitempty"`
	// WaitForDeviceCreation makes the webview finish only after the first
	// device sync, as Seam recommends.
	WaitForDeviceCreation bool `json:"wait_for_device_creation"`
	// AcceptedProviders restricts the brands offered, e.g. "august"; nil offers Seam's default set.
	AcceptedProviders []string          `json:"accepted_providers,omitzero"`
	CustomMetadata    map[string]string `json:"custom_metadata,omitzero"`
}

// Create starts a webview. It is sent once, never retried.
func (s *ConnectWebviews) Create(ctx context.Context, p CreateConnectWebviewParams) (*ConnectWebview, error) {
	return s.c.connectWebview(ctx, "connect_webviews/create", p)
}

// Get returns a webview's current state; polling it confirms a connection.
func (s *ConnectWebviews) Get(ctx context.Context, connectWebviewID string) (*ConnectWebview, error) {
	const endpoint = "connect_webviews/get"
	if connectWebviewID == "" {
		return nil, errMissingID(endpoint, "connect_webview_id")
	}
	return s.c.connectWebview(ctx, endpoint, map[string]string{"connect_webview_id": connectWebviewID})
}

// connectWebview calls an endpoint whose success body is {"connect_webview": …}.
func (c *Client) connectWebview(ctx context.Context, endpoint string, req any) (*ConnectWebview, error) {
	var resp struct {
		ConnectWebview *ConnectWebview `json:"connect_webview"`
	}
	if err := c.call(ctx, endpoint, req, &resp); err != nil {
		return nil, err
	}
	if resp.ConnectWebview == nil {
		return nil, missing(endpoint, "connect_webview")
	}
	return resp.ConnectWebview, nil
}
