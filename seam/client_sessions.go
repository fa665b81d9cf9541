package seam

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// ClientSessions manages client sessions, Seam's per-user scope for webviews,
// connected accounts and devices.
type ClientSessions struct{ c *Client }

// ClientSession is one user's session, keyed by our own user id.
type ClientSession struct {
	ClientSessionID string `json:"client_session_id"`
	// UserIdentifierKey is Latchkey's internal user id.
	UserIdentifierKey string `json:"user_identifier_key"`
	// Token is a secret: it authenticates as this user towards Seam. Never log it.
	Token               string   `json:"token"`
	ConnectWebviewIDs   []string `json:"connect_webview_ids"`
	ConnectedAccountIDs []string `json:"connected_account_ids"`
	// DeviceIDs is only filled by servers that still send device_ids; Seam's
	// current API reports DeviceCount instead.
	DeviceIDs   []string  `json:"device_ids"`
	DeviceCount int       `json:"device_count"`
	WorkspaceID string    `json:"workspace_id"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// LogValue leaves the token out so logging a session cannot leak it.
func (s ClientSession) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_session_id", s.ClientSessionID),
		slog.String("user_identifier_key", s.UserIdentifierKey),
	)
}

// GetOrCreateClientSessionParams names the user whose session is wanted.
type GetOrCreateClientSessionParams struct {
	UserIdentifierKey string `json:"user_identifier_key"`
}

// errTypePublishableKeyRequired is what Seam's fake server answers to
// get_or_create with an API key; real Seam accepts the API key.
const errTypePublishableKeyRequired = "publishable_key_header_required"

// GetOrCreate returns the user's client session, creating it on first use.
// Where the server refuses get_or_create for API keys (Seam's fake does), it
// falls back to client_sessions/get and then client_sessions/create.
func (s *ClientSessions) GetOrCreate(ctx context.Context, p GetOrCreateClientSessionParams) (*ClientSession, error) {
	if p.UserIdentifierKey == "" {
		return nil, errMissingID("client_sessions/get_or_create", "user_identifier_key")
	}
	cs, err := s.c.clientSession(ctx, "client_sessions/get_or_create", p)
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Type != errTypePublishableKeyRequired {
		return cs, err
	}
	cs, err = s.c.clientSession(ctx, "client_sessions/get", p)
	if !IsNotFound(err) {
		return cs, err
	}
	return s.c.clientSession(ctx, "client_sessions/create", p)
}

// GrantAccessParams attaches Connect Webviews to a user's client session.
type GrantAccessParams struct {
	UserIdentifierKey string   `json:"user_identifier_key,omitempty"`
	ConnectWebviewIDs []string `json:"connect_webview_ids,omitzero"`
	// ClientSessionID is optional; Seam finds the session by UserIdentifierKey otherwise.
	ClientSessionID string `json:"client_session_id,omitempty"`
}

// GrantAccess attaches the webviews (and so the accounts and devices they
// connect) to the session. It is sent once, never retried.
func (s *ClientSessions) GrantAccess(ctx context.Context, p GrantAccessParams) error {
	if p.UserIdentifierKey == "" && p.ClientSessionID == "" {
		return errMissingID("client_sessions/grant_access", "user_identifier_key or client_session_id")
	}
	return s.c.call(ctx, "client_sessions/grant_access", p, nil)
}

// clientSession calls an endpoint whose success body is {"client_session": …}.
func (c *Client) clientSession(ctx context.Context, endpoint string, req any) (*ClientSession, error) {
	var resp struct {
		ClientSession *ClientSession `json:"client_session"`
	}
	if err := c.call(ctx, endpoint, req, &resp); err != nil {
		return nil, err
	}
	if resp.ClientSession == nil {
		return nil, missing(endpoint, "client_session")
	}
	return resp.ClientSession, nil
}
