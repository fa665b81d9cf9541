package handlers

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Seam is the part of the Seam API the portal uses, one small interface per resource;
// package web fills it from a *seam.Client.
type Seam struct {
	ClientSessions  ClientSessionAPI
	ConnectWebviews ConnectWebviewAPI
	Devices         DeviceAPI
}

// ClientSessionAPI gives each user their Seam client session.
type ClientSessionAPI interface {
	GetOrCreate(ctx context.Context, p seam.GetOrCreateClientSessionParams) (*seam.ClientSession, error)
	GrantAccess(ctx context.Context, p seam.GrantAccessParams) error
}

// ConnectWebviewAPI creates and checks Connect Webviews.
type ConnectWebviewAPI interface {
	Create(ctx context.Context, p seam.CreateConnectWebviewParams) (*seam.ConnectWebview, error)
	Get(ctx context.Context, connectWebviewID string) (*seam.ConnectWebview, error)
}

// DeviceAPI lists devices.
type DeviceAPI interface {
	List(ctx context.Context, p seam.ListDevicesParams) ([]seam.Device, error)
}

// Store is Latchkey's own records: users, ownership, action attempts, audit.
type Store interface {
	UserStore
	AuditLog
	UserByID(ctx context.Context, id string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.UserSummary, error)

	CreateConnectWebview(ctx context.Context, w store.ConnectWebview) error
	ConnectWebviewForUser(ctx context.Context, userID, webviewID string) (store.ConnectWebview, error)
	UpdateConnectWebview(ctx context.Context, webviewID, status, connectedAccountID, errorCode, errorMessage string, now time.Time) error
	ListConnectWebviews(ctx context.Context, userID string) ([]store.ConnectWebview, error)

	RecordConnectedAccount(ctx context.Context, a store.ConnectedAccount) error
	ConnectedAccountsForUser(ctx context.Context, userID string) ([]store.ConnectedAccount, error)
	SetDeviceCounts(ctx context.Context, userID string, counts map[string]int, now time.Time) error

	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, int64, error)
}
