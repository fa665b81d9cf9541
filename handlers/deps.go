package handlers

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// DeviceAPI lists devices (the readiness probe asks Seam through it).
type DeviceAPI interface {
	List(ctx context.Context, p seam.ListDevicesParams) ([]seam.Device, error)
}

// Store is Latchkey's own records the handlers read: users, ownership, audit.
type Store interface {
	UserStore
	AuditLog
	UserByID(ctx context.Context, id string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.UserSummary, error)

	ConnectedAccountsForUser(ctx context.Context, userID string) ([]store.ConnectedAccount, error)
	SetDeviceCounts(ctx context.Context, userID string, counts map[string]int, now time.Time) error

	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, int64, error)
	EachAudit(ctx context.Context, userID string, fn func(store.AuditEvent) error) error
	Trail(ctx context.Context, q store.TrailQuery) ([]store.TrailEntry, bool, error)
	EachTrail(ctx context.Context, userID string, fn func(store.TrailEntry) error) error
	SetUserTimeZone(ctx context.Context, userID, zone string) error
}
